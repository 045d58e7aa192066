"""DeepFloyd IF: pixel-space cascades, each differential stage through its stock pipeline.

* Stage I (``IFImg2ImgPipeline``, 64x64 for the released model) denoises pixels; ``x0`` is the original
  resized, in [-1, 1].
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

from diffdiff.families.base import Family
from diffdiff.schedulers import make_scheduler
from diffdiff.stages import EditRequest, EditResult, StageRun, plan_stage, resize_pixels, run_stage

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

    # Pixel space: the model grid is the stage's square sample size.
    def processing_size(self, pipe, height: int, width: int) -> tuple[int, int]:
        size = int(pipe.unet.config.sample_size)
        return size, size

    def latent_size(self, pipe, height: int, width: int) -> tuple[int, int]:
        return height, width

    def to_model_pixels(self, pipe, pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        pixels = resize_pixels(pixels, size) * 2 - 1
        return pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe))

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

    def edit(self, editor, request: EditRequest) -> EditResult:
        """Stage I, then stage II on its result, then the optional upscaler; each differential stage
        with its own plan on its own grid, its own ``x0`` and its own noise draw."""
        stages = [p for p in (editor.pipe, editor.stage2) if p is not None]
        plans = [plan_stage(self, p, request.change, request.n_steps, request.skip_idle_steps) for p in stages]
        last = plans[-1]
        if all(plan.k_max == 0 for plan in plans) and request.output_type != "latent":
            return EditResult(None, last.change, 0, 0.0)
        low_res = None
        for pipe, plan in zip(stages, plans, strict=True):
            x0 = self.to_model_pixels(pipe, request.pixels, plan.size)
            if plan.k_max == 0:
                low_res = x0  # nothing free at this stage: its result is the original
                continue
            conditioning = {} if low_res is None else {"low_res": low_res}
            low_res = run_stage(self, pipe, request, plan, x0, x0, output_type="pt", conditioning=conditioning)
        if request.output_type == "latent":
            return EditResult(low_res, last.change, last.k_run, last.strength)
        images = (low_res.float() / 2 + 0.5).clamp(0, 1)
        if editor.stage3 is not None:
            images = self._upscale(editor.stage3, request, images)
        return EditResult(images, last.change, last.k_run, last.strength)

    @staticmethod
    def _upscale(stage3, request: EditRequest, images: torch.Tensor) -> torch.Tensor:
        # Stage III as DeepFloyd's model card runs it (noise_level=100), unmodified.
        kwargs: dict[str, Any] = {"guidance_scale": request.guidance_scale} if request.guidance_scale else {}
        return stage3(prompt=request.prompts, image=images.to(stage3.device, stage3.unet.dtype), noise_level=100,
                      num_inference_steps=request.n_steps, negative_prompt=request.negative_prompts,
                      generator=request.generator, output_type="pt", **kwargs).images
