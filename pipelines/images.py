"""Users' images in and out, in one place for :func:`pipelines.edit` and the ``automaps`` command line.

- :func:`load_image`: a path, PIL image or array -> the upright RGB image and its alpha (or ``None``), with a
  clear error for files that are missing, corrupt, truncated, not images, too small or decompression bombs.
- :func:`budget_size` and :func:`paste_through_map`: the large-image policy. Diffusion runs at most at
  ``max_megapixels``; the edit made at the smaller size is brought back to the full resolution through the
  change map, so pixels the map keeps (``m = 0``) are the input's, bit for bit.
- :func:`save_image` (from :mod:`automaps.imagefiles`): an atomic write (temporary file + rename) in the format
  the file name asks for.

Files are opened by :func:`automaps.imagefiles.open_image_file`, the one guarded opener. Only PIL and numpy are
imported here: the command line reports a bad image before torch is loaded.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from automaps.imagefiles import (
    ALPHA_MODES,
    MIN_SIDE,
    is_high_bit_depth,
    open_image_file,
    save_image,
    scale_high_bit_depth,
)

__all__ = ["DEFAULT_MAX_MEGAPIXELS", "MIN_SIDE", "budget_size", "load_image", "paste_through_map", "save_image"]

DEFAULT_MAX_MEGAPIXELS = 1.0
"""Default diffusion budget of :func:`pipelines.edit`, about 1024x1024: SDXL's native area, four times SD 1.5's.
Models trained at 1 MP or less repeat content above it, and the cost grows at least linearly with pixels
(attention quadratically); larger images are edited at this size and restored (see :func:`paste_through_map`)."""

_BAND_ROWS = 256  # rows composited at once: bounds paste_through_map's float temporaries on huge images


def load_image(image: Any, *, name: str = "image") -> tuple[Image.Image, Image.Image | None]:
    """Read what a user passes as an image: the upright RGB pixels and the alpha channel, if any.

    Conversions (the input object or file is never modified):

    - files: opened with PIL's decompression-bomb guard on (its warning is an error too), fully decoded
      (``ImageFile.LOAD_TRUNCATED_IMAGES`` stays off), and turned upright by their EXIF orientation;
    - modes: ``RGBA``/``LA``/``PA``/``RGBa``/``La`` and images with a ``transparency`` key split off their
      alpha; ``P``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``L``, ``1`` become RGB; 16-bit and float modes
      (``I;16*``, ``I``, ``F``) are scaled to 8 bits by their real range: ``I;16*`` by 0..65535, ``I`` and
      ``F`` by the narrowest of 0..1 (``F`` only), 0..255 and 0..65535 that holds every value, else by the
      data's own min..max;
    - arrays: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` (the 4th channel is alpha), uint8,
      uint16 (/257) or float in [0, 1].

    Args:
        image: a path (``str`` / ``os.PathLike``), a PIL image of any mode, or a numpy array as above.
        name: the parameter named in error messages.

    Returns:
        ``(rgb, alpha)``: ``rgb`` an RGB PIL image, ``alpha`` an ``"L"`` PIL image of the same size (255 =
        opaque) or ``None`` when the input has no alpha.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a folder, a file PIL cannot decode (corrupt, truncated, not an image), a decompression
            bomb, NaN/Inf or out-of-range array values, a wrong array shape, or a side below :data:`MIN_SIDE`.
        TypeError: an unsupported type or array dtype.
    """
    if isinstance(image, (str, os.PathLike)):
        picture = open_image_file(Path(image), name)
    elif isinstance(image, Image.Image):
        picture = ImageOps.exif_transpose(image)  # a transposed copy; the caller's image is untouched
    elif isinstance(image, np.ndarray):
        picture = _from_array(image, name)
    else:
        raise TypeError(f"{name}: expected a path, a PIL image or a numpy array, got {type(image).__name__}")
    width, height = picture.size
    if min(width, height) < MIN_SIDE:
        raise ValueError(
            f"{name}: {width}x{height} pixels is too small; the minimum is {MIN_SIDE} pixels per side"
        )
    return _split_alpha(picture, name)



def _from_array(array: np.ndarray, name: str) -> Image.Image:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"{name}: expected an array (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.uint16:
        pixels = np.rint(array / 257.0).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError(f"{name}: contains NaN or Inf")
        low, high = float(array.min(initial=0)), float(array.max(initial=0))
        if low < 0 or high > 1:
            raise ValueError(f"{name}: float values must be in [0, 1], got min {low:.3g} max {high:.3g}")
        pixels = np.rint(array * 255.0).astype(np.uint8)
    else:
        raise TypeError(f"{name}: expected uint8, uint16 or float values, got {array.dtype}")
    if pixels.size == 0:
        raise ValueError(f"{name}: empty array of shape {array.shape}")
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[1 if pixels.ndim == 2 else pixels.shape[-1]]
    return Image.fromarray(np.ascontiguousarray(pixels), mode=mode)


def _split_alpha(picture: Image.Image, name: str) -> tuple[Image.Image, Image.Image | None]:
    mode = picture.mode
    if mode == "La":  # premultiplied grey + alpha: PIL has no conversion from it
        grey, alpha = (np.asarray(picture, dtype=np.float64)[..., c] for c in (0, 1))
        grey = np.where(alpha > 0, np.clip(grey * 255.0 / np.maximum(alpha, 1), 0, 255), 0)
        picture = Image.fromarray(np.stack([np.rint(grey), alpha], -1).astype(np.uint8), mode="LA")
        mode = "LA"
    if mode in ALPHA_MODES or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A")
    if is_high_bit_depth(picture):
        # scaled by the real range (PIL's own conversion clips to 0..255: a 16-bit photo would turn white)
        picture = Image.fromarray(np.rint(scale_high_bit_depth(picture, name) * 255).astype(np.uint8), mode="L")
    try:
        return picture.convert("RGB"), None
    except ValueError as error:  # a mode PIL cannot convert
        raise ValueError(f"{name}: cannot read an image of mode {mode!r} as RGB ({error})") from error


def budget_size(size: tuple[int, int], max_megapixels: float | None) -> tuple[int, int]:
    """The ``(W, H)`` an image of ``size`` is edited at: itself within the budget, else scaled down.

    Args:
        size: ``(W, H)`` of the image, PIL order.
        max_megapixels: the budget in millions of pixels; ``None`` means no limit.

    Returns:
        ``size`` when ``W * H <= max_megapixels * 1e6`` (or no limit); otherwise the same aspect ratio at
        about the budget's area, each side at least :data:`MIN_SIDE`.

    >>> budget_size((4000, 3000), 1.0)
    (1154, 866)
    >>> budget_size((640, 480), 1.0)
    (640, 480)
    """
    width, height = size
    if max_megapixels is None or width * height <= max_megapixels * 1e6:
        return size
    scale = math.sqrt(max_megapixels * 1e6 / (width * height))
    return max(MIN_SIDE, math.floor(width * scale)), max(MIN_SIDE, math.floor(height * scale))


def paste_through_map(
    original: Image.Image, work_original: Image.Image, work_edited: Image.Image, change: np.ndarray
) -> Image.Image:
    """Bring an edit made at a smaller (or larger) size back to the original's resolution, through the map.

    ``out = x`` where ``m == 0``; elsewhere ``out = e + (1 - m) * (x - w)``, with ``x`` the original, ``e`` and
    ``w`` the edited and the unedited work images resampled (Lanczos) to the original's size. A fully changed
    pixel is the new content; a partly changed one also keeps ``1 - m`` of the detail the resampling lost; a kept
    pixel is the input, bit for bit. Rows are processed in bands so huge images need little extra memory.

    Args:
        original: the RGB image at full resolution.
        work_original: ``original`` resampled to the work size (what the editor was given).
        work_edited: the editor's RGB output at the work size.
        change: ``(H, W)`` float32 in [0, 1] at the original's resolution, 1 = change fully.

    Returns:
        RGB image of ``original``'s size.
    """
    size = original.size
    edited = np.asarray(work_edited.convert("RGB").resize(size, Image.Resampling.LANCZOS))
    lost = np.asarray(work_original.convert("RGB").resize(size, Image.Resampling.LANCZOS))
    pixels = np.asarray(original.convert("RGB"))
    out = np.empty_like(pixels)
    for top in range(0, size[1], _BAND_ROWS):
        rows = slice(top, top + _BAND_ROWS)
        m = change[rows, :, None].astype(np.float32)
        x = pixels[rows].astype(np.float32)
        mixed = edited[rows] + (1.0 - m) * (x - lost[rows])
        out[rows] = np.where(m == 0, pixels[rows], np.clip(np.rint(mixed), 0, 255).astype(np.uint8))
    return Image.fromarray(out)
