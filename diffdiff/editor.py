"""``DifferentialEditor``: Differential Diffusion over stock diffusers img2img pipelines.

One call encodes the original once, draws the run's one noise tensor, and runs the stock pipeline at
the strength of the map's maximum with :class:`~diffdiff.hook.DifferentialStep` as its step callback.
The flow is :mod:`diffdiff.stages`; each family's adapter (:mod:`diffdiff.families`) supplies the rest,
and multi-stage families (SDXL + refiner, DeepFloyd IF) chain their stages in their own ``edit``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from typing import Any

import torch
import torch.nn.functional as F

from automaps.errors import UnsupportedPipelineError
from automaps.hub import resolve_device, resolve_dtype
from diffdiff.adapters import IPAdapterMethods, apply_lora, check_adapter_call, parse_lora
from diffdiff.call_args import check_generator, idle_map_message, per_image, real_number
from diffdiff.controlnet_loading import with_controlnet
from diffdiff.families import FAMILIES, Family, family_for_class
from diffdiff.families.base import COMMON_RESERVED
from diffdiff.inputs import OUTPUT_TYPES, image_batch, map_batch, stock_form, to_output
from diffdiff.loading import read_model_index
from diffdiff.models import ModelSpec
from diffdiff.schedulers import make_scheduler
from diffdiff.stages import DifferentialOutput, EditRequest, select

__all__ = ["DifferentialEditor", "DifferentialOutput"]


def extra_roles() -> tuple[str, ...]:
    """Every extra-stage keyword some family declares (``refiner``, ``prior``, ``stage2``, ``stage3``, ...),
    in registry order: the keywords of :meth:`DifferentialEditor.from_pretrained` / ``from_pipe`` and the
    editor's stage attributes."""
    return tuple(dict.fromkeys(role for family in FAMILIES.values() for role in family.extra_classes))


class DifferentialEditor(IPAdapterMethods):
    """Edit images with a per-pixel change map (1 = regenerate fully, 0 = keep).

    Build it with :meth:`from_pretrained` or :meth:`from_pipe`; call it like a pipeline.

    Attributes:
        pipe: the stock diffusers img2img pipeline being driven (IF: stage I).
        stages: the loaded extra stages by role, as the family declares them (``adapter.extra_classes``):
            SDXL's ``refiner``, Kandinsky 2.2's ``prior``, DeepFloyd IF's ``stage2`` and ``stage3``. Each
            role is also an attribute (``editor.refiner``), ``None`` when not loaded.
    """

    def __init__(self, pipe, family: Family, stages: dict[str, Any] | None = None) -> None:
        self.pipe = pipe
        self._family = family
        self.stages = {role: stage for role, stage in (stages or {}).items() if stage is not None}
        _check_roles(family, self.stages)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not found normally: the extra-stage roles of the registry.
        if name != "stages" and name in extra_roles():
            return self.__dict__.get("stages", {}).get(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def family(self) -> str:
        """The model family name (a key of ``diffdiff.families.FAMILIES``: ``"sd"``, ``"sdxl"``, ...)."""
        return self._family.name

    @property
    def adapter(self) -> Family:
        """The family adapter (its ``denoiser(pipe)``, ``pack(pipe, tensor)``, ``rounding``, ...)."""
        return self._family

    @property
    def pipelines(self) -> list:
        """Every loaded pipeline: the driven one first, then the extra stages that are loaded."""
        return [self.pipe, *self.stages.values()]

    def __repr__(self) -> str:
        extras = "".join(f", {role}" for role in self.stages)
        return f"DifferentialEditor({self.family}, {type(self.pipe.scheduler).__name__}{extras})"

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        id_or_folder: str | os.PathLike,
        torch_dtype: torch.dtype | str | None = None,
        device: str | torch.device | None = None,
        *,
        scheduler: Any = None,
        revision: str | None = None,
        **kwargs: Any,
    ) -> DifferentialEditor:
        """Load a pipeline by hub id or local folder; its family is read from ``model_index.json``.

        Args:
            id_or_folder: hub id (``"stabilityai/stable-diffusion-xl-base-1.0"``) or a local folder. For
                Kandinsky 2.2 the decoder, for DeepFloyd IF stage I (defaults: ``diffdiff.models``).
            torch_dtype: ``None`` (float32), ``torch.float16``, ``torch.bfloat16`` or their names.
            device: ``None`` picks CUDA, then MPS, then the CPU.
            scheduler: ``None`` keeps the checkpoint's scheduler; a name (``"euler"``, ``"ddim"``,
                ``"dpm++2m"``, ``"heun"``, ``"pndm"``, ...) or a diffusers scheduler object. IF: applied to
                stages I and II, each on its own config.
            revision: hub revision of ``id_or_folder``.
            **kwargs: the family's extra stages, each a hub id, folder, ``ModelSpec`` or loaded pipeline
                (declared by its adapter, see :func:`extra_roles`): SDXL ``refiner=`` (finishes the
                schedule); Kandinsky 2.2 ``prior=`` (``None`` loads ``kandinsky-community/kandinsky-2-2-prior``);
                DeepFloyd IF ``stage2=`` (shares stage I's text encoder) and ``stage3=`` (the x4 upscaler).
                ``controlnet=``: a ControlNet hub id, folder or loaded model, or a list of them (SD, SDXL,
                Flux: drives the family's ControlNet img2img pipeline; calls then need ``control_image``).
                ``lora=``: LoRA weights, ``[ID_OR_PATH or (ID_OR_PATH, scale), ...]``, loaded unfused through
                ``load_lora_weights`` + ``set_adapters`` (peft: the ``lora`` extra; see ``diffdiff.adapters``).
                The rest goes to diffusers' ``from_pretrained`` (``variant``, ...).

        Returns:
            The editor, on ``device``.

        Raises:
            ModelNotAvailableError: weights not in the local cache while offline (the message names the
                model and the download command).
            UnsupportedPipelineError: a pipeline class no family drives (or a wrong class for a stage).
            ValueError: a folder that is not a diffusers pipeline; a stage the family does not have; an
                unavailable device or dtype.
        """
        target = resolve_device(device)
        dtype = resolve_dtype(torch_dtype, target)
        given = {role: kwargs.pop(role) for role in extra_roles() if role in kwargs}
        loras = parse_lora(kwargs.pop("lora", None))  # checked before any weights load
        index = read_model_index(id_or_folder, revision=revision)
        family = family_for_class(index.get("_class_name", "<missing _class_name>"))
        if (controlnet := kwargs.pop("controlnet", None)) is not None:  # its ControlNet variant drives it
            family, kwargs = with_controlnet(family, controlnet, dtype, kwargs)
        _check_roles(family, given)
        pipe = family.load(id_or_folder, dtype=dtype, revision=revision, **kwargs)
        apply_lora(pipe, loras)
        stages = {}
        for role in family.extra_classes:
            value = given[role] if given.get(role) is not None else family.default_extra(role)
            if isinstance(value, (str, os.PathLike, ModelSpec)):
                value = cls._load_extra(family, role, value, pipe, dtype, kwargs)
            stages[role] = value
        return cls._build(pipe, family, scheduler, stages, target)

    @classmethod
    def from_pipe(cls, pipe, *, scheduler: Any = None, **stages: Any) -> DifferentialEditor:
        """Drive an already-loaded diffusers pipeline (text-to-image or img2img of a supported family).

        The editor builds its own img2img pipeline sharing ``pipe``'s modules (LoRA, fused or patched
        weights are kept); ``pipe`` itself is not changed, and neither is its device.

        Args:
            pipe: a loaded diffusers pipeline (Kandinsky: the decoder, or a combined pipeline, whose
                prior is used; IF: stage I).
            scheduler: as in :meth:`from_pretrained`.
            **stages: the family's extra stages as loaded pipelines (``refiner=``, ``prior=``,
                ``stage2=``, ``stage3=``; see :func:`extra_roles`).

        Raises:
            UnsupportedPipelineError: a pipeline class no family drives.
            TypeError: a keyword that is no family's extra stage.
            ValueError: a stage the family does not have, or lacks one it needs (Kandinsky's prior).
        """
        unknown = sorted(set(stages) - set(extra_roles()))
        if unknown:
            raise TypeError(f"{unknown[0]}: not an extra stage of any family; expected one of {list(extra_roles())}")
        family = family_for_class(type(pipe).__name__)
        _check_roles(family, stages)
        stages = {**family.extras_from_pipe(pipe), **{k: v for k, v in stages.items() if v is not None}}
        return cls._build(family.convert(pipe), family, scheduler, stages, None)

    @staticmethod
    def _load_extra(family: Family, role: str, value, main_pipe, dtype: torch.dtype, load_kwargs: dict[str, Any]):
        revision = None
        if isinstance(value, ModelSpec):
            value, revision = value.model_id, value.revision
        class_name = read_model_index(value, revision=revision).get("_class_name", "<missing _class_name>")
        if class_name not in family.extra_classes[role]:
            raise UnsupportedPipelineError(class_name, list(family.extra_classes[role]), hint=f"as {role}=")
        kwargs = {**load_kwargs, "dtype": dtype, **({"revision": revision} if revision else {})}
        return family.load_extra(role, value, main_pipe, **kwargs)

    @classmethod
    def _build(cls, pipe, family: Family, scheduler: Any, stages: dict[str, Any], device: torch.device | None):
        for role in family.required_extras:
            if stages.get(role) is None:
                raise ValueError(f"{role}: the {family.name!r} family needs its {role}; pass {role}=<a hub id, "
                                 f"folder or loaded {family.extra_classes[role][-1]}>")
        if scheduler is not None:
            pipe.scheduler = make_scheduler(scheduler, pipe.scheduler.config)
        stages = {role: family.attach(role, stage, pipe, scheduler) for role, stage in stages.items()
                  if stage is not None}
        for stage in (pipe, *stages.values()):
            # .to() on a pipeline already there only costs time and warnings.
            if device is not None and stage.device != device:
                stage.to(device)
            stage.set_progress_bar_config(disable=None, leave=False)
        return cls(pipe, family, stages)

    # -- editing -------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self, image: Any, prompt: str | list[str], change_map: Any, num_inference_steps: int = 30,
        guidance_scale: float | None = None, negative_prompt: str | list[str] | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None, num_images_per_prompt: int = 1,
        output_type: str = "pil", preserve_unchanged: bool = True, invert_map: bool = False, *,
        refiner_start: float = 0.8, skip_idle_steps: bool = True, callback_on_step_end: Any = None,
        **pipeline_kwargs: Any,
    ) -> DifferentialOutput:
        """Edit ``image`` so that each pixel changes as much as ``change_map`` says.

        Args:
            image: PIL image (or a list of one size), numpy ``(H, W, 3)`` uint8 or float in [0, 1], torch
                ``(3, H, W)`` / ``(B, 3, H, W)`` in [0, 1]; preprocessed the way the stock pipeline does each type.
            prompt: the target prompt (one, or one per image).
            change_map: ``(H, W)`` map in [0, 1], 1 = change fully, 0 = keep (PIL "L", numpy, torch
                ``(H, W)`` / ``(1, H, W)`` / ``(B, 1, H, W)``, ``automaps.ChangeMap``, or one per image).
                Resampled to the model grid by area averaging.
            num_inference_steps: ``N`` of the full schedule; a map of maximum ``m`` runs ``k(m)`` of them.
            guidance_scale: classifier-free guidance (Flux: the distilled guidance); ``None`` keeps each
                pipeline's default. IF: applied to every stage.
            negative_prompt: one, or one per image.
            generator: a generator, or one per output image, for reproducible results.
            num_images_per_prompt: samples per image.
            output_type: ``"pil"``, ``"np"``, ``"pt"`` or ``"latent"``.
            preserve_unchanged: where the map is exactly 0, output pixels are the input pixels.
            invert_map: read the map in the paper's convention (white = keep).
            refiner_start: with a refiner, the fraction of the schedule after which it takes over.
            skip_idle_steps: skip the first steps, where no pixel is free (same result up to float rounding);
                ``False`` runs all ``N`` steps like the paper's reference code (for comparisons).
            callback_on_step_end: a user callback, called after the differential blend.
            **pipeline_kwargs: passed to the stock pipeline (``eta``, ``clip_skip``, ...; ControlNet editors:
                ``control_image`` (required), ``controlnet_conditioning_scale``, ``control_guidance_start/end``,
                a list of each for several ControlNets; IF: stages I and II;
                Kandinsky: ``prior_num_inference_steps`` and ``prior_guidance_scale`` go to the prior;
                ``ip_adapter_image`` is required once :meth:`load_ip_adapter` has run).

        Returns:
            :class:`DifferentialOutput`; output images have the input's size.

        Raises:
            TypeError / ValueError: bad arguments; the message names the parameter.
        """
        self._check_call(num_inference_steps, num_images_per_prompt, output_type, refiner_start, pipeline_kwargs,
                         guidance_scale=guidance_scale, preserve_unchanged=preserve_unchanged, invert_map=invert_map,
                         skip_idle_steps=skip_idle_steps)
        pixels = image_batch(image)
        n_images, _, height, width = pixels.shape
        change = map_batch(change_map, n_images, (height, width), invert=invert_map)
        if (message := idle_map_message(change.max().item(), num_inference_steps, self._family.rounding)):
            warnings.warn(message, stacklevel=3)
        repeat = num_images_per_prompt
        request = EditRequest(
            pixels=pixels.repeat_interleave(repeat, 0), source=stock_form(image, pixels, repeat),
            change=change.repeat_interleave(repeat, 0),
            prompts=per_image("prompt", prompt, n_images, repeat, required=True),
            negative_prompts=per_image("negative_prompt", negative_prompt, n_images, repeat, required=False),
            generator=check_generator(generator, n_images * repeat), n_steps=num_inference_steps,
            guidance_scale=guidance_scale, output_type="latent" if output_type == "latent" else "pt",
            skip_idle_steps=skip_idle_steps, callback=callback_on_step_end, pipeline_kwargs=pipeline_kwargs,
            refiner_start=refiner_start,
        )
        return self._edit_active(request, output_type, preserve_unchanged)

    def _edit_active(self, request: EditRequest, output_type: str, preserve_unchanged: bool) -> DifferentialOutput:
        """Run the family on the images that have something to change; an all-kept image of a batch is its
        own result, so it is neither encoded nor denoised (for ``"latent"`` every image is encoded: its
        latents are the result)."""
        active = [i for i in range(request.change.shape[0]) if bool(request.change[i].max() > 0)]
        if output_type == "latent" or not 0 < len(active) < request.change.shape[0]:
            return _finish(self._family.edit(self, request), request, output_type, preserve_unchanged)
        part = select(request, active)
        result = _finish(self._family.edit(self, part), part, "pt", preserve_unchanged)
        images = request.pixels.clone()
        images[active] = result.images
        change = result.change.new_zeros((request.change.shape[0], *result.change.shape[1:]))
        change[active] = result.change
        return DifferentialOutput(to_output(images, output_type), change, result.steps_run, result.strength)

    def _check_call(self, n_steps: Any, n_images: Any, output_type: Any, refiner_start: Any,
                    pipeline_kwargs: dict[str, Any], guidance_scale: Any = None, **switches: Any) -> None:
        """Refuse bad arguments before any work: each by type and range, the message naming it."""
        reserved = (COMMON_RESERVED | self._family.reserved).intersection(pipeline_kwargs)
        if reserved:
            raise TypeError(f"{sorted(reserved)[0]}: set by the editor from the change map; do not pass it")
        check_adapter_call(self, pipeline_kwargs)
        if not isinstance(n_steps, int) or isinstance(n_steps, bool) or n_steps < 1:
            raise ValueError(f"num_inference_steps: expected an integer >= 1, got {n_steps!r}")
        if not isinstance(n_images, int) or isinstance(n_images, bool) or n_images < 1:
            raise ValueError(f"num_images_per_prompt: expected an integer >= 1, got {n_images!r}")
        if not isinstance(output_type, str) or output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type: expected one of {OUTPUT_TYPES}, got {output_type!r}")
        if guidance_scale is not None:
            real_number("guidance_scale", guidance_scale, 0.0, math.inf)  # inf gives a black image, nan noise
        real_number("refiner_start", refiner_start, 0.0, 1.0)
        if self.refiner is not None and not 0.0 < refiner_start < 1.0:
            raise ValueError(f"refiner_start: expected a float in (0, 1), got {refiner_start!r}")
        for name, value in switches.items():
            if not isinstance(value, bool):
                raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")

    def predict_noise(self, image: Any, prompts: list[str], **probe: Any) -> torch.Tensor:
        """The model's noise prediction per prompt at one timestep (for DiffEdit maps); see
        :func:`diffdiff.probe.predict_noise` for the arguments. Returns ``(len(prompts), n_draws, ...)``."""
        from diffdiff.probe import predict_noise

        return predict_noise(self, image, prompts, **probe)

    def edit_regions(self, image: Any, regions: list, *, background_prompt: str | None = None,
                     **call: Any) -> DifferentialOutput:
        """Several ``(prompt, change_map)`` regions in one pass: freedom follows the maximum of the maps, the
        prediction at a cell combines the region prompts' by their weights there (one batched denoiser call
        per step); see :func:`diffdiff.regions.edit_regions` for the arguments, the weights and the errors."""
        from diffdiff.regions import edit_regions

        return edit_regions(self, image, regions, background_prompt=background_prompt, **call)


def _check_roles(family: Family, given: dict[str, Any]) -> None:
    """Refuse an extra stage the family does not have (``refiner=`` for SD, ``prior=`` for SDXL, ...)."""
    for role, value in given.items():
        if value is not None and role not in family.extra_classes:
            owners = [name for name, f in FAMILIES.items() if role in f.extra_classes]
            raise ValueError(f"{role}: only {' and '.join(owners)} has a {role} stage, not {family.name!r}")


def _finish(result: DifferentialOutput, request: EditRequest, output_type: str,
            preserve_unchanged: bool) -> DifferentialOutput:
    """The family's result in the asked output type, at the input's size, kept pixels composited back."""
    pixels, change = request.pixels, request.change
    if result.images is None:
        # Nothing is free: the result is the input, and no model runs at all.
        return DifferentialOutput(to_output(pixels, output_type), result.change, 0, 0.0)
    if output_type == "latent":
        return result
    edited = result.images.float().cpu()
    if tuple(edited.shape[-2:]) != tuple(pixels.shape[-2:]):
        edited = F.interpolate(edited, size=tuple(pixels.shape[-2:]), mode="bicubic", align_corners=False).clamp(0, 1)
    if preserve_unchanged:
        edited = torch.where(change == 0, pixels, edited)
    return dataclasses.replace(result, images=to_output(edited, output_type))


