"""Depth: a normalised depth map, for edits that grow with distance ("change the background progressively").

Depth Anything V2 (Yang et al., 2024; default ``depth-anything/Depth-Anything-V2-Small-hf``) predicts *relative
inverse depth*: large = near. The prediction is resized to the image (``post_process_depth_estimation``),
min-max normalised to [0, 1], flipped according to ``polarity`` and raised to ``gamma``. Metric checkpoints
(``config.depth_estimation_type == "metric"``) predict depth itself (large = far) and are flipped accordingly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from automaps.changemap import ChangeMap
from automaps.generators.loading import device_params, load, resolve_dtype
from automaps.generators.registry import GeneratorSpec, ParamSpec, register_generator
from automaps.models import DEFAULT_MODELS

__all__ = ["SPEC", "depth", "nearness"]

_INFO = DEFAULT_MODELS["depth"]

SPEC = GeneratorSpec(
    name="depth",
    summary="Depth Anything V2 normalised depth: background/foreground gradients ('far' or 'near' = 1)",
    default_model=_INFO.id,
    revision=_INFO.revision,
    license=_INFO.license,
    extra=None,
    params={
        "polarity": ParamSpec("far", choices=("far", "near"), help="which end is 1: 'far' (background) or 'near'"),
        "gamma": ParamSpec(1.0, min=0.05, max=20.0, help="map ** gamma: > 1 concentrates the change at the far end"),
        **device_params(),
    },
    needs_phrase=False,
)


def nearness(model: Any, processor: Any, image: Image.Image) -> np.ndarray:
    """Normalised nearness of every pixel (1 = nearest, 0 = farthest).

    Args:
        model: Loaded depth-estimation model (Depth Anything, DPT, ...).
        processor: Its image processor (``post_process_depth_estimation``).
        image: RGB image ``(W, H)``.

    Returns:
        float32 ``(H, W)`` in [0, 1]; all zeros if the prediction is flat (no depth information).
    """
    import torch

    param = next(model.parameters())
    inputs = processor(images=image, return_tensors="pt")
    with torch.inference_mode():
        out = model(pixel_values=inputs["pixel_values"].to(param.device, param.dtype))
    out.predicted_depth = out.predicted_depth.float()
    pred = processor.post_process_depth_estimation(out, target_sizes=[(image.height, image.width)])[0]
    d = pred["predicted_depth"].cpu().numpy().astype(np.float64)
    if getattr(model.config, "depth_estimation_type", "relative") == "metric":
        d = -d  # metric depth: large = far; turn it into nearness like the relative (inverse-depth) models
    lo, hi = float(d.min()), float(d.max())
    if not np.isfinite([lo, hi]).all() or hi - lo < 1e-12:
        return np.zeros(d.shape, np.float32)
    return ((d - lo) / (hi - lo)).astype(np.float32)


@register_generator(SPEC)
def depth(
    image: Image.Image,
    phrase: Any = None,
    model: str | None = None,
    *,
    polarity: str = "far",
    gamma: float = 1.0,
    device: str = "cpu",
    dtype: str = "float32",
) -> ChangeMap:
    """Depth map in [0, 1]; ``phrase`` is ignored.

    Args:
        image: RGB image.
        phrase: Ignored.
        model: Hub id or folder of a depth-estimation checkpoint (default Depth Anything V2 Small).
        polarity: ``"far"``: farthest = 1, nearest = 0 (change the background most); ``"near"``: the opposite.
        gamma: Exponent applied after normalisation (1 = linear in relative inverse depth).
        device: Torch device.
        dtype: Weights' dtype name.

    Returns:
        ChangeMap ``(H, W)`` float32 in [0, 1]; provenance ``"depth(far)"`` or ``"depth(near, gamma=2)"``;
        all zeros (``"depth(far, flat)"``) when the prediction is constant.
    """
    import transformers

    net, processor = load(
        transformers.AutoModelForDepthEstimation,
        transformers.AutoImageProcessor,
        model or SPEC.default_model,
        revision=SPEC.revision if model is None else "main",
        device=device,
        dtype=resolve_dtype(dtype),
    )
    near = nearness(net, processor, image)
    if near.max() == 0:  # a flat prediction says nothing about depth: change nothing rather than everything
        return ChangeMap(near, provenance=f"depth({polarity}, flat)")
    values = near if polarity == "near" else np.float32(1) - near
    if gamma != 1.0:
        values = np.power(values, np.float32(gamma))
    notes = [polarity] + ([f"gamma={gamma:g}"] if gamma != 1.0 else [])
    return ChangeMap(np.clip(values, 0, 1).astype(np.float32), provenance=f"depth({', '.join(notes)})")
