"""automaps: text-driven change maps for per-pixel-strength image editing.

A change map is float32 ``(H, W)`` in [0, 1] at the image's resolution; 1 = regenerate fully, 0 = keep.
Heavy libraries (torch, scipy, OpenCV, transformers) are imported inside the functions that need them, so
``import automaps`` stays fast.

>>> from automaps import plan
>>> plan("make the sky stormy").regions
['sky']
"""

from __future__ import annotations

from automaps import ops
from automaps.changemap import ChangeMap
from automaps.generators import ModelNotAvailableError, generate, list_generators, release
from automaps.plan_types import EditPlan, Planner
from automaps.planner import plan

__all__ = [
    "ChangeMap",
    "EditPlan",
    "ModelNotAvailableError",
    "Planner",
    "generate",
    "list_generators",
    "ops",
    "plan",
    "release",
]
