"""The crop decision is a cost model: the crop's work area at the model's native resolution against the
whole image's area within the pixel budget (pipelines.crop)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import pipelines.crop
from pipelines.crop import CROP_GAIN, CropBox, choose_crop, crop_box, crop_work_size


def compact(side: int, fraction: float) -> np.ndarray:
    """A square covering ``fraction`` of a ``side`` x ``side`` image, off centre."""
    change = np.zeros((side, side), np.float32)
    half = round(side * np.sqrt(fraction) / 2)
    cy, cx = int(side * 0.45), int(side * 0.55)
    change[max(0, cy - half) : cy + half, max(0, cx - half) : cx + half] = 1.0
    return change


def thin(side: int) -> np.ndarray:
    """A band 8 % high spanning the whole width."""
    change = np.zeros((side, side), np.float32)
    change[int(side * 0.6) : int(side * 0.68), :] = 0.7
    return change


def test_doctests():
    assert doctest.testmod(pipelines.crop).failed == 0


@pytest.mark.parametrize("fraction", [0.10, 0.30, 0.50])
def test_compact_regions_of_a_large_image_are_cropped_for_a_512_model(fraction):
    change = compact(1024, fraction)
    box = choose_crop(change, (1024, 1024), native=512)
    assert box is not None, "25-50 % regions used to get no crop and cost the whole-image edit"
    rows, cols = np.nonzero(change)
    assert box.top <= rows.min() and box.bottom > rows.max() and box.left <= cols.min() and box.right > cols.max()
    width, height = crop_work_size(box, 512)
    assert width * height <= CROP_GAIN * 1024 * 1024


def test_a_thin_region_spanning_the_image_is_cropped_to_a_band():
    box = choose_crop(thin(1024), (1024, 1024), native=512)
    assert box is not None and box.size[0] == 1024 and box.size[1] < 1024
    assert crop_work_size(box, 512)[0] == 512


@pytest.mark.parametrize("change", [compact(1024, 0.10), compact(1024, 0.30), compact(1024, 0.50)])
def test_no_crop_when_the_native_resolution_is_the_image_size(change):
    # SDXL at 1024 px: a square crop is scaled up to 1024 px and saves nothing...
    assert choose_crop(change, (1024, 1024), native=1024) is None


def test_a_band_is_cropped_even_at_native_size_when_it_is_cheaper():
    # ... but a band across the image stays a band, fewer rows than the whole image.
    box = choose_crop(thin(1024), (1024, 1024), native=1024)
    assert box is not None and box.size[1] < 0.8 * 1024


def test_no_crop_when_the_budget_already_shrinks_the_image_below_the_crop_cost():
    # A 4000x3000 photo edited at the 1 MP budget: a crop of a third of it at native 1024 costs as much.
    change = compact(3000, 0.3)[:, :]
    assert choose_crop(change, (1154, 866), native=1024) is None
    assert choose_crop(change, (1154, 866), native=512) is not None


def test_nothing_changes_no_box():
    assert crop_box(np.zeros((64, 64), np.float32)) is None
    assert choose_crop(np.zeros((64, 64), np.float32), (64, 64), native=512) is None


def test_work_size_keeps_aspect_and_minimum():
    assert crop_work_size(CropBox(0, 0, 100, 50), 512) == (512, 256)
    assert crop_work_size(CropBox(0, 0, 1000, 10), 512, min_side=16) == (512, 16)
