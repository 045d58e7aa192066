"""Planner v2: compound instructions (plan.parts), where (spatial and depth), negatives ("everything but X",
"keep X untouched"), parts of objects (accessories) and unambiguous typo fixes; the spatial generator; the
map builder's part fallback and position prior. Instructions are hand-written, apart from the dev set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from automaps.generators import generate
from automaps.plan_compound import split_clauses
from automaps.plan_types import PARTS, WHERE, EditPlan
from automaps.plan_typos import correct_typos, one_edit_apart
from automaps.planner import plan

# A part: (regions, words the prompt contains, where, part). One part = a single-part plan (parts == []).
P = tuple[list[str], str, "str | None", "str | None"]
# (instruction, negatives, parts)
TABLE: list[tuple[str, list[str], list[P]]] = [
    # compounds: two verbs, or one verb shared by object-predicate pairs
    ("make the sky stormy and the grass yellow", [],
     [(["sky"], "a stormy sky", None, None), (["grass"], "yellow grass", None, None)]),
    ("turn the sky orange and the sea into lava", [],
     [(["sky"], "an orange sky", None, None), (["sea"], "lava", None, None)]),
    ("paint the door red and the window frames white", [],
     [(["door"], "a red door", None, None), (["window frames"], "white window frames", None, None)]),
    ("make the cat black and add a red ball next to it", [],
     [(["cat"], "a black cat", None, None), (["cat"], "a red ball next to the cat", None, None)]),
    ("remove the bicycle and make the wall blue", [],
     [(["bicycle"], "empty background", None, None), (["wall"], "a blue wall", None, None)]),
    ("replace the mug with a teacup and make the table marble", [],
     [(["mug"], "a teacup", None, None), (["table"], "a marble table", None, None)]),
    ("add a rainbow over the hills and make the river frozen", [],
     [(["hills"], "a rainbow over the hills", None, None), (["river"], "a frozen river", None, None)]),
    ("make the roof snowy, then add a chimney on the house", [],
     [(["roof"], "a snowy roof", None, None), (["house"], "a chimney on the house", None, None)]),
    ("make the lamp brighter and remove the vase", [],
     [(["lamp"], "a brighter lamp", None, None), (["vase"], "empty background", None, None)]),
    ("turn the tree into a cactus and add a lizard on the rock", [],
     [(["tree"], "a cactus", None, None), (["rock"], "a lizard on the rock", None, None)]),
    ("make the sky pink and the clouds purple and the sea green", [],
     [(["sky"], "a pink sky", None, None), (["clouds"], "purple clouds", None, None),
      (["sea"], "a green sea", None, None)]),
    ("change the car to a tractor and make the road muddy", [],
     [(["car"], "a tractor", None, None), (["road"], "a muddy road", None, None)]),
    ("make the boat wooden and add seagulls above the water", [],
     [(["boat"], "a wooden boat", None, None), (["water"], "seagulls above the water", None, None)]),
    ("darken the sky and make the lighthouse glow", [],
     [(["sky"], "a darker sky", None, None), (["lighthouse"], "lighthouse", None, None)]),
    ("remove the fence and add flowers on the lawn", [],
     [(["fence"], "empty background", None, None), (["lawn"], "flowers on the lawn", None, None)]),
    ("make the stars brighter and the moon bigger", [],
     [(["stars"], "brighter stars", None, None), (["moon"], "a bigger moon", None, None)]),
    ("turn the lake into a desert and the mountains into dunes", [],
     [(["lake"], "a desert", None, None), (["mountains"], "dunes", None, None)]),
    ("make the trees pink and the sea blue", [],
     [(["trees"], "pink trees", None, None), (["sea"], "a blue sea", None, None)]),
    # compounds with where, parts and negatives
    ("make the dog on the left brown and the cat on the right white", [],
     [(["dog"], "a brown dog", "left", None), (["cat"], "a white cat", "right", None)]),
    ("remove the car on the right and make the sky pink", [],
     [(["car"], "empty background", "right", None), (["sky"], "a pink sky", None, None)]),
    ("put sunglasses on the man and make the sky red", [],
     [(["man"], "sunglasses on the man", None, "face"), (["sky"], "a red sky", None, None)]),
    ("make the sky stormy and the grass yellow except the tree", ["tree"],
     [(["sky"], "a stormy sky", None, None), (["grass"], "yellow grass", None, None)]),
    # where: positions in the picture
    ("make the car on the left red", [], [(["car"], "a red car", "left", None)]),
    ("turn the dog on the right into a wolf", [], [(["dog"], "a wolf", "right", None)]),
    ("remove the watermark in the bottom right corner", [],
     [(["watermark"], "empty background", "bottom right", None)]),
    ("make the building in the top left corner golden", [], [(["building"], "a golden building", "top left", None)]),
    ("make the left car blue", [], [(["car"], "a blue car", "left", None)]),
    ("remove the sign on the right side of the image", [], [(["sign"], "empty background", "right", None)]),
    ("make the cloud at the top darker", [], [(["cloud"], "a darker cloud", "top", None)]),
    ("make the flowers in the middle yellow", [], [(["flowers"], "yellow flowers", "center", None)]),
    ("make the house on the left side red", [], [(["house"], "a red house", "left", None)]),
    ("make the bird at the bottom blue", [], [(["bird"], "a blue bird", "bottom", None)]),
    ("make the tower in the center taller", [], [(["tower"], "a taller tower", "center", None)]),
    ("add a moon in the top left corner", [], [([], "a moon in the top left corner", "top left", None)]),
    ("turn the second car from the left into a bus", [], [(["car"], "a bus", "left", None)]),
    ("remove the third person from the right", [], [(["person"], "empty background", "right", None)]),
    # where: depth
    ("make the people in the background blurry", [], [(["people"], "blurry people", "background", None)]),
    ("turn the trees in the foreground orange", [], [(["trees"], "orange trees", "foreground", None)]),
    ("make the boat in the distance larger", [], [(["boat"], "a larger boat", "background", None)]),
    # relations to another object are not positions in the picture
    ("add a kite to the left of the tree", [], [(["tree"], "kite", None, None)]),
    # parts and accessories
    ("put sunglasses on the man", [], [(["man"], "sunglasses on the man", None, "face")]),
    ("put a hat on the dog", [], [(["dog"], "a hat on the dog", None, "head")]),
    ("add a crown to the queen", [], [(["queen"], "crown", None, "head")]),
    ("give the cat a tiny top hat", [], [(["cat"], "a cat with a tiny top hat", None, "head")]),
    ("make the woman wear earrings", [], [(["woman"], "a woman wearing earrings", None, "head")]),
    ("put a scarf on the snowman", [], [(["snowman"], "a scarf on the snowman", None, "neck")]),
    ("add gloves to the boy", [], [(["boy"], "gloves", None, "hands")]),
    ("put boots on the girl", [], [(["girl"], "boots on the girl", None, "feet")]),
    ("add a necklace to the woman", [], [(["woman"], "necklace", None, "neck")]),
    ("give the horse a helmet", [], [(["horse"], "a horse with a helmet", None, "head")]),
    ("make her hair blue", [], [(["person's hair"], "blue hair", None, None)]),
    ("make the man's beard gray", [], [(["man's beard"], "gray beard", None, None)]),
    ("add a hat on the table", [], [(["table"], "a hat on the table", None, None)]),
    # negatives
    ("make everything black and white except the dog", ["dog"], [([], "black and white", None, None)]),
    ("make everything but the dog grayscale", ["dog"], [([], "grayscale", None, None)]),
    ("make the sky stormy but keep the house untouched", ["house"], [(["sky"], "a stormy sky", None, None)]),
    ("keep the house untouched, make the sky purple", ["house"], [(["sky"], "a purple sky", None, None)]),
    ("make the photo sepia except for the people", ["people"], [([], "sepia", None, None)]),
    ("make the grass brown but not the trees", ["trees"], [(["grass"], "brown grass", None, None)]),
    ("turn everything into a pencil sketch except the cat", ["cat"], [([], "pencil sketch", None, None)]),
    ("make it winter but leave the car as is", ["car"], [([], "winter", None, None)]),
    # typos: corrected when unambiguous, left alone otherwise
    ("make the wter blue", [], [(["water"], "blue water", None, None)]),
    ("make the grass yelow", [], [(["grass"], "yellow grass", None, None)]),
    ("turn the monky into a robot", [], [(["monkey"], "a robot", None, None)]),
    ("turn the wtaer into lava", [], [(["water"], "lava", None, None)]),
    ("make the skyy blue", [], [(["skyy"], "a blue skyy", None, None)]),
    ("make the boat green", [], [(["boat"], "a green boat", None, None)]),
    ("turn the frog into a prince", [], [(["frog"], "a prince", None, None)]),
    ("remove the desk", [], [(["desk"], "empty background", None, None)]),
]


def _check_part(got: EditPlan, want: P, instruction: str) -> None:
    regions, words, where, part = want
    assert got.regions == regions, instruction
    assert words in got.prompt, (instruction, got.prompt)
    assert got.where == where, instruction
    assert got.part == part, instruction
    assert not got.parts


@pytest.mark.parametrize(("instruction", "negatives", "parts"), TABLE, ids=[t[0] for t in TABLE])
def test_table(instruction: str, negatives: list[str], parts: list[P]) -> None:
    p = plan(instruction)
    assert p.negatives == negatives
    if len(parts) == 1:
        assert p.parts == []
        _check_part(p, parts[0], instruction)
        assert p.all_parts == [p]
        return
    assert len(p.parts) == len(parts)
    for got, want in zip(p.parts, parts, strict=True):
        _check_part(got, want, instruction)
        assert got.negatives == negatives  # what is kept is kept by every part
        assert got.instruction == instruction
    # The compound plan's own fields are the merged edit for a one-map caller.
    union = [r for q in p.parts for r in q.regions]
    whole = any(not q.regions for q in p.parts)
    assert p.regions == ([] if whole else list(dict.fromkeys(union)))
    assert p.strength == max(q.strength for q in p.parts)
    assert all(q.prompt in p.prompt for q in p.parts)
    assert any("compound" in n for n in p.notes)


def test_table_size_and_coverage() -> None:
    assert len(TABLE) >= 60
    assert sum(len(parts) > 1 for _, _, parts in TABLE) >= 20
    assert {w for _, _, parts in TABLE for *_, w, _ in parts} - {None} >= {"left", "right", "background"}


def test_notes_name_typos_ordinals_and_parts() -> None:
    assert "typo: 'wter' read as 'water'" in plan("make the wter blue").notes
    assert not any("typo" in n for n in plan("make the skyy blue").notes)
    ordinal = plan("turn the second car from the left into a bus").notes
    assert any("second" in n and "instances" in n for n in ordinal)
    assert any("man's face" in n for n in plan("put sunglasses on the man").notes)


def test_typo_rules() -> None:
    assert one_edit_apart("wter", "water") and one_edit_apart("bule", "blue")
    assert not one_edit_apart("water", "water") and not one_edit_apart("wtr", "water")
    assert correct_typos(["Wter"])[0] == ["Wter"]  # capitalised: a name, left alone
    assert correct_typos(["the", "desk"])[0] == ["the", "desk"]  # a known word is never corrected
    assert correct_typos(["boat"])[0] == ["boat"]  # "coat" is one letter away, but boat is a word
    assert correct_typos(["ants"])[0] == ["ants"]  # a dropped first letter ("pants") is not a typo
    toks = ["make", "the", "wter", "blue"]
    assert correct_typos(toks)[0] == ["make", "the", "water", "blue"] and toks[2] == "wter"  # input kept


def test_split_clauses_keeps_single_edits_whole() -> None:
    for text in ("make the cat and the dog red", "turn the apples and the pears into oranges",
                 "make the lake frozen and snowy", "make it black and white",
                 "have her holding a pencil, a ruler, and a drawing book"):
        assert split_clauses(text.split()) == [text.split()], text


def test_compound_plan_json_round_trip() -> None:
    p = plan("make the dog on the left brown and put a hat on the cat")
    assert len(p.parts) == 2 and p.parts[0].where == "left" and p.parts[1].part == "head"
    data = json.loads(p.to_json())
    assert [q["prompt"] for q in data["parts"]] == [q.prompt for q in p.parts]
    assert EditPlan.from_dict(data) == p
    assert "parts" not in plan("make the car red").to_dict()  # a plain plan's dict is unchanged


def test_llm_answer_with_parts_is_read() -> None:
    from automaps.llm_planner import SYSTEM_PROMPT, parse_plan_json

    part = {"kind": "attribute", "prompt": "a stormy sky", "strength": 0.9, "generator": "clipseg"}
    answer = {**part, "regions": ["sky", "grass"], "parts": [{**part, "regions": ["sky"], "where": "top"},
                                                             {**part, "regions": ["grass"], "prompt": "yellow grass"}]}
    p = parse_plan_json(json.dumps(answer), "make the sky stormy and the grass yellow")
    assert [(q.regions, q.where, q.instruction) for q in p.parts] == [
        (["sky"], "top", p.instruction), (["grass"], None, p.instruction)]
    assert '"parts"' in SYSTEM_PROMPT and '"where"' in SYSTEM_PROMPT


def test_plan_validates_new_fields() -> None:
    base = plan("make the car red")
    with pytest.raises(ValueError, match="where"):
        base.replace(where="north")
    with pytest.raises(ValueError, match="part"):
        base.replace(part="tail")
    with pytest.raises(ValueError, match="parts"):
        base.replace(parts=[base])
    with pytest.raises(TypeError, match="parts"):
        base.replace(parts="sky")
    with pytest.raises(ValueError, match="parts of its own"):
        base.replace(parts=[plan("make the sky stormy and the grass yellow"), base])
    assert set(WHERE) >= {"left", "bottom right", "center", "background"} and "face" in PARTS


def test_cli_plan_prints_the_parts(capsys) -> None:
    from pipelines.cli import main

    assert main(["plan", "make the sky stormy and the grass yellow"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [q["regions"] for q in data["parts"]] == [["sky"], ["grass"]]


# ------------------------------------------------------------------------------------- spatial generator
@pytest.mark.parametrize(("position", "heavier"), [
    ("left", "left"), ("right", "right"), ("top", "top"), ("bottom", "bottom"),
    ("top left", "top left"), ("bottom right", "bottom right"),
])
def test_spatial_prior_is_heavier_on_its_side(position: str, heavier: str) -> None:
    m = generate(Image.new("RGB", (64, 48)), source="spatial", position=position)
    v = m.values
    assert v.shape == (48, 64) and v.dtype == np.float32
    assert v.min() == 0.0 and v.max() == 1.0
    rows = {"top": slice(0, 24), "bottom": slice(24, 48)}
    cols = {"left": slice(0, 32), "right": slice(32, 64)}
    opposite = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}
    sides = heavier.split()
    # The named half (or quadrant) holds the weight; the opposite one almost none.
    near = v[next((rows[s] for s in sides if s in rows), slice(None)), next((cols[s] for s in sides if s in cols),
                                                                             slice(None))]
    far = v[next((rows[opposite[s]] for s in sides if s in rows), slice(None)),
            next((cols[opposite[s]] for s in sides if s in cols), slice(None))]
    assert near.mean() > 0.8 and far.mean() < 0.1
    axis = 1 if set(heavier.split()) & {"left", "right"} else 0
    profile = v.mean(axis=0) if axis == 1 else v.mean(axis=1)
    steps = np.diff(profile)
    assert (steps <= 1e-7).all() or (steps >= -1e-7).all()  # smooth and monotone: no ripples
    assert m.provenance == f"spatial({position!r})"


def test_spatial_center_and_params() -> None:
    v = generate(Image.new("RGB", (40, 40)), source="spatial", position="center").values
    assert v[20, 20] == 1.0 and v[0, 0] == 0.0 and np.allclose(v, v.T)
    sharp = generate(Image.new("RGB", (40, 40)), source="spatial", position="left", softness=0.1).values
    assert ((sharp > 0) & (sharp < 1)).sum() < ((v > 0) & (v < 1)).sum()
    with pytest.raises(ValueError, match="position"):
        generate(Image.new("RGB", (8, 8)), source="spatial", position="north")
    with pytest.raises(ValueError, match="softness"):
        generate(Image.new("RGB", (8, 8)), source="spatial", softness=0.0)
