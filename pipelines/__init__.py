"""pipelines: the front door. ``edit(image, "make the sky stormy")`` plans the instruction, builds a change
map with automaps' generators and edits with diffdiff's Differential Diffusion editor.

The paper's tools live here too: :func:`strength_fan` (every strength of an edit side by side),
:func:`soft_inpaint` (fill a hole, fade the change over a band) and :mod:`pipelines.metrics` (edit-strength
maps, CAM, DAM, the reliability score).

>>> from pipelines import edit                                        # doctest: +SKIP
>>> result = edit(image, "make the sky stormy")                       # doctest: +SKIP
>>> result.image, result.change_map, result.plan                      # doctest: +SKIP
"""

from pipelines import metrics
from pipelines.edit import EditResult, edit
from pipelines.fan import FanResult, strength_fan
from pipelines.inpaint import InpaintResult, soft_inpaint

__all__ = ["EditResult", "FanResult", "InpaintResult", "edit", "metrics", "soft_inpaint", "strength_fan"]
