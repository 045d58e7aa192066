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


def test_probe_runs_one_model_call_per_prompt_and_draw(editors, photo):
    editor = editors("sd", "euler")
    counter = CallCounter(editor.pipe.unet)
    try:
        noise = editor.predict_noise(photo, ["a tiger", "", "a dog"], n_draws=3, num_inference_steps=10)
    finally:
        counter.close()
    assert counter.count == 9, "the loop is interrupted after the first prediction"
    assert noise.shape[:2] == (3, 3) and noise.shape[2] == 4
    assert not editor.pipe._interrupt
    assert not torch.equal(noise[0, 0], noise[0, 1]), "each draw has its own noise"


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
