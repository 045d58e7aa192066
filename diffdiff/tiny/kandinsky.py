"""Tiny random Kandinsky 2.2 prior and decoder (img2img) pipelines."""

from __future__ import annotations

import torch

from diffdiff.tiny import register_tiny, tiny_editor
from diffdiff.tiny.parts import clip_text_config, tiny_clip_tokenizer


def _build_kandinsky_prior():
    from diffusers import KandinskyV22PriorPipeline, PriorTransformer, UnCLIPScheduler
    from transformers import (
        CLIPImageProcessor,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )


    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(clip_text_config())
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=32, num_layers=1)
    # diffusers' tests do the same: random clip statistics would blow the embeddings up.
    prior.clip_std = torch.nn.Parameter(torch.ones(prior.clip_std.shape))
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, image_size=32, projection_dim=32, intermediate_size=37, num_attention_heads=4,
        num_channels=3, num_hidden_layers=2, patch_size=8,
    ))
    image_processor = CLIPImageProcessor(
        crop_size=32, size=32, do_center_crop=True, do_normalize=True, do_resize=True, resample=3,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    scheduler = UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="sample", num_train_timesteps=1000,
                                clip_sample=True, clip_sample_range=10.0)
    return KandinskyV22PriorPipeline(prior=prior, image_encoder=image_encoder, text_encoder=text_encoder,
                                     tokenizer=tiny_clip_tokenizer(), scheduler=scheduler,
                                     image_processor=image_processor)


def _build_kandinsky():
    from diffusers import DDPMScheduler, KandinskyV22Img2ImgPipeline, UNet2DConditionModel, VQModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        in_channels=4, out_channels=8, addition_embed_type="image", block_out_channels=(16, 32),
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", layers_per_block=1, encoder_hid_dim=32,
        encoder_hid_dim_type="image_proj", cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
        resnet_time_scale_shift="scale_shift", class_embed_type=None,
    )
    # SpatialNorm hard-codes 32 groups, so MoVQ's blocks cannot be narrower than 32 channels.
    movq = VQModel(
        block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
        up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"], in_channels=3, out_channels=3,
        latent_channels=4, layers_per_block=1, norm_num_groups=8, norm_type="spatial", num_vq_embeddings=12,
        vq_embed_dim=4,
    )
    # The released decoder's scheduler: DDPM, linear betas, "leading" spacing.
    scheduler = DDPMScheduler(beta_schedule="linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              steps_offset=1, timestep_spacing="leading", variance_type="fixed_small")
    return KandinskyV22Img2ImgPipeline(unet=unet, scheduler=scheduler, movq=movq)


register_tiny("kandinsky-prior", _build_kandinsky_prior)
register_tiny("kandinsky", _build_kandinsky)
tiny_editor("kandinsky", "kandinsky", "kandinsky", prior="kandinsky-prior")
