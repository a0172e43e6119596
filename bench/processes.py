"""The platform's processes as the kernel sees them: CPU seconds and resident memory, read from /proc.

PostgreSQL is one postmaster and a backend per connection: its CPU is the sum over all of them, and its
memory the sum of their proportional set sizes (shared buffers counted once, not once per backend).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Tracked:
    """A named part of the platform: its main pid, and whether its children count as part of it."""

    name: str
    pid: int
    with_children: bool = False


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces; everything after its closing parenthesis splits cleanly.
    return text[text.rindex(")") + 2 :].split()


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _members(part: Tracked) -> list[int]:
    return [part.pid, *children_of(part.pid)] if part.with_children else [part.pid]


def cpu_by_pid(part: Tracked) -> dict[int, float]:
    """User plus system time, in seconds, of the process and (if counted) each of its live children."""
    seconds = {}
    for pid in _members(part):
        fields = _stat_fields(pid)
        if fields is not None:
            seconds[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return seconds


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two readings by the processes alive at the second one: a child that ended in
    between takes its time with it (it is not counted, rather than counted negative), one that started in
    between counts all of its time."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def _kib(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def memory_mib(part: Tracked) -> float:
    """Resident memory: VmRSS of one process, or the summed PSS of a process and its children."""
    if not part.with_children:
        return _kib(Path(f"/proc/{part.pid}/status"), "VmRSS:") / 1024
    return sum(_kib(Path(f"/proc/{pid}/smaps_rollup"), "Pss:") for pid in _members(part)) / 1024


def alive(pid: int) -> bool:
    return _stat_fields(pid) is not None


def cpu_snapshot(parts: Mapping[str, Tracked]) -> dict[str, dict[int, float]]:
    return {name: cpu_by_pid(part) for name, part in parts.items()}
