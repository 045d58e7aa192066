"""Kandinsky 2.2: the prior turns the prompt into image embeddings (unchanged), the decoder's stock
``KandinskyV22Img2ImgPipeline`` denoises MoVQ latents under ``callback_on_step_end``.

The decoder always encodes its ``image`` itself (it has no way to take latents), so it gets the image at
the processing size and the editor computes ``x0`` exactly the way it does: MoVQ's encoder output,
deterministic, with no scaling factor. The encoder therefore runs twice per edit (once here, once in the
decoder); patching the decoder's MoVQ to skip that would change a module the caller's pipeline shares.

The decoder's UNet upsamples by resnet blocks that cannot fix odd sizes, so the processing size is a
multiple of the MoVQ factor times the UNet's downsampling (64 px for the released model, as diffusers'
``downscale_height_and_width`` assumes).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch

from diffdiff.families.base import Family
from diffdiff.stages import EditRequest, StageRun, resize_pixels

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
    required_extras = ("prior",)
    reserved = frozenset({"image_embeds", "negative_image_embeds"})

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

    def size_multiple(self, pipe) -> int:
        # Each UNet level but the last halves the grid, and its resnet upsamplers cannot undo odd sizes.
        return self.scale_factor(pipe) * 2 ** (len(pipe.unet.config.down_block_types) - 1)

    def latent_dtype(self, pipe) -> torch.dtype:
        return pipe.unet.dtype

    def decoder_image(self, pipe, request: EditRequest, size: tuple[int, int]) -> Any:
        """The decoder's ``image`` at ``size``, in the form the user passed (RGB PIL images resized by the
        decoder's own image processor; tensors, and numpy, which the decoder does not take, as pixels)."""
        if isinstance(request.source, list):
            return [pipe.image_processor.resize(image, size[0], size[1]) for image in request.source]
        return resize_pixels(request.pixels, size)

    def to_model_pixels(self, pipe, request: EditRequest, size: tuple[int, int]) -> torch.Tensor:
        # Exactly the decoder's own preprocessing: one processor call per list item, then a concatenation.
        image = self.decoder_image(pipe, request, size)
        items = image if isinstance(image, list) else [image]
        return torch.cat([pipe.image_processor.preprocess(item, None, None) for item in items])

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        # What the decoder does with its image: MoVQ's encoder output (no sampling, no scaling).
        pixels = pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe))
        return pipe.movq.encode(pixels)["latents"]

    def pipeline_image(self, pipe, request: EditRequest, size: tuple[int, int], x0: torch.Tensor) -> Any:
        return self.decoder_image(pipe, request, size)

    def stock(self, editor, image: Any, prompt: Any, strength: float, num_inference_steps: int, generator: Any,
              output_type: str = "latent", **kwargs: Any) -> Any:
        # What KandinskyV22Img2ImgCombinedPipeline does: the prior draws from the generator first. The
        # decoder reads height/width swapped, so None keeps each image's own size, as the editor passes.
        embeds = editor.prior(prompt=prompt, generator=generator, output_type="pt")
        return editor.pipe(image_embeds=embeds.image_embeds, negative_image_embeds=embeds.negative_image_embeds,
                           image=image, height=None, width=None, strength=strength,
                           num_inference_steps=num_inference_steps, generator=generator, output_type=output_type,
                           **kwargs).images

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
