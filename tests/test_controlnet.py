"""ControlNet img2img under a change map (SD, SDXL, Flux, and two ControlNets on SD): DESIGN.md's invariants
1-4 against the stock diffusers ControlNet img2img pipelines, on tiny random models saved to folders and loaded
back with ``DifferentialEditor.from_pretrained(base, controlnet=folder)``.

The tiny ControlNets have their zero-initialised outputs re-drawn (``diffdiff.tiny.controlnet``); every test
that compares with stock also checks that the control image matters, so a ControlNet that did nothing would fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CallCounter, make_image

from diffdiff import DifferentialEditor
from diffdiff.core import free_steps
from diffdiff.reference import stock_img2img

PROMPT = "a house by a lake"
N_STEPS = 6
BATCH_ATOL = 5e-4  # batched CPU kernels round differently from single ones (as in test_editor_families)
SINGLE = ("sd-controlnet", "sdxl-controlnet", "flux-controlnet")
ALL = (*SINGLE, "sd-multi")
FAMILY = {"sd-controlnet": "sd_controlnet", "sdxl-controlnet": "sdxl_controlnet",
          "flux-controlnet": "flux_controlnet", "sd-multi": "sd_controlnet"}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def controlnet_editors(editors, tiny_folders):
    """Case name -> editor; ``sd-multi`` drives two different tiny ControlNets on the tiny SD."""
    cache: dict[str, DifferentialEditor] = {}

    def get(name: str) -> DifferentialEditor:
        if name not in cache:
            if name == "sd-multi":
                folders = [tiny_folders["sd-controlnet-net"], tiny_folders["sd-controlnet-net-2"]]
                editor = DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu", controlnet=folders)
                editor.pipe.set_progress_bar_config(disable=True)
                cache[name] = editor
            else:
                cache[name] = editors(name)
        return cache[name]

    return get


def control(name: str, seed: int = 7, batch: int = 1, size: tuple[int, int] = (64, 64)):
    """Control image(s) for a case: one tensor, or one per ControlNet for ``sd-multi``."""
    if name == "sd-multi":
        return [make_image(*size, batch=batch, seed=seed), make_image(*size, batch=batch, seed=seed + 1)]
    return make_image(*size, batch=batch, seed=seed)


def scale(name: str, value: float = 1.0):
    return [value, 0.5 * value] if name == "sd-multi" else value


def three_band_map(middle: float = 0.4, size: int = 64) -> torch.Tensor:
    change = torch.zeros(size, size)
    change[:, size // 3 : 2 * size // 3] = middle
    change[:, 2 * size // 3 :] = 1.0
    return change


def nets(editor) -> list[torch.nn.Module]:
    controlnet = editor.pipe.controlnet
    return list(getattr(controlnet, "nets", [controlnet]))


@pytest.mark.parametrize("name", ALL)
def test_family_and_pipeline(controlnet_editors, name):
    editor = controlnet_editors(name)
    assert editor.family == FAMILY[name]
    assert type(editor.pipe).__name__ == editor.adapter.img2img_class
    assert len(nets(editor)) == (2 if name == "sd-multi" else 1)


@pytest.mark.parametrize("base", ["sd", "flux"])
def test_base_plus_controlnet_folder_is_the_controlnet_pipeline(controlnet_editors, editors, tiny_folders, base):
    """``from_pretrained(base, controlnet=folder)`` builds the pipeline a ControlNet pipeline folder holds."""
    loaded = DifferentialEditor.from_pretrained(tiny_folders[base], device="cpu",
                                                controlnet=tiny_folders[f"{base}-controlnet-net"])
    loaded.pipe.set_progress_bar_config(disable=True)
    whole = controlnet_editors(f"{base}-controlnet")
    assert loaded.family == whole.family and type(loaded.pipe) is type(whole.pipe)
    kwargs = {"num_inference_steps": 4, "output_type": "latent", "control_image": control(base)}
    ours = loaded(make_image(), PROMPT, three_band_map(), generator=gen(1), **kwargs).images
    assert torch.equal(ours, whole(make_image(), PROMPT, three_band_map(), generator=gen(1), **kwargs).images)


@pytest.mark.parametrize("name", ALL)
def test_keep_is_exact(controlnet_editors, name):
    editor = controlnet_editors(name)
    image, kwargs = make_image(), {"control_image": control(name), "controlnet_conditioning_scale": scale(name)}
    x0 = editor(image, PROMPT, torch.zeros(64, 64), output_type="latent", generator=gen(), **kwargs).images
    out = editor(image, PROMPT, three_band_map(), num_inference_steps=N_STEPS, generator=gen(), output_type="latent",
                 **kwargs)
    kept = editor.adapter.pack(editor.pipe, (free_steps(out.change, N_STEPS, editor.adapter.rounding) == 0)
                               .expand_as(out.change)).expand_as(out.images)
    assert kept.any() and (~kept).any()
    assert torch.equal(out.images[kept], x0[kept]), "kept values must end bit for bit at x0"
    assert not torch.allclose(out.images[~kept], x0[~kept])


@pytest.mark.parametrize("name", ALL)
def test_keep_is_exact_in_pixels(controlnet_editors, name):
    from PIL import Image

    array = (make_image(48, 40)[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    hint = Image.fromarray((make_image(48, 40, seed=9)[0].permute(1, 2, 0).numpy() * 255).astype("uint8"))
    change = torch.zeros(48, 40)
    change[10:30, 12:28] = 0.8
    out = controlnet_editors(name)(Image.fromarray(array), PROMPT, change, num_inference_steps=N_STEPS,
                                   generator=gen(), control_image=[hint, hint] if name == "sd-multi" else hint)
    result = np.asarray(out.images[0])
    keep = (change == 0).numpy()
    assert out.images[0].size == (40, 48)
    assert np.array_equal(result[keep], array[keep]), "pixels with m = 0 must be the input's"
    assert not np.array_equal(result[~keep], array[~keep])


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_uniform_map_is_stock_controlnet_img2img(controlnet_editors, name, strength):
    editor = controlnet_editors(name)
    image, kwargs = make_image(seed=1), {"control_image": control(name), "controlnet_conditioning_scale": scale(name)}
    out = editor(image, PROMPT, torch.full((64, 64), strength), num_inference_steps=N_STEPS, generator=gen(3),
                 output_type="latent", **kwargs)
    stock = stock_img2img(editor, image, PROMPT, strength, N_STEPS, gen(3), **kwargs)
    assert out.images.shape == stock.shape
    assert (out.images - stock).abs().max().item() <= 1e-5
    other = stock_img2img(editor, image, PROMPT, strength, N_STEPS, gen(3), **{**kwargs, "control_image":
                                                                                control(name, seed=20)})
    assert (other - stock).abs().max().item() > 1e-2, "the control image must matter (tiny ControlNet is live)"


@pytest.mark.parametrize("name", ALL)
def test_uniform_map_is_stock_with_pil_inputs(controlnet_editors, name):
    from PIL import Image

    editor = controlnet_editors(name)
    pil = Image.fromarray((make_image(seed=4)[0].permute(1, 2, 0).numpy() * 255).astype("uint8"))
    hints = [Image.fromarray((c[0].permute(1, 2, 0).numpy() * 255).astype("uint8")) for c in
             (control(name) if name == "sd-multi" else [control(name)])]
    kwargs = {"control_image": hints if name == "sd-multi" else hints[0]}
    out = editor(pil, PROMPT, torch.full((64, 64), 0.7), num_inference_steps=N_STEPS, generator=gen(2),
                 output_type="latent", **kwargs)
    stock = stock_img2img(editor, pil, PROMPT, 0.7, N_STEPS, gen(2), **kwargs)
    assert (out.images - stock).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", ALL)
def test_denoiser_and_controlnet_calls_follow_the_map(controlnet_editors, name):
    editor = controlnet_editors(name)
    kwargs = {"control_image": control(name)}
    counters = [CallCounter(editor.adapter.denoiser(editor.pipe)), *(CallCounter(n) for n in nets(editor))]
    try:
        out = editor(make_image(), PROMPT, three_band_map() * 0.5, num_inference_steps=N_STEPS, generator=gen(),
                     output_type="latent", **kwargs)
        ours = [c.count for c in counters]
        for c in counters:
            c.count = 0
        stock_img2img(editor, make_image(), PROMPT, 0.5, N_STEPS, gen(), **kwargs)
        stock = [c.count for c in counters]
        for c in counters:
            c.count = 0
        editor(make_image(), PROMPT, torch.zeros(64, 64), num_inference_steps=N_STEPS, generator=gen(), **kwargs)
        none = sum(c.count for c in counters)
    finally:
        for c in counters:
            c.close()
    k = out.steps_run
    assert k == N_STEPS // 2, "k(0.5) of 6 steps, with either rounding"
    # PNDM (the tiny SD's scheduler, SD 1.5's own) repeats one timestep below strength 1: one more call.
    extra = int(type(editor.pipe.scheduler).__name__ == "PNDMScheduler")
    assert ours == stock == [k + extra] * len(counters), "one UNet and one call per ControlNet per free step"
    assert none == 0, "an all-zero map runs neither the denoiser nor a ControlNet"


@pytest.mark.parametrize("name", ALL)
def test_batch_equals_one_at_a_time(controlnet_editors, name):
    editor = controlnet_editors(name)
    images = torch.cat([make_image(seed=5), make_image(seed=6)])
    maps = torch.zeros(2, 1, 64, 64)
    maps[0, :, :, 20:] = 0.7
    maps[1, :, 30:, :] = 0.7
    maps[1, :, 50:, :] = 0.35
    hint = control(name)
    batch = editor(images, PROMPT, maps, num_inference_steps=N_STEPS, generator=[gen(10), gen(11)],
                   output_type="latent", control_image=hint).images
    assert batch.shape[0] == 2
    for b in range(2):
        single = editor(images[b], PROMPT, maps[b, 0], num_inference_steps=N_STEPS, generator=gen(10 + b),
                        output_type="latent", control_image=hint).images
        torch.testing.assert_close(batch[b : b + 1], single, rtol=0, atol=BATCH_ATOL)


@pytest.mark.parametrize("name", ALL)
def test_guidance_window_and_zero_scale_are_stock(controlnet_editors, name):
    editor = controlnet_editors(name)
    image, hint = make_image(seed=3), control(name)
    window = {"control_guidance_start": 0.0, "control_guidance_end": 0.5}
    if name == "sd-multi":
        window = {key: [value, value] for key, value in window.items()}
    for extra in (window, {"controlnet_conditioning_scale": scale(name, 0.0)}):
        out = editor(image, PROMPT, torch.full((64, 64), 0.8), num_inference_steps=N_STEPS, generator=gen(4),
                     output_type="latent", control_image=hint, **extra).images
        stock = stock_img2img(editor, image, PROMPT, 0.8, N_STEPS, gen(4), control_image=hint, **extra)
        full = stock_img2img(editor, image, PROMPT, 0.8, N_STEPS, gen(4), control_image=hint)
        assert (out - stock).abs().max().item() <= 1e-5
        assert (full - stock).abs().max().item() > 1e-3, f"{extra} must change the stock result too"


def test_zero_scale_sd_controlnet_is_the_plain_sd_editor(controlnet_editors, editors):
    """Scale 0 adds exact zeros to the UNet's residuals: the plain SD editor's result, bit for bit."""
    change = three_band_map(0.6)
    out = controlnet_editors("sd-controlnet")(make_image(), PROMPT, change, num_inference_steps=N_STEPS,
                                              generator=gen(8), output_type="latent", control_image=control("sd"),
                                              controlnet_conditioning_scale=0.0).images
    plain = editors("sd")(make_image(), PROMPT, change, num_inference_steps=N_STEPS, generator=gen(8),
                          output_type="latent").images
    assert torch.equal(out, plain)


@pytest.mark.parametrize("name", ["sd-controlnet", "flux-controlnet"])
def test_from_pipe_of_a_controlnet_text_to_image_pipeline(controlnet_editors, name):
    import diffusers

    loaded = controlnet_editors(name)
    text_class = loaded.adapter.pipeline_classes[0]
    text = getattr(diffusers, text_class)(**loaded.pipe.components)
    assert type(text).__name__.endswith("ControlNetPipeline")
    editor = DifferentialEditor.from_pipe(text)
    editor.pipe.set_progress_bar_config(disable=True)
    assert editor.family == loaded.family and editor.pipe.controlnet is loaded.pipe.controlnet
    kwargs = {"num_inference_steps": 4, "output_type": "latent", "control_image": control(name)}
    ours = editor(make_image(), PROMPT, three_band_map(), generator=gen(), **kwargs).images
    again = loaded(make_image(), PROMPT, three_band_map(), generator=gen(), **kwargs).images
    assert torch.equal(ours, again)


def test_missing_control_image_fails_before_any_model_runs(controlnet_editors):
    editor = controlnet_editors("sd-controlnet")
    counters = [CallCounter(editor.pipe.unet), CallCounter(editor.pipe.vae), CallCounter(editor.pipe.text_encoder)]
    try:
        with pytest.raises(TypeError, match=r"^control_image: this editor drives a ControlNet"):
            editor(make_image(), PROMPT, three_band_map(), num_inference_steps=4)
    finally:
        for c in counters:
            c.close()
    assert [c.count for c in counters] == [0, 0, 0]
    with pytest.raises(ValueError, match=r"control_image: expected a list of 2 control images"):
        controlnet_editors("sd-multi")(make_image(), PROMPT, three_band_map(), num_inference_steps=4,
                                       control_image=control("sd"))


def test_controlnet_on_a_family_without_one_is_refused(tiny_folders, tmp_path):
    with pytest.raises(ValueError, match=r"^controlnet: the 'sd3' family has no ControlNet img2img pipeline"):
        DifferentialEditor.from_pretrained(tiny_folders["sd3"], device="cpu",
                                           controlnet=tiny_folders["sd-controlnet-net"])
    with pytest.raises(ValueError, match=r"controlnet: expected a ControlNet or a non-empty list"):
        DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu", controlnet=[])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"controlnet: .* is not a ControlNet model folder"):
        DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu", controlnet=tmp_path / "empty")
    with pytest.raises(TypeError, match=r"controlnet: expected a hub id"):
        DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu", controlnet=3)


def test_missing_controlnet_id_offline_names_the_model(tiny_folders, monkeypatch):
    from automaps.errors import ModelNotAvailableError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match=r"nobody/no-such-controlnet"):
        DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu", controlnet="nobody/no-such-controlnet")
