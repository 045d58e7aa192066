"""Shared pieces of the tiny pipelines: in-memory tokenizers (CLIP over single bytes, T5 over characters),
text-encoder configs, two-block VAEs and the released checkpoints' scheduler configs.

Nothing here downloads anything; configs follow the pattern of diffusers' ``get_dummy_components()``.
"""

from __future__ import annotations

import string

__all__ = ["clip_text_config", "flow_vae", "sd_scheduler", "sdxl_scheduler", "t5_encoder", "tiny_clip_tokenizer",
           "tiny_t5_tokenizer", "tiny_vae"]


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins GPT-2/CLIP byte-level BPE uses for raw bytes."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    keep += list(range(ord("®"), ord("ÿ") + 1))
    symbols, extra = [], 0
    for byte in range(256):
        if byte in keep:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def tiny_clip_tokenizer(model_max_length: int = 77):
    """A CLIP tokenizer over single bytes, built in memory (no files, no hub).

    Special tokens sit at the END of the vocabulary: some models treat id 0 at the start of a query as
    padding.

    Returns:
        ``transformers.CLIPTokenizer`` with a 514-entry vocabulary.
    """
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for symbol in _byte_symbols():
        vocab[symbol] = len(vocab)
        vocab[symbol + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


def clip_text_config(projection_dim: int = 32, hidden_size: int = 32):
    from transformers import CLIPTextConfig

    tok = tiny_clip_tokenizer()
    return CLIPTextConfig(
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        hidden_size=hidden_size,
        intermediate_size=37,
        layer_norm_eps=1e-5,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(tok),
        hidden_act="gelu",
        projection_dim=projection_dim,
    )


def tiny_vae():
    from diffusers import AutoencoderKL

    # Two blocks: vae_scale_factor is 2 here, not 8 — code must read it from the pipeline.
    return AutoencoderKL(
        block_out_channels=[16, 32],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )


def sd_scheduler():
    from diffusers import PNDMScheduler

    # The scheduler config Stable Diffusion 1.5 ships with (clip_sample is kept for DDIM/DDPM built from it).
    return PNDMScheduler.from_config(
        {
            "beta_start": 0.00085,
            "beta_end": 0.012,
            "beta_schedule": "scaled_linear",
            "num_train_timesteps": 1000,
            "set_alpha_to_one": False,
            "skip_prk_steps": True,
            "steps_offset": 1,
            "clip_sample": False,
        }
    )


def sdxl_scheduler():
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )


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


def t5_encoder(d_model: int = 32):
    from transformers import T5Config, T5EncoderModel

    tok = tiny_t5_tokenizer()
    config = T5Config(
        vocab_size=len(tok), d_model=d_model, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
    )
    return T5EncoderModel(config)


def flow_vae(latent_channels: int):
    from diffusers import AutoencoderKL

    # SD3/Flux VAEs have a shift factor and no quant convs; two blocks give vae_scale_factor 2.
    return AutoencoderKL(
        block_out_channels=(16, 32), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), layers_per_block=1,
        latent_channels=latent_channels, norm_num_groups=8, sample_size=64, use_quant_conv=False,
        use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035,
    )

