"""Map operations: algebraic laws (hypothesis), exact geometry, resampling, errors, provenance, registry."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from automaps import ChangeMap, _morphology, op_specs, ops

SETTINGS = settings(max_examples=60, deadline=None)
shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))


def soft_arrays(shape: tuple[int, int]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32))


def arrays_of(shape: tuple[int, int]) -> st.SearchStrategy[np.ndarray]:
    # binary maps, soft maps, and soft maps with few levels (these take the distance-transform path)
    binary = hnp.arrays(np.bool_, shape).map(lambda a: a.astype(np.float32))
    few = hnp.arrays(np.float32, shape, elements=st.sampled_from([0.0, 0.25, 1.0]))
    return st.one_of(binary, soft_arrays(shape), few)


maps = shapes.flatmap(arrays_of).map(ChangeMap)
pairs = shapes.flatmap(lambda s: st.tuples(*[arrays_of(s)] * 2)).map(lambda p: tuple(map(ChangeMap, p)))
triples = shapes.flatmap(lambda s: st.tuples(*[arrays_of(s)] * 3)).map(lambda p: tuple(map(ChangeMap, p)))
radii = st.one_of(st.integers(0, 8), st.floats(0, 8))


def brute_dilate(a: np.ndarray, r: float) -> np.ndarray:
    """Reference: max over every offset of the Euclidean disk, outside the image ignored."""
    h, w = a.shape
    padded = np.full((h + 2 * 9, w + 2 * 9), -np.inf, np.float32)
    padded[9 : 9 + h, 9 : 9 + w] = a
    out = np.full(a.shape, -np.inf, np.float32)
    for dy in range(-8, 9):
        for dx in range(-8, 9):
            if dy * dy + dx * dx <= math.floor(r * r):
                out = np.maximum(out, padded[9 + dy : 9 + dy + h, 9 + dx : 9 + dx + w])
    return out


# ------------------------------------------------------------------------------------------- grow / shrink
@SETTINGS
@given(maps, radii)
def test_grow_is_grey_dilation_by_the_disk(m: ChangeMap, r: float) -> None:
    expected = brute_dilate(m.values, r)
    np.testing.assert_array_equal(ops.grow(m, r).values, expected)
    # both internal strategies agree exactly, whichever the cost model picks
    r2 = math.floor(r * r)
    if r2:
        np.testing.assert_array_equal(_morphology.dilate_lines(m.values, r2), expected)
        np.testing.assert_array_equal(_morphology.dilate_levels(m.values, r2, np.unique(m.values)), expected)


@SETTINGS
@given(maps, radii)
def test_closing_is_extensive_and_opening_anti_extensive(m: ChangeMap, r: float) -> None:
    grown, shrunk = ops.grow(m, r), ops.shrink(m, r)
    assert (grown.values >= m.values).all() and (shrunk.values <= m.values).all()
    assert (ops.shrink(grown, r).values >= m.values).all()  # closing ⊇ m
    assert (ops.grow(shrunk, r).values <= m.values).all()  # opening ⊆ m
    dual = ops.invert(ops.grow(ops.invert(m), r)).values
    np.testing.assert_allclose(shrunk.values, dual, atol=2**-24)


@SETTINGS
@given(maps, st.integers(0, 5), st.integers(0, 5))
def test_grow_is_monotone_in_radius(m: ChangeMap, r1: int, r2: int) -> None:
    small, large = sorted((r1, r2))
    assert (ops.grow(m, large).values >= ops.grow(m, small).values).all()


@pytest.mark.parametrize("r", [0, 1, 1.5, 2, 3, 5, 7.5, 10])
def test_grow_single_pixel_covers_exactly_the_euclidean_disk(r: float) -> None:
    a = np.zeros((25, 25), np.float32)
    a[12, 12] = 1.0
    yy, xx = np.mgrid[-12:13, -12:13]
    disk = (yy**2 + xx**2 <= r * r).astype(np.float32)
    np.testing.assert_array_equal(ops.grow(ChangeMap(a), r).values, disk)
    # and shrinking the disk by r leaves just the centre pixel (the disk is its own closing)
    if r >= 1:
        np.testing.assert_array_equal(ops.shrink(ChangeMap(disk), r).values, a)


def test_binary_grow_is_distance_to_support() -> None:
    from scipy import ndimage

    a = np.random.default_rng(1).random((40, 50)) > 0.97
    for r in (1, 2.5, 6):
        expected = ndimage.distance_transform_edt(~a) <= r
        np.testing.assert_array_equal(ops.grow(ChangeMap(a), r).values, expected)


def test_shrink_does_not_recede_from_the_border() -> None:
    a = np.zeros((10, 10), np.float32)
    a[:4] = 1.0  # a "sky" touching the top edge
    out = ops.shrink(ChangeMap(a), 2).values
    assert out[:2].min() == 1.0 and out[2:].max() == 0.0
    assert ops.shrink(ChangeMap(np.ones((5, 5))), 3).min() == 1.0


# ------------------------------------------------------------------------------------------- filters
@SETTINGS
@given(maps, st.floats(0, 5))
def test_feather_stays_in_range(m: ChangeMap, sigma: float) -> None:
    out = ops.feather(m, sigma).values
    assert out.shape == m.shape and out.min() >= 0 and out.max() <= 1


@SETTINGS
@given(shapes, st.floats(0, 1, width=32), st.floats(0.1, 10))
def test_feather_preserves_constant_maps(shape: tuple[int, int], c: float, sigma: float) -> None:
    out = ops.feather(ChangeMap(np.full(shape, c, np.float32)), sigma).values
    np.testing.assert_allclose(out, c, atol=1e-6)


@SETTINGS
@given(maps, st.integers(2, 12))
def test_quantize_has_at_most_n_levels(m: ChangeMap, n: int) -> None:
    q = ops.quantize(m, n).values
    assert len(np.unique(q)) <= n
    assert np.abs(q - m.values).max() <= 0.5 / (n - 1) + 1e-6
    assert set(np.unique(q)) <= {np.float32(k / (n - 1)) for k in range(n)}


@SETTINGS
@given(maps, st.floats(0, 1), st.floats(0.05, 20), st.floats(0, 1), st.floats(0, 1))
def test_point_operations(m: ChangeMap, t: float, g: float, x: float, y: float) -> None:
    lo, hi = sorted((x, y))
    assert set(np.unique(ops.threshold(m, t).values)) <= {0.0, 1.0}
    np.testing.assert_array_equal(ops.threshold(m, t).values, m.values >= np.float32(t))
    out = ops.gamma(m, g).values
    assert out.min() >= 0 and out.max() <= 1
    out = ops.levels(m, lo, hi).values
    assert out.min() >= np.float32(lo) - 1e-7 and out.max() <= np.float32(hi) + 1e-7


# ------------------------------------------------------------------------------------------- combining
@SETTINGS
@given(triples)
def test_union_intersect_lattice_laws(abc: tuple[ChangeMap, ChangeMap, ChangeMap]) -> None:
    a, b, c = abc

    def same(x: ChangeMap, y: ChangeMap) -> None:
        np.testing.assert_array_equal(x.values, y.values)

    for op in (ops.union, ops.intersect):
        same(op(a, b), op(b, a))  # commutative
        same(op(op(a, b), c), op(a, op(b, c)))  # associative
        same(op(a, b, c), op(op(a, b), c))
        same(op(a, a), a)  # idempotent
    same(ops.union(a, ops.intersect(a, b)), a)  # absorption
    same(ops.intersect(a, ops.union(a, b)), a)


@SETTINGS
@given(pairs)
def test_subtract_invert_blend(ab: tuple[ChangeMap, ChangeMap]) -> None:
    a, b = ab
    assert ops.subtract(a, a).max() == 0.0
    assert (ops.subtract(a, b).values <= a.values).all()
    # 1 - (1 - x) rounds once in float32: equal up to half an ulp of 1
    np.testing.assert_allclose(ops.invert(ops.invert(a)).values, a.values, atol=2**-25, rtol=0)
    np.testing.assert_array_equal(ops.blend(a, b, 0).values, a.values)
    np.testing.assert_array_equal(ops.blend(a, b, 1).values, b.values)


def test_shape_mismatch_names_both_shapes() -> None:
    a, b = ChangeMap(np.zeros((4, 5))), ChangeMap(np.zeros((5, 4)))
    for call in (lambda: ops.union(a, b), lambda: ops.intersect(a, a, b)):
        with pytest.raises(ValueError, match=r"\(5, 4\) differs from maps\[0\]'s shape \(4, 5\)"):
            call()
    with pytest.raises(ValueError, match=r"^b: shape \(5, 4\) differs from a's shape \(4, 5\)"):
        ops.subtract(a, b)
    with pytest.raises(ValueError, match=r"^b: shape"):
        ops.blend(a, b, 0.5)
    with pytest.raises(ValueError, match=r"^maps"):
        ops.union()
    assert ops.union(a) is a


# ------------------------------------------------------------------------------------------- resampling
def test_resize_area_averages_a_checker() -> None:
    checker = ChangeMap(np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert ops.resize(checker, (1, 1)).values.tolist() == [[0.5]]
    big = ChangeMap(np.kron(np.ones((4, 4)), np.array([[0.0, 1.0], [1.0, 0.0]])))  # 8x8 checker
    np.testing.assert_allclose(ops.resize(big, (4, 4)).values, 0.5, atol=1e-6)
    np.testing.assert_allclose(ops.resize(big, (3, 5)).mean(), 0.5, atol=1e-6)


def test_resize_matches_opencv() -> None:
    cv2 = pytest.importorskip("cv2")
    a = np.random.default_rng(2).random((30, 40), dtype=np.float32)
    m = ChangeMap(a)
    for size in ((13, 7), (20, 15), (40, 10)):  # shrinking: area averaging
        expected = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        np.testing.assert_allclose(ops.resize(m, size).values, expected, atol=1e-5)
    for size in ((97, 61), (80, 60), (41, 30)):  # enlarging: bilinear
        expected = cv2.resize(a, size, interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(ops.resize(m, size).values, expected, atol=1e-5)
    mixed = ops.resize(m, (80, 15))
    assert mixed.shape == (15, 80) and mixed.provenance == "array | resize(80x15)"


def test_normalize() -> None:
    const = ChangeMap(np.full((3, 4), 0.3))
    np.testing.assert_array_equal(ops.normalize(const).values, const.values)
    out = ops.normalize(ChangeMap(np.array([[0.2, 0.3, 0.6]])))
    assert out.min() == 0.0 and out.max() == 1.0


# ------------------------------------------------------------------------------------------- errors
M = ChangeMap(np.zeros((3, 3)))


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: ops.grow(M, -1), ValueError, "^pixels"),
        (lambda: ops.shrink(M, math.nan), ValueError, "^pixels"),
        (lambda: ops.grow(M, "8"), TypeError, "^pixels"),
        (lambda: ops.grow(np.zeros((3, 3)), 1), TypeError, "^m: expected a ChangeMap"),
        (lambda: ops.feather(M, -0.5), ValueError, "^sigma"),
        (lambda: ops.gamma(M, 0), ValueError, "^g"),
        (lambda: ops.levels(M, 0.8, 0.2), ValueError, "^lo: expected lo <= hi"),
        (lambda: ops.levels(M, 0, 1.5), ValueError, "^hi"),
        (lambda: ops.threshold(M, 1.5), ValueError, "^t"),
        (lambda: ops.quantize(M, 1), ValueError, "^n"),
        (lambda: ops.quantize(M, 2.5), TypeError, "^n"),
        (lambda: ops.resize(M, (0, 3)), ValueError, "^size"),
        (lambda: ops.resize(M, (2.0, 3)), TypeError, "^size"),
        (lambda: ops.blend(M, M, 2), ValueError, "^t"),
        (lambda: ops.union(M, np.zeros((3, 3))), TypeError, r"^maps\[1\]"),
    ],
)
def test_errors_name_the_parameter(call, error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        call()


# ------------------------------------------------------------------------------------------- provenance
def test_provenance_chain() -> None:
    sky = ChangeMap(np.zeros((8, 8)), provenance="clipseg('sky')")
    people = ChangeMap(np.zeros((8, 8)), provenance="grounded('people')")
    out = ops.feather(ops.grow(ops.subtract(sky, people), 8), 12)
    assert out.provenance == "clipseg('sky') | subtract(grounded('people')) | grow(8) | feather(12)"
    union = ops.union(sky, people, sky)
    assert union.provenance == "clipseg('sky') | union(grounded('people'), clipseg('sky'))"
    assert ops.grow(sky, 2.5).provenance.endswith("grow(2.5)")
    assert ops.levels(sky, 0.1, 0.9).provenance.endswith("levels(0.1, 0.9)")
    assert ops.invert(sky).provenance.endswith("| invert")


# ------------------------------------------------------------------------------------------- registry
def test_operations_registry() -> None:
    m = ChangeMap(np.random.default_rng(3).random((6, 7)))
    assert set(ops.OPERATIONS) == {name for name in ops.__all__ if name.islower()}
    for name, spec in ops.OPERATIONS.items():
        assert spec.fn.__name__ == name and spec.doc
        params = {p: (lo + hi) / 2 for p, (lo, hi) in spec.params.items()}  # mid-range values
        params.update({"n": 4} if name == "quantize" else {"size": (5, 9)} if name == "resize" else {})
        spec.check(**params)
        n_maps = 2 if spec.n_maps == -1 else spec.n_maps
        out = spec.fn(*[m] * n_maps, **params)
        assert isinstance(out, ChangeMap) and out is not m
    with pytest.raises(ValueError, match=r"^pixels: expected a value in"):
        ops.OPERATIONS["grow"].check(pixels=-1)
    with pytest.raises(ValueError, match=r"^radius: unknown parameter of grow"):
        ops.OPERATIONS["grow"].check(radius=3)


def test_op_spec_types_and_problems() -> None:
    quantize, grow = ops.OPERATIONS["quantize"], ops.OPERATIONS["grow"]
    assert quantize.kind("n") is int and grow.kind("pixels") is float
    assert quantize.problem("n", 4) is None and grow.problem("pixels", 2.5) is None
    assert quantize.problem("n", 2.5) == "expected an integer, got 2.5"
    assert quantize.problem("n", 1) == "expected a value in [2, 65536], got 1"
    assert ops.OPERATIONS["resize"].problem("size", (5, 0)) == "expected a value in [1, 65536], got 0"
    with pytest.raises(ValueError, match=r"^n: expected an integer, got True"):
        quantize.check(n=True)
    assert doctest.testmod(op_specs).failed == 0


def test_doctests() -> None:
    assert doctest.testmod(ops, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
