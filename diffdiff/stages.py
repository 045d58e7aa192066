"""The edit flow, written once for every family: plan a stage from the map, encode the original, draw
the run's one noise tensor, and run the stock pipeline with :class:`~diffdiff.hook.DifferentialStep`.

A family adapter supplies the family-specific pieces (sizes, encoding, layout, calling convention);
multi-stage families (SDXL + refiner, DeepFloyd IF) chain :func:`run_stage` calls in their ``edit``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from diffdiff.core import area_resample, free_steps, start_positions, strength_for_steps
from diffdiff.hook import DifferentialStep
from diffdiff.noise import draw_like_pipeline

__all__ = ["DifferentialOutput", "EditRequest", "StagePlan", "StageRun", "plan_stage", "resize_pixels", "run_stage",
           "select"]


@dataclass
class EditRequest:
    """One validated edit, as the editor hands it to a family.

    Attributes:
        pixels: ``(B, 3, H, W)`` float32 in [0, 1], one per output image (already repeated for
            ``num_images_per_prompt``).
        source: the same images in the form the user passed them, as the stock pipeline's own image
            processor takes them (a list of RGB PIL images, a float32 ``(B, H, W, 3)`` array in [0, 1],
            or ``pixels`` itself): preprocessing them the stock way gives stock's bytes for every input
            type (see :func:`diffdiff.inputs.stock_form`).
        change: ``(B, 1, H, W)`` float32 in [0, 1], 1 = change fully, at the image's resolution.
        prompts: one prompt per output image.
        negative_prompts: ``None`` or one per output image.
        generator: one ``torch.Generator`` or one per output image.
        n_steps: ``N`` of the full schedule.
        guidance_scale: ``None`` keeps each pipeline's default.
        output_type: ``"latent"`` (the last differential stage's sample, in its pipeline's layout) or
            ``"pt"`` (``(B, 3, h, w)`` in [0, 1]).
        skip_idle_steps: skip the steps where no pixel is free.
        callback: a user ``callback_on_step_end`` run after the blend, or ``None``.
        pipeline_kwargs: further keyword arguments for the stock pipeline(s).
        refiner_start: SDXL: the fraction of the schedule after which the refiner takes over.
    """

    pixels: torch.Tensor
    source: Any
    change: torch.Tensor
    prompts: list[str]
    negative_prompts: list[str] | None
    generator: Any
    n_steps: int
    guidance_scale: float | None
    output_type: str
    skip_idle_steps: bool = True
    callback: Any = None
    pipeline_kwargs: dict[str, Any] = field(default_factory=dict)
    refiner_start: float = 0.8


@dataclass
class DifferentialOutput:
    """Result of one edit: what a family's ``edit`` returns and what the editor hands back.

    Attributes:
        images: list of PIL images (``"pil"``), float32 ``(B, H, W, 3)`` (``"np"``), ``(B, 3, H, W)`` in
            [0, 1] (``"pt"``), or the final latents in the pipeline's own layout (``"latent"``: ``(B, C,
            h, w)``; Flux: packed ``(B, h/2 * w/2, C*4)``; IF: the last differential stage's pixels in
            [-1, 1]). Output ``b * n + r`` is the ``r``-th sample of image ``b`` (``n =
            num_images_per_prompt``). Inside the editor a family returns ``None`` here when nothing is
            free and pixels were asked for (the input is the result; no model ran).
        change: ``(B, 1, h, w)`` float32 map on the (last differential stage's) model grid, after area
            averaging, 1 = change fully.
        steps_run: denoising steps executed (by the last differential stage): ``k(max m)``, the free
            steps of the map's maximum (``N`` with ``skip_idle_steps=False``).
        strength: the stock img2img strength those steps correspond to.
    """

    images: Any
    change: torch.Tensor
    steps_run: int
    strength: float


@dataclass
class StagePlan:
    """What the map means for one pipeline: its grid, each cell's free steps, the strength to run at.

    Attributes:
        size: ``(h, w)`` pixel size the model works at.
        change: ``(B, 1, h', w')`` float32 map on the model grid (latents, or pixels for IF).
        k: int64 like ``change``: free steps per cell, ``k(m)``.
        k_max: ``k`` of the map's maximum.
        k_run: steps the pipeline runs (``k_max``, or ``N`` with ``skip_idle_steps=False``).
        strength: stock img2img strength that runs exactly ``k_run`` steps.
    """

    size: tuple[int, int]
    change: torch.Tensor
    k: torch.Tensor
    k_max: int
    k_run: int
    strength: float


@dataclass
class StageRun:
    """One stock pipeline call of an edit: what the adapter needs to run it.

    Attributes:
        prompts: one prompt per output image.
        negative_prompts: ``None`` or one per output image.
        image: what the pipeline receives as its ``image``: encoded latents (SD, SDXL, SD3, Flux), a
            previous stage's latents (the SDXL refiner), pixels (Kandinsky in [0, 1], IF in [-1, 1]).
        strength: stock img2img strength that runs exactly the free steps.
        n_steps: ``N``.
        generator: the run's generator(s).
        hook: the ``DifferentialStep``.
        guidance_scale: ``None`` for the pipeline's default.
        output_type: passed to the pipeline (``"latent"`` or ``"pt"``).
        size: ``(h, w)`` pixel size of the stage (for pipelines that need ``height``/``width``).
        conditioning: family-specific inputs computed before the run (Kandinsky's image embeddings,
            IF stage II's low-resolution image).
        extra: further keyword arguments for the pipeline (``denoising_end``, user kwargs, ...).
    """

    prompts: list[str]
    negative_prompts: list[str] | None
    image: torch.Tensor
    strength: float
    n_steps: int
    generator: Any
    hook: Any
    guidance_scale: float | None
    output_type: str
    size: tuple[int, int] = (0, 0)
    conditioning: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def select(request: EditRequest, indices: list[int]) -> EditRequest:
    """The request restricted to the output images ``indices`` (their pixels, source, map, prompts and
    generators), for running only the images that have something free."""
    source = request.source
    source = [source[i] for i in indices] if isinstance(source, list) else source[indices]
    generator = request.generator
    if isinstance(generator, list):
        generator = [generator[i] for i in indices]
    negatives = request.negative_prompts
    return dataclasses.replace(
        request, pixels=request.pixels[indices], source=source, change=request.change[indices],
        prompts=[request.prompts[i] for i in indices], generator=generator,
        negative_prompts=None if negatives is None else [negatives[i] for i in indices],
    )


def resize_pixels(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, 3, H, W)`` in [0, 1] resized (bicubic, antialiased) to ``size``; unchanged if already there."""
    if tuple(pixels.shape[-2:]) == tuple(size):
        return pixels
    return F.interpolate(pixels, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def plan_stage(family, pipe, change: torch.Tensor, n_steps: int, skip_idle_steps: bool = True) -> StagePlan:
    """Resample the map to ``pipe``'s grid and turn it into free steps and a strength.

    Args:
        family: the family adapter (its ``processing_size``, ``latent_size`` and ``rounding``).
        pipe: the stock pipeline of this stage.
        change: ``(B, 1, H, W)`` float32 in [0, 1], 1 = change fully.
        n_steps: ``N``.
        skip_idle_steps: ``False`` runs all ``N`` steps (the reference code's cost).

    Returns:
        The :class:`StagePlan`.
    """
    height, width = change.shape[-2:]
    size = family.processing_size(pipe, height, width)
    grid = area_resample(change, family.latent_size(pipe, *size))
    k = free_steps(grid, n_steps, family.rounding)
    k_max = int(k.max())
    k_run = k_max if skip_idle_steps or k_max == 0 else n_steps
    return StagePlan(size, grid, k, k_max, k_run, strength_for_steps(k_run, n_steps, family.rounding))


def run_stage(
    family,
    pipe,
    request: EditRequest,
    plan: StagePlan,
    x0: torch.Tensor,
    image: torch.Tensor,
    *,
    output_type: str,
    eps: torch.Tensor | None = None,
    first_position: int | None = None,
    conditioning: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Any:
    """Run one stock pipeline call under the differential hook.

    Args:
        family: the family adapter.
        pipe: the stock pipeline.
        request: the edit.
        plan: this stage's :class:`StagePlan`.
        x0: ``(B, C, h, w)`` the encoded original on this stage's grid (unpacked).
        image: what the pipeline receives as ``image`` (see :class:`StageRun`).
        output_type: ``"latent"`` or ``"pt"`` for the pipeline.
        eps: the run's noise, same shape as ``x0``; ``None`` draws it now exactly as the pipeline will.
        first_position: position in ``scheduler.timesteps`` of the pipeline's first loop step;
            ``None`` is where stock img2img at ``plan.strength`` starts.
        conditioning: family-specific inputs (see :class:`StageRun`).
        extra: pipeline keyword arguments added to the user's.

    Returns:
        The pipeline's images.
    """
    if eps is None:
        # x0 was encoded on the execution device; asking diffusers again walks every module.
        eps = draw_like_pipeline(request.generator, family.noise_shape(x0), x0.device, x0.dtype)
    order = pipe.scheduler.order
    if first_position is None:
        first_position = order * (request.n_steps - plan.k_run)
    start = start_positions(plan.k, request.n_steps, order).to(x0.device)
    hook = DifferentialStep(family.pack(pipe, x0), family.pack(pipe, eps), family.pack(pipe, start), first_position,
                            then=request.callback)
    return family.run(pipe, StageRun(
        prompts=request.prompts, negative_prompts=request.negative_prompts, image=image, strength=plan.strength,
        n_steps=request.n_steps, generator=request.generator, hook=hook, guidance_scale=request.guidance_scale,
        output_type=output_type, size=plan.size, conditioning=conditioning or {},
        extra={**request.pipeline_kwargs, **(extra or {})},
    ))
