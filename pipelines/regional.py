"""``edit()`` for compound plans: one map per part, run in one pass with ``DifferentialEditor.edit_regions``.

"make the sky stormy and the grass yellow" plans two parts; each part's map is built as a plan's map is
(:func:`pipelines.maps.map_from_plan`, within the pixel budget, transparent pixels kept), and the editor runs
``edit_regions(image, [(part.prompt, part_map), ...])``: each region its own prompt and its own strength.
The result's ``change_map`` is the union (maximum) of the part maps. What applies as for one map: the seed,
``steps``, ``guidance_scale``, ``negative_prompt``, ``max_megapixels`` (every map is made and edited within
the budget, and the edit is brought back through the union) and ``crop="auto"`` (one crop around the union,
every map cropped alike). ``strength=`` caps every part; ``region=`` or ``prompt=`` make it a one-map edit.
A family without regional editing (Kandinsky 2.2, DeepFloyd IF, ...) runs the union with the merged prompt,
and the plan's notes say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PIL import Image

from automaps import ChangeMap, ops
from automaps.plan_types import EditPlan
from pipelines.crop import CropBox, choose_crop, crop_work_size, native_resolution
from pipelines.images import MIN_SIDE, budget_size, paste_through_map

__all__ = ["Regions", "diffuse_regions", "part_maps", "resolve_regions", "runs_regions", "usable_regions"]

Regions = list[tuple[str, ChangeMap]]
"""``[(prompt, change_map), ...]``: one entry per part, maps at the image's size, 1 = change fully."""

_NO_REGIONS = "the {family} family cannot edit several regions in one pass: the parts' union ran with one prompt"


def runs_regions(plan: EditPlan, change_map: Any, region: str | None, prompt: str | None) -> bool:
    """Whether :func:`pipelines.edit.edit` runs ``plan`` part by part: a compound plan, with no map, region or
    prompt of the caller's replacing the planner's (those make it a one-map edit)."""
    return bool(plan.parts) and change_map is None and region is None and prompt is None


def part_maps(source: Image.Image, alpha: Image.Image | None, plan: EditPlan,
              map_models: Mapping[str, str | None] | None, device: str | None, max_megapixels: float | None,
              release_map_models: bool, strength: float | None = None) -> Regions:
    """One ``(prompt, map)`` per part of ``plan``, each map built as :func:`pipelines.edit.edit` builds one.

    Args:
        source: The upright RGB image.
        alpha: Its alpha channel, or None; pixels with alpha 0 are kept (0 in every map).
        plan: A compound plan (``plan.parts`` non-empty); a single-part plan gives one region.
        map_models, device, max_megapixels: As for :func:`pipelines.edit.edit`.
        release_map_models: Drop the map models after the last part's map.
        strength: The caller's ``strength=``: every part's strength, or None for the parts' own.

    Returns:
        ``[(part.prompt, ChangeMap (H, W) float32 in [0, part.strength])]`` at the source's size.
    """
    from pipelines.edit import _keep_transparent, _planned_map  # edit imports this module: import late

    parts = plan.all_parts
    regions = []
    for k, part in enumerate(parts):
        part = part if strength is None else part.replace(strength=strength)
        last = k == len(parts) - 1
        change = _planned_map(source, part, map_models, device, max_megapixels, release_map_models and last)
        regions.append((part.prompt, _keep_transparent(change, alpha)))
    return regions


def resolve_regions(source: Image.Image, alpha: Image.Image | None, plan: EditPlan, model: Any,
                    map_models: Mapping[str, str | None] | None, device: str | None, max_megapixels: float | None,
                    release_map_models: bool, strength: float | None = None) -> tuple[Regions, ChangeMap, str]:
    """The model checked (cheap, before the map models), then :func:`part_maps` and their union.

    Returns:
        ``(regions, union, model_name)``: the union is the edit's ``change_map``.
    """
    from pipelines.checks import check_model

    model_name = check_model(model)
    regions = part_maps(source, alpha, plan, map_models, device, max_megapixels, release_map_models, strength)
    return regions, ops.union(*(change for _, change in regions)), model_name


def usable_regions(editor: Any, plan: EditPlan, regions: Regions | None) -> tuple[Regions | None, EditPlan]:
    """``(regions, plan)`` when ``editor`` can run them; ``(None, plan with a note)`` for a family that
    cannot (the union then runs with the merged prompt)."""
    from diffdiff.regions import supports_regions

    if regions is None or supports_regions(editor.adapter):
        return regions, plan
    note = _NO_REGIONS.format(family=getattr(editor, "family", "model's"))
    return None, plan.replace(notes=[*plan.notes, note])


def _crop_regions(editor: Any, image: Image.Image, regions: Regions, box: CropBox | None,
                  max_megapixels: float | None) -> tuple[Image.Image, Regions, tuple[int, int]]:
    """The image and maps the editor sees: the crop ``box`` (or the whole image), and the work size."""
    if box is None:
        return image, regions, budget_size(image.size, max_megapixels)
    crop = image.crop(box.as_tuple())
    cropped = [(prompt, ChangeMap(change.values[box.top : box.bottom, box.left : box.right],
                                  provenance=f"{change.provenance} | crop")) for prompt, change in regions]
    return crop, cropped, crop_work_size(box, native_resolution(editor), MIN_SIDE)


def diffuse_regions(editor: Any, source: Image.Image, regions: Regions, crop: str, max_megapixels: float | None,
                    seed: int, **call: Any) -> tuple[Image.Image, CropBox | None]:
    """Run ``editor.edit_regions`` on ``source`` (or on the crop around the union of the maps), seeded.

    Args:
        editor: A ``DifferentialEditor`` whose family supports regions.
        source: The upright RGB image.
        regions: ``[(prompt, map)]`` at the source's size.
        crop: ``"auto"`` (a crop around a small union at the model's native resolution) or ``"off"``.
        max_megapixels: The whole-image edit's pixel budget (``None``: no limit).
        seed: The run's seed.
        **call: The editor call's other arguments (``num_inference_steps``, ``guidance_scale``, ...).

    Returns:
        ``(edited, box)``: the edit at the source's size (equal to it wherever every map is 0) and the crop box.
    """
    import torch

    from pipelines.console import no_truncation_echo

    union = ops.union(*(change for _, change in regions))
    box = None
    if crop == "auto":
        box = choose_crop(union.values, budget_size(source.size, max_megapixels), native_resolution(editor))
    image, maps, size = _crop_regions(editor, source, regions, box, max_megapixels)
    generator = torch.Generator().manual_seed(seed)
    with no_truncation_echo():
        if size == image.size:
            edited = editor.edit_regions(image, maps, generator=generator, **call).images[0]
        else:
            work = image.resize(size, Image.Resampling.LANCZOS)
            resized = [(prompt, ops.resize(change, size=size)) for prompt, change in maps]
            edited = editor.edit_regions(work, resized, generator=generator, **call).images[0]
            values = ops.union(*(change for _, change in maps)).values
            edited = paste_through_map(image, work, edited, values)
    if box is None:
        return edited, None
    pasted = source.copy()
    pasted.paste(edited, (box.left, box.top))
    return pasted, box
