"""ChangeMap: accepted inputs, polarity, validation messages, I/O round trips, atomic saves, previews."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import automaps
from automaps import ChangeMap
from automaps import changemap as changemap_module
from automaps import io as io_module
from automaps import preview as preview_module

RNG = np.random.default_rng(0)
SOFT = RNG.random((6, 5)).astype(np.float32)  # (H, W) = (6, 5)


# ------------------------------------------------------------------------------------------- inputs
@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (SOFT.astype(np.float64), SOFT),
        (SOFT.astype(np.float16), SOFT.astype(np.float16).astype(np.float32)),
        (np.array([[0, 51, 255]], dtype=np.uint8), np.array([[0, 0.2, 1]])),
        (np.array([[0, 65535, 13107]], dtype=np.uint16), np.array([[0, 1, 0.2]])),
        (np.array([[True, False]]), np.array([[1, 0]])),
        (np.array([[0, 1]], dtype=np.int64), np.array([[0, 1]])),
        ([[0.0, 0.5]], np.array([[0, 0.5]])),
        (SOFT[..., None], SOFT),
        (SOFT[None], SOFT),
        (SOFT[None, None], SOFT),
    ],
    ids=["f64", "f16", "u8", "u16", "bool", "int01", "list", "HW1", "1HW", "11HW"],
)
def test_from_array_accepts(array: object, expected: np.ndarray) -> None:
    m = ChangeMap.from_array(array)
    assert m.values.dtype == np.float32 and m.values.shape == np.shape(expected)
    np.testing.assert_allclose(m.values, expected, atol=1e-6)


@pytest.mark.parametrize("channels", [3, 4])
def test_colour_maps_become_pil_luminance(channels: int) -> None:
    rgba = RNG.integers(0, 256, (7, 9, channels), dtype=np.uint8)
    pil_l = np.asarray(Image.fromarray(rgba[..., :3]).convert("L"), dtype=np.float32) / 255
    if channels == 4:
        pil_l = pil_l * rgba[..., 3] / 255  # alpha multiplies the map: transparent = keep
    m = ChangeMap.from_array(rgba)
    assert m.shape == (7, 9)
    np.testing.assert_allclose(m.values, pil_l, atol=1 / 255)  # PIL rounds to integers, we do not
    # float colour maps in [0, 1] give the same luminance as their uint8 versions
    np.testing.assert_allclose(ChangeMap.from_array(rgba / 255.0).values, m.values, atol=1e-6)


@pytest.mark.parametrize("shape", [(6, 5), (1, 6, 5), (1, 1, 6, 5)])
def test_from_torch(shape: tuple[int, ...]) -> None:
    t = torch.from_numpy(SOFT.copy()).reshape(shape).requires_grad_()
    np.testing.assert_array_equal(ChangeMap.from_array(t).values, SOFT)
    half = ChangeMap.from_array(t.detach().to(torch.bfloat16))  # bfloat16 has no numpy dtype
    np.testing.assert_allclose(half.values, SOFT, atol=1e-2)


def test_from_changemap_and_pil_keep_meaning() -> None:
    m = ChangeMap(SOFT, provenance="src")
    assert ChangeMap.from_array(m).provenance == "src"
    assert ChangeMap(m).values is m.values  # immutable: sharing is safe
    np.testing.assert_allclose(ChangeMap.from_array(m.to_pil()).values, SOFT, atol=0.5 / 255)


def test_invert_is_explicit() -> None:
    m = ChangeMap.from_array(SOFT, invert=True, provenance="paper")
    np.testing.assert_allclose(m.values, 1 - SOFT, atol=1e-7)
    assert m.provenance == "paper | invert"
    assert ChangeMap.from_array(np.array([[255]], np.uint8), invert=True).values[0, 0] == 0.0
    assert ChangeMap.from_pil(Image.new("L", (2, 2), 255), invert=True).max() == 0.0


def test_inputs_are_never_modified_or_aliased() -> None:
    inputs = [SOFT.copy(), (SOFT * 255).astype(np.uint8), SOFT[..., None].copy()]
    for array in inputs:
        before = array.copy()
        m = ChangeMap.from_array(array, invert=True)
        np.testing.assert_array_equal(array, before)
        stored = m.values.copy()
        array[...] = 0  # changing the input afterwards does not reach the map
        np.testing.assert_array_equal(m.values, stored)
    t = torch.from_numpy(SOFT.copy())
    m = ChangeMap.from_array(t)
    t.zero_()
    np.testing.assert_array_equal(m.values, SOFT)


def test_values_are_read_only_float32() -> None:
    m = ChangeMap(SOFT)
    assert m.values.dtype == np.float32 and not m.values.flags.writeable and m.values.flags.c_contiguous
    with pytest.raises(ValueError, match=r"read-only"):
        m.values[0, 0] = 1.0
    assert m.shape == (6, 5) and m.height == 6 and m.width == 5 and m.size == (5, 6)


def test_tolerance_clips_float_noise() -> None:
    m = ChangeMap(np.array([[-1e-7, 1 + 1e-7]]))
    assert m.values.tolist() == [[0.0, 1.0]]


# ------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        (np.array([[0.5, np.nan]]), r"^change_map contains NaN"),
        (np.array([[0.5, np.inf]]), r"^change_map contains NaN or Inf \(1 of 2"),
        (np.array([[-0.2, 1.3]]), r"^change_map: expected values in \[0, 1\], got min -0.2 max 1.3"),
        (np.array([[1 + 1e-5]]), r"^change_map: expected values in \[0, 1\]"),
        (np.array([[0, 255]], dtype=np.int32), r"^change_map: integer dtype int32 must hold a 0/1 mask"),
        (np.zeros(5), r"^change_map: expected shape .*\(H, W\).*got \(5,\)"),
        (np.zeros((2, 1, 4, 4)), r"^change_map: expected shape .*batch 1.*got \(2, 1, 4, 4\)"),
        (np.zeros((0, 4)), r"^change_map: expected shape .*got \(0, 4\)"),
        (np.zeros((4, 4, 2)), r"^change_map: expected shape .*\(H, W, 3\).*got \(4, 4, 2\)"),
        (np.zeros((1, 1, 1, 1, 1)), r"^change_map: expected shape"),
        (np.float32(0.5), r"^change_map: expected shape .*got \(\)"),
        ([[0.1], [0.2, 0.3]], r"^change_map: cannot read list"),
    ],
)
def test_value_errors_name_the_parameter(bad: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        ChangeMap.from_array(bad)
    with pytest.raises(ValueError, match=pattern):
        ChangeMap(bad)


@pytest.mark.parametrize(
    "bad", [np.array([["a", "b"]]), np.zeros((2, 2), dtype=complex), np.array([[None]]), None, "map"]
)
def test_non_numeric_is_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match=r"^change_map: expected a numeric"):
        ChangeMap.from_array(bad)


def test_other_type_errors() -> None:
    with pytest.raises(TypeError, match=r"^provenance"):
        ChangeMap(SOFT, provenance=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^image"):
        ChangeMap.from_pil(SOFT)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- PIL and files
def test_pil_round_trip_within_half_a_level() -> None:
    m = ChangeMap(SOFT)
    image = m.to_pil()
    assert image.mode == "L" and image.size == (5, 6)
    np.testing.assert_array_equal(np.asarray(image), np.rint(SOFT * 255).astype(np.uint8))
    np.testing.assert_allclose(ChangeMap.from_pil(image).values, SOFT, atol=0.5 / 255 + 1e-7)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.new("1", (3, 2), 1), 1.0),
        (Image.new("LA", (3, 2), (51, 255)), 0.2),
        (Image.new("RGBA", (3, 2), (255, 255, 255, 0)), 0.0),  # alpha multiplies: transparent = keep
        (Image.new("RGB", (3, 2), (0, 255, 0)), 0.587),
        (Image.new("RGB", (3, 2), (0, 255, 0)).convert("P"), 0.587),
        (Image.new("CMYK", (3, 2), (0, 0, 0, 0)), 1.0),
        (Image.fromarray(np.full((2, 3), 13107, np.uint16)), 0.2),
        (Image.fromarray(np.full((2, 3), 13107, np.int32)), 0.2),
        (Image.fromarray(np.full((2, 3), 0.3, np.float32)), 0.3),
    ],
    ids=["1", "LA", "RGBA", "RGB", "P", "CMYK", "I;16", "I", "F"],
)
def test_from_pil_modes(image: Image.Image, expected: float) -> None:
    m = ChangeMap.from_pil(image)
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m.values, expected, atol=1 / 255)


def test_from_pil_rejects_out_of_range_modes() -> None:
    with pytest.raises(ValueError, match=r"change_map: expected values in \[0, 1\]"):
        ChangeMap.from_pil(Image.fromarray(np.full((2, 2), 2.0, np.float32)))
    with pytest.raises(ValueError, match=r"16-bit range"):
        ChangeMap.from_pil(Image.fromarray(np.full((2, 2), 70000, np.int32)))


@pytest.mark.parametrize("suffix", [".png", ".npy"])
def test_save_and_load(tmp_path, suffix: str) -> None:
    m = ChangeMap(SOFT, provenance="x")
    path = tmp_path / f"map{suffix}"
    m.save(path)
    loaded = ChangeMap.from_file(path)
    assert loaded.provenance == f"file('map{suffix}')"
    if suffix == ".npy":
        np.testing.assert_array_equal(loaded.values, SOFT)  # exact
    else:
        with Image.open(path) as image:
            assert image.mode == "L"
        np.testing.assert_allclose(loaded.values, SOFT, atol=0.5 / 255 + 1e-7)
    np.testing.assert_allclose(
        ChangeMap.from_file(str(path), invert=True).values, 1 - loaded.values, atol=1e-7
    )
    assert sorted(os.listdir(tmp_path)) == [f"map{suffix}"]  # no temporary file left behind


def test_save_errors_name_the_path(tmp_path) -> None:
    m = ChangeMap(SOFT)
    missing = tmp_path / "nope" / "map.png"
    with pytest.raises(FileNotFoundError, match=r"nope"):
        m.save(missing)
    with pytest.raises(ValueError, match=r"map\.jpg"):
        m.save(tmp_path / "map.jpg")
    assert os.listdir(tmp_path) == []


def test_atomic_save_leaves_old_file_and_no_temp_on_error(tmp_path, monkeypatch) -> None:
    path = tmp_path / "map.png"
    ChangeMap(np.zeros((2, 2))).save(path)
    before = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match=r"disk full"):
        ChangeMap(np.ones((2, 2))).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["map.png"]


def test_atomic_write_replace_failure_cleans_up(tmp_path, monkeypatch) -> None:
    def broken_replace(src, dst):
        raise PermissionError("no")

    monkeypatch.setattr(io_module.os, "replace", broken_replace)
    with pytest.raises(PermissionError):
        ChangeMap(SOFT).save(tmp_path / "map.npy")
    assert os.listdir(tmp_path) == []


def test_from_file_errors_name_the_path(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing.png"):
        ChangeMap.from_file(tmp_path / "missing.png")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ValueError, match=r"notes.png"):
        ChangeMap.from_file(text)
    bad_npy = tmp_path / "bad.npy"
    bad_npy.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"bad.npy"):
        ChangeMap.from_file(bad_npy)
    with pytest.raises(FileNotFoundError, match=r"is not a file"):
        ChangeMap.from_file(tmp_path)


# ------------------------------------------------------------------------------------------- conversions
def test_array_protocol() -> None:
    m = ChangeMap(SOFT)
    a = np.asarray(m)
    assert a.dtype == np.float32 and a.shape == (6, 5) and not a.flags.writeable
    np.testing.assert_array_equal(a, SOFT)
    copy = np.array(m)
    copy[0, 0] = 2.0  # a real copy, writable, and the map is untouched
    assert m.values[0, 0] == SOFT[0, 0]
    assert np.asarray(m, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match=r"without a copy"):
        m.__array__(np.float64, copy=False)


def test_to_tensor() -> None:
    t = ChangeMap(SOFT).to_tensor()
    assert t.shape == (1, 1, 6, 5) and t.dtype == torch.float32
    t.zero_()  # a copy: writable, independent of the map
    np.testing.assert_array_equal(ChangeMap.from_array(torch.from_numpy(SOFT)).values, SOFT)


def test_derive_and_repr() -> None:
    m = ChangeMap(np.full((384, 512), 0.25), provenance="clipseg('sky')")
    d = m.derive(np.ones((384, 512)), "grow(8)")
    assert d.provenance == "clipseg('sky') | grow(8)" and m.provenance == "clipseg('sky')"
    assert repr(d) == "ChangeMap(512x384, mean=1.00, max=1.00, \"clipseg('sky') | grow(8)\")"
    long = m.derive(m.values, " | ".join(f"grow({i})" for i in range(30)))
    assert len(repr(long)) < 120 and "grow(29)" in repr(long)


# ------------------------------------------------------------------------------------------- previews
def test_overlay_and_side_by_side() -> None:
    image = Image.new("RGB", (20, 12), (0, 0, 255))
    values = np.zeros((6, 10), np.float32)
    values[:, 5:] = 1.0
    m = ChangeMap(values)  # half the image's resolution: the preview resizes it
    over = m.overlay(image, color=(255, 0, 0), alpha=1.0)
    assert over.mode == "RGB" and over.size == (20, 12)
    assert over.getpixel((0, 0)) == (0, 0, 255)  # map 0: the image, untouched
    assert over.getpixel((19, 11)) == (255, 0, 0)  # map 1 at alpha 1: the colour
    half = preview_module.overlay(m, np.asarray(image), alpha=0.5)
    assert half.getpixel((19, 0)) == (128, 0, 128)
    strip = m.side_by_side(image.convert("L"))
    assert strip.mode == "RGB" and strip.size == (60, 12)
    assert strip.getpixel((20, 0)) == (0, 0, 0) and strip.getpixel((39, 0)) == (255, 255, 255)
    with pytest.raises(ValueError, match=r"^alpha"):
        m.overlay(image, alpha=1.5)
    with pytest.raises(ValueError, match=r"^color"):
        m.overlay(image, color=(0, 0))


# ------------------------------------------------------------------------------------------- package
def test_import_automaps_stays_light() -> None:
    code = "import sys, automaps; print(sorted(m for m in ('torch', 'cv2', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert automaps.ChangeMap is ChangeMap and hasattr(automaps.ops, "grow")


@pytest.mark.parametrize("module", [changemap_module, preview_module, io_module])
def test_doctests(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
