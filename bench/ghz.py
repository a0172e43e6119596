"""The load generator: ghz (a compiled gRPC client), so the client's own cost stays small beside the
servers'. Installed once per machine with `go install` at a pinned version; it finds each method through
the server's reflection (no proto files given), as any grpcurl-style client would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GHZ_MODULE = "github.com/bojand/ghz/cmd/ghz"
# `@latest` resolves to an old v0.93.0; this is the release with templates in metadata and -D files.
GHZ_VERSION = "v0.120.0"
TOOLS_DIR = Path.home() / ".cache" / "pingou-platform" / "tools" / f"ghz-{GHZ_VERSION}"


def ghz_binary() -> Path:
    """The pinned ghz, built with the Go toolchain the first time it is needed."""
    binary = TOOLS_DIR / "ghz"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("ghz is not installed and there is no Go toolchain to build it (go install)")
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [go, "install", f"{GHZ_MODULE}@{GHZ_VERSION}"],
        env={**os.environ, "GOBIN": str(TOOLS_DIR)},
        check=True,
        capture_output=True,
    )
    return binary


@dataclass(frozen=True)
class LoadResult:
    count: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cut_at_end: int  # calls in flight when a timed run ended: ghz closes their connections
    statuses: dict[str, int]
    error_samples: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "errors": self.errors,
            "cut_at_end": self.cut_at_end,
            "statuses": self.statuses,
            "error_samples": self.error_samples,
        }


def run_ghz(
    address: str,
    method: str,
    messages: Sequence[dict[str, Any]],
    *,
    token: str,
    concurrency: int = 64,
    connections: int = 4,
    total: int | None = None,
    seconds: float | None = None,
    timeout_seconds: float = 10.0,
) -> LoadResult:
    """Calls `method` with the messages round robin (ghz templates such as {{.RequestNumber}} work inside
    their strings), `concurrency` callers over `connections` HTTP/2 connections, for `total` calls or
    `seconds` seconds."""
    if (total is None) == (seconds is None):
        raise ValueError("give either total or seconds")
    with tempfile.TemporaryDirectory(prefix="bench-ghz-") as folder:
        data = Path(folder) / "data.json"
        data.write_text(json.dumps(list(messages)))
        command = [
            str(ghz_binary()),
            "--insecure",
            "--call",
            method,
            "--concurrency",
            str(concurrency),
            "--connections",
            str(connections),
            "--timeout",
            f"{timeout_seconds}s",
            "--data-file",
            str(data),
            "--metadata",
            json.dumps({"authorization": f"Bearer {token}"}),
            "--format",
            "json",
            *(["--total", str(total)] if total is not None else ["--duration", f"{seconds}s"]),
            address,
        ]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode not in (0, 1) or not finished.stdout.strip():
        raise RuntimeError(f"ghz failed ({finished.returncode}): {finished.stderr.strip()[-2000:]}")
    return _parse(json.loads(finished.stdout), concurrency=concurrency if seconds is not None else 0)


# How ghz reports the calls it cancelled itself when a --duration run ended (not the server's answers).
CUT_AT_END = ("use of closed network connection", "context canceled", "the client connection is closing")


def _parse(report: dict[str, Any], *, concurrency: int) -> LoadResult:
    percentiles = {round(entry["percentage"]): entry["latency"] for entry in report.get("latencyDistribution") or []}
    statuses = dict(report.get("statusCodeDistribution") or {})
    count = int(report.get("count", 0))
    failures = dict(report.get("errorDistribution") or {})
    cut = min(concurrency, sum(n for message, n in failures.items() if any(mark in message for mark in CUT_AT_END)))
    return LoadResult(
        count=count,
        seconds=report.get("total", 0) / 1e9,
        rps=float(report.get("rps", 0.0)),
        p50_ms=percentiles.get(50, 0) / 1e6,
        p99_ms=percentiles.get(99, 0) / 1e6,
        errors=count - int(statuses.get("OK", 0)) - cut,
        cut_at_end=cut,
        statuses=statuses,
        error_samples=dict(sorted(failures.items(), key=lambda kv: -kv[1])[:5]),
    )
