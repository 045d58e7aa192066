"""The planner's reader: instruction text -> tokens, noun phrases, predicates and negated phrases.

`Cursor.np()` reads one noun phrase the way instructions use them: determiners and possessives, person
pronouns (read as "person"), whole-image words ("it", "the photo"), positions ("the left side of the field"
-> field), attributes ("the color of the car" -> car) and parts ("the roof of the cabin" stays a phrase).
`automaps.planner` builds clauses from these pieces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from automaps import plan_lexicon as lex

__all__ = [
    "Cursor", "NounPhrase", "article", "gerund", "is_adjective", "is_art_movement", "join", "lemma",
    "normalise", "peel", "people", "skip_pps",
]

_TOKEN = re.compile(r"\w+(?:['-]\w+)*|[,;:!?]|\.(?=\s|$)")
_CONTRACTIONS = ((r"\b(it|that|there|he|she|what)'s\b", r"\1 is"), (r"\blet's\b", "let us"),
                 (r"n't\b", " not"), (r"'re\b", " are"), (r"\bi'd\b", "i would"), (r"\bi'm\b", "i am"))
# "... but not the people", "except for the trees", "without changing the cars", "but keep the house ...".
_NEGATION = re.compile(
    r"(?:,\s*|\s+)(?:(?:but|and|yet)\s+not|except(?:\s+for)?|excluding|apart\s+from|other\s+than|save\s+for"
    r"|without\s+(?:changing|touching|affecting|altering|editing)|(?:but|and|while)\s+(?:keep|keeping|leave"
    r"|leaving)|do\s+not\s+(?:change|touch|edit|alter))\s+([^,;.!?]+)", re.IGNORECASE)
_KEEP_TAIL = re.compile(
    r"\s+(?:unchanged|alone|as\s+is|intact|untouched|the\s+same|as\s+(?:they|it)\s+(?:are|is))\s*$",
    re.IGNORECASE)


@dataclass
class NounPhrase:
    """A noun phrase as read: `words` keep the user's spelling, determiners dropped."""

    words: list[str]
    det: str = ""
    person: bool = False  # a pronoun ("her", "them"): the region is "person"
    plural: bool = False
    whole: bool = False  # "it", "the image": the whole picture
    attr: str = ""  # "color" in "the color of the car"
    spatial: bool = False  # only a position ("the left"): nothing to segment
    anchored: bool = False  # read through a position: "the left side of the field" -> field

    @property
    def head(self) -> str:
        """The last word, lower-case: the head noun in English noun phrases."""
        return self.words[-1].lower() if self.words else ""

    @property
    def text(self) -> str:
        """The phrase as a region to segment."""
        return "person" if self.person else " ".join(self.words)

    @property
    def definite(self) -> bool:
        """True for a thing already in the picture ("the car", "her", "all the people"), not "a car"."""
        indefinite = self.det in lex.INDEF or self.det.isdigit()
        return self.person or self.whole or (bool(self.det) and not indefinite)

    def subject(self) -> str:
        """The phrase with an article, for a prompt: "a car", "people", "the Eiffel Tower"."""
        if self.person:
            return "people" if self.plural else "a person"
        if self.plural or self.head in lex.MASS:
            return self.text
        return f"the {self.text}" if any(w[:1].isupper() for w in self.words) else article(self.text)

    def describe(self, adj: str) -> str:
        """The phrase with an adjective, for a prompt: "a red car", "old people", "a person's long beard"."""
        if self.person:
            return f"{adj} people" if self.plural else article(f"{adj} person")
        owner = max((k for k, w in enumerate(self.words[:-1]) if w.endswith("'s")), default=-1)
        if owner >= 0:  # "a dog's white fur", "a person's longer beard"
            return f"{article(' '.join(self.words[: owner + 1]))} {adj} {' '.join(self.words[owner + 1 :])}"
        text = f"{adj} {self.text}"
        return text if self.plural or self.head in lex.MASS else article(text)


def _person(plural: bool) -> NounPhrase:
    return NounPhrase(["person"], det="the", person=True, plural=plural)


def article(text: str) -> str:
    """Prefixes "a" or "an": `article("owl")` -> "an owl"."""
    return ("an " if text[:1].lower() in "aeiou" else "a ") + text


def is_adjective(word: str) -> bool:
    """Whether a word reads as an adjective: the lexicon, comparatives of it, then common suffixes."""
    w = word.lower()
    if w in lex.ADJ or w.endswith(("-colored", "-coloured", "-like", "-style")):
        return True
    if w in lex.NOT_ADJ or len(w) <= 4 or not w.isalpha():
        return False
    for suf in ("er", "est"):  # bigger, darker, happier: a comparative of a known adjective
        stem = w[: -len(suf)]
        if w.endswith(suf) and {stem, stem[:-1], stem + "e", stem[:-1] + "y"} & lex.ADJ:
            return True
    if w.endswith("y"):  # stormy, grassy; not valley, jersey (vowel + y) nor family, story (-ly, -ry)
        return w[-2] not in "aeiou" and not w.endswith(("ly", "ry"))
    return w.endswith(("ful", "ous", "ish", "less", "ive", "ed", "ic", "ical", "able", "ible"))


def is_art_movement(words: list[str] | set[str]) -> bool:
    """Whether a word names an art movement or its artists: "cubism", "impressionist", "fauvisme"."""
    return any(w.endswith(("ism", "ist", "isme")) and len(w) > 5 for w in words)


def lemma(word: str) -> str:
    """A known verb's base form, for the few inflections instructions use: "changed" -> "change"."""
    for cut in ("", "d", "ed", "s", "es"):
        if word.endswith(cut) and word[: len(word) - len(cut)] in lex.VERBS:
            return word[: len(word) - len(cut)]
    return {"made": "make", "took": "take", "gave": "give"}.get(word, word)


def gerund(word: str) -> str:
    """The -ing form of a bare verb after "make X"/"have X" ("float" -> "floating", "swim" -> "swimming"),
    or "" when the word reads as something else (an adjective, a preposition, a name, an -ing form)."""
    w = word.lower()
    if (w in lex.DETS | lex.PREPS | lex.COPULA | lex.LOOK | lex.WITH_VERBS.keys() | {"made", "dressed"}
            | lex.SEASON | lex.TIME | lex.PLACES
            or not w.isalpha() or word[:1].isupper() or is_adjective(w) or w.endswith(("ing", "ed"))
            or (w.endswith("s") and not w.endswith("ss"))):
        return ""
    if w.endswith("ie"):  # lie -> lying
        return w[:-2] + "ying"
    if w.endswith("e") and not w.endswith("ee"):
        return w[:-1] + "ing"
    cvc = len(w) <= 4 and w[-1] not in "aeiouwxy" and w[-2] in "aeiou" and w[-3:-2] not in ("", *"aeiou")
    return w + (w[-1] if cvc else "") + "ing"


def _participle(word: str, nxt: str) -> bool:
    # After a noun, "-ing"/"-ed" starts a participle phrase: "the man sitting ...", "the cape hooked on ...".
    if word.endswith("ing"):
        return word not in lex.ING_NOUNS
    return word.endswith("ed") and len(word) > 4 and (nxt in lex.PREPS or not nxt)


def _own(np: NounPhrase) -> NounPhrase:
    # A pronoun's body part or garment belongs to the person: "her hair" -> "person's hair".
    h = np.head
    if np.det in lex.PERSON_POSS and np.words[0] != "person's" and (h in lex.BODY or h[:-1] in lex.BODY):
        np.words = ["person's", *np.words]
    return np


def _phrase(words: list[str], det: str) -> NounPhrase:
    """Classifies the words of a noun phrase (whole image, a position, plural, an attribute of a thing)."""
    head = words[-1].lower()
    if len(words) > 1 and head in lex.ATTR_NOUNS | {"color", "colour"}:  # "the balloon's color"
        np = _phrase([*words[:-2], re.sub(r"'s$", "", words[-2])], det)
        np.attr = head
        return np
    spatial = all(w.lower() in lex.SPATIAL for w in words)
    if det in lex.PERSON_POSS and spatial:  # "to his left": the person is the anchor
        return _person(det in lex.PLURAL_PERSON)
    plural = det in lex.PLURAL_DETS or head in lex.PLURAL_NOUNS or (
        head.endswith("s") and not head.endswith(("ss", "us", "is", "'s")))
    whole = (det in ("", "the", "this", "that", "its") and len(words) <= 2 and head in lex.WHOLE
             and all(w.lower() in lex.WHOLE | {"whole", "entire", "full"} for w in words))
    return _own(NounPhrase(words, det=det, plural=plural, whole=whole, spatial=spatial))


class Cursor:
    """The tokens of one instruction and a read position."""

    def __init__(self, toks: list[str]) -> None:
        self.toks, self.low, self.i = toks, [t.lower() for t in toks], 0

    def peek(self, k: int = 0) -> str:
        """The lower-case token k after the position, or "" past the end."""
        j = self.i + k
        return self.low[j] if j < len(self.low) else ""

    def eat(self, *words: str) -> bool:
        """Moves past `words` if they come next; returns whether they did."""
        if all(self.peek(k) == w for k, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def rest(self) -> list[str]:
        """The tokens from the position on, in the user's spelling."""
        return self.toks[self.i :]

    def at_end(self) -> bool:
        """Whether every token has been read."""
        return self.i >= len(self.low)

    def np(self, causative: bool = False) -> NounPhrase | None:
        """Reads a noun phrase at the position, or returns None (position unmoved) when there is none.

        Args:
            causative: After "make"/"have"/"let", "her" is the object ("make her float") unless a body
                part or garment follows ("make her hair blue").
        """
        start, det = self.i, ""
        w, nxt = self.peek(), self.peek(1)
        if w in ("it", "everything") or (w == "this" and (nxt in lex.NOT_NOUN or not nxt)):
            self.i += 1  # "make it winter", "make this a night scene": the whole picture
            return NounPhrase([w], det="it", whole=True)
        while (w := self.peek()) in lex.DETS or w.isdigit() or (w in lex.QUANT and self.peek(1) == "of"):
            det = det or w
            self.i += 1
            self.eat("of")  # "some of the trees", "a couple of birds"
        w, nxt = self.peek(), self.peek(1)
        her_possessive = nxt and nxt not in lex.NOT_NOUN and (not causative or nxt in lex.BODY)
        if not det and w in lex.PERSON and not (w == "her" and her_possessive):
            self.i += 1
            return _person(w in lex.PLURAL_PERSON)
        if w in lex.POSS and not det:
            det = w
            self.i += 1
        words: list[str] = []
        while not self.at_end():
            w = self.peek()
            if w in lex.BOUNDARY or (words and (w in lex.DET_OR_PERSON or _participle(w, self.peek(1))
                                                or (causative and w in lex.ACTIONS))):
                break
            if w == "of" and words:
                return self._of_phrase(words, det)
            words.append(self.toks[self.i])
            self.i += 1
        if words:
            return _phrase(words, det)
        if det in lex.PERSON_POSS:  # a bare "his"/"their": the person themself
            return _person(det in lex.PLURAL_PERSON)
        if det in ("this", "that", "all", "its"):
            return NounPhrase([det], det=det, whole=True)
        self.i = start
        return None

    def _of_phrase(self, words: list[str], det: str) -> NounPhrase:
        # "the top of the roof" -> roof; "the color of the car" -> car; otherwise "roof of the cabin" stays.
        head = words[-1].lower()
        self.i += 1
        sub = self.np()
        if sub is None:
            return _phrase(words, det)
        if all(w.lower() in lex.SPATIAL for w in words) or (len(words) == 1 and head in lex.WHOLE):
            sub.anchored = True
            return sub
        if head in lex.ATTR_NOUNS or head in lex.GLOBAL_ATTR:
            sub.attr = head
            return sub
        if sub.person:  # "the hands of them": the person's hands
            return _phrase(["person's", *words], det)
        return _phrase([*words, "of", *([sub.det] if sub.det == "the" else []), *sub.words], det)

    def np_list(self, causative: bool = False) -> list[NounPhrase]:
        """Reads "the cat and the dog" (or "the cat, the dog"): one phrase per region, [] when none."""
        first = self.np(causative)
        nps = [first] if first else []
        while nps and self.peek() in ("and", "or", ",") and self.peek(1) in lex.DET_OR_PERSON | lex.POSS:
            self.i += 1
            nxt = self.np()
            if nxt is None:
                break
            nps.append(nxt)
        return nps


def peel(np: NounPhrase) -> list[str]:
    """Splits trailing adjectives off a phrase read too greedily: "the sky stormy" -> sky + ["stormy"].

    Mutates `np`; returns the adjectives (with a leading "more"/"very"), or [] when there are none.
    """
    pred: list[str] = []
    while len(np.words) > 1 and is_adjective(np.words[-1]):
        pred.insert(0, np.words.pop())
    while pred and len(np.words) > 1 and np.words[-1].lower() in lex.ADVERBS:
        pred.insert(0, np.words.pop())
    if pred:  # the head changed: classify the phrase again
        fresh = _phrase([w for w in np.words if w != "person's"], np.det)
        np.words, np.plural, np.whole, np.spatial = fresh.words, fresh.plural, fresh.whole, fresh.spatial
    return pred


def skip_pps(c: Cursor) -> None:
    """Skips phrases that only locate the object ("the man on the left of the bench ... old").

    A last phrase that ends the instruction is the predicate itself ("have her in a library"): kept.
    """
    last = c.i
    while c.peek() in lex.SKIP_PREPS:
        last = c.i
        while c.peek() in lex.PREPS:
            c.i += 1
        if c.np() is None:
            break
    if c.at_end():
        c.i = last


def join(toks: list[str]) -> str:
    """Joins tokens into prompt text: no space before punctuation, none trailing."""
    return re.sub(r"\s+([,;:!?.])", r"\1", " ".join(toks)).strip(" ,;:!?.")


def people(toks: list[str]) -> list[str]:
    """Rewrites person pronouns for a prompt: "a halo over them" -> "a halo over the people"."""
    out = []
    for t in toks:
        low = t.lower()
        if low in lex.PERSON_POSS:
            out.append("the people's" if low in lex.PLURAL_PERSON else "the person's")
        elif low in lex.PERSON - {"i", "you"}:
            out.append("the people" if low in lex.PLURAL_PERSON else "the person")
        else:
            out.append(t)
    return out


def normalise(instruction: str) -> tuple[list[str], list[str], list[str]]:
    """Tokens of an instruction's first sentence, framing dropped, with the negated phrases cut out.

    Args:
        instruction: The raw instruction.

    Returns:
        `(tokens, negatives, notes)`: tokens keep the user's spelling ("please", "can you", "I want you to"
        dropped); negatives are the phrases of "but not the X" / "except the X" clauses.
    """
    text = instruction.strip().replace("’", "'").replace("‘", "'")
    for pattern, repl in _CONTRACTIONS:
        text = re.sub(pattern, repl, text, flags=re.IGNORECASE)
    negatives: list[str] = []
    for m in reversed(list(_NEGATION.finditer(text))):
        nps = Cursor(_TOKEN.findall(_KEEP_TAIL.sub("", m.group(1)))).np_list()
        negatives[:0] = [n.text for n in nps if not n.whole]
        text = text[: m.start()] + text[m.end() :]
    raw = _TOKEN.findall(text)
    # A dot after a single letter or a title is an abbreviation ("J. Smith", "U.S.", "Mrs."), not an end.
    toks = [t for i, t in enumerate(raw)
            if t != "." or (i and len(raw[i - 1]) > 1 and raw[i - 1] not in lex.ABBREV)]
    notes: list[str] = []
    if "." in toks[:-1]:
        notes.append("only the first sentence was planned")
    toks = toks[: toks.index(".")] if "." in toks else toks
    low = [t.lower() for t in toks]
    while low:
        adverb = low[0].endswith("ly") and len(low[0]) > 4 and low[0] not in lex.ADJ  # "completely cover"
        k = 1 if low[0] in lex.PREFIX or adverb else next(
            (len(f) for f in lex.FRAMES if tuple(low[: len(f)]) == f), 0)
        if not k:
            break
        toks, low = toks[k:], low[k:]
    return toks, negatives, notes
