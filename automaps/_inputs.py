"""Private input handling: conversion of any accepted map input, and argument checks of :mod:`automaps.ops`.

Conversion (:func:`coerce`) turns arrays, tensors and PIL images into the float32 ``(H, W)`` [0, 1] values a
:class:`~automaps.changemap.ChangeMap` stores; the checks raise errors that name the offending parameter.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["LOSSY_SNAP", "coerce", "lossy_format", "map_values", "number", "pil_to_array", "same_shape", "snap_lossy"]

# ------------------------------------------------------------------------------------------- conversion
_ACCEPTED = "(H, W), (H, W, 1), (1, H, W), (1, 1, H, W), (H, W, 3) or (H, W, 4)"
# ITU-R 601-2 luma, the weights of PIL's "L" conversion.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
_TOL = 1e-6  # float noise tolerated (and clipped) outside [0, 1]


def _is_torch_tensor(x: Any) -> bool:
    # Look torch up in sys.modules instead of importing it: a tensor can only exist if torch is loaded.
    torch_mod = sys.modules.get("torch")
    return torch_mod is not None and isinstance(x, torch_mod.Tensor)


def _squeeze_to_2d(a: np.ndarray, *, channels_first: bool, name: str) -> np.ndarray:
    """Return ``(H, W)`` or ``(H, W, C)`` with C in (3, 4); raise ValueError naming the shape otherwise."""
    shape = a.shape
    if a.size == 0 or a.ndim not in (2, 3, 4):
        raise ValueError(f"{name}: expected shape {_ACCEPTED}, got {shape}")
    if a.ndim == 2:
        return a
    if a.ndim == 4:
        if shape[0] == 1 and shape[1] == 1:
            return a[0, 0]
        raise ValueError(f"{name}: expected shape {_ACCEPTED} (one map, batch 1), got {shape}")
    # 3-D: (1, H, W) vs (H, W, C). Tensors are channels-first by convention, arrays channels-last.
    if channels_first and shape[0] == 1:
        return a[0]
    if channels_first and shape[0] in (3, 4):
        return np.moveaxis(a, 0, -1)  # a (3, H, W) colour tensor: its luminance, like an (H, W, 3) array
    if shape[2] == 1:
        return a[..., 0]
    if shape[2] in (3, 4):
        return a
    if shape[0] == 1:
        return a[0]
    raise ValueError(f"{name}: expected shape {_ACCEPTED}, got {shape}")


def _to_unit_float(a: np.ndarray, *, name: str) -> np.ndarray:
    """Scale by dtype into float values: an integer array holding only 0 and 1 (and bool) is a mask; otherwise
    uint8 /255, uint16 /65535, and other integer dtypes must hold 0/1."""
    kind = a.dtype.kind
    if kind == "b":
        return a.astype(np.float32)
    if kind in "iu":
        lo, hi = int(a.min()), int(a.max())
        if lo >= 0 and hi <= 1:
            # A 0/1 mask whatever its integer dtype: uint16 0/1 would otherwise be read as 1/65535 (no edit).
            return a.astype(np.float32)
        if kind == "u" and a.dtype.itemsize == 1:
            return a.astype(np.float32) / np.float32(255)
        if kind == "u" and a.dtype.itemsize == 2:
            return (a.astype(np.float64) / 65535).astype(np.float32)
        raise ValueError(
            f"{name}: integer dtype {a.dtype} must hold a 0/1 mask, got min {lo} max {hi}; "
            "pass uint8 (scaled by 1/255), uint16 (1/65535) or float in [0, 1]"
        )
    if kind == "f":
        return a.astype(np.float64 if a.dtype.itemsize > 4 else np.float32)
    raise TypeError(f"{name}: expected a numeric (bool, integer or float) array, got dtype {a.dtype}")


def coerce(values: Any, *, invert: bool = False, name: str = "change_map") -> np.ndarray:
    """Convert any accepted input to a fresh C-contiguous float32 ``(H, W)`` array in [0, 1]."""
    channels_first = False
    if _is_torch_tensor(values):
        t = values.detach().cpu()
        values = (t.float() if t.is_floating_point() else t).numpy()  # bfloat16 has no numpy dtype
        channels_first = True
    elif isinstance(values, Image.Image):
        return coerce(pil_to_array(values, name=name), invert=invert, name=name)
    try:
        a = np.asarray(values)
    except (TypeError, ValueError) as e:  # e.g. ragged nested lists
        raise type(e)(f"{name}: cannot read {type(values).__name__} as an array ({e})") from e
    if a.dtype.kind not in "biuf":
        raise TypeError(
            f"{name}: expected a numeric (bool, integer or float) array, got {type(values).__name__} "
            f"with dtype {a.dtype}"
        )
    a = _to_unit_float(_squeeze_to_2d(a, channels_first=channels_first, name=name), name=name)
    finite = np.isfinite(a)
    if not finite.all():
        bad = int(a.size - np.count_nonzero(finite))
        raise ValueError(f"{name} contains NaN or Inf ({bad} of {a.size} values)")
    lo, hi = float(a.min()), float(a.max())
    if lo < -_TOL or hi > 1 + _TOL:
        raise ValueError(f"{name}: expected values in [0, 1], got min {lo:.6g} max {hi:.6g}")
    if a.ndim == 3:
        luma = a[..., :3] @ _LUMA.astype(a.dtype)  # colour map: luminance of the RGB channels
        # Alpha multiplies the map: a transparent pixel is kept, whatever its colour.
        a = luma * a[..., 3] if a.shape[2] == 4 else luma
    out = np.clip(a, 0.0, 1.0).astype(np.float32)  # astype copies: the caller's array is never aliased
    if invert:
        out = np.float32(1) - out
    return np.ascontiguousarray(out)


def pil_to_array(image: Image.Image, *, name: str) -> np.ndarray:
    """Array of a PIL image in a dtype :func:`coerce` scales correctly, for any mode."""
    mode = image.mode
    if mode in ("1", "L", "RGB", "RGBA", "F") or mode.startswith("I;16"):
        return np.asarray(image)  # bool, uint8, uint8 colour, float32, uint16
    if mode == "I":
        # 16-bit PNGs may open as 32-bit "I": read by the 16-bit range, refuse anything wider.
        a = np.asarray(image)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise ValueError(
                f"{name}: mode 'I' image has values in [{a.min()}, {a.max()}], outside the 16-bit range"
            )
        return a.astype(np.uint16)
    if mode == "LA":
        # Alpha multiplies the map, as for RGBA maps: a transparent pixel is kept.
        la = np.asarray(image).astype(np.float32) / np.float32(255)
        return la[..., 0] * la[..., 1]
    if mode == "La":
        return np.asarray(image)[..., 0]  # premultiplied: the grey channel is already grey * alpha
    # P, PA, CMYK, YCbCr, LAB, HSV, ...: to RGB(A) first; luminance is taken of the colour channels.
    try:
        return np.asarray(image.convert("RGBA" if "A" in mode or "transparency" in image.info else "RGB"))
    except ValueError as e:  # a mode PIL cannot convert
        raise ValueError(f"{name}: cannot read a map image of mode {mode!r} ({e})") from e


# ------------------------------------------------------------------------------------------- lossy files
LOSSY_SNAP = 8 / 255
"""A map read from a lossy file has values within this of 0 or 1 snapped to 0 or 1 (compression noise)."""


def lossy_format(path: str) -> str | None:
    """``"JPEG"`` or ``"lossy WebP"`` when the file at ``path`` holds lossy compressed pixels, else ``None``.

    Read from the file's own bytes (its signature and, for WebP, its chunk list), not its name.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:3] == b"\xff\xd8\xff":
            return "JPEG"
        if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
            return None
        while len(chunk := f.read(8)) == 8:  # chunks: fourcc, little-endian size, data padded to even
            if chunk[:4] == b"VP8 ":
                return "lossy WebP"
            if chunk[:4] == b"VP8L":
                return None
            size = int.from_bytes(chunk[4:], "little")
            f.seek(size + (size & 1), os.SEEK_CUR)
    return None


def snap_lossy(values: np.ndarray) -> tuple[np.ndarray, int]:
    """``(snapped, count)``: values <= 8/255 set to 0 and >= 247/255 set to 1; ``count`` values moved.

    Example:
        >>> snap_lossy(np.array([0.0, 0.02, 0.5, 0.99], np.float32))
        (array([0. , 0. , 0.5, 1. ], dtype=float32), 2)
    """
    low = values <= np.float32(LOSSY_SNAP)
    high = values >= np.float32(1 - LOSSY_SNAP)
    moved = int(np.count_nonzero(low & (values != 0)) + np.count_nonzero(high & (values != 1)))
    return np.where(low, np.float32(0), np.where(high, np.float32(1), values)).astype(np.float32), moved


# ------------------------------------------------------------------------------------------- op arguments
def map_values(m: Any, name: str = "m") -> np.ndarray:
    """``m.values``; TypeError naming ``name`` unless ``m`` is a ChangeMap."""
    from automaps.changemap import ChangeMap  # here, not at the top: changemap imports this module

    if not isinstance(m, ChangeMap):
        raise TypeError(
            f"{name}: expected a ChangeMap, got {type(m).__name__}; wrap arrays with ChangeMap.from_array()"
        )
    return m.values


def number(x: Any, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    """``x`` as a float; TypeError unless a real number (not bool), ValueError unless finite in [lo, hi]."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(x).__name__}")
    x = float(x)
    if not (math.isfinite(x) and lo <= x <= hi):
        raise ValueError(f"{name}: expected a finite number in [{lo:g}, {hi:g}], got {x:g}")
    return x


def same_shape(maps: tuple[Any, ...], names: list[str]) -> None:
    """ValueError naming both shapes unless every map has the shape of ``maps[0]``."""
    for m, name in zip(maps[1:], names[1:], strict=True):
        if m.shape != maps[0].shape:
            raise ValueError(f"{name}: shape {m.shape} differs from {names[0]}'s shape {maps[0].shape}")
