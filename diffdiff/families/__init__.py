"""Model families: one registry, looked up by name or by diffusers pipeline class name."""

from __future__ import annotations

from automaps.errors import UnsupportedPipelineError
from diffdiff.families.base import Family, StageRun
from diffdiff.families.controlnet import CONTROLNET_FAMILIES
from diffdiff.families.deepfloyd import DeepFloydIF
from diffdiff.families.flux import Flux
from diffdiff.families.inpaint import INPAINT_FAMILIES
from diffdiff.families.kandinsky import Kandinsky22
from diffdiff.families.kontext import FluxKontext
from diffdiff.families.qwen_edit import QwenImageEdit
from diffdiff.families.sd import StableDiffusion, StableDiffusionXL
from diffdiff.families.sd3 import StableDiffusion3

__all__ = ["FAMILIES", "Family", "StageRun", "family_for_class", "register_family", "supported_classes"]

FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add a family adapter to the registry (by its ``name``)."""
    FAMILIES[family.name] = family
    return family


for _family in (StableDiffusion(), StableDiffusionXL(), Kandinsky22(), DeepFloydIF(), StableDiffusion3(), Flux()):
    register_family(_family)
register_family(FluxKontext())  # instruction-editing (issue 14)
register_family(QwenImageEdit())  # instruction-editing (issue 14)
for _family in INPAINT_FAMILIES:  # inpainting checkpoints: SD/SDXL 9-channel, Flux Fill (issue 13)
    register_family(_family)
for _family in CONTROLNET_FAMILIES:  # ControlNet img2img of SD, SDXL, Flux (issue 13)
    register_family(_family)


def supported_classes() -> list[str]:
    """Every diffusers pipeline class name some family drives."""
    return sorted({cls for family in FAMILIES.values() for cls in family.pipeline_classes})


def family_for_class(class_name: str) -> Family:
    """The family that drives a diffusers pipeline class.

    Raises:
        UnsupportedPipelineError: no family drives ``class_name`` (the message lists those that do, and
            names the keyword for a class that is an extra stage of a family, such as an IF stage II).
    """
    for family in FAMILIES.values():
        if class_name in family.pipeline_classes:
            return family
    for family in FAMILIES.values():
        for role, classes in family.extra_classes.items():
            if class_name in classes and class_name not in family.pipeline_classes:
                hint = f"it is the {role} of {family.name!r}: pass it as {role}= beside the main pipeline"
                raise UnsupportedPipelineError(class_name, supported_classes(), hint=hint)
    raise UnsupportedPipelineError(class_name, supported_classes())
