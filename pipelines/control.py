"""Control images for ControlNet edits: ``control="depth" | "canny" | a PIL image | a path`` -> an RGB image at
the input's size, made by automaps' own generators (``depth``: Depth Anything, near = white, as depth
ControlNets were trained; ``canny``: OpenCV edges, white on black) or read with the project's image opener.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["CONTROL_SOURCES", "check_control_arguments", "control_call", "control_image", "control_stages"]

CONTROL_SOURCES = ("depth", "canny")
"""Names ``control=`` accepts besides an image or a path."""


def check_control_arguments(controlnet: Any, control: Any, control_scale: Any, model: Any = None) -> None:
    """Refuse bad ControlNet arguments of :func:`pipelines.edit` before anything loads.

    Raises:
        TypeError: ``control`` of the wrong type, or ``control_scale`` not a number.
        ValueError: ``controlnet`` without ``control``, or with an already loaded ``model`` (it has its own
            ControlNet or none); a scale that is not finite and >= 0.
        FileNotFoundError: ``control`` names a file that does not exist.
    """
    if isinstance(control_scale, bool) or not isinstance(control_scale, (int, float)):
        raise TypeError(f"control_scale: expected a number, got {type(control_scale).__name__} {control_scale!r}")
    if not (math.isfinite(control_scale) and control_scale >= 0):
        raise ValueError(f"control_scale: expected a finite number >= 0, got {control_scale!r}")
    if controlnet is not None and model is not None and not isinstance(model, (str, os.PathLike)):
        raise ValueError("controlnet: only for a model loaded here (an alias, hub id or folder); a loaded editor or "
                         "pipeline keeps its own ControlNet: build it with controlnet= yourself")
    if controlnet is not None and control is None:
        raise ValueError("control: a ControlNet edit needs a control image; pass control='depth', 'canny', "
                         "an image or a path")
    if control is None:
        return
    if not isinstance(control, (str, os.PathLike, Image.Image, np.ndarray)):
        raise TypeError(f"control: expected 'depth', 'canny', a PIL image, an array or a path, "
                        f"got {type(control).__name__}")
    if isinstance(control, str) and control in CONTROL_SOURCES:
        return
    if isinstance(control, (str, os.PathLike)) and not os.path.exists(control):
        raise FileNotFoundError(f"control: no such file {str(control)!r} (and not one of {CONTROL_SOURCES})")


def control_image(control: Any, image: Image.Image, map_models: Mapping[str, str | None] | None = None,
                  device: str | None = None) -> Image.Image:
    """The control image for ``image``: an RGB PIL image of ``image``'s size.

    Args:
        control: ``"depth"`` (automaps' depth generator, ``polarity="near"``: near = white), ``"canny"``
            (OpenCV edges, 1 = white), a PIL image, a ``(H, W[, 3])`` array or a path (resized to the image).
        image: the RGB image being edited.
        map_models: ``{"depth": id_or_folder}`` for the depth model (default: automaps' default).
        device: device for the depth model.

    Returns:
        RGB ``PIL.Image`` of ``image.size``.

    Raises:
        ImportError: OpenCV missing for ``"canny"`` (the message names ``automaps[maps]``).
        ModelNotAvailableError: the depth model is not in the local cache while offline.
    """
    from automaps.generators import generate
    from pipelines.images import load_image

    if isinstance(control, str) and control in CONTROL_SOURCES:
        params: dict[str, Any] = {}
        if control == "depth":
            params = {"model": (map_models or {}).get("depth"), "polarity": "near"}
            if device is not None:
                params["device"] = device
        values = generate(image, source=control, **params).values
        gray = Image.fromarray((np.clip(values, 0, 1) * 255).round().astype(np.uint8), mode="L")
        return gray.convert("RGB")
    picture, _ = load_image(control, name="control")
    picture = picture.convert("RGB")
    return picture if picture.size == image.size else picture.resize(image.size, Image.Resampling.LANCZOS)


def control_stages(stages: Mapping[str, Any] | None, controlnet: Any) -> dict[str, Any] | None:
    """``stages`` for ``pipelines.models.load_editor`` with ``controlnet`` added (it caches by that id too)."""
    if controlnet is None:
        return None if stages is None else dict(stages)
    return {**dict(stages or {}), "controlnet": controlnet}


def control_call(editor: Any, control: Any, image: Image.Image, control_scale: float,
                 map_models: Mapping[str, str | None] | None = None, device: str | None = None) -> dict[str, Any]:
    """The editor-call keywords of a ControlNet edit (``{}`` without ``control``).

    Raises:
        ValueError: ``control`` given to an editor that drives no ControlNet (the message names ``controlnet``).
    """
    if control is None:
        return {}
    if not hasattr(editor.pipe, "controlnet"):
        raise ValueError(f"controlnet: control= needs a ControlNet, and the {editor.family!r} editor has none; "
                         "pass controlnet=<hub id or folder>")
    hint = control_image(control, image, map_models, device)
    nets = getattr(editor.pipe.controlnet, "nets", None)
    if nets is not None:
        return {"control_image": [hint] * len(nets),
                "controlnet_conditioning_scale": [float(control_scale)] * len(nets)}
    return {"control_image": hint, "controlnet_conditioning_scale": float(control_scale)}
