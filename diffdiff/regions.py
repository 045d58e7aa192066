"""Regional differential editing: several ``(prompt, change_map)`` regions in one denoising pass.

Freedom follows the elementwise maximum of the region maps, so a cell is free for ``k(max_r m_r)`` steps
and the run takes ``k(max over all maps)`` steps, exactly like one editor call on that maximum map. What the
model predicts at a cell is a weighted combination of the region prompts' predictions there:

* without ``background_prompt``: ``w_r = m_r / sum_s m_s`` (the regions share a cell in proportion to how
  much each asks to change it);
* with ``background_prompt``: ``w_r = M * m_r / sum_s m_s`` with ``M = max_s m_s``, and the background
  prompt takes the rest, ``1 - M``: a cell that a region changes fully hears only the region prompts, a
  cell changed a little (a feathered edge) mostly hears the prompt of the surroundings;
* where every map is 0 the weights do not matter (such cells are never free and end exactly at ``x0``).

Weights are read from each region's map area-averaged to the model grid, as the editor reads its map.
Regions with one prompt share one prediction (their weights add up), so the denoiser sees one row per
distinct prompt and image: with one distinct prompt (and no other background prompt) the edit *is* the
plain editor call on the maximum map. Classifier-free guidance is linear, so combining the conditional
predictions before guidance equals combining the guided predictions (the weights sum to 1), and the
unconditional branch runs once, not once per region.

The mechanism is a temporary wrapper around each pipeline's denoiser (:class:`RegionalDenoiser`): the
pipeline runs as usual with the base prompt; at every model call the wrapper appends one conditional
block per further prompt (the same samples and timesteps, that prompt's embeddings, encoded by the
family's own ``prompt_kwargs``), runs the denoiser once on the larger batch and hands the pipeline back
its own batch, the conditional half replaced by the per-cell combination.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from automaps.errors import UnsupportedPipelineError
from diffdiff.core import area_resample
from diffdiff.families import FAMILIES, Family
from diffdiff.inputs import _one_map, image_batch, map_batch

__all__ = ["RegionalDenoiser", "combine", "edit_regions", "region_weights", "supports_regions"]

NOT_WITH_REGIONS = frozenset({
    "prompt", "change_map", "prompt_2", "prompt_3", "prompt_embeds", "pooled_prompt_embeds", "negative_prompt_embeds",
    "negative_pooled_prompt_embeds", "clip_skip", "max_sequence_length", "true_cfg_scale", "ip_adapter_image",
    "ip_adapter_image_embeds",
})
"""Call arguments ``edit_regions`` refuses: the prompts come from ``regions`` and are encoded by the
family's ``prompt_kwargs`` with its defaults (so the pipeline's own prompt options would reach only one
region), and a second conditional model call (Flux's ``true_cfg_scale``) is not a region's."""

# Denoiser arguments shared by every row even when their length happens to equal the batch's (Flux's ids).
_SHARED_ARGUMENTS = frozenset({"txt_ids", "img_ids"})
# Which prompt_kwargs entry conditions which denoiser argument (SDXL's pooled text sits in added_cond_kwargs).
_TEXT_ARGUMENTS = {"encoder_hidden_states": "prompt_embeds", "pooled_projections": "pooled_prompt_embeds",
                   "text_embeds": "pooled_prompt_embeds"}


def supports_regions(family: Family) -> bool:
    """Whether ``edit_regions`` can drive ``family``: its adapter's own class declares ``regions = True``.

    Declared per class, not inherited: a family derived from a supported one (a ControlNet or inpainting
    variant, an instruction model) feeds its denoiser other inputs, so it opts in only once its own tests
    pass. A declaring family must encode prompts alone (:meth:`Family.prompt_kwargs`), so the further
    prompts can join the denoiser's batch; Kandinsky 2.2 (conditioned through its prior's image
    embeddings) and DeepFloyd IF (pixel stages without prompt embeddings in the adapter) do not.
    """
    declared = bool(type(family).__dict__.get("regions", False))
    return declared and type(family).prompt_kwargs is not Family.prompt_kwargs


def check_regions(regions: Any, n_images: int, size: tuple[int, int], invert: bool = False
                  ) -> tuple[list[str], torch.Tensor]:
    """Validate ``regions`` and read their maps.

    Args:
        regions: a non-empty list of ``(prompt, change_map)`` pairs; each map in any form the editor's
            ``change_map`` takes (one, or one per image), of the image's size (a number is a uniform map).
        n_images: images in the batch.
        size: ``(H, W)`` of the images.
        invert: read the maps in the paper's convention (white = keep).

    Returns:
        The prompts, and float32 ``(R, n_images, 1, H, W)`` maps in [0, 1], 1 = change fully.

    Raises:
        TypeError: ``regions`` is not a non-empty list of pairs, or a prompt is not a string (naming
            ``regions[i]``).
        ValueError: a map of another size, or one the editor would refuse (naming ``regions[i]``).
    """
    if not isinstance(regions, Sequence) or isinstance(regions, (str, bytes)) or not regions:
        raise TypeError(f"regions: expected a non-empty list of (prompt, change_map) pairs, got "
                        f"{type(regions).__name__} {regions!r}"[:200])
    prompts, maps = [], []
    for i, region in enumerate(regions):
        if not isinstance(region, Sequence) or isinstance(region, (str, bytes)) or len(region) != 2:
            raise TypeError(f"regions[{i}]: expected a (prompt, change_map) pair, got {type(region).__name__} "
                            f"{region!r}"[:200])
        prompt, change_map = region
        if not isinstance(prompt, str):
            raise TypeError(f"regions[{i}]: the prompt must be a string, got {type(prompt).__name__}")
        try:
            _check_size(change_map, size)
            maps.append(map_batch(change_map, n_images, size, invert=invert))
        except (TypeError, ValueError) as error:
            raise type(error)(f"regions[{i}]: {error}") from error
        prompts.append(prompt)
    return prompts, torch.stack(maps)


def _check_size(change_map: Any, size: tuple[int, int]) -> None:
    """Refuse a map (or a map of a per-image list) whose size is not the image's ``(H, W)``."""
    if isinstance(change_map, (int, float)) and not isinstance(change_map, bool):
        return
    items = change_map if isinstance(change_map, (list, tuple)) and change_map and not np.isscalar(change_map[0]) \
        else [change_map]
    for item in items:
        got = tuple(_one_map(item).shape[-2:])
        if got != tuple(size):
            raise ValueError(f"change_map: {got[1]}x{got[0]} pixels, the image is {size[1]}x{size[0]}; "
                             f"pass maps of the image's size")


def region_weights(maps: torch.Tensor, groups: list[list[int]], background: bool) -> torch.Tensor:
    """Per-cell weights of the distinct prompts that join the base prompt.

    Args:
        maps: float32 ``(R, B, 1, h, w)`` region maps in [0, 1] on the model grid, 1 = change fully.
        groups: for each further prompt, the indices of the regions that have it.
        background: the base prompt is a background prompt (weight ``1 - max_r m_r``) rather than the
            first region's prompt (weight: its regions' share).

    Returns:
        float32 ``(len(groups), B, 1, h, w)``: weight ``sum_{r in group} m_r * s`` with ``s = 1 / sum_r m_r``
        (``max_r m_r / sum_r m_r`` with a background), 0 where every map is 0. The base prompt's weight
        is 1 minus their sum.

    >>> left, right = torch.tensor([1.0, 0.5, 0.0]), torch.tensor([0.0, 0.5, 0.0])
    >>> maps = torch.stack([left, right]).view(2, 1, 1, 1, 3)  # two regions on a 1x3 grid
    >>> region_weights(maps, [[1]], background=False).flatten().tolist()  # the right region's share
    [0.0, 0.5, 0.0]
    >>> region_weights(maps, [[0], [1]], background=True).flatten().tolist()  # the background keeps 0.5 mid
    [1.0, 0.25, 0.0, 0.0, 0.25, 0.0]
    """
    total = maps.sum(0)
    scale = maps.amax(0) if background else torch.ones_like(total)
    # Where no region asks for change the base prompt keeps the whole weight (those cells are never free).
    scale = torch.where(total > 0, scale / total.clamp_min(torch.finfo(total.dtype).tiny), torch.zeros_like(total))
    if not groups:
        return maps.new_zeros((0, *maps.shape[1:]))
    return torch.stack([maps[group].sum(0) * scale for group in groups])


def combine(base: torch.Tensor, others: list[torch.Tensor], weights: list[torch.Tensor]) -> torch.Tensor:
    """The per-cell combination ``(1 - sum_u w_u) * base + sum_u w_u * others[u]``.

    Written as a sum of weighted terms so that a cell whose whole weight is on one prompt gets that
    prompt's prediction bit for bit (``1 * p + 0 * q == p``).

    Args:
        base: the base prompt's prediction, ``(B, ...)``.
        others: the further prompts' predictions, each like ``base``.
        weights: their weights, each broadcastable to ``base`` (in its layout and dtype), summing to <= 1.

    Returns:
        The combined prediction, like ``base``.
    """
    rest = 1 - torch.stack(weights).sum(0) if weights else None
    if rest is None:
        return base
    result = rest * base
    for weight, prediction in zip(weights, others, strict=True):
        result = result + weight * prediction
    return result


class RegionalDenoiser:
    """A context manager that makes one pipeline's denoiser answer for several prompts per call.

    While active, every call of the denoiser with ``n`` rows (``n = 2b`` with classifier-free guidance:
    ``[unconditional, conditional]``; ``n = b`` without) runs once on ``n + U b`` rows: the pipeline's own
    rows, then for each of the ``U`` further prompts a copy of the conditional rows conditioned on that
    prompt. It returns the pipeline's ``n`` rows, the conditional ones combined per cell (:func:`combine`).
    It works through forward hooks on the denoiser, removed on exit whatever happens.

    Args:
        denoiser: the family's denoiser module of the pipeline (``adapter.denoiser(pipe)``).
        embeds: ``prompt_kwargs`` of the ``U`` further prompts, each tensor ``(U, ...)`` (one row per prompt).
        weights: ``(U, b, ...)`` their per-cell weights in the layout of the denoiser's output (packed
            for Flux), one row per conditional batch entry.
    """

    def __init__(self, denoiser: torch.nn.Module, embeds: dict[str, torch.Tensor], weights: torch.Tensor) -> None:
        self.denoiser, self.embeds, self.weights = denoiser, embeds, weights
        self.rows = weights.shape[1]
        self.calls = 0
        self._handles: list = []
        self._n = 0

    def __enter__(self) -> RegionalDenoiser:
        module = self.denoiser
        self._signature = inspect.signature(module.forward)
        self._first = next(iter(self._signature.parameters))
        # Prepended hooks: every other hook (call counters, the DiffEdit probe's) sees the batch the model
        # really runs on, and the combined output.
        self._handles = [module.register_forward_pre_hook(self._grow_inputs, with_kwargs=True, prepend=True),
                         module.register_forward_hook(self._combine_output, prepend=True)]
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _grow_inputs(self, module, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        bound = self._signature.bind(*args, **kwargs)
        arguments = bound.arguments
        n, b = arguments[self._first].shape[0], self.rows
        if n not in (b, 2 * b):
            raise RuntimeError(f"regions: the denoiser got {n} rows for {b} images; expected {b} or {2 * b}")
        for name, value in arguments.items():
            if name not in _SHARED_ARGUMENTS:
                arguments[name] = self._expand(name, value, n)
        self.calls += 1
        self._n = n
        return bound.args, bound.kwargs

    def _combine_output(self, module, args: tuple, output: Any) -> Any:
        n, b = self._n, self.rows
        prediction = output[0] if isinstance(output, tuple) else output.sample
        kept, conditional = prediction[: n - b], prediction[n - b :].split(b)
        weights = self.weights.to(device=prediction.device, dtype=prediction.dtype)
        prediction = torch.cat([kept, combine(conditional[0], list(conditional[1:]), list(weights))])
        if isinstance(output, tuple):
            return (prediction, *output[1:])
        output.sample = prediction
        return output

    def _expand(self, name: str, value: Any, n: int) -> Any:
        """``value`` for the larger batch: every tensor with one row per batch entry grows (inside dicts,
        tuples and lists too, e.g. SDXL's ``added_cond_kwargs``); a text argument grows by the further
        prompts' embeddings; anything else (a scalar timestep, a shared tensor) is passed as is."""
        if isinstance(value, dict):
            return {key: self._expand(key, item, n) for key, item in value.items()}
        if isinstance(value, (tuple, list)):
            return type(value)(self._expand(name, item, n) for item in value)
        if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape[0] != n:
            return value
        text = self.embeds.get(_TEXT_ARGUMENTS.get(name, ""))
        return _grow(value, n, self.rows, self.weights.shape[0], text)


def _grow(value: torch.Tensor, n: int, b: int, extra: int, text: torch.Tensor | None) -> torch.Tensor:
    """``value``'s ``n`` rows, then ``extra`` blocks of ``b`` rows: copies of its last ``b`` (the conditional
    ones), or, for a text argument, each further prompt's embedding repeated ``b`` times."""
    if text is None:
        blocks = [value[n - b :]] * extra
    else:
        text = text.to(device=value.device, dtype=value.dtype)
        if tuple(text.shape[1:]) != tuple(value.shape[1:]):
            raise RuntimeError(f"regions: prompt embeddings of shape {tuple(text.shape[1:])} do not match the "
                               f"pipeline's {tuple(value.shape[1:])}")
        blocks = [row[None].expand(b, *row.shape) for row in text]
    return torch.cat([value, *blocks]) if blocks else value


def _active_rows(change: torch.Tensor, output_type: str) -> list[int]:
    """The output images the editor denoises (its ``_edit_active`` rule): all of them for ``"latent"``, else
    those with something to change, unless none or all have."""
    total = change.shape[0]
    active = [i for i in range(total) if bool(change[i].max() > 0)]
    if output_type == "latent" or not 0 < len(active) < total:
        return list(range(total))
    return active


@torch.no_grad()
def edit_regions(editor, image: Any, regions: Any, *, background_prompt: str | None = None, **call: Any):
    """Edit ``image`` with several regions, each its own prompt and per-pixel strength, in one pass.

    Args:
        editor: a ``DifferentialEditor`` of a family that :func:`supports_regions` (SD, SDXL with or without
            refiner, SD3, Flux).
        image: as the editor takes it (one image or a batch of one size).
        regions: a non-empty list of ``(prompt, change_map)``; each map ``(H, W)`` in [0, 1] of the image's
            size, 1 = change fully, 0 = keep, in any form the editor's ``change_map`` takes (or one per image).
        background_prompt: a prompt for the surroundings: at a cell, weight ``1 - max_r m_r`` (see the
            module docstring); ``None`` shares each cell among the regions alone.
        **call: the editor call's other arguments (``num_inference_steps``, ``guidance_scale``,
            ``negative_prompt``, ``generator``, ``num_images_per_prompt``, ``output_type``,
            ``preserve_unchanged``, ``invert_map`` (applied to every region map), ...).

    Returns:
        The editor's ``DifferentialOutput``: the run's map is the elementwise maximum of the region maps
        (on the model grid), ``steps_run = k(max over all maps)``.

    Raises:
        TypeError / ValueError: bad ``regions`` (naming ``regions[i]``), ``background_prompt`` or call
            arguments (see :data:`NOT_WITH_REGIONS`).
        UnsupportedPipelineError: a family whose prompts cannot join one batch (Kandinsky 2.2, DeepFloyd IF).
    """
    adapter = editor.adapter
    if not supports_regions(adapter):
        supported = sorted({c for f in FAMILIES.values() if supports_regions(f) for c in f.pipeline_classes})
        raise UnsupportedPipelineError(type(editor.pipe).__name__, supported,
                                       hint=f"regions: edit_regions cannot drive the {adapter.name!r} family")
    refused = sorted(NOT_WITH_REGIONS.intersection(call))
    if refused:
        raise TypeError(f"{refused[0]}: not an argument of edit_regions (the prompts and maps come from regions)")
    if background_prompt is not None and not isinstance(background_prompt, str):
        raise TypeError(f"background_prompt: expected a string or None, got {type(background_prompt).__name__}")
    invert = call.pop("invert_map", False)
    if not isinstance(invert, bool):
        raise TypeError(f"invert_map: expected True or False, got {type(invert).__name__} {invert!r}")
    pixels = image_batch(image)
    prompts, maps = check_regions(regions, pixels.shape[0], tuple(pixels.shape[-2:]), invert)
    base = background_prompt if background_prompt is not None else prompts[0]
    further = [p for p in dict.fromkeys(prompts) if p != base]
    change = maps.amax(0)
    if not further:
        # One distinct prompt: the plain call on the maximum map is the whole edit.
        return editor(image, base, change, **call)
    repeat = call.get("num_images_per_prompt", 1)
    repeat = repeat if isinstance(repeat, int) and not isinstance(repeat, bool) and repeat >= 1 else 1
    rows = _active_rows(change.repeat_interleave(repeat, 0), call.get("output_type", "pil"))
    groups = [[r for r, p in enumerate(prompts) if p == prompt] for prompt in further]
    wrappers = [_wrapper(adapter, pipe, maps.repeat_interleave(repeat, 1)[:, rows], groups, further,
                         background_prompt is not None) for pipe in editor.pipelines]
    entered = []
    try:
        for wrapper in wrappers:
            entered.append(wrapper.__enter__())
        return editor(image, base, change, **call)
    finally:
        for wrapper in reversed(entered):
            wrapper.__exit__(None, None, None)


def _wrapper(adapter: Family, pipe, maps: torch.Tensor, groups: list[list[int]], further: list[str],
             background: bool) -> RegionalDenoiser:
    """The :class:`RegionalDenoiser` of one pipeline: the maps on its grid, weights in its loop's layout,
    the further prompts in its own encoding."""
    regions, batch, _, height, width = maps.shape
    grid = adapter.latent_size(pipe, *adapter.processing_size(pipe, height, width))
    on_grid = area_resample(maps.reshape(regions * batch, 1, height, width), grid).reshape(regions, batch, 1, *grid)
    weights = region_weights(on_grid, groups, background)
    packed = torch.stack([adapter.pack(pipe, w) for w in weights])
    embeds = adapter.prompt_kwargs(pipe, further)
    return RegionalDenoiser(adapter.denoiser(pipe), embeds, packed)
