"""A tiny random Stable Diffusion 3 img2img pipeline."""

from __future__ import annotations

import torch

from diffdiff.tiny import register_tiny, tiny_editor
from diffdiff.tiny.parts import clip_text_config, flow_vae, t5_encoder, tiny_clip_tokenizer, tiny_t5_tokenizer


def _build_sd3():
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Img2ImgPipeline
    from transformers import CLIPTextModelWithProjection


    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=32, patch_size=2, in_channels=4, num_layers=1, attention_head_dim=8, num_attention_heads=4,
        joint_attention_dim=32, caption_projection_dim=32, pooled_projection_dim=64, out_channels=4,
    )
    text_encoder = CLIPTextModelWithProjection(clip_text_config())
    text_encoder_2 = CLIPTextModelWithProjection(clip_text_config())
    text_encoder_3 = t5_encoder()
    vae = flow_vae(latent_channels=4)
    # SD3 medium's scheduler config.
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    return StableDiffusion3Img2ImgPipeline(
        transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
        tokenizer=tiny_clip_tokenizer(), text_encoder_2=text_encoder_2, tokenizer_2=tiny_clip_tokenizer(),
        text_encoder_3=text_encoder_3, tokenizer_3=tiny_t5_tokenizer(),
    )


register_tiny("sd3", _build_sd3)
tiny_editor("sd3", "sd3", "sd3")
