"""``automaps batch`` throughput on the tiny SD: a plain loop of ``edit()`` calls (each result saved), the local
engine, and the Ray engine with 1 and 2 workers, on the same items; and the batch runner's per-item overhead.

The loop and the local engine run in this process, interleaved over ``--repeats`` rounds: their per-item
overhead is the median difference of CPU time (``time.process_time``, not disturbed by the other jobs of a shared
machine) and of wall time, per item. Ray's actors are other processes, so Ray is timed by wall clock: once with
the start of a local Ray and its actors (what one ``automaps batch --engine ray`` costs) and, in a second run on
the same started Ray (actors started and models loaded again, Ray itself not), with its steady rate once every
actor is up.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/batch.py             # 24 items, 48 px, 4 steps
    OMP_NUM_THREADS=1 python benchmarks/batch.py --items 8 --no-ray
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from PIL import Image


def make_items(root: Path, count: int, side: int) -> list:
    """``count`` random images with one explicit square map (no map model: the runner is what is measured)."""
    from pipelines.batch_manifest import BatchItem

    rng = np.random.default_rng(0)
    square = np.zeros((side, side), np.uint8)
    square[side // 4 : 3 * side // 4, side // 4 : 3 * side // 4] = 255
    Image.fromarray(square).save(root / "map.png")
    items = []
    for k in range(count):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / f"img{k}.png")
        items.append(BatchItem(id=f"img{k}", image=str(root / f"img{k}.png"), instruction="a red car",
                               line=k + 1, change_map=str(root / "map.png")))
    return items


def plain_loop(items, settings, out: Path) -> None:
    """What a user would write: ``edit(...)`` and ``result.save(OUTDIR/id)`` per item."""
    from pipelines.edit import edit

    for item in items:
        edit(item.image, item.instruction, **settings.edit_arguments(item)).save(out / item.id)


def timed(run) -> tuple[float, float]:
    """``(CPU seconds of this process, wall seconds)`` of ``run()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--side", type=int, default=48)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from diffdiff.tiny import save_tiny_pipeline
    from pipelines.batch import BatchSettings, preload_editor, run_batch

    root = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    try:
        items = make_items(root, args.items, args.side)
        settings = BatchSettings(model=str(save_tiny_pipeline("sd", root / "sd")), steps=args.steps, device="cpu")
        preload_editor(settings)
        plain_loop(items[:2], settings, root / "warm-up")  # first calls pay imports and allocator growth
        n = len(items)
        loop, local = [], []
        for r in range(args.repeats):  # interleaved: a slower machine minute hits both alike
            out = root / f"loop{r}"
            out.mkdir()
            loop.append(timed(lambda out=out: plain_loop(items, settings, out)))
            out = root / f"local{r}"
            local.append(timed(lambda out=out: run_batch(items, out, settings, progress=False)))
        wall = {"plain edit() loop": statistics.median(w for _, w in loop),
                "--engine local": statistics.median(w for _, w in local)}
        overhead_cpu = statistics.median((b[0] - a[0]) / n for a, b in zip(loop, local, strict=True))
        overhead_wall = statistics.median((b[1] - a[1]) / n for a, b in zip(loop, local, strict=True))
        if not args.no_ray:
            wall.update(ray_walls(items, settings, root))
        print(f"{n} items, tiny SD, {args.side} px, {args.steps} steps, OMP_NUM_THREADS=1, "
              f"{os.cpu_count()} CPUs, median of {args.repeats} interleaved rounds (loop, local)")
        base = wall["plain edit() loop"]
        print(f"{'variant':44} {'wall s':>8} {'items/s':>8} {'vs loop':>8}")
        for name, seconds in wall.items():
            print(f"{name:44} {seconds:8.2f} {n / seconds:8.2f} {base / seconds:8.2f}")
        per_item = statistics.median(c for c, _ in loop) / n
        print(f"batch runner overhead per item (local - loop): CPU {overhead_cpu * 1000:.1f} ms, "
              f"wall {overhead_wall * 1000:.1f} ms; the loop's CPU per item {per_item * 1000:.0f} ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def ray_walls(items, settings, root: Path) -> dict[str, float]:
    """Wall seconds of ``--engine ray`` with 1 and 2 workers: with Ray's start, then on a started Ray, and the
    steady rate once every actor is up (the items after each actor's first, over the time after it), given as
    the wall seconds the whole batch would take at that rate."""
    import ray

    from pipelines.batch import run_batch
    from pipelines.batch_ray import ray_outcomes
    from pipelines.batch_store import BatchStore

    walls = {}
    for workers in (1, 2):
        _, walls[f"ray, {workers} worker(s), incl. ray.init"] = timed(
            lambda w=workers: run_batch(items, root / f"ray-cold{w}", settings, engine="ray", workers=w,
                                        progress=False))
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        for workers in (1, 2):
            out = BatchStore(root / f"ray-warm{workers}").outdir
            started, stamps = time.perf_counter(), []
            for _ in ray_outcomes(items, settings, out, retry_failed=False, workers=workers, gpus_per_worker=0,
                                  address=None):
                stamps.append(time.perf_counter())
            walls[f"ray, {workers} worker(s), Ray started"] = stamps[-1] - started
            rate = (len(stamps) - workers) / (stamps[-1] - stamps[workers - 1])
            walls[f"ray, {workers} worker(s), steady (actors up)"] = len(items) / rate
    finally:
        ray.shutdown()
    return walls


if __name__ == "__main__":
    main()
