"""Typo correction against the planner's own vocabulary, only where the correction is unambiguous.

A token is corrected when it is not a known word, is at least 4 letters, lower-case (names are left alone),
and exactly one vocabulary word of at least 4 letters is one typing slip away: a dropped letter ("wter" ->
"water", "yelow" -> "yellow"; an inner letter, not the first or last) or two neighbours swapped ("bule" ->
"blue"). Replaced or extra letters are not corrected: with a vocabulary of a few thousand words they turn
real words the planner does not know into words it does ("desk" -> "dusk", "stairs" -> "stars"). Every known
word (function words too, and `KNOWN_WORDS`) blocks a correction. Pure, no model; a dictionary lookup per
unknown word. The vocabulary is hand-written, so a real word it lacks can still be "corrected" into one it
has; the plan's notes name every correction.
"""

from __future__ import annotations

from functools import lru_cache

from automaps import plan_lexicon as lex


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


__all__ = ["COMMON_NOUNS", "candidates", "correct_typos", "one_edit_apart", "vocabulary"]

COMMON_NOUNS = _words("""
man woman boy girl child kid baby person people men women children kids dog dogs cat cats horse horses bird
birds cow cows sheep goat pig duck ducks fish frog bear lion tiger elephant giraffe zebra monkey rabbit mouse
deer wolf fox owl eagle butterfly bee snake turtle dragon unicorn robot car cars truck bus bike bicycle
motorcycle train plane airplane boat boats ship ships house houses building tree trees flower flowers rose
roses plant plants bush window windows door doors roof chair chairs table tables bench bed sofa couch lamp
clock book books bottle cup mug glass plate bowl vase fence bridge tower castle church statue sign poster
painting picture frame mirror wall floor street road river lake ocean mountain mountain hill hills rock stone
cloud clouds sun moon star stars tree leaf leaves branch apple apples banana orange cake pizza bread food
fruit ball toy umbrella bag backpack phone computer laptop screen television camera guitar piano candle
candles fire balloon balloons kite flag watermark logo text letters words shadow shadows reflection window
hand hands face head eyes hair teeth ears nose mouth beard glasses sunglasses hat cap helmet shirt dress
coat jacket shoes boots scarf tie necklace earrings crown mask wig makeup collar sky water grass snow sand
field forest garden park city town village beach desert jungle island volcano waterfall sunset night day
winter summer spring autumn color colour style background foreground image photo scene""")
"""Common nouns of edit instructions, beyond the lexicon's semantic fields (closed list, hand-written)."""

KNOWN_WORDS = _words("""
leave keep look let seem become begin bring carry cause come consider continue create cross decide do does
done draw drive eat fall feel find follow give go hang happen hear help hold hope imagine include keep know
learn leave like live lose love mean meet miss need offer open pay place play point print pull push reach
read remain remember rise run say see seem sell send serve show sit speak spend stand start stay stop suggest
take talk tell think travel try understand use wait walk want watch wear win wish work write bride groom
angel mage wizard witch knight king queen prince princess soldier pirate ninja zombie vampire ghost alien
monster giant fairy elf cowboy chef doctor nurse police farmer student teacher worker clown hero god goddess
hole ridge trip lace peak desk ramp stairs step steps yard fridge stove tray team crowd youth patch stack crop
bell rail feather pole post wire rope chain net nest cage box bin can jar pot pan lid knife fork spoon oven
sink tub shelf cabinet drawer rug curtain blanket pillow towel basket bucket barrel crate cart wagon wheel
tire track tracks station platform tunnel gate arch column pillar dome spire tent cabin hut shed barn fountain
pool pond stream creek bay harbor dock pier port canal dam well mill factory shop store mall school library
museum office hospital hotel palace temple tomb ruins cave cliff slope peak summit trail lane avenue alley
square plaza corner block edge border line stripe stripes spot spots dot dots pattern shape circle square
triangle cube sphere heart star cross arrow sign label tag note letter card map plan page paper pen pencil
brush paint ink tape glue thread needle button zipper pocket sleeve collar belt buckle strap badge patch
vest apron sweater hoodie gown boot sock heel toe knee hip waist belly stomach finger thumb wrist elbow lip
chin jaw cheek brow lash tail paw claw wing beak horn hoof fin scale mane trunk shell web egg seed root stem
bark bud petal thorn vine moss weed hay straw log twig stump cone nut berry grape lemon lime melon peach pear
plum cherry corn bean pea rice meat egg cheese milk tea coffee wine beer juice soup salad sandwich burger
cookie pie candy sugar salt pepper oil butter honey jam bread toast tale story steam state moth range wind
ant ants rabbi grave ranch bread mat rug steel shoe sock""")
"""Common English words that block a correction (never targets): people, places, things, verbs the
lexicon does not list ("bride" is not "bridge", "leave" is not "leaves")."""


@lru_cache(maxsize=1)
def _dropped_letter_index() -> dict[str, frozenset[str]]:
    """Each target word with one letter dropped -> the target words it comes from ("wter" -> {"water"})."""
    index: dict[str, set[str]] = {}
    for word in vocabulary()[1]:
        # Only an inner letter: a word missing its first or last letter is more often another word
        # ("ants" is not "pants", "glove" not "gloves", "rabbi" not "rabbit").
        for k in range(1, len(word) - 1):
            index.setdefault(word[:k] + word[k + 1 :], set()).add(word)
    return {key: frozenset(words) for key, words in index.items()}


def candidates(word: str) -> set[str]:
    """Target words one dropped letter or one swap of neighbours away from `word` (lower-case)."""
    found = set(_dropped_letter_index().get(word, ()))
    targets = vocabulary()[1]
    for k in range(len(word) - 1):
        swapped = word[:k] + word[k + 1] + word[k] + word[k + 2 :]
        if swapped != word and swapped in targets:
            found.add(swapped)
    return found


@lru_cache(maxsize=1)
def vocabulary() -> tuple[frozenset[str], frozenset[str]]:
    """The planner's words: `(known, targets)`; every known word blocks a correction, and only the content
    words of 4+ letters (nouns, adjectives, style and scene words, verbs) are targets of one."""
    content = (lex.STUFF | lex.MASS | lex.PLACES | lex.WEAR | lex.BODY | lex.ADJ | lex.WHOLE | lex.BACKGROUND
               | lex.SEASON | lex.TIME | lex.WEATHER | lex.STYLE | lex.ATTR_NOUNS | lex.GLOBAL_ATTR | lex.VERBS
               | COMMON_NOUNS)
    closed = (KNOWN_WORDS | lex.DETS | lex.PERSON | lex.POSS | lex.PREPS | lex.BOUNDARY | lex.ADVERBS | lex.SPATIAL
              | lex.ACTIONS | lex.COPULA | lex.PREFIX | lex.ING_NOUNS | lex.NOT_ADJ | lex.INDEF)
    targets = frozenset(w for w in content if len(w) >= 4 and w.isalpha())
    return frozenset(content | closed), targets


def one_edit_apart(a: str, b: str) -> bool:
    """Whether `a` becomes `b` by one deletion, insertion, substitution or swap of neighbours (a != b)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [k for k in range(len(a)) if a[k] != b[k]]
        if len(diff) == 1:
            return True
        k = diff[0]
        return len(diff) == 2 and diff[1] == k + 1 and a[k] == b[k + 1] and a[k + 1] == b[k]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    k = next((k for k in range(len(short)) if short[k] != long_[k]), len(short))
    return short[k:] == long_[k + 1 :]


_SUFFIXES = (("s", ""), ("es", ""), ("ies", "y"), ("ed", ""), ("ed", "e"), ("ied", "y"), ("ing", ""),
             ("ing", "e"), ("er", ""), ("er", "e"), ("est", ""), ("ly", ""), ("'s", ""))


def _known(word: str, known: frozenset[str]) -> bool:
    # Inflections of known words are known: "clouds", "painted", "bigger" (one doubled letter too).
    if word in known:
        return True
    for suffix, stem_end in _SUFFIXES:
        if word.endswith(suffix):
            stem = word[: len(word) - len(suffix)] + stem_end
            if stem in known or (len(stem) > 2 and stem[-1] == stem[-2] and stem[:-1] in known):
                return True
    return False


@lru_cache(maxsize=8192)
def _correction(word: str) -> str | None:
    """The unambiguous correction of a lower-case word, or None (cached: instructions repeat their words)."""
    if len(word) < 4 or not word.isalpha() or _known(word, vocabulary()[0]):
        return None
    found = candidates(word)
    return found.pop() if len(found) == 1 else None


def correct_typos(toks: list[str]) -> tuple[list[str], list[str]]:
    """Corrects the unambiguous typos of an instruction's tokens.

    Args:
        toks: Tokens in the user's spelling (not modified).

    Returns:
        `(tokens, notes)`: a new list with each corrected word replaced, and one note per correction
        ("typo: 'wter' read as 'water'"). Capitalised words (names) are never corrected.
    """
    out, notes = list(toks), []
    for k, tok in enumerate(toks):
        if tok.islower() and (fixed := _correction(tok)) is not None:
            out[k] = fixed
            notes.append(f"typo: {tok!r} read as {fixed!r}")
    return out, notes
