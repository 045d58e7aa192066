"""DeepFloyd IF: pixel-space cascades, each differential stage through its stock pipeline.

* Stage I (``IFImg2ImgPipeline``, 64 px for the released model) denoises pixels; ``x0`` is the original
  resized the way the stock pipeline resizes a PIL image (short side to the sample size, the long side to
  the nearest multiple of 8 that keeps the aspect ratio), in [-1, 1].
* Stage II (``IFImg2ImgSuperResolutionPipeline``, 256x256) denoises only its noisy-image channels;
  stage I's result is its conditioning, its ``x0`` is the original at its size.
* Stage III (the x4 upscaler) is optional and runs unmodified on stage II's result.

IF's pipelines only have the legacy ``callback(i, t, x)``; the differential step reaches their loop
through :meth:`~diffdiff.hook.DifferentialStep.legacy_callback`, which blends ``x`` in place. The map
is resampled to each stage's resolution. The safety checker and watermarker are not loaded: diffusers
runs neither on ``output_type="pt"``, which is what the editor asks every stage for.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from diffdiff.families.base import Family, image_size
from diffdiff.schedulers import make_scheduler
from diffdiff.stages import DifferentialOutput, EditRequest, StageRun, plan_stage, resize_pixels, run_stage

_NO_CHECKER = {"safety_checker": None, "feature_extractor": None, "watermarker": None}
_STAGE2 = ("IFSuperResolutionPipeline", "IFImg2ImgSuperResolutionPipeline")
_STAGE3 = ("StableDiffusionUpscalePipeline",)


class DeepFloydIF(Family):
    """DeepFloyd IF stage I (+ II, + III) through ``IFImg2ImgPipeline`` and
    ``IFImg2ImgSuperResolutionPipeline``."""

    name = "deepfloyd_if"
    img2img_class = "IFImg2ImgPipeline"
    pipeline_classes = ("IFPipeline", "IFImg2ImgPipeline")
    extra_classes: ClassVar[dict[str, tuple[str, ...]]] = {"stage2": _STAGE2, "stage3": _STAGE3}
    reserved = frozenset({"callback", "callback_steps", "original_image"})

    def load(self, id_or_folder: str, **kwargs: Any):
        return super().load(id_or_folder, **{**_NO_CHECKER, **kwargs})

    def load_extra(self, role: str, id_or_folder: str, main_pipe, **kwargs: Any):
        if role == "stage2":
            # The released stages share one T5-XXL: reuse stage I's instead of loading it twice.
            kwargs = {**_NO_CHECKER, "text_encoder": main_pipe.text_encoder, "tokenizer": main_pipe.tokenizer,
                      **kwargs}
        return super().load_extra(role, id_or_folder, main_pipe, **kwargs)

    def attach(self, role: str, pipe, main_pipe, scheduler: Any = None):
        if role != "stage2":
            return pipe
        pipe = self.pipeline_type(_STAGE2[-1]).from_pipe(pipe)
        if scheduler is not None:
            # A name or a scheduler kind, built on stage II's own config (its betas and variance type).
            kind = scheduler if isinstance(scheduler, str) else type(scheduler).from_config(pipe.scheduler.config)
            pipe.scheduler = make_scheduler(kind, pipe.scheduler.config)
        return pipe

    # Pixel space: the model grid is the stage's own size, chosen as its stock pipeline resizes a PIL image.
    def processing_size(self, pipe, height: int, width: int) -> tuple[int, int]:
        size = int(pipe.unet.config.sample_size)
        aspect = width / height
        if aspect >= 1:
            return size, int(round(size / 8 * aspect) * 8)
        return int(round(size / 8 / aspect) * 8), size

    def latent_size(self, pipe, height: int, width: int) -> tuple[int, int]:
        return height, width

    def to_model_pixels(self, pipe, request: EditRequest, size: tuple[int, int]) -> torch.Tensor:
        if isinstance(request.source, list):  # PIL images: the stage's own preprocessing, bit for bit
            preprocess = getattr(pipe, "preprocess_original_image", None) or pipe.preprocess_image
            pixels = preprocess(request.source)
        else:
            pixels = resize_pixels(request.pixels, size) * 2 - 1
        return pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe))

    def stock(self, editor, image: Any, prompt: Any, strength: float, num_inference_steps: int, generator: Any,
              output_type: str = "latent", **kwargs: Any) -> Any:
        # IF resizes PIL images itself; tensors it takes in [-1, 1] at the size they come in.
        def at(stage) -> Any:
            if not isinstance(image, torch.Tensor):
                return image
            return resize_pixels(image, self.processing_size(stage, *image_size(image))) * 2 - 1

        common = {"strength": strength, "num_inference_steps": num_inference_steps, "generator": generator}
        sample = editor.pipe(prompt, image=at(editor.pipe), output_type="pt", **common, **kwargs).images
        if editor.stage2 is not None:
            sample = editor.stage2(image=sample, original_image=at(editor.stage2), prompt=prompt, output_type="pt",
                                   **common, **kwargs).images
        if output_type == "latent":
            return sample
        pixels = (sample.float() / 2 + 0.5).clamp(0, 1)
        if editor.stage3 is None:
            return pixels
        return editor.stage3(prompt=prompt, image=pixels, noise_level=100, num_inference_steps=num_inference_steps,
                             generator=generator, output_type="pt").images

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        return pixels

    def call_kwargs(self, run: StageRun) -> dict[str, Any]:
        kwargs = super().call_kwargs(run)
        del kwargs["callback_on_step_end"], kwargs["callback_on_step_end_tensor_inputs"]
        if "low_res" in run.conditioning:  # stage II: the original is what it denoises towards
            kwargs["original_image"], kwargs["image"] = kwargs["image"], run.conditioning["low_res"]
        return kwargs

    def run(self, pipe, run: StageRun) -> torch.Tensor:
        """Run one stage; returns its raw ``(B, 3, s, s)`` sample in [-1, 1] (``output_type="pt"``)."""
        return pipe(**self.call_kwargs(run), callback=run.hook.legacy_callback(pipe), callback_steps=1).images

    def edit(self, editor, request: EditRequest) -> DifferentialOutput:
        """Stage I, then stage II on its result, then the optional upscaler; each differential stage
        with its own plan on its own grid, its own ``x0`` and its own noise draw."""
        stages = [p for p in (editor.pipe, editor.stage2) if p is not None]
        plans = [plan_stage(self, p, request.change, request.n_steps, request.skip_idle_steps) for p in stages]
        last = plans[-1]
        if all(plan.k_max == 0 for plan in plans) and request.output_type != "latent":
            return DifferentialOutput(None, last.change, 0, 0.0)
        low_res = None
        for pipe, plan in zip(stages, plans, strict=True):
            x0 = self.to_model_pixels(pipe, request, plan.size)
            if plan.k_max == 0:
                low_res = x0  # nothing free at this stage: its result is the original
                continue
            conditioning = {} if low_res is None else {"low_res": low_res}
            low_res = run_stage(self, pipe, request, plan, x0, x0, output_type="pt", conditioning=conditioning)
        if request.output_type == "latent":
            return DifferentialOutput(low_res, last.change, last.k_run, last.strength)
        images = (low_res.float() / 2 + 0.5).clamp(0, 1)
        if editor.stage3 is not None:
            images = self._upscale(editor.stage3, request, images)
        return DifferentialOutput(images, last.change, last.k_run, last.strength)

    @staticmethod
    def _upscale(stage3, request: EditRequest, images: torch.Tensor) -> torch.Tensor:
        # Stage III as DeepFloyd's model card runs it (noise_level=100), unmodified.
        kwargs: dict[str, Any] = {"guidance_scale": request.guidance_scale} if request.guidance_scale else {}
        return stage3(prompt=request.prompts, image=images.to(stage3.device, stage3.unet.dtype), noise_level=100,
                      num_inference_steps=request.n_steps, negative_prompt=request.negative_prompts,
                      generator=request.generator, output_type="pt", **kwargs).images
