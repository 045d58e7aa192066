"""automaps: text-driven change maps for per-pixel-strength image editing, and the project's shared foundation.

A change map is float32 ``(H, W)`` in [0, 1] at the image's resolution; 1 = regenerate fully, 0 = keep.

The foundation every package builds on lives here too: :mod:`automaps.errors` (the one error hierarchy),
:mod:`automaps.hub` (offline mode, the missing-model error, device and dtype), :mod:`automaps.imagefiles`
(the guarded image opener, high-bit-depth scaling, image saving) and :mod:`automaps.io` (atomic writes).
``diffdiff`` imports these and ``ChangeMap``, never the generators or the planner, so the generators and the
planner load on first use (``automaps.generate``, ``automaps.plan``) and heavy libraries (torch, scipy,
OpenCV, transformers) inside the functions that need them: ``import automaps`` stays fast.

>>> from automaps import plan
>>> plan("make the sky stormy").regions
['sky']
"""

from __future__ import annotations

import importlib
from typing import Any

from automaps import ops
from automaps.changemap import ChangeMap
from automaps.errors import ModelNotAvailableError
from automaps.plan_types import EditPlan, Planner

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

# Names loaded on first use: importing the foundation (errors, hub, image files) must not load the generators.
_LAZY = {"generate": "automaps.generators", "list_generators": "automaps.generators",
         "release": "automaps.generators", "plan": "automaps.planner"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'automaps' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
