"""Measuring on a shared 2-core machine: CPU time (``time.process_time``), model-call counts, repeats
interleaved so drifts in machine speed hit every variant alike, and medians printed with their spread.

Wall-clock once per variant decided nothing here: the same work printed 0.616 and 1.0 in two runs. CPU time of
this process does not count the other jobs on the machine, call counts do not depend on timing at all, and a
ratio is the median of the per-repeat ratios of interleaved runs, printed with its range.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["CallCount", "Ratio", "Samples", "interleave", "ratio"]


class CallCount:
    """Counts forward calls of some modules (a CFG-batched call counts once, like one model evaluation)."""

    def __init__(self, modules: list[torch.nn.Module]) -> None:
        self.count = 0
        self._handles = [m.register_forward_pre_hook(self._hook) for m in modules]

    def _hook(self, module, args) -> None:
        self.count += 1

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


@dataclass
class Samples:
    """Per-repeat CPU seconds, wall seconds and model calls of one variant."""

    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


@dataclass(frozen=True)
class Ratio:
    """Median of per-repeat ratios and their range."""

    median: float
    low: float
    high: float

    def __format__(self, spec: str) -> str:
        width = int(spec) if spec else 0
        return f"{self.median:.3f} [{self.low:.3f}-{self.high:.3f}]".rjust(width)


def interleave(variants: dict[str, Callable[[], object]], repeats: int, counter: CallCount | None = None,
               warmup: bool = True) -> dict[str, Samples]:
    """Run every variant ``repeats`` times, round-robin, recording CPU and wall time and model calls.

    Args:
        variants: name -> a callable doing the work once.
        repeats: rounds (each runs every variant once).
        counter: a :class:`CallCount` on the model(s); its count is read around each run.
        warmup: one untimed round first (first-call kernel caches would be charged to whichever ran first).

    Returns:
        name -> :class:`Samples`.
    """
    if warmup:
        for run in variants.values():
            run()
    samples = {name: Samples() for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            calls_before = counter.count if counter is not None else 0
            cpu, wall = time.process_time(), time.perf_counter()
            run()
            samples[name].cpu.append(time.process_time() - cpu)
            samples[name].wall.append(time.perf_counter() - wall)
            samples[name].calls.append((counter.count if counter is not None else 0) - calls_before)
    return samples


def ratio(numerator: list[float], denominator: list[float]) -> Ratio:
    """Median and range of ``numerator[i] / denominator[i]`` (paired rounds of :func:`interleave`)."""
    values = [a / b for a, b in zip(numerator, denominator, strict=True) if b > 0]
    return Ratio(statistics.median(values), min(values), max(values))
