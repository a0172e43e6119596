"""python -m bench [--profile dev] [--seconds 15] [--output bench/results/latest.json]  (`make bench`)

Measures the join path against the platform `make up` runs (starting it when it does not run), prints
the table of figures beside their ceilings and writes them as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from bench.platform import local_platform
from bench.report import render
from bench.run import BenchSettings, run_bench

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--seconds", type=float, default=BenchSettings.seconds, help="length of each load phase")
    parser.add_argument("--idle-seconds", type=float, default=BenchSettings.idle_seconds)
    parser.add_argument("--pgbench-seconds", type=float, default=BenchSettings.pgbench_seconds)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    platform = local_platform(args.profile)
    settings = BenchSettings(seconds=args.seconds, idle_seconds=args.idle_seconds, pgbench_seconds=args.pgbench_seconds)
    console = Console(width=max(120, Console().width))
    results = run_bench(platform, settings, say=lambda text: console.log(f"bench: {text}"))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    render(results, console)
    console.print(f"written: {args.output}")


if __name__ == "__main__":
    main()
