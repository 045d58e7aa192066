"""Tiny random pipelines of Kandinsky 2.2, DeepFloyd IF, SD3 and Flux (see :mod:`diffdiff.tiny`).

Configs follow diffusers' own tests' ``get_dummy_components()``, shrunk where that keeps a call well
under a second on a CPU: two-block VAEs (``vae_scale_factor`` 2, so a 64 px image is a 32x32 latent),
one transformer layer, small CLIP vision towers. Tokenizers are built in memory (CLIP: byte-level,
T5: a character-level unigram vocabulary), so nothing is downloaded. Schedulers are each family's
native one, configured like the released checkpoints.

The ``diffdiff.tiny`` helpers are imported inside the builders: ``diffdiff.tiny`` imports this module
to register the builders, and a module-level import would be circular.
"""

from __future__ import annotations

import string

import torch

__all__ = ["FAMILY_BUILDERS", "tiny_t5_tokenizer"]


def tiny_t5_tokenizer():
    """A T5 tokenizer over a character-level unigram vocabulary, built in memory.

    Returns:
        ``transformers.T5Tokenizer`` (pad 0, eos 1, unk 2) with about 140 pieces.
    """
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    for char in string.ascii_lowercase + string.digits + string.punctuation:
        pieces += [("▁" + char, -3.0), (char, -4.0)]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def _t5_encoder(d_model: int = 32):
    from transformers import T5Config, T5EncoderModel

    tok = tiny_t5_tokenizer()
    config = T5Config(
        vocab_size=len(tok), d_model=d_model, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
    )
    return T5EncoderModel(config)


def _flow_vae(latent_channels: int):
    from diffusers import AutoencoderKL

    # SD3/Flux VAEs have a shift factor and no quant convs; two blocks give vae_scale_factor 2.
    return AutoencoderKL(
        block_out_channels=(16, 32), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), layers_per_block=1,
        latent_channels=latent_channels, norm_num_groups=8, sample_size=64, use_quant_conv=False,
        use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035,
    )


def _build_kandinsky_prior():
    from diffusers import KandinskyV22PriorPipeline, PriorTransformer, UnCLIPScheduler
    from transformers import (
        CLIPImageProcessor,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    from diffdiff.tiny import _clip_text_config, tiny_clip_tokenizer

    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(_clip_text_config())
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
    text_encoder = _t5_encoder()
    unet = _if_unet(32, 3)
    return IFImg2ImgPipeline(tokenizer=tiny_t5_tokenizer(), text_encoder=text_encoder, unet=unet,
                             scheduler=_if_scheduler(), safety_checker=None, feature_extractor=None,
                             watermarker=None, requires_safety_checker=False)


def _build_if_2():
    from diffusers import DDPMScheduler, IFImg2ImgSuperResolutionPipeline

    torch.manual_seed(0)
    text_encoder = _t5_encoder()  # same seed and config as stage I: the released stages share one T5
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

    from diffdiff.tiny import _clip_text_config, tiny_clip_tokenizer

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
        vae=vae, text_encoder=CLIPTextModel(_clip_text_config()), tokenizer=tiny_clip_tokenizer(), unet=unet,
        low_res_scheduler=DDPMScheduler(), scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=350,
    )


def _build_sd3():
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Img2ImgPipeline
    from transformers import CLIPTextModelWithProjection

    from diffdiff.tiny import _clip_text_config, tiny_clip_tokenizer

    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=32, patch_size=2, in_channels=4, num_layers=1, attention_head_dim=8, num_attention_heads=4,
        joint_attention_dim=32, caption_projection_dim=32, pooled_projection_dim=64, out_channels=4,
    )
    text_encoder = CLIPTextModelWithProjection(_clip_text_config())
    text_encoder_2 = CLIPTextModelWithProjection(_clip_text_config())
    text_encoder_3 = _t5_encoder()
    vae = _flow_vae(latent_channels=4)
    # SD3 medium's scheduler config.
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    return StableDiffusion3Img2ImgPipeline(
        transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
        tokenizer=tiny_clip_tokenizer(), text_encoder_2=text_encoder_2, tokenizer_2=tiny_clip_tokenizer(),
        text_encoder_3=text_encoder_3, tokenizer_3=tiny_t5_tokenizer(),
    )


def _build_flux():
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxImg2ImgPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    from diffdiff.tiny import _clip_text_config, tiny_clip_tokenizer

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
        guidance_embeds=True,
    )
    text_encoder = CLIPTextModel(_clip_text_config())
    text_encoder_2 = _t5_encoder()
    vae = _flow_vae(latent_channels=4)
    # FLUX.1-dev's scheduler config: resolution-dependent shift.
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_image_seq_len=256,
        max_image_seq_len=4096, base_shift=0.5, max_shift=1.15,
    )
    return FluxImg2ImgPipeline(
        transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
        tokenizer=tiny_clip_tokenizer(), text_encoder_2=text_encoder_2, tokenizer_2=tiny_t5_tokenizer(),
    )


FAMILY_BUILDERS = {
    "kandinsky-prior": _build_kandinsky_prior,
    "kandinsky": _build_kandinsky,
    "if-1": _build_if_1,
    "if-2": _build_if_2,
    "x4-upscaler": _build_x4_upscaler,
    "sd3": _build_sd3,
    "flux": _build_flux,
}
