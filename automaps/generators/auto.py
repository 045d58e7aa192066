"""``auto``: route each phrase to the generator that suits it.

"Stuff" - amorphous regions without a count, like sky, water or grass (the COCO-Stuff sense) - has no box to
detect and soft borders, so it goes to CLIPSeg. Countable things ("the cat", "cars") go to Grounded SAM for crisp
edges and every instance; when the detector finds no box above its threshold the phrase falls back to CLIPSeg,
which always answers. The route taken is recorded in the provenance: ``"auto->clipseg('sky')"``,
``"auto->grounded('cat')"``, ``"auto->clipseg('cat', no boxes)"``. A list mixing both kinds is split, each part
routed, and the maps merged with max.

A phrase is "stuff" when its head noun is in :data:`STUFF`. The head noun is the last word before the first
preposition ("the sky above the city" -> "sky", "dark storm clouds" -> "clouds"), singularised by a trailing "s".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from PIL import Image

from automaps.changemap import ChangeMap
from automaps.generators import clipseg as _clipseg
from automaps.generators import grounded as _grounded
from automaps.generators.loading import device_params
from automaps.generators.registry import GeneratorSpec, ParamSpec, phrases_of, register_generator

__all__ = ["SPEC", "STUFF", "auto", "head_noun", "is_stuff"]

#: Head nouns routed to CLIPSeg: scene regions without a natural count (mostly COCO-Stuff categories).
STUFF: frozenset[str] = frozenset({
    # sky and weather
    "sky", "skies", "cloud", "clouds", "fog", "mist", "haze", "smoke", "rain", "sunset", "sunrise", "horizon",
    # water
    "water", "sea", "ocean", "lake", "river", "pond", "waves", "wave", "surf", "waterfall",
    # ground and terrain
    "ground", "grass", "lawn", "field", "meadow", "road", "street", "pavement", "sidewalk", "path", "dirt",
    "mud", "sand", "beach", "snow", "ice", "gravel", "soil", "desert", "terrain", "hill", "hills", "mountain",
    "mountains", "rock", "rocks", "stone", "land", "landscape", "scenery",
    # vegetation
    "forest", "trees", "foliage", "vegetation", "bushes", "leaves", "hedge", "plants", "flowers",
    # indoor surfaces
    "wall", "walls", "floor", "ceiling", "carpet", "rug", "tiles", "wallpaper",
    # whole-scene regions and materials
    "background", "foreground", "backdrop", "surroundings", "scene", "environment", "hair", "fur", "skin",
    "fire", "light", "lighting", "shadow", "shadows",
})

_PREPOSITIONS = frozenset({
    "of", "in", "on", "at", "above", "below", "behind", "under", "over", "near", "with", "without", "beside",
    "between", "around", "across", "along", "through", "from", "into", "onto", "against", "by",
})
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")

SPEC = GeneratorSpec(
    name="auto",
    summary="routes 'stuff' (sky, water, grass, ...) to clipseg and countable things to grounded (clipseg fallback)",
    default_model=_clipseg.SPEC.default_model,
    revision=_clipseg.SPEC.revision,
    license=_clipseg.SPEC.license,
    extra=None,
    params={
        **_grounded.grounded_params(),
        "tile": ParamSpec(None, choices=(None, True, False), help="clipseg: tile large images (None = auto)"),
        **device_params(),
    },
    needs_phrase=True,
)


def head_noun(phrase: str) -> str:
    """The phrase's head noun: the last word before the first preposition, lower-case ("" if none).

    Example:
        >>> head_noun("the dark sky above the city"), head_noun("a red car")
        ('sky', 'car')
    """
    words = _WORD.findall(phrase.lower())
    head = ""
    for w in words:
        if w in _PREPOSITIONS and head:
            break
        head = w
    return head


def is_stuff(phrase: str) -> bool:
    """True if ``phrase``'s head noun (or its singular, trailing "s" removed) is in :data:`STUFF`.

    Example:
        >>> is_stuff("the stormy sky"), is_stuff("brick walls"), is_stuff("the cat")
        (True, True, False)
    """
    head = head_noun(phrase)
    return head in STUFF or (head.endswith("s") and head[:-1] in STUFF)


@register_generator(SPEC)
def auto(
    image: Image.Image,
    phrase: str | Sequence[str],
    model: str | None = None,
    *,
    detector: str | None = None,
    segmenter: str | None = None,
    box_threshold: float = 0.3,
    text_threshold: float = 0.25,
    max_boxes: int = 50,
    tile: bool | None = None,
    device: str = "cpu",
    dtype: str = "float32",
) -> ChangeMap:
    """Route ``phrase`` to ``clipseg`` (stuff) or ``grounded`` (things, with clipseg fallback).

    Args:
        image: RGB image.
        phrase: A string or list of strings; a list is split by kind and the parts' maps merged with max.
        model: CLIPSeg hub id or folder (the detector and SAM come from ``detector`` / ``segmenter``).
        detector, segmenter, box_threshold, text_threshold, max_boxes: As for ``grounded``.
        tile: As for ``clipseg``.
        device: Torch device.
        dtype: Weights' dtype name.

    Returns:
        ChangeMap ``(H, W)`` float32 in [0, 1]; provenance ``"auto->clipseg('sky')"``,
        ``"auto->grounded('cat', 2 boxes)"`` or ``"auto->clipseg('cat', no boxes)"`` (parts joined by ``" + "``).
    """
    phrases = phrases_of(phrase)
    as_list = not isinstance(phrase, str)
    stuff = [p for p in phrases if is_stuff(p)]
    things = [p for p in phrases if not is_stuff(p)]
    common = {"device": device, "dtype": dtype}
    parts: list[ChangeMap] = []
    if things:
        found = _grounded.grounded(
            image, things if as_list else things[0], None, detector=detector, segmenter=segmenter,
            box_threshold=box_threshold, text_threshold=text_threshold, max_boxes=max_boxes, **common,
        )
        if found.provenance.endswith("no boxes)"):
            # No box above the threshold: CLIPSeg always answers, softly.
            fallback = _clipseg.clipseg(image, things if as_list else things[0], model, tile=tile, **common)
            label = fallback.provenance.removeprefix("clipseg(").removesuffix(")")
            parts.append(ChangeMap(fallback.values, provenance=f"auto->clipseg({label}, no boxes)"))
        else:
            parts.append(ChangeMap(found.values, provenance=f"auto->{found.provenance}"))
    if stuff:
        soft = _clipseg.clipseg(image, stuff if as_list else stuff[0], model, tile=tile, **common)
        parts.append(ChangeMap(soft.values, provenance=f"auto->{soft.provenance}"))
    if len(parts) == 1:
        return parts[0]
    merged = np.maximum.reduce([p.values for p in parts])
    return ChangeMap(merged, provenance=" + ".join(p.provenance for p in parts))
