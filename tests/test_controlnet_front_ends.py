"""ControlNet from the front ends: the ``canny`` generator, ``pipelines.control``, ``edit(controlnet=...,
control=...)`` and the ``--controlnet/--control/--control-scale`` flags of both CLIs, on a tiny SD and a tiny
ControlNet saved to folders. ``edit`` must give exactly what a direct editor call with the same control image,
seed and map gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import make_image
from PIL import Image

from automaps import generate
from pipelines import edit
from pipelines.control import check_control_arguments, control_image

PROMPT = "a stone bridge"


def pil(seed: int = 0, size: int = 64) -> Image.Image:
    return Image.fromarray((make_image(size, size, seed=seed)[0].permute(1, 2, 0).numpy() * 255).astype("uint8"))


def squares() -> Image.Image:
    array = np.zeros((64, 64, 3), np.uint8)
    array[16:48, 16:48] = 255
    return Image.fromarray(array)


@pytest.fixture(scope="module")
def parts(tiny_folders):
    return {"model": str(tiny_folders["sd"]), "controlnet": str(tiny_folders["sd-controlnet-net"])}


def band_map() -> np.ndarray:
    change = np.zeros((64, 64), np.float32)
    change[:, 32:] = 0.75
    return change


def test_canny_generator_finds_the_edges_of_a_square():
    edges = generate(squares(), source="canny")
    assert edges.values.shape == (64, 64) and edges.values.dtype == np.float32
    assert set(np.unique(edges.values)) == {0.0, 1.0}
    # the square's top edge (OpenCV marks it on one of the two rows beside it), nothing inside or far outside
    assert edges.values[15:17, 20:44].max(axis=0).all()
    assert not edges.values[24:40, 24:40].any() and not edges.values[2:10, 2:10].any()
    assert edges.provenance == "canny(100, 200)"
    with pytest.raises(ValueError, match=r"low: expected at most high"):
        generate(squares(), source="canny", low=50, high=10)


def test_control_image_from_a_source_name_an_image_or_a_path(tmp_path):
    image = squares()
    canny = control_image("canny", image)
    assert canny.mode == "RGB" and canny.size == image.size
    assert np.array_equal(np.asarray(canny)[..., 0] / 255, generate(image, source="canny").values)
    path = tmp_path / "hint.png"
    pil(3, size=32).save(path)
    from_path = control_image(path, image)
    assert from_path.size == (64, 64) and from_path.mode == "RGB"
    assert control_image(pil(4), image).tobytes() == pil(4).tobytes()


def test_control_arguments_are_checked_before_anything_loads(tmp_path, editors):
    with pytest.raises(ValueError, match=r"^controlnet: only for a model loaded here"):
        edit(pil(1), "make it a bridge", model=editors("sd"), controlnet="some/controlnet", control="canny")
    with pytest.raises(ValueError, match=r"^control: a ControlNet edit needs a control image"):
        check_control_arguments("some/controlnet", None, 1.0)
    with pytest.raises(FileNotFoundError, match=r"^control: no such file"):
        check_control_arguments("some/controlnet", str(tmp_path / "missing.png"), 1.0)
    with pytest.raises(ValueError, match=r"^control_scale: expected a finite number >= 0"):
        check_control_arguments("some/controlnet", "canny", float("nan"))
    with pytest.raises(TypeError, match=r"^control: expected 'depth', 'canny'"):
        check_control_arguments("some/controlnet", 3, 1.0)


@pytest.fixture(scope="module")
def direct_editor(parts):
    from diffdiff import DifferentialEditor

    editor = DifferentialEditor.from_pretrained(parts["model"], device="cpu", controlnet=parts["controlnet"])
    editor.pipe.set_progress_bar_config(disable=True)
    return editor


@pytest.mark.parametrize("control", ["canny", "image"])
def test_edit_with_a_control_equals_the_editor_call(parts, direct_editor, control):
    image, hint = pil(1), pil(9)
    given = hint if control == "image" else "canny"
    result = edit(image, "make it a bridge", prompt=PROMPT, change_map=band_map(), seed=3, steps=4, progress=False,
                  control=given, control_scale=0.9, **parts)
    assert result.settings["family"] == "sd_controlnet"
    editor = direct_editor
    expected_hint = hint if control == "image" else control_image("canny", image)
    direct = editor(image, PROMPT, band_map(), num_inference_steps=4, generator=torch.Generator().manual_seed(3),
                    control_image=expected_hint, controlnet_conditioning_scale=0.9).images[0]
    assert np.array_equal(np.asarray(result.image), np.asarray(direct))
    kept = band_map() == 0
    assert np.array_equal(np.asarray(result.image)[kept], np.asarray(image)[kept])


def test_edit_control_needs_a_controlnet(editors):
    with pytest.raises(ValueError, match=r"^controlnet: control= needs a ControlNet"):
        edit(pil(1), "make it a bridge", model=editors("sd"), change_map=band_map(), steps=2, control="canny",
             progress=False)


def test_diffdiff_cli_with_a_controlnet(parts, tmp_path, capsys):
    from diffdiff.__main__ import main

    pil(1).save(tmp_path / "in.png")
    Image.fromarray((band_map() * 255).astype("uint8")).save(tmp_path / "map.png")
    base = [str(tmp_path / "in.png"), PROMPT, "--map", str(tmp_path / "map.png"), "--model", parts["model"],
            "--steps", "2", "--device", "cpu"]
    assert main([*base, "-o", str(tmp_path / "out.png"), "--controlnet", parts["controlnet"], "--control", "canny",
                 "--control-scale", "0.5"]) == 0
    assert Image.open(tmp_path / "out.png").size == (64, 64)
    assert main([*base, "-o", str(tmp_path / "bad.png"), "--control", "canny"]) == 2
    assert "--controlnet: --control needs a ControlNet" in capsys.readouterr().err
    assert not (tmp_path / "bad.png").exists()


def test_automaps_edit_parses_the_control_flags():
    from diffdiff.cli_flags import control_flag_values
    from pipelines.cli import build_parser

    args = build_parser().parse_args(["edit", "in.png", "make it winter", "-o", "out.png", "--controlnet", "a/b",
                                      "--controlnet", "c/d", "--control", "depth", "--control-scale", "0.7"])
    assert control_flag_values(args) == {"controlnet": ["a/b", "c/d"], "control": "depth", "control_scale": 0.7}
    args = build_parser().parse_args(["edit", "in.png", "make it winter", "-o", "out.png"])
    assert control_flag_values(args) == {"controlnet": None, "control": None, "control_scale": 1.0}
