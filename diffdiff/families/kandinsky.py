"""Kandinsky 2.2: the prior turns the prompt into image embeddings (unchanged), the decoder's stock
``KandinskyV22Img2ImgPipeline`` denoises MoVQ latents under ``callback_on_step_end``.

The decoder always encodes its ``image`` itself, so it gets the resized pixels and the editor computes
``x0`` the way it does: MoVQ's encoder output, deterministic, with no scaling factor. During the run
the decoder's MoVQ encode returns that ``x0`` instead of computing it a second time.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch

from diffdiff.families.base import Family
from diffdiff.stages import EditRequest, StageRun

_PRIOR_CLASSES = ("KandinskyV22PriorPipeline",)
# Decoder keyword arguments that configure the prior instead (as in diffusers' combined pipelines).
_PRIOR_KWARGS = {"prior_num_inference_steps": "num_inference_steps", "prior_guidance_scale": "guidance_scale"}


class Kandinsky22(Family):
    """Kandinsky 2.2 decoder (+ prior) through ``KandinskyV22Img2ImgPipeline``."""

    name = "kandinsky"
    img2img_class = "KandinskyV22Img2ImgPipeline"
    pipeline_classes = ("KandinskyV22Pipeline", "KandinskyV22Img2ImgPipeline", "KandinskyV22CombinedPipeline",
                        "KandinskyV22Img2ImgCombinedPipeline")
    extra_classes: ClassVar[dict[str, tuple[str, ...]]] = {"prior": _PRIOR_CLASSES}

    def convert(self, pipe):
        # A combined pipeline carries the decoder (and the prior, see extras_from_pipe).
        return self.pipeline_type().from_pipe(getattr(pipe, "decoder_pipe", pipe))

    def default_extra(self, role: str) -> Any:
        from diffdiff.models import default_model

        return default_model("kandinsky", "prior") if role == "prior" else None

    def extras_from_pipe(self, pipe) -> dict[str, Any]:
        prior = getattr(pipe, "prior_pipe", None)
        return {"prior": prior} if prior is not None else {}

    def scale_factor(self, pipe) -> int:
        return 2 ** (len(pipe.movq.config.block_out_channels) - 1)

    def latent_dtype(self, pipe) -> torch.dtype:
        return pipe.unet.dtype

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        # What the decoder does with its image: MoVQ's encoder output (no sampling, no scaling).
        pixels = pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe))
        return pipe.movq.encode(pixels)["latents"]

    def pipeline_image(self, pipe, pixels: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return pixels

    def condition(self, editor, request: EditRequest) -> dict[str, Any]:
        """Image embeddings from the prior, drawing from the generator before the decoder does (as
        diffusers' combined pipeline does); with one generator per image, one prior call per image."""
        prior = editor.prior
        if prior is None:
            raise ValueError("prior: Kandinsky 2.2 needs its prior pipeline; pass prior=<hub id, folder or pipeline>")
        kwargs = {name: request.pipeline_kwargs[key] for key, name in _PRIOR_KWARGS.items()
                  if key in request.pipeline_kwargs}
        negatives = request.negative_prompts
        if not isinstance(request.generator, list):
            out = prior(prompt=request.prompts, negative_prompt=negatives, generator=request.generator,
                        output_type="pt", **kwargs)
            return {"image_embeds": out.image_embeds, "negative_image_embeds": out.negative_image_embeds}
        outs = [prior(prompt=[prompt], negative_prompt=None if negatives is None else [negatives[i]],
                      generator=request.generator[i], output_type="pt", **kwargs)
                for i, prompt in enumerate(request.prompts)]
        return {"image_embeds": torch.cat([o.image_embeds for o in outs]),
                "negative_image_embeds": torch.cat([o.negative_image_embeds for o in outs])}

    def call_kwargs(self, run: StageRun) -> dict[str, Any]:
        # The decoder takes image embeddings (from the prior) instead of prompts; prior-only keywords stay out.
        decoder_extra = {k: v for k, v in run.extra.items() if k not in _PRIOR_KWARGS}
        kwargs = super().call_kwargs(dataclasses.replace(run, extra=decoder_extra))
        del kwargs["prompt"], kwargs["negative_prompt"]
        # None: the decoder keeps the image's own size (it reads height/width swapped otherwise).
        return {**run.conditioning, "height": None, "width": None, **kwargs}

    def run(self, pipe, run: StageRun) -> Any:
        from diffusers.models.autoencoders.vq_model import VQEncoderOutput

        # The decoder would encode the same pixels again; MoVQ's encode is deterministic, so hand it the
        # editor's x0 (bit-identical) for this call only, instead of paying for the encoder twice.
        x0 = run.hook.x0
        pipe.movq.encode = lambda *args, **kwargs: VQEncoderOutput(latents=x0)
        try:
            return super().run(pipe, run)
        finally:
            del pipe.movq.encode
