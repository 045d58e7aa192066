"""Stable Diffusion 1.x / 2.x and SDXL (base and refiner): thin adapters over the stock img2img
pipelines, which accept encoded latents as their ``image`` and report every step to
``callback_on_step_end``."""

from __future__ import annotations

from typing import Any

import torch

from diffdiff.families.base import Family


class StableDiffusion(Family):
    """SD 1.x / 2.x through ``StableDiffusionImg2ImgPipeline``."""

    name = "sd"
    img2img_class = "StableDiffusionImg2ImgPipeline"
    pipeline_classes = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline")

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        # The stock pipeline's own steps: one posterior sample per image (per generator when given a
        # list), then the VAE's scaling factor.
        from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents

        pixels = pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe))
        if isinstance(generator, list):
            parts = [retrieve_latents(pipe.vae.encode(pixels[i : i + 1]), generator=generator[i])
                     for i in range(pixels.shape[0])]
            latents = torch.cat(parts)
        else:
            latents = retrieve_latents(pipe.vae.encode(pixels), generator=generator)
        return pipe.vae.config.scaling_factor * latents


class StableDiffusionXL(Family):
    """SDXL base and refiner through ``StableDiffusionXLImg2ImgPipeline``."""

    name = "sdxl"
    img2img_class = "StableDiffusionXLImg2ImgPipeline"
    pipeline_classes = ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline")

    def latent_dtype(self, pipe) -> torch.dtype:
        encoder = getattr(pipe, "text_encoder_2", None)
        return encoder.dtype if encoder is not None else pipe.unet.dtype

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        # prepare_latents(add_noise=False) is the pipeline's own encoder: fp32 upcast of the VAE,
        # latents_mean/std when configured, one generator per image when given a list.
        return pipe.prepare_latents(
            pixels,
            None,
            pixels.shape[0],
            1,
            self.latent_dtype(pipe),
            pipe._execution_device,
            generator,
            add_noise=False,
        )
