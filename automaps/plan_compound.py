"""Compound instructions: split into clauses, one single-region plan each, and merged back for one map.

"make the sky stormy and add a boat on the lake" splits at "and" before a verb; "make the sky stormy and
the grass yellow" shares its verb: "make the grass yellow" is the second clause. `merge_parts` builds the
compound plan: its `parts` are the clauses' plans, its own fields the merged edit (regions united, prompts
joined) for a caller that runs one map. Pure functions.
"""

from __future__ import annotations

from automaps import plan_lexicon as lex
from automaps.plan_grammar import Cursor, lemma, peel
from automaps.plan_types import EditPlan

__all__ = ["merge_parts", "resolve_it", "split_clauses"]

_JOINERS = frozenset({"and", ",", "then", ";", "also"})
# After a verb that starts a new clause: an object, or the particle of a phrasal verb ("get rid of").
_OBJECT_START = lex.STARTS | lex.PERSON | lex.POSS | {"rid", "in", "up", "out", "off", "away", "there"}
# Verbs that are as often colours, nouns or adjectives after "and" ("yellow and green", "salt and pepper").
_AMBIGUOUS = lex.VERB_ADJ.keys() | {"line", "light", "drop", "stick", "lay", "trade", "age", "show", "keep"}


def _starts_clause(low: list[str], k: int) -> bool:
    """Whether a new clause starts at `k`: a verb (not one of the ambiguous ones) followed by its object;
    after add/remove/replace verbs a bare noun is an object too ("and add seagulls")."""
    verb = lemma(low[k]) if k < len(low) else ""
    if verb not in lex.VERBS or verb in _AMBIGUOUS or k + 1 >= len(low):
        return False
    nxt = low[k + 1]
    bare = verb in lex.ADD | lex.REMOVE | lex.REPLACE and nxt not in lex.BOUNDARY and nxt.isalpha()
    return nxt in _OBJECT_START or nxt.isdigit() or bare


def _has_predicate(toks: list[str]) -> bool:
    """Whether tokens read as "OBJECT PREDICATE" ("the sky stormy", "the sea into lava"), not a bare object."""
    c = Cursor(list(toks))
    x = c.np(causative=True)
    if x is None or x.whole or c.peek() in _JOINERS:  # "a ruler, and a book": a list, not a predicate
        return False
    return not c.at_end() or bool(peel(x))


def _shared_verb(clause: list[str]) -> list[list[str]]:
    """Splits "make X ADJ and Y ADJ" (one verb, two object-predicate pairs) into "make X ADJ", "make Y ADJ"."""
    low = [t.lower() for t in clause]
    if not low or lemma(low[0]) not in lex.CHANGE | lex.MAKE | lex.COVER.keys():
        return [clause]
    cuts = [k for k in range(2, len(low) - 2)
            if low[k] in ("and", ",") and low[k + 1] in (lex.DETS - lex.INDEF) | lex.POSS]
    for n, k in enumerate(cuts):
        # The next pair ends where a third begins: "the sky pink and the clouds purple and the sea green".
        end = cuts[n + 1] if n + 1 < len(cuts) else len(low)
        if _has_predicate(clause[1:k]) and _has_predicate(clause[k + 1 : end]):
            return [clause[:k], *_shared_verb([clause[0], *clause[k + 1 :]])]
    return [clause]


def resolve_it(clause: list[str], previous: EditPlan) -> list[str]:
    """A later clause's "it"/"them" after a preposition is the previous clause's object: "make the cat
    black and add a ball next to it" -> "... next to the cat"."""
    if len(previous.regions) != 1:
        return clause
    low = [t.lower() for t in clause]
    out = list(clause)
    for k in range(len(low) - 1, 0, -1):
        if low[k] in ("it", "them") and low[k - 1] in lex.PREPS:
            out[k : k + 1] = ["the", *previous.regions[0].split()]
    return out


def split_clauses(toks: list[str]) -> list[list[str]]:
    """Splits an instruction's tokens into clauses, one per edit.

    Args:
        toks: Tokens of one instruction (negated clauses already cut out).

    Returns:
        Non-empty token lists; `[toks]` when the instruction is one edit.
    """
    low = [t.lower() for t in toks]
    if not low or (lemma(low[0]) not in lex.VERBS | lex.VERB_ADJ.keys() and low[0] not in ("get", "take", "leave")):
        return [toks]  # "instead of X, make it Y", "the sky is stormy and ...": one clause the grammar reads
    clauses, start, k = [], 0, 1
    while k < len(low):
        j = k
        while j < len(low) and low[j] in _JOINERS:
            j += 1
        if j > k and _starts_clause(low, j) and j - start > 2:
            clauses.append(toks[start:k])
            start = k = j
        k = j + 1 if j > k else k + 1
    clauses.append(toks[start:])
    return [part for clause in clauses if clause for part in _shared_verb(clause)]


def merge_parts(instruction: str, parts: list[EditPlan], notes: list[str]) -> EditPlan:
    """The compound plan of several single-region plans.

    Its own fields are the merged edit: the regions united (a whole-image part makes the whole image the
    region), prompts joined with "and", the largest strength, grow and feather; `parts` keeps each part.

    Args:
        instruction: The whole instruction, verbatim.
        parts: Two or more single-part plans.
        notes: Notes of the whole instruction (typos, dropped sentences).

    Returns:
        The compound `EditPlan`, `parts == parts`.
    """
    kinds = {p.kind for p in parts}
    inverted = [p.invert_region for p in parts]
    # One map for a mix of kept subjects and edited regions has no honest shape: the whole image then.
    whole = any(not p.regions and not p.invert_region for p in parts) or (any(inverted) and not all(inverted))
    regions = [] if whole else list(dict.fromkeys(r for p in parts for r in p.regions))
    generators = {p.generator for p in parts}
    generator = "constant" if whole else generators.pop() if len(generators) == 1 else "auto"
    part_notes = [n for p in parts for n in p.notes if n not in notes]
    wheres = {p.where for p in parts}
    return EditPlan(
        instruction=instruction,
        kind=kinds.pop() if len(kinds) == 1 else "global" if whole else "attribute",
        regions=regions,
        negatives=list(dict.fromkeys(n for p in parts for n in p.negatives)),
        prompt=" and ".join(dict.fromkeys(p.prompt for p in parts)),
        strength=max(p.strength for p in parts),
        generator=generator,
        grow=max(p.grow for p in parts),
        feather=max(p.feather for p in parts),
        invert_region=not whole and all(inverted),
        depth_weighted=all(p.depth_weighted for p in parts),
        notes=[*notes, *dict.fromkeys(part_notes), f"compound instruction: {len(parts)} parts, one region each"],
        parts=parts,
        where=wheres.pop() if len(wheres) == 1 else None,
    )
