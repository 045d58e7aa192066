"""SAM: soft masks from user points and/or boxes (and from detector boxes, for ``grounded``).

Segment Anything (Kirillov et al., ICCV 2023) through ``transformers.SamModel`` (no torchvision). The image is
embedded once (the expensive ViT) and every prompt is answered from that embedding, as in segment-anything's
``SamPredictor.set_image`` / ``predict`` split. Masks stay soft: the low-resolution mask logits are upsampled to
the image (``post_process_masks(..., binarize=False)``) and passed through a sigmoid, so edges fade over a few
pixels instead of stair-stepping, which Differential Diffusion turns into a soft transition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from automaps.changemap import ChangeMap
from automaps.generators.loading import device_params, load, resolve_dtype
from automaps.generators.registry import GeneratorSpec, ParamSpec, register_generator
from automaps.models import DEFAULT_MODELS

__all__ = ["SPEC", "load_sam", "sam", "sam_union"]

_INFO = DEFAULT_MODELS["sam"]
BOX_CHUNK = 16  # boxes decoded per mask-decoder call: bounds memory on images with many detections

SPEC = GeneratorSpec(
    name="sam",
    summary="SAM soft mask from user clicks (points + labels) and/or boxes: refining a user's click",
    default_model=_INFO.id,
    revision=_INFO.revision,
    license=_INFO.license,
    extra=None,
    params={
        "points": ParamSpec(None, help="[(x, y), ...] clicks in pixels; all clicks describe ONE object"),
        "labels": ParamSpec(None, help="[1 | 0, ...] per point: 1 = on the object, 0 = not (default all 1)"),
        "boxes": ParamSpec(None, help="[(x0, y0, x1, y1), ...] in pixels; one mask per box, merged with max"),
        **device_params(),
    },
    needs_phrase=False,
)


def load_sam(model: str | None = None, device: str = "cpu", dtype: str = "float32") -> tuple[Any, Any]:
    """Load (cached) a ``SamModel`` + ``SamProcessor`` from a hub id or folder (default ``facebook/sam-vit-base``)."""
    import transformers

    return load(
        transformers.SamModel,
        transformers.SamProcessor,
        model or _INFO.id,
        revision=_INFO.revision if model is None else "main",
        device=device,
        dtype=resolve_dtype(dtype),
    )


def sam_union(
    model: Any,
    processor: Any,
    image: Image.Image,
    *,
    points: Sequence[Sequence[float]] | None = None,
    labels: Sequence[int] | None = None,
    boxes: Sequence[Sequence[float]] | None = None,
) -> np.ndarray:
    """Soft union of SAM masks for the prompts, the image embedded once.

    With boxes, each box is one prompt (the points, if any, are added to every box); without boxes, all points
    form one prompt. A single point alone is ambiguous (part / object / whole), so SAM returns three candidate
    masks and the one with the best predicted IoU is kept, as SAM's own predictor recommends.

    Args:
        model: Loaded ``SamModel``.
        processor: Its ``SamProcessor``.
        image: RGB image ``(W, H)``.
        points: ``(x, y)`` pixel coordinates.
        labels: 1 (foreground) or 0 (background) per point; default all 1.
        boxes: ``(x0, y0, x1, y1)`` pixel boxes.

    Returns:
        float32 ``(H, W)`` in [0, 1]: ``max`` over prompts of ``sigmoid(mask logits)``.
    """
    import torch

    if not points and not boxes:
        raise ValueError("sam: give points=[(x, y), ...] and/or boxes=[(x0, y0, x1, y1), ...]")
    n_prompts = len(boxes) if boxes else 1
    inputs = processor(images=image, return_tensors="pt", **_prompt_inputs(points, labels, boxes, n_prompts))
    multimask = not boxes and len(points or ()) == 1
    param = next(model.parameters())
    union = None
    with torch.inference_mode():
        embeddings = model.get_image_embeddings(inputs["pixel_values"].to(param.device, param.dtype))
        for start in range(0, n_prompts, BOX_CHUNK):
            part = slice(start, start + BOX_CHUNK)
            prompt = {
                k: inputs[k][:, part].to(param.device, param.dtype if k != "input_labels" else inputs[k].dtype)
                for k in ("input_points", "input_labels", "input_boxes")
                if k in inputs
            }
            out = model(image_embeddings=embeddings, multimask_output=multimask, **prompt)
            logits = out.pred_masks.float()  # (1, prompts, candidates, h, w)
            if multimask:
                best = out.iou_scores[0].argmax(-1)  # (prompts,)
                logits = logits[:, torch.arange(logits.shape[1]), best][:, :, None]
            full = processor.post_process_masks(
                logits.cpu(), inputs["original_sizes"], inputs["reshaped_input_sizes"], binarize=False
            )[0]  # (prompts, 1, H, W) logits at the image's size
            top = full.amax(dim=(0, 1))
            union = top if union is None else torch.maximum(union, top)
    # sigmoid is monotonic: the max of the logits is the logit of the max probability.
    return torch.sigmoid(union).numpy().astype(np.float32)


def _prompt_inputs(points: Sequence[Sequence[float]] | None, labels: Sequence[int] | None,
                   boxes: Sequence[Sequence[float]] | None, n_prompts: int) -> dict[str, Any]:
    """The SamProcessor keywords for the prompts: with boxes, the points (if any) go with every box."""
    kwargs: dict[str, Any] = {}
    if points:
        pts = [[float(x), float(y)] for x, y in points]
        lab = [int(v) for v in labels] if labels is not None else [1] * len(pts)
        kwargs["input_points"] = [[pts] * n_prompts]
        kwargs["input_labels"] = [[lab] * n_prompts]
    if boxes:
        kwargs["input_boxes"] = [[[float(v) for v in b] for b in boxes]]
    return kwargs


def _pairs(value: Any, name: str, width: int) -> list[tuple[float, ...]]:
    try:
        items = [tuple(float(v) for v in item) for item in value]
    except TypeError:
        raise TypeError(f"sam: {name} must be a list of {width}-tuples of numbers, got {value!r}") from None
    if not items or any(len(item) != width or not all(np.isfinite(item)) for item in items):
        raise ValueError(f"sam: {name} must be a non-empty list of finite {width}-tuples, got {value!r}")
    return items


@register_generator(SPEC)
def sam(
    image: Image.Image,
    phrase: Any = None,
    model: str | None = None,
    *,
    points: Sequence[Sequence[float]] | None = None,
    labels: Sequence[int] | None = None,
    boxes: Sequence[Sequence[float]] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
) -> ChangeMap:
    """SAM map from user prompts; ``phrase`` is ignored.

    Args:
        image: RGB image.
        phrase: Ignored (SAM reads no text).
        model: Hub id or folder of a SAM checkpoint (default ``facebook/sam-vit-base``).
        points: ``[(x, y), ...]`` clicks in pixels (x right, y down), all on/around ONE object.
        labels: ``[1 | 0, ...]`` per point; 1 = object, 0 = background. Default all 1.
        boxes: ``[(x0, y0, x1, y1), ...]`` pixel boxes, one object each.
        device: Torch device.
        dtype: Weights' dtype name.

    Returns:
        ChangeMap ``(H, W)`` float32 in [0, 1]; provenance ``"sam(points=2, boxes=1)"``.

    Raises:
        ValueError: No prompt, malformed coordinates, labels not 0/1 or of the wrong length, or an empty box.
    """
    pts = _pairs(points, "points", 2) if points is not None else None
    bxs = _pairs(boxes, "boxes", 4) if boxes is not None else None
    if pts is None and bxs is None:
        raise ValueError("sam: give points=[(x, y), ...] and/or boxes=[(x0, y0, x1, y1), ...]")
    if labels is not None and (pts is None or len(labels) != len(pts) or any(v not in (0, 1) for v in labels)):
        raise ValueError(f"sam: labels must be one 0/1 per point, got {labels!r} for points {points!r}")
    if bxs is not None and any(x1 <= x0 or y1 <= y0 for x0, y0, x1, y1 in bxs):
        raise ValueError(f"sam: boxes must have x1 > x0 and y1 > y0, got {boxes!r}")
    net, processor = load_sam(model, device, dtype)
    values = sam_union(net, processor, image, points=pts, labels=labels, boxes=bxs)
    what = [f"points={len(pts)}"] if pts else []
    what += [f"boxes={len(bxs)}"] if bxs else []
    return ChangeMap(values, provenance=f"sam({', '.join(what)})")
