"""Labelled contact sheets: a grid of equally sized tiles with a caption under each, and an optional title.

Used by the Strength Fan (strength under each tile), the soft-inpainting comparison and the notebooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["contact_sheet", "font", "label_height", "tile_size", "to_tile"]

PAD = 4
"""Pixels between tiles and around the sheet."""

_BACKGROUND = (255, 255, 255)
_TEXT = (0, 0, 0)


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font at ``size`` pixels (the fixed bitmap font when Pillow lacks FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # pragma: no cover - Pillow built without FreeType
        return ImageFont.load_default()


def label_height(font_size: int) -> int:
    """Height in pixels of the caption band under each tile for ``font_size`` (0 when ``font_size`` is 0)."""
    return 0 if font_size <= 0 else font_size + 6


def tile_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """The ``(W, H)`` of a tile showing a picture of ``size = (W, H)`` with its long side ``long_side`` pixels.

    >>> tile_size((640, 480), 192)
    (192, 144)
    """
    scale = long_side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def to_tile(picture: Any, size: tuple[int, int]) -> Image.Image:
    """Convert ``picture`` to an RGB tile of exactly ``size = (W, H)``.

    Args:
        picture: a PIL image (any mode), an ``automaps.ChangeMap`` (drawn grey, white = change), a float
            ``(H, W)`` array in [0, 1] (grey), or a uint8 ``(H, W)`` / ``(H, W, 3)`` array.
        size: ``(W, H)`` of the tile; pictures of another size are resized (nearest for maps, so that the
            edges of a map stay visible; Lanczos for images).

    Returns:
        An RGB image of ``size``.
    """
    nearest = False
    if hasattr(picture, "to_pil") and hasattr(picture, "provenance"):  # a ChangeMap
        picture, nearest = picture.to_pil(), True
    if isinstance(picture, np.ndarray):
        if picture.dtype.kind == "f":
            picture, nearest = np.rint(np.clip(picture, 0, 1) * 255).astype(np.uint8), True
        picture = Image.fromarray(picture)
    if not isinstance(picture, Image.Image):
        raise TypeError(f"tile: expected a PIL image, a ChangeMap or an array, got {type(picture).__name__}")
    picture = picture.convert("RGB")
    if picture.size != tuple(size):
        resample = Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS
        picture = picture.resize(tuple(size), resample)
    return picture


def contact_sheet(
    tiles: Sequence[Any],
    labels: Sequence[str] | None = None,
    *,
    columns: int | None = None,
    tile_size: tuple[int, int] | None = None,
    font_size: int = 12,
    title: str | None = None,
) -> Image.Image:
    """Lay ``tiles`` out in a grid, row by row, each with its label centred under it.

    Geometry (exact, so callers and tests can rely on it), with ``(w, h)`` the tile size, ``c`` the columns,
    ``r = ceil(len(tiles) / c)`` the rows, ``L = label_height(font_size)`` and ``T = L`` when a title is given
    (else 0): the sheet is ``(c·(w + PAD) + PAD) × (T + r·(h + L + PAD) + PAD)`` pixels.

    Args:
        tiles: pictures (see :func:`to_tile`); ``None`` leaves a blank cell (to start a new row, say).
        labels: one caption per tile (``""`` for none); ``None`` = no captions.
        columns: tiles per row (default: all in one row).
        tile_size: ``(W, H)`` of every tile (default: the first picture's size).
        font_size: caption font size in pixels; 0 = no caption band.
        title: an optional line above the grid (e.g. a warning that the model is a tiny random one).

    Returns:
        An RGB image on a white background.

    Raises:
        ValueError: no tiles, a label count that does not match, or ``columns < 1``.
    """
    if len(tiles) == 0 or all(t is None for t in tiles):
        raise ValueError("tiles: expected at least one picture")
    if labels is not None and len(labels) != len(tiles):
        raise ValueError(f"labels: got {len(labels)} for {len(tiles)} tiles")
    columns = len(tiles) if columns is None else int(columns)
    if columns < 1:
        raise ValueError(f"columns: expected an integer >= 1, got {columns!r}")
    if tile_size is None:
        first = next(t for t in tiles if t is not None)
        tile_size = first.size if isinstance(first, Image.Image) or hasattr(first, "provenance") else (
            np.asarray(first).shape[1], np.asarray(first).shape[0])
    w, h = (int(v) for v in tile_size)
    rows = -(-len(tiles) // columns)
    band = label_height(font_size)
    top = band if title else 0
    sheet = Image.new("RGB", (columns * (w + PAD) + PAD, top + rows * (h + band + PAD) + PAD), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    face = font(font_size) if band else None
    if title:
        draw.text((PAD, PAD // 2), title, fill=_TEXT, font=face)
    for index, picture in enumerate(tiles):
        if picture is None:
            continue
        x = PAD + (index % columns) * (w + PAD)
        y = top + PAD + (index // columns) * (h + band + PAD)
        sheet.paste(to_tile(picture, (w, h)), (x, y))
        text = labels[index] if labels is not None else ""
        if text and face is not None:
            width = draw.textlength(text, font=face)
            draw.text((x + max(0.0, (w - width) / 2), y + h + 2), text, fill=_TEXT, font=face)
    return sheet
