"""Previews of a change map over its image: a tinted overlay and an ``image | map | overlay`` strip."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from automaps.changemap import ChangeMap

__all__ = ["overlay", "side_by_side"]


def _rgb(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim not in (2, 3):
        raise TypeError(f"image: expected a PIL image or a uint8 (H, W[, C]) array, got {a.dtype} {a.shape}")
    return Image.fromarray(a).convert("RGB")


def _map_at(change_map: ChangeMap, size: tuple[int, int]) -> np.ndarray:
    """The map's values at ``size = (W, H)``, resized with :func:`automaps.ops.resize` when they differ."""
    from automaps import ops

    return (change_map if change_map.size == size else ops.resize(change_map, size)).values


def overlay(
    change_map: ChangeMap,
    image: Any,
    color: tuple[int, int, int] = (255, 0, 0),
    alpha: float = 0.6,
) -> Image.Image:
    """Tint ``image`` with ``color`` in proportion to the change: ``out = img + alpha * m * (color - img)``.

    Args:
        change_map: float32 ``(H, W)`` in [0, 1], 1 = change (drawn in full ``color`` at ``alpha``); resized
            to the image when its size differs.
        image: PIL image (any mode) or uint8 array ``(H, W)`` / ``(H, W, 3|4)``.
        color: Tint as 0-255 RGB.
        alpha: Opacity of the tint where the map is 1, in [0, 1]; where the map is 0 the image is unchanged.

    Returns:
        An RGB image of the input image's size.

    Raises:
        TypeError: ``image`` is neither a PIL image nor a uint8 array.
        ValueError: ``alpha`` outside [0, 1] or ``color`` not three values in [0, 255].
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha: expected a value in [0, 1], got {alpha!r}")
    tint = np.asarray(color, dtype=np.float32)
    if tint.shape != (3,) or tint.min() < 0 or tint.max() > 255:
        raise ValueError(f"color: expected three values in [0, 255], got {color!r}")
    base = _rgb(image)
    img = np.asarray(base, dtype=np.float32)
    weight = np.float32(alpha) * _map_at(change_map, base.size)[..., None]
    out = img + weight * (tint - img)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


def side_by_side(change_map: ChangeMap, image: Any) -> Image.Image:
    """One RGB strip ``image | map (grey, white = change) | overlay``, each panel at the image's size.

    Args:
        change_map: float32 ``(H, W)`` in [0, 1], 1 = change; resized to the image when sizes differ.
        image: PIL image (any mode) or uint8 array.

    Returns:
        An RGB image of size ``(3 * W, H)`` where ``(W, H)`` is the image's size.
    """
    base = _rgb(image)
    grey = np.rint(_map_at(change_map, base.size) * np.float32(255)).astype(np.uint8)
    strip = Image.new("RGB", (3 * base.width, base.height))
    strip.paste(base, (0, 0))
    strip.paste(Image.fromarray(grey).convert("RGB"), (base.width, 0))
    strip.paste(overlay(change_map, base), (2 * base.width, 0))
    return strip
