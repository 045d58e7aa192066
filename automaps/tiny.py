"""Tiny random models of the real architectures, saved to a folder, for tests, notebooks and benchmarks.

Each ``save_tiny_*`` builds the real ``transformers`` model class from a tiny config (random weights), builds its
real processor with an in-memory tokenizer (no vocabulary files, no network), ``save_pretrained``\\ s both to
``folder`` and returns the folder. The folders load back through :mod:`automaps.generators.loading` exactly like a
hub checkpoint, so tests exercise the same code path as real use. Random weights produce noise, never a
meaningful mask: use them to test plumbing and invariants, not quality.

``full_size=True`` (CLIPSeg, Grounding DINO, OWLv2, SAM, Depth Anything) builds the default-sized architecture
instead (still random weights); :mod:`benchmarks.generators` uses it to time real compute without weights.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

__all__ = [
    "save_tiny_clipseg",
    "save_tiny_depth_anything",
    "save_tiny_grounding_dino",
    "save_tiny_owlv2",
    "save_tiny_sam",
]

# CLIP's byte-level BPE pre-tokenizer maps bytes to printable unicode; plain ASCII letters map to themselves,
# so a vocabulary of single characters (and their end-of-word forms) tokenizes any lowercase ASCII phrase.
_CLIP_CHARS = string.ascii_lowercase + string.digits + ".,!?'-"


def _clip_tokenizer(model_max_length: int = 77) -> Any:
    """A CLIP tokenizer over single characters, special tokens at the END of the vocabulary.

    OWLv2 treats a query whose first id is 0 as padding, so ``<|startoftext|>`` must not be id 0.
    """
    from transformers import CLIPTokenizer

    pieces = [*_CLIP_CHARS, *(c + "</w>" for c in _CLIP_CHARS)]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    # model_max_length matters: OWLv2's processor pads every query to it ("max_length" padding).
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


def _bert_tokenizer() -> Any:
    """A WordPiece (BERT) tokenizer over single characters with BERT's special ids where Grounding DINO wants them.

    Grounding DINO hard-codes ``[CLS]=101, [SEP]=102, '.'=1012, '?'=1029`` (its phrase delimiters), so the tiny
    vocabulary keeps those ids and fills the other slots with single characters and ``[unused]`` tokens.
    """
    from transformers import BertTokenizerFast

    fixed = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, ".": 1012, "?": 1029}
    chars = [*string.ascii_lowercase, *string.digits, ",", "!", "'", "-"]
    chars += ["##" + c for c in string.ascii_lowercase + string.digits]
    vocab: dict[str, int] = dict(fixed)
    free = (i for i in range(1030) if i not in fixed.values())
    for piece in chars:
        vocab[piece] = next(free)
    for i in free:
        vocab[f"[unused{i}]"] = i
    return BertTokenizerFast(vocab=vocab)


# A 2-layer, 32-wide transformer: the smallest that every architecture below accepts.
_SMALL = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}


def _clip_ids(tokenizer: Any) -> dict[str, int]:
    return {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def _save(folder: str | Path, model: Any, processor: Any) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def save_tiny_clipseg(folder: str | Path, *, full_size: bool = False, seed: int = 0) -> Path:
    """Save a random CLIPSeg (``CLIPSegForImageSegmentation`` + ``CLIPSegProcessor``) to ``folder``.

    Args:
        folder: Destination folder (created if missing).
        full_size: Build the ``CIDAS/clipseg-rd64-refined`` architecture (ViT-B/16 vision, 12-layer text,
            reduce_dim 64, refined transposed convolution, 352-px input) instead of the tiny one (64-px input).
        seed: Torch seed of the random weights.

    Returns:
        The folder, loadable with ``from_pretrained``.
    """
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation, CLIPSegProcessor, ViTImageProcessor

    tokenizer = _clip_tokenizer()
    text = _clip_ids(tokenizer)
    if full_size:
        # rd64-refined: CLIP ViT-B/16 (pretrained at 224 px, run at 352 px), decoder reduce_dim 64.
        config = CLIPSegConfig(
            text_config=text, vision_config={"patch_size": 16}, reduce_dim=64, use_complex_transposed_convolution=True
        )
        size = 352
    else:
        config = CLIPSegConfig(
            text_config={**text, **_SMALL},
            vision_config={**_SMALL, "num_hidden_layers": 3, "image_size": 32, "patch_size": 8},
            projection_dim=32,
            extract_layers=(0, 1, 2),
            reduce_dim=16,
            decoder_num_attention_heads=2,
            decoder_intermediate_size=37,
        )
        size = 64
    _seed(seed)
    model = CLIPSegForImageSegmentation(config)
    image_processor = ViTImageProcessor(
        do_resize=True,
        size={"height": size, "width": size},
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    return _save(folder, model, CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer))


def save_tiny_owlv2(folder: str | Path, *, full_size: bool = False, seed: int = 0) -> Path:
    """Save a random OWLv2 (``Owlv2ForObjectDetection`` + ``Owlv2Processor``) to ``folder``.

    Args:
        folder: Destination folder (created if missing).
        full_size: Build the ``google/owlv2-base-patch16-ensemble`` architecture (ViT-B/16 at 960 px) instead of
            the tiny one (64-px input).
        seed: Torch seed of the random weights.

    Returns:
        The folder, loadable with ``from_pretrained``.
    """
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    tokenizer = _clip_tokenizer(model_max_length=16)  # = Owlv2TextConfig.max_position_embeddings
    text = {**_clip_ids(tokenizer), "pad_token_id": 0}  # OWLv2 pads queries with id 0
    if full_size:
        config = Owlv2Config(text_config=text, vision_config={"image_size": 960, "patch_size": 16})
        size = 960
    else:
        config = Owlv2Config(
            text_config={**text, **_SMALL},
            vision_config={**_SMALL, "image_size": 64, "patch_size": 16},
            projection_dim=32,
        )
        size = 64
    _seed(seed)
    model = Owlv2ForObjectDetection(config)
    image_processor = Owlv2ImageProcessor(size={"height": size, "width": size})
    return _save(folder, model, Owlv2Processor(image_processor=image_processor, tokenizer=tokenizer))


def save_tiny_grounding_dino(folder: str | Path, *, full_size: bool = False, seed: int = 0) -> Path:
    """Save a random Grounding DINO (``GroundingDinoForObjectDetection`` + ``GroundingDinoProcessor``).

    The tiny one uses a 2-stage Swin backbone (no timm) with 3 feature levels, 2 decoder layers (1 fails to
    tie weights) and 10 queries.

    Args:
        folder: Destination folder (created if missing).
        full_size: Build the ``IDEA-Research/grounding-dino-tiny`` architecture (Swin-T, BERT-base text,
            900 queries, 800-px shortest edge) instead of the tiny one (64-px input).
        seed: Torch seed of the random weights.

    Returns:
        The folder, loadable with ``from_pretrained``.
    """
    from transformers import (
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
    )

    tokenizer = _bert_tokenizer()
    if full_size:
        # The defaults are grounding-dino-tiny: Swin-T backbone (stages 2-4, 4 feature levels), BERT-base text,
        # 900 queries. (The tiny tokenizer's ids all fit BERT's 30522-entry embedding table.)
        config = GroundingDinoConfig()
        size = {"shortest_edge": 800, "longest_edge": 1333}
    else:
        config = GroundingDinoConfig(
            backbone_config={
                "model_type": "swin",
                "embed_dim": 8,
                "depths": [1, 1, 1, 1],
                "num_heads": [1, 1, 1, 1],
                "window_size": 2,
                "image_size": 64,
                "out_indices": [2, 3, 4],
            },
            text_config={"model_type": "bert", "vocab_size": len(tokenizer), **_SMALL, "max_position_embeddings": 64},
            d_model=32,
            num_queries=10,
            encoder_layers=1,
            decoder_layers=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_n_points=2,
            decoder_n_points=2,
            num_feature_levels=3,
            max_text_len=32,
        )
        size = {"shortest_edge": 64, "longest_edge": 64}
    _seed(seed)
    model = GroundingDinoForObjectDetection(config)
    image_processor = GroundingDinoImageProcessor(size=size)
    return _save(folder, model, GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer))


def save_tiny_sam(folder: str | Path, *, full_size: bool = False, seed: int = 0) -> Path:
    """Save a random SAM (``SamModel`` + ``SamProcessor``) to ``folder``.

    Args:
        folder: Destination folder (created if missing).
        full_size: Build the ``facebook/sam-vit-base`` architecture (ViT-B, 1024-px input) instead of the tiny one
            (64-px input, 2-layer ViT).
        seed: Torch seed of the random weights.

    Returns:
        The folder, loadable with ``from_pretrained``.
    """
    from transformers import SamConfig, SamImageProcessor, SamModel, SamProcessor

    if full_size:
        config = SamConfig()
        size, pad = 1024, 1024
    else:
        # The prompt encoder's grid (image_size / patch_size) must match the vision encoder's output grid.
        config = SamConfig(
            vision_config={
                **_SMALL,
                "num_attention_heads": 2,
                "output_channels": 32,
                "image_size": 64,
                "patch_size": 8,
                "window_size": 4,
                "global_attn_indexes": [1],
                "mlp_dim": 64,
                "num_pos_feats": 16,
            },
            prompt_encoder_config={"hidden_size": 32, "image_size": 64, "patch_size": 8, "mask_input_channels": 4},
            mask_decoder_config={"hidden_size": 32, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
            # A wide init so random masks differ from prompt to prompt (at 0.02 every mask is sigmoid(~0) = 0.5
            # everywhere, and a test could not tell two boxes apart).
            initializer_range=0.3,
        )
        size, pad = 64, 64
    _seed(seed)
    model = SamModel(config)
    image_processor = SamImageProcessor(
        size={"longest_edge": size},
        pad_size={"height": pad, "width": pad},
        mask_size={"longest_edge": pad // 4},
        mask_pad_size={"height": pad // 4, "width": pad // 4},
    )
    return _save(folder, model, SamProcessor(image_processor=image_processor))


_DEPTH_FULL = (
    {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "out_indices": [3, 6, 9, 12]},
    {"reassemble_hidden_size": 384, "neck_hidden_sizes": [48, 96, 192, 384], "fusion_hidden_size": 64,
     "head_hidden_size": 32},
    518,
)
_DEPTH_TINY = (
    {"hidden_size": 16, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 32,
     "out_indices": [1, 2, 3, 4]},
    {"reassemble_hidden_size": 16, "neck_hidden_sizes": [8, 8, 16, 16], "fusion_hidden_size": 8, "head_hidden_size": 8},
    56,
)


def save_tiny_depth_anything(folder: str | Path, *, full_size: bool = False, seed: int = 0) -> Path:
    """Save a random Depth Anything (``DepthAnythingForDepthEstimation`` + DPT image processor) to ``folder``.

    Args:
        folder: Destination folder (created if missing).
        full_size: Build the ``Depth-Anything-V2-Small-hf`` architecture (DINOv2-S/14 backbone: hidden 384,
            12 layers, 6 heads; 518-px input) instead of the tiny one (56-px input).
        seed: Torch seed of the random weights.

    Returns:
        The folder, loadable with ``from_pretrained``.
    """
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, DPTImageProcessor

    # Full size: Depth-Anything-V2-Small-hf's DINOv2-S/14 (518 px); tiny: 56 px.
    backbone, heads, size = _DEPTH_FULL if full_size else _DEPTH_TINY
    config = DepthAnythingConfig(
        backbone_config={"model_type": "dinov2", "patch_size": 14, "image_size": size, "reshape_hidden_states": False,
                         "apply_layernorm": True, **backbone},
        **heads,
    )
    _seed(seed)
    model = DepthAnythingForDepthEstimation(config)
    # As in the hub's processor config: keep aspect ratio, both sides multiples of the patch size.
    image_processor = DPTImageProcessor(
        size={"height": size, "width": size},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    return _save(folder, model, image_processor)
