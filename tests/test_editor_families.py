"""DESIGN.md's invariants 1-4 for every family: one suite parametrised by the tiny editors the families
register (``diffdiff.tiny.TINY_EDITORS``: SD, SDXL, Kandinsky 2.2, DeepFloyd IF stage I and stage II on a
stage-I result, SD3, Flux), each family with its native scheduler, on tiny random pipelines saved to folders
and loaded back through ``DifferentialEditor.from_pretrained``. (SD and SDXL also have the scheduler matrix
of ``test_editor_invariants.py``.)

Tensors are compared in the layout of the pipeline's loop (``editor.adapter.pack``: Flux's packed
tokens), and the reference is the stock diffusers img2img call (``diffdiff.reference``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CallCounter, HookSpy, StepSpy, make_image

from diffdiff import DifferentialEditor, UnsupportedPipelineError
from diffdiff.core import free_steps, start_positions
from diffdiff.reference import step_networks, stock_img2img
from diffdiff.schedulers import renoise

# editor name (conftest.EDITOR_PARTS or a tiny family) -> family
from diffdiff.tiny import TINY_EDITORS, generic_cases

CASES = {name: case.family for name, case in generic_cases().items()}  # tiny editor -> family it must be read as
N_STEPS = 6  # short schedules keep the suite fast; every rounding case below still occurs
PROMPT = "a red fox in the snow"
BATCH_ATOL = 5e-4  # batched CPU kernels round differently from single ones
# IF's dynamic thresholding (a per-image quantile, then a clamp) amplifies that rounding, and stage II
# amplifies stage I's: measured on these tiny models, stock IF differs between a batch of two and single
# runs by up to 1.7e-3 (stage I) and 1.5e-2 (stages I + II) by itself at strength 1.0.
IF_BATCH_ATOL = {"if-1": 3e-3, "if-1+2": 2e-2}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def stage(editor):
    """The pipeline whose invariants a case checks: IF stage II when loaded, else the driven one."""
    return editor.stage2 if editor.stage2 is not None else editor.pipe


def layout(editor, tensor: torch.Tensor) -> torch.Tensor:
    """``(B, C or 1, h, w)`` in the layout of the checked stage's loop tensor."""
    return editor.adapter.pack(stage(editor), tensor)



def three_band_map(middle: float = 0.4, size: int = 64) -> torch.Tensor:
    """0 on the left third, ``middle`` in the centre, 1 on the right third."""
    change = torch.zeros(size, size)
    change[:, size // 3 : 2 * size // 3] = middle
    change[:, 2 * size // 3 :] = 1.0
    return change


@pytest.mark.parametrize("name", CASES)
def test_family_is_read_from_model_index(editors, name):
    editor = editors(name)
    assert editor.family == CASES[name]
    assert set(editor.stages) == set(TINY_EDITORS[name].extras)
    for role in editor.adapter.extra_classes:
        assert getattr(editor, role) is editor.stages.get(role)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("strength", [0.3, 1.0])
def test_uniform_map_is_img2img(editors, name, strength):
    editor = editors(name)
    image = make_image(seed=1)
    out = editor(image, PROMPT, torch.full((64, 64), strength), num_inference_steps=N_STEPS, generator=gen(3),
                 output_type="latent")
    stock = stock_img2img(editor, image, PROMPT, strength, N_STEPS, gen(3))
    assert out.images.shape == stock.shape
    assert (out.images - stock).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", CASES)
def test_keep_is_exact(editors, name):
    editor = editors(name)
    image = make_image()
    x0 = editor(image, PROMPT, torch.zeros(64, 64), output_type="latent", generator=gen()).images
    out = editor(image, PROMPT, three_band_map(), num_inference_steps=N_STEPS, generator=gen(), output_type="latent")
    kept = layout(editor, (free_steps(out.change, N_STEPS, editor.adapter.rounding) == 0).expand_as(out.change))
    kept = kept.expand_as(out.images)
    assert kept.any() and (~kept).any()
    assert torch.equal(out.images[kept], x0[kept]), "kept values must end bit for bit at x0"
    assert not torch.allclose(out.images[~kept], x0[~kept]), "free values should have changed"


@pytest.mark.parametrize("name", CASES)
def test_keep_is_exact_in_pixels(editors, name):
    from PIL import Image

    array = (make_image(48, 40)[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    change = torch.zeros(48, 40)
    change[10:30, 12:28] = 0.8
    out = editors(name)(Image.fromarray(array), PROMPT, change, num_inference_steps=N_STEPS, generator=gen())
    result = np.asarray(out.images[0])
    assert out.images[0].size == (40, 48)
    keep = (change == 0).numpy()
    assert np.array_equal(result[keep], array[keep]), "pixels with m = 0 must be the input's"
    assert not np.array_equal(result[~keep], array[~keep])


@pytest.mark.parametrize("name", CASES)
def test_model_calls_follow_the_map(editors, name):
    editor = editors(name)
    image, change = make_image(), three_band_map() * 0.5  # maximum exactly 0.5 over a whole band
    counter = CallCounter(editor.adapter.denoiser(stage(editor)))
    everything = [CallCounter(module) for module in step_networks(editor)]
    try:
        out = editor(image, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(), output_type="latent")
        ours, counter.count = counter.count, 0
        stock_img2img(editor, image, PROMPT, 0.5, N_STEPS, gen())
        stock = counter.count
        for c in everything:
            c.count = 0
        editor(image, PROMPT, torch.zeros(64, 64), num_inference_steps=N_STEPS, generator=gen())
        none = sum(c.count for c in everything)
    finally:
        counter.close()
        for c in everything:
            c.close()
    assert out.steps_run == N_STEPS // 2
    # PNDM (SD 1.5's own scheduler) repeats one timestep, so stock img2img below strength 1 runs one more call.
    extra = int(type(stage(editor).scheduler).__name__ == "PNDMScheduler")
    assert ours == stock == N_STEPS // 2 + extra, "one (CFG-batched) model call per free step, like stock at 0.5"
    assert none == 0, "an all-zero map runs no model at all"


@pytest.mark.parametrize("name", CASES)
def test_nesting(editors, name):
    """Until its free position, every value the model sees is the original re-noised to that level;
    the first check also proves the editor's noise is the one the pipeline drew."""
    editor = editors(name)
    # maximum 0.8: idle steps are skipped with either rounding (floor: 4 of 6 steps run, ceil: 5)
    image, change = make_image(seed=2), three_band_map(middle=0.45) * 0.8
    scheduler = stage(editor).scheduler
    spy, hooks = StepSpy(scheduler), HookSpy()
    try:
        out = editor(image, PROMPT, change, num_inference_steps=N_STEPS, generator=gen(5), output_type="latent")
    finally:
        spy.close()
        hooks.close()
    x0, eps = hooks.hooks[-1].x0, hooks.hooks[-1].eps  # the checked stage's hook is the last one built
    k = free_steps(out.change, N_STEPS, editor.adapter.rounding)
    start = layout(editor, start_positions(k, N_STEPS, scheduler.order)).expand_as(x0)
    run_start = scheduler.order * (N_STEPS - int(k.max()))
    assert run_start > 0
    checked = 0
    for i, sample in enumerate(spy.samples):
        waiting = start > run_start + i
        if waiting.any():
            expected = renoise(x0, eps, scheduler, run_start + i)
            torch.testing.assert_close(sample[waiting], expected[waiting], rtol=0, atol=2e-5)
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize("name", CASES)
def test_batch_equals_one_at_a_time(editors, name):
    """Both maps have the same maximum: Kandinsky's and IF's DDPM draws fresh noise from each image's
    generator at every step it runs, so an image whose own maximum is lower would run (and draw for)
    more steps in a batch than alone."""
    editor = editors(name)
    images = torch.cat([make_image(seed=5), make_image(seed=6)])
    maps = torch.zeros(2, 1, 64, 64)
    maps[0, :, :, 20:] = 0.7
    maps[1, :, 30:, :] = 0.7
    maps[1, :, 50:, :] = 0.35
    batch = editor(images, PROMPT, maps, num_inference_steps=N_STEPS, generator=[gen(10), gen(11)],
                   output_type="latent").images
    assert batch.shape[0] == 2
    for b in range(2):
        single = editor(images[b], PROMPT, maps[b, 0], num_inference_steps=N_STEPS, generator=gen(10 + b),
                        output_type="latent").images
        atol = IF_BATCH_ATOL.get(name, BATCH_ATOL)
        torch.testing.assert_close(batch[b : b + 1], single, rtol=0, atol=atol)


def test_if_stage3_runs_unmodified_after_the_differential_stages(tiny_folders):
    editor = DifferentialEditor.from_pretrained(tiny_folders["if-1"], device="cpu", stage2=tiny_folders["if-2"],
                                                stage3=tiny_folders["x4-upscaler"])
    assert editor.stage3 is not None and editor.stage2.text_encoder is editor.pipe.text_encoder
    for pipe in editor.pipelines:
        pipe.set_progress_bar_config(disable=True)
    change = torch.zeros(64, 64)
    change[:, 32:] = 1.0
    upscaler = CallCounter(editor.stage3.unet)
    try:
        out = editor(make_image(), PROMPT, change, num_inference_steps=3, generator=gen(), output_type="pt")
    finally:
        upscaler.close()
    assert upscaler.count == 3, "stage III runs its whole schedule, as stock"
    assert out.images.shape == (1, 3, 64, 64)
    assert torch.equal(out.images[..., :32], make_image()[..., :32])


def test_extra_stages_belong_to_their_family(tiny_folders):
    with pytest.raises(ValueError, match=r"prior: only kandinsky has a prior stage, not 'sd3'"):
        DifferentialEditor.from_pretrained(tiny_folders["sd3"], device="cpu", prior=tiny_folders["kandinsky-prior"])
    with pytest.raises(UnsupportedPipelineError, match=r"IFImg2ImgSuperResolutionPipeline.*stage2="):
        DifferentialEditor.from_pretrained(tiny_folders["if-2"], device="cpu")
    with pytest.raises(UnsupportedPipelineError, match=r"FluxImg2ImgPipeline.*as stage2="):
        DifferentialEditor.from_pretrained(tiny_folders["if-1"], device="cpu", stage2=tiny_folders["flux"])


def test_kandinsky_from_pipe_needs_the_prior(editors):
    editor = editors("kandinsky")
    with pytest.raises(ValueError, match=r"prior: the 'kandinsky' family needs its prior"):
        DifferentialEditor.from_pipe(editor.pipe)
    again = DifferentialEditor.from_pipe(editor.pipe, prior=editor.prior)
    again.pipe.set_progress_bar_config(disable=True)
    change = three_band_map()
    ours = again(make_image(), PROMPT, change, num_inference_steps=4, generator=gen(), output_type="latent").images
    loaded = editor(make_image(), PROMPT, change, num_inference_steps=4, generator=gen(), output_type="latent").images
    torch.testing.assert_close(ours, loaded, rtol=0, atol=1e-6)
