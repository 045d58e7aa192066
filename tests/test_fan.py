"""Strength Fan: the fan map's geometry, the contact sheet's size, the end-to-end tool and ``automaps fan``."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines import FanResult, strength_fan
from pipelines.cli import main
from pipelines.fan import _uniform_grid, fan_map, fan_strengths
from pipelines.sheet import PAD, contact_sheet, label_height

ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.rocket()).resize((64, 48))


@pytest.fixture(scope="module")
def editor(editors):
    return editors("sd", "euler")


@pytest.mark.parametrize("n", [2, 3, 8, 12])
def test_fan_map_has_n_sectors_valued_k_over_n_minus_1(n):
    change = fan_map((97, 64), n)
    assert change.shape == (64, 97) and change.provenance == f"fan({n})"
    np.testing.assert_allclose(np.unique(change.values), [k / (n - 1) for k in range(n)], atol=1e-7)


def test_fan_map_rises_clockwise_from_twelve_oclock_in_equal_sectors():
    n, width, height = 8, 120, 90
    values = fan_map((width, height), n).values
    y, x = np.mgrid[0:height, 0:width] + 0.5  # pixel centres; the fan's centre is the image centre
    angle = np.mod(np.arctan2(x - width / 2, -(y - height / 2)), 2 * math.pi)  # clockwise from "up"
    sector = np.floor(angle / (2 * math.pi / n))
    away = np.abs(angle / (2 * math.pi / n) - np.rint(angle / (2 * math.pi / n))) > 1e-6  # off sector borders
    np.testing.assert_array_equal(values[away], (sector / (n - 1))[away].astype(np.float32))
    order = np.argsort(angle, axis=None, kind="stable")
    assert np.all(np.diff(values.ravel()[order]) >= 0), "the fan must be monotone clockwise"
    assert values[10, width // 2 + 5] == 0.0 and values[10, width // 2 - 5] == 1.0  # either side of 12 o'clock


def test_fan_strengths_and_bad_n():
    assert fan_strengths(3) == [0.0, 0.5, 1.0]
    for bad in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="n: expected an integer >= 2"):
            fan_strengths(bad)


def test_contact_sheet_size_follows_its_formula():
    tiles = [np.full((30, 40, 3), v, np.uint8) for v in (0, 80, 160, 240, 255)] + [None]
    labels = ["a", "b", "c", "d", "e", ""]
    sheet = contact_sheet(tiles, labels, columns=4, font_size=12, title="tiny random model")
    band = label_height(12)
    assert sheet.size == (4 * (40 + PAD) + PAD, band + 2 * (30 + band + PAD) + PAD)
    # A tile lands where the formula says, and its pixels are kept.
    x, y = PAD + 1 * (40 + PAD), band + PAD
    assert sheet.getpixel((x + 5, y + 5)) == (80, 80, 80)
    bare = contact_sheet(tiles[:3], font_size=0, tile_size=(20, 10))
    assert bare.size == (3 * (20 + PAD) + PAD, 10 + 2 * PAD)


def test_contact_sheet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="labels"):
        contact_sheet([np.zeros((4, 4, 3), np.uint8)], ["a", "b"])
    with pytest.raises(ValueError, match="tiles"):
        contact_sheet([])


def test_strength_fan_end_to_end(editor, photo):
    result = strength_fan(editor, photo, "a stormy sky", n=5, steps=4, seed=2, tile=96)
    assert isinstance(result, FanResult)
    assert result.strengths == [0.0, 0.25, 0.5, 0.75, 1.0] and len(result.grid) == 5
    assert result.image.size == photo.size and all(tile.size == photo.size for tile in result.grid)
    source = np.asarray(photo)
    # Strength 0 keeps every pixel bit for bit: the first grid tile, and the fan's first sector.
    assert np.array_equal(np.asarray(result.grid[0]), source)
    keep = result.change_map.values == 0
    assert keep.any() and np.array_equal(np.asarray(result.image)[keep], source[keep])
    assert not np.array_equal(np.asarray(result.grid[-1]), source)
    # 4 columns: input, fan map, fan edit (+ 1 blank), then the 5 tiles on two rows.
    tile_w, tile_h = 96, 72
    band = label_height(12)
    assert result.sheet.size == (4 * (tile_w + PAD) + PAD, 3 * (tile_h + band + PAD) + PAD)


def test_grid_batches_equal_one_by_one_runs(editor, photo):
    strengths = [0.0, 0.5, 1.0]
    call = {"num_inference_steps": 4, "guidance_scale": None, "negative_prompt": None}
    batched = _uniform_grid(editor, photo, "a stormy sky", strengths, None, 5, call)
    single = _uniform_grid(editor, photo, "a stormy sky", strengths, 1, 5, call)
    for a, b in zip(batched, single, strict=True):
        assert np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max() <= 3


def test_grid_halves_the_batch_on_out_of_memory(photo):
    sizes: list[int] = []

    class TightMemory:
        def __call__(self, images, prompt, maps, generator, **call):
            sizes.append(len(images))
            if len(images) > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return type("Out", (), {"images": list(images)})()

    tiles = _uniform_grid(TightMemory(), photo, "x", fan_strengths(5), None, 0, {})
    assert len(tiles) == 5 and sizes[:3] == [5, 2, 2]


def test_fan_command(tmp_path, photo, tiny_folders, capsys):
    photo.save(tmp_path / "photo.png")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-c", "import sys; from pipelines.cli import main; sys.exit(main())", "fan",
            str(tmp_path / "photo.png"), "a stormy sky", "-o", str(tmp_path / "fan.png"), "--model",
            str(tiny_folders["sd"])]
    result = subprocess.run([*base, "--n", "4", "--steps", "3", "--save-fan", str(tmp_path / "one.png"), "--quiet"],
                            capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "one.png").size == photo.size
    assert Image.open(tmp_path / "fan.png").width > photo.width
    # Errors in-process (no model is loaded before them): one line, exit 2 for bad input, 3 for a missing model.
    assert main([*base[3:], "--n", "1"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: --n: expected an integer >= 2, got 1"
    assert main([*base[3:-1], "automaps-test/missing"]) == 3
    assert "hf download automaps-test/missing" in capsys.readouterr().err
