"""Private internals of :func:`automaps.ops.grow` / :func:`automaps.ops.shrink`: exact grey dilation by a disk.

Two exact strategies, chosen by a cost model: one Euclidean distance transform per distinct level (binary and
few-level maps), or a union of horizontal max-filter segments, one per disk row (soft maps, modest radii).
scipy is imported inside the functions so that ``import automaps`` stays light.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["dilate_disk", "dilate_levels", "dilate_lines", "erode_disk"]


def dilate_disk(a: np.ndarray, r2: int) -> np.ndarray:
    """Grey dilation of ``a`` by the disk ``{dx² + dy² <= r2}``; pixels outside the image are ignored."""
    levels = np.unique(a)
    # Cost model (measured at 512²): one EDT ≈ 9 max-filter rows, so the level decomposition wins for
    # binary and few-level maps, the line decomposition for soft maps with modest radii.
    if len(levels) - 1 <= max(1, (math.isqrt(r2) + 1) // 8):
        return dilate_levels(a, r2, levels)
    return dilate_lines(a, r2)


def erode_disk(a: np.ndarray, r2: int) -> np.ndarray:
    """Grey erosion of ``a`` by the same disk, the dual of :func:`dilate_disk`; outside counts as the max."""
    # Negation is exact in floats (1 - x is not), so closing/opening laws hold bit for bit.
    return -dilate_disk(-a, r2) + 0.0


def dilate_levels(a: np.ndarray, r2: int, levels: np.ndarray) -> np.ndarray:
    """Exact dilation with one Euclidean distance transform per distinct level above the minimum."""
    from scipy import ndimage

    out = np.full(a.shape, levels[0], dtype=np.float32)
    for v in levels[1:]:  # ascending, so a higher level overwrites a lower one
        d = ndimage.distance_transform_edt(a < v)  # distance to the nearest pixel with a >= v
        out[np.rint(d * d) <= r2] = v  # squared distances are integers: compare them exactly
    return out


def dilate_lines(a: np.ndarray, r2: int) -> np.ndarray:
    """Exact dilation as a union of horizontal segments: the disk row at dy has half-width isqrt(r2 - dy²)."""
    from scipy import ndimage

    h, w = a.shape
    out = a.copy()
    for dy in range(min(math.isqrt(r2), h - 1) + 1):
        half = min(math.isqrt(r2 - dy * dy), w - 1)  # wider than the image is the whole row
        row = ndimage.maximum_filter1d(a, 2 * half + 1, axis=1, mode="constant", cval=-np.inf)
        np.maximum(out[: h - dy], row[dy:], out=out[: h - dy])  # source row y + dy
        if dy:
            np.maximum(out[dy:], row[: h - dy], out=out[dy:])  # source row y - dy
    return out
