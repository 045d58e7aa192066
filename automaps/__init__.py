"""automaps: text-driven change maps for per-pixel-strength image editing.

A change map is float32 ``(H, W)`` in [0, 1] at the image's resolution; 1 = regenerate fully, 0 = keep.
Heavy libraries (torch, scipy, OpenCV, transformers) are imported inside the functions that need them, so
``import automaps`` stays fast.
"""

from __future__ import annotations

from automaps import ops
from automaps.changemap import ChangeMap

__all__ = [
    "ChangeMap",
    "ops",
]
