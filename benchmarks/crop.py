"""Region crop: CPU time and denoiser cost of ``edit(crop="auto")`` against ``edit(crop="off")`` for compact
regions covering 10 %, 30 % and 50 % of the image and a thin band spanning its width, on a full-size
SD-1.5-shaped model with random weights (1024x1024, 2 steps). The crop decision is pipelines.crop's cost model;
each row prints whether a crop was taken, the ratio of denoised latent cells and of CPU time.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/crop.py            # full size (about an hour on one CPU thread)
    OMP_NUM_THREADS=1 python benchmarks/crop.py --off-once # the whole-image edit timed once (about 20 minutes)
    OMP_NUM_THREADS=1 python benchmarks/crop.py --quick    # the same maps on the tiny model, under a minute
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


def compact_map(side: int, fraction: float) -> np.ndarray:
    """A square covering ``fraction`` of a ``side`` x ``side`` image, off centre."""
    change = np.zeros((side, side), np.float32)
    half = round(side * np.sqrt(fraction) / 2)
    center_y, center_x = int(side * 0.45), int(side * 0.55)
    change[max(0, center_y - half) : center_y + half, max(0, center_x - half) : center_x + half] = 1.0
    return change


def band_map(side: int) -> np.ndarray:
    """A band 8 % of the height spanning the whole width."""
    change = np.zeros((side, side), np.float32)
    change[int(side * 0.6) : int(side * 0.68), :] = 1.0
    return change


MAPS = {"compact 10 %": lambda s: compact_map(s, 0.10), "compact 30 %": lambda s: compact_map(s, 0.30),
        "compact 50 %": lambda s: compact_map(s, 0.50), "band across": band_map}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", "--tiny", action="store_true", help="tiny random SD instead of the full-size one")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--off-once", action="store_true",
                        help="time crop=off on the first map only: every map here has maximum 1, so the whole-image "
                             "edit runs the same steps on the same grid for each (the cells column shows it)")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from diffusers.utils import logging as diffusers_logging

    from diffdiff import DifferentialEditor
    from pipelines import edit

    diffusers_logging.set_verbosity_error()
    if args.quick:
        from diffdiff.tiny import build_tiny_pipeline

        editor, size = DifferentialEditor.from_pipe(build_tiny_pipeline("sd")), min(args.size, 256)
    else:
        from _models import full_size_sd15_pipeline

        editor, size = DifferentialEditor.from_pipe(full_size_sd15_pipeline()), args.size
    cells: list[int] = []
    unet = editor.pipe.unet
    unet.register_forward_pre_hook(lambda module, inputs: cells.append(inputs[0].shape[-2] * inputs[0].shape[-1]))
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    print(f"{'quick: tiny' if args.quick else 'SD-1.5-shaped'} model, {size}x{size} image, {args.steps} steps, "
          f"{torch.get_num_threads()} thread(s); CPU seconds")
    print(f"{'map':14} {'area':>6} {'crop box':>22} {'cells auto/off':>15} {'auto s':>8} {'off s':>8} {'auto/off':>9}")
    whole = None
    for name, make in MAPS.items():
        change, row = make(size), {}
        for mode in ("auto", "off"):
            if mode == "off" and args.off_once and whole is not None:
                row[mode] = whole
                continue
            cells.clear()
            start = time.process_time()
            result = edit(image, "a red balloon", model=editor, change_map=change, steps=args.steps, seed=0,
                          crop=mode, progress=False)
            row[mode] = (time.process_time() - start, sum(cells), result.settings["crop_box"])
            whole = row["off"] if mode == "off" else whole
        box = row["auto"][2]
        print(f"{name:14} {change.mean():>6.1%} {box!s:>22} {row['auto'][1] / row['off'][1]:>15.3f} "
              f"{row['auto'][0]:>8.2f} {row['off'][0]:>8.2f} {row['auto'][0] / row['off'][0]:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
