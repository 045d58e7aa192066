"""The DiffEdit generator: noise predictions of the loaded editor's own model, kept soft."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from helpers import CallCounter
from PIL import Image

import automaps.generators.diffedit
from automaps import ChangeMap, generate


@pytest.fixture(scope="module")
def photo():
    return Image.fromarray((np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8))


def test_doctests():
    assert doctest.testmod(automaps.generators.diffedit).failed == 0


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_identical_prompts_give_a_zero_map(editors, photo, family):
    change = generate(photo, "a tiger", source="diffedit", editor=editors(family), source_prompt="a tiger", n_draws=2)
    assert isinstance(change, ChangeMap) and change.shape == (40, 56)
    assert change.values.max() == 0.0


@pytest.mark.parametrize("family", ["sd", "sdxl", "sd3", "flux"])
def test_different_prompts_give_a_soft_map(editors, photo, family):
    change = generate(photo, "a tiger", source="diffedit", editor=editors(family), source_prompt="a cat", n_draws=2)
    assert change.values.dtype == np.float32 and change.shape == (40, 56)
    assert change.values.min() >= 0.0 and change.values.max() == 1.0
    assert len(np.unique(change.values)) > 10, "kept soft, not thresholded"
    assert change.provenance == "diffedit('a tiger' vs 'a cat', 2 draws)"


def old_predict_noise(editor, image, prompts, *, strength=0.5, num_inference_steps=10, n_draws=2, seed=0):
    """The probe as it was before it batched: one editor call per prompt and draw (each encoding the image
    and the prompt again, with the pipeline's default guidance), the conditional half of the first
    denoiser output kept."""
    adapter, pipe, captured = editor.adapter, editor.pipe, []

    def grab(module, args, output):
        if not captured:
            captured.append(output[0] if isinstance(output, tuple) else output.sample)

    def stop(pipe, step_index, timestep, callback_kwargs):
        pipe._interrupt = True
        return callback_kwargs

    size = adapter.processing_size(pipe, image.height, image.width)
    handle, draws = adapter.denoiser(pipe).register_forward_hook(grab), []
    try:
        for prompt in prompts:
            for draw in range(n_draws):
                captured.clear()
                probe = editor(image, prompt, strength, num_inference_steps=num_inference_steps, guidance_scale=None,
                               generator=torch.Generator().manual_seed(seed + draw), output_type="latent",
                               callback_on_step_end=stop)
                draws.append(adapter.unpack(pipe, captured[0][-probe.images.shape[0]:], size).float())
    finally:
        handle.remove()
        pipe._interrupt = False
    return torch.cat(draws).reshape(len(prompts), n_draws, *draws[0].shape[1:])


@pytest.mark.parametrize("family", ["sd", "sdxl", "sd3", "flux"])
def test_batched_probe_equals_one_editor_call_per_prompt_and_draw(editors, photo, family):
    editor = editors(family)
    prompts = ["a tiger", "a cat", "a tiger"]
    old = old_predict_noise(editor, photo, prompts, n_draws=3)
    new = editor.predict_noise(photo, prompts, n_draws=3, max_batch=4)
    assert new.shape == old.shape and new.dtype == torch.float32 and new.device.type == "cpu"
    # Measured on the tiny models: at most 2e-6 apart (predictions of magnitude ~2): batch size only.
    torch.testing.assert_close(new, old, atol=1e-4, rtol=0)
    assert not torch.allclose(new[0], new[1]), "the prompts differ"


@pytest.mark.parametrize("family", ["kandinsky", "if-1"])
def test_generic_probe_equals_the_old_probe(editors, photo, family):
    # No prompt embeddings from these adapters: one editor call per prompt and draw, conditional branch only.
    editor = editors(family)
    old = old_predict_noise(editor, photo, ["a tiger", "a cat"], n_draws=1, num_inference_steps=2)
    new = editor.predict_noise(photo, ["a tiger", "a cat"], n_draws=1, num_inference_steps=2)
    torch.testing.assert_close(new, old, atol=1e-4, rtol=0)


ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")


@pytest.mark.parametrize("family", ["sd", "sdxl", "sd3", "flux"])
def test_probe_encodes_once_and_batches_the_denoiser(editors, photo, family):
    editor = editors(family)
    pipe = editor.pipe
    sizes = []
    denoiser = editor.adapter.denoiser(pipe).register_forward_pre_hook(
        lambda module, args, kwargs: sizes.append(len((args or tuple(kwargs.values()))[0])), with_kwargs=True)
    vae = CallCounter(pipe.vae.encoder)
    texts = {name: CallCounter(getattr(pipe, name)) for name in ENCODERS if getattr(pipe, name, None) is not None}
    try:
        noise = editor.predict_noise(photo, ["a tiger", "", "a dog", "a tiger"], n_draws=3, max_batch=5)
    finally:
        denoiser.remove()
        vae.close()
        for counter in texts.values():
            counter.close()
    assert sizes == [5, 5, 2], "ceil(4 * 3 / 5) denoiser calls, conditional branch only, then interrupted"
    assert vae.count == 1, "the image is encoded once; each draw samples that one posterior"
    assert texts and all(counter.count == 3 for counter in texts.values()), "each unique prompt encoded once"
    assert noise.shape[:2] == (4, 3) and noise.shape[2] == 4
    assert not pipe._interrupt
    assert not torch.equal(noise[0, 0], noise[0, 1]), "each draw has its own noise"
    torch.testing.assert_close(noise[3], noise[0], atol=1e-5, rtol=0)


def test_probe_checks_its_arguments(editors, photo):
    editor = editors("sd")
    with pytest.raises(ValueError, match="max_batch"):
        editor.predict_noise(photo, ["a tiger"], max_batch=0)
    with pytest.raises(ValueError, match="strength"):
        editor.predict_noise(photo, ["a tiger"], strength=0.05, num_inference_steps=10)
    with pytest.raises(ValueError, match="one image"):
        editor.predict_noise([photo, photo], ["a tiger"])


def test_needs_an_editor(photo):
    with pytest.raises(TypeError, match="editor"):
        generate(photo, "a tiger", source="diffedit")


def test_a_number_is_a_uniform_map(editors):
    editor = editors("sd", "euler")
    image = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    as_number = editor(image, "x", 0.4, num_inference_steps=5, generator=torch.Generator().manual_seed(1),
                       output_type="latent").images
    as_map = editor(image, "x", torch.full((32, 48), 0.4), num_inference_steps=5,
                    generator=torch.Generator().manual_seed(1), output_type="latent").images
    assert torch.equal(as_number, as_map)
