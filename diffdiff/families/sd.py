"""Stable Diffusion 1.x / 2.x and SDXL (base and refiner): thin adapters over the stock img2img
pipelines, which accept encoded latents as their ``image`` and report every step to
``callback_on_step_end``."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch

from diffdiff.families.base import Family, posterior_sample, vae_latents, vae_posterior
from diffdiff.noise import draw_like_pipeline
from diffdiff.stages import DifferentialOutput, EditRequest, plan_stage, run_stage


class StableDiffusion(Family):
    """SD 1.x / 2.x through ``StableDiffusionImg2ImgPipeline``."""

    name = "sd"
    regions = True  # edit_regions: prompt_kwargs feeds the UNet's text arguments
    img2img_class = "StableDiffusionImg2ImgPipeline"
    pipeline_classes = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline")
    discrete_schedulers = True

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        # The stock pipeline's own steps: one posterior sample per image, then the VAE's scaling factor.
        pixels = pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe))
        return pipe.vae.config.scaling_factor * vae_latents(pipe, pixels, generator)

    def encoder_output(self, pipe, pixels: torch.Tensor) -> Any:
        return vae_posterior(pipe, pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe)))

    def sample_latents(self, pipe, encoded: Any, generator: torch.Generator) -> torch.Tensor:
        return pipe.vae.config.scaling_factor * posterior_sample(encoded, generator)

    def prompt_kwargs(self, pipe, prompts: list[str]) -> dict[str, torch.Tensor]:
        # The pipeline's own encode_prompt, conditional branch only (its second output is then None).
        device = pipe._execution_device
        return {"prompt_embeds": torch.cat([pipe.encode_prompt([p], device, 1, False)[0] for p in prompts])}


class StableDiffusionXL(Family):
    """SDXL base and refiner through ``StableDiffusionXLImg2ImgPipeline``; with a refiner, one global
    schedule: the base stops where the refiner's loop begins, with the same thresholds."""

    name = "sdxl"
    regions = True  # edit_regions: with or without the refiner
    img2img_class = "StableDiffusionXLImg2ImgPipeline"
    pipeline_classes = ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline")
    extra_classes: ClassVar[dict[str, tuple[str, ...]]] = {"refiner": pipeline_classes}
    reserved = frozenset({"denoising_start"})
    discrete_schedulers = True

    def latent_dtype(self, pipe) -> torch.dtype:
        encoder = getattr(pipe, "text_encoder_2", None)
        return encoder.dtype if encoder is not None else pipe.unet.dtype

    def attach(self, role: str, pipe, main_pipe, scheduler: Any = None):
        refiner = self.convert(pipe)
        # One global schedule: the refiner continues with a scheduler of the same kind.
        refiner.scheduler = type(main_pipe.scheduler).from_config(main_pipe.scheduler.config)
        return refiner

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

    def encoder_output(self, pipe, pixels: torch.Tensor) -> Any:
        # prepare_latents(add_noise=False) up to its draw: the same device/dtype, the same fp32 upcast.
        dtype = self.latent_dtype(pipe)
        pixels = pixels.to(device=pipe._execution_device, dtype=dtype)
        if pipe.vae.config.force_upcast:
            pixels = pixels.float()
            pipe.vae.to(dtype=torch.float32)
        encoded = vae_posterior(pipe, pixels)
        if pipe.vae.config.force_upcast:
            pipe.vae.to(dtype)
        return encoded

    def sample_latents(self, pipe, encoded: Any, generator: torch.Generator) -> torch.Tensor:
        # The rest of prepare_latents(add_noise=False): the draw, the dtype, latents_mean/std or the scaling.
        dtype, config = self.latent_dtype(pipe), pipe.vae.config
        latents = posterior_sample(encoded, generator).to(dtype)
        if getattr(config, "latents_mean", None) is not None and getattr(config, "latents_std", None) is not None:
            mean = torch.tensor(config.latents_mean).view(1, 4, 1, 1).to(device=latents.device, dtype=dtype)
            std = torch.tensor(config.latents_std).view(1, 4, 1, 1).to(device=latents.device, dtype=dtype)
            return (latents - mean) * config.scaling_factor / std
        return config.scaling_factor * latents

    def prompt_kwargs(self, pipe, prompts: list[str]) -> dict[str, torch.Tensor]:
        # encode_prompt without classifier-free guidance returns (embeds, None, pooled, None).
        device = pipe._execution_device
        outputs = [pipe.encode_prompt([p], device=device, do_classifier_free_guidance=False) for p in prompts]
        return {"prompt_embeds": torch.cat([o[0] for o in outputs]),
                "pooled_prompt_embeds": torch.cat([o[2] for o in outputs])}

    def edit(self, editor, request: EditRequest) -> DifferentialOutput:
        if editor.refiner is None:
            return super().edit(editor, request)
        pipe, n_steps = editor.pipe, request.n_steps
        plan = plan_stage(self, pipe, request.change, n_steps, request.skip_idle_steps)
        if plan.k_max == 0 and request.output_type != "latent":
            return DifferentialOutput(None, plan.change, 0, 0.0)
        x0 = self.encode(pipe, self.to_model_pixels(pipe, request, plan.size), request.generator)
        if plan.k_max == 0:
            return DifferentialOutput(x0, plan.change, 0, 0.0)
        eps = draw_like_pipeline(request.generator, self.noise_shape(x0), x0.device, x0.dtype)
        run_start = pipe.scheduler.order * (n_steps - plan.k_run)
        begin = refiner_begin(editor.refiner, n_steps, request.refiner_start)
        output, start = request.output_type, request.refiner_start
        if run_start < begin:
            latents = run_stage(self, pipe, request, plan, x0, x0, output_type="latent", eps=eps,
                                extra={"denoising_end": start})
            images = run_stage(self, editor.refiner, request, plan, x0, latents, output_type=output, eps=eps,
                               first_position=begin, extra={"denoising_start": start})
        else:
            # Every free step lies in the refiner's part of the schedule: it runs alone, as img2img.
            images = run_stage(self, editor.refiner, request, plan, x0, x0, output_type=output, eps=eps)
        return DifferentialOutput(images, plan.change, plan.k_run, plan.strength)


def refiner_begin(refiner, n_steps: int, refiner_start: float) -> int:
    """Position in the global schedule where the refiner's loop begins (diffusers' own rule)."""
    scheduler = copy.deepcopy(refiner.scheduler)
    scheduler.set_timesteps(n_steps)
    train_steps = scheduler.config.num_train_timesteps
    cutoff = round(train_steps - refiner_start * train_steps)
    count = (scheduler.timesteps < cutoff).sum().item()
    if scheduler.order == 2 and count % 2 == 0:
        count += 1
    return len(scheduler.timesteps) - count
