"""What a model family adapter provides: how to load its img2img pipeline (and extra stages), encode the
original the way that pipeline does, lay tensors out as its loop sees them, and call it with the
differential hook. The edit flow itself is written once, in :mod:`diffdiff.stages`; families override
little."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from diffdiff.core import Rounding
from diffdiff.stages import DifferentialOutput, EditRequest, StageRun, plan_stage, run_stage

__all__ = ["COMMON_RESERVED", "Family", "ShiftedLatents", "StageRun", "image_size", "posterior_sample", "vae_latents",
           "vae_posterior"]

COMMON_RESERVED = frozenset({"image", "strength", "latents", "callback_on_step_end_tensor_inputs", "height", "width",
                             "num_images_per_prompt"})
"""Pipeline arguments every family's editor sets from the change map: passing them through ``**pipeline_kwargs``
would silently break the maths."""


def image_size(image: Any) -> tuple[int, int]:
    """``(H, W)`` of a PIL image, a list of them, a numpy ``(..., H, W, 3)`` array or a ``(..., 3, H, W)`` tensor."""
    from PIL import Image

    first = image[0] if isinstance(image, (list, tuple)) else image
    if isinstance(first, Image.Image):
        return first.size[1], first.size[0]
    if isinstance(first, torch.Tensor):
        return tuple(first.shape[-2:])
    return tuple(first.shape[-3:-1])


def vae_latents(pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
    """One VAE posterior sample per image, drawn exactly as diffusers' img2img pipelines draw it (per
    generator when given a list), before any scaling.

    Args:
        pipe: a pipeline with a ``vae`` (``AutoencoderKL``).
        pixels: ``(B, 3, H, W)`` in [-1, 1], on the pipeline's device and in the dtype it encodes in.
        generator: one generator or one per image.

    Returns:
        ``(B, C, H/f, W/f)`` unscaled latents.
    """
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents

    if isinstance(generator, list):
        parts = [retrieve_latents(pipe.vae.encode(pixels[i : i + 1]), generator=generator[i])
                 for i in range(pixels.shape[0])]
        return torch.cat(parts)
    return retrieve_latents(pipe.vae.encode(pixels), generator=generator)


def vae_posterior(pipe, pixels: torch.Tensor) -> Any:
    """The VAE encoder's output for ``pixels`` (its posterior), before any draw: :func:`posterior_sample`
    of it with a generator is :func:`vae_latents` with that generator, and the encoder runs once for many."""
    return pipe.vae.encode(pixels)


def posterior_sample(encoded: Any, generator: torch.Generator) -> torch.Tensor:
    """One sample of a :func:`vae_posterior`, drawn as diffusers' ``retrieve_latents`` draws it (unscaled)."""
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents

    return retrieve_latents(encoded, generator=generator)


class Family:
    """Base adapter for latent img2img pipelines that take encoded latents as their ``image``.

    Subclasses set the class attributes and override :meth:`encode`; families whose pipelines differ
    from SD's calling convention override :meth:`call_kwargs` / :meth:`run`, and multi-stage families
    override :meth:`edit`.

    Attributes:
        name: registry key (``"sd"``, ``"kandinsky"``, ...).
        img2img_class: the diffusers img2img pipeline class the editor drives.
        pipeline_classes: ``model_index.json`` / ``from_pipe`` classes this family accepts.
        rounding: how ``k(m)`` rounds, as the family's img2img ``strength`` does.
        extra_classes: extra stages (``from_pretrained`` / ``from_pipe`` keywords, and attributes of the
            editor) -> the pipeline classes accepted there.
        required_extras: extra stages the family cannot edit without (Kandinsky's prior).
        reserved: pipeline arguments the editor sets for this family, beyond :data:`COMMON_RESERVED`.
        discrete_schedulers: the model predicts noise on a discrete DDPM schedule, so every non-flow
            scheduler name of ``diffdiff.schedulers`` applies (the tests run their scheduler matrix on it).
        passes_size: the pipeline ignores its image's size and assumes its default sample size unless
            given ``height``/``width`` (SD3, Flux): the editor and the stock reference pass them.
    """

    name: ClassVar[str] = ""
    img2img_class: ClassVar[str] = ""
    pipeline_classes: ClassVar[tuple[str, ...]] = ()
    rounding: ClassVar[Rounding] = "floor"
    extra_classes: ClassVar[dict[str, tuple[str, ...]]] = {}
    required_extras: ClassVar[tuple[str, ...]] = ()
    reserved: ClassVar[frozenset[str]] = frozenset()
    discrete_schedulers: ClassVar[bool] = False
    passes_size: ClassVar[bool] = False

    # -- loading ---------------------------------------------------------------------------------
    def pipeline_type(self, class_name: str | None = None):
        """The diffusers class ``class_name`` (default: :attr:`img2img_class`)."""
        import diffusers

        return getattr(diffusers, class_name or self.img2img_class)

    def load(self, id_or_folder: str, **kwargs: Any):
        """Load the family's img2img pipeline from a hub id or folder."""
        from diffdiff.loading import load_pipeline

        return load_pipeline(self.pipeline_type(), id_or_folder, **kwargs)

    def convert(self, pipe):
        """A new img2img pipeline sharing ``pipe``'s modules (LoRA and other patches are kept)."""
        return self.pipeline_type().from_pipe(pipe)

    def default_extra(self, role: str) -> Any:
        """What an extra stage defaults to when not given (``None``: not loaded)."""
        return None

    def load_extra(self, role: str, id_or_folder: str, main_pipe, **kwargs: Any):
        """Load an extra stage (``refiner``, ``prior``, ``stage2``, ``stage3``) from a hub id or folder."""
        from diffdiff.loading import load_pipeline

        return load_pipeline(self.pipeline_type(self.extra_classes[role][-1]), id_or_folder, **kwargs)

    def attach(self, role: str, pipe, main_pipe, scheduler: Any = None):
        """Prepare a loaded extra stage for the edit (convert it, give it a fitting scheduler)."""
        return pipe

    def extras_from_pipe(self, pipe) -> dict[str, Any]:
        """Extra stages a user's pipeline already carries (a combined pipeline's prior)."""
        return {}

    # -- geometry ----------------------------------------------------------------------------------
    def scale_factor(self, pipe) -> int:
        """Pixels per latent cell."""
        return int(getattr(pipe, "vae_scale_factor", 8))

    def size_multiple(self, pipe) -> int:
        """What the processing size must be a multiple of (the latent factor, times patching)."""
        return self.scale_factor(pipe)

    def processing_size(self, pipe, height: int, width: int) -> tuple[int, int]:
        """The pixel size the model works at: the input rounded down to the required multiple."""
        multiple = self.size_multiple(pipe)
        return max(multiple, height // multiple * multiple), max(multiple, width // multiple * multiple)

    def latent_size(self, pipe, height: int, width: int) -> tuple[int, int]:
        """The model grid ``(h, w)`` of a processing size."""
        factor = self.scale_factor(pipe)
        return height // factor, width // factor

    def to_model_pixels(self, pipe, request: EditRequest, size: tuple[int, int]) -> torch.Tensor:
        """The images as the stock pipeline preprocesses them: ``request.source`` (PIL, numpy or tensor, as
        the user passed it) through the pipeline's own image processor at ``size``, so every input type
        gives stock's bytes (resampling and memory layout included). Returns ``(B, 3, h, w)`` in [-1, 1]."""
        return pipe.image_processor.preprocess(request.source, height=size[0], width=size[1])

    # -- latents -------------------------------------------------------------------------------------
    def latent_dtype(self, pipe) -> torch.dtype:
        """The dtype the pipeline's latents (and its noise draw) have: its prompt embeddings' dtype."""
        encoder = getattr(pipe, "text_encoder", None)
        return encoder.dtype if encoder is not None else self.denoiser(pipe).dtype

    def encode(self, pipe, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        """Encode ``(B, 3, H, W)`` in [-1, 1] exactly as the stock pipeline would, consuming the same
        draws from ``generator``. Returns ``(B, C, h, w)`` unpacked latents."""
        raise NotImplementedError

    def encoder_output(self, pipe, pixels: torch.Tensor) -> Any:
        """What :meth:`encode` computes before its random draw, so that many draws share one encoder run (the
        DiffEdit probe). The base returns ``pixels`` unchanged and :meth:`sample_latents` encodes per draw;
        families whose encoder is a VAE posterior override both."""
        return pixels

    def sample_latents(self, pipe, encoded: Any, generator: torch.Generator) -> torch.Tensor:
        """``x0`` from :meth:`encoder_output`, consuming ``generator`` exactly as :meth:`encode` does:
        ``sample_latents(pipe, encoder_output(pipe, pixels), g)`` equals ``encode(pipe, pixels, g)``."""
        return self.encode(pipe, encoded, generator)

    def prompt_kwargs(self, pipe, prompts: list[str]) -> dict[str, torch.Tensor] | None:
        """The pipeline's own prompt embeddings, one text-encoder run per prompt and no unconditional branch,
        as keyword arguments of its call (each tensor one row per prompt). ``None``: the family's pipeline
        cannot take them, and the probe runs one editor call per prompt and draw instead."""
        return None

    def probe_guidance(self, pipe) -> float | None:
        """The ``guidance_scale`` that runs only the conditional branch: 1.0 (diffusers runs classifier-free
        guidance when it is above 1), or ``None`` (the pipeline's default) where guidance is an input of the
        model itself (a guidance-distilled UNet's ``time_cond_proj_dim``; Flux overrides this)."""
        config = getattr(self.denoiser(pipe), "config", None)
        return None if getattr(config, "time_cond_proj_dim", None) is not None else 1.0

    def noise_shape(self, x0: torch.Tensor) -> tuple[int, ...]:
        """The shape of the pipeline's starting-noise draw (``x0``'s, unpacked)."""
        return tuple(x0.shape)

    def pack(self, pipe, tensor: torch.Tensor) -> torch.Tensor:
        """``(B, C or 1, h, w)`` to the layout of the pipeline's loop tensor (identity but for Flux)."""
        return tensor

    def pipeline_image(self, pipe, request: EditRequest, size: tuple[int, int], x0: torch.Tensor) -> Any:
        """What the stock pipeline gets as ``image``: the encoded original (the request and the stage's size
        are given too, for pipelines that insist on encoding themselves)."""
        return x0

    def unpack(self, pipe, tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The inverse of :meth:`pack` for a model output at pixel size ``size``: ``(B, C, h, w)``."""
        return tensor

    def denoiser(self, pipe) -> torch.nn.Module:
        """The module called once per model evaluation of ``pipe`` (the driven pipeline or an extra stage):
        its ``unet``, ``transformer`` or (a Kandinsky prior's) ``prior``."""
        for name in ("unet", "transformer", "prior"):
            module = getattr(pipe, name, None)
            if isinstance(module, torch.nn.Module):
                return module
        raise TypeError(f"pipe: {type(pipe).__name__} has no unet, transformer or prior")

    # -- running -------------------------------------------------------------------------------------
    def condition(self, editor, request: EditRequest) -> dict[str, Any]:
        """Inputs computed before the run, in the stock order of generator draws (Kandinsky's prior)."""
        return {}

    def call_kwargs(self, run: StageRun) -> dict[str, Any]:
        """Keyword arguments of the stock pipeline call."""
        kwargs: dict[str, Any] = {
            "prompt": run.prompts,
            "image": run.image,
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
        if self.passes_size:
            kwargs["height"], kwargs["width"] = run.size
        kwargs.update(run.extra)
        return kwargs

    def run(self, pipe, run: StageRun) -> Any:
        """Run the stock pipeline; returns latents for ``"latent"`` or ``(B, 3, H, W)`` in [0, 1]."""
        return pipe(**self.call_kwargs(run)).images

    def stock(self, editor, image: Any, prompt: Any, strength: float, num_inference_steps: int, generator: Any,
              output_type: str = "latent", **kwargs: Any) -> Any:
        """Stock img2img of this family, called the way a diffusers user calls it (the reference of
        invariant 2): ``editor.pipe`` at ``strength`` on ``image`` (PIL, numpy or a tensor in [0, 1]).
        Returns the pipeline's ``images`` (``"latent"``: its loop tensor's layout)."""
        if self.passes_size:
            height, width = self.processing_size(editor.pipe, *image_size(image))
            kwargs = {"height": height, "width": width, **kwargs}
        return editor.pipe(prompt, image=image, strength=strength, num_inference_steps=num_inference_steps,
                           generator=generator, output_type=output_type, **kwargs).images

    def edit(self, editor, request: EditRequest) -> DifferentialOutput:
        """The whole edit for a single-stage family: plan, encode, condition, run.

        Args:
            editor: the ``DifferentialEditor`` (its ``pipe`` and extra stages).
            request: the validated edit.

        Returns:
            :class:`~diffdiff.stages.DifferentialOutput`; ``images`` is ``None`` when nothing is free
            and pixels were asked for (no model runs at all).
        """
        pipe = editor.pipe
        plan = plan_stage(self, pipe, request.change, request.n_steps, request.skip_idle_steps)
        if plan.k_max == 0 and request.output_type != "latent":
            return DifferentialOutput(None, plan.change, 0, 0.0)
        x0 = self.encode(pipe, self.to_model_pixels(pipe, request, plan.size), request.generator)
        if plan.k_max == 0:
            return DifferentialOutput(self.pack(pipe, x0), plan.change, 0, 0.0)
        images = run_stage(self, pipe, request, plan, x0, self.pipeline_image(pipe, request, plan.size, x0),
                           output_type=request.output_type, conditioning=self.condition(editor, request))
        return DifferentialOutput(images, plan.change, plan.k_run, plan.strength)


class ShiftedLatents:
    """Probe encoding for flow-matching families whose latents are a VAE posterior sample, shifted, then
    scaled (SD3, Flux): the encoder runs once, each generator draws its own sample from it."""

    def encoder_output(self, pipe, pixels: torch.Tensor) -> Any:
        return vae_posterior(pipe, pixels.to(device=pipe._execution_device, dtype=self.latent_dtype(pipe)))

    def sample_latents(self, pipe, encoded: Any, generator: torch.Generator) -> torch.Tensor:
        config = pipe.vae.config
        return (posterior_sample(encoded, generator) - config.shift_factor) * config.scaling_factor
