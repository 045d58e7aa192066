"""Cost of ``edit_regions`` with R = 1, 2, 3 regions against one plain edit, measured side by side in one run.

Every variant runs the same steps (each region's map has maximum 1 on its own columns, the plain edit's map
is their union), so the ratios show what the extra prompts cost. Goal: denoiser cost <= 1 + 0.9 (R - 1),
thanks to batching the prompts into one call (the unconditional branch runs once). Printed per family:

* ``calls``: denoiser calls (one batched call per model evaluation: the same count for every R);
* ``rows``: the batch the denoiser runs on, relative to the plain edit's (``(2 + R - 1) / 2`` with CFG);
* ``denoiser``: CPU time inside the denoiser calls, relative to the plain edit's;
* ``total``: CPU time of the whole call (encode, prompts, loop, decode), relative to the plain edit's.

Times are CPU seconds of this process (``time.process_time``), repeats interleaved, each ratio the median of
per-round ratios with its range in brackets (``benchmarks/_timing.py``).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/regions.py            # tiny sd, sdxl, sd3, flux
    OMP_NUM_THREADS=1 python benchmarks/regions.py --quick    # fewer repeats
    OMP_NUM_THREADS=1 python benchmarks/regions.py --full     # also a full-size SD-1.5-shaped UNet (256 px)
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

import torch
from _timing import CallCount, interleave, ratio

from diffdiff import DifferentialEditor

PROMPTS = ["a stormy sky", "yellow grass", "a red car"]


class DenoiserClock:
    """CPU seconds spent inside the denoiser's calls, and the rows it ran on (hooks on the module itself)."""

    def __init__(self, denoiser: torch.nn.Module) -> None:
        self.seconds, self.rows, self._start = 0.0, 0, 0.0
        denoiser.register_forward_pre_hook(self._pre, with_kwargs=True)
        denoiser.register_forward_hook(self._post)

    def _pre(self, module, args, kwargs) -> None:
        sample = args[0] if args else kwargs.get("hidden_states", kwargs.get("sample"))
        self.rows += sample.shape[0]
        self._start = time.process_time()

    def _post(self, module, args, output) -> None:
        self.seconds += time.process_time() - self._start

    def read(self) -> tuple[float, int]:
        """Seconds and rows since the last read."""
        seconds, rows = self.seconds, self.rows
        self.seconds, self.rows = 0.0, 0
        return seconds, rows


def column_maps(size: int, count: int) -> list[torch.Tensor]:
    """``count`` maps of maximum 1 on disjoint column bands covering the left three quarters."""
    maps = []
    for r in range(count):
        change = torch.zeros(size, size)
        change[:, r * size // 4 : (r + 1) * size // 4] = 1.0
        maps.append(change)
    return maps


def measure(name: str, editor: DifferentialEditor, size: int, n_steps: int, repeats: int) -> None:
    """Time the plain edit and R = 1, 2, 3 regions on ``editor``; print one row per R."""
    denoiser = editor.adapter.denoiser(editor.pipe)
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    maps = column_maps(size, 3)
    union = maps[0] + maps[1] + maps[2]
    common = {"num_inference_steps": n_steps, "output_type": "pt"}
    clock, counter = DenoiserClock(denoiser), CallCount([denoiser])
    inside: dict[str, list[tuple[float, int]]] = {}

    def variant(key: str, run):
        def timed():
            run()
            inside.setdefault(key, []).append(clock.read())
        return timed

    variants = {"plain": variant("plain", lambda: editor(image, PROMPTS[0], union, generator=_gen(), **common))}
    for count in (1, 2, 3):
        # R regions cover the same union: region r's prompt on its band, the last region on the rest.
        bands = [*maps[: count - 1], sum(maps[count - 1 :])]
        regions = list(zip(PROMPTS[:count], bands, strict=True))
        variants[f"R={count}"] = variant(f"R={count}", lambda regions=regions: editor.edit_regions(
            image, regions, generator=_gen(), **common))
    samples = interleave(variants, repeats, counter=counter)
    counter.close()
    base = samples["plain"]
    plain_inside = inside["plain"][-repeats:]
    for count in (1, 2, 3):
        key = f"R={count}"
        timed = inside[key][-repeats:]
        denoiser_ratio = ratio([s for s, _ in timed], [s for s, _ in plain_inside])
        rows = timed[0][1] / plain_inside[0][1]
        calls = f"{samples[key].calls[0]}/{base.calls[0]}"
        goal = 1 + 0.9 * (count - 1)
        # One region is the plain call itself: its ratio is the noise of the measurement.
        verdict = "(the plain call)" if count == 1 else \
            f"goal <= {goal:.1f}: {'ok' if denoiser_ratio.median <= goal else 'MISSED'}"
        print(f"{name:<12} {key:<4} calls {calls:>5}  rows x{rows:.2f}  denoiser {denoiser_ratio:22}  "
              f"total {ratio(samples[key].cpu, base.cpu):22}  {verdict}", flush=True)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def tiny_editors(folder: Path) -> dict[str, DifferentialEditor]:
    """Every tiny editor case whose family supports regions, loaded from saved folders."""
    from diffdiff.families import FAMILIES
    from diffdiff.regions import supports_regions
    from diffdiff.tiny import generic_cases, save_tiny_pipeline

    editors = {}
    for name, case in generic_cases().items():
        if supports_regions(FAMILIES[case.family]) and not case.extras:
            editor = DifferentialEditor.from_pretrained(save_tiny_pipeline(case.main, folder / name), device="cpu")
            editor.pipe.set_progress_bar_config(disable=True)
            editors[name] = editor
    return editors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--full", action="store_true", help="also a full-size SD-1.5-shaped UNet at 256 px")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    repeats = 3 if args.quick else 7
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); ratios: median [range] of "
          f"{repeats} interleaved rounds, relative to one plain edit", flush=True)
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        for name, editor in tiny_editors(Path(folder)).items():
            measure(name, editor, 64, 8, repeats)
        if args.full:
            from _models import full_size_sd15_pipeline

            editor = DifferentialEditor.from_pipe(full_size_sd15_pipeline(), scheduler="euler")
            measure("sd15-full", editor, 256, 2, 2 if args.quick else 3)


if __name__ == "__main__":
    main()
