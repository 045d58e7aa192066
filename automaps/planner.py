"""Rule-based planner: an edit instruction -> `EditPlan`, by a small hand-written English grammar.

The first word picks a clause rule: a verb class (change, make, give, cover, add, put/move, remove, replace),
a leading preposition ("as an oil painting", "in winter"), or a subject ("the sky is stormy"). The rule
splits the rest into the thing edited (a noun phrase from `automaps.plan_grammar`), its new state (adjectives,
a noun phrase, "wearing ...", "made of ...") and an anchor ("in the sky"). Person pronouns become "person";
"it", "the image", "the scene" mean the whole picture; style, season, time and weather words make a
whole-image edit. What it cannot read becomes a global edit with a note. Pure, no model, ~0.1 ms a call.

Before the clause rules: "everything but X" and "keep X untouched" become negatives (`automaps.plan_where`),
unambiguous typos are corrected (`automaps.plan_typos`), and a compound instruction is split into clauses,
one single-region plan each, merged into `EditPlan.parts` (`automaps.plan_compound`). Each clause's position
qualifier becomes `EditPlan.where` and an accessory's part of a person or animal `EditPlan.part`
(`automaps.plan_parts`).
"""

from __future__ import annotations

from automaps import plan_lexicon as lex
from automaps.plan_compound import merge_parts, resolve_it, split_clauses
from automaps.plan_grammar import (
    Cursor,
    NounPhrase,
    article,
    gerund,
    is_adjective,
    is_art_movement,
    join,
    lemma,
    normalise,
    peel,
    people,
    skip_pps,
)
from automaps.plan_parts import part_of
from automaps.plan_recipe import recipe as _recipe
from automaps.plan_types import EditPlan, Planner
from automaps.plan_typos import correct_typos
from automaps.plan_where import extract_where, keep_clauses

__all__ = ["EditPlan", "Planner", "plan"]

Parsed = tuple[str, list[NounPhrase], str]  # kind, region phrases, target prompt
_REMOVE_PROMPT = "empty background, nothing there"
_NO_PARSE: Parsed = ("global", [], "")  # an empty prompt: plan() falls back and says so


def _global(toks: list[str], how: str = "") -> Parsed:
    """A whole-image edit: the prompt describes the whole picture in the new style, season or scene."""
    low = [t.lower() for t in toks]
    while low and (low[0] in lex.COPULA | {"like", "look", "looks", "if", "it", "were", "was", "made", "more",
                                           "take", "takes", "place"} or low[:2] == ["a", "bit"]):
        how = low[0] if low[0] in ("as", "like") else how
        toks, low = toks[1:], low[1:]
    text, words = join(toks), set(low)
    if not text:
        return _NO_PARSE
    if words & (lex.SEASON | lex.TIME):  # "in winter", "at night", "as a winter evening"
        if low[0] in lex.PREPS:
            prep = ""
        elif low[0] in lex.DETS:
            prep = "as "
        else:
            prep = "in " if words & lex.SEASON else "at "
        return "global", [], f"the same scene {prep}{text}"
    adjectival = all(is_adjective(w) or w in lex.ADVERBS | lex.WEATHER | {"and"} for w in low)
    if adjectival and words & lex.WEATHER:
        return "global", [], f"the same scene, {text}"  # "snowy", "foggy and dark"
    if words & lex.STYLE or is_art_movement(low) or low[0] == "by":
        if how != "like" and low[0] in lex.DETS:
            return "global", [], f"the image as {text}"
        return "global", [], f"the image {'' if low[0] in lex.PREPS else 'in the style of '}{text}"
    if adjectival:
        return "global", [], f"the same image, {text}"  # "brighter and warmer"
    if low[0] in lex.PREPS and len(low) > 1:  # "in the French Alps" -> "the French Alps"
        text = join(toks[1:])
    return "global", [], text


def _predicate(xs: list[NounPhrase], pred: list[str], noun: bool = False) -> Parsed:
    """Plans "X becomes PRED": adjectives -> attribute, a noun phrase -> replace, a place -> background.

    Args:
        xs: The regions (at least one).
        pred: The predicate's tokens, e.g. "be a robot", "purple", "wearing a hat", "in a library".
        noun: The predicate followed "into"/"to"/"with", so a bare noun is a replacement ("into lava").
    """
    low = [t.lower() for t in pred]
    like = False
    while low and low[0] in lex.COPULA | lex.LOOK:
        like = like or low[0] == "like"
        pred, low = pred[1:], low[1:]
    x, text = xs[0], join(pred)
    if x.whole or (len(x.words) == 1 and x.head in lex.GLOBAL_ATTR | lex.SEASON | lex.TIME and not x.attr):
        return _global(pred, "like" if like else "")
    if x.head in lex.BACKGROUND and not x.attr:  # "make the background blurry": "a blurry background"
        adjectival = pred and all(is_adjective(w) or w in lex.ADVERBS for w in low)
        return "background", [], f"{article(text)} background" if adjectival else text or "a plain background"
    if not pred:
        return "attribute", xs, x.subject()
    subj = " and ".join(n.subject() for n in xs)
    if like:
        return "replace", xs, f"{subj} that looks like {text}"
    if low[0] in lex.WITH_VERBS.keys() | {"made", "out", "with", "wearing", "holding", "riding", "dressed"}:
        return "attribute", xs, f"{subj} {join([lex.WITH_VERBS.get(low[0], pred[0]), *pred[1:]])}"
    if is_adjective(low[-1]) and all(is_adjective(w) or w in lex.ADVERBS | lex.LINKS for w in low):
        return "attribute", xs, " and ".join(n.describe(text) for n in xs)  # "a red car", "old people"
    if x.attr:
        return "attribute", xs, f"{subj} with {text} {x.attr}"
    if low[0] in lex.LOC:
        dest = Cursor(pred[1:]).np()
        if dest and dest.head in lex.PLACES:  # "have her in a library": a new place around her
            return "background", xs, join(people(pred[1:]))
        return "attribute", xs, f"{subj} {join(people(pred))}"
    if noun or low[0] in lex.DETS or low[0].isdigit():
        return "replace", xs, join(people(pred))
    return "attribute", xs, f"{subj} {join(people(pred))}"  # "have them cross the river"


def _add(c: Cursor, verb: str) -> Parsed:
    """Plans "add Y (PREP ANCHOR)": the anchor is the region; "put the X in Y" moves or dresses X instead."""
    start, n = c.i, len(c.low)
    if c.peek() in lex.LOC:  # "put in the twilight zone": no object, a new scene
        return _global(c.rest())
    j = next((k for k in range(start + 1, n) if c.low[k] in lex.LOC or c.low[k] == "next"), n)
    y_toks = c.toks[start:j]
    y = Cursor(y_toks).np()
    c.i, prep = j, []
    while c.peek() in lex.PREPS or (prep and c.peek() == "of"):  # "out of the river", "in front of"
        prep.append(c.peek())
        c.i += 1
    dest_at = c.i
    dest = c.np() if prep else None
    if y and y.whole and y.det == "it" and dest and not dest.spatial:  # "put it in a museum": a new scene
        return _global(c.toks[j:])
    if verb in lex.PUT and y and y.definite and not y.whole:
        if dest is None or dest.spatial:
            return "replace", [y], join(people(c.toks[start:]))
        if dest.head in lex.WEAR:  # "put them in suits"
            return "attribute", [y], f"{y.subject()} {join(people(c.toks[j:]))}"
        if not dest.anchored and (dest.head in lex.PLACES or (verb in lex.MOVE and not dest.definite)):
            return "background", [y], join(people(c.toks[dest_at:]))
        if not dest.definite:  # "put her on a skateboard"
            return "attribute", [y], f"{y.subject()} {join(people(c.toks[j:]))}"
        return "replace", [y, dest], join(people(c.toks[start:]))  # moved: both places change
    if y and y.head in lex.BACKGROUND and dest is None:  # "use a different background"
        return "background", [], join(y_toks)
    if y and y.definite and not y.whole and dest is None and verb not in ("add", "insert", "include"):
        return "attribute", [y], join(people(c.toks[start:]))  # "build the wall using bamboo"
    prompt = join(people(c.toks[start : c.i if dest else j]))
    if dest is None or dest.spatial or dest.whole or (dest.head in lex.WEAR and prep[0] in ("in", "with")):
        return "add", [], prompt or join(c.toks)  # "add a man in a suit": no place named
    return "add", [dest], prompt


def _put_or_move(c: Cursor, verb: str) -> Parsed:
    """Plans "move X to Y", "take X out of Y", "take it to Y" (a new scene for the whole picture)."""
    start = c.i
    x = c.np()
    if x is None or x.whole:
        while c.peek() in lex.PREPS:
            c.i += 1
        return _global(c.rest()) if c.rest() else _NO_PARSE
    if c.peek() in ("out", "away", "off") or (verb == "take" and c.peek() == "from" and x.definite):
        return "remove", [x], _REMOVE_PROMPT
    c.i = start
    return _add(c, verb)


def _remove(c: Cursor) -> Parsed:
    xs = c.np_list()
    if xs and xs[0].head in lex.BACKGROUND:
        return "background", [], "a plain white background"
    if xs and xs[0].whole and xs[0].det == "the":  # "remove the photo on the wall": an object, not the image
        xs[0].whole = False
    return ("remove", xs, _REMOVE_PROMPT) if xs and not xs[0].whole else _NO_PARSE


def _replace(c: Cursor, verb: str) -> Parsed:
    c.eat("out")
    if verb == "substitute" and "for" in c.low[c.i :]:  # "substitute Y for X": X is the region
        k = c.low.index("for", c.i)
        y, c.i = c.toks[c.i : k], k + 1
        xs = c.np_list()
        return _predicate(xs, y, noun=True) if xs else _global(y)
    xs = c.np_list()
    if not xs or xs[0].whole:
        c.eat("with") or c.eat("by")
        return _global(c.rest())
    skip_pps(c)
    c.eat("with") or c.eat("for") or c.eat("by") or c.eat("to") or c.eat("and")
    return _predicate(xs, c.rest(), noun=True)


def _give(c: Cursor) -> Parsed:
    x = c.np()
    if x is None:
        return _NO_PARSE
    if c.eat("to"):  # "give a birthmark to her cheek"
        thing, x = x.text.replace("person's ", ""), c.np() or NounPhrase(["person"], person=True)
    elif c.at_end() and x.det in lex.PERSON_POSS:  # "give her gray hair": her + gray hair
        thing, x = join([w for w in x.words if w != "person's"]), NounPhrase(["person"], person=True)
    else:
        skip_pps(c)
        thing = join(people(c.rest()))
    if x.whole:
        return "global", [], f"the image with {thing}"
    return "attribute", [x], f"{x.subject()} with {thing}"


def _change_or_make(c: Cursor, verb: str) -> Parsed:
    """Plans "turn X into Y", "make X Y", "have X be Y", "cover X with Y" (and "... X Y and Z W")."""
    if c.eat("there") and (c.eat("be") or c.eat("is") or c.eat("are")):  # "make there be fireflies"
        return _add(c, "add")
    start = c.i
    xs = c.np_list(causative=verb in lex.MAKE)
    new_thing = xs and not xs[0].definite and (xs[0].det or c.peek() in lex.LOC - {"to", "into"})
    if new_thing and verb in lex.MAKE | lex.COVER.keys():
        c.i = start  # "have a dragon in the sky", "paint snow on the roof": something new appears
        return _add(c, "add")
    # A bare lower-case word, nothing after it, is a style, not an object ("make baroque"); names are objects.
    bare = xs and not xs[0].det and not xs[0].person and not xs[0].whole and not xs[0].words[0][:1].isupper()
    if not xs or (bare and (c.at_end() or all(is_adjective(w) for w in xs[0].words))):
        c.i = start  # "turn into a cartoon", "make baroque", "turn young and modern": the whole picture
        while c.peek() in lex.PREPS:
            c.i += 1
        return _global(c.rest())
    subject = None
    if xs[0].head in lex.BACKGROUND and (c.eat("behind") or c.eat("around")):  # "the backdrop behind the dog"
        subject = c.np()
    skip_pps(c)
    if verb in lex.COVER and c.peek() in ("with", "in", "as", "up"):  # "cover X with Y", "dress X as Y"
        subj = " and ".join(n.subject() for n in xs)
        return "attribute", xs, f"{subj} {join([lex.COVER[verb], *c.rest()])}"
    if verb in lex.PUT and c.peek() in lex.LOC - {"to", "into"}:  # "set the lamp on the table"
        c.i = start
        return _add(c, verb)
    noun = bool(c.eat("into") or c.eat("to") or c.eat("as") or c.eat("for") or c.eat("with")
                or (verb in lex.CHANGE and c.eat("in")))
    if len(xs) > 1 and c.at_end() and all(len(n.words) > 1 and is_adjective(n.words[-1]) for n in xs):
        parts = [_predicate([n], peel(n)) for n in xs]  # "the trees pink and the sea blue": one each
        kind = parts[0][0] if len({p[0] for p in parts}) == 1 else "attribute"
        return kind, [n for p in parts for n in p[1]], " and ".join(p[2] for p in parts)
    if not noun and c.peek() in ("and", "or", ","):  # "the lake frozen and snowy": one predicate
        pred = peel(xs[-1]) + c.rest()
    else:
        pred = c.rest() if c.rest() or noun else peel(xs[-1])
    if not pred and xs[-1].det == "her":  # "make her float": "her" was the object, the rest the predicate
        pred, xs = [w for w in xs[-1].words if w != "person's"], [NounPhrase(["person"], person=True)]
    if verb in lex.MAKE and pred and gerund(pred[0]):  # "have them cross the river": "people crossing ..."
        pred = [gerund(pred[0]), *pred[1:]]
    kind, regions, prompt = _predicate(xs, pred, noun=noun and c.peek() != "be")
    return (kind, [subject], prompt) if kind == "background" and subject else (kind, regions, prompt)


def _subject_first(c: Cursor) -> Parsed:
    """Plans "the sky is stormy", "Mulan is a cowboy", "a cloud above the valley", "enlarge the dog"."""
    # An unknown verb and its object ("polish the car"), or a subject first ("the sky is stormy").
    verb = len(c.low) > 1 and c.low[0] not in lex.STARTS and c.low[1] in lex.STARTS
    c.i = 1 if verb else 0
    x = c.np()
    if x is None:
        return _NO_PARSE
    if verb and c.low[0] in lex.VERB_ADJ and (c.at_end() or c.peek() in lex.LOC):  # "darken the sky"
        return _predicate([x], [lex.VERB_ADJ[c.low[0]]])
    if x.whole:
        return _global(c.rest())
    if verb and x.head in lex.GLOBAL_ATTR and not x.attr:  # "invert the colors"
        return "global", [], join(c.toks)
    if verb and x.definite and (c.at_end() or c.peek() in lex.LOC):  # "polish the car (on the left)"
        return "attribute", [x], join(people(c.toks))
    if not x.definite and (x.det or c.peek() not in lex.COPULA | lex.SUBJECT_VERBS):
        if not x.det:  # no determiner, no verb: a style ("cubism") or unreadable ("print on letterhead")
            return _global(c.toks) if set(c.low) & lex.GLOBAL_WORDS or is_art_movement(c.low) else _NO_PARSE
        c.i = 1 if verb else 0  # "a shark swimming under the waves", "use a different background": new things
        return _add(c, "add")
    skip_pps(c)
    if c.eat("is", "replaced", "with") or c.eat("is", "replaced", "by") or c.eat("turns", "into"):
        return _predicate([x], c.rest(), noun=True)
    return _predicate([x], c.rest() or peel(x))


def _clause(c: Cursor) -> Parsed:
    """Dispatches on the first word: a verb class, a leading preposition, or a subject."""
    verb = lemma(c.peek())
    k = c.low.index("instead", 1) if "instead" in c.low[1:] else 0
    if k and c.low[k + 1 : k + 2] == ["of"]:  # "use a gnome instead of a pilot": the pilot is the region
        tail = Cursor(c.toks[k + 2 :]).np()
        kind, regions, prompt = _clause(Cursor(c.toks[:k]))
        if tail and not all(is_adjective(w) for w in tail.words) and not regions:
            return "replace", [tail], prompt or join(c.toks[:k])
        return kind, regions, prompt  # "dye the grass yellow instead of green"
    if c.eat("as", "if") or c.eat("as", "though"):  # "as if the sisters were elves": a clause follows
        return _clause(Cursor(c.rest())) if c.peek() in lex.STARTS else _global(c.rest())
    phrasal = any(c.eat(*f) for f in lex.REMOVE_PHRASES)
    if phrasal or verb in lex.REMOVE | {"without"}:
        c.i += 0 if phrasal else 1
        c.eat("off") or c.eat("out") or c.eat("away") or c.eat("up")  # "clear off the table"
        return _remove(c)
    if verb in ("as", "like", "in", "on", "at", "by", "more", "less", "from", "during"):
        return _global(c.toks, verb)
    if c.eat("instead", "of"):  # "instead of the river, make it a road"
        comma = c.low.index(",") if "," in c.low else len(c.low)
        xs, rest = Cursor(c.toks[c.i : comma]).np_list(), c.toks[comma + 1 :]
        kind, regions, prompt = _clause(Cursor(rest)) if rest else _NO_PARSE
        return ("replace", xs, prompt) if xs and not regions and prompt else (kind, regions, prompt)
    if any(c.eat(*f) for f in (("with",), ("there", "is"), ("there", "are"), ("bring", "in"), ("set", "up"))):
        return _add(c, "add")
    c.i += 1
    if verb in lex.REPLACE:
        return _replace(c, verb)
    if verb in lex.GIVE:
        return _give(c)
    if verb in lex.PAINT and c.peek() in lex.INDEF:
        return _add(c, "add")  # "paint a mural on the wall"
    if verb in lex.CHANGE | lex.MAKE | lex.COVER.keys():
        return _change_or_make(c, verb)
    if verb in lex.MOVE:
        c.eat("up")
        return _put_or_move(c, verb)
    if verb in lex.ADD:
        c.eat("up") or (verb not in lex.PUT and c.eat("in"))  # "set up a tent", "toss in a fairy"
        return _add(c, verb)
    c.i = 0
    return _subject_first(c)


def plan(instruction: str) -> EditPlan:
    """Reads an edit instruction into an `EditPlan` with a rule-based grammar (no model, pure, < 1 ms).

    Args:
        instruction: An English edit instruction, e.g. "make the sky stormy but not the mountains".

    Returns:
        The plan. An instruction the grammar cannot read becomes a global edit whose prompt is the
        instruction itself, with a note saying so.

    Raises:
        TypeError: `instruction` is not a str.
        ValueError: `instruction` is empty or whitespace.

    Example:
        >>> p = plan("make the car red")
        >>> p.kind, p.regions, p.prompt
        ('attribute', ['car'], 'a red car')
    """
    if not isinstance(instruction, str):
        raise TypeError(f"instruction: must be a str, got {type(instruction).__name__}")
    if not instruction.strip():
        raise ValueError("instruction: must be a non-empty string")
    text, kept = keep_clauses(instruction)
    toks, negatives, notes = normalise(text)
    toks, typos = correct_typos(toks)
    negatives, notes = list(dict.fromkeys([*kept, *negatives])), [*notes, *typos]
    clauses = split_clauses(toks) if toks else [toks]
    parts: list[EditPlan] = []
    for clause in clauses:
        parts.append(_plan_clause(instruction, resolve_it(clause, parts[-1]) if parts else clause, negatives, notes))
    return parts[0] if len(parts) == 1 else merge_parts(instruction, parts, notes)


def _plan_clause(instruction: str, toks: list[str], negatives: list[str], notes: list[str]) -> EditPlan:
    """One clause's single-region plan: its position cut out, parsed, its part and fallback looked up."""
    notes = list(notes)
    toks, where, where_notes = extract_where(toks, lemma(toks[0].lower()) if toks else "")
    notes += where_notes
    kind, nps, prompt = _clause(Cursor(toks)) if toks else _NO_PARSE
    regions = [n for n in nps if not (n.spatial or n.whole)]
    if not prompt:
        kind, regions, prompt = "global", [], instruction.strip()
        notes.append("could not parse; falling back to a global edit")
    elif not regions and kind in ("replace", "attribute"):
        notes.append("the region named only a position or the whole picture: editing the whole image")
        kind = "global"
    if kind == "remove" and not regions:  # "remove the left": nothing to remove, nothing to plan
        kind, prompt = "global", instruction.strip()
        notes.append("could not parse; falling back to a global edit")
    if any(n.person for n in regions):
        notes.append("a pronoun was read as 'person'")
    if kind == "add" and not regions:
        notes.append("no place given for the addition: the whole image may change")
    phrases = list(dict.fromkeys(n.text for n in regions))
    if kind == "background" and not phrases:  # regions name the kept subject; saliency finds it unnamed
        phrases = ["main subject"]
        notes.append("the subject is found by saliency; the map is its inverse")
    if part := part_of(kind, phrases, prompt):
        notes.append(f"the edit lands on the {phrases[0]}'s {part}, or the whole {phrases[0]} if it is not found")
    return EditPlan(instruction=instruction, kind=kind, regions=phrases, negatives=negatives, prompt=prompt,
                    notes=notes, where=where, part=part, **_recipe(kind, regions, prompt))
