"""pipelines: the front door. ``edit(image, "make the sky stormy")`` plans the instruction, builds a change
map with automaps' generators and edits with diffdiff's Differential Diffusion editor.

The paper's tools live here too: :func:`strength_fan` (every strength of an edit side by side),
:func:`soft_inpaint` (fill a hole, fade the change over a band) and :mod:`pipelines.metrics` (edit-strength
maps, CAM, DAM, the reliability score).

>>> from pipelines import edit                                        # doctest: +SKIP
>>> result = edit(image, "make the sky stormy")                       # doctest: +SKIP
>>> result.image, result.change_map, result.plan                      # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines import metrics
    from pipelines.edit import EditResult, edit
    from pipelines.fan import FanResult, strength_fan
    from pipelines.inpaint import InpaintResult, soft_inpaint

__all__ = ["EditResult", "FanResult", "InpaintResult", "edit", "metrics", "soft_inpaint", "strength_fan"]

# name -> module defining it; imported on first use (PEP 562), so `automaps plan` loads none of them.
_LAZY = {"EditResult": "pipelines.edit", "edit": "pipelines.edit", "FanResult": "pipelines.fan",
         "strength_fan": "pipelines.fan", "InpaintResult": "pipelines.inpaint", "soft_inpaint": "pipelines.inpaint",
         "metrics": "pipelines.metrics"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if name == "metrics" else getattr(module, name)


class _Package(types.ModuleType):
    """Importing the submodule ``pipelines.edit`` sets the package's ``edit`` attribute to that module; the
    front door's ``pipelines.edit`` is the function, so that one assignment is ignored (``__getattr__`` answers)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if not (name == "edit" and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
