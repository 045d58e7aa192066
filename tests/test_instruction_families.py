"""Instruction-editing families (FLUX.1 Kontext) under a change map, on a tiny random model saved and loaded
back: keep is exact, a uniform map is the stock inpaint variant at ``strength=m`` with an all-ones mask, model
calls follow ``k(max m)``, a batch equals its single runs, the prompt is the instruction verbatim, and the
DiffEdit map from the instruction model itself is in [0, 1] and follows the instruction.

Qwen-Image-Edit's stock pipelines always work at 1024 x 1024 in area (tens of seconds per call even for the tiny
model on a CPU: ~5-10 s for the tiny model), so its tiny case is left out of the family-generic tests and the
few tests here call it with 2 steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CallCounter, make_image
from PIL import Image

from diffdiff.core import steps_for_strength
from diffdiff.reference import stock_img2img
from diffdiff.tiny import TINY_EDITORS

INSTRUCTION = "make the sky stormy"
CASES = [name for name, case in TINY_EDITORS.items() if case.family == "kontext"]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def as_pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


@pytest.mark.parametrize("name", CASES)
def test_family_takes_the_instruction(editors, name):
    editor = editors(name)
    assert editor.family == "kontext" and editor.adapter.takes_instruction
    assert type(editor.pipe).__name__ == "FluxKontextInpaintPipeline"


@pytest.mark.parametrize("name", CASES)
def test_keep_is_exact_in_latents(editors, name):
    """Cells with m = 0 end bit for bit at x0, the pipeline's own encoding of the original."""
    editor = editors(name)
    pipe, adapter = editor.pipe, editor.adapter
    image = make_image(seed=3)
    change = torch.zeros(64, 64)
    change[:, 32:] = 0.8  # the right half of the packed 2x2 latent cells
    out = editor(image, INSTRUCTION, change, num_inference_steps=6, generator=gen(1), output_type="latent")
    final = adapter.unpack(pipe, out.images, (64, 64))
    x0 = pipe._encode_vae_image(pipe.image_processor.preprocess(image, 64, 64), generator=None)
    half = x0.shape[-1] // 2
    assert torch.equal(final[..., :half], x0[..., :half])
    assert not torch.allclose(final[..., half:], x0[..., half:])


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize(("n_steps", "strength"), [(8, 0.5), (25, 0.56), (10, 1.0)])
def test_uniform_map_is_stock_inpaint_with_an_all_ones_mask(editors, name, n_steps, strength):
    """Bit for bit, with the same number of transformer calls (N = 25, m = 0.56 rounds up to 15 steps)."""
    editor = editors(name)
    image = as_pil(make_image(seed=2))
    counter = CallCounter(editor.adapter.denoiser(editor.pipe))
    try:
        out = editor(image, INSTRUCTION, strength, num_inference_steps=n_steps, generator=gen(4), output_type="latent")
        ours, counter.count = counter.count, 0
        stock = stock_img2img(editor, image, INSTRUCTION, strength, n_steps, gen(4))
    finally:
        counter.close()
    assert out.steps_run == steps_for_strength(strength, n_steps, "ceil") == ours == counter.count
    assert torch.equal(out.images, stock)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("peak", [0.05, 0.3, 0.75])
def test_model_calls_follow_the_maps_maximum(editors, name, peak):
    editor = editors(name)
    change = torch.zeros(64, 64)
    change[16:48, 16:48] = peak
    change[:8] = peak / 2
    counter = CallCounter(editor.adapter.denoiser(editor.pipe))
    try:
        with pytest.warns(UserWarning) if steps_for_strength(peak, 10, "ceil") <= 1 else _Nothing():
            out = editor(make_image(seed=1), INSTRUCTION, change, num_inference_steps=10, generator=gen(2))
    finally:
        counter.close()
    assert counter.count == out.steps_run == steps_for_strength(peak, 10, "ceil")


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("name", CASES)
def test_batch_equals_single_runs(editors, name):
    editor = editors(name)
    images = torch.cat([make_image(seed=5), make_image(seed=6)])
    maps = torch.zeros(2, 1, 64, 64)
    maps[0, :, :, 20:] = 0.7
    maps[1, :, 30:, :] = 0.7
    prompts = [INSTRUCTION, "turn the cat into a tiger"]
    batch = editor(images, prompts, maps, num_inference_steps=6, generator=[gen(10), gen(11)],
                   output_type="latent").images
    for b in range(2):
        single = editor(images[b], prompts[b], maps[b, 0], num_inference_steps=6, generator=gen(10 + b),
                        output_type="latent").images
        torch.testing.assert_close(batch[b : b + 1], single, rtol=0, atol=1e-5)


def _recording_prompts(editor, monkeypatch) -> list:
    """Every prompt the pipeline encodes, as it receives it."""
    seen: list = []
    original = editor.pipe.encode_prompt

    def encode_prompt(*args, **kwargs):
        seen.append(kwargs.get("prompt", args[0] if args else None))
        return original(*args, **kwargs)

    monkeypatch.setattr(editor.pipe, "encode_prompt", encode_prompt)
    return seen


@pytest.mark.parametrize("name", CASES)
def test_edit_hands_the_instruction_verbatim_and_the_plan_records_it(editors, name, monkeypatch):
    from pipelines import edit

    editor = editors(name)
    seen = _recording_prompts(editor, monkeypatch)
    change = np.zeros((64, 64), np.float32)
    change[:32] = 0.8
    photo = as_pil(make_image(seed=8))
    result = edit(photo, INSTRUCTION, model=editor, change_map=change, steps=4, seed=1, crop="off", progress=False)
    assert seen == [[INSTRUCTION]]
    assert result.plan.prompt == INSTRUCTION
    assert any("instruction verbatim" in note for note in result.plan.notes)
    assert np.array_equal(np.asarray(result.image)[32:], np.asarray(photo)[32:])
    # An explicit prompt still wins.
    seen.clear()
    edit(photo, INSTRUCTION, model=editor, change_map=change, steps=4, seed=1, crop="off", progress=False,
         prompt="a stormy sky")
    assert seen == [["a stormy sky"]]


@pytest.mark.parametrize("name", CASES)
def test_diffedit_map_from_the_instruction_model(editors, name):
    """``|eps(instruction) - eps("")|``: in [0, 1], not constant, and different for another instruction."""
    from automaps.planner import plan
    from pipelines.instruction import diffedit_change_map

    editor = editors(name)
    photo = as_pil(make_image(seed=9))
    first, _ = diffedit_change_map(editor, photo, INSTRUCTION, plan(INSTRUCTION), n_draws=2)
    second, _ = diffedit_change_map(editor, photo, "turn the cat into a tiger", plan(INSTRUCTION), n_draws=2)
    for change in (first, second):
        assert change.values.shape == (64, 64) and change.values.dtype == np.float32
        assert change.values.min() >= 0.0 and change.values.max() <= 1.0
        assert change.values.max() > change.values.min()
    assert not np.allclose(first.values, second.values)


@pytest.mark.parametrize("name", CASES)
def test_edit_with_map_source_diffedit_needs_no_map_model(editors, name):
    from pipelines import edit

    editor = editors(name)
    photo = as_pil(make_image(seed=4))
    result = edit(photo, INSTRUCTION, model=editor, map_source="diffedit", steps=4, seed=2, crop="off",
                  progress=False)
    assert result.change_map.provenance.startswith("diffedit(")
    assert result.plan.prompt == INSTRUCTION
    assert result.image.size == photo.size


def test_cli_map_source_diffedit_equals_edit(tiny_folders, tmp_path):
    """``automaps edit --map-source diffedit`` on a Kontext folder: the same bytes as ``edit(map_source=...)``;
    beside ``--map`` it is refused before any model loads."""
    from pipelines import edit
    from pipelines.cli import main

    photo_path = tmp_path / "photo.png"
    as_pil(make_image(seed=4)).save(photo_path)
    folder = str(tiny_folders["kontext"])
    out = tmp_path / "out.png"
    assert main(["edit", str(photo_path), INSTRUCTION, "-o", str(out), "--model", folder, "--map-source", "diffedit",
                 "--steps", "4", "--seed", "2", "--crop", "off", "--quiet"]) == 0
    expected = edit(photo_path, INSTRUCTION, model=folder, map_source="diffedit", steps=4, seed=2, crop="off",
                    progress=False)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected.image))
    assert main(["edit", str(photo_path), INSTRUCTION, "-o", str(tmp_path / "no.png"), "--model", folder,
                 "--map", str(photo_path), "--map-source", "diffedit"]) == 2
    assert not (tmp_path / "no.png").exists()


@pytest.mark.parametrize(("kwargs", "error", "pattern"), [
    ({"map_source": "clipseg"}, ValueError, "map_source: expected one of plan, diffedit"),
    ({"map_source": 3}, TypeError, "map_source"),
    ({"map_source": "diffedit", "change_map": 0.5}, ValueError, "not both"),
])
def test_bad_map_source_is_named_before_any_work(kwargs, error, pattern):
    from pipelines import edit

    with pytest.raises(error, match=pattern):
        edit(Image.new("RGB", (32, 32)), INSTRUCTION, model="no-such-model-folder", **kwargs)


def _qwen(editors):
    editor = editors("qwen-edit")
    assert editor.family == "qwen_edit" and editor.adapter.takes_instruction
    assert type(editor.pipe.processor).__name__ == "ImageOnlyQwen2VLProcessor"  # no torchvision needed
    return editor


def test_qwen_uniform_map_is_stock_inpaint_with_an_all_ones_mask(editors):
    editor = _qwen(editors)
    image = as_pil(make_image(seed=2))
    counter = CallCounter(editor.adapter.denoiser(editor.pipe))
    try:
        out = editor(image, INSTRUCTION, 0.5, num_inference_steps=2, generator=gen(4), output_type="latent")
        ours, counter.count = counter.count, 0
        stock = stock_img2img(editor, image, INSTRUCTION, 0.5, 2, gen(4))
    finally:
        counter.close()
    assert out.steps_run == ours == counter.count == 1
    assert torch.equal(out.images, stock)


def test_qwen_keep_is_exact_and_the_prompt_is_the_instruction(editors, monkeypatch):
    from pipelines import edit

    editor = _qwen(editors)
    seen = _recording_prompts(editor, monkeypatch)
    photo = as_pil(make_image(seed=3))
    change = np.zeros((64, 64), np.float32)
    change[:, 32:] = 0.8
    result = edit(photo, INSTRUCTION, model=editor, change_map=change, steps=2, seed=1, crop="off", progress=False)
    assert seen and seen[0] == [INSTRUCTION] and result.plan.prompt == INSTRUCTION
    assert result.image.size == photo.size
    assert np.array_equal(np.asarray(result.image)[:, :32], np.asarray(photo)[:, :32])


def test_qwen_refuses_tensor_images_by_name(editors):
    """Stock Qwen-Image-Edit reads its image's size as PIL's: a tensor has no stock path (refused before any model
    runs; the tiny model is only loaded, never called)."""
    editor = _qwen(editors)
    with pytest.raises(TypeError, match="image: the stock Qwen-Image-Edit pipelines take PIL"):
        editor(make_image(seed=1), INSTRUCTION, 0.5, num_inference_steps=2)


def test_qwen_working_size_is_stocks():
    from diffdiff.families.qwen_edit import working_size

    assert working_size(64, 64, 16) == (1024, 1024)
    assert working_size(427, 640, 16) == (832, 1248)


def test_aliases_and_defaults():
    from diffdiff.models import default_model
    from pipelines.models import MODEL_ALIASES

    assert MODEL_ALIASES["kontext"] == default_model("kontext").model_id == "black-forest-labs/FLUX.1-Kontext-dev"
    assert default_model("kontext").gated
    assert MODEL_ALIASES["qwen-edit"] == "Qwen/Qwen-Image-Edit"
