"""Default checkpoints of every family the editor drives: hub id, revision and license, in one place.

Revisions are ``"main"`` throughout: this module was written without hub access, so no commit hash
could be read and pinned. Pin a commit (``DifferentialEditor.from_pretrained(..., revision=...)``) for
reproducible deployments.

>>> DEFAULT_MODELS["kandinsky"]["prior"].model_id
'kandinsky-community/kandinsky-2-2-prior'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_MODELS", "ModelSpec", "default_model"]


@dataclass(frozen=True)
class ModelSpec:
    """One default checkpoint.

    Attributes:
        model_id: Hugging Face hub id.
        revision: branch, tag or commit (``"main"``: not pinned, see the module docstring).
        license: the license the checkpoint is published under.
        gated: the hub asks users to accept the license before downloading.
        note: what the license allows, in a few words.
        weight: for a single-file checkpoint in a larger repository, its ``SUBFOLDER/FILE`` (an IP-Adapter's).
    """

    model_id: str
    revision: str
    license: str
    gated: bool = False
    note: str = ""
    weight: str = ""


_OPENRAIL = "CreativeML Open RAIL-M"
_OPENRAIL_PP = "CreativeML Open RAIL++-M"

# family -> role -> spec. Role "main" is the pipeline the editor drives; the others are the keyword
# arguments of DifferentialEditor.from_pretrained (refiner=, prior=, stage2=, stage3=).
DEFAULT_MODELS: dict[str, dict[str, ModelSpec]] = {
    "sd": {
        "main": ModelSpec("stable-diffusion-v1-5/stable-diffusion-v1-5", "main", _OPENRAIL,
                          note="its PNDM scheduler runs k+1 UNet calls in img2img below strength 1 "
                               "(one timestep repeats); scheduler='euler' runs k"),
        "ip_adapter": ModelSpec("h94/IP-Adapter", "main", "Apache-2.0", weight="models/ip-adapter_sd15.safetensors",
                                note="IP-Adapter: models/ip-adapter_sd15.safetensors + models/image_encoder"),
    },
    "sdxl": {
        "main": ModelSpec("stabilityai/stable-diffusion-xl-base-1.0", "main", _OPENRAIL_PP),
        "refiner": ModelSpec("stabilityai/stable-diffusion-xl-refiner-1.0", "main", _OPENRAIL_PP),
        "ip_adapter": ModelSpec("h94/IP-Adapter", "main", "Apache-2.0",
                                weight="sdxl_models/ip-adapter_sdxl.safetensors",
                                note="IP-Adapter: sdxl_models/ip-adapter_sdxl.safetensors + sdxl_models/image_encoder"),
    },
    "kandinsky": {
        "main": ModelSpec("kandinsky-community/kandinsky-2-2-decoder", "main", "Apache-2.0"),
        "prior": ModelSpec("kandinsky-community/kandinsky-2-2-prior", "main", "Apache-2.0"),
    },
    "deepfloyd_if": {
        "main": ModelSpec("DeepFloyd/IF-I-XL-v1.0", "main", "DeepFloyd IF License Agreement", gated=True,
                          note="gated; research, non-commercial use"),
        "stage2": ModelSpec("DeepFloyd/IF-II-L-v1.0", "main", "DeepFloyd IF License Agreement", gated=True,
                            note="gated; research, non-commercial use"),
        "stage3": ModelSpec("stabilityai/stable-diffusion-x4-upscaler", "main", _OPENRAIL_PP),
    },
    "sd3": {
        "main": ModelSpec("stabilityai/stable-diffusion-3-medium-diffusers", "main",
                          "Stability AI Community License", gated=True,
                          note="gated; free for research and for organisations under USD 1M annual revenue"),
    },
    "flux": {
        "main": ModelSpec("black-forest-labs/FLUX.1-dev", "main", "FLUX.1 [dev] Non-Commercial License",
                          gated=True, note="gated; non-commercial use only"),
        "schnell": ModelSpec("black-forest-labs/FLUX.1-schnell", "main", "Apache-2.0"),
    },
    "kontext": {
        "main": ModelSpec("black-forest-labs/FLUX.1-Kontext-dev", "main", "FLUX.1 [dev] Non-Commercial License",
                          gated=True, note="gated; non-commercial use only; instruction = prompt, original = context"),
    },
    "qwen_edit": {
        "main": ModelSpec("Qwen/Qwen-Image-Edit", "main", "Apache-2.0",
                          note="instruction = prompt, original = context; always works at 1024 x 1024 in area"),
    },
    # ControlNet families: "main" and the other roles are ControlNet models, loaded as
    # DifferentialEditor.from_pretrained(<the base family's checkpoint>, controlnet=<id>).
    "sd_controlnet": {
        "main": ModelSpec("lllyasviel/control_v11f1p_sd15_depth", "main", _OPENRAIL,
                          note="ControlNet (depth, near = white) for the sd base (controlnet=)"),
        "canny": ModelSpec("lllyasviel/control_v11p_sd15_canny", "main", _OPENRAIL, note="ControlNet (Canny edges)"),
    },
    "sdxl_controlnet": {
        "main": ModelSpec("diffusers/controlnet-depth-sdxl-1.0", "main", _OPENRAIL_PP,
                          note="ControlNet (depth) for the sdxl base (controlnet=)"),
        "canny": ModelSpec("diffusers/controlnet-canny-sdxl-1.0", "main", _OPENRAIL_PP,
                           note="ControlNet (Canny edges)"),
    },
    "flux_controlnet": {
        "main": ModelSpec("InstantX/FLUX.1-dev-Controlnet-Canny", "main", "FLUX.1 [dev] Non-Commercial License",
                          note="ControlNet (Canny edges) for FLUX.1 [dev]; non-commercial use only"),
    },
    "sd_inpaint": {
        "main": ModelSpec("stable-diffusion-v1-5/stable-diffusion-inpainting", "main", _OPENRAIL,
                          note="9-channel UNet; the mask it sees follows the map step by step"),
    },
    "sdxl_inpaint": {
        "main": ModelSpec("diffusers/stable-diffusion-xl-1.0-inpainting-0.1", "main", _OPENRAIL_PP,
                          note="9-channel UNet; the mask it sees follows the map step by step"),
    },
    "flux_fill": {
        "main": ModelSpec("black-forest-labs/FLUX.1-Fill-dev", "main", "FLUX.1 [dev] Non-Commercial License",
                          gated=True, note="gated; non-commercial use only; the mask it sees follows the map"),
    },
}


def default_model(family: str, role: str = "main") -> ModelSpec:
    """The default checkpoint of a family's pipeline or extra stage.

    Args:
        family: ``"sd"``, ``"sdxl"``, ``"kandinsky"``, ``"deepfloyd_if"``, ``"sd3"`` or ``"flux"``.
        role: ``"main"``, or an extra stage (``"refiner"``, ``"prior"``, ``"stage2"``, ``"stage3"``,
            ``"schnell"``), or ``"ip_adapter"`` (the family's default IP-Adapter, ``weight`` naming its file).

    Raises:
        KeyError: an unknown family or role (the message lists the known ones).
    """
    if family not in DEFAULT_MODELS:
        raise KeyError(f"family: unknown {family!r}; expected one of {', '.join(DEFAULT_MODELS)}")
    roles = DEFAULT_MODELS[family]
    if role not in roles:
        raise KeyError(f"role: {family!r} has no {role!r}; expected one of {', '.join(roles)}")
    return roles[role]
