"""From an ``EditPlan`` to a ``ChangeMap``: the plan's map recipe, run with the map generators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PIL import Image

from automaps import ChangeMap, ops
from automaps.plan_types import EditPlan

__all__ = ["EMPTY_PART", "MAP_MODEL_KEYS", "map_from_plan"]

MAP_MODEL_KEYS = ("clipseg", "detector", "segmenter", "depth")
"""Keys of ``map_models``: hub id or local folder of each map model (``None`` = the generator's default)."""

# Plans give grow/feather in pixels at 512 px; maps are made at the image's own resolution.
_PLAN_SCALE = 512.0

EMPTY_PART = 0.1
"""A part's map whose maximum is below this found no part ("the man's face" on a man seen from behind):
the whole object is segmented instead."""


def _model_params(generator: str, map_models: Mapping[str, str | None], device: str) -> dict[str, Any]:
    params: dict[str, Any] = {"device": device}
    if generator in ("clipseg", "auto"):
        params["model"] = map_models.get("clipseg")
    if generator in ("grounded", "auto"):
        params["detector"] = map_models.get("detector")
        params["segmenter"] = map_models.get("segmenter")
    if generator == "depth":
        params["model"] = map_models.get("depth")
    return {key: value for key, value in params.items() if value is not None}


def _region(image: Image.Image, phrases: list[str], generator: str, params: dict[str, Any]) -> ChangeMap:
    from automaps.generators import generate

    model = params.pop("model", None)
    return generate(image, phrases if len(phrases) > 1 else phrases[0], source=generator, model=model, **params)


def _part_or_object(image: Image.Image, plan: EditPlan, generator: str, params: dict[str, Any]) -> ChangeMap:
    """The plan's part ("man's face") when the map model finds it, else the whole object ("man")."""
    from automaps.plan_parts import part_phrase

    if plan.part is None:
        return _region(image, plan.regions, generator, params)
    part = _region(image, [part_phrase(plan.regions[0], plan.part)], generator, dict(params))
    if part.max() >= EMPTY_PART:
        return part
    whole = _region(image, plan.regions, generator, params)
    return whole.derive(whole.values, f"{plan.part} not found: the whole {plan.regions[0]!r}")


def _where(image: Image.Image, change: ChangeMap, where: str | None, map_models: Mapping[str, str | None],
           device: str) -> ChangeMap:
    """``change`` times the position's soft prior: a ``spatial`` map, or depth for background/foreground."""
    from automaps.generators import generate

    if where is None:
        return change
    if where in ("background", "foreground"):
        polarity = "far" if where == "background" else "near"
        prior = generate(image, source="depth", model=map_models.get("depth"), polarity=polarity, device=device)
    else:
        prior = generate(image, source="spatial", position=where)
    return ops.intersect(change, prior)


def map_from_plan(
    image: Image.Image,
    plan: EditPlan,
    map_models: Mapping[str, str | None] | None = None,
    device: str = "cpu",
) -> ChangeMap:
    """Build the change map an edit plan asks for.

    Recipe: the region (union of ``plan.regions`` from ``plan.generator``), minus the negatives' regions,
    inverted for background edits, grown and feathered (the plan's pixels are at 512 px and are scaled to
    the image), then scaled into ``[0, plan.strength]``. Whole-image plans are uniform at the strength, or
    weighted by depth (far changes most) when ``plan.depth_weighted``. A plan's ``part`` is segmented as
    "<region>'s <part>", the whole region when that map's maximum is below ``EMPTY_PART``; its ``where`` is
    intersected (minimum) with a soft ``spatial`` prior, or with depth (far for "background", near for
    "foreground"), before growing and feathering. A compound plan's map is the union (maximum) of its
    parts' maps (:func:`pipelines.regional.part_maps` keeps them apart for ``edit_regions``).

    Args:
        image: the RGB image to edit.
        plan: the edit plan (from ``automaps.plan`` or any planner).
        map_models: optional ``{"clipseg" | "detector" | "segmenter" | "depth": id_or_folder}``.
        device: torch device for the map models.

    Returns:
        ``ChangeMap`` ``(H, W)`` float32 in ``[0, plan.strength]``, 1 = change fully; its provenance lists
        every step.

    Raises:
        ValueError: unknown ``map_models`` keys.
    """
    map_models = dict(map_models or {})
    unknown = sorted(set(map_models) - set(MAP_MODEL_KEYS))
    if unknown:
        raise ValueError(f"map_models: unknown keys {unknown}; expected some of {list(MAP_MODEL_KEYS)}")
    if plan.parts:
        return ops.union(*(map_from_plan(image, part, map_models, device) for part in plan.parts))
    from automaps.generators import generate

    scale = max(image.size) / _PLAN_SCALE
    generator = plan.generator
    if generator == "constant" and not plan.depth_weighted:
        change = generate(image, source="constant", value=1.0)
    elif generator == "depth" or plan.depth_weighted:
        change = generate(image, source="depth", model=map_models.get("depth"), polarity="far", device=device)
        if generator == "constant":  # depth-weighted whole-image edit: everything changes, far the most
            change = ops.levels(change, 0.5, 1.0)
    elif generator == "saliency":
        change = generate(image, source="saliency")
    else:
        params = _model_params(generator, map_models, device)
        if generator == "clipseg" and plan.negatives:
            # CLIPSeg answers positives and negatives in one batch (the image is embedded once).
            params["negatives"] = list(plan.negatives)
        change = _part_or_object(image, plan, generator, params)
        if plan.negatives and generator != "clipseg":
            negative = _region(image, plan.negatives, generator, _model_params(generator, map_models, device))
            change = ops.subtract(change, negative)
    if plan.invert_region:
        change = ops.invert(change)
    change = _where(image, change, plan.where, map_models, device)
    if plan.grow:
        change = ops.grow(change, max(1, round(plan.grow * scale)))
    if plan.feather:
        change = ops.feather(change, plan.feather * scale)
    if plan.strength < 1.0:
        change = ops.levels(change, 0.0, plan.strength)
    return change
