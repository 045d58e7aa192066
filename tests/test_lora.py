"""LoRA under a change map: ``DifferentialEditor.from_pretrained(..., lora=[...])`` loads tiny peft LoRAs
(saved with the pipeline class's ``save_lora_weights``) unfused, and the invariants hold with them: kept
latents end at ``x0``, a uniform map equals a stock img2img pipeline loaded separately with the same LoRA
the same way, and the UNet runs as often as stock."""

from __future__ import annotations

import pytest
import torch
from helpers import CallCounter, make_image

from automaps.errors import ModelNotAvailableError
from diffdiff import DifferentialEditor
from diffdiff.core import free_steps, steps_for_strength
from diffdiff.reference import stock_img2img
from diffdiff.tiny.lora import save_tiny_lora

pytest.importorskip("peft")

PROMPT = "a red fox in the snow"
N_STEPS = 6


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def loras(tmp_path_factory):
    """``{"sd": folder, "sdxl": folder}`` of tiny random LoRAs, saved on first use."""
    root, saved = tmp_path_factory.mktemp("tiny-loras"), {}

    def get(family: str, seed: int = 0):
        if (family, seed) not in saved:
            saved[family, seed] = save_tiny_lora(root / f"{family}-{seed}", family=family, seed=seed)
        return saved[family, seed]

    return get


@pytest.fixture(scope="module")
def lora_editor(tiny_folders, loras):
    cache = {}

    def get(family: str = "sd", scale: float = 1.0) -> DifferentialEditor:
        if (family, scale) not in cache:
            editor = DifferentialEditor.from_pretrained(tiny_folders[family], device="cpu",
                                                        lora=[(loras(family), scale)])
            editor.pipe.set_progress_bar_config(disable=True)
            cache[family, scale] = editor
        return cache[family, scale]

    return get


def stock_with_lora(folder, lora_folder, scale: float):
    """A stock diffusers img2img pipeline, loaded and given the LoRA the way a diffusers user does."""
    from diffusers import AutoPipelineForImage2Image

    pipe = AutoPipelineForImage2Image.from_pretrained(folder)
    pipe.load_lora_weights(lora_folder, adapter_name="mine")
    pipe.set_adapters(["mine"], adapter_weights=[scale])
    pipe.set_progress_bar_config(disable=True)
    return pipe


def uniform(value: float) -> torch.Tensor:
    return torch.full((64, 64), value)


def test_lora_changes_the_output(editors, lora_editor):
    image = make_image(seed=1)
    plain = editors("sd")(image, PROMPT, uniform(0.7), num_inference_steps=N_STEPS, generator=gen(2),
                          output_type="latent").images
    patched = lora_editor()(image, PROMPT, uniform(0.7), num_inference_steps=N_STEPS, generator=gen(2),
                            output_type="latent").images
    assert (plain - patched).abs().max() > 1e-2


def test_keep_is_exact_with_lora(lora_editor):
    editor = lora_editor()
    image = make_image(seed=3)
    change = torch.zeros(64, 64)
    change[:, 32:] = 0.8
    g = gen(5)
    x0 = editor(image, PROMPT, torch.zeros(64, 64), output_type="latent", generator=g).images
    out = editor(image, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(5), output_type="latent")
    kept = (free_steps(out.change, N_STEPS) == 0).expand_as(out.images)
    assert kept.any() and (~kept).any()
    assert torch.equal(out.images[kept], x0[kept])
    assert not torch.allclose(out.images[~kept], x0[~kept])
    pixels = editor(image, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(5), output_type="pt").images
    assert torch.equal(pixels[..., :32], image[..., :32])


@pytest.mark.parametrize(("family", "scale", "strength"), [("sd", 1.0, 0.6), ("sd", 0.5, 1.0), ("sdxl", 0.8, 0.5)])
def test_uniform_map_equals_stock_with_the_same_lora(tiny_folders, loras, lora_editor, family, scale, strength):
    editor = lora_editor(family, scale)
    stock_pipe = stock_with_lora(tiny_folders[family], loras(family), scale)
    image = make_image(seed=4)
    ours_counter = CallCounter(editor.pipe.unet)
    stock_counter = CallCounter(stock_pipe.unet)
    try:
        out = editor(image, PROMPT, uniform(strength), num_inference_steps=N_STEPS, generator=gen(6),
                     output_type="latent")
        stock = stock_pipe(PROMPT, image=image, strength=strength, num_inference_steps=N_STEPS, generator=gen(6),
                           output_type="latent").images
    finally:
        ours_counter.close()
        stock_counter.close()
    assert torch.equal(out.images, stock), f"max |d| {(out.images - stock).abs().max().item():.3g}"
    assert out.steps_run == steps_for_strength(strength, N_STEPS)
    assert ours_counter.count == stock_counter.count > 0


def test_calls_follow_the_maps_maximum(lora_editor):
    """A map of maximum 0.5 costs what stock img2img at strength 0.5 costs, with the LoRA loaded."""
    editor = lora_editor()
    image = make_image(seed=7)
    change = torch.zeros(64, 64)
    change[16:48, 16:48] = 0.5
    counter = CallCounter(editor.pipe.unet)
    try:
        out = editor(image, PROMPT, change, num_inference_steps=10, generator=gen(1), output_type="latent")
        ours, counter.count = counter.count, 0
        stock_img2img(editor, image, PROMPT, 0.5, 10, gen(1))
    finally:
        counter.close()
    assert out.steps_run == 5
    assert ours == counter.count


def test_scale_zero_equals_no_lora(editors, lora_editor):
    image = make_image(seed=8)
    plain = editors("sd")(image, PROMPT, uniform(0.6), num_inference_steps=N_STEPS, generator=gen(3),
                          output_type="latent").images
    zero = lora_editor("sd", 0.0)(image, PROMPT, uniform(0.6), num_inference_steps=N_STEPS, generator=gen(3),
                                  output_type="latent").images
    assert torch.equal(plain, zero)


def test_from_pipe_keeps_a_loaded_lora(tiny_folders, loras, lora_editor):
    """A user's pipeline with a LoRA loaded keeps it through ``from_pipe``: its uniform map equals that pipeline
    at the same strength, and equals ``from_pretrained(..., lora=...)``; the user's pipeline is not changed."""
    user_pipe = stock_with_lora(tiny_folders["sd"], loras("sd"), 1.0)
    editor = DifferentialEditor.from_pipe(user_pipe)
    editor.pipe.set_progress_bar_config(disable=True)
    image = make_image(seed=9)
    out = editor(image, PROMPT, uniform(0.5), num_inference_steps=N_STEPS, generator=gen(4),
                 output_type="latent").images
    stock = user_pipe(PROMPT, image=image, strength=0.5, num_inference_steps=N_STEPS, generator=gen(4),
                      output_type="latent").images
    loaded = lora_editor()(image, PROMPT, uniform(0.5), num_inference_steps=N_STEPS, generator=gen(4),
                           output_type="latent").images
    assert torch.equal(out, stock)
    assert torch.equal(out, loaded)
    assert user_pipe.get_active_adapters() == ["mine"]


def test_two_loras_with_scales_equal_stock(tiny_folders, loras):
    editor = DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu",
                                                lora=[loras("sd"), (loras("sd", seed=1), 0.3)])
    editor.pipe.set_progress_bar_config(disable=True)
    assert editor.pipe.get_active_adapters() == ["lora_0", "lora_1"]
    from diffusers import AutoPipelineForImage2Image

    stock_pipe = AutoPipelineForImage2Image.from_pretrained(tiny_folders["sd"])
    stock_pipe.load_lora_weights(loras("sd"), adapter_name="a")
    stock_pipe.load_lora_weights(loras("sd", seed=1), adapter_name="b")
    stock_pipe.set_adapters(["a", "b"], adapter_weights=[1.0, 0.3])
    stock_pipe.set_progress_bar_config(disable=True)
    image = make_image(seed=10)
    out = editor(image, PROMPT, uniform(0.6), num_inference_steps=N_STEPS, generator=gen(2), output_type="latent")
    stock = stock_pipe(PROMPT, image=image, strength=0.6, num_inference_steps=N_STEPS, generator=gen(2),
                       output_type="latent").images
    assert torch.equal(out.images, stock)


def test_a_fused_lora_equals_stock_through_the_same_fused_pipe(tiny_folders, loras):
    """Fused weights are other floats: the editor on a fused pipe equals stock on that pipe bit for bit, and
    differs from the unfused LoRA by rounding only."""
    editor = DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu", lora=[loras("sd")])
    editor.pipe.set_progress_bar_config(disable=True)
    image = make_image(seed=11)

    def run():
        return editor(image, PROMPT, uniform(0.6), num_inference_steps=N_STEPS, generator=gen(3),
                      output_type="latent").images

    unfused = run()
    editor.pipe.fuse_lora()
    fused = run()
    stock = stock_img2img(editor, image, PROMPT, 0.6, N_STEPS, gen(3))
    assert torch.equal(fused, stock)
    assert 0 < (fused - unfused).abs().max().item() < 1e-2


@pytest.mark.parametrize(("lora", "error", "words"), [
    (5, TypeError, "lora:"),
    ([3], TypeError, "lora[0]"),
    (["ok/id", ("ok/id", "big")], TypeError, "lora[1]"),
    ([("ok/id", 1.0, 2)], TypeError, "lora[0]"),
    ([("ok/id", True)], TypeError, "lora[0]"),
    ([("ok/id", float("nan"))], ValueError, "lora[0]"),
    (["./no/such/lora.safetensors"], FileNotFoundError, "lora[0]"),
])
def test_bad_entries_are_refused_before_the_base_loads(lora, error, words):
    # The base folder does not exist: an error about lora proves it came first.
    with pytest.raises(error) as caught:
        DifferentialEditor.from_pretrained("./no/such/base", lora=lora)
    assert words in str(caught.value)


def test_missing_peft_names_lora(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a))
    with pytest.raises(ImportError, match=r"lora: .*automaps\[lora\]"):
        DifferentialEditor.from_pretrained("./no/such/base", lora=["ok/id"])


def test_a_folder_without_lora_weights_names_its_entry(tiny_folders, tmp_path):
    with pytest.raises((ValueError, FileNotFoundError), match=r"lora\[0\]"):
        DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu", lora=[tmp_path])


def test_an_uncached_hub_lora_offline_is_not_available(tiny_folders, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="someone/not-cached-lora"):
        DifferentialEditor.from_pretrained(tiny_folders["sd"], device="cpu", lora=["someone/not-cached-lora"])


def test_a_family_without_lora_support_is_named(tiny_folders, loras):
    from automaps.errors import UnsupportedPipelineError

    with pytest.raises(UnsupportedPipelineError, match=r"KandinskyV22Img2ImgPipeline.*with lora=.*"
                                                       r"StableDiffusionImg2ImgPipeline"):
        DifferentialEditor.from_pretrained(tiny_folders["kandinsky"], device="cpu",
                                           prior=tiny_folders["kandinsky-prior"], lora=[loras("sd")])
