"""CLIPSeg: a soft text-conditioned probability map, good for "stuff" (sky, water, grass, background).

CLIPSeg (Lüddecke & Ecker, CVPR 2022) decodes CLIP ViT activations, conditioned on a text embedding, into a
352x352 logit map. Here:

- All phrases of a call (positives and ``negatives``) go through the decoder as ONE batch, and each image (or tile)
  goes through the ViT once, whatever the number of phrases: the vision activations are computed once and paired
  with every text embedding.
- The map is ``sigmoid(logits / temperature)`` upsampled bilinearly to the image size (soft, never thresholded).
- Large images (longer side > 1.5x the model's input size) are also tiled. A 352-px map stretched over a 2000-px
  image is blocky; overlapping 352-px tiles (a quarter overlap) see the image at a finer scale. Tiles are blended
  with a raised-cosine window (so tile seams vanish), and the tiled map is combined with the global pass by their
  geometric mean ``sqrt(global * tiled)``: the global pass has the context (a tile of pure sky cannot tell "sky"
  from "water" and CLIPSeg tends to find *something* in every tile), the tiles have the detail; the geometric
  mean keeps a region only where both agree, and its edges come from the sharper tiled map. (``max`` would keep
  every tile's false positive.) The image is first shrunk to at most 3x the input size, which bounds a call to
  at most 4x4 tiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from automaps.changemap import ChangeMap
from automaps.generators.loading import device_params, load, resolve_dtype
from automaps.generators.registry import (
    GeneratorSpec,
    ParamSpec,
    describe_phrase,
    phrases_of,
    register_generator,
)
from automaps.models import DEFAULT_MODELS

__all__ = ["SPEC", "clipseg", "clipseg_probabilities", "merge_tiles", "tile_boxes"]

_INFO = DEFAULT_MODELS["clipseg"]
TILE_ABOVE = 1.5  # tile when the longer side exceeds this many model input sizes
MAX_SIDE = 3.0  # ...after shrinking the image so its longer side is at most this many input sizes
OVERLAP = 0.25  # minimum overlap of neighbouring tiles, as a fraction of the tile side
BATCH_IMAGES = 8  # images (global + tiles) per vision forward, to bound memory

SPEC = GeneratorSpec(
    name="clipseg",
    summary="CLIPSeg soft text-conditioned map: 'stuff' and soft regions (sky, water, grass, background)",
    default_model=_INFO.id,
    revision=_INFO.revision,
    license=_INFO.license,
    extra=None,
    params={
        "negatives": ParamSpec(None, help="phrase(s) whose map is subtracted, e.g. ['people']"),
        "tile": ParamSpec(None, choices=(None, True, False), help="tile large images (None = auto, > 1.5x input)"),
        "temperature": ParamSpec(1.0, min=0.01, max=100.0, help="sigmoid(logits / T): T < 1 sharpens, T > 1 softens"),
        **device_params(),
    },
    needs_phrase=True,
)


def clipseg_probabilities(
    model: Any,
    processor: Any,
    images: Sequence[Image.Image],
    phrases: Sequence[str],
    temperature: float = 1.0,
) -> np.ndarray:
    """Soft CLIPSeg maps for every (image, phrase) pair; each image embedded once, all phrases in one batch.

    Args:
        model: A loaded ``CLIPSegForImageSegmentation``.
        processor: Its ``CLIPSegProcessor``.
        images: RGB images (any sizes: the processor resizes each to the model's input size ``s``).
        phrases: Text phrases.
        temperature: Logits are divided by it before the sigmoid.

    Returns:
        float32 ``(len(images), len(phrases), s, s)`` in [0, 1] (probability of "phrase is here").
    """
    import torch

    param = next(model.parameters())
    tokens = processor.tokenizer(list(phrases), padding=True, return_tensors="pt").to(param.device)
    n_phrases = len(phrases)
    out = []
    with torch.inference_mode():
        cond = model.get_conditional_embeddings(
            batch_size=n_phrases, input_ids=tokens["input_ids"], attention_mask=tokens.get("attention_mask")
        )
        for start in range(0, len(images), BATCH_IMAGES):
            chunk = list(images[start : start + BATCH_IMAGES])
            pixels = processor.image_processor(chunk, return_tensors="pt")["pixel_values"]
            vision = model.clip.vision_model(
                pixel_values=pixels.to(param.device, param.dtype),
                output_hidden_states=True,
                interpolate_pos_encoding=True,
            )
            # The decoder reads the activations after layers `extract_layers` (+1: hidden_states[0] = embeddings).
            activations = [vision.hidden_states[i + 1].repeat_interleave(n_phrases, 0) for i in model.extract_layers]
            logits = model.decoder(activations, cond.repeat(len(chunk), 1)).logits
            logits = logits.reshape(len(chunk), n_phrases, *logits.shape[-2:])
            out.append(torch.sigmoid(logits.float() / temperature).cpu())
    return torch.cat(out).numpy().astype(np.float32)


def _resize(maps: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of float32 ``(N, h, w)`` maps to ``(N, H, W)`` (half-pixel centres, values stay in range).

    Antialiased when shrinking (a 352-px map onto a 40-px image must average, not sample, or it aliases).
    """
    import torch
    import torch.nn.functional as F

    if maps.shape[-2:] == tuple(size_hw):
        return maps
    t = torch.from_numpy(np.ascontiguousarray(maps))[:, None]
    shrink = size_hw[0] < maps.shape[-2] or size_hw[1] < maps.shape[-1]
    out = F.interpolate(t, size=size_hw, mode="bilinear", align_corners=False, antialias=shrink)[:, 0]
    return out.clamp_(0.0, 1.0).numpy()  # antialiasing kernels can overshoot by float noise


def tile_boxes(height: int, width: int, tile: int, overlap: float = OVERLAP) -> list[tuple[int, int, int, int]]:
    """Square tiles of side ``min(tile, height, width)`` covering the image, overlapping by at least ``overlap``.

    Returns:
        ``(y0, x0, y1, x1)`` boxes, row-major; the first and last tile of each axis touch the image borders.

    Example:
        >>> tile_boxes(100, 200, 100)
        [(0, 0, 100, 100), (0, 50, 100, 150), (0, 100, 100, 200)]
    """
    side = min(tile, height, width)
    stride = max(1, int(side * (1 - overlap)))

    def starts(length: int) -> list[int]:
        n = max(1, math.ceil((length - side) / stride) + 1)
        return [round(i * (length - side) / (n - 1)) if n > 1 else 0 for i in range(n)]

    return [(y, x, y + side, x + side) for y in starts(height) for x in starts(width)]


def _window(side: int) -> np.ndarray:
    """Raised-cosine weight ``(side, side)``, highest at the centre, small but non-zero at the borders."""
    w = np.sin(np.pi * (np.arange(side) + 0.5) / side) + 1e-3
    return np.outer(w, w).astype(np.float32)


def merge_tiles(tiles: np.ndarray, boxes: Sequence[tuple[int, int, int, int]], size_hw: tuple[int, int]) -> np.ndarray:
    """Window-weighted average of tile maps.

    Args:
        tiles: float32 ``(n_tiles, C, s, s)`` maps (C phrases), each resized here to its box.
        boxes: ``(y0, x0, y1, x1)`` of each tile in an image of size ``size_hw``.
        size_hw: ``(H, W)`` of the merged map.

    Returns:
        float32 ``(C, H, W)``; every pixel covered by at least one tile (as :func:`tile_boxes` guarantees).
    """
    channels = tiles.shape[1]
    total = np.zeros((channels, *size_hw), np.float32)
    weight = np.zeros(size_hw, np.float32)
    for tile, (y0, x0, y1, x1) in zip(tiles, boxes, strict=True):
        w = _window(y1 - y0)
        total[:, y0:y1, x0:x1] += _resize(tile, (y1 - y0, x1 - x0)) * w
        weight[y0:y1, x0:x1] += w
    return total / np.maximum(weight, 1e-12)


def _input_size(processor: Any) -> int:
    size = processor.image_processor.size
    get = size.get if hasattr(size, "get") else lambda k, d=None: getattr(size, k, d)
    return int(get("height") or get("shortest_edge") or 352)


def soft_maps(
    model: Any,
    processor: Any,
    image: Image.Image,
    phrases: Sequence[str],
    tile: bool | None = None,
    temperature: float = 1.0,
) -> tuple[np.ndarray, bool]:
    """CLIPSeg maps of ``phrases`` over ``image`` at the image's size, tiled when large.

    Returns:
        ``(maps, tiled)``: float32 ``(len(phrases), H, W)`` in [0, 1], and whether tiling was used.
    """
    s = _input_size(processor)
    H, W = image.height, image.width
    tiled = max(H, W) > TILE_ABOVE * s if tile is None else bool(tile)
    if not tiled:
        return _resize(clipseg_probabilities(model, processor, [image], phrases, temperature)[0], (H, W)), False
    scale = min(1.0, MAX_SIDE * s / max(H, W))
    work = image if scale == 1.0 else image.resize((max(1, round(W * scale)), max(1, round(H * scale))), Image.BILINEAR)
    boxes = tile_boxes(work.height, work.width, s)
    crops = [work.crop((x0, y0, x1, y1)) for (y0, x0, y1, x1) in boxes]
    probs = clipseg_probabilities(model, processor, [image, *crops], phrases, temperature)
    global_map = _resize(probs[0], (H, W))
    tiled_map = _resize(merge_tiles(probs[1:], boxes, (work.height, work.width)), (H, W))
    return np.sqrt(global_map * tiled_map), True


@register_generator(SPEC)
def clipseg(
    image: Image.Image,
    phrase: str | Sequence[str],
    model: str | None = None,
    *,
    negatives: str | Sequence[str] | None = None,
    tile: bool | None = None,
    temperature: float = 1.0,
    device: str = "cpu",
    dtype: str = "float32",
) -> ChangeMap:
    """CLIPSeg map: max over ``phrase`` (a union), minus the max over ``negatives``, clipped to [0, 1].

    Args:
        image: RGB image, ``(W, H)`` any size.
        phrase: What to change: a string or a list of strings (union = max).
        model: Hub id or folder of a CLIPSeg checkpoint (default ``CIDAS/clipseg-rd64-refined``).
        negatives: Phrase(s) to keep out: their map is subtracted.
        tile: Tile large images (``None`` = when the longer side exceeds 1.5x the model input size).
        temperature: ``sigmoid(logits / temperature)``.
        device: Torch device.
        dtype: Weights' dtype name.

    Returns:
        ChangeMap ``(H, W)`` float32 in [0, 1], 1 = the phrase is there; provenance ``"clipseg('sky')"``.
    """
    import transformers

    positives = phrases_of(phrase)
    negs = phrases_of(negatives, "negatives") if negatives is not None else []
    net, processor = load(
        transformers.CLIPSegForImageSegmentation,
        transformers.CLIPSegProcessor,
        model or SPEC.default_model,
        revision=SPEC.revision if model is None else "main",
        device=device,
        dtype=resolve_dtype(dtype),
    )
    maps, tiled = soft_maps(net, processor, image, positives + negs, tile=tile, temperature=temperature)
    values = maps[: len(positives)].max(axis=0)
    if negs:
        values = values - maps[len(positives) :].max(axis=0)
    what = describe_phrase(phrase)
    notes = [f"negatives={negs!r}"] if negs else []
    notes += [f"temperature={temperature:g}"] if temperature != 1.0 else []
    notes += ["tiled"] if tiled else []
    return ChangeMap(np.clip(values, 0.0, 1.0).astype(np.float32), provenance=f"clipseg({', '.join([what, *notes])})")
