"""Maps without a model: constant, gradient, radial, fan, file. For tests, notebooks and the Strength Fan.

Coordinates: pixel centres, x to the right, y down. All maps are exact functions of the image size only
(the image content is ignored), so they make good invariant tests for the editor (e.g. a left-right gradient
must give a change that rises from left to right).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from automaps.changemap import ChangeMap
from automaps.generators.registry import GeneratorSpec, ParamSpec, register_generator

__all__ = ["constant", "fan", "file", "gradient", "radial"]

DIRECTIONS = ("left-right", "right-left", "top-bottom", "bottom-top")


def _spec(name: str, summary: str, params: dict[str, ParamSpec]) -> GeneratorSpec:
    return GeneratorSpec(name=name, summary=summary, license="Apache-2.0 (automaps)", params=params)


def _center(center: Any) -> tuple[float, float]:
    try:
        cx, cy = (float(v) for v in center)
    except (TypeError, ValueError):
        raise TypeError(f"center must be (x, y) fractions of the width and height, got {center!r}") from None
    if not (0.0 <= cx <= 1.0 and 0.0 <= cy <= 1.0):
        raise ValueError(f"center must be (x, y) fractions in [0, 1], got {center!r}")
    return cx, cy


def _grid(image: Image.Image, center: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre offsets ``(dx, dy)`` from ``center`` (fractions of W, H), float64 ``(H, W)`` each."""
    W, H = image.size
    y, x = np.mgrid[0:H, 0:W].astype(np.float64) + 0.5
    return x - center[0] * W, y - center[1] * H


@register_generator(
    _spec("constant", "the same strength everywhere (= plain img2img at that strength)", {
        "value": ParamSpec(1.0, min=0.0, max=1.0, help="the strength of every pixel"),
    })
)
def constant(image: Image.Image, phrase: Any = None, model: Any = None, *, value: float = 1.0) -> ChangeMap:
    """Uniform map.

    Returns:
        ChangeMap ``(H, W)`` float32, every pixel = ``value``; provenance ``"constant(0.5)"``.
    """
    return ChangeMap(np.full((image.height, image.width), value, np.float32), provenance=f"constant({value:g})")


@register_generator(
    _spec("gradient", "a linear ramp from lo to hi along one direction", {
        "direction": ParamSpec("left-right", choices=DIRECTIONS, help="the ramp goes from lo (start) to hi (end)"),
        "lo": ParamSpec(0.0, min=0.0, max=1.0, help="value at the start side"),
        "hi": ParamSpec(1.0, min=0.0, max=1.0, help="value at the end side"),
    })
)
def gradient(
    image: Image.Image,
    phrase: Any = None,
    model: Any = None,
    *,
    direction: str = "left-right",
    lo: float = 0.0,
    hi: float = 1.0,
) -> ChangeMap:
    """Linear ramp: ``lo`` at the first pixel column/row of ``direction``'s start side, ``hi`` at the last.

    Args:
        image: Only its size is used.
        phrase: Ignored.
        model: Unused.
        direction: ``"left-right"`` (lo at the left edge, hi at the right), ``"right-left"``, ``"top-bottom"``,
            ``"bottom-top"``.
        lo: Start value in [0, 1].
        hi: End value in [0, 1] (may be below ``lo``: the ramp then falls).

    Returns:
        ChangeMap ``(H, W)`` float32; constant across the ramp; provenance ``"gradient(left-right, 0..1)"``.
    """
    W, H = image.size
    horizontal = direction in ("left-right", "right-left")
    n = W if horizontal else H
    t = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
    if direction in ("right-left", "bottom-top"):
        t = t[::-1]
    ramp = (lo + (hi - lo) * t).astype(np.float32)
    values = np.broadcast_to(ramp[None, :] if horizontal else ramp[:, None], (H, W))
    return ChangeMap(np.clip(values, 0, 1), provenance=f"gradient({direction}, {lo:g}..{hi:g})")


@register_generator(
    _spec("radial", "1 at a centre falling linearly to 0 at a radius (or the inverse)", {
        "center": ParamSpec((0.5, 0.5), help="(x, y) as fractions of the width and height"),
        "radius": ParamSpec(0.5, min=1e-3, max=10.0, help="where the map reaches 0, as a fraction of the shorter side"),
        "inverted": ParamSpec(False, choices=(False, True), help="True: 0 at the centre, 1 outside the radius"),
    })
)
def radial(
    image: Image.Image,
    phrase: Any = None,
    model: Any = None,
    *,
    center: Sequence[float] = (0.5, 0.5),
    radius: float = 0.5,
    inverted: bool = False,
) -> ChangeMap:
    """Radial falloff ``clip(1 - d / r, 0, 1)``, ``d`` = distance from ``center`` in pixels.

    Args:
        image: Only its size is used.
        phrase: Ignored.
        model: Unused.
        center: ``(x, y)`` fractions of (W, H).
        radius: ``r`` as a fraction of ``min(W, H)``.
        inverted: Return ``1 - map``.

    Returns:
        ChangeMap ``(H, W)`` float32: 1 at the centre (0 if inverted); provenance ``"radial((0.5, 0.5), r=0.5)"``.
    """
    c = _center(center)
    dx, dy = _grid(image, c)
    r = radius * min(image.size)
    values = np.clip(1.0 - np.hypot(dx, dy) / r, 0.0, 1.0)
    if inverted:
        values = 1.0 - values
    inv = ", inverted" if inverted else ""
    return ChangeMap(values.astype(np.float32), provenance=f"radial(({c[0]:g}, {c[1]:g}), r={radius:g}{inv})")


@register_generator(
    _spec("fan", "n angular sectors of increasing strength 0..1 around a centre (the Strength Fan)", {
        "n": ParamSpec(8, min=2, max=360, help="number of sectors"),
        "center": ParamSpec((0.5, 0.5), help="(x, y) as fractions of the width and height"),
    })
)
def fan(
    image: Image.Image, phrase: Any = None, model: Any = None, *, n: int = 8, center: Sequence[float] = (0.5, 0.5)
) -> ChangeMap:
    """Strength Fan: sector ``k`` (clockwise from 12 o'clock) has strength ``k / (n - 1)``.

    One edit shows ``n`` strengths side by side, from unchanged (sector 0, just right of 12 o'clock) to fully
    regenerated (the last sector, just left of it).

    Args:
        image: Only its size is used.
        phrase: Ignored.
        model: Unused.
        n: Number of equal sectors (>= 2).
        center: ``(x, y)`` fractions of (W, H).

    Returns:
        ChangeMap ``(H, W)`` float32 with exactly the values ``{k / (n - 1)}`` present in the sectors that
        contain pixel centres; provenance ``"fan(8)"``.
    """
    if int(n) != n:
        raise ValueError(f"fan: n must be an integer, got {n!r}")
    n = int(n)
    dx, dy = _grid(image, _center(center))
    # Angle clockwise from "up" (y points down in images, so up is -y).
    angle = np.mod(np.arctan2(dx, -dy), 2 * math.pi)
    sector = np.minimum((angle / (2 * math.pi) * n).astype(np.int64), n - 1)
    return ChangeMap((sector / (n - 1)).astype(np.float32), provenance=f"fan({n})")


@register_generator(
    _spec("file", "a map read from an image or .npy file, resized to the image", {
        "path": ParamSpec(None, help="image (white = change) or .npy file in [0, 1]"),
        "invert": ParamSpec(False, choices=(False, True), help="True for maps in the paper's polarity (white = keep)"),
    })
)
def file(
    image: Image.Image,
    phrase: Any = None,
    model: Any = None,
    *,
    path: str | os.PathLike[str] | None = None,
    invert: bool = False,
) -> ChangeMap:
    """Read a map from ``path`` (``ChangeMap.from_file``) and resize it to the image if needed.

    Returns:
        ChangeMap ``(H, W)`` float32 in [0, 1]; provenance ``"file('m.png')"`` (``" | invert"``, ``" | resize(WxH)"``).

    Raises:
        ValueError: No ``path``.
        FileNotFoundError: ``path`` does not exist.
    """
    from automaps import ops

    if path is None:
        raise ValueError("file: pass path='map.png' (an image, white = change, or a .npy array in [0, 1])")
    change = ChangeMap.from_file(path, invert=invert)
    if change.shape != (image.height, image.width):
        change = ops.resize(change, image.size)
    return change
