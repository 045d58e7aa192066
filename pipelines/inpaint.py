"""Soft inpainting (Levin & Fried, "Differential Diffusion", Sec. "Soft inpainting"): fill a hole and let the
surroundings adapt a little, fading to untouched, in one Differential Diffusion pass.

The change map is 1 in the hole, falls smoothly to 0 over a band of ``band`` pixels around it (measured with
a Euclidean distance transform) and is 0 beyond, so the original is kept bit for bit there. For comparison the
paper fills the same hole with a hard mask and pastes the fill back with α-compositing, Poisson blending or
Laplacian-pyramid blending (:mod:`pipelines.blending`); :func:`soft_inpaint` returns all four.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from automaps import ChangeMap
from pipelines.blending import alpha_blend, laplacian_blend, poisson_blend
from pipelines.sheet import contact_sheet, tile_size

__all__ = [
    "FALLOFFS",
    "InpaintResult",
    "blend_baselines",
    "falloff_curve",
    "read_hole",
    "soft_inpaint",
    "soft_inpaint_map",
]

FALLOFFS = ("linear", "cosine", "gaussian")
"""Shapes of the transition from 1 (at the hole) to 0 (``band`` pixels away); see :func:`falloff_curve`."""

_GAUSS_K = 4.5  # exp(-4.5 t^2): the Gaussian is at 1.1 % of its peak at t = 1 before renormalising to 0


def falloff_curve(t: np.ndarray, falloff: str = "cosine") -> np.ndarray:
    """The transition ``f(t)`` for ``t`` = distance / band in [0, 1]: ``f(0) = 1``, ``f(1) = 0``, non-increasing.

    - ``"linear"``: ``1 − t``;
    - ``"cosine"``: ``(1 + cos(π t)) / 2`` (flat at both ends: no kink at the hole or at the band's edge);
    - ``"gaussian"``: ``(exp(−4.5 t²) − exp(−4.5)) / (1 − exp(−4.5))`` (a Gaussian shifted and scaled to end at 0).

    Args:
        t: float array; values are clipped to [0, 1].
        falloff: one of :data:`FALLOFFS`.

    Returns:
        float32 array of ``t``'s shape, in [0, 1].

    Example:
        >>> falloff_curve(np.array([0.0, 0.5, 1.0]), "cosine").tolist()
        [1.0, 0.5, 0.0]
    """
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    if falloff == "linear":
        f = 1.0 - t
    elif falloff == "cosine":
        f = 0.5 * (1.0 + np.cos(np.pi * t))
    elif falloff == "gaussian":
        floor = np.exp(-_GAUSS_K)
        f = (np.exp(-_GAUSS_K * t * t) - floor) / (1.0 - floor)
    else:
        raise ValueError(f"falloff: expected one of {FALLOFFS}, got {falloff!r}")
    return np.clip(f, 0.0, 1.0).astype(np.float32)


def read_hole(mask: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a hole mask as bool ``(H, W)``: True = the hole to fill (white in a mask image).

    Args:
        mask: a path (image or ``.npy``), PIL image, ``ChangeMap``, or array (bool; uint8 0..255; float in
            [0, 1]). Pixels above one half are the hole.
        size: ``(W, H)`` to resize to (nearest neighbour) when the mask's size differs; ``None`` = as read.

    Returns:
        bool ``(H, W)``.

    Raises:
        ValueError: the mask is empty (no hole) or its values are invalid.
    """
    if isinstance(mask, (str, os.PathLike)):
        change = ChangeMap.from_file(mask)
    elif isinstance(mask, Image.Image):
        change = ChangeMap.from_pil(mask)
    else:
        change = ChangeMap.from_array(mask)
    values = change.values
    if size is not None and change.size != tuple(size):
        resized = Image.fromarray(values).resize(tuple(size), Image.Resampling.NEAREST)
        values = np.asarray(resized)
    hole = values > 0.5
    if not hole.any():
        raise ValueError("hole_mask: the mask has no hole (no pixel above one half; white = fill)")
    return hole


def soft_inpaint_map(hole: Any, band: float, falloff: str = "cosine") -> ChangeMap:
    """Change map for soft inpainting: 1 in the hole, ``falloff`` over ``band`` pixels around it, 0 beyond.

    ``d`` is the Euclidean distance from a pixel centre to the nearest hole pixel centre
    (``scipy.ndimage.distance_transform_edt``; 0 inside the hole, 1 for its 4-neighbours). The map is
    ``falloff_curve(d / band)`` for ``d < band`` and 0 for ``d >= band``: a non-increasing function of ``d``.

    Args:
        hole: bool ``(H, W)`` (True = hole), or anything :func:`read_hole` reads.
        band: width of the transition in pixels, >= 0; 0 gives the hard mask.
        falloff: ``"linear"``, ``"cosine"`` or ``"gaussian"`` (see :func:`falloff_curve`).

    Returns:
        ChangeMap ``(H, W)`` float32 in [0, 1], 1 = change fully; provenance ``"soft_inpaint(band=16, cosine)"``.

    Example:
        >>> hole = np.zeros((1, 7), bool); hole[0, 0] = True
        >>> soft_inpaint_map(hole, band=4, falloff="linear").values.round(2).tolist()
        [[1.0, 0.75, 0.5, 0.25, 0.0, 0.0, 0.0]]
    """
    from scipy import ndimage

    hole = np.asarray(hole) if isinstance(hole, np.ndarray) and hole.dtype == bool else read_hole(hole)
    if not hole.any():
        raise ValueError("hole: the mask has no hole (no True pixel)")
    if isinstance(band, bool) or not isinstance(band, (int, float, np.integer, np.floating)) or not band >= 0:
        raise ValueError(f"band: expected a number of pixels >= 0, got {band!r}")
    falloff_curve(np.zeros(1), falloff)  # validates the name before any work
    provenance = f"soft_inpaint(band={float(band):g}, {falloff})"
    if band == 0:
        return ChangeMap(hole.astype(np.float32), provenance=provenance)
    # distance_transform_edt measures to the nearest zero: zeros are the hole.
    distance = ndimage.distance_transform_edt(~hole)
    values = np.where(distance < band, falloff_curve(distance / float(band), falloff), 0.0)
    return ChangeMap(values.astype(np.float32), provenance=provenance)


@dataclass
class InpaintResult:
    """What :func:`soft_inpaint` made.

    Attributes:
        image: the soft-inpainted image (RGB, the input's size); equal to the input wherever the map is 0.
        change_map: the soft map (1 in the hole, falloff over the band, 0 beyond).
        hole: bool ``(H, W)``, True = the hole.
        fill: the hard-mask fill (change 1 in the hole only, decoded as the model returns it): the source of
            the baselines.
        baselines: ``{"alpha" | "poisson" | "laplacian": image}``: the fill pasted into the input by
            α-compositing (α = the soft map), Poisson blending over the hole and band, and Laplacian-pyramid
            blending with the hard hole (empty when ``baselines=False``).
        sheet: labelled contact sheet of all of the above.
        seed: the seed of both diffusion runs.
    """

    image: Image.Image
    change_map: ChangeMap
    hole: np.ndarray
    fill: Image.Image | None
    baselines: dict[str, Image.Image]
    sheet: Image.Image
    seed: int
    source: Image.Image = field(repr=False)


def blend_baselines(image: Image.Image, fill: Image.Image, hole: np.ndarray, change: ChangeMap,
                    band: float) -> dict[str, Image.Image]:
    """Paste a hard fill into ``image`` three ways, all over the same region as the soft map.

    Args:
        image: the original, RGB.
        fill: the hard-mask fill, RGB, the same size.
        hole: bool ``(H, W)``, True = hole.
        change: the soft map: α for α-compositing; its support (hole + band) is the Poisson region.
        band: transition width in pixels: the Laplacian pyramid gets about ``log2(band) + 1`` levels so its
            coarsest band spans the same width.

    Returns:
        ``{"alpha": ..., "poisson": ..., "laplacian": ...}`` RGB images.
    """
    from pipelines.blending import default_levels

    levels = default_levels(image.height, image.width) if band < 1 else int(np.ceil(np.log2(band + 1))) + 1
    return {
        "alpha": Image.fromarray(alpha_blend(image, fill, change.values)),
        "poisson": Image.fromarray(poisson_blend(image, fill, change.values > 0)),
        "laplacian": Image.fromarray(laplacian_blend(image, fill, hole.astype(np.float32), levels=levels)),
    }


def soft_inpaint(
    editor: Any,
    image: Any,
    hole_mask: Any,
    prompt: str,
    band: float | None = None,
    falloff: str = "cosine",
    *,
    steps: int = 30,
    seed: int = 0,
    guidance_scale: float | None = None,
    negative_prompt: str | None = None,
    baselines: bool = True,
    tile: int = 192,
    title: str | None = None,
) -> InpaintResult:
    """Fill ``hole_mask`` from ``prompt`` and blend the surroundings in, in one Differential Diffusion pass.

    Args:
        editor: a ``DifferentialEditor`` (or anything :func:`pipelines.models.load_editor` accepts). An
            inpainting checkpoint (families ``sd_inpaint``, ``sdxl_inpaint``, ``flux_fill``) works as it is: at
            each step its UNet/transformer sees the pixels free at that step as its mask.
        image: PIL image, path, or uint8 ``(H, W, 3)`` array.
        hole_mask: the hole, white/True/1 = fill (see :func:`read_hole`); resized to the image if needed.
        prompt: what to fill the hole with.
        band: transition width in pixels (``None`` = 1/16 of the image's long side); 0 = plain inpainting.
        falloff: ``"linear"``, ``"cosine"`` or ``"gaussian"``.
        steps: inference steps ``N``.
        seed: seed of the soft run and of the hard fill (same noise for both).
        guidance_scale: ``None`` = the model's default.
        negative_prompt: passed to the editor.
        baselines: also run the hard-mask fill and the α / Poisson / Laplacian baselines.
        tile: the long side of each contact-sheet tile in pixels.
        title: a line above the sheet.

    Returns:
        :class:`InpaintResult`.

    Raises:
        ValueError: an empty hole, a negative band, an unknown falloff.
    """
    import torch

    from pipelines.checks import check_knobs
    from pipelines.edit import _as_image
    from pipelines.models import load_editor

    check_knobs(steps=steps, seed=seed, guidance_scale=guidance_scale, negative_prompt=negative_prompt)
    if not isinstance(prompt, str):
        raise TypeError(f"prompt: expected a string, got {type(prompt).__name__}")
    steps, seed = int(steps), int(seed)  # numpy integers: torch takes int only
    editor, _ = load_editor(editor)
    source = _as_image(image)
    hole = read_hole(hole_mask, size=source.size)
    band = max(1.0, max(source.size) / 16) if band is None else band
    change = soft_inpaint_map(hole, band, falloff)
    call = {"num_inference_steps": steps, "guidance_scale": guidance_scale, "negative_prompt": negative_prompt}
    edited = editor(source, prompt, change, generator=torch.Generator().manual_seed(seed), **call).images[0]
    fill, blends = None, {}
    if baselines:
        # The model's whole output, not pasted: the baselines decide how it meets the original.
        fill = editor(source, prompt, hole.astype(np.float32), generator=torch.Generator().manual_seed(seed),
                      preserve_unchanged=False, **call).images[0]
        blends = blend_baselines(source, fill, hole, change, float(band))

    sheet = _inpaint_sheet(source, hole, change, edited, fill, blends, falloff, float(band), tile, title)
    return InpaintResult(edited, change, hole, fill, blends, sheet, seed, source)


def _inpaint_sheet(source: Image.Image, hole: np.ndarray, change: ChangeMap, edited: Image.Image,
                   fill: Image.Image | None, blends: dict[str, Image.Image], falloff: str, band: float, tile: int,
                   title: str | None) -> Image.Image:
    """The comparison sheet: input, hole, soft map, soft inpainting, then the hard fill and its three blends."""
    tiles: list[Any] = [source, ChangeMap(hole.astype(np.float32)).overlay(source), change, edited]
    labels = ["input", "hole", f"soft map ({falloff}, {band:g} px)", "soft inpainting"]
    if fill is not None:
        tiles += [fill, blends["alpha"], blends["poisson"], blends["laplacian"]]
        labels += ["hard fill", "alpha blend", "Poisson blend", "Laplacian blend"]
    return contact_sheet(tiles, labels, columns=4, tile_size=tile_size(source.size, tile), title=title)
