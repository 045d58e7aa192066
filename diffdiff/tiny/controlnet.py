"""Tiny random ControlNet models for the tiny SD, SDXL and Flux pipelines, and the ControlNet editor cases.

``<base>-controlnet-net`` builders return a ControlNet *model* (``ControlNetModel`` / ``FluxControlNetModel``)
made from the matching tiny base's denoiser, so ``DifferentialEditor.from_pretrained(<tiny base folder>,
controlnet=<its folder>)`` fits together; ``<base>-controlnet`` builders return the whole ControlNet img2img
pipeline made of the same parts (the tiny editor cases load those). diffusers initialises a ControlNet's output
projections to zero (it then adds nothing to the denoiser); they are re-drawn here so that the control
image really changes the result and the tests can see it.
"""

from __future__ import annotations

import torch

from diffdiff.tiny import TINY_FAMILIES, register_tiny, tiny_editor

__all__ = ["redraw_zero_outputs"]


def redraw_zero_outputs(controlnet: torch.nn.Module, seed: int, std: float = 0.2) -> torch.nn.Module:
    """Re-draw every all-zero weight and bias of ``controlnet`` from ``N(0, std)`` (seeded), in place.

    Args:
        controlnet: a freshly built ControlNet (its zero-initialised output convolutions/linears).
        seed: seed of the draw, so two calls with different seeds give two different ControlNets.
        std: standard deviation of the new values.

    Returns:
        ``controlnet`` itself.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in controlnet.parameters():
            if parameter.numel() and not parameter.any():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
    return controlnet


def _unet_controlnet(base: str, seed: int):
    from diffusers import ControlNetModel

    unet = TINY_FAMILIES[base]().unet
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16))
    return redraw_zero_outputs(controlnet, seed)


def _flux_controlnet(seed: int = 0):
    from diffusers import FluxControlNetModel

    transformer = TINY_FAMILIES["flux"]().transformer
    config = transformer.config
    # No input hint block (InstantX-style): the pipeline VAE-encodes the control image itself.
    controlnet = FluxControlNetModel.from_transformer(
        transformer, num_layers=1, num_single_layers=1, attention_head_dim=config.attention_head_dim,
        num_attention_heads=config.num_attention_heads,
    )
    return redraw_zero_outputs(controlnet, seed)


def _pipeline(base: str, img2img_class: str, controlnet):
    """The tiny ``base`` pipeline's components plus ``controlnet``, as a ControlNet img2img pipeline."""
    import diffusers

    cls = getattr(diffusers, img2img_class)
    expected, optional = cls._get_signature_keys(cls)
    accepted = set(expected) | set(optional)
    kwargs = {name: value for name, value in TINY_FAMILIES[base]().components.items() if name in accepted}
    if "requires_safety_checker" in accepted:
        kwargs["requires_safety_checker"] = False
    return cls(**kwargs, controlnet=controlnet)


# ControlNet models (what from_pretrained(base, controlnet=<folder>) loads)...
register_tiny("sd-controlnet-net", lambda: _unet_controlnet("sd", 1))
register_tiny("sd-controlnet-net-2", lambda: _unet_controlnet("sd", 2))
register_tiny("sdxl-controlnet-net", lambda: _unet_controlnet("sdxl", 1))
register_tiny("flux-controlnet-net", _flux_controlnet)
# ... and whole ControlNet img2img pipelines made of the same parts (their model_index names the family).
register_tiny("sd-controlnet", lambda: _pipeline("sd", "StableDiffusionControlNetImg2ImgPipeline",
                                                 _unet_controlnet("sd", 1)))
register_tiny("sdxl-controlnet", lambda: _pipeline("sdxl", "StableDiffusionXLControlNetImg2ImgPipeline",
                                                   _unet_controlnet("sdxl", 1)))
register_tiny("flux-controlnet", lambda: _pipeline("flux", "FluxControlNetImg2ImgPipeline", _flux_controlnet()))
_NEEDS = ("control_image",)
tiny_editor("sd-controlnet", "sd_controlnet", "sd-controlnet", requires=_NEEDS)
tiny_editor("sdxl-controlnet", "sdxl_controlnet", "sdxl-controlnet", requires=_NEEDS)
tiny_editor("flux-controlnet", "flux_controlnet", "flux-controlnet", requires=_NEEDS)
