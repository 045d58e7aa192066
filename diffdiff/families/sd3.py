"""Stable Diffusion 3 through the stock ``StableDiffusion3Img2ImgPipeline`` (flow matching).

It accepts encoded latents as its ``image`` and reports every step to ``callback_on_step_end``; the
re-noising is ``sigma*eps + (1-sigma)*x0`` from the scheduler's sigmas (``diffdiff.schedulers``), and
``k(m)`` rounds up like its ``get_timesteps``.
"""

from __future__ import annotations

from typing import Any

import torch

from diffdiff.families.base import Family, ShiftedLatents, vae_latents


class StableDiffusion3(ShiftedLatents, Family):
    """SD3 / SD3.5 through ``StableDiffusion3Img2ImgPipeline``."""

    name = "sd3"
    regions = True  # edit_regions: prompt_kwargs feeds the transformer's text arguments
    img2img_class = "StableDiffusion3Img2ImgPipeline"
    pipeline_classes = ("StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline")
    rounding = "ceil"
    passes_size = True

    def size_multiple(self, pipe) -> int:
        # The transformer cuts the latents into patch_size^2 patches.
        return self.scale_factor(pipe) * pipe.transformer.config.patch_size

    def latent_dtype(self, pipe) -> torch.dtype:
        for name in ("text_encoder", "text_encoder_3"):
            encoder = getattr(pipe, name, None)
            if encoder is not None:
                return encoder.dtype
        return pipe.transformer.dtype

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        # The stock prepare_latents without its noise: a posterior sample, shifted, then scaled.
        pixels = pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe))
        config = pipe.vae.config
        return (vae_latents(pipe, pixels, generator) - config.shift_factor) * config.scaling_factor

    def prompt_kwargs(self, pipe, prompts: list[str]) -> dict[str, torch.Tensor]:
        # encode_prompt without classifier-free guidance returns (embeds, None, pooled, None).
        device = pipe._execution_device
        outputs = [pipe.encode_prompt([p], None, None, device=device, do_classifier_free_guidance=False)
                   for p in prompts]
        return {"prompt_embeds": torch.cat([o[0] for o in outputs]),
                "pooled_prompt_embeds": torch.cat([o[2] for o in outputs])}
