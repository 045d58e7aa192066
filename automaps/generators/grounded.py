"""Grounded SAM: an open-vocabulary detector finds boxes for the phrase, SAM turns EVERY box into a soft mask.

Good for countable things ("the cat", "cars"): crisp object edges and every instance. The detector is
Grounding DINO (Liu et al., 2023; default ``IDEA-Research/grounding-dino-tiny``) or OWLv2 (Minderer et al., 2023;
``google/owlv2-base-patch16-ensemble``), chosen by ``detector=`` (the architecture is read from the checkpoint's
config). Boxes scoring above ``box_threshold`` go to SAM as prompts on one image embedding; the soft masks are
merged with max. When no box passes, the map is all zeros and the provenance says ``no boxes``: the ``auto``
router then falls back to CLIPSeg.
"""

from __future__ import annotations

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
from automaps.generators.sam import load_sam, sam_union
from automaps.models import DEFAULT_MODELS

__all__ = ["SPEC", "detect_boxes", "grounded", "grounded_params"]

_DINO = DEFAULT_MODELS["grounding_dino"]
_SAM = DEFAULT_MODELS["sam"]


def grounded_params() -> dict[str, ParamSpec]:
    """Parameters of the detector → SAM chain (shared with ``auto``)."""
    return {
        "detector": ParamSpec(
            None, help=f"detector hub id or folder: Grounding DINO or OWLv2 (default {_DINO.id})"
        ),
        "segmenter": ParamSpec(None, help=f"SAM hub id or folder (default {_SAM.id})"),
        "box_threshold": ParamSpec(0.3, min=0.0, max=1.0, help="keep boxes whose score exceeds this"),
        "text_threshold": ParamSpec(0.25, min=0.0, max=1.0, help="Grounding DINO: token score to name a box"),
        "max_boxes": ParamSpec(50, min=1, max=1000, help="at most this many boxes (highest scores) go to SAM"),
        **device_params(),
    }


SPEC = GeneratorSpec(
    name="grounded",
    summary="Grounding DINO / OWLv2 boxes -> SAM soft masks of every instance: countable things, crisp edges",
    default_model=_DINO.id,
    revision=_DINO.revision,
    license=_DINO.license,
    extra=None,
    params=grounded_params(),
    needs_phrase=True,
)


def detect_boxes(
    model: Any,
    processor: Any,
    image: Image.Image,
    phrases: Sequence[str],
    box_threshold: float = 0.3,
    text_threshold: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """Open-vocabulary boxes for ``phrases`` with a Grounding DINO or OWLv2 model.

    Args:
        model: Loaded ``GroundingDinoForObjectDetection`` or ``Owlv2ForObjectDetection``.
        processor: Its processor.
        image: RGB image ``(W, H)``.
        phrases: What to find (any of them).
        box_threshold: Keep boxes whose score is strictly greater.
        text_threshold: Grounding DINO's per-token threshold (only names the boxes; unused by OWLv2).

    Returns:
        ``(boxes, scores)``: float32 ``(n, 4)`` pixel ``(x0, y0, x1, y1)`` boxes clipped to the image, sorted by
        decreasing score, degenerate (empty after clipping) boxes dropped; float32 ``(n,)`` scores.
    """
    import torch

    param = next(model.parameters())
    size = [(image.height, image.width)]
    kind = model.config.model_type
    with torch.inference_mode():
        if kind == "owlv2":
            inputs = processor(text=[list(phrases)], images=image, return_tensors="pt")
            out = model(**_to(inputs, param))
            result = processor.post_process_grounded_object_detection(out, threshold=box_threshold, target_sizes=size)
        else:
            # Grounding DINO reads one lower-case string with phrases separated by " . ".
            text = ". ".join(p.lower() for p in phrases) + "."
            inputs = processor(images=image, text=text, return_tensors="pt")
            out = model(**_to(inputs, param))
            result = processor.post_process_grounded_object_detection(
                out, inputs["input_ids"], threshold=box_threshold, text_threshold=text_threshold, target_sizes=size
            )
    boxes = result[0]["boxes"].float().cpu().numpy().reshape(-1, 4)
    scores = result[0]["scores"].float().cpu().numpy().reshape(-1)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, image.width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, image.height)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) & (scores > box_threshold)
    order = np.argsort(-scores[keep], kind="stable")
    return boxes[keep][order].astype(np.float32), scores[keep][order].astype(np.float32)


def _to(inputs: Any, param: Any) -> dict[str, Any]:
    # Only floating tensors take the model's dtype; ids and masks stay integer.
    return {
        k: v.to(param.device, param.dtype if v.is_floating_point() else v.dtype) if hasattr(v, "to") else v
        for k, v in inputs.items()
    }


def load_detector(detector: str | None = None, device: str = "cpu", dtype: str = "float32") -> tuple[Any, Any]:
    """Load (cached) a zero-shot detector (Grounding DINO or OWLv2; the config says which) + processor."""
    import transformers

    return load(
        transformers.AutoModelForZeroShotObjectDetection,
        transformers.AutoProcessor,
        detector or _DINO.id,
        revision=_DINO.revision if detector is None else "main",
        device=device,
        dtype=resolve_dtype(dtype),
    )


@register_generator(SPEC)
def grounded(
    image: Image.Image,
    phrase: str | Sequence[str],
    model: str | None = None,
    *,
    detector: str | None = None,
    segmenter: str | None = None,
    box_threshold: float = 0.3,
    text_threshold: float = 0.25,
    max_boxes: int = 50,
    device: str = "cpu",
    dtype: str = "float32",
) -> ChangeMap:
    """Detector boxes for ``phrase`` → SAM soft masks of every box, merged with max.

    Args:
        image: RGB image.
        phrase: What to find: a string or a list of strings (any of them).
        model: Alias of ``detector``.
        detector: Grounding DINO or OWLv2 hub id / folder (default ``IDEA-Research/grounding-dino-tiny``).
        segmenter: SAM hub id / folder (default ``facebook/sam-vit-base``).
        box_threshold: Keep boxes whose score exceeds this (1.0 keeps none).
        text_threshold: Grounding DINO's token threshold.
        max_boxes: At most this many (highest-scoring) boxes are segmented.
        device: Torch device.
        dtype: Weights' dtype name.

    Returns:
        ChangeMap ``(H, W)`` float32 in [0, 1]: provenance ``"grounded('cat', 3 boxes)"``; all zeros with
        ``"grounded('cat', no boxes)"`` when nothing scores above ``box_threshold``.
    """
    if model is not None and detector is not None and model != detector:
        raise TypeError("grounded: pass the detector as detector= or model=, not both")
    phrases = phrases_of(phrase)
    what = describe_phrase(phrase)
    det, det_proc = load_detector(detector or model, device, dtype)
    boxes, _scores = detect_boxes(det, det_proc, image, phrases, box_threshold, text_threshold)
    boxes = boxes[: int(max_boxes)]
    if len(boxes) == 0:
        return ChangeMap(np.zeros((image.height, image.width), np.float32), provenance=f"grounded({what}, no boxes)")
    seg, seg_proc = load_sam(segmenter, device, dtype)
    values = sam_union(seg, seg_proc, image, boxes=boxes.tolist())
    n = len(boxes)
    return ChangeMap(values, provenance=f"grounded({what}, {n} box{'es' if n != 1 else ''})")
