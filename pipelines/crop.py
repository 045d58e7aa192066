"""Region crop: when the changed area is small, edit a crop around it at the model's native resolution and
paste it back through the map, so the cost follows the changed area rather than the image size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CropBox", "crop_box", "native_resolution"]


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


def crop_box(change: np.ndarray, margin: float = 0.25, min_margin: int = 16, max_fraction: float = 0.5
             ) -> CropBox | None:
    """The box to edit when the changed area is small, or ``None`` to edit the whole image.

    The box is the bounding box of ``change > 0`` grown by ``margin`` of its size on each side (at least
    ``min_margin`` pixels) for context, made square where the image allows (diffusion models see square
    crops best), and clipped to the image.

    Args:
        change: ``(H, W)`` float in [0, 1], 1 = change fully.
        margin: context around the changed area, as a fraction of its bounding box's longer side.
        min_margin: least context in pixels.
        max_fraction: crop only when the box covers less than this fraction of the image.

    Returns:
        A :class:`CropBox`, or ``None`` (nothing changes, or the box is too large to be worth it).

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
    box_h, box_w = min(side, height), min(side, width)
    center_y, center_x = (top + bottom) / 2, (left + right) / 2
    top = int(np.clip(round(center_y - box_h / 2), 0, height - box_h))
    left = int(np.clip(round(center_x - box_w / 2), 0, width - box_w))
    box = CropBox(left, top, left + box_w, top + box_h)
    if box.area >= max_fraction * height * width:
        return None
    return box
