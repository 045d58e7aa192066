"""A tiny random Flux img2img pipeline."""

from __future__ import annotations

import torch

from diffdiff.tiny import register_tiny, tiny_editor
from diffdiff.tiny.parts import clip_text_config, flow_vae, t5_encoder, tiny_clip_tokenizer, tiny_t5_tokenizer


def _build_flux():
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxImg2ImgPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel


    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
        guidance_embeds=True,
    )
    text_encoder = CLIPTextModel(clip_text_config())
    text_encoder_2 = t5_encoder()
    vae = flow_vae(latent_channels=4)
    # FLUX.1-dev's scheduler config: resolution-dependent shift.
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_image_seq_len=256,
        max_image_seq_len=4096, base_shift=0.5, max_shift=1.15,
    )
    return FluxImg2ImgPipeline(
        transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
        tokenizer=tiny_clip_tokenizer(), text_encoder_2=text_encoder_2, tokenizer_2=tiny_t5_tokenizer(),
    )


register_tiny("flux", _build_flux)
tiny_editor("flux", "flux", "flux")
