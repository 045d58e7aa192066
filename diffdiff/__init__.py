"""diffdiff: Differential Diffusion (Levin & Fried, "Giving Each Pixel Its Strength") over stock
diffusers img2img pipelines.

>>> from diffdiff import DifferentialEditor                                   # doctest: +SKIP
>>> editor = DifferentialEditor.from_pretrained("stable-diffusion-v1-5/stable-diffusion-v1-5")  # doctest: +SKIP
>>> out = editor(image, "a stormy sky", change_map)                            # doctest: +SKIP

Change maps: float in [0, 1], 1 = regenerate fully, 0 = keep (``invert_map=True`` reads the paper's
white = keep maps).

The errors are the project's one hierarchy (:mod:`automaps.errors`), re-exported here; diffdiff builds on
automaps' foundation (errors, hub helpers, image files) and never on its generators or planner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from automaps.errors import ModelNotAvailableError, UnsupportedPipelineError

if TYPE_CHECKING:
    from diffdiff.editor import DifferentialEditor, DifferentialOutput
    from diffdiff.schedulers import SCHEDULER_NAMES

# Imported on first use: the light submodules (``diffdiff.cli_flags``, ``diffdiff.models``, ...) are read by
# commands that load no model (``automaps plan``), and importing this package must not pull in torch for them.
_LAZY = {"DifferentialEditor": "diffdiff.editor", "DifferentialOutput": "diffdiff.editor",
         "SCHEDULER_NAMES": "diffdiff.schedulers"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'diffdiff' has no attribute {name!r}")

__all__ = [
    "SCHEDULER_NAMES",
    "DifferentialEditor",
    "DifferentialOutput",
    "ModelNotAvailableError",
    "UnsupportedPipelineError",
]
