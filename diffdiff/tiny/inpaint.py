"""Tiny random inpainting checkpoints: 9-channel SD and SDXL inpainting UNets (4 latent + 1 mask + 4
masked-image channels) with the tiny SD / SDXL text encoders and VAE, and a tiny FLUX.1 Fill (its transformer
reads packed latents, packed masked-image latents and the packed pixel mask)."""

from __future__ import annotations

import torch

from diffdiff.tiny import register_tiny, tiny_editor
from diffdiff.tiny.parts import (
    clip_text_config,
    flow_vae,
    sd_scheduler,
    sdxl_scheduler,
    t5_encoder,
    tiny_clip_tokenizer,
    tiny_t5_tokenizer,
    tiny_vae,
)

INPAINT_CHANNELS = 9
"""UNet input channels of an inpainting checkpoint: latents (4), the mask (1), the masked image's latents (4)."""


def _build_sd_inpaint():
    from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=32, in_channels=INPAINT_CHANNELS,
        out_channels=4, norm_num_groups=8, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, attention_head_dim=4,
    )
    return StableDiffusionInpaintPipeline(
        unet=unet, vae=tiny_vae(), text_encoder=CLIPTextModel(clip_text_config()), tokenizer=tiny_clip_tokenizer(),
        scheduler=sd_scheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def _build_sdxl_inpaint():
    from diffusers import StableDiffusionXLInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=32, in_channels=INPAINT_CHANNELS,
        out_channels=4, norm_num_groups=8, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        # pooled text embedding (32) + one 8-dim embedding per add_time_id (6 without aesthetics score)
        projection_class_embeddings_input_dim=6 * 8 + 32, cross_attention_dim=64,
    )
    return StableDiffusionXLInpaintPipeline(
        unet=unet, vae=tiny_vae(), text_encoder=CLIPTextModel(clip_text_config()), tokenizer=tiny_clip_tokenizer(),
        text_encoder_2=CLIPTextModelWithProjection(clip_text_config()), tokenizer_2=tiny_clip_tokenizer(),
        scheduler=sdxl_scheduler(), requires_aesthetics_score=False,
    )


def _build_flux_fill():
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxFillPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    latent_channels, scale = 4, 2  # the two-block flow VAE: 4 channels, 2 pixels per latent cell
    packed = latent_channels * 4
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=packed * 2 + scale * scale * 4, out_channels=packed, num_layers=1,
        num_single_layers=1, attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
        pooled_projection_dim=32, axes_dims_rope=[4, 4, 8], guidance_embeds=True,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_image_seq_len=256,
        max_image_seq_len=4096, base_shift=0.5, max_shift=1.15,
    )
    return FluxFillPipeline(
        transformer=transformer, scheduler=scheduler, vae=flow_vae(latent_channels=latent_channels),
        text_encoder=CLIPTextModel(clip_text_config()), tokenizer=tiny_clip_tokenizer(), text_encoder_2=t5_encoder(),
        tokenizer_2=tiny_t5_tokenizer(),
    )


register_tiny("sd-inpaint", _build_sd_inpaint)
register_tiny("sdxl-inpaint", _build_sdxl_inpaint)
register_tiny("flux-fill", _build_flux_fill)
tiny_editor("sd-inpaint", "sd_inpaint", "sd-inpaint")
tiny_editor("sdxl-inpaint", "sdxl_inpaint", "sdxl-inpaint")
tiny_editor("flux-fill", "flux_fill", "flux-fill")
