"""IP-Adapter under a change map: ``editor.load_ip_adapter(...)`` (diffusers' arguments) on a tiny SD with a tiny
CLIP image encoder and IP-Adapter weights saved in ``h94/IP-Adapter``'s layout; ``ip_adapter_image`` passes
through to the stock pipeline, and the invariants hold: kept latents end at ``x0``, a uniform map equals a
separately loaded stock img2img pipeline with the same IP-Adapter and image, the UNet runs as often as stock,
a batch equals its single runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CallCounter, make_image
from PIL import Image

from diffdiff import DifferentialEditor
from diffdiff.core import free_steps, steps_for_strength
from diffdiff.tiny.lora import save_tiny_ip_adapter

PROMPT = "a red fox in the snow"
N_STEPS = 6
LOAD = {"subfolder": "models", "weight_name": "ip-adapter_sd15.safetensors", "image_encoder_folder": "image_encoder"}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def ip_image(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))


def uniform(value: float) -> torch.Tensor:
    return torch.full((64, 64), value)


@pytest.fixture(scope="module")
def ip_folder(tmp_path_factory):
    return save_tiny_ip_adapter(tmp_path_factory.mktemp("tiny-ip-adapter") / "IP-Adapter", family="sd")


@pytest.fixture(scope="module")
def ip_editor(tiny_folders, ip_folder):
    editor = DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu")
    editor.load_ip_adapter(ip_folder, **LOAD)
    editor.pipe.set_progress_bar_config(disable=True)
    return editor


@pytest.fixture(scope="module")
def stock_pipe(tiny_folders, ip_folder):
    """A stock img2img pipeline given the same IP-Adapter the way a diffusers user does."""
    from diffusers import StableDiffusionImg2ImgPipeline

    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(tiny_folders["sd"])
    pipe.load_ip_adapter(str(ip_folder), **LOAD)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_the_ip_image_changes_the_output(ip_editor):
    image = make_image(seed=1)
    a, b = (ip_editor(image, PROMPT, uniform(0.7), num_inference_steps=N_STEPS, generator=gen(2),
                      output_type="latent", ip_adapter_image=ip_image(seed)).images for seed in (0, 1))
    assert (a - b).abs().max() > 1e-2


def test_keep_is_exact_with_an_ip_adapter(ip_editor):
    image = make_image(seed=3)
    change = torch.zeros(64, 64)
    change[:, 32:] = 0.8
    x0 = ip_editor(image, PROMPT, torch.zeros(64, 64), output_type="latent", generator=gen(5),
                   ip_adapter_image=ip_image()).images
    out = ip_editor(image, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(5), output_type="latent",
                    ip_adapter_image=ip_image())
    kept = (free_steps(out.change, N_STEPS) == 0).expand_as(out.images)
    assert kept.any() and (~kept).any()
    assert torch.equal(out.images[kept], x0[kept])
    assert not torch.allclose(out.images[~kept], x0[~kept])
    pixels = ip_editor(image, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(5), output_type="pt",
                       ip_adapter_image=ip_image()).images
    assert torch.equal(pixels[..., :32], image[..., :32])


@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_uniform_map_equals_stock_with_the_same_ip_adapter(ip_editor, stock_pipe, strength):
    image = make_image(seed=4)
    ours_counter, stock_counter = CallCounter(ip_editor.pipe.unet), CallCounter(stock_pipe.unet)
    try:
        out = ip_editor(image, PROMPT, uniform(strength), num_inference_steps=N_STEPS, generator=gen(6),
                        output_type="latent", ip_adapter_image=ip_image())
        stock = stock_pipe(PROMPT, image=image, strength=strength, num_inference_steps=N_STEPS, generator=gen(6),
                           output_type="latent", ip_adapter_image=ip_image()).images
    finally:
        ours_counter.close()
        stock_counter.close()
    assert (out.images - stock).abs().max().item() <= 1e-5
    assert out.steps_run == steps_for_strength(strength, N_STEPS)
    assert ours_counter.count == stock_counter.count > 0


def test_calls_follow_the_maps_maximum(ip_editor, stock_pipe):
    image = make_image(seed=7)
    change = torch.zeros(64, 64)
    change[16:48, 16:48] = 0.5
    ours_counter, stock_counter = CallCounter(ip_editor.pipe.unet), CallCounter(stock_pipe.unet)
    try:
        out = ip_editor(image, PROMPT, change, num_inference_steps=10, generator=gen(1), output_type="latent",
                        ip_adapter_image=ip_image())
        stock_pipe(PROMPT, image=image, strength=0.5, num_inference_steps=10, generator=gen(1),
                   output_type="latent", ip_adapter_image=ip_image())
    finally:
        ours_counter.close()
        stock_counter.close()
    assert out.steps_run == 5
    assert ours_counter.count == stock_counter.count


def test_a_batch_equals_its_single_runs(ip_editor):
    images = torch.cat([make_image(seed=5), make_image(seed=6)])
    maps = torch.zeros(2, 1, 64, 64)
    maps[0, :, :, 20:] = 0.7
    maps[1, :, 30:, :] = 0.7
    batch = ip_editor(images, PROMPT, maps, num_inference_steps=N_STEPS, generator=[gen(10), gen(11)],
                      output_type="latent", ip_adapter_image=ip_image()).images
    for b in range(2):
        single = ip_editor(images[b], PROMPT, maps[b, 0], num_inference_steps=N_STEPS, generator=gen(10 + b),
                           output_type="latent", ip_adapter_image=ip_image()).images
        torch.testing.assert_close(batch[b : b + 1], single, rtol=0, atol=5e-4)


def test_a_missing_ip_image_is_refused_before_any_work(ip_editor, stock_pipe):
    """Stock fails deep in the UNet (a TypeError on ``added_cond_kwargs``); the editor names the argument."""
    with pytest.raises(TypeError):
        stock_pipe(PROMPT, image=make_image(), strength=0.5, num_inference_steps=2, output_type="latent")
    counter = CallCounter(ip_editor.pipe.unet)
    try:
        with pytest.raises(ValueError, match="ip_adapter_image: an IP-Adapter is loaded"):
            ip_editor(make_image(), PROMPT, uniform(0.5), num_inference_steps=2)
    finally:
        counter.close()
    assert counter.count == 0


def test_an_ip_image_without_an_ip_adapter_is_refused(editors):
    with pytest.raises(ValueError, match=r"ip_adapter_image: no IP-Adapter is loaded.*load_ip_adapter"):
        editors("sd")(make_image(), PROMPT, uniform(0.5), num_inference_steps=2, ip_adapter_image=ip_image())


def test_scale_zero_equals_no_ip_adapter(tiny_folders, ip_folder, editors):
    editor = DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu")
    editor.load_ip_adapter(ip_folder, **LOAD)
    editor.set_ip_adapter_scale(0.0)
    image = make_image(seed=8)
    zero = editor(image, PROMPT, uniform(0.6), num_inference_steps=N_STEPS, generator=gen(3), output_type="latent",
                  ip_adapter_image=ip_image()).images
    plain = editors("sd")(image, PROMPT, uniform(0.6), num_inference_steps=N_STEPS, generator=gen(3),
                          output_type="latent").images
    assert (zero - plain).abs().max().item() <= 1e-5
    editor.unload_ip_adapter()
    again = editor(image, PROMPT, uniform(0.6), num_inference_steps=N_STEPS, generator=gen(3),
                   output_type="latent").images
    assert (again - plain).abs().max().item() <= 1e-5


def test_from_pipe_of_a_pipe_with_an_ip_adapter(stock_pipe):
    editor = DifferentialEditor.from_pipe(stock_pipe)
    editor.pipe.set_progress_bar_config(disable=True)
    assert editor.pipe.image_encoder is stock_pipe.image_encoder
    image = make_image(seed=9)
    out = editor(image, PROMPT, uniform(0.5), num_inference_steps=N_STEPS, generator=gen(4), output_type="latent",
                 ip_adapter_image=ip_image(2)).images
    stock = stock_pipe(PROMPT, image=image, strength=0.5, num_inference_steps=N_STEPS, generator=gen(4),
                       output_type="latent", ip_adapter_image=ip_image(2)).images
    assert (out - stock).abs().max().item() <= 1e-5


def test_a_missing_weight_file_names_it(tiny_folders, ip_folder):
    editor = DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu")
    with pytest.raises(FileNotFoundError, match=r"ip_adapter: .*no-such\.safetensors"):
        editor.load_ip_adapter(ip_folder, subfolder="models", weight_name="no-such.safetensors")


def test_sdxl_uniform_map_equals_stock_and_a_refiner_is_refused(tiny_folders, tmp_path):
    """SDXL's default layout (``sdxl_models/ip-adapter_sdxl.safetensors``) through the CLI spec; with a refiner
    loaded the IP image is refused up front (the refiner has no IP-Adapter of its own)."""
    from diffusers import StableDiffusionXLImg2ImgPipeline

    from diffdiff.adapters import load_named_ip_adapter

    folder = save_tiny_ip_adapter(tmp_path / "IP-Adapter", family="sdxl")
    editor = DifferentialEditor.from_pretrained(tiny_folders["sdxl"], device="cpu",
                                                refiner=tiny_folders["sdxl-refiner"])
    load_named_ip_adapter(editor, str(folder))
    with pytest.raises(ValueError, match=r"ip_adapter_image: .*extra stages \(refiner\)"):
        editor(make_image(), PROMPT, uniform(0.5), num_inference_steps=2, ip_adapter_image=ip_image())
    editor = DifferentialEditor.from_pipe(editor.pipe)  # the same base with its IP-Adapter, no refiner
    editor.pipe.set_progress_bar_config(disable=True)
    stock_pipe = StableDiffusionXLImg2ImgPipeline.from_pretrained(tiny_folders["sdxl"])
    stock_pipe.load_ip_adapter(str(folder), subfolder="sdxl_models", weight_name="ip-adapter_sdxl.safetensors")
    stock_pipe.set_progress_bar_config(disable=True)
    image = make_image(seed=12)
    out = editor(image, PROMPT, uniform(0.6), num_inference_steps=N_STEPS, generator=gen(7), output_type="latent",
                 ip_adapter_image=ip_image(3)).images
    stock = stock_pipe(PROMPT, image=image, strength=0.6, num_inference_steps=N_STEPS, generator=gen(7),
                       output_type="latent", ip_adapter_image=ip_image(3)).images
    assert (out - stock).abs().max().item() <= 1e-5
    plain = editor(image, PROMPT, uniform(0.6), num_inference_steps=N_STEPS, generator=gen(7), output_type="latent",
                   ip_adapter_image=ip_image(4)).images
    assert (out - plain).abs().max() > 1e-3  # the IP image matters on SDXL too


def test_a_family_without_ip_adapter_support_is_named(editors, ip_folder):
    from automaps.errors import UnsupportedPipelineError

    with pytest.raises(UnsupportedPipelineError, match=r"KandinskyV22Img2ImgPipeline.*with an IP-Adapter"):
        editors("kandinsky").load_ip_adapter(ip_folder, **LOAD)
