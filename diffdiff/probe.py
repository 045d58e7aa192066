"""Noise predictions of a loaded model at one timestep, for DiffEdit-style maps (Couairon et al., 2022).

Written once for every family: the editor runs its own stock pipeline with a uniform map (exactly img2img at
``strength``), a forward hook on the denoiser records its first prediction, and a step callback interrupts
the loop right after it. The same generator seed gives the same noisy input for every prompt, so
differences between prompts come from the text alone.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["predict_noise"]


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
) -> torch.Tensor:
    """The model's conditional noise prediction for each prompt and noise draw, at the first step of img2img
    at ``strength``.

    Args:
        editor: a ``DifferentialEditor``.
        image: one image (any form the editor takes).
        prompts: texts to condition on (e.g. ``[target, source]``).
        strength: how noisy the probe is (DiffEdit uses about 0.5).
        num_inference_steps: the schedule the timestep is taken from.
        n_draws: noise draws (seeds ``seed .. seed + n_draws - 1``), shared by all prompts.
        seed: first seed.
        guidance_scale: ``None`` keeps the pipeline's default (it decides whether an unconditional branch runs).

    Returns:
        float32 ``(len(prompts), n_draws, C, h, w)`` (one image) on the CPU: the denoiser's output for the conditional
        branch on the model grid (Flux's packed tokens are unpacked). Kandinsky 2.2 and IF pipelines do not
        check diffusers' interrupt flag, so for them the probe runs the remaining steps too (same result,
        more time).
    """
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength: expected a float in (0, 1], got {strength!r}")
    if n_draws < 1:
        raise ValueError(f"n_draws: expected >= 1, got {n_draws!r}")
    from diffdiff.inputs import image_batch

    adapter, pipe = editor.adapter, editor.pipe
    captured: list[torch.Tensor] = []
    # The denoiser may answer in the loop's layout (Flux: packed tokens); the caller gets the model grid.
    size = adapter.processing_size(pipe, *image_batch(image).shape[-2:])

    def grab(module, args, output) -> None:
        if not captured:
            captured.append((output[0] if isinstance(output, tuple) else output.sample).detach())

    handle = adapter.denoiser(pipe).register_forward_hook(grab)
    predictions = []
    try:
        for prompt in prompts:
            draws = []
            for draw in range(n_draws):
                captured.clear()
                batch = _first_step(editor, image, prompt, strength, num_inference_steps, guidance_scale, seed + draw)
                # With classifier-free guidance the denoiser saw [unconditional, conditional].
                draws.append(adapter.unpack(pipe, captured[0][-batch:], size).float().cpu())
            predictions.append(torch.cat(draws))
    finally:
        handle.remove()
        pipe._interrupt = False
    return torch.stack(predictions)


def _stop(pipe, step_index, timestep, callback_kwargs):
    pipe._interrupt = True  # diffusers' own interruption flag: the remaining steps are skipped
    return callback_kwargs


@torch.no_grad()
def _first_step(editor, image: Any, prompt: str, strength: float, n_steps: int, guidance_scale: float | None,
                seed: int) -> int:
    """Run img2img at ``strength`` from seed ``seed`` until the first step; returns the batch size."""
    probe = editor(image, prompt, float(strength), num_inference_steps=n_steps, guidance_scale=guidance_scale,
                   generator=torch.Generator().manual_seed(seed), output_type="latent", callback_on_step_end=_stop)
    return probe.images.shape[0]
