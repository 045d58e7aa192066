"""Pure map operations ``ChangeMap -> ChangeMap``; each returns a new map and appends one provenance step.

Polarity everywhere: 1 = regenerate fully, 0 = keep. "Grow" therefore widens the region that changes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from automaps import _inputs, _morphology, _resample
from automaps.changemap import ChangeMap
from automaps.op_specs import OpSpec

__all__ = [
    "OPERATIONS", "OpSpec", "blend", "feather", "gamma", "grow", "intersect", "invert",
    "levels", "normalize", "quantize", "resize", "shrink", "subtract", "threshold", "union"
]


# ------------------------------------------------------------------------------------------- morphology
def grow(m: ChangeMap, pixels: float) -> ChangeMap:
    """Widen the changed region by a Euclidean distance: the max of ``m`` over a disk of radius ``pixels``.

    For a binary map, ``grow(m, r)(p) = 1`` iff the Euclidean distance from ``p`` to the nearest changed
    pixel is ``<= r`` (computed with distance transforms, not repeated 3x3 dilation). Soft maps get the
    grey dilation by the same disk. Outside the image counts as "keep".

    Args:
        m: Map, float32 ``(H, W)`` in [0, 1], 1 = change.
        pixels: Disk radius in pixels, >= 0 (may be fractional); 0 is the identity.

    Returns:
        A new map ``>= m`` with step ``grow(<pixels>)``.

    Raises:
        TypeError: ``m`` is not a ChangeMap or ``pixels`` not a number.
        ValueError: ``pixels`` is negative or not finite.

    Example:
        >>> dot = ChangeMap(np.pad(np.ones((1, 1)), 2))
        >>> grow(dot, 1).values.astype(int).tolist()[1:4]
        [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]]
    """
    a = _inputs.map_values(m)
    r = _inputs.number(pixels, "pixels", 0.0)
    return m.derive(_morphology.dilate_disk(a, math.floor(r * r)) if r > 0 else a, f"grow({r:g})")


def shrink(m: ChangeMap, pixels: float) -> ChangeMap:
    """Narrow the changed region: the min of ``m`` over a disk of radius ``pixels`` (dual of :func:`grow`).

    ``shrink(m, r) = invert(grow(invert(m), r))`` (up to float rounding). Outside the image counts as
    "change", so a region touching the border does not recede from it.

    Args:
        m: Map, float32 ``(H, W)`` in [0, 1], 1 = change.
        pixels: Disk radius in pixels, >= 0; 0 is the identity.

    Returns:
        A new map ``<= m`` with step ``shrink(<pixels>)``.

    Raises:
        TypeError: ``m`` is not a ChangeMap or ``pixels`` not a number.
        ValueError: ``pixels`` is negative or not finite.

    Example:
        >>> shrink(ChangeMap(np.pad(np.ones((3, 3)), 1)), 1).values.astype(int).tolist()[2]
        [0, 0, 1, 0, 0]
    """
    a = _inputs.map_values(m)
    r = _inputs.number(pixels, "pixels", 0.0)
    return m.derive(_morphology.erode_disk(a, math.floor(r * r)) if r > 0 else a, f"shrink({r:g})")


# ------------------------------------------------------------------------------------------- filters
def feather(m: ChangeMap, sigma: float) -> ChangeMap:
    """Soften edges with a Gaussian blur of standard deviation ``sigma`` pixels (mirror-padded borders).

    Args:
        m: Map, float32 ``(H, W)`` in [0, 1], 1 = change.
        sigma: Standard deviation in pixels, >= 0; 0 is the identity.

    Returns:
        A new map in [0, 1] with step ``feather(<sigma>)``; constant maps are unchanged.

    Raises:
        ValueError: ``sigma`` is negative or not finite.

    Example:
        >>> edge = feather(ChangeMap(np.repeat([[0.0, 0, 1, 1]], 2, axis=0)), 1)
        >>> bool(0 < edge.values[0, 1] < 0.5 < edge.values[0, 2] < 1), edge.provenance
        (True, 'array | feather(1)')
    """
    a = _inputs.map_values(m)
    s = _inputs.number(sigma, "sigma", 0.0)
    if s == 0:
        return m.derive(a, "feather(0)")
    from scipy import ndimage

    return m.derive(np.clip(ndimage.gaussian_filter(a, s, mode="reflect"), 0, 1), f"feather({s:g})")


def gamma(m: ChangeMap, g: float) -> ChangeMap:
    """Reshape strengths as ``m ** g``: g < 1 strengthens weak change, g > 1 weakens it; 0 and 1 stay.

    Args:
        m: Map in [0, 1], 1 = change.
        g: Exponent, > 0.

    Returns:
        A new map with step ``gamma(<g>)``.

    Raises:
        ValueError: ``g`` is not a positive finite number.

    Example:
        >>> gamma(ChangeMap(np.array([[0.25, 1.0]])), 0.5).values.tolist()
        [[0.5, 1.0]]
    """
    a = _inputs.map_values(m)
    g = _inputs.number(g, "g", 0.0)
    if g == 0:
        raise ValueError("g: expected a number > 0, got 0")
    return m.derive(np.power(a, np.float32(g)), f"gamma({g:g})")


def levels(m: ChangeMap, lo: float, hi: float) -> ChangeMap:
    """Map [0, 1] linearly onto [lo, hi]: ``lo + (hi - lo) * m`` (a floor and a ceiling of change).

    Args:
        m: Map in [0, 1], 1 = change.
        lo: Output for m = 0, in [0, hi].
        hi: Output for m = 1, in [lo, 1].

    Returns:
        A new map in [lo, hi] with step ``levels(<lo>, <hi>)``.

    Raises:
        ValueError: Unless ``0 <= lo <= hi <= 1``.

    Example:
        >>> print(levels(ChangeMap(np.array([[0.0, 0.5, 1.0]])), 0.2, 0.6).values)
        [[0.2 0.4 0.6]]
    """
    a = _inputs.map_values(m)
    lo = _inputs.number(lo, "lo", 0.0, 1.0)
    hi = _inputs.number(hi, "hi", 0.0, 1.0)
    if lo > hi:
        raise ValueError(f"lo: expected lo <= hi, got lo {lo:g} > hi {hi:g}")
    out = np.float32(lo) + np.float32(hi - lo) * a
    return m.derive(np.clip(out, lo, hi), f"levels({lo:g}, {hi:g})")


def threshold(m: ChangeMap, t: float) -> ChangeMap:
    """Binarise: 1 where ``m >= t``, else 0.

    Args:
        m: Map in [0, 1], 1 = change.
        t: Threshold in [0, 1].

    Returns:
        A binary map (values 0.0 / 1.0) with step ``threshold(<t>)``.

    Raises:
        ValueError: ``t`` outside [0, 1].

    Example:
        >>> threshold(ChangeMap(np.array([[0.2, 0.5, 0.9]])), 0.5).values.tolist()
        [[0.0, 1.0, 1.0]]
    """
    a = _inputs.map_values(m)
    t = _inputs.number(t, "t", 0.0, 1.0)
    return m.derive(a >= np.float32(t), f"threshold({t:g})")


def quantize(m: ChangeMap, n: int) -> ChangeMap:
    """Round to ``n`` evenly spaced levels ``k / (n - 1)``, including 0 and 1.

    Args:
        m: Map in [0, 1], 1 = change.
        n: Number of levels, an integer >= 2.

    Returns:
        A map with at most ``n`` distinct values and step ``quantize(<n>)``.

    Raises:
        TypeError: ``n`` is not an integer.
        ValueError: ``n < 2``.

    Example:
        >>> quantize(ChangeMap(np.array([[0.1, 0.3, 0.8]])), 3).values.tolist()
        [[0.0, 0.5, 1.0]]
    """
    a = _inputs.map_values(m)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n: expected an integer, got {type(n).__name__}")
    if n < 2:
        raise ValueError(f"n: expected at least 2 levels, got {n}")
    k = int(n) - 1
    return m.derive((np.rint(a.astype(np.float64) * k) / k).astype(np.float32), f"quantize({n})")


# ------------------------------------------------------------------------------------------- combining
def _combine(maps: tuple[ChangeMap, ...], op: Callable[..., np.ndarray], name: str) -> ChangeMap:
    if not maps:
        raise ValueError(f"maps: {name}() needs at least one ChangeMap")
    names = [f"maps[{i}]" for i in range(len(maps))]
    arrays = [_inputs.map_values(m, n) for m, n in zip(maps, names, strict=True)]
    _inputs.same_shape(maps, names)
    if len(maps) == 1:
        return maps[0]
    others = ", ".join(m.provenance for m in maps[1:])
    return maps[0].derive(op.reduce(arrays), f"{name}({others})")


def union(*maps: ChangeMap) -> ChangeMap:
    """Change wherever any map changes: the pixel-wise max.

    Args:
        *maps: One or more maps of the same shape, 1 = change.

    Returns:
        A new map with step ``union(<other provenances>)`` after the first map's provenance
        (a single map is returned as is).

    Raises:
        ValueError: No maps, or maps of different shapes (the message names both shapes).

    Example:
        >>> a, b = ChangeMap(np.array([[1.0, 0.0]]), "a"), ChangeMap(np.array([[0.0, 0.5]]), "b")
        >>> u = union(a, b); u.values.tolist(), u.provenance
        ([[1.0, 0.5]], 'a | union(b)')
    """
    return _combine(maps, np.maximum, "union")


def intersect(*maps: ChangeMap) -> ChangeMap:
    """Change only where every map changes: the pixel-wise min.

    Args:
        *maps: One or more maps of the same shape, 1 = change.

    Returns:
        A new map with step ``intersect(<other provenances>)`` (a single map is returned as is).

    Raises:
        ValueError: No maps, or maps of different shapes.

    Example:
        >>> print(intersect(ChangeMap(np.array([[1.0, 0.2]])), ChangeMap(np.array([[0.5, 0.9]]))).values)
        [[0.5 0.2]]
    """
    return _combine(maps, np.minimum, "intersect")


def subtract(a: ChangeMap, b: ChangeMap) -> ChangeMap:
    """Remove ``b``'s change from ``a``: ``clip(a - b, 0, 1)`` (e.g. "the sky but not the people").

    Args:
        a: Map to subtract from, 1 = change.
        b: Map to remove, same shape.

    Returns:
        A new map ``<= a`` with step ``subtract(<b's provenance>)``.

    Raises:
        ValueError: Shapes differ.

    Example:
        >>> subtract(ChangeMap(np.array([[1.0, 0.5]])), ChangeMap(np.array([[0.25, 1.0]]))).values.tolist()
        [[0.75, 0.0]]
    """
    va, vb = _inputs.map_values(a, "a"), _inputs.map_values(b, "b")
    _inputs.same_shape((a, b), ["a", "b"])
    return a.derive(np.clip(va - vb, 0, 1), f"subtract({b.provenance})")


def blend(a: ChangeMap, b: ChangeMap, t: float) -> ChangeMap:
    """Linear mix ``(1 - t) * a + t * b``.

    Args:
        a: Map used at t = 0, 1 = change.
        b: Map used at t = 1, same shape.
        t: Mixing weight in [0, 1].

    Returns:
        A new map with step ``blend(<b's provenance>, <t>)``.

    Raises:
        ValueError: Shapes differ or ``t`` outside [0, 1].

    Example:
        >>> blend(ChangeMap(np.zeros((1, 2))), ChangeMap(np.ones((1, 2))), 0.25).values.tolist()
        [[0.25, 0.25]]
    """
    va, vb = _inputs.map_values(a, "a"), _inputs.map_values(b, "b")
    _inputs.same_shape((a, b), ["a", "b"])
    t = _inputs.number(t, "t", 0.0, 1.0)
    out = np.float32(1 - t) * va + np.float32(t) * vb
    return a.derive(np.clip(out, 0, 1), f"blend({b.provenance}, {t:g})")


def invert(m: ChangeMap) -> ChangeMap:
    """Swap change and keep: ``1 - m`` (also converts to/from the paper's white = keep polarity).

    Args:
        m: Map in [0, 1].

    Returns:
        A new map with step ``invert``.

    Example:
        >>> invert(ChangeMap(np.array([[0.0, 0.25]]))).values.tolist()
        [[1.0, 0.75]]
    """
    return m.derive(np.float32(1) - _inputs.map_values(m), "invert")


def normalize(m: ChangeMap) -> ChangeMap:
    """Stretch min..max to 0..1; a constant map is returned unchanged (no division by zero).

    Args:
        m: Map in [0, 1], 1 = change.

    Returns:
        A new map with min 0 and max 1 (unless constant), step ``normalize``.

    Example:
        >>> print(normalize(ChangeMap(np.array([[0.25, 0.5, 0.75]]))).values)
        [[0.  0.5 1. ]]
    """
    a = _inputs.map_values(m)
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return m.derive(a, "normalize")
    out = (a.astype(np.float64) - lo) / (hi - lo)
    return m.derive(np.clip(out, 0, 1), "normalize")


# ------------------------------------------------------------------------------------------- resampling
def resize(m: ChangeMap, size: tuple[int, int]) -> ChangeMap:
    """Resample to ``size = (W, H)``: area averaging on an axis that shrinks, bilinear on one that grows.

    Area averaging keeps the mean change of every output pixel (a 2x2 checker becomes 0.5), which is how
    maps are brought to a latent grid.

    Args:
        m: Map, float32 ``(H, W)`` in [0, 1], 1 = change.
        size: Target ``(width, height)`` in pixels, PIL order, each >= 1.

    Returns:
        A new map of shape ``(height, width)`` with step ``resize(<W>x<H>)``.

    Raises:
        TypeError: ``size`` is not two integers.
        ValueError: A dimension is < 1.

    Example:
        >>> resize(ChangeMap(np.array([[0.0, 1.0], [1.0, 0.0]])), (1, 1)).values.tolist()
        [[0.5]]
    """
    a = _inputs.map_values(m)
    width, height = _resample.check_size(size)
    out = _resample.resize_array(a, width, height)
    return m.derive(np.clip(out, 0, 1), f"resize({width}x{height})")


# ------------------------------------------------------------------------------------------- registry
# The order is the order ``automaps map`` applies its operation flags in (shape the region, soften it, reshape
# its values, binarise, invert), whatever their order on the command line.
OPERATIONS: dict[str, OpSpec] = {
    "grow": OpSpec(grow, {"pixels": (0, 4096)}),
    "shrink": OpSpec(shrink, {"pixels": (0, 4096)}),
    "feather": OpSpec(feather, {"sigma": (0, 1024)}),
    "gamma": OpSpec(gamma, {"g": (0.01, 100)}),
    "levels": OpSpec(levels, {"lo": (0, 1), "hi": (0, 1)}),
    "threshold": OpSpec(threshold, {"t": (0, 1)}),
    "quantize": OpSpec(quantize, {"n": (2, 65536)}, ints=("n",)),
    "invert": OpSpec(invert),
    "normalize": OpSpec(normalize),
    "resize": OpSpec(resize, {"size": (1, 65536)}, ints=("size",)),
    "union": OpSpec(union, n_maps=-1),
    "intersect": OpSpec(intersect, n_maps=-1),
    "subtract": OpSpec(subtract, n_maps=2),
    "blend": OpSpec(blend, {"t": (0, 1)}, n_maps=2),
}
