"""Image files in and out, once for every package: the guarded opener, high-bit-depth scaling, the atomic saver.

- :func:`open_image_file`: a regular file, fully decoded, upright by its EXIF orientation, with PIL's
  decompression-bomb guard on (its warning band is an error too) and corrupt or truncated files named.
- :func:`scale_high_bit_depth`: a 16-bit, 32-bit integer or float PIL image as values in [0, 1] scaled by their
  real range (PIL's own conversion to 8 bits clips them, so a 16-bit photo turns white).
- :func:`save_image`: an atomic write (:func:`automaps.io.atomic_write`) in the format the file name asks for.
- :data:`MIN_SIDE`: the smallest image side any package accepts.

Only PIL and numpy are imported here, so a front end reports a bad image before torch is loaded.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "ALPHA_MODES", "MIN_SIDE", "MultiFrameWarning", "is_high_bit_depth", "open_image_file", "save_image",
    "scale_high_bit_depth",
]

MIN_SIDE = 16
"""Smallest accepted image side in pixels. Below it an image is smaller than one 16-px patch of the map models
(CLIPSeg, SAM, Depth Anything) and than two latent cells of an 8x VAE, so neither the map nor the edit means
anything: a 1x1 or 8x8 input is a mistake, reported as one instead of upsampled."""

# Errors PIL raises (or lets through from zlib/struct) on corrupt or truncated files, beyond OSError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)

ALPHA_MODES = ("RGBA", "RGBa", "LA", "PA")
"""PIL modes that carry an alpha channel and convert to RGBA (premultiplied ``La`` has no PIL conversion)."""


class MultiFrameWarning(UserWarning):
    """An animated or multi-page image file of which only the first frame is read."""


def open_image_file(path: str | os.PathLike[str], name: str) -> Image.Image:
    """Open an image file fully decoded and upright (EXIF orientation), PIL's decompression-bomb guard on.

    Args:
        path: the file.
        name: the parameter named in error messages (``"image"``, ``"map"``, ``"change_map"``).

    Returns:
        The decoded PIL image, in the file's own mode.

    Warns:
        MultiFrameWarning: the file has several frames (animated GIF/APNG/WebP, multi-page TIFF): only the
            first is returned, and the warning says how many there are.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a folder, a FIFO, a device, a socket or a symbolic-link loop (one line naming ``name``),
            a file PIL cannot read, a corrupt or truncated file, or one the decompression-bomb guard refuses.
    """
    from automaps.io import special_kind, stat_path

    path = Path(path)
    status = stat_path(path, name)  # a symbolic-link loop: a ValueError naming it, not a RuntimeError
    if status is None:
        raise FileNotFoundError(f"{name}: no such file: {path}")
    if (kind := special_kind(status)) is not None:  # a FIFO would block forever, a device never end
        raise ValueError(f"{name}: {path} is {kind}, not an image file")
    try:
        with warnings.catch_warnings():
            # Between 1x and 2x PIL's limit the guard only warns; a CLI would go on and exhaust memory.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                frames = getattr(opened, "n_frames", 1)  # before load(): counting seeks through the file
                opened.load()
                image = ImageOps.exif_transpose(opened)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ValueError(
            f"{name}: {path} is refused by PIL's decompression-bomb guard ({error}); raise "
            "PIL.Image.MAX_IMAGE_PIXELS only for files you trust"
        ) from error
    except Image.UnidentifiedImageError as error:
        raise ValueError(f"{name}: {path} is not an image file PIL can read") from error
    except _DECODE_ERRORS as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{name}: {path} is corrupt or truncated ({reason})") from error
    if frames > 1:  # animated GIF / APNG / WebP, multi-page TIFF: say so rather than drop frames silently
        warnings.warn(f"{name}: {path} has {frames} frames; only the first is used", MultiFrameWarning, stacklevel=2)
    return image


def is_high_bit_depth(image: Image.Image) -> bool:
    """Whether ``image`` has a 16-bit (``I;16*``), 32-bit integer (``I``) or float (``F``) mode."""
    return image.mode in ("I", "F") or image.mode.startswith("I;16")


def scale_high_bit_depth(image: Image.Image, name: str = "image") -> np.ndarray:
    """A high-bit-depth single-channel image as float64 ``(H, W)`` in [0, 1], scaled by its real range.

    ``I;16*`` is scaled by 0..65535; ``I`` and ``F`` by the narrowest of 0..1 (``F`` only), 0..255 and 0..65535
    that holds every value, else by the data's own min..max.

    Args:
        image: a PIL image of mode ``I;16*``, ``I`` or ``F`` (see :func:`is_high_bit_depth`).
        name: the parameter named in error messages.

    Raises:
        ValueError: another mode, or NaN/Inf values.

    >>> scale_high_bit_depth(Image.fromarray(np.array([[0, 65535]], np.uint16))).tolist()
    [[0.0, 1.0]]
    """
    if not is_high_bit_depth(image):
        raise ValueError(f"{name}: expected a 16-bit, 32-bit integer or float image, got mode {image.mode!r}")
    values = np.asarray(image, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{name}: a mode {image.mode!r} image with NaN or Inf values")
    low, high = float(values.min(initial=0)), float(values.max(initial=0))
    if image.mode.startswith("I;16"):
        start, stop = 0.0, 65535.0
    else:
        nominal = ([(0.0, 1.0)] if image.mode == "F" else []) + [(0.0, 255.0), (0.0, 65535.0)]
        start, stop = next(((a, b) for a, b in nominal if a <= low and high <= b), (low, max(high, low + 1.0)))
    return np.clip((values - start) / (stop - start), 0.0, 1.0)


def save_image(image: Image.Image, path: str | os.PathLike[str], *, name: str = "output") -> None:
    """Write ``image`` atomically in the format its extension names (``.png``, ``.jpg``, ``.webp``, ...).

    The file is encoded in memory first, then written to a temporary file beside ``path`` and renamed onto
    it, so an interrupted run never leaves a half-written file at ``path`` (see :func:`automaps.io.atomic_write`;
    the file's permissions follow the umask). An image with alpha saved to a format without alpha (JPEG, ...)
    is flattened to RGB with a warning.

    Raises:
        ValueError: an unknown extension (the message names ``name``).
        FileNotFoundError / PermissionError: the folder is missing or not writable.
    """
    from automaps.io import atomic_write

    extension = Path(path).suffix.lower()
    formats = Image.registered_extensions()
    if extension not in formats:
        raise ValueError(f"{name}: unknown image extension {extension!r} (use .png, .jpg, .webp, ...)")
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=formats[extension])
    except OSError:
        if image.mode not in ALPHA_MODES:
            raise
        warnings.warn(f"{name}: {formats[extension]} has no alpha channel; the alpha is dropped", stacklevel=2)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format=formats[extension])
    with atomic_write(path, name=name) as handle:
        handle.write(buffer.getbuffer())
