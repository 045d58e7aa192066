"""Time of the ``diffedit`` map generator on a 512x512 image with a full-size SD-1.5-shaped model (random
weights, real compute): two prompts x ``n_draws`` probes, each a VAE encode and one UNet call (with CFG).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/diffedit.py [--draws 4] [--size 512]
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=4, help="noise draws (the generator's default is 4)")
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args(argv)
    import numpy as np
    import torch
    from _models import full_size_sd15_pipeline
    from diffusers.utils import logging as diffusers_logging
    from PIL import Image

    from automaps import generate
    from diffdiff import DifferentialEditor

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    diffusers_logging.set_verbosity_error()
    editor = DifferentialEditor.from_pipe(full_size_sd15_pipeline(), scheduler="euler")
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (args.size // 16, args.size // 16, 3), dtype=np.uint8)).resize(
        (args.size, args.size), Image.BICUBIC)
    generate(image, "a tiger", source="diffedit", editor=editor, n_draws=1)  # warm-up: first-call caches
    start = time.perf_counter()
    change = generate(image, "a tiger", source="diffedit", editor=editor, n_draws=args.draws)
    seconds = time.perf_counter() - start
    print(f"diffedit, SD-1.5-shaped (860M UNet + 84M VAE), {args.size}x{args.size}, {args.draws} draws x 2 prompts, "
          f"{torch.get_num_threads()} thread(s): {seconds:.1f} s  ({change.provenance})")


if __name__ == "__main__":
    main()
