"""Region crop: when it is cheaper, edit a crop around the changed area at the model's native resolution and
paste it back through the map, so the cost follows the changed area rather than the image size.

The decision is a cost model, not a fixed area fraction: a denoising step costs about the number of latent
cells it processes, so the crop's cost is the area of its work size (the box scaled so its longer side is
the model's native resolution) and the whole image's is the area it would be edited at (the pixel budget).
The crop is taken when it costs at most :data:`CROP_GAIN` of the whole-image edit; the rest (encoding the
crop, pasting it back) is small beside the denoising steps. Kept pixels stay exact either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CROP_GAIN", "CropBox", "choose_crop", "crop_box", "crop_work_size", "native_resolution"]

CROP_GAIN = 0.8
"""A crop is worth it when its denoising cost is at most this fraction of the whole-image edit's."""


@dataclass(frozen=True)
class CropBox:
    """A pixel box ``[left, right) x [top, bottom)`` of the full image."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` like PIL."""
        return self.right - self.left, self.bottom - self.top

    @property
    def area(self) -> int:
        return (self.right - self.left) * (self.bottom - self.top)

    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)``, as ``PIL.Image.crop`` takes it."""
        return self.left, self.top, self.right, self.bottom


def native_resolution(editor) -> int:
    """The side, in pixels, the editor's model was trained at (512 for SD 1.5, 1024 for SDXL)."""
    pipe = editor.pipe
    factor = int(getattr(pipe, "vae_scale_factor", 8))
    for name in ("unet", "transformer"):
        model = getattr(pipe, name, None)
        sample = getattr(getattr(model, "config", None), "sample_size", None)
        if isinstance(sample, int):
            return sample * factor
        if isinstance(sample, (list, tuple)) and sample:
            return int(sample[0]) * factor
    return 512


def crop_box(change: np.ndarray, margin: float = 0.25, min_margin: int = 16) -> CropBox | None:
    """The box around the changed area, with context.

    The box is the bounding box of ``change > 0`` grown by ``margin`` of its size on each side (at least
    ``min_margin`` pixels) for context, made square where a square fits in the image (diffusion models see
    square crops best; a band across the image keeps its shape), and clipped to the image.

    Args:
        change: ``(H, W)`` float in [0, 1], 1 = change fully.
        margin: context around the changed area, as a fraction of its bounding box's longer side.
        min_margin: least context in pixels.

    Returns:
        A :class:`CropBox`, or ``None`` when nothing changes.

    >>> m = np.zeros((100, 100), np.float32); m[40:50, 40:50] = 1
    >>> crop_box(m)
    CropBox(left=24, top=24, right=66, bottom=66)
    """
    height, width = change.shape
    rows, cols = np.nonzero(np.any(change > 0, axis=1))[0], np.nonzero(np.any(change > 0, axis=0))[0]
    if rows.size == 0:
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    pad = max(min_margin, round(margin * max(bottom - top, right - left)))
    side = max(bottom - top, right - left) + 2 * pad
    if side <= min(height, width):
        box_h = box_w = side
    else:  # a square would not fit (a band across the image): keep the padded box's own shape
        box_h, box_w = min(bottom - top + 2 * pad, height), min(right - left + 2 * pad, width)
    center_y, center_x = (top + bottom) / 2, (left + right) / 2
    top = int(np.clip(round(center_y - box_h / 2), 0, height - box_h))
    left = int(np.clip(round(center_x - box_w / 2), 0, width - box_w))
    return CropBox(left, top, left + box_w, top + box_h)


def crop_work_size(box: CropBox, native: int, min_side: int = 16) -> tuple[int, int]:
    """``(width, height)`` a crop is edited at: scaled so its longer side is the model's native resolution.

    >>> crop_work_size(CropBox(0, 0, 300, 150), 512)
    (512, 256)
    """
    scale = native / max(box.size)
    return max(min_side, round(box.size[0] * scale)), max(min_side, round(box.size[1] * scale))


def choose_crop(change: np.ndarray, whole_size: tuple[int, int], native: int, gain: float = CROP_GAIN
                ) -> CropBox | None:
    """The crop to edit, or ``None`` to edit the whole image, by the cost model of the module docstring.

    Args:
        change: ``(H, W)`` float in [0, 1], 1 = change fully, at the image's resolution.
        whole_size: ``(width, height)`` the whole image would be edited at (within the pixel budget).
        native: the model's native resolution in pixels (:func:`native_resolution`).
        gain: the largest crop-to-whole cost ratio at which the crop is taken.

    Returns:
        The :class:`CropBox` (see :func:`crop_box`), or ``None``.

    >>> m = np.zeros((1024, 1024), np.float32); m[300:860, 200:760] = 1   # 30 % of the image
    >>> choose_crop(m, (1024, 1024), native=512) is not None, choose_crop(m, (1024, 1024), native=1024)
    (True, None)
    """
    box = crop_box(change)
    if box is None:
        return None
    width, height = crop_work_size(box, native)
    return box if width * height <= gain * whole_size[0] * whole_size[1] else None
