"""``pipelines.edit`` end to end with a tiny SD pipeline and tiny map models loaded from folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from automaps import ChangeMap
from pipelines import EditResult, edit


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return Image.fromarray(data.rocket()).resize((80, 56))  # a launch against the sky; not a multiple of 64


@pytest.fixture(scope="module")
def editor(editors):
    return editors("sd", "euler")


def run(photo, instruction, editor, map_models, **kwargs) -> EditResult:
    kwargs.setdefault("steps", 4)
    kwargs.setdefault("seed", 3)
    return edit(photo, instruction, model=editor, map_models=map_models, progress=False, **kwargs)


def unchanged_where_map_is_zero(result: EditResult, original: Image.Image) -> None:
    keep = result.change_map.values == 0
    assert result.image.size == original.size
    assert np.array_equal(np.asarray(result.image)[keep], np.asarray(original.convert("RGB"))[keep])


def test_stormy_sky_plan_map_and_image_agree(photo, editor, map_models):
    result = run(photo, "make the sky stormy", editor, map_models, crop="off")
    assert result.plan.regions == ["sky"] and result.plan.kind == "attribute"
    assert result.change_map.provenance.startswith("clipseg('sky')")
    assert result.change_map.shape == (photo.height, photo.width)
    assert 0 < result.change_map.values.max() <= result.plan.strength + 1e-6
    assert set(result.timings) == {"plan", "map", "load", "diffusion", "total"}
    assert result.seed == 3 and result.settings["steps"] == 4
    assert not np.array_equal(np.asarray(result.image), np.asarray(photo))


def test_kept_pixels_are_exact(photo, editor, map_models):
    values = np.zeros((photo.height, photo.width), np.float32)
    values[:, 40:] = np.linspace(0, 1, 40)
    result = run(photo, "make the sky stormy", editor, map_models, change_map=values, crop="off")
    np.testing.assert_array_equal(result.change_map.values, values)
    assert "change map given by the caller" in " ".join(result.plan.notes)
    unchanged_where_map_is_zero(result, photo)


def test_overrides(photo, editor, map_models):
    result = run(photo, "make the sky stormy", editor, map_models, region="rocket", strength=0.3,
                 prompt="a wooden tower", crop="off")
    assert result.plan.regions == ["rocket"] and result.plan.prompt == "a wooden tower"
    assert result.plan.strength == 0.3 and result.change_map.values.max() <= 0.3 + 1e-6
    assert "rocket" in result.change_map.provenance


def test_global_edit_is_uniform(photo, editor, map_models):
    result = run(photo, "make it winter", editor, map_models)
    assert result.plan.regions == [] and result.plan.kind == "global"
    assert np.ptp(result.change_map.values) == 0 and result.change_map.values.max() == result.plan.strength


def test_same_seed_same_bytes_and_chaining(photo, editor, map_models):
    first = run(photo, "make the sky stormy", editor, map_models)
    again = run(photo, "make the sky stormy", editor, map_models)
    assert first.image.tobytes() == again.image.tobytes()
    second = first.then("add fireworks in the sky")
    assert np.array_equal(np.asarray(second.source), np.asarray(first.image)), "the next edit starts from the result"
    assert second.seed == first.seed and second.plan.prompt == "fireworks in the sky"
    unchanged_where_map_is_zero(second, first.image)


def test_crop_edits_a_small_region_at_native_resolution(editor, map_models):
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 255, (160, 192, 3), dtype=np.uint8))
    values = np.zeros((160, 192), np.float32)
    values[60:100, 90:130] = 1.0  # 5 % of the image
    seen = []
    hook = editor.pipe.unet.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape[-2:])))
    try:
        cropped = run(image, "a red square", editor, map_models, change_map=values, crop="auto")
        crop_latents = set(seen)
        seen.clear()
        whole = run(image, "a red square", editor, map_models, change_map=values, crop="off")
    finally:
        hook.remove()
    box = cropped.settings["crop_box"]
    assert box is not None and whole.settings["crop_box"] is None
    left, top, right, bottom = box
    assert left <= 90 and top <= 60 and right >= 130 and bottom >= 100
    assert cropped.image.size == whole.image.size == image.size
    outside = values == 0
    # Outside the changed area both equal the input, hence each other.
    assert np.array_equal(np.asarray(cropped.image)[outside], np.asarray(whole.image)[outside])
    unchanged_where_map_is_zero(cropped, image)
    native = editor.pipe.unet.config.sample_size
    assert crop_latents == {(native, native)}, "the crop runs at the model's native resolution"
    assert set(seen) == {(160 // 2, 192 // 2)}


def test_save_writes_everything_atomically(photo, editor, map_models, tmp_path):
    result = run(photo, "make the sky stormy", editor, map_models)
    paths = result.save(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths.values())
    record = json.loads(paths["json"].read_text())
    assert record["seed"] == 3 and record["plan"]["regions"] == ["sky"]
    assert record["settings"]["steps"] == 4 and "clipseg" in record["map_provenance"]
    saved = ChangeMap.from_file(paths["change_map"])
    np.testing.assert_allclose(saved.values, result.change_map.values, atol=1 / 255)
    assert Image.open(paths["image"]).size == photo.size


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"crop": "sometimes"}, ValueError, "crop"),
        ({"steps": 0}, ValueError, "steps"),
        ({"seed": -1}, ValueError, "seed"),
        ({"region": "  "}, ValueError, "region"),
        ({"strength": 1.5}, ValueError, "strength"),
        ({"map_models": {"clipsegg": "x"}}, ValueError, "map_models"),
        ({"model": 3.5}, TypeError, "model"),
    ],
)
def test_bad_arguments(photo, editor, map_models, kwargs, error, pattern):
    call = {"model": editor, "map_models": map_models, "steps": 2, "progress": False, **kwargs}
    with pytest.raises(error, match=pattern):
        edit(photo, "make the sky stormy", **call)


def test_bad_image_and_instruction(editor):
    with pytest.raises(FileNotFoundError, match="image"):
        edit("no-such-photo.jpg", "make it winter", model=editor)
    with pytest.raises(ValueError, match="instruction"):
        edit(Image.new("RGB", (32, 32)), "   ", model=editor)
    with pytest.raises(TypeError, match="image"):
        edit(torch.zeros(3, 8, 8), "make it winter", model=editor)
