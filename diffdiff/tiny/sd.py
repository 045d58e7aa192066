"""Tiny random Stable Diffusion 1.x and SDXL (base and refiner) img2img pipelines."""

from __future__ import annotations

import torch

from diffdiff.tiny import register_tiny, tiny_editor
from diffdiff.tiny.parts import clip_text_config, sd_scheduler, sdxl_scheduler, tiny_clip_tokenizer, tiny_vae


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
    vae = tiny_vae()
    text_encoder = CLIPTextModel(clip_text_config())
    return StableDiffusionImg2ImgPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_clip_tokenizer(),
        scheduler=sd_scheduler(),
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
    vae = tiny_vae()
    text_encoder = CLIPTextModel(clip_text_config())
    text_encoder_2 = CLIPTextModelWithProjection(clip_text_config())
    return StableDiffusionXLImg2ImgPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_clip_tokenizer(),
        text_encoder_2=text_encoder_2,
        tokenizer_2=tiny_clip_tokenizer(),
        scheduler=sdxl_scheduler(),
        requires_aesthetics_score=False,
    )


def _build_sdxl_refiner():
    from diffusers import StableDiffusionXLImg2ImgPipeline
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(1)
    unet = _sdxl_unet(cross_attention_dim=32, time_ids=5)
    torch.manual_seed(0)
    # Same seed as the base's VAE: the real refiner shares the base's latent space.
    vae = tiny_vae()
    text_encoder_2 = CLIPTextModelWithProjection(clip_text_config())
    return StableDiffusionXLImg2ImgPipeline(
        unet=unet,
        vae=vae,
        text_encoder=None,
        tokenizer=None,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tiny_clip_tokenizer(),
        scheduler=sdxl_scheduler(),
        requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,
    )


register_tiny("sd", _build_sd)
register_tiny("sdxl", _build_sdxl)
register_tiny("sdxl-refiner", _build_sdxl_refiner)
tiny_editor("sd", "sd", "sd")
tiny_editor("sdxl", "sdxl", "sdxl")
