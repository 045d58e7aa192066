"""Inpainting checkpoints (9-channel SD 1.x/2.x and SDXL UNets) as families of their own, through the stock
``StableDiffusionInpaintPipeline`` / ``StableDiffusionXLInpaintPipeline``.

The differential blend of the latents is the same as every family's (:class:`~diffdiff.hook.DifferentialStep`).
What is added is the model's own conditioning: at every step the mask the UNet sees is the set of cells free
at that step, and its masked-image latents are the VAE encoding of ``pixels * (mask < 0.5)``, built the stock
way (:mod:`diffdiff.masking`). Both pipelines list ``mask`` and ``masked_image_latents`` in their
``_callback_tensor_inputs``, so the step callback hands them the next step's pair; the first step's pair is
passed as ``mask_image`` / ``masked_image_latents``. The free set only grows: one masked image per distinct
``k(m)`` is encoded, in one batched encoder run, before the loop.

Generator draws follow the stock pipeline: below strength 1 it encodes the image, then draws the noise, then
encodes the masked image; at strength 1 it does not encode the image (the original only matters where the map
keeps it, and is drawn from a copy of the generator). Every masked image of a run gets the draw stock's one
masked-image encode gets, so a uniform map is exactly the stock inpainting pipeline with an all-ones mask.

A 4-channel UNet saved under an inpainting class is refused: that pipeline blends its own mask into the
latents, which is plain img2img under a map; load it as img2img (the ``sd`` / ``sdxl`` family) instead.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from diffdiff.core import start_positions
from diffdiff.families.base import Family, image_size
from diffdiff.masking import MaskSchedule, free_mask, mask_thresholds, masked_pixels, pixel_mask
from diffdiff.noise import draw_like_pipeline, fork_generator
from diffdiff.stages import DifferentialOutput, EditRequest, StagePlan, StageRun, plan_stage, run_stage

__all__ = ["ENCODE_BATCH", "INPAINT_FAMILIES", "StableDiffusionInpaint", "StableDiffusionXLInpaint",
           "check_inpaint_unet"]

ENCODE_BATCH = 8
"""Masked images per VAE encoder run (the distinct masks of a soft map can number ``k(max m)``)."""

INPAINT_IN_CHANNELS = 9


class InpaintFamily(Family):
    """What SD and SDXL inpainting share: loading checks, the per-step masks, the stock reference."""

    reserved = frozenset({"mask_image", "masked_image_latents", "padding_mask_crop", "denoising_start"})
    passes_size = True  # the stock pipelines default to the UNet's sample size, not the image's
    discrete_schedulers = True
    upcasts_vae: ClassVar[bool] = False
    """The pipeline's ``_encode_vae_image`` runs the VAE in float32 when its config says ``force_upcast`` (SDXL)."""
    encodes_at_full_strength: ClassVar[bool] = False
    """Stock encodes the image at strength 1 too (Flux Fill); SD/SDXL inpainting start from pure noise there."""
    builds_first_mask: ClassVar[bool] = False
    """The pipeline gets the image's pixels and the first mask and encodes both itself (Flux Fill, which
    accepts masked-image latents only without an image); later masks reach the model another way."""

    # -- loading -------------------------------------------------------------------------------------
    def load(self, id_or_folder: str, **kwargs: Any):
        return check_inpaint_unet(super().load(id_or_folder, **kwargs), self.name)

    def convert(self, pipe):
        return check_inpaint_unet(super().convert(pipe), self.name)

    def size_multiple(self, pipe) -> int:
        # The stock inpainting pipelines refuse sizes that are not multiples of 8, whatever the VAE's factor.
        return math.lcm(8, self.scale_factor(pipe))

    # -- encoding ------------------------------------------------------------------------------------
    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        # The pipeline's own _encode_vae_image: a posterior sample per image (per generator), scaled.
        pixels = pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe))
        return pipe._encode_vae_image(pixels, generator=generator)

    def encode_masked(self, pipe, masked: list[torch.Tensor], generator: Any) -> list[torch.Tensor]:
        """Unscaled VAE posterior samples of several masked images, each drawn as stock's one masked-image
        encode draws (every mask's sample uses the same generator state, the one stock's encode finds).

        Args:
            pipe: the inpainting pipeline.
            masked: ``(B, 3, H, W)`` in [-1, 1] per distinct mask.
            generator: the generator(s) in the state stock's masked-image encode finds them (after the noise).

        Returns:
            ``(B, C, h, w)`` samples in the latent dtype per entry of ``masked``: one encoder run per
            :data:`ENCODE_BATCH` images, not one per mask and step.
        """
        from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

        dtype, vae = self.latent_dtype(pipe), pipe.vae
        stacked = torch.cat(masked).to(device=pipe._execution_device, dtype=dtype)
        upcast = self.upcasts_vae and bool(getattr(vae.config, "force_upcast", False)) and vae.dtype != torch.float32
        if upcast:  # as SDXL's _encode_vae_image: the encoder runs in float32
            stacked, vae_dtype = stacked.float(), vae.dtype
            vae.to(dtype=torch.float32)
        parameters = torch.cat([vae.encode(chunk).latent_dist.parameters for chunk in stacked.split(ENCODE_BATCH)])
        if upcast:
            vae.to(dtype=vae_dtype)
        batch = masked[0].shape[0]
        samples = []
        for index in range(len(masked)):
            posterior = DiagonalGaussianDistribution(parameters[index * batch : (index + 1) * batch])
            samples.append(posterior.sample(generator=fork_generator(generator)).to(dtype))
        return samples

    def masked_image(self, pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The masked image as the stock pipeline builds it from ``(B, 3, H, W)`` pixels in [-1, 1] and a
        ``(B, 1, H, W)`` mask in {0, 1} (1 = fill): SD/SDXL's ``pixels * (mask < 0.5)``."""
        return masked_pixels(pixels, mask)

    def condition(self, pipe, mask: torch.Tensor, sample: torch.Tensor) -> Any:
        """What the model reads beside its latents for one mask: SD/SDXL's scaled masked-image latents
        ``(B, 4, h, w)`` (the pipeline concatenates the mask itself)."""
        return pipe.vae.config.scaling_factor * sample

    def mask_conditions(self, pipe, request: EditRequest, plan: StagePlan, pixels: torch.Tensor, x0: torch.Tensor,
                        generator: Any) -> dict[int, tuple[torch.Tensor, Any]]:
        """Every mask the run's model evaluations see, with its :meth:`condition`.

        Args:
            pipe: the inpainting pipeline.
            request: the edit.
            plan: the stage plan (its ``k``, ``k_run``).
            pixels: ``(B, 3, H, W)`` in [-1, 1], the preprocessed original.
            x0: ``(B, C, h, w)`` its latents (the noise's shape, device and dtype).
            generator: the generator(s) in the state the pipeline's noise draw finds them.

        Returns:
            threshold position -> ``(mask (B, 1, h, w) in {0, 1}, 1 = free; its condition)``; the first
            position's condition is ``None`` where the pipeline builds it itself (:attr:`builds_first_mask`).
        """
        from diffusers.utils.torch_utils import randn_tensor

        order, n_steps = pipe.scheduler.order, request.n_steps
        start = start_positions(plan.k, n_steps, order).to(x0.device)
        thresholds = mask_thresholds(start, order * (n_steps - plan.k_run))
        masks = [free_mask(start, position, x0.dtype) for position in thresholds]
        encoded = masks[1:] if self.builds_first_mask else masks
        # Stock draws its noise before it encodes the masked image: skip that draw on a copy.
        after_noise = fork_generator(generator)
        randn_tensor(self.noise_shape(x0), generator=after_noise, device=x0.device, dtype=x0.dtype)
        conditions = [None] * (len(masks) - len(encoded))
        if encoded:
            images = [self.masked_image(pixels, pixel_mask(mask, plan.size)) for mask in encoded]
            samples = self.encode_masked(pipe, images, after_noise)
            conditions += [self.condition(pipe, m, x) for m, x in zip(encoded, samples, strict=True)]
        return dict(zip(thresholds, zip(masks, conditions, strict=True), strict=True))

    # -- running -------------------------------------------------------------------------------------
    def edit(self, editor, request: EditRequest) -> DifferentialOutput:
        pipe, generator = editor.pipe, request.generator
        plan = plan_stage(self, pipe, request.change, request.n_steps, request.skip_idle_steps)
        if plan.k_max == 0 and request.output_type != "latent":
            return DifferentialOutput(None, plan.change, 0, 0.0)
        pixels = self.to_model_pixels(pipe, request, plan.size).to(torch.float32)
        # Stock draws the image's sample first (SD/SDXL: not at strength 1), then the noise, then the masked
        # image's sample; a pipeline that encodes the image itself (Flux Fill) must find the generator unused.
        # Keyed on k_max, not k_run: skip_idle_steps=False runs at strength 1 with the draws of the skipped run.
        stock_encodes = self.encodes_at_full_strength or plan.k_max < request.n_steps
        x0_generator = fork_generator(generator) if self.builds_first_mask or not stock_encodes else generator
        x0 = self.encode(pipe, pixels, x0_generator)
        if plan.k_max == 0:
            return DifferentialOutput(self.pack(pipe, x0), plan.change, 0, 0.0)
        noise_generator = x0_generator if stock_encodes else generator
        eps = draw_like_pipeline(noise_generator, self.noise_shape(x0), x0.device, x0.dtype)
        masks = self.mask_conditions(pipe, request, plan, pixels, x0, noise_generator)
        images = run_stage(self, pipe, request, plan, x0, self.pipeline_image(pipe, request, plan.size, x0),
                           output_type=request.output_type, eps=eps, conditioning={"masks": masks})
        return DifferentialOutput(images, plan.change, plan.k_run, plan.strength)

    def call_kwargs(self, run: StageRun) -> dict[str, Any]:
        kwargs = super().call_kwargs(run)
        schedule = MaskSchedule(run.hook, run.conditioning["masks"])
        mask, latents = schedule.at(run.hook.run_start)
        kwargs.update(callback_on_step_end=schedule, callback_on_step_end_tensor_inputs=schedule.tensor_inputs,
                      mask_image=pixel_mask(mask, run.size), masked_image_latents=latents)
        return kwargs

    def stock(self, editor, image: Any, prompt: Any, strength: float, num_inference_steps: int, generator: Any,
              output_type: str = "latent", **kwargs: Any) -> Any:
        """The stock inpainting pipeline at ``strength`` with an all-ones mask (everything may change): what a
        uniform map equals. Returns its ``images``."""
        height, width = self.processing_size(editor.pipe, *image_size(image))
        kwargs = {"height": height, "width": width, "mask_image": torch.ones(1, 1, height, width), **kwargs}
        return editor.pipe(prompt, image=image, strength=strength, num_inference_steps=num_inference_steps,
                           generator=generator, output_type=output_type, **kwargs).images


def check_inpaint_unet(pipe, family: str):
    """``pipe`` if its UNet is a 9-channel inpainting UNet.

    Raises:
        ValueError: a UNet with other input channels (a plain model saved under an inpainting class).
    """
    channels = pipe.unet.config.in_channels
    if channels != INPAINT_IN_CHANNELS:
        plain = "sdxl" if family == "sdxl_inpaint" else "sd"
        raise ValueError(
            f"unet: the {family!r} family needs a {INPAINT_IN_CHANNELS}-channel inpainting UNet, this one has "
            f"{channels} input channels; drive it as img2img ({plain!r} family): "
            f"DifferentialEditor.from_pipe(pipe) on its text-to-image or img2img pipeline")
    return pipe


class StableDiffusionInpaint(InpaintFamily):
    """SD 1.x / 2.x inpainting checkpoints through ``StableDiffusionInpaintPipeline``."""

    name = "sd_inpaint"
    img2img_class = "StableDiffusionInpaintPipeline"
    pipeline_classes = ("StableDiffusionInpaintPipeline",)


class StableDiffusionXLInpaint(InpaintFamily):
    """SDXL inpainting checkpoints through ``StableDiffusionXLInpaintPipeline`` (no refiner)."""

    name = "sdxl_inpaint"
    img2img_class = "StableDiffusionXLInpaintPipeline"
    pipeline_classes = ("StableDiffusionXLInpaintPipeline",)
    upcasts_vae = True

    def latent_dtype(self, pipe) -> torch.dtype:
        encoder = getattr(pipe, "text_encoder_2", None)
        return encoder.dtype if encoder is not None else pipe.unet.dtype


def _families() -> tuple[InpaintFamily, ...]:
    from diffdiff.families.flux_fill import FluxFill  # it builds on this module's InpaintFamily

    return StableDiffusionInpaint(), StableDiffusionXLInpaint(), FluxFill()


INPAINT_FAMILIES = _families()
"""The inpainting-checkpoint families, in registry order."""
