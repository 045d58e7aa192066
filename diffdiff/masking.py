"""The per-step inpainting mask of a change map, for inpainting checkpoints (9-channel SD/SDXL UNets).

An inpainting model reads, besides its latents, a mask (1 = fill) and the latents of the masked image
(the original with the masked pixels set to 0, i.e. mid-grey). Under Differential Diffusion the mask the
model sees at scheduler position ``p`` is the set of cells free at ``p`` (:func:`diffdiff.core.free_at`),
and its masked image is built from that mask the way the stock pipeline builds it:
``pixels * (mask < 0.5)`` at pixel resolution, VAE-encoded. The free set only grows, so a run sees at
most one mask per distinct ``k(m)`` of the map: :func:`mask_thresholds` lists them, each masked image is
encoded once, and :class:`MaskSchedule` hands the right pair to the pipeline after every step.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from diffdiff.core import NEVER, free_at

__all__ = ["MaskSchedule", "free_mask", "mask_thresholds", "masked_pixels", "pixel_mask"]


def mask_thresholds(start: torch.Tensor, first_position: int) -> list[int]:
    """The positions of a run at which the mask the model sees changes, the first position included.

    Args:
        start: int64 start positions (``diffdiff.core.start_positions``), ``(B, 1, h, w)``.
        first_position: the pipeline's first loop position in ``scheduler.timesteps``.

    Returns:
        Sorted positions ``p``; the mask at any position ``q >= first_position`` is the one of the
        largest ``p <= q``. Their number is the number of distinct masks (at most ``k(max m)``).

    >>> mask_thresholds(torch.tensor([[[[2, 5, NEVER, 0]]]]), 2)
    [2, 5]
    """
    values = {int(v) for v in torch.unique(start).tolist() if v != NEVER}
    return sorted({max(v, first_position) for v in values} | {first_position})


def free_mask(start: torch.Tensor, position: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The inpainting mask at ``position``: 1 where the cell is free (the model fills it), 0 where kept.

    Args:
        start: int64 ``(B, 1, h, w)`` start positions.
        position: the scheduler position of the model evaluation.
        dtype: the mask's dtype (the pipeline's latent dtype).

    Returns:
        ``(B, 1, h, w)`` in {0, 1}, 1 = free (change), 0 = keep.
    """
    return free_at(start, position).to(dtype)


def pixel_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A latent-grid mask ``(B, 1, h, w)`` in {0, 1} at pixel size ``size`` (nearest: each cell covers its
    own ``f x f`` pixels), so that the stock pipeline's nearest resize back to the grid gives it again."""
    return F.interpolate(mask.float(), size=tuple(size), mode="nearest")


def masked_pixels(pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The masked image exactly as the stock inpainting pipelines build it: ``pixels * (mask < 0.5)``.

    Args:
        pixels: ``(B, 3, H, W)`` in [-1, 1] (the preprocessed original).
        mask: ``(B, 1, H, W)`` in [0, 1], 1 = fill.

    Returns:
        ``(B, 3, H, W)``: the original where kept, 0 (mid-grey) where filled.
    """
    return pixels * (mask < 0.5)


class MaskSchedule:
    """A ``callback_on_step_end`` that runs the differential step, then gives the pipeline the mask and
    masked-image latents of the next position (SD and SDXL inpainting list both in ``_callback_tensor_inputs``).

    Args:
        step: the :class:`~diffdiff.hook.DifferentialStep` of the run (it blends ``latents``).
        masks: threshold position -> ``(mask, masked_latents)``, ``(B, 1, h, w)`` and ``(B, 4, h, w)``
            (:func:`mask_thresholds` lists the keys).
    """

    def __init__(self, step, masks: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.step = step
        self.masks = masks
        self.thresholds = sorted(masks)
        self.tensor_inputs = [*step.tensor_inputs, "mask", "masked_image_latents"]

    def at(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(mask, masked_latents)`` the model sees at ``position``."""
        current = self.thresholds[0]
        for threshold in self.thresholds:
            if threshold <= position:
                current = threshold
        return self.masks[current]

    def __call__(self, pipe, step_index: int, timestep, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        callback_kwargs = self.step(pipe, step_index, timestep, callback_kwargs)
        mask, latents = self.at(self.step.run_start + step_index + 1)
        # The loop's tensors carry the classifier-free-guidance copies: repeat ours as many times.
        copies = callback_kwargs["mask"].shape[0] // mask.shape[0]
        callback_kwargs["mask"] = torch.cat([mask] * copies).to(callback_kwargs["mask"])
        callback_kwargs["masked_image_latents"] = torch.cat([latents] * copies).to(
            callback_kwargs["masked_image_latents"])
        return callback_kwargs
