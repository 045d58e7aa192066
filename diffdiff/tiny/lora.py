"""Tiny random LoRA and IP-Adapter weights for the tiny SD / SDXL pipelines, saved the way the hub ships them.

``save_tiny_lora`` trains nothing: it adds a peft LoRA to the tiny UNet, re-draws its ``B`` matrices (peft
starts them at zero, which would make the LoRA a no-op) and writes ``pytorch_lora_weights.safetensors`` with the
pipeline class's own ``save_lora_weights``. ``save_tiny_ip_adapter`` writes a tiny
``CLIPVisionModelWithProjection`` image encoder and an IP-Adapter state dict (``image_proj.*`` and
``ip_adapter.*`` keys) in the layout of ``h94/IP-Adapter`` (``models/ip-adapter_sd15.safetensors`` beside
``models/image_encoder``), so ``editor.load_ip_adapter`` loads it like the real one.
"""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["save_tiny_ip_adapter", "save_tiny_lora", "tiny_image_encoder"]

LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
"""The UNet attention projections the tiny LoRA adapts (what diffusers' DreamBooth-LoRA script targets)."""


def save_tiny_lora(folder: str | Path, family: str = "sd", rank: int = 4, seed: int = 0, std: float = 0.2) -> Path:
    """Make a random LoRA for the tiny pipeline ``family`` and save it into ``folder``.

    Args:
        folder: where ``pytorch_lora_weights.safetensors`` is written (created if missing).
        family: a tiny pipeline with a UNet: ``"sd"`` or ``"sdxl"``.
        rank: the LoRA rank (``lora_alpha`` equals it, so the LoRA's own scale is 1).
        seed: seeds the ``A`` initialisation and the ``B`` re-draw.
        std: standard deviation of the re-drawn ``B`` entries (large enough to change a tiny model's output).

    Returns:
        ``folder``, loadable with ``pipe.load_lora_weights(folder)`` or ``from_pretrained(..., lora=[folder])``.
    """
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from diffdiff.tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline(family)
    torch.manual_seed(seed)
    pipe.unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=list(LORA_TARGETS)))
    draw = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in pipe.unet.named_parameters():
            if "lora_B" in name:  # zero at creation: the LoRA would change nothing
                parameter.copy_(torch.randn(parameter.shape, generator=draw) * std)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    type(pipe).save_lora_weights(folder, unet_lora_layers=layers, safe_serialization=True)
    return folder


def tiny_image_encoder(projection_dim: int = 32, image_size: int = 32, seed: int = 0):
    """A tiny random ``CLIPVisionModelWithProjection`` (2 layers, width 32), in eval mode."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=37, projection_dim=projection_dim,
                              num_hidden_layers=2, num_attention_heads=4, image_size=image_size, patch_size=4)
    return CLIPVisionModelWithProjection(config).eval()


def ip_adapter_state_dict(unet, image_embed_dim: int, seed: int = 0, tokens: int = 4) -> dict[str, torch.Tensor]:
    """A random plain IP-Adapter for ``unet`` in the hub's flat safetensors layout.

    ``image_proj.proj`` maps the image embedding to ``tokens`` context tokens and ``image_proj.norm`` normalises
    them; each cross-attention processor, in ``unet.attn_processors`` order, gets ``ip_adapter.{k}.to_k_ip`` and
    ``to_v_ip`` with ``k = 1, 3, 5, ...`` (the numbering diffusers' loader reads; even numbers are the
    self-attentions, which have none).

    Args:
        unet: a ``UNet2DConditionModel`` (its ``cross_attention_dim`` and attention widths are read).
        image_embed_dim: the image encoder's ``projection_dim``.
        seed: seeds the draws.
        tokens: context tokens of the projection (4 for the plain IP-Adapter).

    Returns:
        ``{"image_proj.proj.weight": ..., "ip_adapter.1.to_k_ip.weight": ..., ...}`` float32 tensors.
    """
    draw = torch.Generator().manual_seed(seed)
    cross = unet.config.cross_attention_dim
    state = {"image_proj.proj.weight": torch.randn(tokens * cross, image_embed_dim, generator=draw) * 0.2,
             "image_proj.proj.bias": torch.zeros(tokens * cross),
             "image_proj.norm.weight": torch.ones(cross), "image_proj.norm.bias": torch.zeros(cross)}
    modules = dict(unet.named_modules())
    key = 1
    for name in unet.attn_processors:
        if not name.endswith("attn2.processor"):
            continue
        width = modules[name.removesuffix(".processor")].to_k.out_features
        for projection in ("to_k_ip", "to_v_ip"):
            state[f"ip_adapter.{key}.{projection}.weight"] = torch.randn(width, cross, generator=draw) * 0.2
        key += 2
    return state


def save_tiny_ip_adapter(folder: str | Path, family: str = "sd", seed: int = 0) -> Path:
    """Save a tiny IP-Adapter for the tiny pipeline ``family`` in the layout of ``h94/IP-Adapter``.

    The weight file and its subfolder are the family's default (``diffdiff.models``: ``ip_adapter`` role, e.g.
    ``models/ip-adapter_sd15.safetensors``) and the image encoder sits in ``image_encoder`` beside it, so
    ``editor.load_ip_adapter(folder, subfolder="models", weight_name="ip-adapter_sd15.safetensors")`` and
    ``--ip-adapter FOLDER`` both load it.

    Args:
        folder: the repository-like folder to write (created if missing).
        family: ``"sd"`` or ``"sdxl"`` (a family with an ``ip_adapter`` default in ``diffdiff.models``).
        seed: seeds the encoder and the adapter.

    Returns:
        ``folder``.
    """
    from safetensors.torch import save_file

    from diffdiff.models import default_model
    from diffdiff.tiny import build_tiny_pipeline

    subfolder, weight_name = default_model(family, "ip_adapter").weight.rsplit("/", 1)
    encoder = tiny_image_encoder(seed=seed)
    state = ip_adapter_state_dict(build_tiny_pipeline(family).unet, encoder.config.projection_dim, seed=seed)
    target = Path(folder) / subfolder
    target.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(target / "image_encoder")
    save_file({k: v.contiguous() for k, v in state.items()}, str(target / weight_name))
    return Path(folder)
