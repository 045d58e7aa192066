"""Helpers shared by the editor tests (imported as ``from helpers import ...``)."""

from __future__ import annotations

import torch


def make_image(height: int = 64, width: int = 64, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A smooth random image batch ``(B, 3, H, W)`` in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, max(2, height // 8), max(2, width // 8), generator=g)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)


class CallCounter:
    """Counts forward calls of a module (each CFG batch counts once, like a model evaluation)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.count = 0
        self._handle = module.register_forward_pre_hook(self._hook)

    def _hook(self, module, args):
        self.count += 1

    def close(self) -> None:
        self._handle.remove()


class StepSpy:
    """Records the ``sample`` that each ``scheduler.step`` call receives, by wrapping the bound method
    on one scheduler instance (the scheduler itself still does the work)."""

    def __init__(self, scheduler) -> None:
        self.samples: list[torch.Tensor] = []
        self._scheduler = scheduler
        self._step = scheduler.step

        def step(model_output, timestep, sample, *args, **kwargs):
            self.samples.append(sample.detach().clone())
            return self._step(model_output, timestep, sample, *args, **kwargs)

        scheduler.step = step

    def close(self) -> None:
        del self._scheduler.step


class HookSpy:
    """Records every ``DifferentialStep`` the editor builds (their ``x0``, ``eps`` and ``start`` are in
    the layout of the pipeline's loop), by wrapping the class's ``__init__`` until ``close``."""

    def __init__(self) -> None:
        from diffdiff.hook import DifferentialStep

        self.hooks: list = []
        self._original = original = DifferentialStep.__init__
        spy = self

        def init(hook, *args, **kwargs):
            original(hook, *args, **kwargs)
            spy.hooks.append(hook)

        DifferentialStep.__init__ = init

    def close(self) -> None:
        from diffdiff.hook import DifferentialStep

        DifferentialStep.__init__ = self._original
