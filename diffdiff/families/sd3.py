"""Stable Diffusion 3 through the stock ``StableDiffusion3Img2ImgPipeline`` (flow matching).

It accepts encoded latents as its ``image`` and reports every step to ``callback_on_step_end``; the
re-noising is ``sigma*eps + (1-sigma)*x0`` from the scheduler's sigmas (``diffdiff.schedulers``), and
``k(m)`` rounds up like its ``get_timesteps``.
"""

from __future__ import annotations

from typing import Any

import torch

from diffdiff.families.base import Family, image_size, vae_latents
from diffdiff.stages import StageRun


class StableDiffusion3(Family):
    """SD3 / SD3.5 through ``StableDiffusion3Img2ImgPipeline``."""

    name = "sd3"
    img2img_class = "StableDiffusion3Img2ImgPipeline"
    pipeline_classes = ("StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline")
    rounding = "ceil"

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

    def stock(self, editor, image: Any, prompt: Any, strength: float, num_inference_steps: int, generator: Any,
              output_type: str = "latent", **kwargs: Any) -> Any:
        # Without height/width the pipeline assumes its default sample size, whatever the image's.
        height, width = self.processing_size(editor.pipe, *image_size(image))
        return super().stock(editor, image, prompt, strength, num_inference_steps, generator, output_type,
                             height=height, width=width, **kwargs)

    def call_kwargs(self, run: StageRun) -> dict[str, Any]:
        # Without height/width the pipeline assumes its default sample size (and checks against it).
        return {**super().call_kwargs(run), "height": run.size[0], "width": run.size[1]}
