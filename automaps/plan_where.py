"""Where a region is, and what is kept: the planner's spatial, depth, ordinal and "everything but" readers.

`extract_where` cuts a position qualifier out of one clause's tokens ("the car on the left" -> tokens
"the car", where "left"; "a watermark in the bottom right corner" -> "bottom right"; "the people in the
background" -> "background"), so the region phrase and the prompt no longer carry it. A position tied to
another object ("to the left of the tree") is a relation, not a place in the picture: it is left alone.
`keep_clauses` reads "everything but X" and a leading "keep X untouched, ..." as negatives. Pure functions.
"""

from __future__ import annotations

import re

from automaps import plan_lexicon as lex
from automaps.plan_grammar import is_adjective

__all__ = ["ORDINALS", "extract_where", "keep_clauses"]

_VERTICAL = {"top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom"}
_HORIZONTAL = {"left": "left", "right": "right", "left-hand": "left", "right-hand": "right", "lefthand": "left",
               "righthand": "right", "leftmost": "left", "rightmost": "right"}
_CENTRE = frozenset({"middle", "center", "centre", "central"})
_POSITION = _VERTICAL.keys() | _HORIZONTAL.keys() | _CENTRE
_AREA = frozenset({"side", "corner", "edge", "half", "part", "area", "portion", "section", "third", "quarter"})
_FRAME = frozenset({"image", "picture", "photo", "photograph", "frame", "scene", "shot", "pic", "view"})
_PLACE_PREPS = frozenset({"on", "in", "at", "to", "from", "along", "near", "towards", "toward", "into"})
_DEPTH = {"background": "background", "foreground": "foreground", "distance": "background",
          "back": "background", "front": "foreground"}
ORDINALS = frozenset({"first", "second", "third", "fourth", "fifth", "sixth", "2nd", "3rd", "4th", "5th"})
"""Ordinal words: "the second car from the left" needs instances, which the rule planner does not count."""

_EVERYTHING_BUT = re.compile(
    r"\b(everything|all|the\s+whole\s+(?:image|picture|photo|scene))\s+(?:but|except(?:\s+for)?|other\s+than"
    r"|apart\s+from|save\s+for)\s+", re.IGNORECASE)
_KEEP_FIRST = re.compile(
    r"^\s*(?:please\s+)?(?:keep|leave)\s+(.+?)\s+(?:unchanged|untouched|alone|intact|as\s+is|the\s+same)"
    r"\s*(?:,\s*(?:and\s+|but\s+)?|;\s*|\s+and\s+|\s+but\s+)", re.IGNORECASE)


def _position(words: list[str]) -> str | None:
    """"top left" from ["top", "left"]; "center" from ["middle"]; None when the words name no position."""
    vertical = next((_VERTICAL[w] for w in words if w in _VERTICAL), "")
    horizontal = next((_HORIZONTAL[w] for w in words if w in _HORIZONTAL), "")
    if vertical and horizontal:
        return f"{vertical} {horizontal}"
    if vertical or horizontal:
        return vertical or horizontal
    return "center" if set(words) & _CENTRE else None


def _qualifier(low: list[str], i: int, depth_ok: bool) -> tuple[int, str | None]:
    """Reads "PREP the [far] POSITION... [AREA] [of the FRAME]" at `i`; returns (end index, where) or (i, None)."""
    if low[i] not in _PLACE_PREPS or low[i + 1 : i + 2] != ["the"]:
        return i, None
    j = i + 2
    while j < len(low) and low[j] in ("far", "very", "extreme"):
        j += 1
    if depth_ok and j < len(low) and low[j] in ("background", "foreground", "distance") and low[i] == "in":
        j += 1
        if low[j : j + 1] == ["of"]:  # "in the background of the photo": the same place
            return (j + 3, _DEPTH[low[j - 1]]) if low[j + 1 : j + 3] in (["the", w] for w in _FRAME) else (i, None)
        return j, _DEPTH[low[j - 1]]
    words = []
    while j < len(low) and low[j] in _POSITION:
        words.append(low[j])
        j += 1
    if not words:
        return i, None
    if j < len(low) and low[j] in _AREA:
        j += 1
    if low[j : j + 1] == ["of"]:  # "the left of the tree" is a relation; "the left of the image" a place
        if low[j + 1 : j + 2] == ["the"] and low[j + 2 : j + 3] and low[j + 2] in _FRAME:
            return j + 3, _position(words)
        return i, None
    if j < len(low) and low[j] not in lex.NOT_NOUN and (not is_adjective(low[j]) or low[j] in lex.MASS):
        return i, None  # "on the left woman's head": a noun follows, the position word is its adjective
    return j, _position(words)


def extract_where(toks: list[str], verb: str = "") -> tuple[list[str], str | None, list[str]]:
    """Cuts one position qualifier out of a clause: the first one after the thing it places.

    Args:
        toks: The clause's tokens (user's spelling).
        verb: The clause's verb lemma; after "add"/"put" the depth words name where a new thing goes
            ("add a mountain in the background"), which the grammar reads as its anchor: they stay.

    Returns:
        `(tokens, where, notes)`: tokens without the qualifier (and without an ordinal it completes),
        the position (one of `automaps.plan_types.WHERE`) or None, and remarks for the plan's notes.
    """
    low = [t.lower() for t in toks]
    # "A volcano in the background", "with a moon in the distance": the depth words place a new thing.
    depth_ok = verb not in lex.ADD | lex.PUT and bool(low) and low[0] not in lex.INDEF | {"with", "there"}
    notes: list[str] = []
    for i in range(1, len(low) - 1):
        end, where = _qualifier(low, i, depth_ok and low[i - 1] not in lex.NOT_NOUN)
        if where is None:
            continue
        # After "add"/"put" the grammar reads a position as "no anchor" itself; the prompt keeps the place.
        out = toks if not depth_ok else toks[:i] + toks[end:]
        if depth_ok and i > 2 and low[i - 1].endswith(("ed", "ing")) and low[i - 2] not in lex.NOT_NOUN:
            out = out[: i - 1] + out[i:]  # "the car parked on the left": the participle only located it
        ordinal = next((k for k in range(i) if low[k] in ORDINALS and low[k - 1 : k] == ["the"]), None)
        if ordinal is not None and low[i] == "from":
            notes.append(f"'{low[ordinal]} ... from the {where}' needs instances, which the rule planner does "
                         f"not count: planned as the region on the {where}")
            out = out[:ordinal] + out[ordinal + 1 :]
        return out, where, notes
    # "the left car", "the leftmost tree": a position adjective right after the determiner.
    for i in range(1, len(low) - 1):
        follows = low[i + 1]
        if low[i - 1] in lex.DETS and low[i] in _HORIZONTAL and follows not in lex.NOT_NOUN | _AREA | {"of"} \
                and not is_adjective(follows):
            return toks[:i] + toks[i + 1 :], _HORIZONTAL[low[i]], notes
    return toks, None, notes


def _np_text(text: str) -> tuple[str, str]:
    """Splits "the dog grayscale" into the kept phrase "dog" and the rest "grayscale"."""
    from automaps.plan_grammar import _TOKEN, Cursor, join, peel

    toks = _TOKEN.findall(text)
    c = Cursor(toks)
    nps = c.np_list()
    if not nps:
        return "", text
    rest = peel(nps[-1]) if c.at_end() else []
    kept = " and ".join(n.text for n in nps if not n.whole)
    return kept, join([*rest, *c.rest()])


def keep_clauses(text: str) -> tuple[str, list[str]]:
    """Reads what an instruction keeps when the grammar's "but not X" clauses do not: "everything but X",
    "everything except X ADJ", and a leading "keep X untouched, ...".

    Args:
        text: The raw instruction.

    Returns:
        `(text, negatives)`: the instruction without the kept phrases ("make everything but the dog
        grayscale" -> "make everything grayscale") and the phrases kept (["dog"]).
    """
    negatives: list[str] = []
    if m := _KEEP_FIRST.match(text):
        kept, _ = _np_text(m.group(1))
        if kept:
            negatives.append(kept)
            text = text[m.end() :]
    if m := _EVERYTHING_BUT.search(text):
        tail = re.split(r"(?=[,;.!?])", text[m.end() :], maxsplit=1)
        kept, rest = _np_text(tail[0])
        if kept:
            negatives.append(kept)
            text = f"{text[: m.start()]}everything {rest}{tail[1] if len(tail) > 1 else ''}".rstrip()
    return text, negatives
