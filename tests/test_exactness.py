"""Invariant 2 at the edges, for every registered family: a uniform map equals stock img2img bit for bit
for step counts where float error used to move a step, for PIL, numpy and tensor inputs (each preprocessed
the way the stock pipeline preprocesses it), and at odd image sizes; every family edits odd sizes, returns
the input's size and keeps kept pixels exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CallCounter, make_image
from PIL import Image

from diffdiff.core import steps_for_strength
from diffdiff.reference import stock_img2img
from diffdiff.tiny import TINY_EDITORS, generic_cases

PROMPT = "a red fox in the snow"
CASES = list(generic_cases())
ODD_SIZES = [(67, 45), (100, 75), (171, 256)]  # width x height


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def as_pil(image: torch.Tensor) -> Image.Image:
    array = (image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(array)


def as_forms(pil: Image.Image) -> dict:
    """The same picture as a PIL image, a float32 numpy array in [0, 1] and a float tensor in [0, 1]."""
    array = np.asarray(pil).astype(np.float32) / 255
    return {"pil": pil, "numpy": array, "tensor": torch.from_numpy(array).permute(2, 0, 1).contiguous()}


def stock_input(form: str, value):
    """What a diffusers user hands the stock pipeline for that form (a batch for numpy and tensors)."""
    return value[None] if form in ("numpy", "tensor") else value


@pytest.mark.parametrize(("name", "n_steps", "strength"), [("sd", 50, 0.58), ("sd3", 25, 0.56), ("flux", 25, 0.56),
                                                            ("sdxl", 50, 0.58)])
def test_uniform_map_is_stock_where_float_error_moved_a_step(editors, name, n_steps, strength):
    """SDXL N=50 m=0.58 ran 29 steps against stock's 28, Flux N=25 m=0.56 ran 14 against 15."""
    editor = editors(name)
    image = make_image(seed=2)
    counter = CallCounter(editor.adapter.denoiser(editor.pipe))
    try:
        out = editor(image, PROMPT, torch.full((64, 64), strength), num_inference_steps=n_steps, generator=gen(4),
                     output_type="latent")
        ours, counter.count = counter.count, 0
        stock = stock_img2img(editor, image, PROMPT, strength, n_steps, gen(4))
    finally:
        counter.close()
    assert out.steps_run == steps_for_strength(strength, n_steps, editor.adapter.rounding)
    assert ours == counter.count
    assert torch.equal(out.images, stock)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("form", ["pil", "numpy", "tensor"])
def test_every_input_type_gives_stock_bytes(editors, name, form):
    editor = editors(name)
    value = as_forms(as_pil(make_image(seed=5)))[form]
    if form == "numpy" and TINY_EDITORS[name].family in ("kandinsky", "deepfloyd_if"):
        # Kandinsky's decoder refuses arrays; IF's pipelines read them as [-1, 1] pixels. The editor reads
        # numpy in [0, 1] like every other input, so there is no stock call to equal.
        pytest.skip("no stock numpy path for this family")
    out = editor(value, PROMPT, 0.6, num_inference_steps=5, generator=gen(1), output_type="latent")
    stock = stock_img2img(editor, stock_input(form, value), PROMPT, 0.6, 5, gen(1))
    assert out.images.shape == stock.shape
    assert torch.equal(out.images, stock), f"max |d| {(out.images - stock).abs().max().item():.3g}"


@pytest.mark.parametrize("name", [n for n in CASES if TINY_EDITORS[n].family in ("sd", "sdxl", "sd3", "flux")])
@pytest.mark.parametrize("size", ODD_SIZES[:2])
def test_odd_sizes_equal_stock(editors, name, size):
    """At sizes that are no multiple of the model's, the editor rounds like the stock pipeline does."""
    editor = editors(name)
    pil = as_pil(make_image(height=size[1], width=size[0], seed=3))
    out = editor(pil, PROMPT, 0.7, num_inference_steps=4, generator=gen(2), output_type="latent")
    stock = stock_img2img(editor, pil, PROMPT, 0.7, 4, gen(2))
    assert torch.equal(out.images, stock)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("size", ODD_SIZES)
def test_every_family_edits_odd_sizes(editors, name, size):
    width, height = size
    editor = editors(name)
    pil = as_pil(make_image(height=height, width=width, seed=7))
    change = torch.zeros(height, width)
    change[:, width // 2 :] = 0.8
    out = editor(pil, PROMPT, change, num_inference_steps=4, generator=gen(3))
    result = out.images[0]
    assert result.size == (width, height)
    before, after = np.asarray(pil), np.asarray(result)
    kept = change.numpy() == 0
    assert np.array_equal(after[kept], before[kept]), "pixels with m = 0 must be the input's"
    assert not np.array_equal(after[~kept], before[~kept])


@pytest.mark.parametrize("name", ["sd", "flux", "kandinsky"])
def test_an_all_kept_image_of_a_batch_is_neither_encoded_nor_denoised(editors, name):
    """Avoidable fixed cost: the kept image is its own result; the other equals its single run."""
    editor = editors(name)
    images = torch.cat([make_image(seed=1), make_image(seed=2)])
    maps = [torch.full((64, 64), 0.6), torch.zeros(64, 64)]
    vae = editor.pipe.vae if getattr(editor.pipe, "vae", None) is not None else editor.pipe.movq
    batches: list[int] = []
    handle = vae.encoder.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    try:
        out = editor(images, PROMPT, maps, num_inference_steps=4, generator=[gen(5), gen(6)], output_type="pt")
    finally:
        handle.remove()
    assert batches and set(batches) == {1}, "only the image with something free is encoded"
    assert torch.equal(out.images[1], images[1])
    alone = editor(images[:1], PROMPT, maps[0], num_inference_steps=4, generator=[gen(5)], output_type="pt")
    torch.testing.assert_close(out.images[0], alone.images[0], rtol=0, atol=1e-6)
    assert out.change.shape[0] == 2 and out.change[1].max() == 0
