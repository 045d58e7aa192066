"""What a model family adapter provides: how to load its img2img pipeline, encode the original the way
that pipeline does, and run the stock pipeline with the differential hook. Families override little."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from diffdiff.core import Rounding


@dataclass
class StageRun:
    """One stock pipeline call of an edit: what the adapter needs to run it.

    Attributes:
        prompts: one prompt per output image (batch already expanded for ``num_images_per_prompt``).
        negative_prompts: ``None`` or one per output image.
        latents: ``(B, C, h, w)`` what the pipeline receives as its ``image``: the encoded original, or
            a previous stage's latents (the refiner).
        strength: stock img2img strength that runs exactly the free steps.
        n_steps: ``N``.
        generator: the run's generator(s).
        hook: the ``DifferentialStep`` callback.
        guidance_scale: ``None`` for the pipeline's default.
        output_type: passed to the pipeline (``"latent"`` or ``"pt"``).
        extra: further keyword arguments for the pipeline (``denoising_end``, user kwargs, ...).
    """

    prompts: list[str]
    negative_prompts: list[str] | None
    latents: torch.Tensor
    strength: float
    n_steps: int
    generator: Any
    hook: Any
    guidance_scale: float | None
    output_type: str
    extra: dict[str, Any] = field(default_factory=dict)


class Family:
    """Base adapter for latent img2img pipelines that take encoded latents as their ``image``.

    Subclasses set the class attributes and override :meth:`encode` (and, for pipelines that differ
    from SD's calling convention, :meth:`run`).
    """

    name: ClassVar[str] = ""
    img2img_class: ClassVar[str] = ""
    pipeline_classes: ClassVar[tuple[str, ...]] = ()
    rounding: ClassVar[Rounding] = "floor"

    # -- loading ---------------------------------------------------------------------------------
    def pipeline_type(self):
        import diffusers

        return getattr(diffusers, self.img2img_class)

    def load(self, id_or_folder: str, **kwargs: Any):
        """Load the family's img2img pipeline from a hub id or folder."""
        from diffdiff.loading import load_pipeline

        return load_pipeline(self.pipeline_type(), id_or_folder, **kwargs)

    def convert(self, pipe):
        """A new img2img pipeline sharing ``pipe``'s modules (LoRA and other patches are kept)."""
        return self.pipeline_type().from_pipe(pipe)

    # -- geometry ----------------------------------------------------------------------------------
    def scale_factor(self, pipe) -> int:
        return int(getattr(pipe, "vae_scale_factor", 8))

    def processing_size(self, pipe, height: int, width: int) -> tuple[int, int]:
        """The pixel size the model works at: the input rounded down to the VAE's multiple."""
        factor = self.scale_factor(pipe)
        return max(factor, height // factor * factor), max(factor, width // factor * factor)

    def latent_size(self, pipe, height: int, width: int) -> tuple[int, int]:
        factor = self.scale_factor(pipe)
        return height // factor, width // factor

    def to_model_pixels(self, pipe, pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] to the model's input: resized (antialiased) and in [-1, 1]."""
        if tuple(pixels.shape[-2:]) != tuple(size):
            pixels = F.interpolate(pixels, size=size, mode="bicubic", antialias=True, align_corners=False)
            pixels = pixels.clamp(0, 1)
        return pipe.image_processor.preprocess(pixels, height=size[0], width=size[1])

    # -- latents -------------------------------------------------------------------------------------
    def latent_dtype(self, pipe) -> torch.dtype:
        """The dtype the pipeline's latents (and its noise draw) have: its prompt embeddings' dtype."""
        encoder = getattr(pipe, "text_encoder", None)
        return encoder.dtype if encoder is not None else pipe.unet.dtype

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        """Encode ``(B, 3, H, W)`` in [-1, 1] exactly as the stock pipeline would, consuming the same
        draws from ``generator``."""
        raise NotImplementedError

    def noise_shape(self, x0: torch.Tensor) -> tuple[int, ...]:
        return tuple(x0.shape)

    # -- running -------------------------------------------------------------------------------------
    def call_kwargs(self, run: StageRun) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "prompt": run.prompts,
            "image": run.latents,
            "strength": run.strength,
            "num_inference_steps": run.n_steps,
            "negative_prompt": run.negative_prompts,
            "generator": run.generator,
            "output_type": run.output_type,
            "callback_on_step_end": run.hook,
            "callback_on_step_end_tensor_inputs": run.hook.tensor_inputs,
        }
        if run.guidance_scale is not None:
            kwargs["guidance_scale"] = run.guidance_scale
        kwargs.update(run.extra)
        return kwargs

    def run(self, pipe, run: StageRun) -> torch.Tensor:
        """Run the stock pipeline; returns latents for ``"latent"`` or ``(B, 3, H, W)`` in [0, 1]."""
        return pipe(**self.call_kwargs(run)).images
