"""The ``diffedit`` probe before and after batching, on one image with prompts ``["a tiger", ""]`` (what the map
generator asks for): model calls counted with forward pre-hooks, CPU time with ``time.process_time()``.

* old: one editor call per prompt and draw (``diffdiff.probe._predict_noise_per_call`` with the pipeline's
  default guidance, which is how ``predict_noise`` ran before): a VAE encode, the prompt and the negative
  prompt encoded, one guided (CFG) denoiser call, for each of the 2 x ``n_draws`` probes.
* new: ``diffdiff.probe.predict_noise``: one VAE encode, one text encode per prompt, the 2 x ``n_draws``
  conditional predictions in ``ceil(2 * n_draws / max_batch)`` denoiser calls.

Both run once untimed first (first-call caches). Default: a full-size SD-1.5-shaped model (random weights, real
compute) at 512x512; ``--quick``: the tiny sd, sdxl, sd3 and flux test models at 64x64 (under two minutes).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/diffedit.py [--draws 4] [--size 512] [--max-batch 8]
    OMP_NUM_THREADS=1 python benchmarks/diffedit.py --quick
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PROMPTS = ["a tiger", ""]
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")


class Calls:
    """Forward calls of the denoiser, the VAE encoder and the text encoders of an editor's pipeline."""

    def __init__(self, editor) -> None:
        pipe = editor.pipe
        modules = {"denoiser": [editor.adapter.denoiser(pipe)], "VAE encoder": [pipe.vae.encoder],
                   "text encoder": [getattr(pipe, n) for n in TEXT_ENCODERS if getattr(pipe, n, None) is not None]}
        self.modules, self.counts = modules, dict.fromkeys(modules, 0)
        self._handles = [module.register_forward_pre_hook(self._counter(role))
                         for role, group in modules.items() for module in group]

    def _counter(self, role: str):
        def count(module, args) -> None:
            self.counts[role] += 1
        return count

    def reset(self) -> None:
        self.counts = dict.fromkeys(self.counts, 0)

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def compare(editor, image, draws: int, max_batch: int, steps: int = 10) -> list[str]:
    """Run the old and the new probe; lines of calls, CPU seconds and their old/new ratios."""
    from diffdiff.probe import _predict_noise_per_call, predict_noise

    paths = {"old": lambda n: _predict_noise_per_call(editor, image, PROMPTS, n_draws=n, num_inference_steps=steps),
             "new": lambda n: predict_noise(editor, image, PROMPTS, n_draws=n, num_inference_steps=steps,
                                            max_batch=max_batch)}
    calls, results = Calls(editor), {}
    try:
        for name, probe in paths.items():
            probe(1)  # warm-up
            calls.reset()
            start = time.process_time()
            noise = probe(draws)
            results[name] = (noise, time.process_time() - start, dict(calls.counts))
    finally:
        calls.close()
    (old, old_s, old_calls), (new, new_s, new_calls) = results["old"], results["new"]
    lines = [f"  {role} ({len(group)} module{'s' * (len(group) > 1)}): {old_calls[role]} -> {new_calls[role]} calls"
             for role, group in calls.modules.items()]
    lines.append(f"  CPU time: {old_s:.2f} s -> {new_s:.2f} s  (old/new = {old_s / new_s:.2f}x)")
    lines.append(f"  max |new - old| = {(new - old).abs().max().item():.2e} (predictions up to "
                 f"{old.abs().max().item():.2f})")
    return lines


def image_of(size: int):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (max(2, size // 16), max(2, size // 16), 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((size, size), Image.BICUBIC)


def quick(args) -> None:
    from diffdiff import DifferentialEditor
    from diffdiff.tiny import save_tiny_pipeline

    with tempfile.TemporaryDirectory() as root:
        for family in ("sd", "sdxl", "sd3", "flux"):
            editor = DifferentialEditor.from_pretrained(save_tiny_pipeline(family, Path(root) / family), device="cpu")
            editor.pipe.set_progress_bar_config(disable=True)
            print(f"{family} (tiny), {args.size}x{args.size}, {args.draws} draws x {len(PROMPTS)} prompts, "
                  f"max_batch {args.max_batch}:", flush=True)
            print("\n".join(compare(editor, image_of(args.size), args.draws, args.max_batch)), flush=True)


def full_size(args) -> None:
    from _models import full_size_sd15_pipeline

    from diffdiff import DifferentialEditor

    editor = DifferentialEditor.from_pipe(full_size_sd15_pipeline(), scheduler="euler")
    print(f"SD-1.5-shaped (860M UNet + 84M VAE + 123M CLIP), {args.size}x{args.size}, {args.draws} draws x "
          f"{len(PROMPTS)} prompts, max_batch {args.max_batch}:", flush=True)
    print("\n".join(compare(editor, image_of(args.size), args.draws, args.max_batch)), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=4, help="noise draws (the generator's default is 4)")
    parser.add_argument("--size", type=int, default=None, help="image side (default 512; --quick: 64)")
    parser.add_argument("--max-batch", type=int, default=8, help="the probe's max_batch")
    parser.add_argument("--quick", action="store_true", help="tiny sd, sdxl, sd3 and flux models")
    args = parser.parse_args(argv)
    args.size = args.size or (64 if args.quick else 512)
    import torch
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    print(f"{torch.get_num_threads()} thread(s)")
    (quick if args.quick else full_size)(args)


if __name__ == "__main__":
    main()
