"""Model generators end to end on tiny random models (real transformers classes and processors).

Each tiny model is built once per session, saved with ``save_pretrained`` and loaded back through
``automaps.generators.generate(..., model=folder)``. Random weights give noise, so the tests check what holds for
any weights: shapes, ranges, provenance, routing, batching = one-by-one, unions, caching.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import automaps.generators as gen
from automaps import tiny
from automaps.changemap import ChangeMap
from automaps.generators import auto as auto_mod
from automaps.generators import clipseg as clipseg_mod
from automaps.generators import grounded as grounded_mod
from automaps.generators import loading
from automaps.generators import sam as sam_mod

H, W = 40, 48  # non-square on purpose: catches (H, W) / (W, H) mix-ups


@pytest.fixture(scope="session")
def tiny_maps(map_models, tmp_path_factory):
    """The session's tiny CLIPSeg, Grounding DINO, SAM and Depth Anything folders (``map_models``, built once
    in conftest) under this module's names, plus a tiny OWLv2."""
    return {
        "clipseg": map_models["clipseg"],
        "dino": map_models["detector"],
        "owlv2": str(tiny.save_tiny_owlv2(tmp_path_factory.mktemp("tiny-owlv2") / "owlv2")),
        "sam": map_models["segmenter"],
        "depth": map_models["depth"],
    }


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8))


def assert_map(m: ChangeMap, shape=(H, W)) -> None:
    assert isinstance(m, ChangeMap)
    assert m.shape == shape
    assert m.values.dtype == np.float32
    assert np.isfinite(m.values).all() and m.values.min() >= 0.0 and m.values.max() <= 1.0


def test_every_model_generator_gives_a_map_at_the_image_size(tiny_maps, image):
    grounded = {"detector": tiny_maps["dino"], "segmenter": tiny_maps["sam"]}
    cases = [
        ("clipseg", "sky", {"model": tiny_maps["clipseg"]}, "clipseg('sky')"),
        ("grounded", "cat", {**grounded, "box_threshold": 0.0}, "grounded('cat', "),
        ("grounded", "cat", {"detector": tiny_maps["owlv2"], "segmenter": tiny_maps["sam"], "box_threshold": 0.0},
         "grounded('cat', "),
        ("sam", None, {"model": tiny_maps["sam"], "points": [(10, 12)]}, "sam(points=1)"),
        ("depth", None, {"model": tiny_maps["depth"]}, "depth(far)"),
        ("auto", "the sky", {"model": tiny_maps["clipseg"], **grounded}, "auto->clipseg('the sky')"),
    ]
    for source, phrase, params, provenance in cases:
        m = gen.generate(image, phrase, source=source, **params)
        assert_map(m)
        assert m.provenance.startswith(provenance), (source, m.provenance)


def test_image_formats_give_the_same_clipseg_map(tiny_maps, image):
    arr = np.asarray(image)
    ref = gen.generate(image, "sky", model=tiny_maps["clipseg"]).values
    tensor = torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255
    for x in (arr, tensor, image.convert("RGBA")):
        np.testing.assert_allclose(gen.generate(x, "sky", model=tiny_maps["clipseg"]).values, ref, atol=1e-6)


# ------------------------------------------------------------------------------------------ clipseg
def test_clipseg_phrase_batch_equals_one_by_one(tiny_maps, image):
    phrases = ["sky", "a red car", "grass"]
    batch = gen.generate(image, phrases, model=tiny_maps["clipseg"])
    singles = [gen.generate(image, p, model=tiny_maps["clipseg"]).values for p in phrases]
    np.testing.assert_allclose(batch.values, np.maximum.reduce(singles), atol=1e-5)
    assert batch.provenance == "clipseg(['sky', 'a red car', 'grass'])"


def test_clipseg_embeds_the_image_once_for_all_phrases(tiny_maps, image):
    model, _ = loading.load(*_clipseg_classes(), tiny_maps["clipseg"])
    calls = []
    handle = model.clip.vision_model.register_forward_pre_hook(lambda mod, args: calls.append(1))
    try:
        gen.generate(image, ["sky", "car", "tree"], model=tiny_maps["clipseg"], negatives=["person", "dog"])
    finally:
        handle.remove()
    assert len(calls) == 1


def test_clipseg_negatives_only_subtract(tiny_maps, image):
    positive = gen.generate(image, ["sky", "sea"], model=tiny_maps["clipseg"])
    minus = gen.generate(image, ["sky", "sea"], model=tiny_maps["clipseg"], negatives=["boat", "bird"])
    assert_map(minus)
    assert np.all(minus.values <= positive.values + 1e-7)
    assert minus.values.sum() < positive.values.sum()
    assert minus.provenance == "clipseg(['sky', 'sea'], negatives=['boat', 'bird'])"
    # Subtracting the phrase itself leaves nothing.
    assert gen.generate(image, "sky", model=tiny_maps["clipseg"], negatives="sky").max() <= 1e-5


def test_clipseg_temperature_and_dtype(tiny_maps, image):
    sharp = gen.generate(image, "sky", model=tiny_maps["clipseg"], temperature=0.5).values
    soft = gen.generate(image, "sky", model=tiny_maps["clipseg"], temperature=4.0).values
    assert np.abs(sharp - 0.5).mean() > np.abs(soft - 0.5).mean()
    half = gen.generate(image, "sky", model=tiny_maps["clipseg"], dtype="bfloat16")
    assert_map(half)


def test_clipseg_tiles_large_images(tiny_maps):
    # The tiny model's input is 64 px: a 150x200 image (> 1.5x) is tiled automatically.
    big = Image.fromarray(np.random.default_rng(1).integers(0, 256, (150, 200, 3), dtype=np.uint8))
    tiled = gen.generate(big, "sky", model=tiny_maps["clipseg"])
    assert_map(tiled, (150, 200))
    assert tiled.provenance == "clipseg('sky', tiled)"
    plain = gen.generate(big, "sky", model=tiny_maps["clipseg"], tile=False)
    assert plain.provenance == "clipseg('sky')"
    assert not np.allclose(tiled.values, plain.values)
    forced = gen.generate(Image.new("RGB", (W, H), "white"), "sky", model=tiny_maps["clipseg"], tile=True)
    assert_map(forced) and "tiled" in forced.provenance


def test_tile_boxes_cover_with_overlap_and_merge_is_a_weighted_average():
    boxes = clipseg_mod.tile_boxes(150, 200, 64)
    cover = np.zeros((150, 200), int)
    for y0, x0, y1, x1 in boxes:
        assert y1 - y0 == x1 - x0 == 64
        cover[y0:y1, x0:x1] += 1
    assert cover.min() >= 1
    xs = sorted({b[1] for b in boxes})
    assert all(b - a <= 48 for a, b in itertools.pairwise(xs))  # >= 1/4 overlap
    assert clipseg_mod.tile_boxes(30, 500, 64)[0] == (0, 0, 30, 30)  # short side < tile: tiles shrink
    # Constant tiles merge to the same constant: the window only weighs, never biases.
    merged = clipseg_mod.merge_tiles(np.full((len(boxes), 2, 64, 64), 0.3, np.float32), boxes, (150, 200))
    np.testing.assert_allclose(merged, 0.3, atol=1e-6)


# ------------------------------------------------------------------------------------------ grounded / sam
def test_grounded_with_threshold_zero_merges_every_box(tiny_maps, image):
    det, proc = grounded_mod.load_detector(tiny_maps["dino"])
    boxes, scores = grounded_mod.detect_boxes(det, proc, image, ["cat"], box_threshold=0.0)
    assert len(boxes) > 1 and np.all(np.diff(scores) <= 0)
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    assert boxes[:, 2].max() <= W and boxes[:, 3].max() <= H and boxes.min() >= 0
    m = gen.generate(image, "cat", source="grounded", detector=tiny_maps["dino"], segmenter=tiny_maps["sam"],
                     box_threshold=0.0)
    assert m.provenance == f"grounded('cat', {len(boxes)} boxes)"
    singles = [gen.generate(image, source="sam", model=tiny_maps["sam"], boxes=[b]).values for b in boxes.tolist()]
    np.testing.assert_allclose(m.values, np.maximum.reduce(singles), atol=1e-5)
    assert any(np.abs(s - m.values).max() > 1e-3 for s in singles)  # several boxes really contribute


def test_sam_box_chunks_do_not_change_the_union(tiny_maps, image, monkeypatch):
    boxes = [(0, 0, 20, 20), (10, 5, 40, 30), (20, 20, 47, 39), (5, 25, 30, 39), (1, 1, 46, 38)]
    whole = gen.generate(image, source="sam", model=tiny_maps["sam"], boxes=boxes).values
    monkeypatch.setattr(sam_mod, "BOX_CHUNK", 2)
    np.testing.assert_allclose(gen.generate(image, source="sam", model=tiny_maps["sam"], boxes=boxes).values,
                               whole, atol=1e-5)  # batch size changes float rounding only


def test_grounded_max_boxes_and_owlv2(tiny_maps, image):
    one = gen.generate(image, "cat", source="grounded", detector=tiny_maps["dino"], segmenter=tiny_maps["sam"],
                       box_threshold=0.0, max_boxes=1)
    assert one.provenance == "grounded('cat', 1 box)"
    owl = gen.generate(image, ["cat", "dog"], source="grounded", model=tiny_maps["owlv2"],
                       segmenter=tiny_maps["sam"], box_threshold=0.0)
    assert_map(owl) and owl.provenance.startswith("grounded(['cat', 'dog'], ")


def test_grounded_without_boxes_is_all_zero(tiny_maps, image):
    m = gen.generate(image, "cat", source="grounded", detector=tiny_maps["dino"], segmenter=tiny_maps["sam"],
                     box_threshold=1.0)
    assert_map(m)
    assert m.max() == 0.0 and m.provenance == "grounded('cat', no boxes)"


def test_sam_prompts_and_errors(tiny_maps, image):
    a = gen.generate(image, source="sam", model=tiny_maps["sam"], points=[(10, 10), (30, 20)], labels=[1, 0])
    b = gen.generate(image, source="sam", model=tiny_maps["sam"], boxes=[(2, 2, 30, 30)], points=[(10, 10)])
    assert_map(a) and assert_map(b)
    assert b.provenance == "sam(points=1, boxes=1)"
    with pytest.raises(ValueError, match="points"):
        gen.generate(image, source="sam", model=tiny_maps["sam"])
    with pytest.raises(ValueError, match="labels"):
        gen.generate(image, source="sam", model=tiny_maps["sam"], points=[(1, 1)], labels=[1, 1])
    with pytest.raises(ValueError, match="x1 > x0"):
        gen.generate(image, source="sam", model=tiny_maps["sam"], boxes=[(30, 2, 10, 30)])


# ------------------------------------------------------------------------------------------ depth
def test_depth_polarity_and_gamma(tiny_maps, image):
    far = gen.generate(image, source="depth", model=tiny_maps["depth"])
    near = gen.generate(image, source="depth", model=tiny_maps["depth"], polarity="near")
    squared = gen.generate(image, source="depth", model=tiny_maps["depth"], gamma=2.0)
    assert_map(far)
    np.testing.assert_allclose(far.values + near.values, 1.0, atol=1e-6)
    np.testing.assert_allclose(squared.values, far.values**2, atol=1e-6)
    assert far.min() == 0.0 and far.max() == pytest.approx(1.0)
    assert near.provenance == "depth(near)" and squared.provenance == "depth(far, gamma=2)"


# ------------------------------------------------------------------------------------------ auto
@pytest.mark.parametrize(
    ("phrase", "stuff"),
    [("sky", True), ("the stormy sky above the city", True), ("brick walls", True), ("Background", True),
     ("the cat", False), ("a man on the beach", False), ("two red cars", False)],
)
def test_stuff_detection(phrase, stuff):
    assert auto_mod.is_stuff(phrase) is stuff


def test_auto_routes_stuff_to_clipseg_and_things_to_grounded(tiny_maps, image):
    models = {"model": tiny_maps["clipseg"], "detector": tiny_maps["dino"], "segmenter": tiny_maps["sam"]}
    sky = gen.generate(image, "sky", source="auto", **models)
    assert sky.provenance == "auto->clipseg('sky')"
    np.testing.assert_array_equal(sky.values, gen.generate(image, "sky", model=tiny_maps["clipseg"]).values)

    cat = gen.generate(image, "cat", source="auto", box_threshold=0.0, **models)
    assert cat.provenance.startswith("auto->grounded('cat', ")
    grounded = gen.generate(image, "cat", source="grounded", detector=tiny_maps["dino"],
                            segmenter=tiny_maps["sam"], box_threshold=0.0)
    np.testing.assert_array_equal(cat.values, grounded.values)

    fallback = gen.generate(image, "cat", source="auto", box_threshold=1.0, **models)
    assert fallback.provenance == "auto->clipseg('cat', no boxes)"
    np.testing.assert_array_equal(fallback.values, gen.generate(image, "cat", model=tiny_maps["clipseg"]).values)

    mixed = gen.generate(image, ["sky", "cat"], source="auto", box_threshold=1.0, **models)
    assert mixed.provenance == "auto->clipseg(['cat'], no boxes) + auto->clipseg(['sky'])"
    np.testing.assert_allclose(mixed.values, np.maximum(sky.values, fallback.values), atol=1e-6)


# ------------------------------------------------------------------------------------------ loading
def _clipseg_classes():
    import transformers

    return transformers.CLIPSegForImageSegmentation, transformers.CLIPSegProcessor


def test_model_cache_returns_the_same_object_and_release_empties_it(tiny_maps):
    loading.release()
    first = loading.load(*_clipseg_classes(), tiny_maps["clipseg"])
    assert loading.load(*_clipseg_classes(), tiny_maps["clipseg"]) is first
    assert loading.load(*_clipseg_classes(), tiny_maps["clipseg"])[0] is first[0]
    other = sam_mod.load_sam(tiny_maps["sam"])
    assert len(loading.cached()) == 2
    assert gen.release(tiny_maps["sam"]) == 1
    assert [c[0] for c in loading.cached()] == [str(Path(tiny_maps["clipseg"]).resolve())]
    assert sam_mod.load_sam(tiny_maps["sam"])[0] is not other[0]
    assert gen.release() == 2 and loading.cached() == []
    assert loading.load(*_clipseg_classes(), tiny_maps["clipseg"])[0] is not first[0]
    # A different dtype is a different cache entry.
    half = loading.load(*_clipseg_classes(), tiny_maps["clipseg"], dtype="bfloat16")
    assert next(half[0].parameters()).dtype == torch.bfloat16


def test_broken_folder_raises_the_real_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(Exception) as info:  # whatever transformers raises, but not "not available"
        loading.load(*_clipseg_classes(), tmp_path)
    assert not isinstance(info.value, gen.ModelNotAvailableError)
