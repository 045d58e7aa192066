"""``edit(image, "make the sky stormy")``: plan the instruction, build the change map, run the editor."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from automaps import ChangeMap, ops
from automaps.plan_types import PHRASE_GENERATORS, EditPlan
from pipelines.crop import CropBox, crop_box, native_resolution
from pipelines.maps import map_from_plan
from pipelines.models import load_editor

__all__ = ["EditResult", "edit"]

CROP_MODES = ("auto", "off")


@dataclass
class EditResult:
    """What one edit produced, and everything needed to reproduce it.

    Attributes:
        image: the edited image (RGB, the input's size).
        change_map: the map used, ``(H, W)`` in [0, 1], 1 = change fully, with its provenance.
        plan: the edit plan (after the caller's overrides).
        seed: the seed of the diffusion run.
        model: the diffusion model's id or folder.
        timings: seconds per stage: ``plan``, ``map``, ``load``, ``diffusion``, ``total``.
        settings: steps, guidance, scheduler, crop box and the other knobs of the run.
    """

    image: Image.Image
    change_map: ChangeMap
    plan: EditPlan
    seed: int
    model: str
    timings: dict[str, float]
    settings: dict[str, Any]
    source: Image.Image = field(repr=False)
    _editor: Any = field(default=None, repr=False)
    _map_models: dict[str, Any] = field(default_factory=dict, repr=False)

    def save(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write ``image.png``, ``change_map.png``, ``overlay.png`` and ``edit.json`` into ``folder``.

        Every file is written atomically (temporary file, then rename). ``edit.json`` holds the plan,
        seed, model and settings: enough to reproduce the edit.

        Returns:
            ``{"image" | "change_map" | "overlay" | "json": path}``.
        """
        from automaps.io import atomic_write

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / file for name, file in
                 (("image", "image.png"), ("change_map", "change_map.png"), ("overlay", "overlay.png"),
                  ("json", "edit.json"))}
        for name, picture in (("image", self.image), ("overlay", self.change_map.overlay(self.source))):
            with atomic_write(paths[name]) as handle:
                picture.save(handle, format="PNG")
        self.change_map.save(paths["change_map"])
        record = {"plan": self.plan.to_dict(), "seed": self.seed, "model": self.model,
                  "map_provenance": self.change_map.provenance, "settings": self.settings, "timings": self.timings}
        with atomic_write(paths["json"]) as handle:
            handle.write(json.dumps(record, indent=2, ensure_ascii=False, default=str).encode())
        return paths

    def then(self, instruction: str, **overrides: Any) -> EditResult:
        """Chain: edit this result's image with a new instruction, same model and map models.

        Args:
            instruction: the next instruction.
            **overrides: any :func:`edit` keyword (``seed`` defaults to this result's seed).
        """
        overrides.setdefault("seed", self.seed)
        overrides.setdefault("map_models", self._map_models)
        for key in ("steps", "guidance_scale", "crop", "progress"):
            overrides.setdefault(key, self.settings.get(key))
        return edit(self.image, instruction, model=self._editor, **overrides)


def _as_image(image: Any) -> Image.Image:
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image: no such file: {path}")
        with Image.open(path) as opened:
            return opened.convert("RGB")
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[-1] in (3, 4) and image.dtype == np.uint8:
        return Image.fromarray(image[..., :3])
    raise TypeError(f"image: expected a PIL image, a path or a uint8 (H, W, 3) array, got {type(image).__name__}")


def _given_map(change_map: Any, size: tuple[int, int]) -> ChangeMap:
    if isinstance(change_map, (str, os.PathLike)):
        change = ChangeMap.from_file(change_map)
    elif isinstance(change_map, ChangeMap):
        change = change_map
    elif isinstance(change_map, Image.Image):
        change = ChangeMap.from_pil(change_map, provenance="user map")
    else:
        change = ChangeMap.from_array(change_map, provenance="user map")
    return change if change.size == size else ops.resize(change, size=size)


def _apply_overrides(plan: EditPlan, region: str | None, strength: float | None, prompt: str | None) -> EditPlan:
    changes: dict[str, Any] = {}
    if region is not None:
        if not isinstance(region, str) or not region.strip():
            raise ValueError("region: must be a non-empty phrase")
        generator = plan.generator if plan.generator in PHRASE_GENERATORS else "auto"
        changes.update(regions=[region.strip()], generator=generator, invert_region=False, depth_weighted=False)
    if strength is not None:
        changes["strength"] = strength
    if prompt is not None:
        changes["prompt"] = prompt
    return plan.replace(**changes) if changes else plan


def _run_editor(editor, image: Image.Image, change: ChangeMap, box: CropBox | None, **call: Any) -> Image.Image:
    """Edit the whole image, or the crop ``box`` at the model's native resolution pasted back through the map."""
    if box is None:
        return editor(image, call.pop("prompt"), change, **call).images[0]
    crop = image.crop(box.as_tuple())
    crop_map = change.values[box.top : box.bottom, box.left : box.right]
    side = native_resolution(editor)
    scale = side / max(crop.size)
    work_size = (max(8, round(crop.width * scale)), max(8, round(crop.height * scale)))
    crop_change = ops.resize(ChangeMap(crop_map, provenance="crop"), size=work_size)
    edited = editor(crop.resize(work_size, Image.Resampling.LANCZOS), call.pop("prompt"), crop_change, **call).images[0]
    pasted = np.asarray(image).copy()
    region = np.asarray(edited.resize(crop.size, Image.Resampling.LANCZOS))
    keep = crop_map[..., None] == 0  # exact: the input wherever the map is 0, at full resolution
    pasted[box.top : box.bottom, box.left : box.right] = np.where(keep, np.asarray(crop), region)
    return Image.fromarray(pasted)


def edit(
    image: Any,
    instruction: str,
    model: Any = "sd15",
    *,
    change_map: Any = None,
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
    scheduler: Any = None,
    device: str | None = None,
    torch_dtype: Any = None,
    release_map_models: bool = True,
    progress: bool = True,
) -> EditResult:
    """Edit ``image`` as ``instruction`` says, with no hand-painted mask.

    Args:
        image: PIL image, path, or uint8 ``(H, W, 3)`` array.
        instruction: e.g. ``"make the sky stormy"``.
        model: ``"sd15"``, ``"sdxl"``, a hub id or folder, a ``DifferentialEditor`` or a diffusers pipeline.
        change_map: an explicit map (path, PIL, array, ``ChangeMap``; 1 = change fully), used as given
            instead of the planner's.
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
        scheduler, device, torch_dtype: for a model loaded here.
        release_map_models: free the map models before diffusion (peak memory = the larger stage).
        progress: show progress bars.

    Returns:
        :class:`EditResult`; ``result.image`` has the input's size and equals it wherever the map is 0.

    Raises:
        ValueError / TypeError: bad arguments (the message names the parameter).
        ModelNotAvailableError: a model is not in the local cache while offline.
    """
    from automaps.planner import plan as rule_planner

    if crop not in CROP_MODES:
        raise ValueError(f"crop: expected one of {CROP_MODES}, got {crop!r}")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps: expected an integer >= 1, got {steps!r}")
    if seed is not None and (not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    timings: dict[str, float] = {}
    started = clock = time.perf_counter()
    source = _as_image(image)
    plan = _apply_overrides((planner or rule_planner)(instruction), region, strength, prompt)
    timings["plan"] = time.perf_counter() - clock

    clock = time.perf_counter()
    map_device = "cpu" if device is None else str(device)
    if change_map is not None:
        change = _given_map(change_map, source.size)
        plan = plan.replace(notes=[*plan.notes, "change map given by the caller; the planner's recipe is unused"])
    else:
        change = map_from_plan(source, plan, map_models, device=map_device)
        if release_map_models:
            from automaps.generators import release

            release()
    timings["map"] = time.perf_counter() - clock

    clock = time.perf_counter()
    editor, model_name = load_editor(model, device=device, torch_dtype=torch_dtype, scheduler=scheduler)
    for stage in (editor.pipe, editor.refiner):
        if stage is not None:
            stage.set_progress_bar_config(disable=not progress)
    timings["load"] = time.perf_counter() - clock

    import torch

    seed = secrets.randbelow(2**31) if seed is None else seed
    steps = 30 if steps is None else steps
    box = crop_box(change.values) if crop == "auto" else None
    clock = time.perf_counter()
    edited = _run_editor(editor, source, change, box, prompt=plan.prompt, negative_prompt=negative_prompt,
                         num_inference_steps=steps, guidance_scale=guidance_scale,
                         generator=torch.Generator().manual_seed(seed))
    timings["diffusion"] = time.perf_counter() - clock
    timings["total"] = time.perf_counter() - started
    settings = {"steps": steps, "guidance_scale": guidance_scale, "negative_prompt": negative_prompt,
                "crop": crop, "crop_box": None if box is None else box.as_tuple(), "progress": progress,
                "scheduler": type(editor.pipe.scheduler).__name__, "family": editor.family,
                "map_models": dict(map_models or {})}
    return EditResult(edited, change, plan, seed, model_name, timings, settings, source, editor,
                      dict(map_models or {}))
