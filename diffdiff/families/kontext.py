"""FLUX.1 Kontext, an instruction-editing model, through the stock ``FluxKontextInpaintPipeline``.

The model reads the original image as its context (the pipeline's encoded ``image`` is appended to the
noisy tokens at every step) and the user's instruction verbatim as its prompt; the differential step
(:mod:`diffdiff.hook`) confines the change. The inpaint variant is driven with an all-ones mask, so its own
blend keeps nothing (``(1 - 1) * x0_t + 1 * x`` is ``x`` bit for bit) and the map alone decides; its
``strength`` is the map's maximum, rounded like Flux img2img (``ceil``). The pipeline encodes the image
itself, with the VAE's mode (no random draw), so ``x0`` is that same encoding.

Stock Kontext resizes its input to a preferred training resolution (1024 x 1024 for a square image); the
editor passes ``_auto_resize=False`` and works at the image's own size rounded down to a multiple of 16
(resize the image first to use a preferred resolution).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from diffdiff.families.base import Family, image_size
from diffdiff.families.flux import Flux
from diffdiff.stages import StageRun

__all__ = ["FluxKontext", "all_ones_mask", "own_size_kwargs", "stock_source"]


def all_ones_mask(height: int, width: int) -> torch.Tensor:
    """The inpaint pipelines' "repaint everything" mask: ``(1, 1, height, width)`` float32 ones (1 = repaint)."""
    return torch.ones(1, 1, height, width)


def own_size_kwargs(height: int, width: int) -> dict[str, Any]:
    """Keyword arguments that keep stock Kontext at the image's own size: no resize to a preferred training
    resolution, and a ``max_area`` that the pipeline's size arithmetic maps back to ``(height, width)``
    (so it does not warn about adjusting them)."""
    return {"height": height, "width": width, "max_area": height * width, "_auto_resize": False}


def stock_source(source: Any) -> Any:
    """The editor's stock-form images as a diffusers user hands one numpy image to stock Kontext, ``array[None]``.

    The pipeline's numpy resize lays a batch axis of stride 0 out differently from a copied batch, and the
    VAE's float rounding follows the layout (1e-6 apart); other forms are returned as they are.
    """
    if isinstance(source, np.ndarray) and source.shape[0] == 1:
        return source[0][None]
    return source


class FluxKontext(Flux):
    """FLUX.1 Kontext [dev] through ``FluxKontextInpaintPipeline`` (original = context, instruction = prompt).

    Attributes:
        takes_instruction: the prompt handed to the model is the user's instruction itself, not a
            description of the target image (``pipelines.edit`` reads this).
    """

    name = "kontext"
    img2img_class = "FluxKontextInpaintPipeline"
    pipeline_classes = ("FluxKontextPipeline", "FluxKontextInpaintPipeline")
    reserved = frozenset({"mask_image", "masked_image_latents", "_auto_resize", "max_area", "padding_mask_crop",
                          "image_reference"})
    takes_instruction = True

    # The pipeline encodes with the VAE's mode: no draw, so the probe encodes per draw like the base family.
    encoder_output = Family.encoder_output
    sample_latents = Family.sample_latents

    def pipeline_image(self, pipe, request, size: tuple[int, int], x0: torch.Tensor) -> Any:
        # The inpaint pipeline refuses latents as its image: it gets the user's pixels and encodes them to x0.
        return stock_source(request.source)

    def to_model_pixels(self, pipe, request, size: tuple[int, int]) -> torch.Tensor:
        # Stock Kontext resizes before it preprocesses (a no-op in values, not always in memory layout).
        source = pipe.image_processor.resize(stock_source(request.source), *size)
        return pipe.image_processor.preprocess(source, height=size[0], width=size[1])

    def unpack(self, pipe, tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """As Flux's, after dropping the context image's tokens, which the transformer's raw output (the
        DiffEdit probe reads it) carries after the noisy image's; the loop's own latents have none."""
        if tensor.dim() == 3:
            height, width = self.latent_size(pipe, *size)
            tensor = tensor[:, : (height // 2) * (width // 2)]
        return super().unpack(pipe, tensor, size)

    def call_kwargs(self, run: StageRun) -> dict[str, Any]:
        kwargs = super().call_kwargs(run)
        kwargs.update(mask_image=all_ones_mask(*run.size), **own_size_kwargs(*run.size))
        return kwargs

    def stock(self, editor, image: Any, prompt: Any, strength: float, num_inference_steps: int, generator: Any,
              output_type: str = "latent", **kwargs: Any) -> Any:
        """Stock ``FluxKontextInpaintPipeline`` at ``strength`` with an all-ones mask, the image as context
        and ``_auto_resize=False`` (stock's default resizes to 1024 px; see the module docstring)."""
        height, width = self.processing_size(editor.pipe, *image_size(image))
        return editor.pipe(prompt=prompt, image=image, mask_image=all_ones_mask(height, width), strength=strength,
                           num_inference_steps=num_inference_steps, generator=generator, output_type=output_type,
                           **own_size_kwargs(height, width), **kwargs).images
