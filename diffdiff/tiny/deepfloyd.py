"""Tiny random DeepFloyd IF stage I and II img2img pipelines and an x4 upscaler (stage III)."""

from __future__ import annotations

import torch

from diffdiff.tiny import register_tiny, tiny_editor
from diffdiff.tiny.parts import clip_text_config, t5_encoder, tiny_clip_tokenizer, tiny_t5_tokenizer


def _if_scheduler():
    from diffusers import DDPMScheduler

    # IF-I/II's released scheduler: cosine betas, learned variance, dynamic thresholding.
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", beta_start=0.0001,
                         beta_end=0.02, thresholding=True, dynamic_thresholding_ratio=0.95, sample_max_value=1.0,
                         prediction_type="epsilon", variance_type="learned_range")


def _if_unet(sample_size: int, in_channels: int, levels: int = 2, **extra):
    from diffusers import UNet2DConditionModel

    # Attention only at the coarsest level (16x16 here): at 32x32 it would dominate a stage II call.
    plain = levels - 1
    return UNet2DConditionModel(
        sample_size=sample_size, layers_per_block=1, block_out_channels=(16,) * plain + (32,),
        down_block_types=("ResnetDownsampleBlock2D",) * plain + ("SimpleCrossAttnDownBlock2D",),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=("SimpleCrossAttnUpBlock2D",) + ("ResnetUpsampleBlock2D",) * plain, in_channels=in_channels,
        out_channels=6, cross_attention_dim=32, encoder_hid_dim=32, attention_head_dim=8, norm_num_groups=8,
        addition_embed_type="text", addition_embed_type_num_heads=2, cross_attention_norm="group_norm",
        resnet_time_scale_shift="scale_shift", act_fn="gelu", **extra,
    )


def _build_if_1():
    from diffusers import IFImg2ImgPipeline

    torch.manual_seed(0)
    text_encoder = t5_encoder()
    unet = _if_unet(32, 3)
    return IFImg2ImgPipeline(tokenizer=tiny_t5_tokenizer(), text_encoder=text_encoder, unet=unet,
                             scheduler=_if_scheduler(), safety_checker=None, feature_extractor=None,
                             watermarker=None, requires_safety_checker=False)


def _build_if_2():
    from diffusers import DDPMScheduler, IFImg2ImgSuperResolutionPipeline

    torch.manual_seed(0)
    text_encoder = t5_encoder()  # same seed and config as stage I: the released stages share one T5
    torch.manual_seed(1)
    unet = _if_unet(64, 6, levels=3, class_embed_type="timestep", mid_block_scale_factor=1.414,
                    time_embedding_act_fn="gelu", time_embedding_dim=32)
    noising = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", beta_start=0.0001,
                            beta_end=0.02)
    return IFImg2ImgSuperResolutionPipeline(
        tokenizer=tiny_t5_tokenizer(), text_encoder=text_encoder, unet=unet, scheduler=_if_scheduler(),
        image_noising_scheduler=noising, safety_checker=None, feature_extractor=None, watermarker=None,
        requires_safety_checker=False,
    )


def _build_x4_upscaler():
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel


    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=32, in_channels=7, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8, use_linear_projection=True,
        num_class_embeds=1000,
    )
    vae = AutoencoderKL(
        block_out_channels=[16, 32], in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=8,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], scaling_factor=0.08333,
    )
    return StableDiffusionUpscalePipeline(
        vae=vae, text_encoder=CLIPTextModel(clip_text_config()), tokenizer=tiny_clip_tokenizer(), unet=unet,
        low_res_scheduler=DDPMScheduler(), scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=350,
    )


register_tiny("if-1", _build_if_1)
register_tiny("if-2", _build_if_2)
register_tiny("x4-upscaler", _build_x4_upscaler)
tiny_editor("if-1", "deepfloyd_if", "if-1")
tiny_editor("if-1+2", "deepfloyd_if", "if-1", stage2="if-2")
