"""``DifferentialEditor.edit_regions``: several (prompt, map) regions in one pass, on tiny random pipelines of
every family that declares regional editing. The properties hold for any weights, so random ones prove them."""

from __future__ import annotations

import pytest
import torch
from helpers import CallCounter, make_image

from automaps.errors import UnsupportedPipelineError
from diffdiff.core import free_steps, steps_for_strength
from diffdiff.families import FAMILIES as ADAPTERS
from diffdiff.regions import RegionalDenoiser, combine, region_weights, supports_regions
from diffdiff.tiny import generic_cases

FAMILIES = [name for name, case in generic_cases().items() if supports_regions(ADAPTERS[case.family])]
UNSUPPORTED = [name for name, case in generic_cases().items() if not supports_regions(ADAPTERS[case.family])]
N_STEPS = 4
SIZE = 32
BATCH_ATOL = 5e-4  # batched CPU kernels round differently from single ones (as in test_editor_stages)
CAT, DOG = "a cat on a sofa", "a dog in the grass"


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def columns(start: float, stop: float, value: float = 1.0) -> torch.Tensor:
    """A ``SIZE``x``SIZE`` map that is ``value`` on the columns ``[start, stop)`` (fractions of the width)."""
    change = torch.zeros(SIZE, SIZE)
    change[:, int(start * SIZE) : int(stop * SIZE)] = value
    return change


def latents(editor, regions, steps: int = N_STEPS, **call):
    return editor.edit_regions(make_image(SIZE, SIZE), regions, num_inference_steps=steps, generator=gen(),
                               output_type="latent", **call)


def plain(editor, prompt, change, steps: int = N_STEPS, **call):
    return editor(make_image(SIZE, SIZE), prompt, change, num_inference_steps=steps, generator=gen(),
                  output_type="latent", **call)


def test_every_basic_family_but_kandinsky_and_if_supports_regions():
    assert {ADAPTERS[generic_cases()[name].family].name for name in FAMILIES} >= {"sd", "sdxl", "sd3", "flux"}
    assert not supports_regions(ADAPTERS["kandinsky"]) and not supports_regions(ADAPTERS["deepfloyd_if"])


@pytest.mark.parametrize("family", FAMILIES)
def test_one_region_is_the_plain_call(editors, family):
    editor = editors(family)
    change = columns(0.25, 1.0, 0.7)
    change[:, 40:] = 1.0
    out = latents(editor, [(CAT, change)])
    reference = plain(editor, CAT, change)
    assert torch.equal(out.images, reference.images)
    assert out.steps_run == reference.steps_run and torch.equal(out.change, reference.change)


@pytest.mark.parametrize("family", FAMILIES)
def test_same_prompt_on_disjoint_maps_is_one_call_on_their_union(editors, family):
    editor = editors(family)
    left, right = columns(0.0, 0.25), columns(0.5, 0.75, 0.6)
    out = latents(editor, [(CAT, left), (CAT, right)])
    assert torch.equal(out.images, plain(editor, CAT, left + right).images)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_region_with_an_empty_map_changes_nothing(editors, family):
    """The second prompt runs in the batch but weighs 0 everywhere: the first prompt's edit (up to the
    batch-size rounding of CPU kernels; bit for bit on the UNets)."""
    editor = editors(family)
    counter = CallCounter(editor.adapter.denoiser(editor.pipe))
    try:
        out = latents(editor, [(CAT, columns(0.0, 0.5)), (DOG, torch.zeros(SIZE, SIZE))])
    finally:
        counter.close()
    assert counter.count > 0
    torch.testing.assert_close(out.images, plain(editor, CAT, columns(0.0, 0.5)).images, rtol=0, atol=BATCH_ATOL)


@pytest.mark.parametrize("family", FAMILIES)
def test_cells_no_map_touches_are_kept_exactly(editors, family):
    editor = editors(family)
    adapter, pipe = editor.adapter, editor.pipe
    x0 = plain(editor, CAT, torch.zeros(SIZE, SIZE)).images
    out = latents(editor, [(CAT, columns(0.0, 0.25)), (DOG, columns(0.5, 0.75, 0.8))])
    kept = adapter.pack(pipe, (free_steps(out.change, N_STEPS, adapter.rounding) == 0).float()) > 0.5
    kept = kept.expand_as(out.images)
    assert kept.any() and (~kept).any()
    assert torch.equal(out.images[kept], x0[kept])
    assert not torch.allclose(out.images[~kept], x0[~kept])
    # In pixels too: where every map is 0, the output is the input (preserve_unchanged).
    image = make_image(SIZE, SIZE)
    pixels = editor.edit_regions(image, [(CAT, columns(0.0, 0.25)), (DOG, columns(0.5, 0.75, 0.8))],
                                 num_inference_steps=N_STEPS, generator=gen(), output_type="pt").images
    untouched = (columns(0.0, 0.25) + columns(0.5, 0.75)) == 0
    assert torch.equal(pixels[0][:, untouched], image[0][:, untouched])


class RowSpy:
    """Records the batch size of every denoiser call."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.rows: list[int] = []
        self._handle = module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        sample = args[0] if args else kwargs.get("hidden_states", kwargs.get("sample"))
        self.rows.append(sample.shape[0])

    def close(self) -> None:
        self._handle.remove()


@pytest.mark.parametrize("family", FAMILIES)
def test_steps_follow_the_maximum_map_and_prompts_share_one_call(editors, family):
    editor = editors(family)
    denoiser = editor.adapter.denoiser(editor.pipe)
    maps = [columns(0.0, 0.3, 0.3), columns(0.3, 0.6, 0.55), columns(0.6, 1.0, 0.3)]
    prompts = [CAT, DOG, "a bird"]
    plain_spy = RowSpy(denoiser)
    try:
        reference = plain(editor, CAT, torch.maximum(torch.maximum(maps[0], maps[1]), maps[2]), steps=10)
    finally:
        plain_spy.close()
    spy = RowSpy(denoiser)
    try:
        out = latents(editor, list(zip(prompts, maps, strict=True)), steps=10)
    finally:
        spy.close()
    assert out.steps_run == steps_for_strength(0.55, 10, editor.adapter.rounding) == reference.steps_run
    # One batched call per model evaluation of the plain run, each with two more conditional rows.
    assert len(spy.rows) == len(plain_spy.rows) > 0
    assert spy.rows == [rows + 2 for rows in plain_spy.rows]
    assert not denoiser._forward_pre_hooks and not denoiser._forward_hooks, "the wrapper must go after the call"


@pytest.mark.parametrize("family", FAMILIES)
def test_a_batch_equals_single_runs(editors, family):
    editor = editors(family)
    images = make_image(SIZE, SIZE, batch=2, seed=3)
    first = [columns(0.0, 0.5), columns(0.25, 0.5, 0.6)]
    second = [columns(0.5, 1.0, 0.5), columns(0.5, 0.75)]
    batch = editor.edit_regions(images, [(CAT, torch.stack(first)[:, None]), (DOG, torch.stack(second)[:, None])],
                                num_inference_steps=N_STEPS, generator=[gen(10), gen(11)], output_type="pt").images
    for b in range(2):
        single = editor.edit_regions(images[b], [(CAT, first[b]), (DOG, second[b])], num_inference_steps=N_STEPS,
                                     generator=gen(10 + b), output_type="pt").images
        torch.testing.assert_close(batch[b : b + 1], single, rtol=0, atol=BATCH_ATOL)


def test_an_all_kept_image_of_a_batch_and_images_per_prompt(editors):
    editor = editors(FAMILIES[0])
    images = make_image(SIZE, SIZE, batch=2, seed=4)
    zero = torch.zeros(SIZE, SIZE)
    regions = [(CAT, torch.stack([columns(0.0, 0.5), zero])[:, None]),
               (DOG, torch.stack([columns(0.5, 1.0), zero])[:, None])]
    out = editor.edit_regions(images, regions, num_inference_steps=N_STEPS, generator=[gen(1), gen(2), gen(3), gen(4)],
                              num_images_per_prompt=2, output_type="pt")
    assert torch.equal(out.images[2:], images[1:].repeat(2, 1, 1, 1))
    for r in range(2):
        single = editor.edit_regions(images[0], [(CAT, columns(0.0, 0.5)), (DOG, columns(0.5, 1.0))],
                                     num_inference_steps=N_STEPS, generator=gen(1 + r), output_type="pt").images
        torch.testing.assert_close(out.images[r : r + 1], single, rtol=0, atol=BATCH_ATOL)


@pytest.mark.parametrize("family", FAMILIES)
def test_two_prompts_on_two_halves_differ_from_either_single_prompt(editors, family):
    editor = editors(family)
    left, right = columns(0.0, 0.5), columns(0.5, 1.0)
    both = editor.edit_regions(make_image(SIZE, SIZE), [(CAT, left), (DOG, right)], num_inference_steps=N_STEPS,
                               generator=gen(), output_type="pt").images[0]
    only = {p: editor(make_image(SIZE, SIZE), p, left + right, num_inference_steps=N_STEPS, generator=gen(),
                      output_type="pt").images[0] for p in (CAT, DOG)}
    half = SIZE // 2
    # Each half differs from the edit whose prompt is the other region's.
    assert (both[:, :, half:] - only[CAT][:, :, half:]).abs().mean() > 1e-3
    assert (both[:, :, :half] - only[DOG][:, :, :half]).abs().mean() > 1e-3


def test_a_background_prompt_weighs_one_minus_the_maximum(editors):
    editor = editors(FAMILIES[0])
    soft = columns(0.0, 0.5, 0.5)
    # The region's prompt equal to the background one: one distinct prompt, the plain call.
    same = latents(editor, [(CAT, soft)], background_prompt=CAT)
    assert torch.equal(same.images, plain(editor, CAT, soft).images)
    # Another background prompt changes a half-strength region (it weighs 1 - 0.5 there).
    other = latents(editor, [(CAT, soft)], background_prompt=DOG)
    assert not torch.allclose(other.images, same.images)
    assert other.steps_run == same.steps_run


def test_the_wrapped_denoiser_combines_predictions_cell_by_cell(editors):
    """On the tiny UNet: cells weighted wholly to one prompt get that prompt's prediction, bit for bit; a mixed
    cell gets the weighted sum; the unconditional rows pass through."""
    editor = editors("sd")
    pipe, adapter = editor.pipe, editor.adapter
    unet = adapter.denoiser(pipe)
    embeds = adapter.prompt_kwargs(pipe, [CAT, DOG])["prompt_embeds"]
    sample = torch.randn(2, unet.config.in_channels, 8, 8, generator=gen())
    cond = torch.cat([embeds[:1] * 0, embeds[:1]])  # [unconditional stand-in, the pipeline's own prompt]
    weight = torch.zeros(1, 1, 1, 8, 8)
    weight[..., 4:] = 1.0
    weight[..., 3] = 0.25
    with torch.no_grad():
        plain_cat = unet(sample, 10, encoder_hidden_states=cond, return_dict=False)[0]
        plain_dog = unet(sample, 10, encoder_hidden_states=torch.cat([cond[:1], embeds[1:]]), return_dict=False)[0]
        with RegionalDenoiser(unet, {"prompt_embeds": embeds[1:]}, weight) as wrapper:
            mixed = unet(sample, 10, encoder_hidden_states=cond, return_dict=False)[0]
    assert wrapper.calls == 1 and not unet._forward_pre_hooks and not unet._forward_hooks
    assert torch.equal(mixed[0], plain_cat[0])
    assert torch.equal(mixed[1, :, :, :3], plain_cat[1, :, :, :3])
    assert torch.equal(mixed[1, :, :, 4:], plain_dog[1, :, :, 4:])
    torch.testing.assert_close(mixed[1, :, :, 3], 0.75 * plain_cat[1, :, :, 3] + 0.25 * plain_dog[1, :, :, 3])


def test_weights_and_combination_are_exact_where_one_prompt_holds_a_cell():
    maps = torch.tensor([[1.0, 0.0, 0.6, 0.0], [0.0, 1.0, 0.2, 0.0]]).view(2, 1, 1, 1, 4)
    weights = region_weights(maps, [[1]], background=False)
    assert weights.flatten().tolist() == [0.0, 1.0, 0.25, 0.0]
    base, other = torch.randn(1, 4, 1, 4, generator=gen(1)), torch.randn(1, 4, 1, 4, generator=gen(2))
    mixed = combine(base, [other], list(weights))
    assert torch.equal(mixed[..., 0], base[..., 0]) and torch.equal(mixed[..., 1], other[..., 1])
    assert torch.equal(mixed[..., 3], base[..., 3])  # no region: the base prompt's
    with_background = region_weights(maps, [[0], [1]], background=True)
    assert with_background[:, 0, 0, 0, 2].tolist() == pytest.approx([0.45, 0.15])  # sum 0.6 = max, background 0.4


@pytest.mark.parametrize("family", UNSUPPORTED)
def test_unsupported_families_say_so(editors, family):
    editor = editors(family)
    with pytest.raises(UnsupportedPipelineError, match="regions"):
        editor.edit_regions(make_image(SIZE, SIZE), [(CAT, columns(0, 0.5)), (DOG, columns(0.5, 1))])


@pytest.mark.parametrize(("regions", "error", "match"), [
    ([], TypeError, r"^regions: expected a non-empty list"),
    ("a cat", TypeError, r"^regions: expected a non-empty list"),
    ([(CAT,)], TypeError, r"^regions\[0\]: expected a \(prompt, change_map\) pair"),
    ([(CAT, 0.5), (3, 0.5)], TypeError, r"^regions\[1\]: the prompt must be a string"),
    ([(CAT, 0.5), (DOG, torch.zeros(16, 16))], ValueError, r"^regions\[1\]: change_map: 16x16 pixels, the image"),
    ([(CAT, torch.full((SIZE, SIZE), 1.5))], ValueError, r"^regions\[0\]: change_map: expected values in \[0, 1\]"),
    ([(CAT, "sky")], TypeError, r"^regions\[0\]: change_map: expected a PIL image"),
], ids=["empty", "string", "single", "prompt-type", "map-size", "map-range", "map-type"])
def test_bad_regions_are_refused_naming_the_region(editors, regions, error, match):
    editor = editors("sd")
    counter = CallCounter(editor.adapter.denoiser(editor.pipe))
    try:
        with pytest.raises(error, match=match):
            editor.edit_regions(make_image(SIZE, SIZE), regions)
    finally:
        counter.close()
    assert counter.count == 0


@pytest.mark.parametrize(("call", "error", "match"), [
    ({"prompt": CAT}, TypeError, r"^prompt: not an argument of edit_regions"),
    ({"prompt_embeds": torch.zeros(1)}, TypeError, r"^prompt_embeds: not an argument"),
    ({"background_prompt": 3}, TypeError, r"^background_prompt: expected a string"),
    ({"invert_map": 1}, TypeError, r"^invert_map: expected True or False"),
    ({"num_inference_steps": 0}, ValueError, r"^num_inference_steps"),
], ids=["prompt", "embeds", "background", "invert", "steps"])
def test_bad_call_arguments_are_refused(editors, call, error, match):
    editor = editors("sd")
    with pytest.raises(error, match=match):
        editor.edit_regions(make_image(SIZE, SIZE), [(CAT, columns(0, 0.5)), (DOG, columns(0.5, 1))], **call)
    assert not editor.adapter.denoiser(editor.pipe)._forward_pre_hooks


def test_inputs_are_not_modified_and_the_wrapper_goes_on_errors(editors):
    editor = editors("sd")
    image, left, right = make_image(SIZE, SIZE), columns(0.0, 0.5), columns(0.5, 1.0, 0.6)
    copies = image.clone(), left.clone(), right.clone()

    def fail(pipe, step, timestep, kwargs):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        editor.edit_regions(image, [(CAT, left), (DOG, right)], num_inference_steps=N_STEPS,
                            callback_on_step_end=fail)
    assert not editor.adapter.denoiser(editor.pipe)._forward_pre_hooks
    assert all(torch.equal(a, b) for a, b in zip((image, left, right), copies, strict=True))


def test_inverted_maps_read_every_region_in_the_papers_convention(editors):
    editor = editors("sd")
    left, right = columns(0.0, 0.5), columns(0.5, 1.0, 0.6)
    inverted = latents(editor, [(CAT, 1 - left), (DOG, 1 - right)], invert_map=True)
    assert torch.equal(inverted.images, latents(editor, [(CAT, left), (DOG, right)]).images)


def test_sdxl_with_refiner_runs_regions_on_both_stages(tiny_folders):
    from diffdiff import DifferentialEditor

    editor = DifferentialEditor.from_pretrained(tiny_folders["sdxl"], device="cpu",
                                                refiner=tiny_folders["sdxl-refiner"])
    for pipe in editor.pipelines:
        pipe.set_progress_bar_config(disable=True)
    spies = [RowSpy(editor.adapter.denoiser(pipe)) for pipe in editor.pipelines]
    try:
        out = latents(editor, [(CAT, columns(0.0, 0.5)), (DOG, torch.zeros(SIZE, SIZE))], steps=10)
    finally:
        for spy in spies:
            spy.close()
    assert all(spy.rows and set(spy.rows) == {3} for spy in spies), "both stages batch the second prompt"
    assert torch.equal(out.images, plain(editor, CAT, columns(0.0, 0.5), steps=10).images)
