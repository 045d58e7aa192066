"""Classic ways to paste filled content into an image: the baselines soft inpainting is compared against.

- :func:`alpha_blend`: per-pixel α-compositing ``α·fg + (1 − α)·bg`` (Porter & Duff's "over" with a soft matte).
- :func:`poisson_blend`: gradient-domain blending (Pérez et al., "Poisson Image Editing", 2003), OpenCV's
  ``seamlessClone``.
- :func:`laplacian_blend`: multi-band blending (Burt & Adelson, "A Multiresolution Spline", 1983) with
  OpenCV's ``pyrDown``/``pyrUp``.

Polarity as everywhere in automaps: a mask/α of 1 takes the *foreground* (the new content), 0 keeps the
background (the original image). Images are uint8 ``(H, W, 3)`` RGB arrays or PIL images; results are uint8
``(H, W, 3)`` arrays. OpenCV (``pip install automaps[maps]``) is imported inside the functions that need it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["alpha_blend", "default_levels", "laplacian_blend", "poisson_blend"]


def _rgb(image: Any, name: str) -> np.ndarray:
    a = np.asarray(image.convert("RGB")) if hasattr(image, "convert") else np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise TypeError(f"{name}: expected a uint8 (H, W, 3) array or a PIL image, got {a.dtype} {a.shape}")
    return a


def _mask(mask: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    m = np.asarray(mask)
    m = m.astype(np.float32) / 255.0 if m.dtype == np.uint8 else m.astype(np.float32)
    if m.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {m.shape}")
    if not np.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise ValueError(f"{name}: expected values in [0, 1] (1 = take the foreground)")
    return m


def _pair(background: Any, foreground: Any) -> tuple[np.ndarray, np.ndarray]:
    bg, fg = _rgb(background, "background"), _rgb(foreground, "foreground")
    if bg.shape != fg.shape:
        raise ValueError(f"foreground: expected the background's shape {bg.shape}, got {fg.shape}")
    return bg, fg


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def alpha_blend(background: Any, foreground: Any, alpha: Any) -> np.ndarray:
    """α-composite ``foreground`` over ``background``: ``out = α·fg + (1 − α)·bg`` per pixel.

    Args:
        background: the original image, uint8 ``(H, W, 3)`` or PIL.
        foreground: the new content, same size.
        alpha: ``(H, W)`` float in [0, 1] (or uint8 0..255, or bool); 1 = foreground, 0 = background.

    Returns:
        uint8 ``(H, W, 3)``.

    Example:
        >>> bg, fg = np.zeros((1, 3, 3), np.uint8), np.full((1, 3, 3), 200, np.uint8)
        >>> alpha_blend(bg, fg, np.array([[0.0, 0.5, 1.0]]))[0, :, 0].tolist()
        [0, 100, 200]
    """
    bg, fg = _pair(background, foreground)
    a = _mask(alpha, bg.shape[:2], "alpha")[..., None]
    return _to_uint8(a * fg.astype(np.float32) + (1.0 - a) * bg.astype(np.float32))


def poisson_blend(background: Any, foreground: Any, mask: Any, mode: str = "normal") -> np.ndarray:
    """Paste the masked part of ``foreground`` into ``background`` in the gradient domain (``cv2.seamlessClone``).

    Inside the mask the result keeps the foreground's gradients (``"normal"``) or, per pixel, the stronger of
    the two images' gradients (``"mixed"``), and meets the background exactly on the mask's boundary. The
    foreground is placed at its own position (no shift): the clone centre is the mask's bounding-box centre
    computed the way OpenCV rounds it.

    Args:
        background: the original image, uint8 ``(H, W, 3)`` or PIL.
        foreground: the new content, same size.
        mask: ``(H, W)``; pixels above 0.5 (or 127 for uint8) are solved for, the rest are the background.
        mode: ``"normal"`` (``NORMAL_CLONE``) or ``"mixed"`` (``MIXED_CLONE``).

    Returns:
        uint8 ``(H, W, 3)``; the background itself when the mask is empty.
    """
    import cv2

    modes = {"normal": cv2.NORMAL_CLONE, "mixed": cv2.MIXED_CLONE}
    if mode not in modes:
        raise ValueError(f"mode: expected one of {sorted(modes)}, got {mode!r}")
    bg, fg = _pair(background, foreground)
    binary = (_mask(mask, bg.shape[:2], "mask") > 0.5).astype(np.uint8) * 255
    if not binary.any():
        return bg.copy()
    x, y, w, h = cv2.boundingRect(binary)
    # seamlessClone places the mask's bounding box at center - (w // 2, h // 2): this centre means "no shift".
    center = (x + w // 2, y + h // 2)
    # OpenCV works in BGR; the Poisson solve is per channel, so the channel order only has to round-trip.
    out = cv2.seamlessClone(fg[..., ::-1].copy(), bg[..., ::-1].copy(), binary, center, modes[mode])
    return np.ascontiguousarray(out[..., ::-1])


def default_levels(height: int, width: int) -> int:
    """Pyramid depth used when none is given: coarsest level still >= 8 px on the short side, at most 6."""
    return max(1, min(6, int(math.log2(max(8, min(height, width)) / 8))))


def laplacian_blend(background: Any, foreground: Any, mask: Any, levels: int | None = None) -> np.ndarray:
    """Multi-band blending: blend each Laplacian-pyramid band with the mask's Gaussian pyramid, then collapse.

    Low frequencies are mixed over wide transitions and fine detail over narrow ones, so a hard mask gives a
    seam that is smooth yet keeps both images' texture. With ``mask`` all 0 (or all 1) the result is the
    background (the foreground) up to rounding, because the pyramid collapses exactly.

    Args:
        background: the original image, uint8 ``(H, W, 3)`` or PIL.
        foreground: the new content, same size.
        mask: ``(H, W)`` float in [0, 1] (uint8 and bool accepted); 1 = foreground.
        levels: number of pyramid levels below full resolution (``None`` = :func:`default_levels`); it is capped
            so that the coarsest level keeps at least 2 pixels on its short side.

    Returns:
        uint8 ``(H, W, 3)``.
    """
    import cv2

    bg, fg = _pair(background, foreground)
    m = _mask(mask, bg.shape[:2], "mask")
    height, width = bg.shape[:2]
    levels = default_levels(height, width) if levels is None else int(levels)
    if levels < 0:
        raise ValueError(f"levels: expected an integer >= 0, got {levels!r}")
    levels = min(levels, max(0, int(math.log2(max(1, min(height, width)) / 2))))

    def gaussian(x: np.ndarray) -> list[np.ndarray]:
        pyramid = [x]
        for _ in range(levels):
            pyramid.append(cv2.pyrDown(pyramid[-1]))
        return pyramid

    def laplacian(x: np.ndarray) -> list[np.ndarray]:
        g = gaussian(x)
        bands = [g[i] - cv2.pyrUp(g[i + 1], dstsize=(g[i].shape[1], g[i].shape[0])) for i in range(levels)]
        return [*bands, g[-1]]

    weights = [w[..., None] for w in gaussian(m)]
    blended = [w * f + (1.0 - w) * b for w, f, b in
               zip(weights, laplacian(fg.astype(np.float32)), laplacian(bg.astype(np.float32)), strict=True)]
    out = blended[-1]
    for band in reversed(blended[:-1]):
        out = cv2.pyrUp(out, dstsize=(band.shape[1], band.shape[0])) + band
    return _to_uint8(out)
