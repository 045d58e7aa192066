"""Tiny random inpainting checkpoints: 9-channel SD and SDXL inpainting UNets (4 latent + 1 mask + 4
masked-image channels) with the tiny SD / SDXL text encoders and VAE."""

from __future__ import annotations

import torch

from diffdiff.tiny import register_tiny, tiny_editor
from diffdiff.tiny.parts import clip_text_config, sd_scheduler, sdxl_scheduler, tiny_clip_tokenizer, tiny_vae

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


register_tiny("sd-inpaint", _build_sd_inpaint)
register_tiny("sdxl-inpaint", _build_sdxl_inpaint)
tiny_editor("sd-inpaint", "sd_inpaint", "sd-inpaint")
tiny_editor("sdxl-inpaint", "sdxl_inpaint", "sdxl-inpaint")
