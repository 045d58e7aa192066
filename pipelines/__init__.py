"""pipelines: the front door. ``edit(image, "make the sky stormy")`` plans the instruction, builds a change
map with automaps' generators and edits with diffdiff's Differential Diffusion editor.

>>> from pipelines import edit                                        # doctest: +SKIP
>>> result = edit(image, "make the sky stormy")                       # doctest: +SKIP
>>> result.image, result.change_map, result.plan                      # doctest: +SKIP
"""

from pipelines.edit import EditResult, edit

__all__ = ["EditResult", "edit"]
