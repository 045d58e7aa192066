"""Canny edges (Canny, PAMI 1986) through OpenCV, as a pure function on a PIL image.

Foundation code: the ``canny`` map generator wraps it, and ``python -m diffdiff --control canny`` (which may
not import automaps' generators) calls it directly. OpenCV is imported when an edge map is made.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

__all__ = ["canny_edges"]


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as err:
        raise ImportError("Canny edges need OpenCV (cv2); install it with: pip install 'automaps[maps]'") from err
    return cv2


def canny_edges(image: Image.Image, low: float = 100, high: float = 200) -> np.ndarray:
    """Canny edges of an image's luminance.

    Args:
        image: a PIL image of any mode PIL converts to ``"L"``, size ``(W, H)``.
        low: lower hysteresis threshold (0-255 gradient scale, OpenCV's convention).
        high: upper hysteresis threshold; must be >= ``low``.

    Returns:
        float32 ``(H, W)``: 1 on edges, 0 elsewhere (white edges on black, as Canny ControlNets were trained).

    Raises:
        ValueError: ``low`` above ``high``.
        ImportError: OpenCV is missing (the message names ``automaps[maps]``).

    >>> canny_edges(Image.new("L", (8, 8))).max()
    np.float32(0.0)
    """
    if low > high:
        raise ValueError(f"low: expected at most high ({high!r}), got {low!r}")
    cv2 = _cv2()
    gray = np.ascontiguousarray(np.asarray(image.convert("L"), dtype=np.uint8))
    return (cv2.Canny(gray, float(low), float(high)) > 0).astype(np.float32)
