"""Where a default ``edit()`` spends its time and memory, on full-size random-weight models.

1. Share of map generation in a default edit ("make the sky stormy" on a 512x512 image: CLIPSeg map,
   then SD-1.5-shaped diffusion at the default 30 steps). Goal <= 15 %.
2. Peak memory (max RSS) of the whole ``edit()`` / the diffusion model alone (the editor loaded from the
   same folder, run with the same map). Goal <= 1.1: map models are released before diffusion, so the
   peak is that of the larger stage, not the sum. Each measurement runs in a fresh process.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/edit_stages.py [--steps 30] [--workdir /tmp/automaps-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np, torch
from PIL import Image
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
from diffusers.utils import logging
logging.set_verbosity_error()
rng = np.random.default_rng(0)
image = Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8))
mode, work, steps = {mode!r}, {work!r}, {steps}
start = time.perf_counter()
if mode == "edit":
    from pipelines import edit
    result = edit(image, "make the sky stormy", model=work + "/sd15", map_models={{"clipseg": work + "/clipseg"}},
                  steps=steps, seed=0, crop="off", progress=False)
    result.change_map.save(work + "/map.npy")
    timings = result.timings
else:
    from automaps import ChangeMap
    from diffdiff import DifferentialEditor
    editor = DifferentialEditor.from_pretrained(work + "/sd15")
    editor.pipe.set_progress_bar_config(disable=True)
    editor(image, "a stormy sky", ChangeMap.from_file(work + "/map.npy"), num_inference_steps=steps,
           generator=torch.Generator().manual_seed(0))
    timings = {{"total": time.perf_counter() - start}}
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"timings": timings, "peak_mib": peak_kib / 1024}}))
"""


def run_child(mode: str, work: Path, steps: int) -> dict:
    code = _CHILD.format(root=str(ROOT), mode=mode, work=str(work), steps=steps)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="inference steps (default 30, edit()'s default)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/automaps-bench"))
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from _models import save_full_size_sd15

    from automaps.tiny import save_tiny_clipseg

    args.workdir.mkdir(parents=True, exist_ok=True)
    save_full_size_sd15(args.workdir / "sd15")
    if not (args.workdir / "clipseg" / "config.json").is_file():
        save_tiny_clipseg(args.workdir / "clipseg", full_size=True)
    whole = run_child("edit", args.workdir, args.steps)
    alone = run_child("diffusion", args.workdir, args.steps)
    timings = whole["timings"]
    share = timings["map"] / timings["total"]
    print(f"default edit, 512x512, {args.steps} steps, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    print("stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    print(f"map generation share = {share:.1%}  (goal <= 15%)")
    print(f"peak memory: edit() {whole['peak_mib']:.0f} MiB, diffusion alone {alone['peak_mib']:.0f} MiB, "
          f"ratio {whole['peak_mib'] / alone['peak_mib']:.3f}  (goal <= 1.1)")


if __name__ == "__main__":
    main()
