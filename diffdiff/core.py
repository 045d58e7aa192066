"""The differential step as pure functions (Levin & Fried, "Differential Diffusion: Giving Each Pixel
Its Strength", 2023/2024).

Vocabulary (see DESIGN.md, "Differential Diffusion, as this project defines it"):

* ``n_steps`` (N): number of inference steps of the full schedule.
* ``k(m)``: how many final steps a pixel of change ``m`` is free, rounded like the family's diffusers
  img2img ``strength`` so that a uniform map is exactly img2img.
* A *position* is an index into ``scheduler.timesteps`` (the pipeline's loop runs over a tail of it).
  Second-order and PNDM schedulers have more positions than steps, so freedom is keyed on the position
  where stock img2img at strength ``k/N`` starts, ``order * (N - k)``: a pixel is free from there on, and
  a second-order step is never split.
* ``x0``: the encoded original; ``eps``: the one noise tensor of the run; ``x0_t``: ``x0`` re-noised.

Everything here is free of diffusers state; ``diffdiff.schedulers`` reads the scheduler's arrays.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

Rounding = Literal["floor", "ceil"]
"""``"floor"``: ``min(int(N*m), N)`` (SD, SDXL, Kandinsky, IF). ``"ceil"``: ``N - int(N - min(N*m, N))``
(SD3, Flux, whose ``get_timesteps`` rounds the other way)."""

NEVER = torch.iinfo(torch.int64).max
"""Start position of a pixel that is never free (``k(m) = 0``)."""

def steps_for_strength(strength: float, n_steps: int, rounding: Rounding = "floor") -> int:
    """``k(m)`` for one scalar, with exactly the arithmetic of the family's diffusers ``get_timesteps``.

    Args:
        strength: change amount ``m`` in [0, 1] (a Python float, as diffusers receives it).
        n_steps: number of inference steps ``N`` (>= 1).
        rounding: ``"floor"`` or ``"ceil"`` (see :data:`Rounding`).

    Returns:
        The number of final steps that run, in ``[0, N]``.

    >>> steps_for_strength(0.55, 10, "floor"), steps_for_strength(0.55, 10, "ceil")
    (5, 6)
    """
    if rounding == "floor":
        return min(int(n_steps * strength), n_steps)
    if rounding == "ceil":
        return n_steps - int(max(n_steps - min(n_steps * strength, n_steps), 0))
    raise ValueError(f"rounding: expected 'floor' or 'ceil', got {rounding!r}")


def typed_strength(value: float) -> float:
    """The strength a user meant by a float32 map value: the shortest decimal that rounds to it.

    A map that holds 0.58 stores the float32 nearest to it, 0.57999998...; diffusers receives the
    strength 0.58 as a Python float (float64). Reading the float32 back through its shortest decimal
    repr gives that float64 again, so ``k(m)`` can use diffusers' own arithmetic on it.

    >>> typed_strength(float(torch.tensor(0.58)))
    0.58
    """
    import numpy as np

    return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))


def free_steps(change: torch.Tensor, n_steps: int, rounding: Rounding = "floor") -> torch.Tensor:
    """``k(m)`` per pixel: how many final steps each pixel is free.

    Each value is read as the strength a user would pass for it (:func:`typed_strength`) and goes
    through exactly the arithmetic of the family's ``get_timesteps`` (:func:`steps_for_strength`), so
    a uniform map runs stock img2img's steps for every ``N`` and ``m``. Only values whose ``N * m`` lies
    within float32 error of an integer can round differently from their float32 product; just those are
    read through their decimal (maps from 8-bit files have at most 256 levels, soft maps few near a
    boundary), the others take the vectorised product.

    Args:
        change: any shape, float in [0, 1], 1 = change fully.
        n_steps: number of inference steps ``N`` (>= 1).
        rounding: ``"floor"`` or ``"ceil"`` (see :data:`Rounding`).

    Returns:
        int64 tensor of the same shape, values in ``[0, N]``; ``k(0) = 0`` always.

    >>> free_steps(torch.tensor([0.0, 0.3, 0.55, 1.0]), 10).tolist()
    [0, 3, 5, 10]
    >>> free_steps(torch.tensor([0.0, 0.3, 0.55, 1.0]), 10, "ceil").tolist()
    [0, 3, 6, 10]
    >>> free_steps(torch.tensor([0.58]), 50).item(), free_steps(torch.tensor([0.56]), 25, "ceil").item()
    (28, 15)
    """
    if n_steps < 1:
        raise ValueError(f"n_steps: expected >= 1, got {n_steps}")
    if rounding not in ("floor", "ceil"):
        raise ValueError(f"rounding: expected 'floor' or 'ceil', got {rounding!r}")
    values = change.detach().to(torch.float32)
    scaled = values.to(torch.float64) * n_steps
    k = torch.floor(scaled) if rounding == "floor" else n_steps - torch.floor(n_steps - scaled)
    # float32 carries 24 bits: its value is within 2**-24 (relative) of the decimal it stands for.
    near = (scaled - torch.round(scaled)).abs() <= n_steps * 2.0**-23
    if bool(near.any()):
        for value in torch.unique(values[near]).tolist():
            k[values == value] = steps_for_strength(typed_strength(value), n_steps, rounding)
    k = k.clamp(0, n_steps).to(torch.int64)
    # A pixel the user wants kept is kept, whatever the rounding.
    return torch.where(values > 0, k, torch.zeros_like(k))


def strength_for_steps(k: int, n_steps: int, rounding: Rounding = "floor") -> float:
    """The ``strength`` to hand a stock img2img pipeline so that it runs exactly ``k`` final steps.

    ``k / N`` is not always enough: ``int(30 * (7 / 30))`` is 7 but float error can make such products
    fall just below an integer, so the neighbouring floats are tried too.

    >>> strength_for_steps(7, 30)
    0.23333333333333334
    """
    if not 0 <= k <= n_steps:
        raise ValueError(f"k: expected 0 <= k <= {n_steps}, got {k}")
    candidate = k / n_steps
    for _ in range(4):
        if steps_for_strength(candidate, n_steps, rounding) == k:
            return candidate
        direction = math.inf if steps_for_strength(candidate, n_steps, rounding) < k else -math.inf
        candidate = math.nextafter(candidate, direction)
    raise ArithmeticError(f"no strength gives {k} of {n_steps} steps")  # pragma: no cover


def start_positions(k: torch.Tensor, n_steps: int, order: int = 1) -> torch.Tensor:
    """The scheduler position from which each pixel is free.

    Stock img2img at strength ``k/N`` starts its loop at ``scheduler.timesteps[order * (N - k)]``; a
    pixel with ``k(m)`` free steps is free from that same position, so a uniform map is exactly
    img2img and the two evaluations of a second-order step share one decision.

    Args:
        k: int64 tensor of free steps (from :func:`free_steps`).
        n_steps: ``N``.
        order: the scheduler's ``order`` (2 for Heun / KDPM2).

    Returns:
        int64 tensor like ``k``; :data:`NEVER` where ``k = 0``.

    >>> start_positions(torch.tensor([0, 1, 4]), 4, order=2).tolist()[1:]
    [6, 0]
    """
    positions = (n_steps - k) * order
    return torch.where(k > 0, positions, torch.full_like(positions, NEVER))


def free_at(start: torch.Tensor, position: int) -> torch.Tensor:
    """Which pixels are free at scheduler position ``position``.

    Args:
        start: int64 start positions (from :func:`start_positions`).
        position: index into ``scheduler.timesteps`` of the step just taken.

    Returns:
        bool tensor like ``start``.
    """
    return start <= position


def blend(x: torch.Tensor, x0_t: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
    """The differential blend: free pixels keep the model's update, the others follow the original.

    Implements the masked update of Levin & Fried (Algorithm 1): after each step, pixels that are not
    yet free are replaced by the original re-noised to the level the sample has just reached.

    Args:
        x: ``(B, C, h, w)`` latents after ``scheduler.step``.
        x0_t: same shape, the original re-noised to the same level (``x0`` itself after the last step).
        free: bool, broadcastable to ``x`` (``(B, 1, h, w)``).

    Returns:
        ``torch.where(free, x, x0_t)`` in ``x``'s dtype.
    """
    return torch.where(free, x, x0_t.to(x.dtype))


def area_resample(change: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample a change map to a (latent) grid by area averaging.

    Where the map varies inside one latent cell the cell gets the mean change of its pixels, so a cell
    is kept exactly (mean 0) only when all of its pixels are kept.

    Args:
        change: ``(B, 1, H, W)`` float in [0, 1], 1 = change fully.
        size: ``(h, w)`` target grid.

    Returns:
        ``(B, 1, h, w)`` float32 in [0, 1].

    >>> area_resample(torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]]), (1, 1)).item()
    0.5
    """
    if change.ndim != 4 or change.shape[1] != 1:
        raise ValueError(f"change: expected shape (B, 1, H, W), got {tuple(change.shape)}")
    change = change.to(torch.float32)
    if tuple(change.shape[-2:]) == tuple(size):
        return change
    # adaptive_avg_pool2d is exact area averaging for integer ratios and close to it otherwise; when
    # the grid is finer than the map (upsampling), plain bilinear is the sensible reading.
    if size[0] <= change.shape[-2] and size[1] <= change.shape[-1]:
        return F.adaptive_avg_pool2d(change, size).clamp(0, 1)
    return F.interpolate(change, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
