"""Saliency without weights: spectral residual (Hou & Zhang, CVPR 2007) through OpenCV contrib.

The subject of a photo is usually its most salient region, so ``invert=True`` gives "everything but the
subject" (a background edit) without any model download. OpenCV computes the residual at 64x64, so the raw map
is coarse and peaks on edges; it is smoothed (Gaussian, ``sigma`` as a fraction of the longer side) to fill
objects in, then min-max normalised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from automaps.changemap import ChangeMap
from automaps.generators.registry import GeneratorSpec, ParamSpec, register_generator

__all__ = ["SPEC", "saliency", "saliency_map"]

FLAT = 0.01  # relative contrast (max - min) / max below which the saliency map is treated as flat

SPEC = GeneratorSpec(
    name="saliency",
    summary="spectral-residual saliency (OpenCV contrib, no weights): subject vs background",
    default_model=None,
    revision=None,
    license="Apache-2.0 (OpenCV)",
    extra="maps",
    params={
        "method": ParamSpec(
            "spectral_residual", choices=("spectral_residual", "fine_grained"), help="OpenCV static saliency method"
        ),
        "sigma": ParamSpec(0.04, min=0.0, max=0.5, help="Gaussian smoothing, as a fraction of the longer side"),
        "invert": ParamSpec(False, choices=(False, True), help="True = the background (1 - saliency)"),
    },
    needs_phrase=False,
)


def _cv2() -> Any:
    try:
        import cv2

        cv2.saliency  # noqa: B018 - the contrib module is what is needed, not just cv2
    except (ImportError, AttributeError) as err:
        raise ImportError(
            "the 'saliency' map generator needs OpenCV contrib (cv2.saliency); "
            "install it with: pip install 'automaps[maps]'"
        ) from err
    return cv2


def saliency_map(image: Image.Image, method: str = "spectral_residual", sigma: float = 0.04) -> np.ndarray:
    """Smoothed, normalised static saliency.

    Args:
        image: RGB image ``(W, H)``.
        method: ``"spectral_residual"`` or ``"fine_grained"``.
        sigma: Gaussian smoothing as a fraction of the longer side (0 = none).

    Returns:
        float32 ``(H, W)`` in [0, 1], 1 = most salient; all zeros for a featureless image.
    """
    cv2 = _cv2()
    bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[..., ::-1])
    make = {
        "spectral_residual": cv2.saliency.StaticSaliencySpectralResidual_create,
        "fine_grained": cv2.saliency.StaticSaliencyFineGrained_create,
    }[method]
    ok, raw = make().computeSaliency(bgr)
    if not ok:  # pragma: no cover - OpenCV reports failure only for invalid input
        raise RuntimeError(f"OpenCV {method} saliency failed on a {image.size} image")
    s = np.asarray(raw, dtype=np.float32)
    if sigma > 0:
        s = cv2.GaussianBlur(s, (0, 0), sigmaX=max(sigma * max(image.size), 1e-3), borderType=cv2.BORDER_REFLECT)
    lo, hi = float(s.min()), float(s.max())
    # A featureless image gives a near-constant map (OpenCV returns ~1 everywhere, +-0.2%); min-max
    # normalisation would blow that noise up to a full-range pattern, so < 1% relative contrast counts as flat.
    if hi - lo <= FLAT * hi or hi <= 0:
        return np.zeros(s.shape, np.float32)
    return ((s - lo) / (hi - lo)).astype(np.float32)


@register_generator(SPEC)
def saliency(
    image: Image.Image,
    phrase: Any = None,
    model: Any = None,
    *,
    method: str = "spectral_residual",
    sigma: float = 0.04,
    invert: bool = False,
) -> ChangeMap:
    """Saliency map; ``phrase`` is ignored.

    Args:
        image: RGB image.
        phrase: Ignored.
        model: Unused (no weights).
        method: OpenCV static saliency method.
        sigma: Smoothing, fraction of the longer side.
        invert: Return ``1 - saliency`` (the background).

    Returns:
        ChangeMap ``(H, W)`` float32 in [0, 1]; provenance ``"saliency(spectral_residual)"`` (``", inverted"``).

    Raises:
        ImportError: OpenCV contrib is missing (the message names ``automaps[maps]``).
    """
    s = saliency_map(image, method, sigma)
    if s.max() == 0:  # featureless image: no subject, so no background either; change nothing
        return ChangeMap(s, provenance=f"saliency({method}, flat)")
    values = np.float32(1) - s if invert else s
    return ChangeMap(values, provenance=f"saliency({method}{', inverted' if invert else ''})")
