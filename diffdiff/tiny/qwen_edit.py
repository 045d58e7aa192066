"""A tiny random Qwen-Image-Edit pipeline: a 1-layer MMDiT, an 8-channel video VAE (8x), a 1-layer Qwen2.5-VL
text encoder over single bytes, and a processor without a video part (no torchvision needed).

The stock pipelines always work at 1024 x 1024 in area, so even this model takes tens of seconds per call on a
CPU: its tiny case is ``slow`` and the family-generic tests leave it to ``tests/test_instruction_families.py``.
"""

from __future__ import annotations

import torch

from diffdiff.tiny import register_tiny, tiny_editor
from diffdiff.tiny.parts import _byte_symbols

_SPECIALS = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


def _tokenizer():
    from transformers import Qwen2Tokenizer

    tokenizer = Qwen2Tokenizer(vocab={s: i for i, s in enumerate(_byte_symbols())}, merges=[], unk_token=None,
                               bos_token=None, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": _SPECIALS})
    return tokenizer


def _text_encoder(tokenizer):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    start, end, image, video = tokenizer.convert_tokens_to_ids(_SPECIALS[2:])
    config = Qwen2_5_VLConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "num_key_value_heads": 2, "rope_theta": 1e6, "vocab_size": len(tokenizer),
                     "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}},
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
        hidden_size=16, vocab_size=len(tokenizer), vision_start_token_id=start, vision_end_token_id=end,
        image_token_id=image, video_token_id=video,
    )
    return Qwen2_5_VLForConditionalGeneration(config)


def _build_qwen_edit():
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2VLImageProcessorPil

    from diffdiff.families.qwen_edit import image_only_processor

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    # Few vision patches: the prompt image the text encoder sees is at most 16 merged 28 px tiles.
    processor = image_only_processor()(image_processor=Qwen2VLImageProcessorPil(min_pixels=4 * 28 * 28,
                                                                                max_pixels=16 * 28 * 28),
                                       tokenizer=tokenizer)
    transformer = QwenImageTransformer2DModel(patch_size=2, in_channels=16, out_channels=4, num_layers=1,
                                              attention_head_dim=16, num_attention_heads=2, joint_attention_dim=16,
                                              guidance_embeds=False, axes_dims_rope=(8, 4, 4))
    vae = AutoencoderKLQwenImage(base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                 temperal_downsample=[False, True, True], latents_mean=[0.0] * 4,
                                 latents_std=[1.0] * 4)
    pipe = QwenImageEditPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, tokenizer=tokenizer,
                                 text_encoder=_text_encoder(tokenizer), processor=processor, transformer=transformer)
    # Saved as a real checkpoint names it; the family loads it back as the image-only processor.
    pipe.register_to_config(processor=("transformers", "Qwen2VLProcessor"))
    return pipe


register_tiny("qwen-edit", _build_qwen_edit)
tiny_editor("qwen-edit", "qwen_edit", "qwen-edit", slow=True)
