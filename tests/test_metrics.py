"""Adherence metrics (EM, CAM, DAM, reliability), the evaluation runner and ``automaps evaluate``."""

from __future__ import annotations

import doctest
import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines import metrics
from pipelines.cli import main
from pipelines.evaluate import MAP_FAMILIES, EvalReport, evaluate, family_map

ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((96, 64)))


@pytest.mark.parametrize("module", ["pipelines.metrics", "pipelines.blending", "pipelines.inpaint",
                                    "pipelines.fan"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize(("a", "b"), [(3.0, 0.5), (0.01, -2.0), (250.0, 10.0)])
def test_affine_em_gives_cam_one_and_dam_zero(a, b):
    change = np.random.default_rng(0).random((40, 50))
    em = a * change + b
    assert metrics.cam(change, em) == pytest.approx(1.0, abs=1e-9)
    assert metrics.dam(change, em) == pytest.approx(0.0, abs=1e-6)
    assert metrics.affine_fit(change, em) == pytest.approx((1 / a, -b / a), rel=1e-6, abs=1e-9)


def test_a_falling_affine_em_gives_cam_minus_one_and_still_dam_zero():
    change = np.linspace(0, 1, 600).reshape(20, 30)
    assert metrics.cam(change, 5 - 2 * change) == pytest.approx(-1.0)
    assert metrics.dam(change, 5 - 2 * change) == pytest.approx(0.0, abs=1e-9)


def test_unrelated_map_gives_cam_near_zero_and_dam_near_the_maps_spread():
    rng = np.random.default_rng(1)
    change, em = rng.random((128, 128)), rng.random((128, 128))
    assert abs(metrics.cam(change, em)) < 0.05
    spread = np.linalg.norm(change - change.mean())  # the best constant fit's residual
    assert metrics.dam(change, em) == pytest.approx(spread, rel=0.01)


def test_dam_is_the_least_squares_residual():
    rng = np.random.default_rng(2)
    change, em = rng.random((16, 12)), rng.random((16, 12)) + 0.3 * rng.random((16, 12))
    design = np.stack([em.ravel(), np.ones(em.size)], axis=1)
    coef, *_ = np.linalg.lstsq(design, change.ravel(), rcond=None)
    assert metrics.dam(change, em) == pytest.approx(np.linalg.norm(change.ravel() - design @ coef))
    assert metrics.affine_fit(change, em) == pytest.approx(tuple(coef))


def test_constant_inputs_and_shape_mismatches():
    change = np.linspace(0, 1, 12).reshape(3, 4)
    assert math.isnan(metrics.cam(change, np.ones((3, 4))))
    assert metrics.dam(change, np.ones((3, 4))) == pytest.approx(np.linalg.norm(change - change.mean()))
    with pytest.raises(ValueError, match="em"):
        metrics.cam(change, np.ones((4, 3)))


def test_reliability_score_on_an_edit_whose_change_grows_by_column(photo):
    rng = np.random.default_rng(3)
    height, width = photo.shape[:2]
    amplitude = np.linspace(0, 60, width)[None, :, None]  # no change at the left edge, strong at the right
    noise = rng.normal(0, 1, photo.shape)
    edited = np.clip(photo + amplitude * noise, 0, 255).astype(np.uint8)
    em = metrics.edit_strength_map(photo, edited, "lab")
    assert metrics.reliability_score(em) > 0.9
    gradient = np.broadcast_to(np.linspace(0, 1, width), (height, width))
    assert metrics.cam(gradient, em) > 0.4
    flat = np.clip(photo + 30 * noise, 0, 255).astype(np.uint8)  # the same change everywhere
    assert abs(metrics.reliability_score(metrics.edit_strength_map(photo, flat, "lab"))) < 0.5
    assert metrics.reliability_score(em[:, ::-1]) < -0.9


def test_edit_strength_map_distances(photo):
    assert np.all(metrics.edit_strength_map(photo, photo, "lab") == 0)
    shifted = np.clip(photo.astype(int) + 20, 0, 255).astype(np.uint8)
    em = metrics.edit_strength_map(photo, shifted, "lab")
    assert em.shape == photo.shape[:2] and em.dtype == np.float32 and em.min() >= 0 and em.mean() > 1
    custom = metrics.edit_strength_map(photo, shifted, lambda x, y: np.abs(x - y).sum(-1))
    assert np.allclose(custom, np.abs(photo / 255 - shifted / 255).sum(-1), atol=1e-6)
    with pytest.raises(ValueError, match="edited"):
        metrics.edit_strength_map(photo, photo[:10], "lab")
    with pytest.raises(ValueError, match="distance"):
        metrics.edit_strength_map(photo, photo, "ssim")


def test_lab_matches_scikit_image():
    from skimage.color import rgb2lab

    rgb = np.random.default_rng(4).random((16, 16, 3))
    np.testing.assert_allclose(metrics.srgb_to_lab(rgb), rgb2lab(rgb), atol=1e-3)


@pytest.mark.skipif(metrics.lpips_available(), reason="lpips and its weights are installed here")
def test_lpips_fallback_is_documented_and_explicit_lpips_fails_clearly(photo):
    assert metrics.distance_name("auto") == "lab"
    np.testing.assert_array_equal(metrics.edit_strength_map(photo, photo[::-1], "auto"),
                                  metrics.edit_strength_map(photo, photo[::-1], "lab"))
    with pytest.raises(RuntimeError, match="lpips"):
        metrics.edit_strength_map(photo, photo, "lpips")


def test_bias_correction_subtracts_the_all_change_em():
    em, reference = np.full((2, 2), 3.0), np.array([[1.0, 2.0], [0.0, 3.0]])
    np.testing.assert_array_equal(metrics.bias_corrected(em, reference), [[2, 1], [3, 0]])
    with pytest.raises(ValueError, match="em_all_change"):
        metrics.bias_corrected(em, np.zeros((3, 3)))


def test_family_maps():
    gradient = family_map("gradient", 32).values
    assert gradient[:, 0].max() == 0 and gradient[:, -1].min() == 1 and np.all(np.diff(gradient, axis=1) > 0)
    triangle = family_map("triangle", 33).values
    assert triangle[0, 0] == 0 and triangle[0, 16] == 1 and triangle[0, -1] == 0
    shapes = family_map("shapes", 48, index=2, seed=7).values
    np.testing.assert_array_equal(shapes, family_map("shapes", 48, index=2, seed=7).values)
    assert not np.array_equal(shapes, family_map("shapes", 48, index=3, seed=7).values)
    for family in MAP_FAMILIES:
        values = family_map(family, 40, index=1).values
        assert values.shape == (40, 40) and 0 <= values.min() < values.max() <= 1
    with pytest.raises(ValueError, match="family"):
        family_map("spiral", 32)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    from skimage import data

    folder = tmp_path_factory.mktemp("eval-images")
    Image.fromarray(data.rocket()).resize((60, 40)).save(folder / "rocket.png")
    Image.fromarray(data.coffee()).resize((40, 48)).save(folder / "coffee.jpg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_evaluate_runs_every_family_for_both_methods(editors, image_folder):
    report = evaluate(editors("sd", "euler"), image_folder, "a photo", steps=3, size=32)
    assert isinstance(report, EvalReport) and len(report.rows) == 2 * len(MAP_FAMILIES) * 2
    assert {(r.family, r.method) for r in report.rows} == {(f, m) for f in MAP_FAMILIES
                                                           for m in ("differential", "img2img")}
    for row in report.rows:
        assert -1 <= row.cam <= 1 and row.dam >= 0 and 0 < row.mean_strength < 1
        assert (row.reliability is not None) == (row.family == "gradient")
    table = report.table()
    assert "CAM" in table and "DAM" in table and all(f in table for f in MAP_FAMILIES)
    assert report.settings["distance"] in ("lab", "lpips") and report.settings["bias_correction"] is True
    json.dumps(report.to_dict())


def test_evaluate_command(tmp_path, image_folder, tiny_folders, capsys):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-c", "import sys; from pipelines.cli import main; sys.exit(main())", "evaluate",
            str(image_folder), "--model", str(tiny_folders["sd"]), "--steps", "2", "--size", "24", "--quiet"]
    result = subprocess.run([*base, "--families", "gradient,shapes", "--json", str(tmp_path / "eval.json")],
                            capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert "gradient" in result.stdout and "shapes" in result.stdout and "triangle" not in result.stdout
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert len(saved["rows"]) == 2 * 2 * 2 and saved["settings"]["size"] == 24
    assert main([*base[3:], "--families", "spiral"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: --families")
