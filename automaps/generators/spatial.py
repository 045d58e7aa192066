"""A soft spatial prior for a position word: "left", "bottom right", "center" -> a smooth [0, 1] map.

The planner's position qualifiers ("the car on the left", "a watermark in the bottom right corner") become
this map, intersected with the region's map, so the region's instances on the named side keep their
strength and those on the other side fade out. No model; the map depends on the image size only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from automaps.changemap import ChangeMap
from automaps.generators.registry import GeneratorSpec, ParamSpec, register_generator

__all__ = ["POSITIONS", "spatial", "spatial_prior"]

POSITIONS = ("left", "right", "top", "bottom", "top left", "top right", "bottom left", "bottom right", "center")
"""Position words the `spatial` generator reads (the planner's `WHERE` less its depth words)."""


def _smoothstep(t: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, a smooth (C1) cubic in between."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _side(n: int, softness: float, low_side: bool) -> np.ndarray:
    """Weights along one axis of `n` pixels: 1 on the named half's outer part, 0 on the far part.

    The ramp is centred on the middle and `softness` of the side wide: with softness 0.5, 1 over the
    outer quarter, falling smoothly to 0 at three quarters.
    """
    p = (np.arange(n, dtype=np.float64) + 0.5) / n
    rise = _smoothstep((p - (0.5 - softness / 2)) / softness)
    return 1.0 - rise if low_side else rise


def _centre(n: int, softness: float) -> np.ndarray:
    """Weights along one axis: 1 around the middle, falling smoothly to 0 towards both edges."""
    d = np.abs((np.arange(n, dtype=np.float64) + 0.5) / n - 0.5)
    inner = 0.25 - softness / 4
    return 1.0 - _smoothstep((d - inner) / (softness / 2))


def spatial_prior(width: int, height: int, position: str, softness: float = 0.5) -> np.ndarray:
    """The soft prior of a position over an image of `width` x `height` pixels.

    Args:
        width: Image width in pixels (>= 1).
        height: Image height in pixels (>= 1).
        position: One of `POSITIONS`; a corner is the product of its two sides.
        softness: Width of the fall-off as a fraction of the side, in (0, 1]: 0.5 keeps full weight on the
            outer quarter of the named side, smoothly down to 0 at three quarters.

    Returns:
        float32 `(height, width)` in [0, 1], 1 = fully on the named side; constant along the axis the
        position does not name ("left" varies with x only).

    Raises:
        ValueError: An unknown position or a softness out of (0, 1].
    """
    if position not in POSITIONS:
        raise ValueError(f"position: must be one of {POSITIONS}, got {position!r}")
    if not 0.0 < softness <= 1.0:
        raise ValueError(f"softness: must be in (0, 1], got {softness!r}")
    words = position.split()
    if words == ["center"]:
        x, y = _centre(width, softness), _centre(height, softness)
    else:
        x = _side(width, softness, "left" in words) if {"left", "right"} & set(words) else np.ones(width)
        y = _side(height, softness, "top" in words) if {"top", "bottom"} & set(words) else np.ones(height)
    return np.clip(y[:, None] * x[None, :], 0.0, 1.0).astype(np.float32)


@register_generator(
    GeneratorSpec(
        name="spatial",
        summary="a soft prior for a position word (left, bottom right, center...): where 'the car on the left' is",
        license="Apache-2.0 (automaps)",
        params={
            "position": ParamSpec("left", choices=POSITIONS, help="the side, corner or centre that is 1"),
            "softness": ParamSpec(0.5, min=0.05, max=1.0, help="width of the fall-off, as a fraction of the side"),
        },
    )
)
def spatial(image: Image.Image, phrase: Any = None, model: Any = None, *, position: str = "left",
            softness: float = 0.5) -> ChangeMap:
    """The `spatial` generator: `spatial_prior` at the image's size.

    Args:
        image: Only its size is used.
        phrase: Ignored (the position is a parameter).
        model: Unused.
        position: One of `POSITIONS`.
        softness: See `spatial_prior`.

    Returns:
        ChangeMap `(H, W)` float32 in [0, 1]; provenance `"spatial('bottom right')"`.
    """
    values = spatial_prior(image.width, image.height, position, softness)
    soft = f", softness={softness:g}" if softness != 0.5 else ""
    return ChangeMap(values, provenance=f"spatial({position!r}{soft})")
