"""Map-generator registry, parameter validation, image conversion, model-free generators and load errors.

The generators that run models are tested in ``test_generators_models.py`` (tiny random models).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import automaps.generators as gen
from automaps.changemap import ChangeMap
from automaps.generators import registry
from automaps.generators.loading import ModelNotAvailableError

BUILTINS = {"auto", "clipseg", "constant", "depth", "fan", "file", "gradient", "grounded", "radial", "saliency", "sam"}


def rgb(height: int = 40, width: int = 48, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


# ------------------------------------------------------------------------------------------ registry
def test_builtins_are_registered_with_complete_specs():
    specs = {s.name: s for s in gen.list_generators()}
    assert set(specs) >= BUILTINS
    for spec in specs.values():
        assert spec.summary
        assert all(isinstance(p, gen.ParamSpec) for p in spec.params.values())
        if spec.default_model is not None:
            assert spec.revision and spec.license
            assert {"device", "dtype"} <= set(spec.params)
    assert specs["clipseg"].default_model == "CIDAS/clipseg-rd64-refined"
    assert specs["grounded"].default_model == "IDEA-Research/grounding-dino-tiny"
    assert specs["sam"].default_model == "facebook/sam-vit-base"
    assert specs["depth"].default_model == "depth-anything/Depth-Anything-V2-Small-hf"
    assert specs["saliency"].extra == "maps"
    assert specs["clipseg"].needs_phrase and not specs["depth"].needs_phrase


def test_import_is_light():
    # `import automaps.generators` must not pull in transformers or OpenCV (a subprocess: this one has them).
    import subprocess

    code = "import sys, automaps.generators; print(any(m in sys.modules for m in ('transformers', 'cv2', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_generator_lists_known_names():
    with pytest.raises(ValueError, match=r"unknown map generator 'nope'.*clipseg.*gradient"):
        gen.get_generator("nope")
    with pytest.raises(ValueError, match="nope"):
        gen.generate(rgb(), "sky", source="nope")


def test_unknown_param_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="'colour'"):
        gen.generate(rgb(), source="gradient", colour="red")


@pytest.mark.parametrize(
    ("source", "params", "pattern"),
    [
        ("constant", {"value": 1.5}, r"'value'.*\[0, 1\].*1.5"),
        ("gradient", {"lo": -0.1}, r"'lo'.*\[0, 1\]"),
        ("fan", {"n": 1}, r"'n'.*\[2, 360\]"),
        ("grounded", {"box_threshold": 2.0}, r"'box_threshold'.*\[0, 1\]"),
        ("clipseg", {"temperature": 0.0}, r"'temperature'.*\[0.01, 100\]"),
        ("constant", {"value": float("nan")}, r"'value'"),
        ("gradient", {"direction": "diagonal"}, r"'direction'.*left-right"),
        ("depth", {"polarity": "middle"}, r"'polarity'.*far"),
    ],
)
def test_out_of_range_param_is_a_value_error_naming_it_and_the_range(source, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        gen.generate(rgb(), "cat", source=source, **params)


def test_non_number_for_a_ranged_param_is_a_type_error():
    with pytest.raises(TypeError, match=r"'value'.*number"):
        gen.generate(rgb(), source="constant", value="high")
    with pytest.raises(TypeError, match=r"'value'.*number"):
        gen.generate(rgb(), source="constant", value=True)


def test_validate_params_fills_defaults():
    spec, _ = gen.get_generator("gradient")
    assert gen.validate_params(spec, {"lo": 0.2}) == {"direction": "left-right", "lo": 0.2, "hi": 1.0}


def test_phrase_and_model_checks():
    with pytest.raises(ValueError, match="phrase"):
        gen.generate(rgb(), None, source="clipseg")
    with pytest.raises(ValueError, match="phrase"):
        gen.generate(rgb(), ["sky", "  "], source="clipseg")
    with pytest.raises(TypeError, match="no model"):
        gen.generate(rgb(), source="gradient", model="some/model")


def test_register_and_decorator_and_duplicates(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    spec = gen.GeneratorSpec("half", "0.5 everywhere")

    @gen.register_generator(spec)
    def half(image, phrase, model):
        return ChangeMap(np.full((image.height, image.width), 0.5, np.float32), provenance="half")

    assert gen.get_generator("half") == (spec, half)
    assert gen.generate(rgb(), source="half").values.mean() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="already registered"):
        gen.register(spec, lambda image, phrase, model: None)
    gen.register(spec, half)  # re-registering the same function is harmless
    wrong = gen.GeneratorSpec("wrong", "returns the wrong size")
    gen.register(wrong, lambda image, phrase, model: ChangeMap(np.zeros((2, 2)), provenance="x"))
    with pytest.raises(RuntimeError, match=r"'wrong'.*\(2, 2\)"):
        gen.generate(rgb(), source="wrong")


def test_entry_points_register_lazily(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)

    def plugin_fn(image, phrase, model, level=0.25):
        return ChangeMap(np.full((image.height, image.width), level, np.float32), provenance=f"plugin({level})")

    pair = (gen.GeneratorSpec("plugin", "a pair", params={"level": gen.ParamSpec(0.25, 0, 1)}), plugin_fn)

    def registers_itself():
        gen.register(gen.GeneratorSpec("selfreg", "a callable"), plugin_fn)

    def broken():
        raise ImportError("plug-in dependency missing")

    def fake_entry_points(group):
        assert group == "automaps.generators"
        return [
            SimpleNamespace(name="pair", value="pkg:pair", load=lambda: pair),
            SimpleNamespace(name="callable", value="pkg:reg", load=lambda: registers_itself),
            SimpleNamespace(name="broken", value="pkg:broken", load=broken),
        ]

    monkeypatch.setattr("importlib.metadata.entry_points", fake_entry_points)
    with pytest.warns(RuntimeWarning, match="broken"):
        names = {s.name for s in gen.list_generators()}
    assert {"plugin", "selfreg"} <= names and names >= BUILTINS
    m = gen.generate(rgb(), source="plugin", level=0.75)
    assert m.provenance == "plugin(0.75)" and np.allclose(m.values, 0.75)
    with pytest.raises(ValueError, match="'level'"):
        gen.generate(rgb(), source="plugin", level=3)


# ------------------------------------------------------------------------------------------ images
def test_image_conversion_all_inputs_agree():
    pil = rgb(40, 48)
    arr = np.asarray(pil)
    chw = torch.from_numpy(arr.copy()).permute(2, 0, 1)
    inputs = [pil, arr, chw.float() / 255, chw, chw[None].float() / 255, pil.convert("RGBA"), arr / 255.0]
    maps = [gen.generate(x, source="saliency").values for x in inputs]
    for m in maps[1:]:
        np.testing.assert_array_equal(m, maps[0])
    grey = gen.generate(pil.convert("L"), source="gradient")
    assert grey.shape == (40, 48)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (np.zeros((4, 4, 2), np.uint8), ValueError),
        (np.zeros((4, 4, 3), np.int32), TypeError),
        (np.full((4, 4, 3), 2.0), ValueError),
        (torch.zeros(2, 3, 4, 4), ValueError),
        ("image.png", TypeError),
    ],
)
def test_image_conversion_rejects_bad_inputs(bad, error):
    with pytest.raises(error, match="image"):
        registry.as_rgb_image(bad)


# ------------------------------------------------------------------------------------------ synthetic
@pytest.mark.parametrize("direction", ["left-right", "right-left", "top-bottom", "bottom-top"])
def test_gradient_is_monotone_along_its_direction(direction):
    m = gen.generate(rgb(40, 48), source="gradient", direction=direction, lo=0.1, hi=0.9)
    assert m.shape == (40, 48) and m.values.dtype == np.float32
    v = m.values
    horizontal = direction in ("left-right", "right-left")
    line = v[0] if horizontal else v[:, 0]
    if direction in ("right-left", "bottom-top"):
        line = line[::-1]
    assert np.all(np.diff(line) > 0)
    assert line[0] == pytest.approx(0.1) and line[-1] == pytest.approx(0.9)
    across = v if horizontal else v.T
    assert np.all(across == across[0])  # constant across the ramp
    assert m.provenance == f"gradient({direction}, 0.1..0.9)"


def test_constant():
    m = gen.generate(rgb(), source="constant", value=0.3)
    assert np.all(m.values == np.float32(0.3)) and m.provenance == "constant(0.3)"


def test_radial_is_one_at_the_centre_and_falls_off():
    m = gen.generate(rgb(41, 61), source="radial", radius=0.5)
    v = m.values
    assert v[20, 30] == 1.0
    assert v[0, 0] == 0.0 and v[20, 0] == 0.0  # outside the radius (0.5 * 41 px) horizontally
    assert v[20, 35] > v[20, 40] > v[20, 45]
    inv = gen.generate(rgb(41, 61), source="radial", radius=0.5, inverted=True).values
    np.testing.assert_allclose(inv, 1 - v, atol=1e-7)
    corner = gen.generate(rgb(41, 61), source="radial", center=(0.0, 0.0)).values
    assert corner[0, 0] > corner[10, 10] > corner[40, 60]
    with pytest.raises(ValueError, match="center"):
        gen.generate(rgb(), source="radial", center=(1.5, 0.5))


@pytest.mark.parametrize("n", [2, 5, 8])
def test_fan_has_n_increasing_sectors_clockwise_from_the_top(n):
    m = gen.generate(rgb(101, 101), source="fan", n=n)
    expected = np.arange(n) / (n - 1)
    np.testing.assert_allclose(np.unique(m.values), expected, atol=1e-7)
    # Walk a circle clockwise from 12 o'clock (y down): the values never decrease and visit every sector.
    angles = np.linspace(0.05, 2 * np.pi - 0.05, 720)  # off the exact 12 o'clock seam, which rounding blurs
    xs = np.round(50 + 40 * np.sin(angles)).astype(int)
    ys = np.round(50 - 40 * np.cos(angles)).astype(int)
    walk = m.values[ys, xs]
    assert np.all(np.diff(walk) >= 0)
    np.testing.assert_allclose(np.unique(walk), expected, atol=1e-7)


def test_file_reads_inverts_and_resizes(tmp_path):
    ramp = np.tile(np.linspace(0, 1, 24, dtype=np.float32), (20, 1))
    path = tmp_path / "map.npy"
    np.save(path, ramp)
    m = gen.generate(rgb(20, 24), source="file", path=path)
    np.testing.assert_array_equal(m.values, ramp)
    assert m.provenance == "file('map.npy')"
    inv = gen.generate(rgb(20, 24), source="file", path=path, invert=True)
    np.testing.assert_allclose(inv.values, 1 - ramp, atol=1e-7)
    big = gen.generate(rgb(40, 48), source="file", path=path)
    assert big.shape == (40, 48) and "resize" in big.provenance
    assert np.all(np.diff(big.values[0]) >= 0)
    with pytest.raises(ValueError, match="path"):
        gen.generate(rgb(), source="file")


# ------------------------------------------------------------------------------------------ saliency
def test_saliency_is_higher_on_a_bright_square_than_far_away():
    a = np.full((96, 128, 3), 30, np.uint8)
    a[36:60, 52:76] = 240
    m = gen.generate(Image.fromarray(a), source="saliency")
    v = m.values
    assert m.shape == (96, 128) and v.dtype == np.float32 and v.min() >= 0 and v.max() <= 1
    assert v[36:60, 52:76].mean() > 3 * v[:12, :12].mean()
    assert v[48, 64] > v[5, 5]
    inv = gen.generate(Image.fromarray(a), source="saliency", invert=True)
    np.testing.assert_allclose(inv.values, 1 - v, atol=1e-7)
    assert inv.provenance == "saliency(spectral_residual, inverted)"
    fine = gen.generate(Image.fromarray(a), source="saliency", method="fine_grained").values
    assert fine[36:60, 52:76].mean() > fine[:12, :12].mean()


def test_saliency_on_a_flat_image_changes_nothing():
    m = gen.generate(Image.new("RGB", (32, 24), (90, 90, 90)), source="saliency", invert=True)
    assert m.max() == 0.0 and "flat" in m.provenance


def test_saliency_without_opencv_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError
    with pytest.raises(ImportError, match=r"automaps\[maps\]"):
        gen.generate(rgb(), source="saliency")


# ------------------------------------------------------------------------------------------ loading errors
def test_missing_model_offline_names_the_id_and_the_download_command(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = "nobody-here/no-such-clipseg-model"
    with pytest.raises(ModelNotAvailableError) as info:
        gen.generate(rgb(), "sky", source="clipseg", model=missing)
    message = str(info.value)
    assert isinstance(info.value, OSError)
    assert "\n" not in message
    assert f"'{missing}'" in message and "HF_HUB_OFFLINE" in message
    assert f"download {missing}" in message and ("hf download" in message or "huggingface-cli download" in message)


def test_missing_folder_is_reported_as_a_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="folder"):
        gen.generate(rgb(), source="depth", model=str(tmp_path / "not" / "there"))
