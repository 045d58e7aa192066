"""Full-size diffusion models with random weights for benchmarks: the real architecture and compute, no
download. The pictures are noise; only the timings and memory mean anything."""

from __future__ import annotations

from pathlib import Path

import torch


def full_size_sd15_pipeline():
    """A ``StableDiffusionImg2ImgPipeline`` shaped like SD 1.5 (860 M UNet, 84 M VAE, 123 M CLIP text
    encoder), random weights, fp32, eval mode."""
    from diffusers import AutoencoderKL, StableDiffusionImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from diffdiff.tiny.parts import sd_scheduler as _sd_scheduler
    from diffdiff.tiny.parts import tiny_clip_tokenizer

    torch.manual_seed(0)
    tokenizer = tiny_clip_tokenizer()
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                                block_out_channels=(320, 640, 1280, 1280))
    vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                        up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, layers_per_block=2,
                        sample_size=512)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
        num_attention_heads=12, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    pipe = StableDiffusionImg2ImgPipeline(unet=unet.eval(), vae=vae.eval(), text_encoder=text_encoder.eval(),
                                          tokenizer=tokenizer, scheduler=_sd_scheduler(), safety_checker=None,
                                          feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_full_size_sd15(folder: str | Path) -> Path:
    """Save :func:`full_size_sd15_pipeline` to ``folder`` once (about 4.3 GB); reuse it when present."""
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        full_size_sd15_pipeline().save_pretrained(folder, safe_serialization=True)
    return folder
