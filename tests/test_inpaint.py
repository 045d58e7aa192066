"""Soft inpainting: the map's properties, the α / Poisson / Laplacian baselines on synthetic images, the tool
end to end and ``automaps inpaint``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from pipelines import InpaintResult, soft_inpaint
from pipelines.blending import alpha_blend, laplacian_blend, poisson_blend
from pipelines.cli import main
from pipelines.inpaint import FALLOFFS, falloff_curve, read_hole, soft_inpaint_map
from pipelines.sheet import PAD, label_height

ROOT = Path(__file__).resolve().parents[1]



def disk(height: int = 64, width: int = 80, radius: float = 12.0) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return (x - width / 2) ** 2 + (y - height / 2) ** 2 <= radius**2


def smooth_image(height: int = 64, width: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth colourful uint8 image in [40, 215] (no clipping when shifted by ±40)."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 8, width // 8, 3))
    big = np.stack([ndimage.zoom(coarse[..., c], 8, order=3) for c in range(3)], axis=-1)
    return np.rint(40 + 175 * np.clip(big, 0, 1)).astype(np.uint8)


@pytest.mark.parametrize("falloff", FALLOFFS)
def test_soft_map_is_one_in_the_hole_zero_far_away_and_monotone(falloff):
    hole, band = disk(), 10.0
    change = soft_inpaint_map(hole, band, falloff)
    values = change.values
    distance = ndimage.distance_transform_edt(~hole)
    assert change.shape == hole.shape and values.dtype == np.float32
    assert np.all(values[hole] == 1.0)
    assert np.all(values[distance >= band] == 0.0)
    ring = (distance > 0) & (distance < band)
    assert np.all((values[ring] > 0) & (values[ring] < 1))
    order = np.argsort(distance, axis=None, kind="stable")
    assert np.all(np.diff(values.ravel()[order]) <= 1e-6), "the map must not rise away from the hole"
    assert change.provenance == f"soft_inpaint(band=10, {falloff})"


def test_band_zero_is_the_hard_mask_and_bad_arguments_fail():
    hole = disk()
    np.testing.assert_array_equal(soft_inpaint_map(hole, 0).values, hole.astype(np.float32))
    with pytest.raises(ValueError, match="band"):
        soft_inpaint_map(hole, -1)
    with pytest.raises(ValueError, match="falloff"):
        soft_inpaint_map(hole, 4, "cubic")
    with pytest.raises(ValueError, match="no hole"):
        soft_inpaint_map(np.zeros_like(hole), 4)


@pytest.mark.parametrize("falloff", FALLOFFS)
def test_falloff_curves_run_from_one_to_zero(falloff):
    t = np.linspace(0, 1, 101)
    f = falloff_curve(t, falloff)
    assert f[0] == pytest.approx(1.0) and f[-1] == pytest.approx(0.0, abs=1e-7)
    assert np.all(np.diff(f) <= 1e-7)


def test_read_hole_accepts_images_files_and_other_sizes(tmp_path):
    hole = disk(32, 40, 6)
    Image.fromarray(hole.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    np.testing.assert_array_equal(read_hole(tmp_path / "mask.png"), hole)
    assert read_hole(Image.fromarray(hole.astype(np.uint8) * 255), size=(80, 64)).shape == (64, 80)
    with pytest.raises(ValueError, match="no hole"):
        read_hole(np.zeros((8, 8), np.float32))


def test_alpha_blend_mixes_per_pixel():
    bg, fg = np.zeros((2, 3, 3), np.uint8), np.full((2, 3, 3), 200, np.uint8)
    alpha = np.array([[0.0, 0.5, 1.0], [1.0, 0.25, 0.0]])
    out = alpha_blend(bg, fg, alpha)
    np.testing.assert_array_equal(out[..., 0], [[0, 100, 200], [200, 50, 0]])
    with pytest.raises(ValueError, match="alpha"):
        alpha_blend(bg, fg, alpha * 2)


def test_poisson_blend_removes_a_colour_offset_and_keeps_the_outside():
    background = smooth_image()
    foreground = (background.astype(np.int16) + 40).astype(np.uint8)  # same gradients, brighter
    mask = disk()
    out = poisson_blend(background, foreground, mask)
    # Same gradients + the background's boundary values: the solution is the background itself.
    assert np.abs(out[mask].astype(int) - background[mask]).mean() < 2.0
    outside = ~ndimage.binary_dilation(mask, np.ones((3, 3), bool), iterations=2)
    assert np.abs(out[outside].astype(int) - background[outside]).max() <= 1  # OpenCV rounds near the border
    np.testing.assert_array_equal(poisson_blend(background, foreground, np.zeros_like(mask)), background)


def test_laplacian_blend_reconstructs_and_seams_smoothly():
    a, b = smooth_image(seed=1), smooth_image(seed=2)
    half = np.zeros(a.shape[:2], np.float32)
    half[:, 40:] = 1
    np.testing.assert_array_equal(laplacian_blend(a, b, np.zeros_like(half)), a)
    np.testing.assert_array_equal(laplacian_blend(a, b, np.ones_like(half)), b)
    np.testing.assert_array_equal(laplacian_blend(a, a, half), a)
    out = laplacian_blend(a, b, half, levels=3).astype(int)
    assert np.abs(out[:, :20] - a[:, :20]).max() <= 1 and np.abs(out[:, 60:] - b[:, 60:]).max() <= 1
    # Across the seam the step is smaller than a hard cut's: the low frequencies are mixed over a wide band.
    hard = np.where(half[..., None] > 0, b, a).astype(int)
    assert np.abs(out[:, 40] - out[:, 39]).mean() < 0.5 * np.abs(hard[:, 40] - hard[:, 39]).mean()


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea()).resize((72, 48))


def test_soft_inpaint_end_to_end(editors, cat):
    hole = np.zeros((48, 72), bool)
    hole[14:30, 24:48] = True
    result = soft_inpaint(editors("sd", "euler"), cat, hole, "a tiger", band=6, falloff="linear", steps=4, seed=1,
                          tile=72)
    assert isinstance(result, InpaintResult)
    source = np.asarray(cat)
    keep = result.change_map.values == 0
    assert np.array_equal(np.asarray(result.image)[keep], source[keep]), "beyond the band the input is kept"
    assert not np.array_equal(np.asarray(result.image)[hole], source[hole])
    assert set(result.baselines) == {"alpha", "poisson", "laplacian"} and result.fill.size == cat.size
    assert np.array_equal(np.asarray(result.baselines["alpha"])[keep], source[keep])
    band = label_height(12)
    assert result.sheet.size == (4 * (72 + PAD) + PAD, 2 * (48 + band + PAD) + PAD)


def test_inpaint_command(tmp_path, cat, tiny_folders, capsys):
    cat.save(tmp_path / "cat.png")
    mask = np.zeros((48, 72), np.uint8)
    mask[14:30, 24:48] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-c", "import sys; from pipelines.cli import main; sys.exit(main())", "inpaint",
            str(tmp_path / "cat.png"), str(tmp_path / "mask.png"), "a tiger", "-o", str(tmp_path / "out.png"),
            "--model", str(tiny_folders["sd"]), "--steps", "3"]
    extra = ["--band", "5", "--compare", str(tmp_path / "compare.png"), "--save-map", str(tmp_path / "map.png")]
    result = subprocess.run([*base, *extra, "--quiet"], capture_output=True, text=True, env=env, timeout=600,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "out.png").size == cat.size
    assert Image.open(tmp_path / "map.png").mode == "L" and (tmp_path / "compare.png").is_file()
    assert main([*base[3:], "--falloff", "cubic"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: --falloff")
    assert main([*base[3:5], str(tmp_path / "missing.png"), *base[6:]]) == 2
    assert "error: mask: no such file" in capsys.readouterr().err
