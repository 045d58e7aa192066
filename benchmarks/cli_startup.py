"""Benchmark how long ``automaps plan`` (no model) takes to start, and which imports cost the most.

Usage:
    python benchmarks/cli_startup.py [--runs N] [--top K] [INSTRUCTION]

Runs ``python -m pipelines.cli plan INSTRUCTION`` ``N`` times in fresh subprocesses (the first run warms the
file cache and is not counted) and prints the median and minimum wall time and CPU time (user + system of the
children, from ``resource.getrusage(RUSAGE_CHILDREN)``), then the ``K`` slowest top-level imports of one run
under ``python -X importtime``. The goal is a warm median under 0.5 s: no torch, diffusers or transformers.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _command(instruction: str, *flags: str) -> list[str]:
    return [sys.executable, *flags, "-m", "pipelines.cli", "plan", instruction]


def time_runs(instruction: str, runs: int) -> tuple[list[float], list[float]]:
    """``(wall seconds, CPU seconds)`` of each of ``runs`` warm subprocess runs of ``automaps plan``."""
    subprocess.run(_command(instruction), cwd=ROOT, check=True, capture_output=True)  # warm-up, not counted
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(_command(instruction), cwd=ROOT, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def slowest_imports(instruction: str, top: int) -> list[tuple[float, str]]:
    """``(cumulative ms, module)`` of the ``top`` slowest imports directly below the top level."""
    err = subprocess.run(_command(instruction, "-X", "importtime"), cwd=ROOT, check=True, capture_output=True,
                         text=True).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if len(name) - len(name.lstrip()) <= 2:  # 1 space: imported by the program itself
            rows.append((int(cumulative) / 1000, name.strip()))
    return sorted(rows, reverse=True)[:top]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instruction", nargs="?", default="make the sky stormy")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args(argv)
    walls, cpus = time_runs(args.instruction, args.runs)
    print(f"automaps plan, {args.runs} warm runs: wall median {statistics.median(walls):.3f} s, "
          f"min {min(walls):.3f} s; CPU median {statistics.median(cpus):.3f} s, min {min(cpus):.3f} s")
    print("slowest top-level imports (cumulative ms):")
    for ms, name in slowest_imports(args.instruction, args.top):
        print(f"  {ms:8.1f}  {name}")


if __name__ == "__main__":
    main()
