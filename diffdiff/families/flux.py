"""Flux through the stock ``FluxImg2ImgPipeline`` (flow matching, packed latents).

Its loop runs on latents packed 2x2 into tokens, ``(B, h/2 * w/2, C*4)``: ``x0``, the noise and the
per-cell start positions are packed with the pipeline's own ``_pack_latents``, so each latent cell keeps
its own ``k(m)``. The noise is drawn unpacked, as the pipeline draws it. ``k(m)`` rounds up like its
``get_timesteps``. (The community Flux differential-diffusion port starts one step late; this follows
DESIGN.md: a uniform map is exactly img2img.)
"""

from __future__ import annotations

from typing import Any

import torch

from diffdiff.families.base import Family, ShiftedLatents


class Flux(ShiftedLatents, Family):
    """FLUX.1 [dev] / [schnell] through ``FluxImg2ImgPipeline``."""

    name = "flux"
    regions = True  # edit_regions: prompt_kwargs feeds the transformer's text arguments
    img2img_class = "FluxImg2ImgPipeline"
    pipeline_classes = ("FluxPipeline", "FluxImg2ImgPipeline")
    rounding = "ceil"
    passes_size = True

    def size_multiple(self, pipe) -> int:
        # Packing needs an even latent grid.
        return self.scale_factor(pipe) * 2

    def latent_dtype(self, pipe) -> torch.dtype:
        # The prompt embeddings (and so the latents) come out of the T5 encoder in its dtype.
        encoder = getattr(pipe, "text_encoder_2", None)
        return encoder.dtype if encoder is not None else pipe.transformer.dtype

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        # The pipeline's own encoder: a posterior sample per image, shifted, then scaled.
        pixels = pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe))
        return pipe._encode_vae_image(image=pixels, generator=generator)

    def prompt_kwargs(self, pipe, prompts: list[str]) -> dict[str, torch.Tensor]:
        # Flux has no unconditional branch: encode_prompt returns (embeds, pooled, text ids).
        outputs = [pipe.encode_prompt([p], None, device=pipe._execution_device) for p in prompts]
        return {"prompt_embeds": torch.cat([o[0] for o in outputs]),
                "pooled_prompt_embeds": torch.cat([o[1] for o in outputs])}

    def probe_guidance(self, pipe) -> float | None:
        # Its guidance is an embedding the transformer reads, not a second branch: keep the default.
        return None

    def pack(self, pipe, tensor: torch.Tensor) -> torch.Tensor:
        """``(B, C or 1, h, w)`` to ``(B, h/2 * w/2, C*4)`` (see :func:`pack_cells`)."""
        return pack_cells(pipe, tensor)

    def unpack(self, pipe, tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Packed tokens ``(B, h/2 * w/2, C*4)`` of a ``size`` image back to ``(B, C, h, w)``."""
        if tensor.dim() != 3:
            return tensor
        return pipe._unpack_latents(tensor, size[0], size[1], pipe.vae_scale_factor)


def pack_cells(pipe, tensor: torch.Tensor) -> torch.Tensor:
    """``(B, C or 1, h, w)`` to a 2x2-patch transformer's token layout ``(B, h/2 * w/2, C*4)`` with the
    pipeline's own ``_pack_latents``; a one-channel tensor (the start positions) is repeated over the latent
    channels first, so every packed value has its cell's own entry."""
    batch, channels, height, width = tensor.shape
    latent_channels = pipe.transformer.config.in_channels // 4
    if channels == 1 and latent_channels > 1:
        tensor, channels = tensor.expand(batch, latent_channels, height, width), latent_channels
    return pipe._pack_latents(tensor.contiguous(), batch, channels, height, width)
