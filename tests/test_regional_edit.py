"""``edit()`` on compound plans (one map per part, one ``edit_regions`` pass) and the map builder's new
recipes (a part with its object as the fallback, a position prior, a depth prior), with a tiny SD editor
and tiny random map models loaded from folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from automaps import ops
from automaps.generators import generate
from automaps.planner import plan
from pipelines import edit, maps
from pipelines.maps import map_from_plan
from pipelines.regional import runs_regions, usable_regions

TWO_PARTS = "make the sky stormy and the grass yellow"


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((64, 48))


@pytest.fixture(scope="module")
def editor(editors):
    return editors("sd", "euler")


class Spy:
    """Records the calls of a bound method and runs it (the real tiny model runs)."""

    def __init__(self, target, name: str) -> None:
        self.calls, self._method = [], getattr(target, name)

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self._method(*args, **kwargs)


def test_two_part_edit_runs_edit_regions_once_with_two_maps(photo, editor, map_models, monkeypatch):
    spy = Spy(editor, "edit_regions")
    monkeypatch.setattr(editor, "edit_regions", spy)
    result = edit(photo, TWO_PARTS, model=editor, map_models=map_models, steps=3, seed=5, crop="off",
                  progress=False)
    assert len(spy.calls) == 1
    (image, regions), call = spy.calls[0]
    assert image.size == photo.size  # the whole image: crop="off", within the pixel budget
    assert [prompt for prompt, _ in regions] == ["a stormy sky", "yellow grass"]
    expected = [map_from_plan(photo, part, map_models) for part in plan(TWO_PARTS).parts]
    for (_, got), want in zip(regions, expected, strict=True):
        assert np.array_equal(got.values, want.values)
    # The result's map is the union of the part maps; the plan keeps its parts.
    assert np.array_equal(result.change_map.values, np.maximum(expected[0].values, expected[1].values))
    assert [p.prompt for p in result.plan.parts] == ["a stormy sky", "yellow grass"]
    assert call["num_inference_steps"] == 3 and "prompt" not in call
    # Bit for bit the editor's own regional call on the same maps and seed.
    direct = editor.edit_regions(photo, [(p, m) for p, m in regions], num_inference_steps=3,
                                 generator=torch.Generator().manual_seed(5), negative_prompt=None,
                                 guidance_scale=None).images[0]
    assert np.array_equal(np.asarray(result.image), np.asarray(direct))


def test_single_part_and_overrides_do_not_run_regions(photo, editor, map_models, monkeypatch):
    spy = Spy(editor, "edit_regions")
    monkeypatch.setattr(editor, "edit_regions", spy)
    edit(photo, "make the sky stormy", model=editor, map_models=map_models, steps=2, seed=1, progress=False)
    result = edit(photo, TWO_PARTS, model=editor, map_models=map_models, steps=2, seed=1, progress=False,
                  prompt="a painting")
    assert spy.calls == [] and result.plan.prompt == "a painting"
    assert not runs_regions(plan(TWO_PARTS), change_map=0.5, region=None, prompt=None)
    from pipelines.edit import _apply_overrides

    phrase = _apply_overrides(plan("put a hat on the dog on the left"), "rocket", None, None)
    assert (phrase.parts, phrase.regions, phrase.where, phrase.part) == ([], ["rocket"], None, None)
    assert runs_regions(plan(TWO_PARTS), change_map=None, region=None, prompt=None)


def test_strength_caps_every_part_and_crop_auto_keeps_outside(photo, editor, map_models):
    result = edit(photo, TWO_PARTS, model=editor, map_models=map_models, steps=3, seed=2, strength=0.4,
                  progress=False)
    assert result.change_map.values.max() <= 0.4 + 1e-6
    keep = result.change_map.values == 0
    assert np.array_equal(np.asarray(result.image)[keep], np.asarray(photo)[keep])


def test_family_without_regions_runs_the_union():
    class NoRegions:  # an adapter class that does not declare regions = True
        pass

    class Editor:
        adapter, family = NoRegions(), "kandinsky"

    p = plan(TWO_PARTS)
    regions, noted = usable_regions(Editor(), p, [("a", None), ("b", None)])
    assert regions is None and "kandinsky" in noted.notes[-1]
    assert usable_regions(Editor(), p, None) == (None, p)


# ------------------------------------------------------------------------------------------ map builder
def test_part_map_falls_back_to_the_object(photo, map_models, monkeypatch):
    p = plan("put sunglasses on the man").replace(grow=0, feather=0.0, strength=1.0, generator="clipseg")
    assert p.part == "face"
    monkeypatch.setattr(maps, "EMPTY_PART", 0.0)  # any part map counts as found
    found = map_from_plan(photo, p, map_models)
    assert "man's face" in found.provenance and "not found" not in found.provenance
    monkeypatch.setattr(maps, "EMPTY_PART", 1.01)  # no part map counts as found: the whole man
    whole = map_from_plan(photo, p, map_models)
    assert "face not found" in whole.provenance
    plain = map_from_plan(photo, p.replace(part=None), map_models)
    assert np.array_equal(whole.values, plain.values)


@pytest.mark.parametrize("where", ["left", "bottom right", "center"])
def test_where_is_the_region_times_the_spatial_prior(photo, map_models, where):
    p = plan("make the car red").replace(grow=0, feather=0.0, strength=1.0, generator="clipseg")
    region = map_from_plan(photo, p, map_models)
    placed = map_from_plan(photo, p.replace(where=where), map_models)
    prior = generate(photo, source="spatial", position=where)
    assert np.array_equal(placed.values, ops.intersect(region, prior).values)
    assert f"spatial({where!r})" in placed.provenance


def test_background_and_foreground_weight_by_depth(photo, map_models):
    p = plan("make the people blurry").replace(grow=0, feather=0.0, strength=1.0, generator="clipseg")
    region = map_from_plan(photo, p, map_models)
    for where, polarity in (("background", "far"), ("foreground", "near")):
        depth = generate(photo, source="depth", model=map_models["depth"], polarity=polarity)
        placed = map_from_plan(photo, p.replace(where=where), map_models)
        assert np.array_equal(placed.values, ops.intersect(region, depth).values)


def test_whole_image_plan_with_a_position_is_the_prior(photo, map_models):
    p = plan("add a moon in the top left corner")
    assert p.where == "top left" and p.regions == []
    change = map_from_plan(photo, p, map_models)
    prior = generate(photo, source="spatial", position="top left").values
    assert p.generator == "constant" and p.grow == 0 and p.feather == 0
    assert np.allclose(change.values, prior * p.strength, atol=1e-6)  # uniform x corner prior, scaled
    assert change.values[:12, :16].mean() > 0.8 * p.strength and change.values[36:, 48:].max() == 0


def test_compound_map_is_the_union_of_part_maps(photo, map_models):
    p = plan(TWO_PARTS)  # clipseg regions (the tiny detector is slower); a position on each part
    p = p.replace(parts=[p.parts[0].replace(where="left"), p.parts[1].replace(where="right")])
    union = map_from_plan(photo, p, map_models)
    parts = [map_from_plan(photo, q, map_models) for q in p.parts]
    assert np.array_equal(union.values, np.maximum(parts[0].values, parts[1].values))
