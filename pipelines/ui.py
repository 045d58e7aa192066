"""What ``automaps ui`` does, without Gradio: plan an instruction, make and adjust its change map, combine the
strokes painted on the map, run the edit and package its files.

The Gradio page (:mod:`pipelines.ui_app`) only wires these functions to widgets; they take and return plain
values (PIL images, numpy arrays, :class:`~automaps.EditPlan`, :class:`~automaps.ChangeMap`), so they are
tested in-process without a browser. Maps follow the project's polarity everywhere: 1 = change fully, 0 = keep.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from automaps import ChangeMap, ops
from automaps.plan_types import GENERATORS, PHRASE_GENERATORS, EditPlan

__all__ = [
    "EDIT_OPTIONS",
    "MAX_UPLOAD_MEGAPIXELS",
    "PAGE_OPTIONS",
    "MapAdjustments",
    "UISettings",
    "adjusted_plan",
    "edit_options",
    "make_map",
    "paint_strokes",
    "plan_instruction",
    "plan_markdown",
    "read_upload",
    "run_edit",
    "save_zip",
]

MAX_UPLOAD_MEGAPIXELS = 40.0
"""The largest upload the page accepts; larger photos are refused with a message (edits run at
``max_megapixels`` anyway, so such a file would only cost memory)."""

EDIT_OPTIONS = ("controlnet", "control", "control_scale", "lora", "ip_adapter", "ip_adapter_image", "ip_adapter_scale")
"""Optional :func:`pipelines.edit` keywords the page offers when (and only when) ``edit()`` accepts them."""

PAGE_OPTIONS = ("controlnet", "control_source", "control_image", "control_scale", "lora", "lora_scale", "ip_adapter",
                "ip_adapter_image", "ip_adapter_scale")
"""The page's option fields, in order, as :func:`edit_options` reads them."""


@dataclass
class UISettings:
    """The page's fixed settings, from ``automaps ui``'s flags.

    Attributes:
        model: the default diffusion model (alias, hub id or folder); the page can name another.
        map_models: ``{"clipseg" | "detector" | "segmenter" | "depth": id_or_folder}`` for the map generators.
        device: torch device for every model (``None`` = best available for diffusion, CPU for map models).
        steps: the default number of inference steps.
        max_upload_megapixels: uploads above this are refused.
        work_dir: where results are written for download (``None``: a fresh temporary folder).
    """

    model: str = "sd15"
    map_models: dict[str, str] = field(default_factory=dict)
    device: str | None = None
    steps: int = 30
    max_upload_megapixels: float = MAX_UPLOAD_MEGAPIXELS
    work_dir: str | None = None


@dataclass(frozen=True)
class MapAdjustments:
    """The page's map knobs, applied on top of the plan's recipe.

    Attributes:
        region: phrases to segment, comma separated (``""`` = the plan's).
        generator: a generator of :data:`automaps.plan_types.GENERATORS` (``""`` = the plan's).
        strength: the map's maximum, in [0, 1].
        grow: pixels (at 512 px) the region grows by, >= 0.
        feather: Gaussian sigma (at 512 px) of the edge, >= 0.
        gamma: ``m ** gamma`` after the recipe, > 0 (1 = unchanged; > 1 softens weak change).
        invert: use ``1 - m`` (keep what the map would change).
    """

    region: str = ""
    generator: str = ""
    strength: float = 1.0
    grow: float = 0.0
    feather: float = 0.0
    gamma: float = 1.0
    invert: bool = False


def read_upload(path: Any, max_megapixels: float = MAX_UPLOAD_MEGAPIXELS) -> Image.Image:
    """The uploaded image, upright RGB, through the project's guarded opener (:func:`pipelines.images.load_image`).

    Args:
        path: the uploaded file (what ``gr.Image(type="filepath")`` passes), or a PIL image.
        max_megapixels: larger images are refused.

    Returns:
        The RGB image (an alpha channel is dropped: the page edits opaque pixels).

    Raises:
        ValueError: no image, an image too small or above ``max_megapixels``; the opener's errors for files
            that are not images, corrupt or decompression bombs.
    """
    from pipelines.images import load_image

    if path is None or path == "":
        raise ValueError("image: none uploaded; drop a photo (PNG, JPEG, WebP) on the image box")
    if isinstance(path, (str, os.PathLike)):
        # Header only: refuse a huge photo before decoding its pixels.
        from automaps.imagefiles import open_image_file

        with open_image_file(path, "image") as header:
            _check_area(header.size, max_megapixels)
    source, _alpha = load_image(path, name="image")
    _check_area(source.size, max_megapixels)
    return source


def _check_area(size: tuple[int, int], max_megapixels: float) -> None:
    width, height = size
    if width * height > max_megapixels * 1e6:
        raise ValueError(f"image: {width}x{height} pixels ({width * height / 1e6:.1f} MP) is too large; "
                         f"the page accepts up to {max_megapixels:g} MP, downscale it first")


def plan_instruction(instruction: Any) -> EditPlan:
    """The rule-based plan of ``instruction`` (:func:`automaps.plan`), refusing an empty one.

    Raises:
        ValueError: an empty instruction.
    """
    from automaps.planner import plan

    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("instruction: is empty; say what to change, e.g. 'make the sky stormy'")
    return plan(instruction.strip())


def adjusted_plan(plan: EditPlan, knobs: MapAdjustments) -> EditPlan:
    """``plan`` with the page's region, generator, strength, grow and feather (gamma and invert act on the map).

    Raises:
        ValueError: an unknown generator, strength outside [0, 1], negative grow or feather, or a phrase
            generator with no region.
    """
    changes: dict[str, Any] = {"strength": float(knobs.strength), "grow": round(knobs.grow),
                               "feather": float(knobs.feather)}
    if knobs.generator:
        if knobs.generator not in GENERATORS:
            raise ValueError(f"generator: expected one of {GENERATORS}, got {knobs.generator!r}")
        changes["generator"] = knobs.generator
    phrases = [p.strip() for p in knobs.region.split(",") if p.strip()]
    if phrases and phrases != plan.regions:
        changes.update(regions=phrases, invert_region=False, depth_weighted=False)
        if changes.get("generator", plan.generator) not in PHRASE_GENERATORS:
            changes["generator"] = "auto"  # a phrase needs a segmenting generator
    if not 0.0 <= changes["strength"] <= 1.0:
        raise ValueError(f"strength: expected a value in [0, 1], got {knobs.strength}")
    if changes["grow"] < 0 or changes["feather"] < 0:
        raise ValueError("grow, feather: expected pixels >= 0")
    if changes.get("generator", plan.generator) in PHRASE_GENERATORS and not changes.get("regions", plan.regions):
        raise ValueError("region: this generator segments a phrase; type one (e.g. 'sky')")
    if getattr(plan, "parts", None) and any(changes.get(k, getattr(plan, k)) != getattr(plan, k) for k in changes):
        # A compound plan's map is the union of its parts' own recipes: a knob the user moved applies to the
        # whole map, so the plan becomes one region with its top-level recipe (regions = the parts' union).
        changes["parts"] = []
    return plan.replace(**changes)


def make_map(source: Image.Image, plan: EditPlan, knobs: MapAdjustments, *,
             uploaded: Any = None, map_models: Mapping[str, str] | None = None, device: str | None = None,
             max_megapixels: float | None = None) -> ChangeMap:
    """The change map the page shows: the plan's recipe (or an uploaded map), then gamma and invert.

    Args:
        source: the RGB image.
        plan: the adjusted plan (:func:`adjusted_plan`).
        knobs: the page's knobs (gamma and invert are applied here).
        uploaded: an uploaded map file (white = change fully), used instead of the recipe and scaled by the
            strength; ``None`` = the recipe's.
        map_models: folders or ids of the map models.
        device: torch device for the map models (``None`` = CPU).
        max_megapixels: the map models work within this budget (``None``: the edit's default).

    Returns:
        ``ChangeMap`` at the image's size, 1 = change fully, provenance listing every step.

    Raises:
        ValueError: gamma <= 0, an unreadable map file; the generators' errors.
        ModelNotAvailableError: a map model that is not available offline.
    """
    from pipelines.images import DEFAULT_MAX_MEGAPIXELS, budget_size
    from pipelines.maps import map_from_plan

    if not knobs.gamma > 0:
        raise ValueError(f"gamma: expected a value > 0, got {knobs.gamma}")
    if uploaded is not None and uploaded != "":
        change = ChangeMap.from_file(uploaded, name="uploaded map")
        change = ops.resize(change, size=source.size) if change.size != source.size else change
        if plan.strength < 1.0:
            change = ops.levels(change, 0.0, plan.strength)
    else:
        work_size = budget_size(source.size, DEFAULT_MAX_MEGAPIXELS if max_megapixels is None else max_megapixels)
        work = source if work_size == source.size else source.resize(work_size, Image.Resampling.LANCZOS)
        change = map_from_plan(work, plan, map_models, device=device or "cpu")
        change = ops.resize(change, size=source.size) if change.size != source.size else change
    if knobs.gamma != 1.0:
        change = ops.gamma(change, knobs.gamma)
    if knobs.invert:
        change = ops.invert(change)
    return change


def paint_strokes(change: ChangeMap, layers: list[Any] | None, softness: float = 0.0) -> ChangeMap:
    """Composite the strokes painted on the map editor over ``change``.

    Each layer is an RGBA picture of strokes: a stroke's brightness is the change it paints (white = change
    fully, black = keep) and its alpha how much it covers, so a half-transparent white stroke moves a pixel
    half way to 1: ``m = m * (1 - a) + a * brightness`` per layer, in order.

    Args:
        change: the map under the strokes, ``(H, W)`` in [0, 1].
        layers: ``(h, w, 4)`` uint8 arrays or PIL images (resized to the map); ``None``/empty = no strokes.
        softness: Gaussian sigma in pixels blurring each layer's alpha (a soft brush edge), >= 0.

    Returns:
        The painted map (``change`` itself when nothing was painted); provenance ``"... | paint(N strokes)"``.

    Raises:
        ValueError: a layer that is not RGBA, or a negative softness.
    """
    if softness < 0:
        raise ValueError(f"softness: expected pixels >= 0, got {softness}")
    values = change.values.astype(np.float32)
    painted = 0
    for layer in layers or []:
        if layer is None:
            continue
        rgba = _rgba_at(layer, change.size)
        alpha = rgba[..., 3] / 255.0
        if not alpha.any():
            continue
        if softness > 0:
            from scipy.ndimage import gaussian_filter

            alpha = np.clip(gaussian_filter(alpha, softness), 0.0, 1.0)
        brightness = rgba[..., :3].mean(axis=-1) / 255.0
        values = values * (1.0 - alpha) + alpha * brightness
        painted += 1
    if not painted:
        return change
    return change.derive(np.clip(values, 0.0, 1.0).astype(np.float32), f"paint({painted} layer{'s' * (painted > 1)})")


def _rgba_at(layer: Any, size: tuple[int, int]) -> np.ndarray:
    picture = layer if isinstance(layer, Image.Image) else Image.fromarray(np.asarray(layer))
    if picture.mode != "RGBA":
        raise ValueError(f"layers: expected RGBA strokes, got mode {picture.mode}")
    if picture.size != size:
        picture = picture.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(picture, dtype=np.float32)


def edit_options(page: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`pipelines.edit` keywords for the page's ControlNet, LoRA and IP-Adapter fields, limited to those
    ``edit()`` accepts (:data:`EDIT_OPTIONS`); blank fields (``None``, ``""``) add nothing.

    Args:
        page: ``controlnet`` (id or folder), ``control_source`` (``"depth"``/``"canny"``), ``control_image``
            (used instead of the source when given), ``control_scale``; ``lora`` (ids or folders, comma
            separated), ``lora_scale``; ``ip_adapter`` (``REPO[::SUBFOLDER/WEIGHT]``), ``ip_adapter_image``,
            ``ip_adapter_scale``. Missing keys count as blank.

    Returns:
        e.g. ``{"controlnet": ..., "control": "depth", "control_scale": 1.0, "lora": [(path, 0.8)]}``.
    """
    from pipelines.edit import edit

    def given(name: str) -> Any:
        value = page.get(name)
        return None if value is None or (isinstance(value, str) and not value.strip()) else value

    options: dict[str, Any] = {}
    if given("controlnet") is not None:
        control = given("control_image") if given("control_image") is not None else given("control_source")
        options.update(controlnet=str(page["controlnet"]).strip(), control=control)
        if given("control_scale") is not None:
            options["control_scale"] = float(page["control_scale"])
    if given("lora") is not None:
        scale = 1.0 if given("lora_scale") is None else float(page["lora_scale"])
        options["lora"] = [(name.strip(), scale) for name in str(page["lora"]).split(",") if name.strip()]
    if given("ip_adapter") is not None:
        options["ip_adapter"] = str(page["ip_adapter"]).strip()
        for name in ("ip_adapter_image", "ip_adapter_scale"):
            if given(name) is not None:
                options[name] = page[name]
    accepted = inspect.signature(edit).parameters
    return {name: value for name, value in options.items() if name in accepted}


def run_edit(source: Image.Image, plan: EditPlan, change: ChangeMap | None, settings: UISettings, *, model: str = "",
             steps: int | None = None, seed: Any = None, negative_prompt: str = "",
             options: Mapping[str, Any] | None = None):
    """Run the edit with the page's map and plan (no map model runs again).

    Args:
        source: the RGB image.
        plan: the plan shown on the page; its prompt is the target prompt and it is recorded in ``edit.json``.
        change: the map shown (and painted) on the page, 1 = change fully; ``None``: the plan's own map, made
            again by :func:`pipelines.edit` (a compound plan then edits each part with its own prompt).
        settings: the page's settings (default model, map models, device).
        model: alias, hub id or folder (``""`` = ``settings.model``).
        steps: inference steps (``None`` = ``settings.steps``).
        seed: an integer, or ``None``/``""``/``-1`` to draw one.
        negative_prompt: ``""`` = none.
        options: optional keywords, filtered by :func:`edit_options`.

    Returns:
        The :class:`pipelines.edit.EditResult`.

    Raises:
        The errors of :func:`pipelines.edit` (a bad argument, a missing model).
    """
    from pipelines.edit import edit

    seed = None if seed in (None, "", -1) else int(seed)
    return edit(source, plan.instruction, model=(model or "").strip() or settings.model, change_map=change,
                planner=lambda _instruction: plan, seed=seed,
                steps=settings.steps if steps is None else int(steps),
                negative_prompt=negative_prompt.strip() or None, map_models=settings.map_models or None,
                device=settings.device, **edit_options(options or {}))


def save_zip(result: Any, folder: str | os.PathLike) -> Path:
    """Write what :meth:`EditResult.save` writes into ``folder/edit`` and pack it as ``folder/edit.zip``.

    Returns:
        The zip's path; it holds ``image.png``, ``change_map.png``, ``overlay.png`` and ``edit.json``.
    """
    folder = Path(folder)
    files = result.save(folder / "edit")
    final = folder / "edit.zip"
    # Written beside, then renamed: a download never sees half a zip.
    handle, partial = tempfile.mkstemp(suffix=".zip.part", dir=folder)
    os.close(handle)
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files.values():
                archive.write(path, arcname=path.name)
        os.replace(partial, final)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    shutil.rmtree(folder / "edit", ignore_errors=True)
    return final


def plan_markdown(plan: EditPlan) -> str:
    """The plan as the page shows it: kind, regions, negatives, prompt, strength and the map recipe."""
    def phrases(items: list[str]) -> str:
        return ", ".join(f"`{p}`" for p in items) if items else "none"

    lines = [
        f"**kind** {plan.kind} · **strength** {plan.strength:.2f} · **generator** {plan.generator}",
        f"**regions** {phrases(plan.regions)}" + (" (inverted: the background)" if plan.invert_region else ""),
        f"**negatives** {phrases(plan.negatives)}",
        f"**prompt** {plan.prompt}",
        f"**grow** {plan.grow} px · **feather** {plan.feather:g} px (at 512 px)"
        + (" · depth-weighted" if plan.depth_weighted else ""),
    ]
    for k, part in enumerate(getattr(plan, "parts", None) or [], start=1):
        lines.append(f"- part {k}: {phrases(part.regions)} -> {part.prompt} (strength {part.strength:.2f})")
    lines += [f"- {note}" for note in plan.notes]
    return "\n\n".join(lines[:5]) + ("\n\n" + "\n".join(lines[5:]) if lines[5:] else "")
