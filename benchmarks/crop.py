"""Region crop: time of ``edit(crop="auto")`` / ``edit(crop="off")`` for a map whose changed area is 10 % of
a 1024x1024 image, on a full-size SD-1.5-shaped model with random weights, 2 steps. Goal <= 0.35.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/crop.py            # full size (several minutes on one CPU thread)
    OMP_NUM_THREADS=1 python benchmarks/crop.py --tiny     # the same plumbing on the tiny model, seconds
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from PIL import Image


def ten_percent_map(side: int) -> np.ndarray:
    """A soft-edged square covering 10 % of a ``side`` x ``side`` image, off centre."""
    change = np.zeros((side, side), np.float32)
    half = round(side * np.sqrt(0.10) / 2)
    center_y, center_x = int(side * 0.35), int(side * 0.6)
    change[center_y - half : center_y + half, center_x - half : center_x + half] = 1.0
    return change


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny random SD instead of the full-size one")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from diffusers.utils import logging as diffusers_logging

    from diffdiff import DifferentialEditor
    from pipelines import edit

    diffusers_logging.set_verbosity_error()
    if args.tiny:
        from diffdiff.tiny import build_tiny_pipeline

        editor, size = DifferentialEditor.from_pipe(build_tiny_pipeline("sd")), min(args.size, 256)
    else:
        from _models import full_size_sd15_pipeline

        editor, size = DifferentialEditor.from_pipe(full_size_sd15_pipeline()), args.size
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    change = ten_percent_map(size)
    times = {}
    for mode in ("auto", "off"):
        start = time.perf_counter()
        result = edit(image, "a red balloon", model=editor, change_map=change, steps=args.steps, seed=0, crop=mode,
                      progress=False)
        times[mode] = time.perf_counter() - start
        print(f"crop={mode:4}: {times[mode]:8.2f} s  crop box {result.settings['crop_box']}", flush=True)
    ratio = times["auto"] / times["off"]
    print(f"{'tiny' if args.tiny else 'SD-1.5-shaped'} model, {size}x{size} image, changed area "
          f"{change.mean():.1%}, {args.steps} steps, {torch.get_num_threads()} thread(s)")
    print(f"crop auto / off = {ratio:.3f}  (goal <= 0.35)")


if __name__ == "__main__":
    main()
