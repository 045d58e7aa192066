"""FLUX.1 Fill through the stock ``FluxFillPipeline``: an inpainting checkpoint whose transformer reads, beside its
packed latents, the packed masked-image latents and the packed mask (``_pack_latents`` of the pixel mask folded
into ``f x f`` channels).

``FluxFillPipeline`` lists only ``latents`` and ``prompt_embeds`` in ``_callback_tensor_inputs``, and takes
masked-image latents only without an image. So it gets the original's pixels and the first step's mask and builds
that step's condition itself, exactly as stock; from the first step where the free set grows, a forward pre-hook
on its transformer (installed for the run, removed after) replaces the condition channels of the transformer's
input by the current step's (the narrowest place the per-step mask can enter). The pipeline encodes the original
itself, so the editor's own encode of ``x0`` (for the blend) is one extra VAE encode per run.
"""

from __future__ import annotations

from typing import Any

import torch

from diffdiff.families.flux import Flux
from diffdiff.families.inpaint import InpaintFamily
from diffdiff.masking import MaskSchedule, pixel_mask
from diffdiff.stages import EditRequest, StageRun

__all__ = ["FluxFill"]


class FluxFill(InpaintFamily, Flux):
    """FLUX.1 Fill [dev] through ``FluxFillPipeline`` (flow matching, packed latents, ``k(m)`` rounds up)."""

    name = "flux_fill"
    img2img_class = "FluxFillPipeline"
    pipeline_classes = ("FluxFillPipeline",)
    rounding = "ceil"
    reserved = frozenset({"mask_image", "masked_image_latents"})
    discrete_schedulers = False
    encodes_at_full_strength = True
    builds_first_mask = True

    def load(self, id_or_folder: str, **kwargs: Any):
        return Flux.load(self, id_or_folder, **kwargs)

    def convert(self, pipe):
        return Flux.convert(self, pipe)

    def size_multiple(self, pipe) -> int:
        return Flux.size_multiple(self, pipe)

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        return Flux.encode(self, pipe, pixels, generator)

    def prompt_kwargs(self, pipe, prompts: list[str]) -> None:
        # The probe calls the pipeline without a mask; one editor call per prompt instead.
        return None

    def pack(self, pipe, tensor: torch.Tensor) -> torch.Tensor:
        """``(B, C or 1, h, w)`` to ``(B, h/2 * w/2, C*4)``, a one-channel tensor repeated over the VAE's latent
        channels first (the transformer's ``in_channels`` also count the condition's)."""
        batch, channels, height, width = tensor.shape
        latent_channels = pipe.vae.config.latent_channels
        if channels == 1 and latent_channels > 1:
            tensor, channels = tensor.expand(batch, latent_channels, height, width), latent_channels
        return pipe._pack_latents(tensor.contiguous(), batch, channels, height, width)

    def masked_image(self, pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # FluxFillPipeline's own formula.
        return pixels * (1 - mask)

    def condition(self, pipe, mask: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        """The packed ``(masked-image latents, mask)`` the transformer reads: ``(B, h/2 * w/2, 4C + 4f^2)``,
        built by the pipeline's own ``prepare_mask_latents`` from the unscaled sample."""
        height, width = (side * self.scale_factor(pipe) for side in mask.shape[-2:])
        pixels = pixel_mask(mask, (height, width))
        packed_mask, latents = pipe.prepare_mask_latents(
            pixels, sample, mask.shape[0], sample.shape[1], 1, height, width, sample.dtype, sample.device, None)
        return torch.cat((latents, packed_mask), dim=-1)

    def pipeline_image(self, pipe, request: EditRequest, size: tuple[int, int], x0: torch.Tensor) -> Any:
        # The pipeline encodes the original itself (it refuses masked-image latents beside an image).
        return request.source

    def call_kwargs(self, run: StageRun) -> dict[str, Any]:
        kwargs = Flux.call_kwargs(self, run)
        if kwargs.pop("negative_prompt") is not None:
            raise TypeError("negative_prompt: FluxFillPipeline has no negative prompt; pass None")
        mask, _ = MaskSchedule(run.hook, run.conditioning["masks"]).at(run.hook.run_start)
        kwargs["mask_image"] = pixel_mask(mask, run.size)
        return kwargs

    def run(self, pipe, run: StageRun) -> Any:
        schedule = MaskSchedule(run.hook, run.conditioning["masks"])
        first = schedule.at(run.hook.run_start)
        latent_width = run.hook.x0.shape[-1]

        def swap_condition(module, args, kwargs):
            # The loop's evaluation index is the number of steps the differential hook has seen.
            mask_and_condition = schedule.at(run.hook.run_start + len(run.hook.positions_seen))
            if mask_and_condition is first:
                return None
            hidden = kwargs["hidden_states"]
            condition = mask_and_condition[1].to(hidden)
            kwargs["hidden_states"] = torch.cat((hidden[..., :latent_width], condition), dim=-1)
            return args, kwargs

        handle = self.denoiser(pipe).register_forward_pre_hook(swap_condition, with_kwargs=True)
        try:
            return pipe(**self.call_kwargs(run)).images
        finally:
            handle.remove()
