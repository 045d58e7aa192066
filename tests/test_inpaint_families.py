"""Inpainting checkpoints under a change map (SD/SDXL 9-channel UNets, Flux Fill), on tiny random models loaded
from folders: the invariants, and the mask the model sees at each step (the free set at that step, its
masked image encoded the stock way, once per distinct mask)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor
from helpers import CallCounter

from diffdiff import DifferentialEditor
from diffdiff.core import free_at, start_positions
from diffdiff.masking import mask_thresholds, pixel_mask
from diffdiff.reference import step_networks, stock_img2img

CASES = ["sd-inpaint", "sdxl-inpaint", "flux-fill"]
N_STEPS = 6
SIZE = 32
PROMPT = "a red fox in the snow"


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def image(seed: int = 1, batch: int = 1) -> torch.Tensor:
    return torch.rand(batch, 3, SIZE, SIZE, generator=gen(seed))


def two_level_map() -> torch.Tensor:
    """0 on the left half, 0.5 on the third quarter, 1 on the last: two distinct masks in a run."""
    change = torch.zeros(SIZE, SIZE)
    change[:, SIZE // 2 :] = 0.5
    change[:, 3 * SIZE // 4 :] = 1.0
    return change


def unpacked(editor, latents: torch.Tensor) -> torch.Tensor:
    return editor.adapter.unpack(editor.pipe, latents, (SIZE, SIZE))


@pytest.mark.parametrize("name", CASES)
def test_keep_is_exact_in_latents_and_pixels(editors, name):
    editor = editors(name)
    source, change = image(), two_level_map()
    x0 = editor(source, PROMPT, torch.zeros(SIZE, SIZE), num_inference_steps=N_STEPS, generator=gen(),
                output_type="latent").images
    out = editor(source, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(), output_type="latent")
    factor = editor.adapter.scale_factor(editor.pipe)
    kept = slice(0, SIZE // 2 // factor)
    assert torch.equal(unpacked(editor, out.images)[..., kept], unpacked(editor, x0)[..., kept])
    pixels = editor(source, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(), output_type="pt").images
    assert torch.equal(pixels[..., : SIZE // 2], source[..., : SIZE // 2])
    assert not torch.equal(pixels[..., SIZE // 2 :], source[..., SIZE // 2 :])


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_uniform_map_is_stock_inpainting_with_an_all_ones_mask(editors, name, strength):
    editor = editors(name)
    out = editor(image(), PROMPT, torch.full((SIZE, SIZE), strength), num_inference_steps=N_STEPS, generator=gen(3),
                 output_type="latent")
    stock = stock_img2img(editor, image(), PROMPT, strength, N_STEPS, gen(3))
    assert out.images.shape == stock.shape
    assert (out.images - stock).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", CASES)
def test_denoiser_calls_follow_the_map(editors, name):
    # SD's PNDM scheduler repeats a timestep below strength 1 (k + 1 calls, stock too); Euler runs k.
    editor = editors(name, "euler" if name == "sd-inpaint" else None)
    counter = CallCounter(step_networks(editor)[0])
    try:
        out = editor(image(), PROMPT, two_level_map() * 0.5, num_inference_steps=N_STEPS, generator=gen(),
                     output_type="latent")
        ours, counter.count = counter.count, 0
        stock_img2img(editor, image(), PROMPT, 0.5, N_STEPS, gen())
        stock = counter.count
    finally:
        counter.close()
    assert ours == stock == out.steps_run < N_STEPS


@pytest.mark.parametrize("name", CASES)
def test_a_batch_equals_its_single_runs(editors, name):
    editor = editors(name)
    sources = image(batch=2)
    maps = torch.stack([two_level_map(), two_level_map().flip(-1)])[:, None]
    batch = editor(sources, PROMPT, maps, num_inference_steps=N_STEPS, generator=[gen(5), gen(6)],
                   output_type="latent").images
    for index, seed in enumerate((5, 6)):
        single = editor(sources[index : index + 1], PROMPT, maps[index : index + 1], num_inference_steps=N_STEPS,
                        generator=gen(seed), output_type="latent").images
        # batched CPU kernels round differently from single ones (the generic tests' BATCH_ATOL)
        torch.testing.assert_close(batch[index : index + 1], single, rtol=0, atol=5e-4)


class EncodeCounter:
    """Counts the images that go through ``vae.encode``."""

    def __init__(self, vae) -> None:
        self.rows = 0
        self.handle = vae.encoder.register_forward_pre_hook(self._count)

    def _count(self, module, args) -> None:
        self.rows += args[0].shape[0]

    def close(self) -> None:
        self.handle.remove()


def expected_masks(editor, change: torch.Tensor):
    """The free set on the model grid at each position of the run, and the run's first position."""
    adapter, pipe = editor.adapter, editor.pipe
    from diffdiff.stages import plan_stage

    plan = plan_stage(adapter, pipe, change[None, None], N_STEPS)
    start = start_positions(plan.k, N_STEPS, pipe.scheduler.order)
    return start, pipe.scheduler.order * (N_STEPS - plan.k_run)


def stock_masked_latents(editor, source: torch.Tensor, mask: torch.Tensor, full: bool) -> torch.Tensor:
    """The stock way: ``pixels * (mask < 0.5)`` encoded with the generator after the image's sample (none at
    strength 1, ``full``) and the noise."""
    pipe, g = editor.pipe, gen()
    pixels = pipe.image_processor.preprocess(source, height=SIZE, width=SIZE)
    x0 = pipe._encode_vae_image(pixels, generator=gen() if full else g)
    randn_tensor(tuple(x0.shape), generator=g, dtype=x0.dtype)
    return pipe._encode_vae_image(pixels * (pixel_mask(mask, (SIZE, SIZE)) < 0.5), generator=g)


@pytest.mark.parametrize("name", ["sd-inpaint", "sdxl-inpaint"])
def test_the_unet_sees_the_free_set_and_its_masked_image_at_every_step(editors, name):
    editor = editors(name, "euler")  # SD's PNDM repeats a timestep: one more UNet call than steps
    unet, source, change = editor.pipe.unet, image(), two_level_map()
    seen: list[torch.Tensor] = []
    hook = unet.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    encodes = EncodeCounter(editor.pipe.vae)
    try:
        out = editor(source, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(), output_type="latent")
    finally:
        hook.remove()
        encodes.close()
    start, first = expected_masks(editor, change)
    assert len(seen) == out.steps_run == N_STEPS - first
    distinct = []
    for offset, sample in enumerate(seen):
        free = free_at(start, first + offset).float()
        for row in sample:  # every classifier-free-guidance copy
            assert torch.equal(row[4:5], free[0]), f"step {offset}: the mask must be the free set"
            expected = stock_masked_latents(editor, source, free, full=out.steps_run == N_STEPS)
            torch.testing.assert_close(row[5:9], expected[0], rtol=0, atol=1e-5)
        if not distinct or not torch.equal(distinct[-1], free):
            distinct.append(free)
    assert len(distinct) == len(mask_thresholds(start, first)) == 2
    assert encodes.rows == 1 + len(distinct), "the original once, then one masked image per distinct mask"


def test_flux_fill_sees_the_free_set_at_every_step(editors):
    editor = editors("flux-fill")
    pipe, source, change = editor.pipe, image(), two_level_map()
    seen: list[torch.Tensor] = []
    # The input embedding receives the transformer's input after the editor's own pre-hook has run.
    hook = pipe.transformer.x_embedder.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    encodes = EncodeCounter(pipe.vae)
    try:
        out = editor(source, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(), output_type="latent")
    finally:
        hook.remove()
        encodes.close()
    start, first = expected_masks(editor, change)
    latent_width = out.images.shape[-1]
    assert len(seen) == out.steps_run
    pixels = pipe.image_processor.preprocess(source, height=SIZE, width=SIZE)
    for offset, hidden in enumerate(seen):
        free = free_at(start, first + offset).float()
        g = gen()
        x0 = pipe._encode_vae_image(pixels, generator=g)
        randn_tensor(tuple(x0.shape), generator=g, dtype=x0.dtype)
        mask = pixel_mask(free, (SIZE, SIZE))
        packed_mask, latents = pipe.prepare_mask_latents(mask, pixels * (1 - mask), 1, 4, 1, SIZE, SIZE,
                                                         x0.dtype, x0.device, g)
        torch.testing.assert_close(hidden[..., latent_width:], torch.cat((latents, packed_mask), -1), rtol=0,
                                   atol=1e-5)
    # The pipeline encodes the original and the first masked image; the editor the original and the later mask.
    assert encodes.rows == 2 + 2


def test_a_four_channel_unet_under_an_inpainting_class_is_refused(editors):
    from diffusers import StableDiffusionInpaintPipeline

    plain = editors("sd").pipe
    inpaint = StableDiffusionInpaintPipeline(**{**plain.components, "safety_checker": None,
                                                "feature_extractor": None}, requires_safety_checker=False)
    with pytest.raises(ValueError, match=r"9-channel inpainting UNet.*4 input channels"):
        DifferentialEditor.from_pipe(inpaint)


def test_soft_inpaint_drives_an_inpainting_checkpoint(editors):
    from pipelines.inpaint import soft_inpaint

    editor = editors("sd-inpaint")
    source = (image()[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    hole = np.zeros((SIZE, SIZE), bool)
    hole[8:16, 8:16] = True
    counter = CallCounter(editor.pipe.unet)
    try:
        result = soft_inpaint(editor, source, hole, PROMPT, band=4, steps=N_STEPS, baselines=False)
    finally:
        counter.close()
    after = np.asarray(result.image)
    kept = result.change_map.values == 0
    assert counter.count > 0, "the inpainting UNet itself runs"
    assert np.array_equal(after[kept], source[kept])
    assert not np.array_equal(after[hole], source[hole])
