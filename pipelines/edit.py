"""``edit(image, "make the sky stormy")``: plan the instruction, build the change map, run the editor."""

from __future__ import annotations

import numbers
import os
import secrets
import time
import warnings
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
from PIL import Image

from automaps import ChangeMap, ops
from automaps.hub import quiet_libraries
from automaps.plan_types import PHRASE_GENERATORS, EditPlan
from pipelines.adapters import adapter_options
from pipelines.checks import check_arguments, check_model, warn_if_truncated
from pipelines.control import check_control_arguments, control_call, control_stages
from pipelines.crop import CropBox, choose_crop, crop_work_size, native_resolution
from pipelines.images import DEFAULT_MAX_MEGAPIXELS, MIN_SIDE, budget_size, load_image, paste_through_map
from pipelines.instruction import check_map_source, diffedit_change_map, instruction_plan
from pipelines.maps import map_from_plan
from pipelines.models import load_editor
from pipelines.regional import diffuse_regions, resolve_regions, runs_regions, usable_regions
from pipelines.result import EditResult

__all__ = ["EditResult", "edit"]

_NOTHING_TO_CHANGE = "the change map is all zero: nothing to change, the input is returned and no model was run"


def _as_image(image: Any) -> Image.Image:
    """The upright RGB image of ``image``, alpha dropped (:func:`pipelines.images.load_image`), for the tools
    (``strength_fan``, ``soft_inpaint``) that read an image the way :func:`edit` does."""
    return load_image(image)[0]


def _given_map(change_map: Any, size: tuple[int, int], invert: bool) -> ChangeMap:
    """The caller's map at the image's ``size = (W, H)``; a resize warns when the aspect ratio differs."""
    if isinstance(change_map, (str, os.PathLike)):
        change = ChangeMap.from_file(change_map, invert=invert, name="change_map")
    elif isinstance(change_map, numbers.Real) and not isinstance(change_map, bool):
        # A number is a uniform map: plain img2img at that strength.
        change = ChangeMap.from_array(np.full(size[::-1], change_map, np.float32), invert=invert,
                                      provenance=f"constant({change_map:g})")
    else:
        provenance = "array" if isinstance(change_map, ChangeMap) else "user map"
        change = ChangeMap.from_array(change_map, invert=invert, provenance=provenance)
    if change.size == size:
        return change
    (w, h), (W, H) = change.size, size
    if abs(h / w - H / W) > 0.01 * (H / W):
        warnings.warn(f"change_map: size {w}x{h} has another aspect ratio than the image ({W}x{H}); "
                      "it is stretched to the image", stacklevel=4)
    return ops.resize(change, size=size)


def _apply_overrides(plan: EditPlan, region: str | None, strength: float | None, prompt: str | None) -> EditPlan:
    changes: dict[str, Any] = {}
    if region is not None:
        if not isinstance(region, str) or not region.strip():
            raise ValueError("region: must be a non-empty phrase")
        generator = plan.generator if plan.generator in PHRASE_GENERATORS else "auto"
        changes.update(regions=[region.strip()], generator=generator, invert_region=False, depth_weighted=False,
                       parts=[], where=None, part=None)  # the caller's phrase replaces every planned region
    if strength is not None:
        changes["strength"] = strength
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("prompt: must be a non-empty string")
        changes["prompt"] = prompt
    return plan.replace(**changes) if changes else plan


def _run_editor(editor, image: Image.Image, change: ChangeMap, box: CropBox | None, max_megapixels: float | None,
                **call: Any) -> Image.Image:
    """Edit the whole image (within the pixel budget), or the crop ``box`` at the model's native resolution;
    an edit made at another size is brought back through the map (:func:`pipelines.images.paste_through_map`)."""
    if box is None:
        region, values = image, change.values
        size = budget_size(image.size, max_megapixels)
    else:
        region = image.crop(box.as_tuple())
        values = change.values[box.top : box.bottom, box.left : box.right]
        size = crop_work_size(box, native_resolution(editor), MIN_SIDE)
    region_map = change if box is None else ChangeMap(values, provenance=f"{change.provenance} | crop")
    prompt = call.pop("prompt")
    if size == region.size:
        edited = editor(region, prompt, region_map, **call).images[0]  # kept pixels are exact already
    else:
        work = region.resize(size, Image.Resampling.LANCZOS)
        edited = editor(work, prompt, ops.resize(region_map, size=size), **call).images[0]
        edited = paste_through_map(region, work, edited, values)
    if box is None:
        return edited
    pasted = image.copy()
    pasted.paste(edited, (box.left, box.top))
    return pasted


def edit(
    image: Any,
    instruction: str,
    model: Any = "sd15",
    *,
    change_map: Any = None,
    invert_map: bool = False,
    region: str | None = None,
    strength: float | None = None,
    prompt: str | None = None,
    negative_prompt: str | None = None,
    seed: int | None = None,
    steps: int | None = None,
    guidance_scale: float | None = None,
    map_models: Mapping[str, str | None] | None = None,
    planner: Callable[[str], EditPlan] | None = None,
    crop: str = "auto",
    max_megapixels: float | None = DEFAULT_MAX_MEGAPIXELS,
    scheduler: Any = None,
    device: str | None = None,
    torch_dtype: Any = None,
    stages: Mapping[str, Any] | None = None,
    release_map_models: bool = False,
    progress: bool = True,
    map_source: str = "plan",
    controlnet: Any = None,
    control: Any = None,
    control_scale: float = 1.0,
    lora: Any = None,
    ip_adapter: str | None = None,
    ip_adapter_image: Any = None,
    ip_adapter_scale: float | None = None,
) -> EditResult:
    """Edit ``image`` as ``instruction`` says, with no hand-painted mask.

    Args:
        image: a path, a PIL image of any mode, or a uint8/uint16/float ``(H, W[, 3 | 4])`` array (see
            :func:`pipelines.images.load_image`): turned upright by its EXIF orientation, at least 16 px a side.
            An alpha channel is kept in the output, and pixels with alpha 0 are not changed.
        instruction: e.g. ``"make the sky stormy"``; one the planner cannot parse becomes a global edit (the
            plan's notes say so).
        model: ``"sd15"``, ``"sdxl"``, a hub id or folder, a ``DifferentialEditor`` or a diffusers pipeline.
        change_map: an explicit map (path, PIL, array, tensor, ``ChangeMap`` or a number; 1 = change fully),
            used instead of the planner's; resampled to the image (with a warning if its aspect ratio differs).
        invert_map: ``change_map`` is in the paper's polarity (white = keep): use ``1 - map``.
        region: an explicit phrase to segment instead of the planner's region.
        strength: overrides the plan's maximum change (planner maps only).
        prompt: overrides the plan's target prompt.
        negative_prompt: passed to the editor.
        seed: diffusion seed (``None`` draws one, recorded in the result).
        steps: inference steps ``N`` (default 30).
        guidance_scale: ``None`` = the model's default.
        map_models: ``{"clipseg" | "detector" | "segmenter" | "depth": id_or_folder}``.
        planner: any ``instruction -> EditPlan`` callable (default: ``automaps.planner.plan``).
        crop: ``"auto"`` edits a crop around a small changed area at the model's native resolution;
            ``"off"`` edits the whole image.
        max_megapixels: the largest area the map models and a whole-image edit work at. A larger image is
            downscaled for them, and the edit is brought back to full resolution through the map, so kept
            pixels stay exact (:func:`pipelines.images.paste_through_map`). ``None``: no limit.
        scheduler, device, torch_dtype: for a model loaded here.
        stages: the family's extra stages for a model loaded here, ``{"refiner" | "prior" | "stage2" |
            "stage3": id_or_folder}`` (see ``DifferentialEditor.from_pretrained``).
        release_map_models: drop the map models before diffusion (peak memory = the larger stage). By default
            they stay cached, moved off the accelerator, so chained edits (``then``) reload nothing; they are
            dropped anyway when less than a quarter of the machine's memory is available.
        progress: show progress bars.
        map_source: ``"plan"`` (the planner's recipe) or ``"diffedit"``: the loaded diffusion model's own map,
            ``|eps(text) - eps("")|`` over noise draws, no segmentation model (text: the instruction for an
            instruction model such as ``"kontext"``, else the plan's prompt; see :mod:`pipelines.instruction`).
        controlnet: a ControlNet hub id or folder (or a list) for a model loaded here (SD, SDXL, Flux).
        control: the ControlNet's control image: ``"depth"``, ``"canny"`` (made from the image by automaps),
            a PIL image, an array or a path (:mod:`pipelines.control`). The edit then runs on the whole image.
        control_scale: ``controlnet_conditioning_scale``.
        lora: LoRA weights for a model loaded here, ``[ID_OR_PATH or (ID_OR_PATH, scale), ...]``.
        ip_adapter: an IP-Adapter ``REPO[::SUBFOLDER/WEIGHT]`` (``"h94/IP-Adapter"``) for a model loaded here.
        ip_adapter_image: its reference image (path, PIL or array); also for an editor that has an IP-Adapter.
        ip_adapter_scale: the IP-Adapter's strength (default 1.0). See :mod:`pipelines.adapters`.

    Returns:
        :class:`EditResult`; ``result.image`` has the input's size and equals it wherever the map is 0. An
        all-zero map (explicit, or a region that was not found) returns the input without loading the model.

    Raises:
        ValueError / TypeError: bad arguments or inputs (the message names the parameter).
        FileNotFoundError: a missing image, map or model folder.
        ModelNotAvailableError: a model is not in the local cache while offline.
        UnsupportedPipelineError: the model's pipeline class is not supported.
    """
    from automaps.planner import plan as rule_planner

    _check_edit_arguments(instruction, change_map, invert_map, crop, steps, seed, max_megapixels, map_models,
                          device, torch_dtype, guidance_scale=guidance_scale, strength=strength,
                          negative_prompt=negative_prompt, release_map_models=release_map_models, progress=progress)
    check_map_source(map_source, change_map)
    check_control_arguments(controlnet, control, control_scale, model)
    stages, crop = control_stages(stages, controlnet), "off" if control is not None else crop  # control: whole image
    adapters = adapter_options(model, lora, ip_adapter, ip_adapter_image, ip_adapter_scale)  # reads the IP image
    stages = {**dict(stages or {}), **adapters.load_kwargs()}  # load_editor's lora= / ip_adapter=
    timings: dict[str, float] = {}
    started = clock = time.perf_counter()
    # Cheap inputs first (image, plan, a given map), then the model (a file read), then the map models.
    source, alpha = load_image(image)
    plan = _apply_overrides((planner or rule_planner)(instruction), region, strength, prompt)
    timings["plan"] = time.perf_counter() - clock

    clock, regions = time.perf_counter(), None
    with quiet_libraries(progress=None if progress else False):  # progress=False: map models load without bars
        if map_source == "diffedit":  # the diffusion model makes the map, so it loads first
            model, model_name = _load_quiet_editor(model, device, torch_dtype, scheduler, progress, stages)
            change, plan = diffedit_change_map(model, source, instruction, plan)
            change = _keep_transparent(change, alpha)
        elif runs_regions(plan, change_map, region, prompt):  # a compound plan: one map per part
            regions, change, model_name = resolve_regions(source, alpha, plan, model, map_models, device,
                                                          max_megapixels, release_map_models, strength)
        else:
            change, plan, model_name = _resolve_map(source, alpha, plan, model, change_map, invert_map, map_models,
                                                    device, max_megapixels, release_map_models)
    timings["map"] = time.perf_counter() - clock

    seed = secrets.randbelow(2**31) if seed is None else int(seed)  # numpy integers: manual_seed takes int only
    steps = 30 if steps is None else int(steps)
    settings = _settings(steps, guidance_scale, negative_prompt, crop, max_megapixels, progress, map_models)
    settings.update(adapters.settings())
    if change.max() == 0:
        timings.update(load=0.0, diffusion=0.0, total=time.perf_counter() - started)
        plan = plan.replace(notes=[*plan.notes, _NOTHING_TO_CHANGE])
        return _result(None, source, alpha, change, plan, seed, model_name, timings, settings, model, map_models)

    clock = time.perf_counter()
    editor, model_name = _load_quiet_editor(model, device, torch_dtype, scheduler, progress, stages)
    timings["load"] = time.perf_counter() - clock
    plan = instruction_plan(editor, plan, instruction, prompt_given=prompt is not None)
    regions, plan = usable_regions(editor, plan, regions)  # a family without regions runs the union
    for text in [p for p, _ in regions] if regions else [plan.prompt]:  # regions: each part's own prompt
        warn_if_truncated(editor, text, "prompt")
    warn_if_truncated(editor, negative_prompt, "negative_prompt")
    if _frees_no_step(editor, change, steps):  # warned: the input is returned, as for an all-zero map
        timings.update(diffusion=0.0, total=time.perf_counter() - started)
        plan = plan.replace(notes=[*plan.notes, "the change map's maximum frees no step: the input is returned"])
        return _result(None, source, alpha, change, plan, seed, model_name, timings, settings, editor, map_models)

    clock = time.perf_counter()
    diffuse = partial(diffuse_regions, editor, source, regions) if regions else partial(
        _diffuse, editor, source, change, prompt=plan.prompt)
    edited, box = diffuse(crop, max_megapixels, seed, negative_prompt=negative_prompt, num_inference_steps=steps,
                          guidance_scale=guidance_scale,
                          **control_call(editor, control, source, control_scale, map_models, device),
                          **adapters.call_kwargs(editor))
    timings["diffusion"] = time.perf_counter() - clock
    timings["total"] = time.perf_counter() - started
    settings.update(crop_box=None if box is None else box.as_tuple(), family=editor.family,
                    scheduler=type(editor.pipe.scheduler).__name__)
    return _result(edited, source, alpha, change, plan, seed, model_name, timings, settings, editor, map_models)


def _check_edit_arguments(instruction: Any, change_map: Any, invert_map: bool, crop: str, steps: Any, seed: Any,
                          max_megapixels: Any, map_models: Any, device: Any, torch_dtype: Any, *,
                          guidance_scale: Any, strength: Any, negative_prompt: Any, **switches: Any) -> None:
    """Refuse bad :func:`edit` arguments before any work, naming the parameter."""
    check_arguments(instruction, crop, steps, seed, max_megapixels, map_models, device, torch_dtype,
                    guidance_scale=guidance_scale, strength=strength, negative_prompt=negative_prompt)
    for name, value in {"invert_map": invert_map, **switches}.items():
        if not isinstance(value, bool):
            raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    if invert_map and change_map is None:
        raise ValueError("invert_map: only applies to a change_map you pass")


def _frees_no_step(editor, change: ChangeMap, steps: int) -> bool:
    """Warn in one line when the map's maximum frees 0 (or only 1) of ``steps``; True when it frees none."""
    from diffdiff.call_args import idle_map_message
    from diffdiff.core import steps_for_strength, typed_strength

    rounding = getattr(getattr(editor, "adapter", None), "rounding", "floor")
    if (message := idle_map_message(change.max(), steps, rounding)) is None:
        return False
    if steps_for_strength(typed_strength(change.max()), steps, rounding) > 0:
        return False  # the editor warns for "only 1 step" itself
    warnings.warn(message, stacklevel=3)
    return True


def _resolve_map(source: Image.Image, alpha: Image.Image | None, plan: EditPlan, model: Any, change_map: Any,
                 invert_map: bool, map_models: Mapping[str, str | None] | None, device: str | None,
                 max_megapixels: float | None, release_map_models: bool) -> tuple[ChangeMap, EditPlan, str]:
    """The edit's map: the caller's ``change_map`` or the plan's, at the image's size, transparent pixels kept.

    The model is checked in between (:func:`pipelines.checks.check_model`): a given map is cheaper to check
    than a model folder, and the map models cost more than both.

    Returns:
        ``(change, plan, model_name)``; the plan's notes say when the caller's map replaced its recipe.
    """
    change = None if change_map is None else _given_map(change_map, source.size, invert_map)
    model_name = check_model(model)
    if change is None:
        change = _planned_map(source, plan, map_models, device, max_megapixels, release_map_models)
    else:
        plan = plan.replace(notes=[*plan.notes, "change map given by the caller; the planner's recipe is unused"])
    return _keep_transparent(change, alpha), plan, model_name


def _planned_map(source: Image.Image, plan: EditPlan, map_models: Mapping[str, str | None] | None,
                 device: str | None, max_megapixels: float | None, release_map_models: bool) -> ChangeMap:
    """The plan's map, made within the pixel budget and brought to the image's size. The map models then stay
    cached for the next edit (moved off an accelerator first, so diffusion has its memory); they are dropped when
    ``release_map_models`` is set or the machine is short of memory (peak memory = the larger stage)."""
    work_size = budget_size(source.size, max_megapixels)
    work = source if work_size == source.size else source.resize(work_size, Image.Resampling.LANCZOS)
    change = map_from_plan(work, plan, map_models, device="cpu" if device is None else str(device))
    if change.size != source.size:
        change = ops.resize(change, size=source.size)
    from automaps.generators.loading import memory_is_short, offload, release

    if release_map_models or memory_is_short():
        release()
    else:
        offload("cpu")
    return change


def _keep_transparent(change: ChangeMap, alpha: Image.Image | None) -> ChangeMap:
    """``change`` with 0 wherever the input's ``alpha`` is 0: transparent pixels are kept."""
    if alpha is not None and not (opaque := np.asarray(alpha) > 0).all():
        return change.derive(change.values * opaque, "alpha > 0")
    return change


def _settings(steps: int, guidance_scale: float | None, negative_prompt: str | None, crop: str,
              max_megapixels: float | None, progress: bool, map_models: Mapping[str, str | None] | None
              ) -> dict[str, Any]:
    """The run's knobs as :attr:`EditResult.settings` records them (crop box, scheduler and family once known)."""
    return {"steps": steps, "guidance_scale": guidance_scale, "negative_prompt": negative_prompt, "crop": crop,
            "crop_box": None, "max_megapixels": max_megapixels, "progress": progress, "scheduler": None,
            "family": None, "map_models": dict(map_models or {})}


def _load_quiet_editor(model: Any, device: str | None, torch_dtype: Any, scheduler: Any, progress: bool,
                       stages: Mapping[str, Any] | None = None):
    """``(editor, name)`` from :func:`pipelines.models.load_editor`, with every stage's progress bar on or off."""
    editor, model_name = load_editor(model, device=device, torch_dtype=torch_dtype, scheduler=scheduler,
                                     progress=progress, **dict(stages or {}))
    for stage in getattr(editor, "pipelines", [editor.pipe]):
        stage.set_progress_bar_config(disable=not progress)
    return editor, model_name


def _diffuse(editor, source: Image.Image, change: ChangeMap, crop: str, max_megapixels: float | None, seed: int,
             **call: Any) -> tuple[Image.Image, CropBox | None]:
    """Run the editor on ``source`` (the crop around a small change when ``crop == "auto"``), seeded.

    Returns:
        ``(edited, box)``: the edited image at the input's size, and the crop box used (``None``: whole image).
    """
    import torch

    box = None
    if crop == "auto":
        box = choose_crop(change.values, budget_size(source.size, max_megapixels), native_resolution(editor))
    from pipelines.console import no_truncation_echo

    with no_truncation_echo():  # warn_if_truncated said it in one line; diffusers would echo the prompt's tail
        edited = _run_editor(editor, source, change, box, max_megapixels,
                             generator=torch.Generator().manual_seed(seed), **call)
    return edited, box


def _result(edited: Image.Image | None, source: Image.Image, alpha: Image.Image | None, change: ChangeMap,
            plan: EditPlan, seed: int, model_name: str, timings: dict[str, float], settings: dict[str, Any],
            editor: Any, map_models: Mapping[str, str | None] | None) -> EditResult:
    """The :class:`EditResult`, the input's alpha put back on the edit and on the source; ``edited=None``
    (nothing to change) returns a copy of the input as the edit."""
    restored = _with_alpha(source, alpha)
    image = restored.copy() if edited is None else _with_alpha(edited, alpha)
    return EditResult(image, change, plan, seed, model_name, timings, settings, restored, editor,
                      dict(map_models or {}))


def _with_alpha(image: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return image
    rgba = image.convert("RGBA")
    rgba.putalpha(alpha)
    return rgba
