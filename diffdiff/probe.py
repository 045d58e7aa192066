"""Noise predictions of a loaded model at one timestep, for DiffEdit-style maps (Couairon et al., 2022).

Written once for every family, over the stock pipeline: the original is encoded once (each draw then takes
its own posterior sample from that encoding, with its own generator), each prompt is text-encoded once, and
the (prompt, draw) pairs run in batches of stock img2img calls at ``strength``, conditional branch only,
with the encoded latents as ``image``. A forward hook on the denoiser records its first prediction and a
step callback interrupts the loop right after it. Draw ``d`` of every prompt uses seed ``seed + d``, so all
prompts see the same noisy inputs and differences between them come from the text alone.

Families whose adapter gives no prompt embeddings (``Family.prompt_kwargs`` is ``None``: Kandinsky 2.2,
whose decoder is conditioned by a prior that draws from each generator, and DeepFloyd IF, whose pipelines
have no ``callback_on_step_end``) keep the slower generic path, one editor call per prompt and draw
(:func:`_predict_noise_per_call`), still without the unconditional branch.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

__all__ = ["predict_noise"]


@torch.no_grad()
def predict_noise(
    editor,
    image: Any,
    prompts: list[str],
    *,
    strength: float = 0.5,
    num_inference_steps: int = 10,
    n_draws: int = 4,
    seed: int = 0,
    guidance_scale: float | None = None,
    max_batch: int = 8,
) -> torch.Tensor:
    """The model's conditional noise prediction for each prompt and noise draw, at the first step of img2img
    at ``strength``.

    Args:
        editor: a ``DifferentialEditor``.
        image: one image (any form the editor takes).
        prompts: texts to condition on (e.g. ``[target, source]``); repeated texts are encoded once.
        strength: how noisy the probe is (DiffEdit uses about 0.5).
        num_inference_steps: the schedule the timestep is taken from.
        n_draws: noise draws (seeds ``seed .. seed + n_draws - 1``), shared by all prompts.
        seed: first seed.
        guidance_scale: ``None`` runs the conditional branch alone (``Family.probe_guidance``: 1.0, or the
            pipeline's default where guidance is a model input, as for Flux); a value is passed as is (with
            classifier-free guidance the unconditional half of the batch is computed and dropped).
        max_batch: the most (prompt, draw) pairs one denoiser call takes (the memory cap).

    Returns:
        float32 ``(len(prompts), n_draws, C, h, w)`` on the CPU: the denoiser's output for the conditional
        branch on the model grid (Flux's packed tokens are unpacked). Equal, within float error, to one
        editor call per prompt and draw (:func:`_predict_noise_per_call`). Kandinsky 2.2 and IF take that
        generic path, and their pipelines do not check diffusers' interrupt flag, so they run the
        remaining steps too (same result, more time).

    Raises:
        ValueError: a bad argument, more than one image, or a ``strength`` that runs no step.
    """
    from diffdiff.noise import fork_generator
    from diffdiff.stages import StageRun

    _check_probe(strength, n_draws, max_batch)
    adapter, pipe = editor.adapter, editor.pipe
    if guidance_scale is None:
        guidance_scale = adapter.probe_guidance(pipe)
    request, plan = _probe_plan(editor, image, strength, num_inference_steps, guidance_scale)
    unique = list(dict.fromkeys(prompts))
    embeds = adapter.prompt_kwargs(pipe, unique)
    if embeds is None:
        return _predict_noise_per_call(editor, image, prompts, strength=strength, n_draws=n_draws, seed=seed,
                                       num_inference_steps=num_inference_steps, guidance_scale=guidance_scale)
    encoded = adapter.encoder_output(pipe, adapter.to_model_pixels(pipe, request, plan.size))
    x0, generators = [], []
    for draw in range(n_draws):
        generator = torch.Generator().manual_seed(seed + draw)
        x0.append(adapter.sample_latents(pipe, encoded, generator))  # the generator now stands where encode left it
        generators.append(generator)
    pairs = [(unique.index(prompt), draw) for prompt in prompts for draw in range(n_draws)]
    predictions = []
    with _FirstPrediction(adapter.denoiser(pipe)) as first:
        for begin in range(0, len(pairs), max_batch):
            chunk = pairs[begin : begin + max_batch]
            latents = torch.cat([x0[draw] for _, draw in chunk])
            rows = torch.tensor([row for row, _ in chunk])
            run = StageRun(
                prompts=None, negative_prompts=None, image=adapter.pipeline_image(pipe, request, plan.size, latents),
                strength=plan.strength, n_steps=num_inference_steps,
                generator=[fork_generator(generators[d]) for _, d in chunk],
                hook=_Stop(), guidance_scale=guidance_scale, output_type="latent", size=plan.size,
                extra={name: value[rows.to(value.device)] for name, value in embeds.items()},
            )
            first.reset()
            try:
                adapter.run(pipe, run)
            finally:
                pipe._interrupt = False
            # With classifier-free guidance the denoiser saw [unconditional, conditional].
            predictions.append(adapter.unpack(pipe, first.output[-len(chunk):], plan.size).float().cpu())
    stacked = torch.cat(predictions)
    return stacked.reshape(len(prompts), n_draws, *stacked.shape[1:])


def _check_probe(strength: float, n_draws: int, max_batch: int) -> None:
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength: expected a float in (0, 1], got {strength!r}")
    if n_draws < 1:
        raise ValueError(f"n_draws: expected >= 1, got {n_draws!r}")
    if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
        raise ValueError(f"max_batch: expected an integer >= 1, got {max_batch!r}")


def _probe_plan(editor, image: Any, strength: float, n_steps: int, guidance_scale: float | None):
    """The request and stage plan the editor would make of ``image`` with a uniform map ``strength``."""
    from diffdiff.inputs import image_batch, map_batch, stock_form
    from diffdiff.stages import EditRequest, plan_stage

    pixels = image_batch(image)
    if pixels.shape[0] != 1:
        raise ValueError(f"image: the probe takes one image, got a batch of {pixels.shape[0]}")
    change = map_batch(float(strength), 1, tuple(pixels.shape[-2:]))
    request = EditRequest(pixels=pixels, source=stock_form(image, pixels), change=change, prompts=[],
                          negative_prompts=None, generator=None, n_steps=n_steps, guidance_scale=guidance_scale,
                          output_type="latent")
    plan = plan_stage(editor.adapter, editor.pipe, change, n_steps)
    if plan.k_max == 0:
        raise ValueError(f"strength: {strength!r} runs no step of a {n_steps}-step schedule; raise it or "
                         f"num_inference_steps")
    return request, plan


class _Stop:
    """A step callback that interrupts the loop after its first step (diffusers' own flag)."""

    tensor_inputs: ClassVar[list[str]] = []

    def __call__(self, pipe, step_index, timestep, callback_kwargs):
        pipe._interrupt = True  # the remaining steps are skipped
        return callback_kwargs


class _FirstPrediction:
    """A forward hook on the denoiser keeping the output of its first call since :meth:`reset`."""

    def __init__(self, denoiser: torch.nn.Module) -> None:
        self.denoiser, self.output, self._handle = denoiser, None, None

    def __enter__(self) -> _FirstPrediction:
        self._handle = self.denoiser.register_forward_hook(self._grab)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handle.remove()

    def reset(self) -> None:
        self.output = None

    def _grab(self, module, args, output) -> None:
        if self.output is None:
            self.output = (output[0] if isinstance(output, tuple) else output.sample).detach()


@torch.no_grad()
def _predict_noise_per_call(editor, image: Any, prompts: list[str], *, strength: float = 0.5,
                            num_inference_steps: int = 10, n_draws: int = 4, seed: int = 0,
                            guidance_scale: float | None = None) -> torch.Tensor:
    """The generic probe: one editor call per prompt and draw, each encoding the image and its prompt
    again (the fallback of families without :meth:`Family.prompt_kwargs`; ``guidance_scale=None`` keeps the
    pipeline's default, which is how :func:`predict_noise` ran before it batched). Same return as
    :func:`predict_noise`."""
    from diffdiff.inputs import image_batch

    adapter, pipe = editor.adapter, editor.pipe
    size = adapter.processing_size(pipe, *image_batch(image).shape[-2:])
    predictions = []
    with _FirstPrediction(adapter.denoiser(pipe)) as first:
        try:
            for prompt in prompts:
                draws = []
                for draw in range(n_draws):
                    first.reset()
                    probe = editor(image, prompt, float(strength), num_inference_steps=num_inference_steps,
                                   guidance_scale=guidance_scale, generator=torch.Generator().manual_seed(seed + draw),
                                   output_type="latent", callback_on_step_end=_Stop())
                    batch = probe.images.shape[0]
                    draws.append(adapter.unpack(pipe, first.output[-batch:], size).float().cpu())
                predictions.append(torch.cat(draws))
        finally:
            pipe._interrupt = False
    return torch.stack(predictions)
