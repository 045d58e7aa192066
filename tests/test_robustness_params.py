"""Issue 11, "Parameters" and "Maps that silently mislead": every public parameter is checked by type and range
before any model loads, the message naming it; change maps are read by one set of rules (lossy files snapped,
alpha multiplies, integer 0/1 arrays are masks) in ``automaps`` and in the editor alike; a map whose maximum
frees (almost) no step says so in one line."""

from __future__ import annotations

import io
import math
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from automaps import ChangeMap
from automaps._inputs import lossy_format, snap_lossy
from diffdiff.call_args import idle_map_message
from diffdiff.inputs import map_batch
from pipelines import edit
from pipelines.checks import check_knobs
from pipelines.cli import main
from pipelines.fan import strength_fan
from pipelines.inpaint import soft_inpaint

RNG = np.random.default_rng(11)
PHOTO = Image.fromarray(RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8))
PROMPT = "a watercolor landscape"


@pytest.fixture()
def missing(tmp_path):
    """A model folder and an image path that do not exist: a parameter error must come before either is read."""
    return tmp_path / "no-such-model", tmp_path / "no-such-image.png"


# ------------------------------------------------------------------------------------------- edit() parameters
BAD_EDIT = [
    ("guidance_scale", math.inf, ValueError), ("guidance_scale", -math.inf, ValueError),
    ("guidance_scale", math.nan, ValueError), ("guidance_scale", -1.0, ValueError),
    ("guidance_scale", True, TypeError), ("guidance_scale", "7.5", TypeError),
    ("guidance_scale", [7.5], TypeError),
    ("strength", math.inf, ValueError), ("strength", -math.inf, ValueError), ("strength", math.nan, ValueError),
    ("strength", 1.5, ValueError), ("strength", -0.1, ValueError), ("strength", True, TypeError),
    ("strength", "0.5", TypeError),
    ("steps", True, TypeError), ("steps", "4", TypeError), ("steps", 2.5, TypeError), ("steps", math.inf, TypeError),
    ("steps", 0, ValueError), ("steps", -3, ValueError),
    ("seed", -1, ValueError), ("seed", 2**64, ValueError), ("seed", 2**70, ValueError), ("seed", True, TypeError),
    ("seed", "3", TypeError), ("seed", 1.0, TypeError), ("seed", math.nan, TypeError),
    ("negative_prompt", 5, TypeError), ("negative_prompt", b"blurry", TypeError),
    ("negative_prompt", ["blurry", 3], TypeError),
    ("max_megapixels", math.inf, ValueError), ("max_megapixels", math.nan, ValueError),
    ("max_megapixels", 0, ValueError), ("max_megapixels", -1, ValueError), ("max_megapixels", True, TypeError),
    ("max_megapixels", "1", TypeError),
    ("invert_map", "yes", TypeError), ("progress", 1, TypeError), ("release_map_models", None, TypeError),
    ("crop", ["auto"], ValueError), ("map_models", ["clipseg"], TypeError),
]


def _id(value) -> str:
    """A test id that is the same in every process (no object addresses): xdist workers must agree."""
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))


@pytest.mark.parametrize(("name", "value", "error"), BAD_EDIT, ids=[f"{n}={_id(v)}" for n, v, _ in BAD_EDIT])
def test_edit_refuses_bad_parameters_before_reading_anything(missing, name, value, error):
    model, image = missing
    with pytest.raises(error, match=rf"^{name}: "):
        edit(image, "make the sky stormy", model=model, change_map=0.5, **{name: value})


@pytest.mark.parametrize("seed", [0, 2**63, 2**64 - 1, np.int64(7)])
def test_edit_accepts_every_seed_torch_takes(editors, seed):
    result = edit(PHOTO, "make the sky stormy", model=editors("sd"), change_map=0.5, steps=2, seed=seed,
                  progress=False, crop="off")
    assert result.seed == seed and result.image.size == PHOTO.size


def test_seed_range_is_exactly_what_manual_seed_takes():
    torch.Generator().manual_seed(2**64 - 1)
    with pytest.raises(RuntimeError):  # torch says "Overflow when unpacking long long" (a ValueError/RuntimeError)
        try:
            torch.Generator().manual_seed(2**64)
        except ValueError as error:
            raise RuntimeError(str(error)) from error
    check_knobs(seed=2**64 - 1)
    with pytest.raises(ValueError, match=r"^seed: expected an integer in \[0, 2\*\*64 - 1\], got 18446744073709551616"):
        check_knobs(seed=2**64)


def test_check_knobs_accepts_numpy_numbers_and_names_by_flag():
    check_knobs(steps=np.int32(4), seed=np.uint64(2**64 - 1), guidance_scale=np.float32(7.5), strength=np.float64(1),
                max_megapixels=0.25)
    check_knobs(guidance_scale=0, strength=0)  # 0: no guidance, no change; both are allowed
    with pytest.raises(ValueError, match=r"^--guidance: expected a finite number >= 0, got inf"):
        check_knobs(guidance_scale=math.inf, names={"guidance_scale": "--guidance"})


# ------------------------------------------------------------------------------------------- the CLI
CLI_BAD = [
    (["--guidance", "inf"], "--guidance: expected a finite number >= 0, got inf"),
    (["--guidance=-inf"], "--guidance: "),
    (["--guidance", "nan"], "--guidance: expected a finite number >= 0, got nan"),
    (["--guidance=-2"], "--guidance: "),
    (["--strength", "nan"], "--strength: expected a finite number in [0, 1], got nan"),
    (["--strength", "inf"], "--strength: "),
    (["--strength", "1.5"], "--strength: "),
    (["--seed=-1"], "--seed: expected an integer in [0, 2**64 - 1], got -1"),
    (["--seed", str(2**64)], "--seed: "),
    (["--steps", "0"], "--steps: expected an integer >= 1"),
    (["--max-megapixels", "inf"], "--max-megapixels: "),
    (["--max-megapixels", "nan"], "--max-megapixels: "),
]


@pytest.mark.parametrize(("flags", "message"), CLI_BAD, ids=[" ".join(f) for f, _ in CLI_BAD])
def test_cli_refuses_non_finite_and_out_of_range_flags_with_exit_2(tmp_path, capsys, flags, message):
    PHOTO.save(tmp_path / "photo.png")
    argv = ["edit", str(tmp_path / "photo.png"), "make the sky stormy", "-o", str(tmp_path / "out.png"),
            "--model", str(tmp_path / "no-such-model"), *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {err[0][len('error: '):]}"] and err[0].startswith(f"error: {message}")
    assert not (tmp_path / "out.png").exists()


# ------------------------------------------------------------------------------------------- the editor
BAD_CALL = [
    ("guidance_scale", math.inf, ValueError), ("guidance_scale", -math.inf, ValueError),
    ("guidance_scale", math.nan, ValueError), ("guidance_scale", -0.5, ValueError),
    ("guidance_scale", True, TypeError), ("guidance_scale", "7", TypeError),
    ("negative_prompt", 5, TypeError), ("negative_prompt", ["ok", 3], TypeError), ("negative_prompt", [], TypeError),
    ("negative_prompt", ("a", "b", "c"), ValueError),
    ("num_inference_steps", True, ValueError), ("num_inference_steps", "30", ValueError),
    ("num_inference_steps", 2.0, ValueError),
    ("num_images_per_prompt", False, ValueError),
    ("generator", [torch.Generator(), 5], TypeError), ("generator", "seed", TypeError),
    ("refiner_start", True, TypeError), ("refiner_start", "0.8", TypeError), ("refiner_start", math.nan, ValueError),
    ("refiner_start", 1.5, ValueError),
    ("invert_map", 1, TypeError), ("preserve_unchanged", "no", TypeError), ("skip_idle_steps", None, TypeError),
    ("output_type", None, ValueError), ("output_type", ["pil"], ValueError),
]


@pytest.mark.parametrize(("name", "value", "error"), BAD_CALL, ids=[f"{n}={_id(v)}" for n, v, _ in BAD_CALL])
def test_editor_names_each_bad_parameter(editors, name, value, error):
    call = {"image": PHOTO, "prompt": PROMPT, "change_map": 0.5, "num_inference_steps": 2, name: value}
    pattern = rf"^{name}(\[\d+\])?: "
    with pytest.raises(error, match=pattern):
        editors("sd")(**call)


@pytest.mark.parametrize("name", ["guidance_scale", "refiner_start", "invert_map", "num_inference_steps"])
def test_editor_checks_parameters_before_reading_the_image(editors, name):
    bad = {"guidance_scale": math.nan, "refiner_start": "x", "invert_map": "x", "num_inference_steps": True}
    with pytest.raises((TypeError, ValueError), match=rf"^{name}: "):
        editors("sd")(None, PROMPT, None, **{"num_inference_steps": 2, name: bad[name]})


# ------------------------------------------------------------------------------------------- fan and inpaint
@pytest.mark.parametrize(("name", "value", "error"), [
    ("guidance_scale", math.nan, ValueError), ("guidance_scale", math.inf, ValueError),
    ("steps", True, TypeError), ("seed", -1, ValueError), ("seed", 2**64, ValueError),
    ("negative_prompt", 3, TypeError), ("prompt", None, TypeError),
])
def test_fan_and_inpaint_check_before_loading(missing, name, value, error):
    model, image = missing
    kwargs = {name: value} if name != "prompt" else {}
    prompt = value if name == "prompt" else PROMPT
    with pytest.raises(error, match=rf"^{name}: "):
        strength_fan(model, image, prompt, **kwargs)
    with pytest.raises(error, match=rf"^{name}: "):
        soft_inpaint(model, image, np.ones((8, 8), bool), prompt, **kwargs)


# ------------------------------------------------------------------------------------------- one reader
def both(value, size=(6, 8)) -> tuple[np.ndarray, np.ndarray]:
    """The map as ``automaps.ChangeMap`` reads it, and as the editor reads it."""
    ours = ChangeMap.from_pil(value) if isinstance(value, Image.Image) else ChangeMap.from_array(value)
    editor = map_batch(value, 1, size)[0, 0].numpy()
    return ours.values, editor


def test_editor_and_changemap_read_alike():
    inputs = [
        np.array(RNG.random((6, 8)), np.float32), RNG.integers(0, 256, (6, 8), dtype=np.uint8),
        RNG.integers(0, 65536, (6, 8), dtype=np.uint16), RNG.random((6, 8)) > 0.5,
        RNG.integers(0, 2, (6, 8), dtype=np.uint16), RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8),
        RNG.integers(0, 256, (6, 8, 4), dtype=np.uint8), torch.rand(1, 6, 8), torch.rand(4, 6, 8),
        Image.fromarray(RNG.integers(0, 256, (6, 8, 4), dtype=np.uint8), "RGBA"),
        Image.fromarray(RNG.integers(0, 256, (6, 8, 2), dtype=np.uint8), "LA"),
        Image.fromarray(RNG.integers(0, 65536, (6, 8), dtype=np.uint16)),
    ]
    for value in inputs:
        ours, editor = both(value)
        np.testing.assert_array_equal(ours, editor)


# ------------------------------------------------------------------------------------------- alpha
def test_alpha_multiplies_the_map_for_pil_and_numpy():
    white = np.full((6, 8, 4), 255, np.uint8)
    white[:, :4, 3] = 0  # left half fully transparent
    white[:, 4:6, 3] = 128
    expected = np.zeros((6, 8), np.float32)
    expected[:, 4:6], expected[:, 6:] = 128 / 255, 1.0
    for value in (white, white / 255.0, Image.fromarray(white, "RGBA"), torch.from_numpy(white).permute(2, 0, 1)):
        for values in both(value):
            np.testing.assert_allclose(values, expected, atol=1e-6)
    la = Image.fromarray(np.dstack([white[..., 0], white[..., 3]]), "LA")
    for values in both(la):
        np.testing.assert_allclose(values, expected, atol=1e-6)
    pa = Image.fromarray(white, "RGBA").convert("PA")
    np.testing.assert_allclose(both(pa)[0], expected, atol=1 / 255)


def test_transparent_palette_entry_is_kept(tmp_path):
    palette = Image.new("P", (8, 6), 1)
    palette.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    ImageDraw.Draw(palette).rectangle([0, 0, 3, 5], fill=0)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png")
    m = ChangeMap.from_file(tmp_path / "p.png")
    assert m.values[:, :4].max() == 0 and m.values[:, 4:].min() == 1


def test_rgba_map_file_transparent_white_is_keep(tmp_path):
    rgba = np.full((6, 8, 4), 255, np.uint8)
    rgba[..., 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    assert ChangeMap.from_file(tmp_path / "m.png").max() == 0


# ------------------------------------------------------------------------------------------- integer arrays
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16, np.int32, np.int64])
def test_every_integer_dtype_holding_0_and_1_is_a_mask(dtype):
    mask = (RNG.random((6, 8)) > 0.5).astype(dtype)
    for values in both(mask):
        np.testing.assert_array_equal(values, mask.astype(np.float32))
    for values in both(torch.from_numpy(mask.astype(np.int64 if dtype in (np.uint32, np.uint64) else dtype))):
        np.testing.assert_array_equal(values, mask.astype(np.float32))


def test_integer_arrays_beyond_0_1_are_scaled_or_refused():
    u8 = np.array([[0, 1, 128, 255]], np.uint8)
    np.testing.assert_allclose(both(u8, (1, 4))[0], u8 / 255, atol=1e-7)
    u16 = np.array([[0, 1, 32768, 65535]], np.uint16)
    np.testing.assert_allclose(both(u16, (1, 4))[1], u16 / 65535, atol=1e-7)
    for bad in (np.array([[0, 2]], np.int32), np.array([[-1, 0]], np.int8), np.array([[0, 300]], np.uint32)):
        with pytest.raises(ValueError, match=r"^change_map: integer dtype .* must hold a 0/1 mask"):
            ChangeMap.from_array(bad)
        with pytest.raises(ValueError, match=r"^change_map: integer dtype"):
            map_batch(bad, 1, (1, 2))


def test_a_0_1_grey_image_is_a_mask(tmp_path):
    mask = (RNG.random((6, 8)) > 0.5).astype(np.uint8)
    Image.fromarray(mask).save(tmp_path / "mask.png")  # the common Image.fromarray(mask.astype(uint8))
    np.testing.assert_array_equal(ChangeMap.from_file(tmp_path / "mask.png").values, mask)
    np.testing.assert_array_equal(both(Image.fromarray(mask))[1], mask)


# ------------------------------------------------------------------------------------------- lossy files
def binary_map() -> np.ndarray:
    image = Image.new("L", (96, 80), 0)
    draw = ImageDraw.Draw(image)
    draw.rectangle([20, 10, 59, 41], fill=255)
    draw.ellipse([60, 44, 90, 74], fill=255)
    return np.asarray(image)


def soft_map() -> np.ndarray:
    """A disk feathered over 16 px, not aligned to JPEG's 8x8 blocks."""
    yy, xx = np.mgrid[:80, :96]
    return np.rint(np.clip((30 - np.hypot(yy - 37, xx - 45)) / 16, 0, 1) * 255).astype(np.uint8)


def far_from_change(values: np.ndarray) -> np.ndarray:
    """Kept pixels whose 8x8 JPEG block holds no changed pixel (JPEG's ringing stays within a block)."""
    h, w = values.shape
    blocks = values.reshape(h // 8, 8, w // 8, 8).max(axis=(1, 3)) > 0
    return ~np.repeat(np.repeat(blocks, 8, 0), 8, 1)


@pytest.mark.parametrize(("fmt", "suffix", "lossy"), [
    ("JPEG", ".jpg", "JPEG"), ("WEBP", ".webp", "lossy WebP"),
    ("JPEG", ".png", "JPEG"),  # told by the bytes, not the name
])
@pytest.mark.parametrize("shape", ["soft", "binary"])
def test_lossy_q75_map_file_is_snapped_with_a_warning(tmp_path, fmt, suffix, lossy, shape):
    values = soft_map() if shape == "soft" else binary_map()
    path = tmp_path / f"{shape}{suffix}"
    Image.fromarray(values).save(path, format=fmt, quality=75)
    raw = np.asarray(Image.open(path).convert("L"))
    keep, full = values == 0, values == 255
    moved_before = int((raw[keep] != 0).sum())
    assert lossy_format(str(path)) == lossy and moved_before > 50, "the codec moves kept pixels (the bug)"
    with pytest.warns(UserWarning, match=rf"^path: '{shape}{suffix}' is a {lossy} file: \d+ values within "
                                         r"8/255 of 0 or 1 were snapped .*save maps as PNG$"):
        m = ChangeMap.from_file(path)
    moved_after = int((m.values[keep] != 0).sum())
    assert (m.values[keep & far_from_change(values)] == 0).all()  # flat areas: exact
    if shape == "soft" and lossy == "JPEG":
        assert moved_after == 0 and (m.values[full] == 1).all()  # a feathered map comes back exact
    elif shape == "soft":
        assert moved_after <= moved_before // 20
    else:  # sharp edges ring by up to ~40/255 at q75: fewer move, but the warning's advice (PNG) stands
        assert moved_after <= moved_before // 2


def test_lossless_files_are_not_snapped(tmp_path):
    values = np.array([[0, 1, 4, 8, 128, 250, 255]] * 16, np.uint8)
    for suffix, options in ((".png", {}), (".webp", {"lossless": True}), (".tif", {})):
        path = tmp_path / f"m{suffix}"
        Image.fromarray(values).save(path, **options)
        assert lossy_format(str(path)) is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.testing.assert_allclose(ChangeMap.from_file(path).values, values / 255, atol=1e-7)


def test_snap_lossy_thresholds():
    values = np.array([0, 8 / 255, 9 / 255, 0.5, 246 / 255, 247 / 255, 1], np.float32)
    snapped, moved = snap_lossy(values)
    np.testing.assert_array_equal(snapped, np.array([0, 0, 9 / 255, 0.5, 246 / 255, 1, 1], np.float32))
    assert moved == 2


def test_jpeg_map_of_exact_black_and_white_does_not_warn(tmp_path):
    buffer = io.BytesIO()
    Image.new("L", (32, 32), 0).save(buffer, "JPEG", quality=75)
    (tmp_path / "black.jpg").write_bytes(buffer.getvalue())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ChangeMap.from_file(tmp_path / "black.jpg").max() == 0


def test_edit_reads_a_jpeg_change_map_with_the_same_rule(tmp_path, editors):
    Image.fromarray(soft_map()).save(tmp_path / "map.jpg", quality=75)
    photo = PHOTO.resize((96, 80))
    with pytest.warns(UserWarning, match=r"^change_map: 'map.jpg' is a JPEG file"):
        result = edit(photo, "make it winter", model=editors("sd"), change_map=tmp_path / "map.jpg", steps=2,
                      seed=0, progress=False, crop="off", max_megapixels=None)
    keep = soft_map() == 0
    assert (result.change_map.values[keep] == 0).all()
    assert np.array_equal(np.asarray(result.image)[keep], np.asarray(photo)[keep])


# ------------------------------------------------------------------------------------------- tiny maximum
@pytest.mark.parametrize(("peak", "steps", "rounding", "expected"), [
    (0.03, 30, "floor", "change_map: its maximum 0.03 frees 0 of 30 steps; nothing changes"),
    (0.05, 30, "floor", "change_map: its maximum 0.05 frees only 1 of 30 steps; the edit is barely visible"),
    (0.05, 10, "floor", "change_map: its maximum 0.05 frees 0 of 10 steps; nothing changes"),
    (0.05, 10, "ceil", "change_map: its maximum 0.05 frees only 1 of 10 steps; the edit is barely visible"),
    (0.5, 2, "floor", None), (0.4, 2, "floor", "change_map: its maximum 0.4 frees 0 of 2 steps; nothing changes"),
    (0.2, 10, "floor", None), (0.0, 30, "floor", None), (1.0, 1, "floor", None),
])
def test_idle_map_message(peak, steps, rounding, expected):
    assert idle_map_message(peak, steps, rounding) == expected


def test_editor_warns_when_the_maximum_frees_no_step(editors):
    change = np.zeros((48, 64), np.float32)
    change[10:30, 10:40] = 0.03
    with pytest.warns(UserWarning, match=r"^change_map: its maximum 0.03 frees 0 of 30 steps; nothing changes$"):
        out = editors("sd")(PHOTO, PROMPT, change, num_inference_steps=30)
    assert np.array_equal(np.asarray(out.images[0]), np.asarray(PHOTO))


def test_editor_warns_when_the_maximum_frees_one_step(editors):
    with pytest.warns(UserWarning, match=r"^change_map: its maximum 0.05 frees only 1 of 20 steps"):
        editors("sd")(PHOTO, PROMPT, 0.05, num_inference_steps=20)


def test_no_warning_for_an_all_zero_or_a_real_map(editors):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        editors("sd")(PHOTO, PROMPT, 0.0, num_inference_steps=30)
        editors("sd")(PHOTO, PROMPT, 0.5, num_inference_steps=2)


def test_edit_warns_and_returns_the_input_when_the_maximum_frees_no_step(editors):
    message = r"^change_map: its maximum 0.03 frees 0 of 30 steps; nothing changes$"
    with pytest.warns(UserWarning, match=message) as seen:
        result = edit(PHOTO, "make it winter", model=editors("sd"), change_map=0.03, steps=30, seed=0,
                      progress=False)
    assert len([w for w in seen if "frees" in str(w.message)]) == 1
    assert np.array_equal(np.asarray(result.image), np.asarray(PHOTO))
    assert result.timings["diffusion"] == 0.0 and any("frees no step" in note for note in result.plan.notes)
