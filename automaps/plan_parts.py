"""Parts and accessories: which part of an object an edit lands on, with the whole object as the fallback.

"put sunglasses on the man" changes the man's face, not the man: the plan keeps the region "man" and
records the part "face"; the map builder segments "man's face" and falls back to the whole man when that
map comes back empty. "a hat on the dog" -> part "head". A small hand-written lexicon; pure functions.
"""

from __future__ import annotations

import re

from automaps import plan_lexicon as lex


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


__all__ = ["ACCESSORY_PART", "OWNERS", "part_of", "part_phrase"]

ACCESSORY_PART: dict[str, str] = {
    **dict.fromkeys(_words("sunglasses glasses spectacles goggles monocle mask makeup lipstick eyeliner mascara "
                    "moustache mustache beard freckles tattoo blush eyepatch veil"), "face"),
    **dict.fromkeys(_words("hat hats cap caps helmet crown tiara wig hood headband halo horns antlers headphones "
                    "earrings earring beanie beret bandana turban sombrero fedora bonnet earmuffs headdress"), "head"),
    **dict.fromkeys(_words("ponytail braid braids pigtails curls dreadlocks"), "hair"),
    **dict.fromkeys(_words("necklace scarf tie bowtie collar choker pendant medal lei"), "neck"),
    **dict.fromkeys(_words("gloves glove mittens ring rings bracelet wristwatch"), "hands"),
    **dict.fromkeys(_words("shoes boots sneakers socks sandals slippers skates"), "feet"),
}
"""Accessory word -> the part it goes on."""

OWNERS = _words("""man woman boy girl child kid baby person people men women children kids guy lady
gentleman player dog cat horse bird cow sheep goat pig bear lion tiger monkey rabbit fox owl deer wolf
elephant giraffe zebra puppy kitten statue doll teddy robot snowman character king queen prince princess
bride groom wizard witch knight soldier pirate cowboy clown chef doctor farmer student teacher worker
grandma grandpa mother father mom dad son daughter brother sister friend customer tourist""")
"""Heads of things that have faces, heads and hands: an accessory on anything else goes on the whole thing."""


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and word[:-1] in OWNERS else word


def part_of(kind: str, regions: list[str], prompt: str) -> str | None:
    """The part of a single-region edit's object that an accessory in the prompt goes on.

    Args:
        kind: The plan's kind; accessories count for "add" and "attribute" edits (on, wearing, with).
        regions: The planned region phrases; exactly one, a person or an animal (`OWNERS`), else no part.
        prompt: The planned target prompt, where the accessory is named ("sunglasses on the man").

    Returns:
        One of `automaps.plan_types.PARTS` ("face" for sunglasses on the man), or None when the edit names
        no accessory, the region is already a part ("the man's face", "the neck of the elephant") or the
        prompt names the place itself ("a bow on her dress").
    """
    if kind not in ("add", "attribute") or len(regions) != 1:
        return None
    words = regions[0].lower().split()
    if not words or "of" in words or "'s" in regions[0] or _singular(words[-1]) not in OWNERS | lex.PLURAL_NOUNS:
        return None
    named = re.findall(r"[\w-]+", prompt.lower())
    accessories = [w for w in named if w in ACCESSORY_PART and w not in words]
    places = [w for w in named if w in lex.BODY and w not in ACCESSORY_PART]
    return ACCESSORY_PART[accessories[0]] if accessories and not places else None


def part_phrase(region: str, part: str) -> str:
    """The phrase a map model segments for a part: `part_phrase("man", "face")` -> "man's face"."""
    return f"{region}'{'' if region.endswith('s') else 's'} {part}"
