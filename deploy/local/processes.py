"""The plumbing every part of the local infrastructure uses: InfraError (a step failed), running a command
to completion and saying which step failed with the end of its log, installing a missing Debian package,
whether a pid lives and waiting for it to exit, bounded append-only logs, atomic file writes, and progress
lines on stderr. It imports none of the other modules here, so each of them can build on it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final, TypeVar

T = TypeVar("T")

_SPAWNED: list[subprocess.Popen[bytes]] = []  # see _kafka_spawn

LOG_ROTATE_BYTES: Final = 50 * 1024 * 1024


class InfraError(Exception):
    """A step failed; the message says which one and where its log is."""


def _run(
    command: Sequence[str],
    what: str,
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    detach: bool = False,
    stdout: BinaryIO | None = None,
) -> str:
    """Runs a command to completion and returns its stdout; on failure, says what failed.

    detach puts it in a new session, so a server it leaves behind (pg_ctl start) is out of
    reach of a terminal's Ctrl-C. stdout, when given, receives the command's output instead
    (which is then not returned).
    """
    result = subprocess.run(
        command,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd="/",
        stdin=subprocess.DEVNULL,
        start_new_session=detach,
        check=False,
    )
    if result.returncode != 0:
        output = ((result.stdout or "") + result.stderr).strip()
        raise InfraError(
            f"{what} failed (exit {result.returncode}): {shlex.join(command)}\n"
            f"{_last_lines(output, 30)}{_log_excerpt(log)}"
        )
    return result.stdout or ""


def _tool(name: str, debian_package: str) -> str:
    """The path of a command, installing its Debian package when missing (fresh machines)."""
    path = shutil.which(name)
    if path is None:
        _apt_install(debian_package)
        path = shutil.which(name)
    if path is None:
        raise InfraError(f"{name} not found on PATH even after installing {debian_package}")
    return path


def _apt_install(package: str) -> None:
    if os.geteuid() != 0:
        raise InfraError(f"{package} is not installed: run `sudo apt-get install -y {package}`")
    _say(f"installing the Debian package {package} (this takes a minute)")
    _apt_update()
    _run(["apt-get", "install", "-y", package], f"apt-get install {package}", env=_apt_env())


@functools.cache
def _apt_update() -> None:
    """Once per run: a fresh machine's package lists are empty or old."""
    _run(["apt-get", "update"], "apt-get update", env=_apt_env())


def _apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}  # never prompt (CI has no stdin)


def _process_alive(pid: int) -> bool:
    for child in _SPAWNED:
        if child.pid == pid:
            # up() ran in this very process, so the broker is our child: poll() reaps it once it
            # exits, where kill(pid, 0) would still find its zombie.
            return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, but someone else's
    return True


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _rotate_log(path: Path) -> None:
    # Logs are appended across restarts (the previous run's end explains a crash); one older
    # generation is kept so they stay bounded.
    if path.exists() and path.stat().st_size > LOG_ROTATE_BYTES:
        path.replace(path.with_name(path.name + ".1"))


def _log_excerpt(log: Path | None) -> str:
    if log is None:
        return ""
    return f"\n--- last lines of {log} ---\n{_last_lines(_read_tail(log), 40)}"


def _read_tail(path: Path, size: int = 64 * 1024) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - size))
            return handle.read().decode(errors="replace")
    except OSError as err:
        return f"(cannot read it: {err})"


def _last_lines(text: str, count: int) -> str:
    return "\n".join(text.splitlines()[-count:])


def _write_atomically(path: Path, text: str) -> None:
    # A reader that sources the file while `up` rewrites it sees the old or the new one, whole.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from code already inside an event loop (an async test fixture, say),
    where asyncio.run cannot nest: then the coroutine runs on a thread with a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _say(message: str) -> None:
    # Progress goes to stderr: stdout carries only the results (endpoints, status lines).
    print(f"infra: {message}", file=sys.stderr, flush=True)
