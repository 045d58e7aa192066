"""Overhead of the differential editor, measured side by side in one run.

P1 = editor time / stock img2img time at equal executed steps (a map of maximum 0.5 vs strength 0.5).
     Goal <= 1.02: the differential step costs nothing next to the model.
P2 = time for a map whose maximum is 0.5 / time for the same map run over all N steps, as the paper's
     reference implementation does (``skip_idle_steps=False``). Goal <= 0.55: cost follows the map.

Both are printed end to end (VAE encode + denoising + decode) and for the denoising loop alone (first
model call to last step), because the VAE's fixed cost dominates short schedules at 512 px on a CPU.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/overhead.py               # tiny models + full-size SD-1.5 UNet
    OMP_NUM_THREADS=1 python benchmarks/overhead.py --tiny-only   # seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from diffdiff import DifferentialEditor
from diffdiff.reference import step_networks, stock_img2img


@dataclass
class Case:
    """One row of the table: how to build the editor, and at which size and step count to run it."""

    name: str
    build: Callable[[], DifferentialEditor]
    size: int
    n_steps: int
    repeats: int


class LoopTimer:
    """Wall time from the first model call to the end of the last one (the denoising loop alone; the
    last scheduler step, microseconds, is left out). Hooks on the networks themselves, not on step
    callbacks, so it times every family alike (IF has no ``callback_on_step_end``; Kandinsky's prior and
    IF's stage II are networks of the run too)."""

    def __init__(self, denoisers: list[torch.nn.Module]) -> None:
        self.first: float | None = None
        self.last = 0.0
        for denoiser in denoisers:
            denoiser.register_forward_pre_hook(self._pre)
            denoiser.register_forward_hook(self._post)

    def _pre(self, module, args) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def _post(self, module, args, output) -> None:
        self.last = time.perf_counter()

    def reset(self) -> None:
        self.first, self.last = None, 0.0

    @property
    def seconds(self) -> float:
        return self.last - (self.first or self.last)


def tiny_editor(name: str, **extras: str) -> Callable[[], DifferentialEditor]:
    """An editor over a tiny pipeline; ``extras`` name tiny pipelines for ``prior=``, ``stage2=``, ..."""

    def build() -> DifferentialEditor:
        from diffdiff.tiny import build_tiny_pipeline

        stages = {role: build_tiny_pipeline(part) for role, part in extras.items()}
        return DifferentialEditor.from_pipe(build_tiny_pipeline(name), **stages)

    return build



def full_size_sd15() -> DifferentialEditor:
    """A Stable-Diffusion-1.5-shaped pipeline with random weights (see ``benchmarks/_models.py``), with the
    Euler scheduler the README recommends: SD 1.5's default PNDM runs one extra loop iteration in stock
    img2img at any strength below 1, which would be charged to P2."""
    from _models import full_size_sd15_pipeline

    return DifferentialEditor.from_pipe(full_size_sd15_pipeline(), scheduler="euler")


CASES: list[Case] = [
    Case("sd (tiny)", tiny_editor("sd"), 64, 10, 5),
    Case("sdxl (tiny)", tiny_editor("sdxl"), 64, 10, 5),
    Case("kandinsky 2.2 (tiny)", tiny_editor("kandinsky", prior="kandinsky-prior"), 64, 10, 5),
    Case("if stage I (tiny)", tiny_editor("if-1"), 64, 10, 5),
    Case("if stages I+II (tiny)", tiny_editor("if-1", stage2="if-2"), 64, 10, 5),
    Case("sd3 (tiny)", tiny_editor("sd3"), 64, 10, 5),
    Case("flux (tiny)", tiny_editor("flux"), 64, 10, 5),
]
FULL_CASES: list[Case] = [
    Case("sd-1.5 shape, 512 px, euler", full_size_sd15, 512, 4, 1),
]


def half_map(size: int) -> torch.Tensor:
    """Maximum 0.5 on the right half, a ramp 0 -> 0.5 on the left: every step count up to N/2 occurs."""
    change = torch.full((size, size), 0.5)
    change[:, : size // 2] = torch.linspace(0, 0.5, size // 2)
    return change


def measure(case: Case) -> dict[str, float]:
    editor = case.build()
    for stage in editor.pipelines:
        stage.set_progress_bar_config(disable=True)
    timer = LoopTimer(step_networks(editor))
    image = torch.rand(1, 3, case.size, case.size, generator=torch.Generator().manual_seed(0))
    change, prompt = half_map(case.size), "a photo of a mountain lake"

    def run(kind: str) -> tuple[float, float]:
        timer.reset()
        generator = torch.Generator().manual_seed(1)
        start = time.perf_counter()
        if kind == "stock":
            stock_img2img(editor, image, prompt, 0.5, case.n_steps, generator, output_type="pt")
        else:
            editor(image, prompt, change, num_inference_steps=case.n_steps, generator=generator, output_type="pt",
                   skip_idle_steps=(kind == "editor"))
        return time.perf_counter() - start, timer.seconds

    kinds = ("stock", "editor", "reference")
    if case.repeats > 1:
        for kind in kinds:  # warm-up
            run(kind)
    else:
        # One cheap call at the same sizes builds the kernels' first-call caches, which would otherwise be
        # charged to whichever kind runs first.
        editor(image, prompt, 1.0, num_inference_steps=1, generator=torch.Generator().manual_seed(1),
               output_type="pt")
    times: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    for _ in range(case.repeats):
        for kind in kinds:  # interleaved, so drifts in machine speed hit all three alike
            times[kind].append(run(kind))
    total = {kind: statistics.median(t for t, _ in times[kind]) for kind in kinds}
    loop = {kind: statistics.median(t for _, t in times[kind]) for kind in kinds}
    return {
        "P1": total["editor"] / total["stock"],
        "P1 loop": loop["editor"] / loop["stock"],
        "P2": total["editor"] / total["reference"],
        "P2 loop": loop["editor"] / loop["reference"],
        "stock s": total["stock"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny-only", action="store_true", help="skip the full-size 512 px model")
    parser.add_argument("--full-steps", type=int, default=4, help="N for the full-size model (default 4)")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # stock SDXL re-casts its VAE every call and warns each time
    cases = list(CASES)
    if not args.tiny_only:
        cases += [Case(c.name, c.build, c.size, args.full_steps, c.repeats) for c in FULL_CASES]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); map maximum 0.5; goals P1 <= 1.02, "
          "P2 <= 0.55")
    header = f"{'case':24} {'N':>3} {'P1':>6} {'P1 loop':>8} {'P2':>6} {'P2 loop':>8} {'stock s':>8}"
    print(header)
    print("-" * len(header))
    for case in cases:
        row = measure(case)
        print(f"{case.name:24} {case.n_steps:>3} {row['P1']:>6.3f} {row['P1 loop']:>8.3f} {row['P2']:>6.3f} "
              f"{row['P2 loop']:>8.3f} {row['stock s']:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
