"""Tiny randomly initialised diffusion pipelines for tests, notebooks and benchmarks.

Nothing here downloads anything: every component is built from a config in code (the pattern of
diffusers' ``get_dummy_components()``), including the CLIP tokenizer, whose byte-level vocabulary is
made in memory. ``save_tiny_pipeline`` writes a folder that ``DifferentialEditor.from_pretrained``
loads like a hub checkpoint. The pictures these models make are noise: they exist to prove the
editor's maths, never its looks.
"""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = [
    "TINY_FAMILIES",
    "build_tiny_pipeline",
    "save_tiny_pipeline",
    "tiny_clip_tokenizer",
]


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins GPT-2/CLIP byte-level BPE uses for raw bytes."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    keep += list(range(ord("®"), ord("ÿ") + 1))
    symbols, extra = [], 0
    for byte in range(256):
        if byte in keep:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def tiny_clip_tokenizer(model_max_length: int = 77):
    """A CLIP tokenizer over single bytes, built in memory (no files, no hub).

    Special tokens sit at the END of the vocabulary: some models treat id 0 at the start of a query as
    padding.

    Returns:
        ``transformers.CLIPTokenizer`` with a 514-entry vocabulary.
    """
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for symbol in _byte_symbols():
        vocab[symbol] = len(vocab)
        vocab[symbol + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


def _clip_text_config(projection_dim: int = 32, hidden_size: int = 32):
    from transformers import CLIPTextConfig

    tok = tiny_clip_tokenizer()
    return CLIPTextConfig(
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        hidden_size=hidden_size,
        intermediate_size=37,
        layer_norm_eps=1e-5,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(tok),
        hidden_act="gelu",
        projection_dim=projection_dim,
    )


def _tiny_vae():
    from diffusers import AutoencoderKL

    # Two blocks: vae_scale_factor is 2 here, not 8 — code must read it from the pipeline.
    return AutoencoderKL(
        block_out_channels=[16, 32],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )


def _sd_scheduler():
    from diffusers import PNDMScheduler

    # The scheduler config Stable Diffusion 1.5 ships with (clip_sample is kept for DDIM/DDPM built from it).
    return PNDMScheduler.from_config(
        {
            "beta_start": 0.00085,
            "beta_end": 0.012,
            "beta_schedule": "scaled_linear",
            "num_train_timesteps": 1000,
            "set_alpha_to_one": False,
            "skip_prk_steps": True,
            "steps_offset": 1,
            "clip_sample": False,
        }
    )


def _sdxl_scheduler():
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )


def _build_sd():
    from diffusers import StableDiffusionImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
    )
    vae = _tiny_vae()
    text_encoder = CLIPTextModel(_clip_text_config())
    return StableDiffusionImg2ImgPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_clip_tokenizer(),
        scheduler=_sd_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _sdxl_unet(cross_attention_dim: int, time_ids: int):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        # pooled text embedding (32) + one 8-dim embedding per add_time_id
        projection_class_embeddings_input_dim=time_ids * 8 + 32,
        cross_attention_dim=cross_attention_dim,
    )


def _build_sdxl():
    from diffusers import StableDiffusionXLImg2ImgPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = _sdxl_unet(cross_attention_dim=64, time_ids=6)
    vae = _tiny_vae()
    text_encoder = CLIPTextModel(_clip_text_config())
    text_encoder_2 = CLIPTextModelWithProjection(_clip_text_config())
    return StableDiffusionXLImg2ImgPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_clip_tokenizer(),
        text_encoder_2=text_encoder_2,
        tokenizer_2=tiny_clip_tokenizer(),
        scheduler=_sdxl_scheduler(),
        requires_aesthetics_score=False,
    )


def _build_sdxl_refiner():
    from diffusers import StableDiffusionXLImg2ImgPipeline
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(1)
    unet = _sdxl_unet(cross_attention_dim=32, time_ids=5)
    torch.manual_seed(0)
    # Same seed as the base's VAE: the real refiner shares the base's latent space.
    vae = _tiny_vae()
    text_encoder_2 = CLIPTextModelWithProjection(_clip_text_config())
    return StableDiffusionXLImg2ImgPipeline(
        unet=unet,
        vae=vae,
        text_encoder=None,
        tokenizer=None,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tiny_clip_tokenizer(),
        scheduler=_sdxl_scheduler(),
        requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,
    )


TINY_FAMILIES = {
    "sd": _build_sd,
    "sdxl": _build_sdxl,
    "sdxl-refiner": _build_sdxl_refiner,
}
# Kandinsky 2.2 (+ prior), DeepFloyd IF I/II (+ x4 upscaler), SD3, Flux: imported here, after the helpers
# they use are defined (tiny_families imports them from this module).
from diffdiff.tiny_families import FAMILY_BUILDERS  # noqa: E402

TINY_FAMILIES.update(FAMILY_BUILDERS)


def build_tiny_pipeline(name: str):
    """Build a tiny random diffusers pipeline in memory.

    Args:
        name: one of ``TINY_FAMILIES`` (``"sd"``, ``"sdxl"``, ``"sdxl-refiner"``, ``"kandinsky"``,
            ``"kandinsky-prior"``, ``"if-1"``, ``"if-2"``, ``"x4-upscaler"``, ``"sd3"``, ``"flux"``).

    Returns:
        The pipeline, in eval mode, fp32, on the CPU.

    Raises:
        KeyError: for an unknown name.
    """
    if name not in TINY_FAMILIES:
        raise KeyError(f"name: unknown tiny pipeline {name!r}; expected one of {sorted(TINY_FAMILIES)}")
    pipe = TINY_FAMILIES[name]()
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            module.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_pipeline(name: str, folder: str | Path) -> Path:
    """Build a tiny pipeline and ``save_pretrained`` it (safetensors) into ``folder``.

    Returns:
        The folder, which now holds a ``model_index.json`` like a hub checkpoint.
    """
    folder = Path(folder)
    build_tiny_pipeline(name).save_pretrained(folder, safe_serialization=True)
    return folder
