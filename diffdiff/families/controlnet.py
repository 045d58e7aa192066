"""ControlNet img2img under a change map: SD 1.x/2.x, SDXL and Flux, each a thin subclass of its plain family.

The stock ControlNet img2img pipelines run the same loop as plain img2img with one more network per step, so
the differential step is unchanged: the editor runs the pipeline at the strength of the map's maximum, and
the control image, ``controlnet_conditioning_scale`` and ``control_guidance_start/end`` pass through to it.
``control_guidance_start/end`` are fractions of the steps the pipeline *runs* (diffusers indexes them over the
truncated img2img schedule), so they mean what they mean for stock img2img at ``strength = max m``.

What differs per family:

- SD and SDXL accept encoded latents as their ``image`` (4 channels are not encoded again), exactly like
  plain img2img; the control image is only resized, never encoded, so it draws nothing from the generator.
- Flux's ControlNet img2img always encodes its ``image`` itself, and (for InstantX-style ControlNets, which
  have no input hint block) VAE-encodes the control image first, drawing from the generator before the image's
  own posterior sample and the noise. The adapter replays those draws to find ``x0`` and the noise, rewinds
  the generator, and hands the pipeline the image in the user's own form, so its draws are stock's.
- The control images are resized to the processing size (``height``/``width`` are passed), so a control image
  of another size than the input still lines up with it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from diffdiff.families.base import Family, StageRun
from diffdiff.families.flux import Flux
from diffdiff.families.sd import StableDiffusion, StableDiffusionXL
from diffdiff.noise import draw_like_pipeline, rewound
from diffdiff.stages import DifferentialOutput, EditRequest, plan_stage, run_stage

__all__ = ["CONTROLNET_FAMILIES", "FluxControlNet", "StableDiffusionControlNet", "StableDiffusionXLControlNet",
           "controlnet_variant"]


class ControlNetFamily:
    """What every ControlNet adapter adds to its plain family (a mixin, listed first).

    Attributes:
        base_family: the plain family whose checkpoints this ControlNet variant loads (``"sd"``, ...).
        controlnet_class: the diffusers ControlNet model class (``"ControlNetModel"``).
        multi_class: the diffusers class that runs several of them (``"MultiControlNetModel"``).
    """

    base_family: ClassVar[str] = ""
    controlnet_class: ClassVar[str] = "ControlNetModel"
    multi_class: ClassVar[str] = "MultiControlNetModel"
    # The control image is resized to the processing size: the pipeline is given height/width.
    passes_size = True

    def check_control(self, editor, request: EditRequest) -> None:
        """Refuse a call without ``control_image`` (or with one per ControlNet missing), before any model runs.

        Raises:
            TypeError: ``control_image`` not given.
            ValueError: a multi-ControlNet editor given a number of control images other than one per net.
        """
        control = request.pipeline_kwargs.get("control_image")
        if control is None:
            raise TypeError("control_image: this editor drives a ControlNet; pass control_image=<a PIL image, "
                            "array or (B, 3, H, W) tensor in [0, 1]> (one per ControlNet for several)")
        nets = getattr(editor.pipe.controlnet, "nets", None)
        if nets is not None and (not isinstance(control, (list, tuple)) or len(control) != len(nets)):
            got = len(control) if isinstance(control, (list, tuple)) else 1
            raise ValueError(f"control_image: expected a list of {len(nets)} control images, one per ControlNet, "
                             f"got {got}")

    def edit(self, editor, request: EditRequest) -> DifferentialOutput:
        self.check_control(editor, request)
        return super().edit(editor, request)


class StableDiffusionControlNet(ControlNetFamily, StableDiffusion):
    """SD 1.x / 2.x with one or several ControlNets, through ``StableDiffusionControlNetImg2ImgPipeline``."""

    name = "sd_controlnet"
    base_family = "sd"
    img2img_class = "StableDiffusionControlNetImg2ImgPipeline"
    pipeline_classes = ("StableDiffusionControlNetPipeline", "StableDiffusionControlNetImg2ImgPipeline")


class StableDiffusionXLControlNet(ControlNetFamily, StableDiffusionXL):
    """SDXL base with one or several ControlNets, through ``StableDiffusionXLControlNetImg2ImgPipeline``
    (no refiner stage: the ControlNet pipeline has no ``denoising_end`` to hand over at)."""

    name = "sdxl_controlnet"
    base_family = "sdxl"
    img2img_class = "StableDiffusionXLControlNetImg2ImgPipeline"
    pipeline_classes = ("StableDiffusionXLControlNetPipeline", "StableDiffusionXLControlNetImg2ImgPipeline")
    extra_classes: ClassVar[dict[str, tuple[str, ...]]] = {}


class FluxControlNet(ControlNetFamily, Flux):
    """FLUX.1 with one or several ControlNets, through ``FluxControlNetImg2ImgPipeline``."""

    name = "flux_controlnet"
    base_family = "flux"
    img2img_class = "FluxControlNetImg2ImgPipeline"
    pipeline_classes = ("FluxControlNetPipeline", "FluxControlNetImg2ImgPipeline")
    controlnet_class = "FluxControlNetModel"
    multi_class = "FluxMultiControlNetModel"

    def pipeline_image(self, pipe, request: EditRequest, size: tuple[int, int], x0: torch.Tensor) -> Any:
        # The pipeline encodes its image whatever it is: give it the user's form, preprocessed the stock way.
        return request.source

    def call_kwargs(self, run: StageRun) -> dict[str, Any]:
        kwargs = super().call_kwargs(run)
        # FluxControlNetImg2ImgPipeline has no negative prompt (no true CFG).
        if kwargs.pop("negative_prompt", None) is not None:
            raise TypeError("negative_prompt: FluxControlNetImg2ImgPipeline takes no negative prompt")
        return kwargs

    def replay_control_draws(self, pipe, request: EditRequest, size: tuple[int, int]) -> None:
        """Draw from the generator what the stock pipeline draws for the control images before it encodes the
        image: one VAE posterior sample per control image, for ControlNets without an input hint block."""
        from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents

        nets = getattr(pipe.controlnet, "nets", None)
        if (nets[0] if nets is not None else pipe.controlnet).input_hint_block is not None:
            return
        controls = request.pipeline_kwargs["control_image"]
        for control in controls if nets is not None else [controls]:
            prepared = pipe.prepare_image(image=control, width=size[1], height=size[0],
                                          batch_size=len(request.prompts), num_images_per_prompt=1,
                                          device=pipe._execution_device, dtype=pipe.vae.dtype)
            retrieve_latents(pipe.vae.encode(prepared), generator=request.generator)

    def edit(self, editor, request: EditRequest) -> DifferentialOutput:
        self.check_control(editor, request)
        pipe = editor.pipe
        plan = plan_stage(self, pipe, request.change, request.n_steps, request.skip_idle_steps)
        if plan.k_max == 0 and request.output_type != "latent":
            return DifferentialOutput(None, plan.change, 0, 0.0)
        with rewound(request.generator):  # stock's order of draws: control latents, image latents, noise
            self.replay_control_draws(pipe, request, plan.size)
            x0 = self.encode(pipe, self.to_model_pixels(pipe, request, plan.size), request.generator)
            eps = draw_like_pipeline(request.generator, self.noise_shape(x0), x0.device, x0.dtype)
        if plan.k_max == 0:
            return DifferentialOutput(self.pack(pipe, x0), plan.change, 0, 0.0)
        images = run_stage(self, pipe, request, plan, x0, self.pipeline_image(pipe, request, plan.size, x0),
                           output_type=request.output_type, eps=eps)
        return DifferentialOutput(images, plan.change, plan.k_run, plan.strength)


CONTROLNET_FAMILIES: tuple[Family, ...] = (StableDiffusionControlNet(), StableDiffusionXLControlNet(),
                                            FluxControlNet())
"""The ControlNet adapters, registered beside the plain families."""


def controlnet_variant(family: Family) -> Family:
    """The ControlNet adapter that loads ``family``'s checkpoints (itself for a ControlNet family).

    Raises:
        ValueError: ``family`` has no ControlNet img2img pipeline (Kandinsky, DeepFloyd IF, SD3); the message
            names ``controlnet`` and the families that have one.
    """
    if isinstance(family, ControlNetFamily):
        return family
    for variant in CONTROLNET_FAMILIES:
        if variant.base_family == family.name:
            return variant
    bases = ", ".join(repr(v.base_family) for v in CONTROLNET_FAMILIES)
    raise ValueError(f"controlnet: the {family.name!r} family has no ControlNet img2img pipeline; "
                     f"ControlNet works with {bases}")
