"""The bad-input battery of the Python API: users' own photos, maps, phrases, models and paths.

Every case either raises exactly the error type it names, with a one-line message naming the parameter, or
returns the correct result (checked inside the case). Cases register with ``@case(category, ...)``; the
count per category is asserted at the end (at least 40 in all). CLI cases are in ``test_robustness_cli.py``.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import struct
import warnings
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from automaps import ChangeMap
from automaps.errors import ModelNotAvailableError, UnsupportedPipelineError
from automaps.generators import ModelNotAvailableError as MapModelMissing
from pipelines import edit
from pipelines.images import MIN_SIDE, load_image, save_image

RNG = np.random.default_rng(7)
PHOTO = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)  # (H, W, 3): 32x24, not a multiple of 8 in height
HALF = np.zeros((24, 32), np.float32)
HALF[:, 16:] = 0.8  # change the right half, keep the left half bit for bit


@dataclass
class Case:
    category: str
    run: Callable[[Any], Any]
    error: type[BaseException] | None
    match: str | None


CASES: dict[str, Case] = {}


def case(category: str, error: type[BaseException] | None = None, match: str | None = None):
    """Register a case: ``run(ctx)`` raises exactly ``error`` (message matching ``match``) or checks its result."""

    def register(run: Callable[[Any], Any]) -> Callable[[Any], Any]:
        CASES[f"{category}-{run.__name__}"] = Case(category, run, error, match)
        return run

    return register


class Context:
    """What a case may use; the editor and the tiny CLIPSeg are built only when a case asks for them."""

    def __init__(self, request, tmp_path: Path, monkeypatch) -> None:
        self.request, self.tmp, self.monkeypatch = request, tmp_path, monkeypatch

    @property
    def editor(self):
        return self.request.getfixturevalue("editors")("sd", "euler")

    @property
    def sd_folder(self) -> str:
        return str(self.request.getfixturevalue("tiny_folders")["sd"])

    @property
    def clipseg(self) -> str:
        return self.request.getfixturevalue("tiny_clipseg")

    def edit(self, image: Any = None, instruction: str = "make it winter", **kwargs: Any):
        """``edit`` with the tiny SD editor, 2 steps, seed 0, no progress bars."""
        if "model" not in kwargs:
            kwargs["model"] = self.editor
        kwargs.update(steps=kwargs.get("steps", 2), seed=0, progress=False)
        return edit(Image.fromarray(PHOTO) if image is None else image, instruction, **kwargs)

    def file(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path


@pytest.fixture(scope="module")
def tiny_clipseg(tmp_path_factory) -> str:
    from automaps import tiny

    return str(tiny.save_tiny_clipseg(tmp_path_factory.mktemp("robust-clipseg") / "clipseg"))


def png_bytes(image: Image.Image, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


def png16_rgb(array: np.ndarray) -> bytes:
    """A 16-bit RGB PNG written by hand (PIL cannot write one): ``array`` uint16 ``(H, W, 3)``."""
    height, width, _ = array.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def kept_exactly(result, original: np.ndarray) -> None:
    keep = result.change_map.values == 0
    assert result.image.size == (original.shape[1], original.shape[0])
    assert np.array_equal(np.asarray(result.image)[keep], original[keep])


# ------------------------------------------------------------------------------------------- images
@case("image")
def rgba_keeps_alpha_and_transparent_pixels(ctx):
    rgba = np.dstack([PHOTO, np.full((24, 32), 255, np.uint8)])
    rgba[:, 24:, 3] = 0  # transparent strip inside the changed half
    given = rgba.copy()
    result = ctx.edit(rgba, change_map=HALF, crop="off")
    out = np.asarray(result.image)
    assert result.image.mode == "RGBA" and np.array_equal(out[..., 3], rgba[..., 3])
    assert np.array_equal(out[:, 24:], rgba[:, 24:]), "pixels with alpha 0 are unchanged"
    assert not np.array_equal(out[:, 16:24, :3], rgba[:, 16:24, :3]), "opaque changed pixels did change"
    assert np.array_equal(rgba, given), "the input array is not modified"


@case("image")
def la_splits_alpha(ctx):
    grey, alpha = load_image(Image.fromarray(np.dstack([PHOTO[..., 0], PHOTO[..., 1]]), mode="LA"))
    assert grey.mode == "RGB" and np.array_equal(np.asarray(grey)[..., 2], PHOTO[..., 0])
    assert np.array_equal(np.asarray(alpha), PHOTO[..., 1])


@case("image")
def grey_l_becomes_rgb(ctx):
    rgb, alpha = load_image(Image.fromarray(PHOTO[..., 0], mode="L"))
    assert alpha is None and np.array_equal(np.asarray(rgb), np.repeat(PHOTO[..., :1], 3, -1))


@case("image")
def palette_with_transparency(ctx):
    palette = Image.fromarray(PHOTO).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette.info["transparency"] = 0
    rgb, alpha = load_image(palette)
    assert rgb.mode == "RGB" and alpha is not None
    assert np.array_equal(np.asarray(alpha) == 0, np.asarray(palette) == 0)


@case("image")
def cmyk_becomes_rgb(ctx):
    rgb, _ = load_image(Image.fromarray(PHOTO).convert("CMYK"))
    assert np.abs(np.asarray(rgb).astype(int) - PHOTO).max() <= 1


@case("image")
def i16_scaled_by_its_range(ctx):
    values = np.array([[0, 32768, 65535] * 6] * 16, np.uint16)
    rgb, _ = load_image(Image.fromarray(values))
    assert np.asarray(rgb)[0, :3, 0].tolist() == [0, 128, 255], "not clipped to 255 as PIL's convert does"


@case("image")
def int32_and_float_modes(ctx):
    as_int, _ = load_image(Image.fromarray(np.full((16, 16), 1000, np.int32)))
    as_float, _ = load_image(Image.fromarray(np.full((16, 16), 0.5, np.float32)))
    assert np.asarray(as_int)[0, 0, 0] == round(1000 / 65535 * 255) and np.asarray(as_float)[0, 0, 0] == 128


@case("image", ValueError, r"^image: .*NaN")
def float_mode_with_nan(ctx):
    load_image(Image.fromarray(np.full((16, 16), np.nan, np.float32)))


@case("image")
def sixteen_bit_png_files(ctx):
    grey = ctx.file("grey16.png", png_bytes(Image.fromarray(np.full((16, 20), 65535, np.uint16))))
    colour = RNG.integers(0, 65536, (16, 20, 3), dtype=np.uint16)
    rgb16 = ctx.file("rgb16.png", png16_rgb(colour))
    assert np.asarray(load_image(grey)[0]).min() == 255
    assert np.abs(np.asarray(load_image(rgb16)[0]).astype(int) - colour / 257).max() <= 1


@case("image")
def exif_rotated_jpeg_is_edited_upright(ctx):
    sideways = Image.fromarray(RNG.integers(0, 256, (32, 24, 3), dtype=np.uint8))  # stored 24 wide, 32 high
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the photo is 32 wide, 24 high
    path = ctx.tmp / "rotated.jpg"
    sideways.save(path, exif=exif, quality=95)
    before = path.read_bytes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ctx.edit(path, change_map=HALF, crop="off")
    assert not [w for w in caught if "change_map" in str(w.message)], "a map of the upright size fits as is"
    upright = np.asarray(Image.open(path).rotate(-90, expand=True).convert("RGB"))
    assert result.image.size == (32, 24)
    kept_exactly(result, upright)
    assert path.read_bytes() == before, "the input file is not modified"


@case("image", ValueError, rf"^image: 1x1 pixels is too small; the minimum is {MIN_SIDE} pixels per side")
def one_pixel(ctx):
    ctx.edit(Image.new("RGB", (1, 1)))


@case("image", ValueError, rf"^image: 8x8 .*minimum is {MIN_SIDE} pixels")
def eight_pixels(ctx):
    ctx.edit(Image.new("RGB", (8, 8)))


@case("image", ValueError, r"^image: 8x8 .*minimum")
def eight_pixels_to_the_editor(ctx):
    ctx.editor(Image.new("RGB", (8, 8)), "a cat", np.ones((8, 8)), num_inference_steps=1)


@case("image")
def odd_sizes_come_back_exactly(ctx):
    for height, width in ((MIN_SIDE, MIN_SIDE), (37, 53)):
        image = RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)
        change = np.zeros((height, width), np.float32)
        change[:, width // 2 :] = 1.0
        kept_exactly(ctx.edit(image, change_map=change, crop="off"), image)


@case("image")
def large_image_is_edited_within_budget_and_restored(ctx):
    edit_module = importlib.import_module("pipelines.edit")

    sizes = []
    original = edit_module.paste_through_map

    def spy(full, work, edited, change):
        sizes.append(work.size)
        return original(full, work, edited, change)

    ctx.monkeypatch.setattr(edit_module, "paste_through_map", spy)
    image = RNG.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    change = np.zeros((120, 200), np.float32)
    change[:, 100:] = np.linspace(0, 1, 100)
    result = ctx.edit(image, change_map=change, crop="off", max_megapixels=0.006)
    assert sizes == [(100, 60)], "diffusion ran at the budget's size"
    kept_exactly(result, image)
    assert result.change_map.shape == (120, 200)


@case("image", ValueError, r"^image: .*decompression-bomb guard")
def decompression_bomb_error(ctx):
    path = ctx.file("bomb.png", png_bytes(Image.new("RGB", (64, 64))))
    ctx.monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4096 px > 2x the limit: PIL's error
    load_image(path)


@case("image", ValueError, r"^image: .*decompression-bomb guard")
def decompression_bomb_warning_is_an_error(ctx):
    path = ctx.file("bomb.png", png_bytes(Image.new("RGB", (64, 64))))
    ctx.monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # between 1x and 2x: PIL only warns
    load_image(path)


@case("image", ValueError, r"^image: .*garbage\.png is not an image file")
def random_bytes(ctx):
    ctx.edit(ctx.file("garbage.png", RNG.integers(0, 256, 500, dtype=np.uint8).tobytes()))


@case("image", ValueError, r"^image: .*half\.png is corrupt or truncated")
def truncated_png(ctx):
    data = png_bytes(Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    ctx.edit(ctx.file("half.png", data[: len(data) // 2]))


@case("image", ValueError, r"^image: .*half\.jpg is corrupt or truncated")
def truncated_jpeg(ctx):
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    ctx.edit(ctx.file("half.jpg", buffer.getvalue()[: len(buffer.getvalue()) // 2]))


@case("image", ValueError, r"^image: .*notes\.txt is not an image file")
def text_file(ctx):
    ctx.edit(ctx.file("notes.txt", b"make the sky stormy\n"))


@case("image", ValueError, r"^image: .* is a folder")
def folder_as_image(ctx):
    ctx.edit(ctx.tmp)


@case("image", FileNotFoundError, r"^image: no such file")
def missing_file(ctx):
    ctx.edit(ctx.tmp / "missing.jpg")


@case("image", ValueError, r"^image: float values must be in \[0, 1\]")
def float_array_out_of_range(ctx):
    ctx.edit(PHOTO.astype(np.float32))


@case("image", TypeError, r"^image: expected uint8, uint16 or float")
def int64_array(ctx):
    ctx.edit(PHOTO.astype(np.int64))


@case("image", ValueError, r"^image: expected an array .* got shape \(24, 32, 2\)")
def two_channel_array(ctx):
    ctx.edit(PHOTO[..., :2])


@case("image", TypeError, r"^image: expected a path, a PIL image or a numpy array")
def tensor_image(ctx):
    ctx.edit(torch.zeros(3, 32, 32))


# ------------------------------------------------------------------------------------------- maps
@case("map", ValueError, r"^change_map.*NaN")
def nan_map(ctx):
    ctx.edit(change_map=np.where(HALF > 0, np.nan, 0))


@case("map", ValueError, r"^change_map.*NaN or Inf")
def inf_map(ctx):
    ctx.edit(change_map=np.where(HALF > 0, np.inf, 0))


@case("map", ValueError, r"^change_map: expected values in \[0, 1\], got min 0 max 1\.5")
def map_above_one(ctx):
    ctx.edit(change_map=HALF * 1.875)


@case("map", ValueError, r"^change_map: expected values in \[0, 1\], got min -0\.5")
def negative_map(ctx):
    ctx.edit(change_map=HALF - 0.5)


@case("map")
def uint8_map_reads_as_float(ctx):
    as_uint8 = ctx.edit(change_map=np.rint(HALF * 255).astype(np.uint8), crop="off")
    as_float = ctx.edit(change_map=HALF, crop="off")
    np.testing.assert_allclose(as_uint8.change_map.values, HALF, atol=0.5 / 255)
    assert as_uint8.image.tobytes() == as_float.image.tobytes()


@case("map")
def three_channel_map_is_its_luminance(ctx):
    result = ctx.edit(change_map=np.repeat(HALF[..., None], 3, -1), crop="off")
    np.testing.assert_allclose(result.change_map.values, HALF, atol=1e-6)
    kept_exactly(result, PHOTO)


@case("map")
def smaller_map_same_aspect_is_resampled_quietly(ctx):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ctx.edit(change_map=HALF[::2, ::2], crop="off")
    assert not [w for w in caught if "change_map" in str(w.message)]
    assert result.change_map.shape == (24, 32)
    kept_exactly(result, PHOTO)


@case("map")
def other_aspect_map_warns_and_is_stretched(ctx):
    with pytest.warns(UserWarning, match=r"^change_map: size 10x30 has another aspect ratio"):
        result = ctx.edit(change_map=np.ones((30, 10), np.float32), crop="off")
    assert result.change_map.shape == (24, 32)


@case("map")
def all_zero_map_returns_input_without_a_model(ctx):
    edit_module = importlib.import_module("pipelines.edit")

    def no_load(*args, **kwargs):
        raise AssertionError("the diffusion model must not be loaded for an all-zero map")

    ctx.monkeypatch.setattr(edit_module, "load_editor", no_load)
    result = ctx.edit(change_map=np.zeros((24, 32)), model=ctx.sd_folder)
    assert np.array_equal(np.asarray(result.image), PHOTO) and result.timings["diffusion"] == 0
    assert any("all zero" in note for note in result.plan.notes)


@case("map")
def fully_transparent_image_changes_nothing(ctx):
    edit_module = importlib.import_module("pipelines.edit")

    ctx.monkeypatch.setattr(edit_module, "load_editor", lambda *a, **k: pytest.fail("model loaded"))
    rgba = np.dstack([PHOTO, np.zeros((24, 32), np.uint8)])
    result = ctx.edit(rgba, model=ctx.sd_folder)
    assert np.array_equal(np.asarray(result.image), rgba) and result.change_map.max() == 0


@case("map")
def paper_convention_map_with_invert_flag(ctx):
    result = ctx.edit(change_map=1.0 - HALF, invert_map=True, crop="off")
    np.testing.assert_allclose(result.change_map.values, HALF, atol=1e-6)
    assert result.change_map.provenance.endswith("invert")
    kept_exactly(result, PHOTO)


@case("map", ValueError, r"^invert_map: only applies to a change_map")
def invert_without_map(ctx):
    ctx.edit(invert_map=True)


@case("map", ValueError, r"^change_map: .*broken\.png.* is not an image file")
def corrupt_map_file(ctx):
    ctx.edit(change_map=ctx.file("broken.png", b"\x89PNG\r\n\x1a\n not really"))


@case("map", FileNotFoundError, r"^change_map: change map file .* does not exist")
def missing_map_file(ctx):
    ctx.edit(change_map=ctx.tmp / "nope.png")


@case("map", TypeError, r"^change_map: expected a numeric")
def text_as_map(ctx):
    ctx.edit(change_map=np.array([["a", "b"]]))


@case("map")
def sixteen_bit_map_file_and_uniform_number(ctx):
    values = np.zeros((24, 32), np.uint16)
    values[:, 16:] = 65535
    path = ctx.file("map16.png", png_bytes(Image.fromarray(values)))
    assert np.array_equal(ChangeMap.from_file(path).values, values / 65535.0)
    result = ctx.edit(change_map=0.5, crop="off")
    assert np.all(result.change_map.values == 0.5)


# ------------------------------------------------------------------------------------------- text
@case("text", ValueError, r"^instruction: is empty")
def empty_instruction(ctx):
    ctx.edit(instruction="")


@case("text", ValueError, r"^instruction: is empty")
def whitespace_instruction(ctx):
    ctx.edit(instruction=" \t\n ")


@case("text", TypeError, r"^instruction: expected a string, got NoneType")
def none_instruction(ctx):
    ctx.edit(instruction=None)


@case("text")
def two_thousand_characters_truncated_with_a_warning(ctx):
    instruction = ("make it a cold winter morning with snow on every roof " * 40)[:2000]
    with pytest.warns(UserWarning, match=r"^prompt: \d+ tokens, longer than the text encoder's window of 77"):
        result = ctx.edit(instruction=instruction, change_map=HALF)
    assert result.image.size == (32, 24)


@case("text")
def long_negative_prompt_warns(ctx):
    with pytest.warns(UserWarning, match=r"^negative_prompt: .*window of 77"):
        ctx.edit(change_map=HALF, negative_prompt="blurry, " * 100)


@case("text")
def unicode_and_emoji(ctx):
    result = ctx.edit(instruction="make it ❄️ winter — Schnee über Zürich, 雪", change_map=HALF, crop="off")
    assert "❄️" in result.plan.instruction
    kept_exactly(result, PHOTO)


@case("text")
def unparseable_instruction_is_a_global_edit(ctx):
    result = ctx.edit(instruction="🌩️ zxqv blorp 🌩️", strength=0.5)
    assert result.plan.kind == "global" and any("could not parse" in note for note in result.plan.notes)
    assert np.all(result.change_map.values == 0.5)


@case("text", ValueError, r"^prompt: must be a non-empty string")
def empty_prompt_override(ctx):
    ctx.edit(prompt="  ")


# ------------------------------------------------------------------------------------------- models
@case("model", ModelNotAvailableError, r"automaps-test/not-cached.*hf download automaps-test/not-cached")
def missing_weights_offline(ctx):
    ctx.edit(model="automaps-test/not-cached")


@case("model", ValueError, r"^model: .* is not a diffusers pipeline folder")
def folder_that_is_not_a_pipeline(ctx):
    ctx.edit(model=str(ctx.tmp))


@case("model", UnsupportedPipelineError, r"^model: .*pipeline class 'ControlNetSomethingPipeline' is not supported")
def unsupported_pipeline_class(ctx):
    (ctx.tmp / "model_index.json").write_text(json.dumps({"_class_name": "ControlNetSomethingPipeline"}))
    ctx.edit(model=str(ctx.tmp))


@case("model", ValueError, r"^model: .*model_index\.json is not valid JSON")
def corrupt_model_index(ctx):
    (ctx.tmp / "model_index.json").write_text("{ not json")
    ctx.edit(model=str(ctx.tmp))


@case("model", ValueError, r"^id_or_folder: .* is not a diffusers pipeline folder")
def editor_from_a_folder_that_is_not_a_pipeline(ctx):
    from diffdiff import DifferentialEditor

    DifferentialEditor.from_pretrained(ctx.tmp, device="cpu")


@case("model", FileNotFoundError, r"^model: no such folder: \./no/such/model")
def missing_model_folder(ctx):
    ctx.edit(model="./no/such/model")


@case("model", ValueError, r"^model: .*weights\.bin is a file")
def file_as_model(ctx):
    ctx.edit(model=str(ctx.file("weights.bin", b"\x00" * 16)))


@case("model", ValueError, r"^device: 'cuda' is not available")
def unavailable_device(ctx):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    ctx.edit(model=ctx.sd_folder, device="cuda")


@case("model", ValueError, r"^device: 'warp-drive' is not a torch device")
def unknown_device(ctx):
    ctx.edit(model=ctx.sd_folder, device="warp-drive")


@case("model", ValueError, r"^torch_dtype: float16 is not supported on the CPU")
def dtype_the_device_cannot_run(ctx):
    ctx.edit(model=ctx.sd_folder, device="cpu", torch_dtype=torch.float16)


@case("model", ValueError, r"^torch_dtype: unknown dtype 'int8x'")
def unknown_dtype(ctx):
    ctx.edit(model=ctx.sd_folder, torch_dtype="int8x")


@case("model", MapModelMissing, r"automaps-test/no-clipseg.*download it with")
def missing_map_model(ctx):
    ctx.edit(instruction="make the sky stormy", model=ctx.sd_folder,
             map_models={"clipseg": "automaps-test/no-clipseg"})


@case("model", TypeError, r"^model: expected an alias")
def number_as_model(ctx):
    ctx.edit(model=3.5)


@case("model")
def planner_map_with_local_map_model(ctx):
    result = ctx.edit(instruction="make the sky stormy", map_models={"clipseg": ctx.clipseg}, crop="off")
    assert result.change_map.provenance.startswith("clipseg('sky')")
    kept_exactly(result, PHOTO)


# ------------------------------------------------------------------------------------------- files
@case("file", FileNotFoundError, r"^output: cannot save to .*folder .* does not exist")
def output_in_missing_folder(ctx):
    save_image(Image.fromarray(PHOTO), ctx.tmp / "no" / "out.png")


@case("file", PermissionError, r"^output: cannot write to folder .*: permission denied")
def unwritable_folder(ctx):
    import automaps.io

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    ctx.monkeypatch.setattr(automaps.io.os, "open", denied)
    save_image(Image.fromarray(PHOTO), ctx.tmp / "out.png")


@case("file", ValueError, r"^output: unknown image extension '\.xyz'")
def unknown_extension(ctx):
    save_image(Image.fromarray(PHOTO), ctx.tmp / "out.xyz")


@case("file")
def alpha_to_jpeg_is_flattened_with_a_warning(ctx):
    with pytest.warns(UserWarning, match=r"^output: JPEG has no alpha channel"):
        save_image(Image.fromarray(np.dstack([PHOTO, PHOTO[..., 0]]), mode="RGBA"), ctx.tmp / "out.jpg")
    assert Image.open(ctx.tmp / "out.jpg").mode == "RGB"


@case("file")
def failed_write_keeps_the_old_file(ctx):
    from automaps.io import atomic_write

    path = ctx.file("out.png", b"old complete content")
    with pytest.raises(OSError, match="disk full"), atomic_write(path, name="output") as handle:
        handle.write(b"half of the new content")
        raise OSError("disk full")
    assert path.read_bytes() == b"old complete content" and os.listdir(ctx.tmp) == ["out.png"]


@case("file", NotADirectoryError, r"^folder: .* is a file")
def save_result_into_a_file(ctx):
    result = ctx.edit(change_map=np.zeros((24, 32)))
    result.save(ctx.file("taken", b""))


@case("file")
def inputs_are_never_modified(ctx):
    path = ctx.file("photo.png", png_bytes(Image.fromarray(PHOTO)))
    mask = ctx.file("mask.png", png_bytes(Image.fromarray((HALF * 255).astype(np.uint8))))
    stamps = [(p.read_bytes(), p.stat().st_mtime_ns) for p in (path, mask)]
    picture, change = Image.fromarray(PHOTO), HALF.copy()
    ctx.edit(path, change_map=mask)
    ctx.edit(picture, change_map=change)
    assert stamps == [(p.read_bytes(), p.stat().st_mtime_ns) for p in (path, mask)]
    assert np.array_equal(np.asarray(picture), PHOTO) and np.array_equal(change, HALF)


# ------------------------------------------------------------------------------------------- the battery
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, request, tmp_path, monkeypatch):
    item = CASES[name]
    context = Context(request, tmp_path, monkeypatch)
    if item.error is None:
        item.run(context)
        return
    with pytest.raises(item.error, match=item.match) as caught:
        item.run(context)
    assert type(caught.value) is item.error, f"exactly {item.error.__name__}, got {type(caught.value).__name__}"
    assert "\n" not in str(caught.value), "messages are one line"


def test_battery_covers_every_category():
    counts = Counter(item.category for item in CASES.values())
    assert set(counts) == {"image", "map", "text", "model", "file"} and sum(counts.values()) >= 40, counts
