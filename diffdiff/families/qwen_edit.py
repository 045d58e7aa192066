"""Qwen-Image-Edit, an instruction-editing model, through the stock ``QwenImageEditInpaintPipeline``.

As for FLUX.1 Kontext (:mod:`diffdiff.families.kontext`): the original is the model's context image (its
encoded latents are appended to the noisy tokens, and the vision-language text encoder sees it beside the
instruction), the instruction is the prompt verbatim, the inpaint variant runs with an all-ones mask at
``strength`` = the map's maximum (rounded up, like SD3's ``get_timesteps``), and the differential step
confines the change.

What differs from Kontext, all forced by the stock pipeline:

- it works at ``calculate_dimensions(1024 * 1024, aspect ratio)`` whatever ``height``/``width`` say, so the
  editor's processing size is that too (the output is brought back to the input's size, kept pixels exact);
- it encodes the image itself with a posterior *sample* from the user's generator, and needs pixels (its
  vision-language prompt image is made from them), so the editor draws ``x0`` and the noise as the pipeline
  will, then rewinds the generators before the stock call;
- it reads its image's size as PIL's ``image.size``: tensor images are refused (stock refuses them too);
- its latents are video-shaped ``(B, 1, C, h, w)`` before packing.

transformers 5's ``Qwen2VLProcessor`` cannot be built without torchvision (its video processor): the family
loads the checkpoint's processor as :class:`ImageOnlyQwen2VLProcessor`, which has no video part.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch

from diffdiff.families.base import Family, image_size
from diffdiff.families.flux import pack_cells
from diffdiff.families.kontext import all_ones_mask, stock_source
from diffdiff.noise import draw_like_pipeline, rewound
from diffdiff.stages import DifferentialOutput, EditRequest, StageRun, plan_stage, run_stage

__all__ = ["QwenImageEdit", "image_only_processor", "working_size"]

WORKING_AREA = 1024 * 1024
"""The pixel area the stock Qwen-Image-Edit pipelines always work at."""


def working_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """``(h, w)`` the stock pipeline works at for an input of ``height x width``: 1024^2 in area, the input's
    aspect ratio, rounded to 32 and then down to ``multiple`` (its ``calculate_dimensions``).

    >>> working_size(64, 64, 16)
    (1024, 1024)
    """
    ratio = width / height
    w = math.sqrt(WORKING_AREA * ratio)
    h = w / ratio
    w, h = round(w / 32) * 32, round(h / 32) * 32
    return h // multiple * multiple, w // multiple * multiple


@functools.cache
def image_only_processor():
    """The class ``ImageOnlyQwen2VLProcessor``, built once on first use (transformers is imported lazily)."""
    from transformers import Qwen2VLProcessor

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        """``Qwen2VLProcessor`` without its video processor: transformers checks (and loads) only the processors
        named in ``__init__``, so this one builds and loads without torchvision; images and text work as usual."""

        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    return ImageOnlyQwen2VLProcessor


def _as_user_passes(source: Any) -> Any:
    """One image as a user hands it to the stock pipeline: the PIL image itself, not a list of one (stock resizes
    a single image before its vision-language encoder sees it, a list only later), or ``array[None]``."""
    if isinstance(source, list) and len(source) == 1:
        return source[0]
    return stock_source(source)


class QwenImageEdit(Family):
    """Qwen-Image-Edit through ``QwenImageEditInpaintPipeline`` (original = context, instruction = prompt).

    Attributes:
        takes_instruction: the prompt handed to the model is the user's instruction itself.
    """

    name = "qwen_edit"
    img2img_class = "QwenImageEditInpaintPipeline"
    pipeline_classes = ("QwenImageEditPipeline", "QwenImageEditInpaintPipeline")
    rounding = "ceil"
    reserved = frozenset({"mask_image", "masked_image_latents", "padding_mask_crop"})
    takes_instruction = True

    def load(self, id_or_folder: str, **kwargs: Any):
        """Load the inpaint pipeline, its processor as :class:`ImageOnlyQwen2VLProcessor` (no torchvision)."""
        from diffdiff.loading import load_pipeline

        if "processor" not in kwargs:
            options = {k: kwargs[k] for k in ("revision", "local_files_only") if kwargs.get(k) is not None}
            kwargs["processor"] = image_only_processor().from_pretrained(str(id_or_folder), subfolder="processor",
                                                                          **options)
        return load_pipeline(self.pipeline_type(), id_or_folder, **kwargs)

    def size_multiple(self, pipe) -> int:
        return self.scale_factor(pipe) * 2  # 2x2 packing

    def processing_size(self, pipe, height: int, width: int) -> tuple[int, int]:
        return working_size(height, width, self.size_multiple(pipe))

    def latent_dtype(self, pipe) -> torch.dtype:
        return pipe.text_encoder.dtype

    def to_model_pixels(self, pipe, request: EditRequest, size: tuple[int, int]) -> torch.Tensor:
        source = request.source
        if isinstance(source, torch.Tensor):
            raise TypeError("image: the stock Qwen-Image-Edit pipelines take PIL images or numpy arrays, not tensors")
        source = pipe.image_processor.resize(_as_user_passes(source), *size)
        return pipe.image_processor.preprocess(source, height=size[0], width=size[1])

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        # The pipeline's own encoder (a posterior sample, normalised), on a one-frame video; x0 is (B, C, h, w).
        pixels = pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe)).unsqueeze(2)
        return pipe._encode_vae_image(image=pixels, generator=generator)[:, :, 0]

    def noise_shape(self, x0: torch.Tensor) -> tuple[int, ...]:
        batch, channels, height, width = x0.shape
        return batch, 1, channels, height, width

    def pack(self, pipe, tensor: torch.Tensor) -> torch.Tensor:
        """``(B, C or 1, h, w)`` (or the noise's ``(B, 1, C, h, w)``) to the loop's ``(B, h/2 * w/2, C*4)``."""
        return pack_cells(pipe, tensor[:, 0] if tensor.dim() == 5 else tensor)

    def unpack(self, pipe, tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Packed tokens to ``(B, C, h, w)``; the context image's tokens, which follow them in the raw transformer
        output (the DiffEdit probe reads it), are dropped."""
        if tensor.dim() != 3:
            return tensor
        height, width = self.latent_size(pipe, *size)
        tensor = tensor[:, : (height // 2) * (width // 2)]
        return pipe._unpack_latents(tensor, size[0], size[1], pipe.vae_scale_factor)[:, :, 0]

    def pipeline_image(self, pipe, request: EditRequest, size: tuple[int, int], x0: torch.Tensor) -> Any:
        return _as_user_passes(request.source)

    def call_kwargs(self, run: StageRun) -> dict[str, Any]:
        kwargs = super().call_kwargs(run)
        kwargs["mask_image"] = all_ones_mask(*run.size)
        return kwargs

    def edit(self, editor, request: EditRequest) -> DifferentialOutput:
        """As :meth:`Family.edit`, but the generators are rewound before the stock call, which encodes the
        image again with the same draws (and then draws the same noise)."""
        pipe = editor.pipe
        plan = plan_stage(self, pipe, request.change, request.n_steps, request.skip_idle_steps)
        if plan.k_max == 0 and request.output_type != "latent":
            return DifferentialOutput(None, plan.change, 0, 0.0)
        pixels = self.to_model_pixels(pipe, request, plan.size)
        if plan.k_max == 0:  # latents asked for: the encoding is the result, as in Family.edit
            x0 = self.encode(pipe, pixels, request.generator)
            return DifferentialOutput(self.pack(pipe, x0), plan.change, 0, 0.0)
        with rewound(request.generator):
            x0 = self.encode(pipe, pixels, request.generator)
            eps = draw_like_pipeline(request.generator, self.noise_shape(x0), x0.device, x0.dtype)
        images = run_stage(self, pipe, request, plan, x0, self.pipeline_image(pipe, request, plan.size, x0),
                           output_type=request.output_type, eps=eps)
        return DifferentialOutput(images, plan.change, plan.k_run, plan.strength)

    def stock(self, editor, image: Any, prompt: Any, strength: float, num_inference_steps: int, generator: Any,
              output_type: str = "latent", **kwargs: Any) -> Any:
        """Stock ``QwenImageEditInpaintPipeline`` at ``strength`` with an all-ones mask (it picks its own size)."""
        height, width = self.processing_size(editor.pipe, *image_size(image))
        return editor.pipe(image=image, prompt=prompt, mask_image=all_ones_mask(height, width), strength=strength,
                           num_inference_steps=num_inference_steps, generator=generator, output_type=output_type,
                           **kwargs).images
