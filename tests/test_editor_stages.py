"""SDXL base -> refiner on one global schedule, and batches."""

from __future__ import annotations

import pytest
import torch
from helpers import CallCounter, make_image

from diffdiff import DifferentialEditor
from diffdiff.core import free_steps

PROMPT = "a lighthouse at dusk"
N_STEPS = 10
BATCH_ATOL = 5e-4  # batched CPU kernels round differently from single ones


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def refined(tiny_folders):
    editor = DifferentialEditor.from_pretrained(
        tiny_folders["sdxl"], device="cpu", refiner=tiny_folders["sdxl-refiner"]
    )
    editor.pipe.set_progress_bar_config(disable=True)
    editor.refiner.set_progress_bar_config(disable=True)
    return editor


@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_refiner_uniform_map_is_stock_base_plus_refiner(refined, strength):
    image = make_image(seed=3)
    out = refined(image, PROMPT, torch.full((64, 64), strength), num_inference_steps=N_STEPS, generator=gen(1),
                  output_type="latent", refiner_start=0.8)
    g = gen(1)
    latents = refined.pipe(PROMPT, image=image, strength=strength, num_inference_steps=N_STEPS, denoising_end=0.8,
                           generator=g, output_type="latent").images
    stock = refined.refiner(PROMPT, image=latents, num_inference_steps=N_STEPS, denoising_start=0.8, generator=g,
                            output_type="latent").images
    assert (out.images - stock).abs().max().item() <= 1e-5


@pytest.mark.parametrize("top", [1.0, 0.1])
def test_refiner_keeps_pixels_exact(refined, top):
    """``top = 0.1`` puts every free step in the refiner's part: the refiner then runs alone."""
    image = make_image(seed=4)
    change = torch.zeros(64, 64)
    change[:, 32:] = top
    change[:, 48:] = top / 2
    g = gen(2)
    x0 = refined(image, PROMPT, torch.zeros(64, 64), output_type="latent", generator=g).images
    base_calls, refiner_calls = CallCounter(refined.pipe.unet), CallCounter(refined.refiner.unet)
    try:
        out = refined(image, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(2), output_type="latent")
    finally:
        base_calls.close()
        refiner_calls.close()
    kept = (free_steps(out.change, N_STEPS) == 0).expand_as(x0)
    assert torch.equal(out.images[kept], x0[kept])
    assert not torch.allclose(out.images[~kept], x0[~kept])
    assert refiner_calls.count > 0
    assert (base_calls.count > 0) == (top == 1.0)


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_batch_equals_one_at_a_time(editors, family):
    editor = editors(family, "euler")
    images = torch.cat([make_image(seed=5), make_image(seed=6)])
    maps = torch.zeros(2, 1, 64, 64)
    maps[0, :, :, 20:] = 0.7
    maps[1, :, 30:, :] = 1.0
    batch = editor(images, PROMPT, maps, num_inference_steps=N_STEPS, generator=[gen(10), gen(11)],
                   output_type="latent").images
    for b in range(2):
        single = editor(images[b], PROMPT, maps[b, 0], num_inference_steps=N_STEPS, generator=gen(10 + b),
                        output_type="latent").images
        torch.testing.assert_close(batch[b : b + 1], single, rtol=0, atol=BATCH_ATOL)


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_images_per_prompt_equal_single_runs(editors, family):
    editor = editors(family, "ddim")
    image = make_image(seed=7)
    change = torch.zeros(64, 64)
    change[16:48, 16:48] = 0.9
    out = editor(image, PROMPT, change, num_inference_steps=N_STEPS, num_images_per_prompt=2,
                 generator=[gen(20), gen(21)], output_type="latent")
    assert out.images.shape[0] == 2
    for r in range(2):
        single = editor(image, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(20 + r),
                        output_type="latent")
        torch.testing.assert_close(out.images[r : r + 1], single.images, rtol=0, atol=BATCH_ATOL)
    assert not torch.allclose(out.images[0], out.images[1])
