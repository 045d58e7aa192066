"""The differential step, written once, as a diffusers ``callback_on_step_end``.

diffusers calls the callback right after ``scheduler.step`` with the loop index ``i`` of the (possibly
truncated) img2img tail; ``run_start + i`` is the position in ``scheduler.timesteps`` of the step just
taken, so the sample now sits at the level of position ``run_start + i + 1``.

Pipelines that only have the legacy ``callback(i, t, x)`` (DeepFloyd IF) get the same step through
:meth:`DifferentialStep.legacy_callback`, which blends the loop's own tensor in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from diffdiff.core import blend, free_at
from diffdiff.schedulers import renoise

__all__ = ["DifferentialStep"]


class DifferentialStep:
    """Steers a stock pipeline: after every step, pixels that are not yet free follow the original.

    Args:
        x0: ``(B, C, h, w)`` clean latents of the original (pixels for pixel-space models), in the
            layout the pipeline's ``latents`` have (packed for Flux).
        eps: same shape, the noise the pipeline starts from.
        start: int64, broadcastable to ``x0`` (``(B, 1, h, w)``): the scheduler position from which
            each pixel is free (``diffdiff.core.start_positions``).
        run_start: position in ``scheduler.timesteps`` of the pipeline's first loop step.
        tensor_name: the callback tensor that holds the sample (``"latents"``).
        then: an optional user ``callback_on_step_end`` called after the blend.
    """

    def __init__(
        self,
        x0: torch.Tensor,
        eps: torch.Tensor,
        start: torch.Tensor,
        run_start: int,
        tensor_name: str = "latents",
        then: Callable[..., dict[str, Any]] | None = None,
    ) -> None:
        self.x0, self.eps, self.start, self.run_start = x0, eps, start, run_start
        self.tensor_name = tensor_name
        self.then = then
        self.tensor_inputs = [tensor_name]
        self.positions_seen: list[int] = []

    def apply(self, x: torch.Tensor, scheduler, position: int) -> torch.Tensor:
        """Blend the sample after the step at ``position`` (pure given the scheduler's arrays).

        Args:
            x: the sample returned by ``scheduler.step``.
            scheduler: the pipeline's scheduler (its ``timesteps`` / ``sigmas`` are read, not changed).
            position: index of the step just taken in ``scheduler.timesteps``.

        Returns:
            The blended sample; ``x`` itself when every pixel is free (a uniform map is untouched).
        """
        free = free_at(self.start, position).to(x.device)
        if bool(free.all()):
            return x
        x0_next = renoise(self.x0.to(x.device), self.eps.to(x.device), scheduler, position + 1)
        return blend(x, x0_next, free)

    def __call__(self, pipe, step_index: int, timestep, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        position = self.run_start + step_index
        self.positions_seen.append(position)
        callback_kwargs[self.tensor_name] = self.apply(callback_kwargs[self.tensor_name], pipe.scheduler, position)
        if self.then is not None:
            callback_kwargs.update(self.then(pipe, step_index, timestep, callback_kwargs) or {})
        return callback_kwargs

    def legacy_callback(self, pipe) -> Callable[[int, Any, torch.Tensor], None]:
        """The same step as a legacy ``callback(i, t, x)`` (DeepFloyd IF's pipelines).

        Those pipelines pass the loop's own tensor and ignore what the callback returns, so the blend
        is copied into it in place; the differential step itself is :meth:`apply`, as for every family.
        The callback must be called after every step (``callback_steps=1``). A user
        ``callback_on_step_end`` still runs after the blend, with ``{tensor_name: x}``.

        Args:
            pipe: the pipeline being run (its ``scheduler`` is read).

        Returns:
            ``callback(i, t, x)``.
        """

        def callback(step_index: int, timestep, x: torch.Tensor) -> None:
            position = self.run_start + step_index
            self.positions_seen.append(position)
            blended = self.apply(x, pipe.scheduler, position)
            if blended is not x:
                x.copy_(blended)
            if self.then is not None:
                kwargs = self.then(pipe, step_index, timestep, {self.tensor_name: x}) or {}
                if kwargs.get(self.tensor_name) is not None and kwargs[self.tensor_name] is not x:
                    x.copy_(kwargs[self.tensor_name])

        return callback
