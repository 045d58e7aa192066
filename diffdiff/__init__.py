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

from automaps.errors import ModelNotAvailableError, UnsupportedPipelineError
from diffdiff.editor import DifferentialEditor, DifferentialOutput
from diffdiff.schedulers import SCHEDULER_NAMES

__all__ = [
    "SCHEDULER_NAMES",
    "DifferentialEditor",
    "DifferentialOutput",
    "ModelNotAvailableError",
    "UnsupportedPipelineError",
]
