"""The map recipe of a planned edit: generator, strength, grow, feather, inversion, depth weighting.

Why each number is what it is, in one place; `automaps.planner` calls it once per clause. Pure.
"""

from __future__ import annotations

from automaps import plan_lexicon as lex
from automaps.plan_grammar import NounPhrase, is_art_movement

__all__ = ["recipe"]


def recipe(kind: str, regions: list[NounPhrase], prompt: str) -> dict:
    """Map recipe and strength for a planned edit.

    Args:
        kind: The edit kind (`automaps.plan_types.KINDS`).
        regions: The region noun phrases (their heads pick CLIPSeg for stuff, "auto" for things).
        prompt: The target prompt (style, season, fog and size words change the strength and recipe).

    Returns:
        `EditPlan` keyword arguments: `generator`, `strength` and, where they apply, `grow`, `feather`,
        `invert_region`, `depth_weighted`.
    """
    heads = [n.head for n in regions]
    stuff = bool(heads) and all(h in lex.STUFF or h in lex.BACKGROUND for h in heads)
    generator = "clipseg" if stuff else "auto"
    words = set(prompt.lower().replace(",", " ").split())
    if kind == "background":  # the subject is kept: the map is its inverse, soft at the silhouette
        return {"generator": generator if heads else "saliency", "strength": 0.95, "feather": 4.0,
                "invert_region": True}
    if not regions:  # whole image: uniform, or by depth for fog and haze (which thicken with distance)
        fog = bool(words & lex.FOG)
        style = bool(words & lex.STYLE) or is_art_movement(words)
        strength = 0.8 if style else 0.7 if words & (lex.SEASON | lex.TIME | lex.WEATHER) else 0.85
        return {"generator": "depth" if fog else "constant", "depth_weighted": fog, "strength": strength}
    if kind == "remove":  # grown well past the object so its shadow and outline go too
        return {"generator": generator, "strength": 1.0, "grow": 24, "feather": 8.0}
    if kind == "replace":  # the new object's outline differs from the old one's: room to grow
        return {"generator": generator, "strength": 0.95, "grow": 8 if stuff else 16, "feather": 8.0}
    if kind == "add":  # the anchor hosts the new object: soft edges so it can overlap the anchor's rim
        return {"generator": generator, "strength": 0.9, "feather": 16.0}
    # attribute: a countable object keeps its shape at 0.8; a size change needs room outside the old outline
    return {"generator": generator, "strength": 0.9 if stuff else 0.8, "grow": 32 if words & lex.SIZE else 4,
            "feather": 6.0}
