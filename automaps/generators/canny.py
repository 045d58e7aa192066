"""Canny edges (Canny, PAMI 1986) through OpenCV: the control image of edge ControlNets, no weights.

The map is 1 on edge pixels and 0 elsewhere, as ``cv2.Canny`` draws them (white edges on black is what Canny
ControlNets were trained on). As a *change* map it is rarely what an edit wants; it exists so that
``automaps.generate(image, source="canny")`` gives the same edges a ControlNet sees (``pipelines.control``).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from automaps.changemap import ChangeMap
from automaps.edges import canny_edges
from automaps.generators.registry import GeneratorSpec, ParamSpec, register_generator

__all__ = ["SPEC", "canny"]

SPEC = GeneratorSpec(
    name="canny",
    summary="Canny edges (OpenCV, no weights): the control image of edge ControlNets",
    default_model=None,
    revision=None,
    license="Apache-2.0 (OpenCV)",
    extra="maps",
    params={
        "low": ParamSpec(100, min=0, max=1000, help="lower hysteresis threshold on the 0-255 gradient"),
        "high": ParamSpec(200, min=0, max=1000, help="upper hysteresis threshold on the 0-255 gradient"),
    },
    needs_phrase=False,
)


@register_generator(SPEC)
def canny(image: Image.Image, phrase: Any = None, model: Any = None, *, low: float = 100,
          high: float = 200) -> ChangeMap:
    """Canny edge map; ``phrase`` and ``model`` are ignored.

    Args:
        image: RGB image.
        phrase: Ignored.
        model: Unused (no weights).
        low: Lower hysteresis threshold.
        high: Upper hysteresis threshold.

    Returns:
        ChangeMap ``(H, W)`` float32 in {0, 1}, 1 = edge; provenance ``"canny(100, 200)"``.

    Raises:
        ValueError: ``low`` above ``high``.
        ImportError: OpenCV is missing.
    """
    return ChangeMap(canny_edges(image, low, high), provenance=f"canny({low:g}, {high:g})")
