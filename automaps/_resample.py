"""Private internals of :func:`automaps.ops.resize`: separable area averaging (shrink) and bilinear (enlarge).

Both match OpenCV (``INTER_AREA`` / ``INTER_LINEAR``) without depending on it.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["check_size", "resize_array", "resize_axis"]


def check_size(size: Any) -> tuple[int, int]:
    """``(width, height)`` from ``size``; TypeError unless two integers, ValueError if one is < 1."""
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size)
    ):
        raise TypeError(f"size: expected (width, height) integers, got {size!r}")
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"size: expected width and height >= 1, got {size!r}")
    return width, height


def resize_array(a: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resample ``(H, W)`` ``a`` to ``(height, width)``, each axis with its own filter (not clipped)."""
    # Separable; the two axes commute, so shrink first to touch fewer pixels.
    if width / a.shape[1] <= height / a.shape[0]:
        return resize_axis(resize_axis(a, width, axis=1), height, axis=0)
    return resize_axis(resize_axis(a, height, axis=0), width, axis=1)


def resize_axis(a: np.ndarray, new: int, axis: int) -> np.ndarray:
    """Resize one axis to ``new`` samples: exact area averaging when it shrinks, bilinear when it grows."""
    old = a.shape[axis]
    if new == old:
        return a
    shape = [1, 1]
    shape[axis] = -1  # weights broadcast along the resized axis
    if new < old:
        # Exact area averaging (cv2 INTER_AREA): output i averages the input span [i, i + 1) * old / new,
        # read off a cumulative sum, which is piecewise linear between pixel edges.
        x = a.astype(np.float64)
        cum = np.cumsum(np.insert(x, 0, 0.0, axis=axis), axis=axis)
        edges = np.arange(new + 1) * (old / new)
        k = np.minimum(edges.astype(np.int64), old - 1)
        integral = np.take(cum, k, axis) + (edges - k).reshape(shape) * np.take(x, k, axis)
        return (np.diff(integral, axis=axis) * (new / old)).astype(np.float32)
    # Bilinear with half-pixel centres, clamped at the edges (cv2 INTER_LINEAR).
    src = np.clip((np.arange(new) + 0.5) * (old / new) - 0.5, 0, old - 1)
    i0 = np.floor(src).astype(np.int64)
    f = (src - i0).astype(np.float32).reshape(shape)
    return np.take(a, i0, axis) * (1 - f) + np.take(a, np.minimum(i0 + 1, old - 1), axis) * f
