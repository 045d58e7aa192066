"""``DifferentialEditor``: Differential Diffusion over stock diffusers img2img pipelines.

One call encodes the original once, draws the run's one noise tensor, and runs the stock pipeline at
the strength of the map's maximum with :class:`~diffdiff.hook.DifferentialStep` as its step callback.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from diffdiff.core import area_resample, free_steps, start_positions, strength_for_steps
from diffdiff.families import FAMILIES, Family, StageRun, family_for_class
from diffdiff.hook import DifferentialStep
from diffdiff.inputs import OUTPUT_TYPES, image_batch, map_batch, to_output
from diffdiff.loading import read_model_index, resolve_device, resolve_dtype
from diffdiff.noise import draw_like_pipeline, seeded_generator
from diffdiff.schedulers import make_scheduler

__all__ = ["DifferentialEditor", "DifferentialOutput"]

# Arguments the editor owns; passing them through **pipeline_kwargs would silently break the maths.
_RESERVED = {"image", "strength", "latents", "callback_on_step_end_tensor_inputs", "denoising_start"}


@dataclass
class DifferentialOutput:
    """Result of one edit.

    Attributes:
        images: list of PIL images (``"pil"``), float32 ``(B, H, W, 3)`` (``"np"``), ``(B, 3, H, W)`` in
            [0, 1] (``"pt"``), or the final latents ``(B, C, h, w)`` (``"latent"``). Output ``b * n + r``
            is the ``r``-th sample of image ``b`` (``n = num_images_per_prompt``).
        change: ``(B, 1, h, w)`` float32 map on the model grid (after area averaging), 1 = change fully.
        steps_run: denoising steps executed: ``k(max m)``, the free steps of the map's maximum (``N`` with
            ``skip_idle_steps=False``).
        strength: the stock img2img strength those steps correspond to.
    """

    images: Any
    change: torch.Tensor
    steps_run: int
    strength: float


class DifferentialEditor:
    """Edit images with a per-pixel change map (1 = regenerate fully, 0 = keep).

    Build it with :meth:`from_pretrained` or :meth:`from_pipe`; call it like a pipeline.

    Attributes:
        pipe: the stock diffusers img2img pipeline being driven.
        refiner: an optional SDXL refiner pipeline that finishes the schedule.
        family: ``"sd"``, ``"sdxl"``, ...
    """

    def __init__(self, pipe, family: Family, refiner=None) -> None:
        self.pipe = pipe
        self.refiner = refiner
        self._family = family

    @property
    def family(self) -> str:
        """The model family name (``"sd"``, ``"sdxl"``, ...)."""
        return self._family.name

    def __repr__(self) -> str:
        refiner = ", refiner" if self.refiner is not None else ""
        return f"DifferentialEditor({self.family}, {type(self.pipe.scheduler).__name__}{refiner})"

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        id_or_folder: str | os.PathLike,
        torch_dtype: torch.dtype | str | None = None,
        device: str | torch.device | None = None,
        *,
        scheduler: Any = None,
        refiner: str | os.PathLike | Any = None,
        revision: str | None = None,
        **load_kwargs: Any,
    ) -> DifferentialEditor:
        """Load a pipeline by hub id or local folder; its family is read from ``model_index.json``.

        Args:
            id_or_folder: hub id (``"stabilityai/stable-diffusion-xl-base-1.0"``) or a local folder.
            torch_dtype: ``None`` (float32), ``torch.float16``, ``torch.bfloat16`` or their names.
            device: ``None`` picks CUDA, then MPS, then the CPU.
            scheduler: ``None`` keeps the checkpoint's scheduler; a name (``"euler"``, ``"ddim"``,
                ``"dpm++2m"``, ``"heun"``, ``"pndm"``, ...) or a diffusers scheduler object.
            refiner: SDXL only: a refiner hub id, folder or loaded pipeline that finishes the schedule.
            revision: hub revision.
            **load_kwargs: passed to diffusers' ``from_pretrained`` (``variant``, ...).

        Returns:
            The editor, on ``device``.

        Raises:
            ModelNotAvailableError: weights not in the local cache while offline (the message names the
                model and the download command).
            UnsupportedPipelineError: a pipeline class no family drives.
            ValueError: a folder that is not a diffusers pipeline; an unavailable device or dtype.
        """
        target = resolve_device(device)
        dtype = resolve_dtype(torch_dtype, target)
        index = read_model_index(id_or_folder, revision=revision)
        family = family_for_class(index.get("_class_name", "<missing _class_name>"))
        pipe = family.load(id_or_folder, dtype=dtype, revision=revision, **load_kwargs)
        refiner_pipe = None
        if refiner is not None:
            refiner_pipe = (
                cls._load_refiner(refiner, family, dtype, load_kwargs)
                if isinstance(refiner, (str, os.PathLike))
                else refiner
            )
        return cls._build(pipe, family, scheduler, refiner_pipe, target)

    @classmethod
    def from_pipe(cls, pipe, *, scheduler: Any = None, refiner: Any = None) -> DifferentialEditor:
        """Drive an already-loaded diffusers pipeline (text-to-image or img2img of a supported family).

        The editor builds its own img2img pipeline sharing ``pipe``'s modules (LoRA, fused or patched
        weights are kept); ``pipe`` itself is not changed, and neither is its device.

        Args:
            pipe: a loaded diffusers pipeline.
            scheduler: as in :meth:`from_pretrained`.
            refiner: an SDXL refiner pipeline (or ``None``).

        Raises:
            UnsupportedPipelineError: a pipeline class no family drives.
        """
        family = family_for_class(type(pipe).__name__)
        return cls._build(family.convert(pipe), family, scheduler, refiner, None)

    @staticmethod
    def _load_refiner(refiner, family: Family, dtype: torch.dtype, load_kwargs: dict[str, Any]):
        if family.name != "sdxl":
            raise ValueError(f"refiner: only SDXL has a refiner stage, not {family.name!r}")
        index = read_model_index(refiner)
        family_for_class(index.get("_class_name", ""))
        return family.load(refiner, dtype=dtype, **load_kwargs)

    @classmethod
    def _build(cls, pipe, family: Family, scheduler: Any, refiner, device: torch.device | None):
        if scheduler is not None:
            pipe.scheduler = make_scheduler(scheduler, pipe.scheduler.config)
        if refiner is not None:
            if family.name != "sdxl":
                raise ValueError(f"refiner: only SDXL has a refiner stage, not {family.name!r}")
            refiner = FAMILIES["sdxl"].convert(refiner)
            # One global schedule: the refiner continues with a scheduler of the same kind.
            refiner.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
        for stage in (pipe, refiner):
            # .to() on a pipeline already there only costs time and warnings.
            if device is not None and stage is not None and stage.device != device:
                stage.to(device)
        for p in (pipe, refiner):
            if p is not None:
                p.set_progress_bar_config(disable=None, leave=False)
        return cls(pipe, family, refiner)

    # -- editing -------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        image: Any,
        prompt: str | list[str],
        change_map: Any,
        num_inference_steps: int = 30,
        guidance_scale: float | None = None,
        negative_prompt: str | list[str] | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        num_images_per_prompt: int = 1,
        output_type: str = "pil",
        preserve_unchanged: bool = True,
        invert_map: bool = False,
        *,
        refiner_start: float = 0.8,
        skip_idle_steps: bool = True,
        callback_on_step_end: Any = None,
        **pipeline_kwargs: Any,
    ) -> DifferentialOutput:
        """Edit ``image`` so that each pixel changes as much as ``change_map`` says.

        Args:
            image: PIL image, numpy ``(H, W, 3)`` uint8, torch ``(3, H, W)`` / ``(B, 3, H, W)`` in [0, 1],
                or a list of PIL images of one size.
            prompt: the target prompt (one, or one per image).
            change_map: ``(H, W)`` map in [0, 1], 1 = change fully, 0 = keep (PIL "L", numpy, torch
                ``(H, W)`` / ``(1, H, W)`` / ``(B, 1, H, W)``, ``automaps.ChangeMap``, or one per image).
                Resampled to the model grid by area averaging.
            num_inference_steps: ``N`` of the full schedule; a map of maximum ``m`` runs ``k(m)`` of them.
            guidance_scale: classifier-free guidance; ``None`` keeps the pipeline's default.
            negative_prompt: one, or one per image.
            generator: a generator, or one per output image, for reproducible results.
            num_images_per_prompt: samples per image.
            output_type: ``"pil"``, ``"np"``, ``"pt"`` or ``"latent"``.
            preserve_unchanged: where the map is exactly 0, output pixels are the input pixels.
            invert_map: read the map in the paper's convention (white = keep).
            refiner_start: with a refiner, the fraction of the schedule after which it takes over.
            skip_idle_steps: skip the first steps, where no pixel is free (the result is the same up to
                float rounding for single-step schedulers). ``False`` runs all ``N`` steps, as the paper's
                reference code does; kept for comparisons and benchmarks.
            callback_on_step_end: a user callback, called after the differential blend.
            **pipeline_kwargs: passed to the stock pipeline (``eta``, ``clip_skip``, ...).

        Returns:
            :class:`DifferentialOutput`. Output images have the input's size.

        Raises:
            TypeError / ValueError: bad arguments; the message names the parameter.
        """
        reserved = _RESERVED.intersection(pipeline_kwargs)
        if reserved:
            raise TypeError(f"{sorted(reserved)[0]}: set by the editor from the change map; do not pass it")
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps: expected an integer >= 1, got {num_inference_steps!r}")
        if not isinstance(num_images_per_prompt, int) or num_images_per_prompt < 1:
            raise ValueError(f"num_images_per_prompt: expected an integer >= 1, got {num_images_per_prompt!r}")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type: expected one of {OUTPUT_TYPES}, got {output_type!r}")
        if self.refiner is not None and not 0.0 < refiner_start < 1.0:
            raise ValueError(f"refiner_start: expected a float in (0, 1), got {refiner_start!r}")

        pixels = image_batch(image)
        n_images, _, height, width = pixels.shape
        change = map_batch(change_map, n_images, (height, width), invert=invert_map)
        repeat = num_images_per_prompt
        total = n_images * repeat
        prompts = _per_image("prompt", prompt, n_images, repeat, required=True)
        negatives = _per_image("negative_prompt", negative_prompt, n_images, repeat, required=False)
        generator = _check_generator(generator, total)
        pixels, change = pixels.repeat_interleave(repeat, 0), change.repeat_interleave(repeat, 0)

        family, pipe, n_steps = self._family, self.pipe, num_inference_steps
        size = family.processing_size(pipe, height, width)
        change_latent = area_resample(change, family.latent_size(pipe, *size))
        k = free_steps(change_latent, n_steps, family.rounding)
        k_max = int(k.max())
        k_run = k_max if skip_idle_steps or k_max == 0 else n_steps
        strength = strength_for_steps(k_run, n_steps, family.rounding)
        if k_max == 0 and output_type != "latent":
            # Nothing is free: the result is the input, and no model runs at all.
            return DifferentialOutput(to_output(pixels, output_type), change_latent, 0, 0.0)

        x0 = family.encode(pipe, family.to_model_pixels(pipe, pixels, size), generator)
        if k_max == 0:
            return DifferentialOutput(x0, change_latent, 0, 0.0)
        eps = draw_like_pipeline(generator, family.noise_shape(x0), pipe._execution_device, x0.dtype)
        order = pipe.scheduler.order
        start = start_positions(k, n_steps, order).to(x0.device)
        run_start = order * (n_steps - k_run)

        final_type = "latent" if output_type == "latent" else "pt"

        def stage(stage_pipe, latents: torch.Tensor, first_position: int, stage_output: str, **extra: Any):
            hook = DifferentialStep(x0, eps, start, first_position, then=callback_on_step_end)
            return family.run(stage_pipe, StageRun(
                prompts=prompts, negative_prompts=negatives, latents=latents, strength=strength, n_steps=n_steps,
                generator=generator, hook=hook, guidance_scale=guidance_scale, output_type=stage_output,
                extra={**pipeline_kwargs, **extra}))

        refiner_begin = self._refiner_begin(n_steps, refiner_start) if self.refiner is not None else None
        if refiner_begin is None:
            result = stage(pipe, x0, run_start, final_type)
        elif run_start < refiner_begin:
            # One global schedule: the base stops where the refiner's loop begins, same thresholds.
            latents = stage(pipe, x0, run_start, "latent", denoising_end=refiner_start)
            result = stage(self.refiner, latents, refiner_begin, final_type, denoising_start=refiner_start)
        else:
            # Every free step lies in the refiner's part of the schedule: it runs alone, as img2img.
            result = stage(self.refiner, x0, run_start, final_type)

        if output_type == "latent":
            return DifferentialOutput(result, change_latent, k_run, strength)
        edited = result.float().cpu()
        if tuple(edited.shape[-2:]) != (height, width):
            edited = F.interpolate(edited, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)
        if preserve_unchanged:
            edited = torch.where(change == 0, pixels, edited)
        return DifferentialOutput(to_output(edited, output_type), change_latent, k_run, strength)

    def predict_noise(self, image: Any, prompts: list[str], **probe: Any) -> torch.Tensor:
        """The model's noise prediction per prompt at one timestep (for DiffEdit maps); see
        :func:`diffdiff.probe.predict_noise` for the arguments. Returns ``(len(prompts), n_draws, ...)``."""
        from diffdiff.probe import predict_noise

        return predict_noise(self, image, prompts, **probe)

    def _refiner_begin(self, n_steps: int, refiner_start: float) -> int:
        """Position in the global schedule where the refiner's loop begins (diffusers' own rule)."""
        scheduler = copy.deepcopy(self.refiner.scheduler)
        scheduler.set_timesteps(n_steps)
        train_steps = scheduler.config.num_train_timesteps
        cutoff = round(train_steps - refiner_start * train_steps)
        count = (scheduler.timesteps < cutoff).sum().item()
        if scheduler.order == 2 and count % 2 == 0:
            count += 1
        return len(scheduler.timesteps) - count


def _per_image(name: str, value: Any, n_images: int, repeat: int, required: bool) -> list[str] | None:
    """One string per output image, in the order ``image b, sample r`` -> ``b * repeat + r``."""
    if value is None and not required:
        return None
    if isinstance(value, str):
        values = [value] * n_images
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        values = list(value)
        if len(values) == 1:
            values = values * n_images
    else:
        raise TypeError(f"{name}: expected a string or a list of strings, got {type(value).__name__}")
    if len(values) != n_images:
        raise ValueError(f"{name}: got {len(values)} for {n_images} images; pass one or one per image")
    return [v for v in values for _ in range(repeat)]


def _check_generator(generator: Any, total: int) -> Any:
    if generator is None:
        return seeded_generator()
    if isinstance(generator, list):
        if len(generator) != total or not all(isinstance(g, torch.Generator) for g in generator):
            raise ValueError(f"generator: expected one torch.Generator or a list of {total}, got {len(generator)}")
        return generator
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    return generator
