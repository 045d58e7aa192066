"""Adherence metrics of Differential Diffusion (Levin & Fried): does an edit change each pixel as much as its map says?

Definitions, exactly as implemented (``m`` = the change map, ``(H, W)`` in [0, 1], 1 = change fully):

- **Edit-strength map** ``EM(x, y)``: a per-pixel distance between the input ``x`` and the output ``y``,
  ``(H, W)``, >= 0. ``distance="lpips"``: spatial LPIPS (the ``lpips`` package, AlexNet, ``spatial=True``),
  used by ``"auto"`` when the package and its backbone weights are present; otherwise ``"lab"``: the CIE76
  colour difference ``ΔE = ‖Lab(x) − Lab(y)‖₂`` per pixel (sRGB, D65; 0 for equal pixels, about 2.3 for a
  just-noticeable difference, up to ~375). Any callable ``f(x, y) -> (H, W)`` can be passed instead.
- **Bias-corrected EM**: ``EM(x, y_m) − EM(x, y_1)``, where ``y_1`` is the edit of the same input with the
  all-change map (``m ≡ 1``), the same prompt and the same seed. It removes the part of the change that comes
  from the content (some regions change more than others at any strength).
- **CAM** (correlation adherence): the Pearson correlation between ``m`` and ``EM`` over all pixels; in
  [−1, 1], higher is better, 1 when EM is an increasing affine function of the map. Undefined (NaN) when
  either is constant.
- **DAM** (distance adherence): ``min over (a, b) of ‖m − (a·EM + b)‖_F``, solved in closed form by least
  squares (``a = cov(EM, m) / var(EM)``, ``b = mean(m) − a·mean(EM)``; ``a = 0`` for a constant EM); >= 0,
  lower is better, 0 when the map is an affine function of EM. It grows with ``sqrt(H·W)``: compare it at
  one image size.
- **Reliability score** (the paper's first version): the Pearson correlation between the column index and
  the per-column mean of EM, for an edit under a horizontal left-to-right gradient map; near 1 when change
  grows from left to right.

All functions are pure numpy (LPIPS uses torch).
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "DISTANCES",
    "affine_fit",
    "bias_corrected",
    "cam",
    "dam",
    "distance_name",
    "edit_strength_map",
    "lab_distance",
    "lpips_available",
    "lpips_distance",
    "pearson",
    "reliability_score",
    "srgb_to_lab",
]

DISTANCES = ("auto", "lpips", "lab")

Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]

_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                        [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]])


def _image(image: Any, name: str) -> np.ndarray:
    """float64 ``(H, W, 3)`` in [0, 1] from PIL, uint8 or float arrays."""
    a = np.asarray(image.convert("RGB")) if hasattr(image, "convert") else np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{name}: expected an (H, W, 3) image, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype.kind != "f" or not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise ValueError(f"{name}: expected uint8, or float values in [0, 1]")
    return a.astype(np.float64)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65, 2°) of sRGB colours.

    Args:
        rgb: float ``(..., 3)`` in [0, 1], sRGB-encoded.

    Returns:
        float64 ``(..., 3)``: L in [0, 100], a and b roughly in [−128, 127].

    Example:
        >>> bool(np.allclose(srgb_to_lab(np.array([1.0, 1.0, 1.0])), [100, 0, 0], atol=0.01))
        True
    """
    c = np.asarray(rgb, dtype=np.float64)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE_D65
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])],
                    axis=-1)


def lab_distance(source: np.ndarray, edited: np.ndarray) -> np.ndarray:
    """Per-pixel CIE76 colour difference ``‖Lab(source) − Lab(edited)‖₂``.

    Args:
        source, edited: float ``(H, W, 3)`` in [0, 1] (sRGB).

    Returns:
        float32 ``(H, W)``, >= 0.

    Example:
        >>> black, white = np.zeros((1, 1, 3)), np.ones((1, 1, 3))
        >>> float(lab_distance(black, white)[0, 0].round(2))
        100.0
    """
    return np.linalg.norm(srgb_to_lab(source) - srgb_to_lab(edited), axis=-1).astype(np.float32)


def _alexnet_checkpoint() -> str | None:
    import torch

    found = glob.glob(os.path.join(torch.hub.get_dir(), "checkpoints", "alexnet-owt-*.pth"))
    return found[0] if found else None


def lpips_available() -> bool:
    """True when ``import lpips`` works and torchvision's AlexNet weights are in the torch hub cache (no download)."""
    try:
        import lpips  # noqa: F401
    except Exception:  # ImportError, or torchvision failing to import its operators
        return False
    return _alexnet_checkpoint() is not None


@functools.lru_cache(maxsize=2)
def _lpips_model(net: str) -> Any:
    import lpips

    return lpips.LPIPS(net=net, spatial=True, verbose=False).eval()


def lpips_distance(source: np.ndarray, edited: np.ndarray, net: str = "alex") -> np.ndarray:
    """Spatial LPIPS (Zhang et al. 2018) between two images, at the images' resolution.

    Args:
        source, edited: float ``(H, W, 3)`` in [0, 1].
        net: the LPIPS backbone, ``"alex"`` (the paper's) or ``"vgg"``.

    Returns:
        float32 ``(H, W)``, >= 0.

    Raises:
        RuntimeError: ``lpips`` or its backbone weights are missing (never downloads).
    """
    if not lpips_available():
        raise RuntimeError(
            "distance='lpips': the lpips package (which needs torchvision) or the AlexNet weights in the torch hub "
            "cache are missing; install them (pip install lpips) or use distance='lab'"
        )
    import torch

    model = _lpips_model(net)
    to_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    with torch.no_grad():
        d = model(to_tensor(source), to_tensor(edited), normalize=True)  # normalize: inputs are in [0, 1]
    return d[0, 0].cpu().numpy().astype(np.float32)


def edit_strength_map(source: Any, edited: Any, distance: str | Distance = "auto") -> np.ndarray:
    """EM: how much each pixel changed between ``source`` and ``edited``.

    Args:
        source: the input image: PIL, uint8 ``(H, W, 3)``, or float ``(H, W, 3)`` in [0, 1].
        edited: the output image, same size.
        distance: ``"lpips"`` (spatial LPIPS), ``"lab"`` (CIE76 ΔE per pixel), ``"auto"`` (LPIPS when
            :func:`lpips_available`, else ``"lab"``), or a callable ``f(source, edited) -> (H, W)`` over float
            ``(H, W, 3)`` arrays in [0, 1].

    Returns:
        float32 ``(H, W)``, >= 0; 0 where the pixels are equal (for ``"lab"``).

    Example:
        >>> x = np.zeros((2, 2, 3), np.uint8); y = x.copy(); y[0, 1] = 255
        >>> edit_strength_map(x, y, "lab").round(1).tolist()
        [[0.0, 100.0], [0.0, 0.0]]
    """
    x, y = _image(source, "source"), _image(edited, "edited")
    if x.shape != y.shape:
        raise ValueError(f"edited: expected the source's shape {x.shape}, got {y.shape}")
    if callable(distance):
        fn = distance
    elif distance == "lab" or (distance == "auto" and not lpips_available()):
        fn = lab_distance
    elif distance in ("lpips", "auto"):
        fn = lpips_distance
    else:
        raise ValueError(f"distance: expected one of {DISTANCES} or a callable, got {distance!r}")
    em = np.asarray(fn(x, y), dtype=np.float32)
    if em.shape != x.shape[:2]:
        raise ValueError(f"distance: returned shape {em.shape}, expected {x.shape[:2]}")
    return em


def distance_name(distance: str | Distance) -> str:
    """What ``distance`` resolves to: ``"lpips"``, ``"lab"`` or the callable's name."""
    if callable(distance):
        return getattr(distance, "__name__", "custom")
    return "lpips" if distance == "lpips" or (distance == "auto" and lpips_available()) else "lab"


def bias_corrected(em: np.ndarray, em_all_change: np.ndarray) -> np.ndarray:
    """Bias-corrected EM: ``em − em_all_change``.

    Args:
        em: EM of the edit under the map being measured, ``(H, W)``.
        em_all_change: EM of the edit of the same input with the all-change map (m ≡ 1), same prompt and seed.

    Returns:
        float32 ``(H, W)`` (may be negative).
    """
    em, ref = np.asarray(em, dtype=np.float32), np.asarray(em_all_change, dtype=np.float32)
    if em.shape != ref.shape:
        raise ValueError(f"em_all_change: expected shape {em.shape}, got {ref.shape}")
    return em - ref


def _pair(change_map: Any, em: Any) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(change_map, dtype=np.float64)
    e = np.asarray(em, dtype=np.float64)
    if m.shape != e.shape or m.ndim != 2:
        raise ValueError(f"em: expected the change map's (H, W) shape {m.shape}, got {e.shape}")
    return m.ravel(), e.ravel()


def pearson(x: Any, y: Any) -> float:
    """Pearson correlation of two equally sized arrays (flattened); NaN when either is constant.

    Example:
        >>> pearson([1, 2, 3], [2, 4, 7]) > 0.99, pearson([1, 2, 3], [3, 2, 1])
        (True, -1.0)
    """
    a, b = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"y: expected {a.size} values, got {b.size}")
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a @ a) * (b @ b))
    return float(np.clip((a @ b) / norm, -1.0, 1.0)) if norm > 0 else float("nan")


def cam(change_map: Any, em: Any) -> float:
    """CAM: Pearson correlation between the change map and the edit-strength map; higher is better.

    Args:
        change_map: ``(H, W)`` in [0, 1], 1 = change fully (a ``ChangeMap`` or an array).
        em: ``(H, W)`` edit-strength map (raw or bias-corrected).

    Returns:
        A float in [−1, 1]; NaN when either map is constant.

    Example:
        >>> m = np.linspace(0, 1, 12).reshape(3, 4)
        >>> cam(m, 3 * m + 5)
        1.0
    """
    m, e = _pair(change_map, em)
    return pearson(m, e)


def affine_fit(change_map: Any, em: Any) -> tuple[float, float]:
    """The least-squares ``(a, b)`` minimising ``‖m − (a·EM + b)‖_F`` (``a = 0`` when EM is constant)."""
    m, e = _pair(change_map, em)
    centred = e - e.mean()
    var = centred @ centred
    a = float(centred @ (m - m.mean()) / var) if var > 0 else 0.0
    return a, float(m.mean() - a * e.mean())


def dam(change_map: Any, em: Any) -> float:
    """DAM: ``min over (a, b) of ‖m − (a·EM + b)‖_F`` (closed-form least squares); lower is better.

    Args:
        change_map: ``(H, W)`` in [0, 1], 1 = change fully.
        em: ``(H, W)`` edit-strength map (raw or bias-corrected).

    Returns:
        A float >= 0 (Frobenius norm of the residual; scales with ``sqrt(H·W)``).

    Example:
        >>> m = np.linspace(0, 1, 12).reshape(3, 4)
        >>> round(dam(m, 2 - 4 * m), 9), round(dam(m, np.zeros((3, 4))), 3)
        (0.0, 1.087)
    """
    m, e = _pair(change_map, em)
    a, b = affine_fit(change_map, em)
    residual = m - (a * e + b)
    return float(np.sqrt(residual @ residual))


def reliability_score(em: Any) -> float:
    """The first version's reliability score: Pearson(column index, per-column mean of EM).

    Meant for an edit under a horizontal left-to-right gradient map (``gradient`` generator, 0 at the left):
    1 when the change grows linearly from left to right, about 0 when it ignores the columns.

    Args:
        em: ``(H, W)`` edit-strength map.

    Returns:
        A float in [−1, 1]; NaN when every column changes equally.

    Example:
        >>> reliability_score(np.tile(np.arange(5.0), (3, 1)))
        1.0
    """
    e = np.asarray(em, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"em: expected (H, W), got shape {e.shape}")
    return pearson(np.arange(e.shape[1]), e.mean(axis=0))
