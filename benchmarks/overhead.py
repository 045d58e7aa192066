"""Overhead of the differential editor, measured side by side in one run.

P1 = editor time / stock img2img time at equal executed steps (a map of maximum 0.5 vs strength 0.5).
     Goal <= 1.02: the differential step costs nothing next to the model.
P2 = time for a map whose maximum is 0.5 / time for the same map run over all N steps, as the paper's
     reference implementation does (``skip_idle_steps=False``). Goal <= 0.55: cost follows the map.

Both are printed end to end (VAE encode + denoising + decode) and for the denoising loop alone (first
model call to last step), because the VAE's fixed cost dominates short schedules at 512 px on a CPU, and as
the ratio of denoiser calls (which does not depend on timing at all). Times are CPU seconds of this process
(``time.process_time``), repeats are interleaved, and each ratio is the median of per-round ratios with its
range in brackets (``benchmarks/_timing.py``).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/overhead.py               # tiny models + full-size SD-1.5 UNet
    OMP_NUM_THREADS=1 python benchmarks/overhead.py --tiny-only   # every registered family, tiny models
    OMP_NUM_THREADS=1 python benchmarks/overhead.py --quick       # the same with fewer repeats, < 2 minutes
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from _timing import CallCount, interleave, ratio

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
    call: dict = field(default_factory=dict)  # extra call arguments of editor and stock (a control image)
    pil: bool = False  # hand editor and stock a PIL image (stock Qwen-Image-Edit reads no tensors)


class LoopTimer:
    """CPU time from the first model call to the end of the last one (the denoising loop alone; the
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
            self.first = time.process_time()

    def _post(self, module, args, output) -> None:
        self.last = time.process_time()

    def reset(self) -> None:
        self.first, self.last = None, 0.0

    @property
    def seconds(self) -> float:
        return self.last - (self.first or self.last)


def tiny_editor(name: str) -> Callable[[], DifferentialEditor]:
    """An editor over the registered tiny editor ``name`` (``diffdiff.tiny.TINY_EDITORS``)."""

    def build() -> DifferentialEditor:
        from diffdiff.tiny import TINY_EDITORS, build_tiny_pipeline

        case = TINY_EDITORS[name]
        stages = {role: build_tiny_pipeline(part) for role, part in case.extras.items()}
        return DifferentialEditor.from_pipe(build_tiny_pipeline(case.main), **stages)

    return build


def full_size_sd15() -> DifferentialEditor:
    """A Stable-Diffusion-1.5-shaped pipeline with random weights (see ``benchmarks/_models.py``), with the
    Euler scheduler the README recommends: SD 1.5's default PNDM runs one extra loop iteration in stock
    img2img at any strength below 1, which would be charged to P2."""
    from _models import full_size_sd15_pipeline

    return DifferentialEditor.from_pipe(full_size_sd15_pipeline(), scheduler="euler")


def tiny_cases(repeats: int) -> list[Case]:
    """One row per tiny editor every family registers."""
    from diffdiff.tiny import generic_cases

    # ControlNet img2img needs its control image: the one non-generic row, given it explicitly.
    control = {"control_image": torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))}
    return [Case(f"{name} (tiny)", tiny_editor(name), 64, 10, repeats) for name in generic_cases()] + [
        Case("sd-controlnet (tiny)", tiny_editor("sd-controlnet"), 64, 10, repeats, control)]


def slow_cases(repeats: int) -> list[Case]:
    """The tiny editors registered as ``slow`` (Qwen-Image-Edit: its stock pipeline works at 1024^2), N = 4."""
    from diffdiff.tiny import TINY_EDITORS

    return [Case(f"{name} (tiny, slow)", tiny_editor(name), 64, 4, repeats, pil=True)
            for name, case in TINY_EDITORS.items() if case.slow]


FULL_CASES: list[Case] = [
    Case("sd-1.5 shape, 512 px, euler", full_size_sd15, 512, 4, 3),
]


def half_map(size: int) -> torch.Tensor:
    """Maximum 0.5 on the right half, a ramp 0 -> 0.5 on the left: every step count up to N/2 occurs."""
    change = torch.full((size, size), 0.5)
    change[:, : size // 2] = torch.linspace(0, 0.5, size // 2)
    return change


def measure(case: Case) -> dict:
    editor = case.build()
    for stage in editor.pipelines:
        stage.set_progress_bar_config(disable=True)
    networks = step_networks(editor)
    timer, counter = LoopTimer(networks), CallCount([editor.adapter.denoiser(p) for p in editor.pipelines])
    image = torch.rand(1, 3, case.size, case.size, generator=torch.Generator().manual_seed(0))
    if case.pil:
        from PIL import Image

        image = Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8"))
    change, prompt = half_map(case.size), "a photo of a mountain lake"
    loops: dict[str, list[float]] = {"stock": [], "editor": [], "reference": []}

    def run(kind: str) -> Callable[[], None]:
        def once() -> None:
            timer.reset()
            generator = torch.Generator().manual_seed(1)
            if kind == "stock":
                stock_img2img(editor, image, prompt, 0.5, case.n_steps, generator, output_type="pt", **case.call)
            else:
                editor(image, prompt, change, num_inference_steps=case.n_steps, generator=generator,
                       output_type="pt", skip_idle_steps=(kind == "editor"), **case.call)
            loops[kind].append(timer.seconds)

        return once

    samples = interleave({kind: run(kind) for kind in loops}, case.repeats, counter)
    for kind in loops:
        del loops[kind][: len(loops[kind]) - case.repeats]  # drop the warm-up round
    cpu = {kind: s.cpu for kind, s in samples.items()}
    return {
        "P1": ratio(cpu["editor"], cpu["stock"]), "P1 loop": ratio(loops["editor"], loops["stock"]),
        "P2": ratio(cpu["editor"], cpu["reference"]), "P2 loop": ratio(loops["editor"], loops["reference"]),
        "calls": tuple(samples[k].calls[0] for k in ("editor", "stock", "reference")),
        "stock s": samples["stock"].median_cpu,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny-only", action="store_true", help="skip the full-size 512 px model")
    parser.add_argument("--quick", action="store_true", help="tiny models only, 3 rounds (under 2 minutes)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds per tiny case (default 7)")
    parser.add_argument("--full-steps", type=int, default=4, help="N for the full-size model (default 4)")
    parser.add_argument("--slow", action="store_true",
                        help="also the slow tiny editors (Qwen-Image-Edit at its 1024^2 working size: minutes)")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # stock SDXL re-casts its VAE every call and warns each time
    cases = tiny_cases(3 if args.quick else args.repeats)
    if args.slow:
        cases += slow_cases(1 if args.quick else 3)
    if not (args.tiny_only or args.quick):
        cases += [Case(c.name, c.build, c.size, args.full_steps, c.repeats) for c in FULL_CASES]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); map maximum 0.5; CPU time, median "
          "[range] of interleaved rounds; goals P1 <= 1.02, P2 <= 0.55")
    header = (f"{'case':28} {'N':>3} {'P1':>21} {'P1 loop':>21} {'P2':>21} {'P2 loop':>21} "
              f"{'calls ed/stock/ref':>18} {'stock s':>8}")
    print(header)
    print("-" * len(header))
    for case in cases:
        row = measure(case)
        calls = "/".join(str(c) for c in row["calls"])
        print(f"{case.name:28} {case.n_steps:>3} {row['P1']:21} {row['P1 loop']:21} {row['P2']:21} "
              f"{row['P2 loop']:21} {calls:>18} {row['stock s']:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
