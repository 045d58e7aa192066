"""Tests of the planner: the rule grammar (table tests per edit kind and pattern), the EditPlan contract,
and the LLM planner's validation and fallback with a tiny random GPT-2 saved and loaded back."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from automaps.plan_types import GENERATORS, KINDS, EditPlan
from automaps.planner import Planner, plan

# (instruction, kind, regions, words the prompt must contain). Phrased apart from the dev set on purpose.
TABLE = [
    # the brief's examples
    ("make the sky stormy", "attribute", ["sky"], ["stormy", "sky"]),
    ("turn the cat into a tiger", "replace", ["cat"], ["a tiger"]),
    ("make the car red", "attribute", ["car"], ["a red car"]),
    ("add fireworks in the sky", "add", ["sky"], ["fireworks in the sky"]),
    ("remove the car", "remove", ["car"], ["empty"]),
    ("make it winter", "global", [], ["winter"]),
    ("as an oil painting", "global", [], ["oil painting"]),
    ("make it look like a Van Gogh", "global", [], ["Van Gogh"]),
    ("give her gray hair", "attribute", ["person"], ["person", "gray hair"]),
    ("make him a cowboy", "replace", ["person"], ["cowboy"]),
    ("put them in suits", "attribute", ["person"], ["people in suits"]),
    # replace: into / to / with / for / by, lists, possessives
    ("Transform the wooden bench into a stone throne", "replace", ["wooden bench"], ["a stone throne"]),
    ("convert the bicycle to a motorcycle", "replace", ["bicycle"], ["a motorcycle"]),
    ("replace the old lamp with a candle", "replace", ["old lamp"], ["a candle"]),
    ("swap the mug for a teacup", "replace", ["mug"], ["a teacup"]),
    ("substitute a cactus for the fern", "replace", ["fern"], ["a cactus"]),
    ("turn the apples and the pears into oranges", "replace", ["apples", "pears"], ["oranges"]),
    ("use a violin instead of the guitar", "replace", ["guitar"], ["violin"]),
    ("morph the sheep into clouds", "replace", ["sheep"], ["clouds"]),
    # attribute: adjectives, comparatives, possessives, "the color of", materials, wearing
    ("paint the fence white", "attribute", ["fence"], ["a white fence"]),
    ("color the umbrella bright yellow", "attribute", ["umbrella"], ["bright yellow umbrella"]),
    ("change the color of the scarf to teal", "attribute", ["scarf"], ["teal scarf"]),
    ("make the puppy bigger", "attribute", ["puppy"], ["bigger puppy"]),
    ("make the lake frozen and snowy", "attribute", ["lake"], ["frozen and snowy lake"]),
    ("have the bridge be made of ice", "attribute", ["bridge"], ["made of ice"]),
    ("let the horse wear a saddle", "attribute", ["horse"], ["wearing a saddle"]),
    ("have the kids cross the street", "attribute", ["kids"], ["kids crossing the street"]),
    ("make the dog's collar gold", "attribute", ["dog's collar"], ["gold collar"]),
    ("darken the sky", "attribute", ["sky"], ["darker sky"]),
    ("the ocean should look calmer", "attribute", ["ocean"], ["calmer ocean"]),
    ("the kettle is made of copper", "attribute", ["kettle"], ["made of copper"]),
    ("cover the table with a checkered cloth", "attribute", ["table"], ["covered with a checkered cloth"]),
    ("Make the roses purple and the leaves silver", "attribute", ["roses", "leaves"],
     ["purple roses", "silver leaves"]),
    # add: anchors through prepositions and positions
    ("place a lantern on the porch", "add", ["porch"], ["a lantern on the porch"]),
    ("insert a rainbow above the hills", "add", ["hills"], ["rainbow above the hills"]),
    ("put a small boat on the lake", "add", ["lake"], ["small boat"]),
    ("add a kite to the left of the tree", "add", ["tree"], ["kite"]),
    ("attach wings to the horse", "add", ["horse"], ["wings"]),
    ("draw a mural on the wall", "add", ["wall"], ["mural"]),
    ("add a seagull next to them", "add", ["person"], ["seagull"]),
    ("add a balloon", "add", [], ["a balloon"]),
    ("there is a moon above the tower", "add", ["tower"], ["moon above the tower"]),
    # remove: verbs and phrasal verbs
    ("delete the graffiti on the wall", "remove", ["graffiti"], ["empty"]),
    ("get rid of the power lines", "remove", ["power lines"], ["empty"]),
    ("erase the cars and the bikes", "remove", ["cars", "bikes"], ["empty"]),
    ("take the cup off the table", "remove", ["cup"], ["empty"]),
    ("without the fence", "remove", ["fence"], ["empty"]),
    # background: the subject is kept, the rest changes
    ("change the background to a beach", "background", ["main subject"], ["a beach"]),
    ("replace the backdrop with a snowy forest", "background", ["main subject"], ["snowy forest"]),
    ("make the background blurry", "background", ["main subject"], ["blurry background"]),
    ("change the backdrop behind the dog to a meadow", "background", ["dog"], ["meadow"]),
    ("move the statue to a museum", "background", ["statue"], ["museum"]),
    # global: whole-image markers, styles, seasons, times, weather
    ("turn the photo into a watercolor", "global", [], ["watercolor"]),
    ("render it in charcoal", "global", [], ["charcoal"]),
    ("in the style of Hokusai", "global", [], ["Hokusai"]),
    ("convert the scene to autumn", "global", [], ["autumn"]),
    ("set it at night", "global", [], ["night"]),
    ("make everything look like a pencil sketch", "global", [], ["pencil sketch"]),
    ("give the image a vintage film look", "global", [], ["vintage film look"]),
    ("cubism", "global", [], ["cubism"]),
    ("brighten the picture", "global", [], ["brighter"]),
    # framing and politeness
    ("Could you please swap the bicycle for a horse?", "replace", ["bicycle"], ["a horse"]),
    ("I want the river to be frozen", "attribute", ["river"], ["frozen river"]),
    ("what if the barn were a castle", "replace", ["barn"], ["castle"]),
]


@pytest.mark.parametrize(("instruction", "kind", "regions", "prompt_has"), TABLE, ids=[r[0] for r in TABLE])
def test_table(instruction: str, kind: str, regions: list[str], prompt_has: list[str]) -> None:
    p = plan(instruction)
    assert (p.kind, p.regions) == (kind, regions), p
    for words in prompt_has:
        assert words in p.prompt, (p.prompt, words)
    assert p.instruction == instruction


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 40
    assert {row[1] for row in TABLE} == set(KINDS)


@pytest.mark.parametrize(("instruction", "generator"), [
    ("make the sky stormy", "clipseg"), ("make the grass brown", "clipseg"),
    ("turn the water into lava", "clipseg"), ("turn the cat into a tiger", "auto"),
    ("remove the car", "auto"),
    ("change the background to a beach", "saliency"),
    ("make it winter", "constant"), ("as an oil painting", "constant"), ("make it foggy", "depth"),
])
def test_generator_recipe(instruction: str, generator: str) -> None:
    assert plan(instruction).generator == generator


def test_kind_recipes() -> None:
    sky, cat, add, rm = (plan(s) for s in ("make the sky stormy", "turn the cat into a tiger",
                                           "add fireworks in the sky", "remove the car"))
    assert 0.85 <= sky.strength <= 0.95
    assert cat.grow > 0 and cat.strength >= 0.9
    assert add.feather > 0
    assert rm.strength == 1.0 and rm.grow > cat.grow
    bg = plan("change the background to a beach")
    assert bg.invert_region and bg.strength > 0.9
    fog = plan("make it foggy")
    assert fog.depth_weighted and fog.regions == []
    assert plan("make the dog bigger").grow > plan("make the dog brown").grow  # room outside the old outline


@pytest.mark.parametrize(("instruction", "regions", "negatives"), [
    ("make the sky stormy but not the mountains", ["sky"], ["mountains"]),
    ("paint the fence white except the gate", ["fence"], ["gate"]),
    ("recolor the umbrella yellow except for the handle", ["umbrella"], ["handle"]),
    ("make the street wet without changing the cars", ["street"], ["cars"]),
    ("turn the leaves orange, but keep the trunk unchanged", ["leaves"], ["trunk"]),
    ("Turn the lawn into a desert, but leave the house alone", ["lawn"], ["house"]),
    ("make it winter but not the people or the dog", [], ["people", "dog"]),
    ("swap the cat with a fox but not her", ["cat"], ["person"]),
])
def test_negatives(instruction: str, regions: list[str], negatives: list[str]) -> None:
    p = plan(instruction)
    assert (p.regions, p.negatives) == (regions, negatives)
    assert "not" not in p.prompt.split()


@pytest.mark.parametrize("instruction", [
    "make her smile", "give him a beard", "put them in raincoats", "have them hold umbrellas",
    "she is wearing a red scarf", "turn him into a robot", "make them look older", "dress them as pirates",
])
def test_pronouns_are_person(instruction: str) -> None:
    p = plan(instruction)
    assert p.regions == ["person"]
    assert any("pronoun" in n for n in p.notes)


def test_possessive_pronoun_keeps_the_part() -> None:
    assert plan("make her hair blue").regions == ["person's hair"]
    assert plan("make his shirt striped").prompt == "a person's striped shirt"
    assert plan("put a crown on her head").regions == ["person's head"]


@pytest.mark.parametrize("instruction", ["blah blah", "qwerty asdf", "把天空变成紫色", "!!!", "42"])
def test_unparseable_falls_back_to_global(instruction: str) -> None:
    p = plan(instruction)
    assert (p.kind, p.regions, p.generator) == ("global", [], "constant")
    assert p.prompt == instruction.strip()
    assert any("could not parse" in n for n in p.notes)


@pytest.mark.parametrize("bad", ["", "   ", "\n\t "])
def test_empty_instruction_is_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="instruction"):
        plan(bad)


@pytest.mark.parametrize("bad", [None, 3, b"make it red", ["make it red"]])
def test_non_str_instruction_is_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="instruction"):
        plan(bad)  # type: ignore[arg-type]


def test_long_instruction() -> None:
    text = "make the sky stormy and dramatic " + "with dark rolling clouds " * 100
    text = text[:2000]
    assert len(text) == 2000
    p = plan(text)
    assert p.regions == ["sky"] and p.instruction == text
    assert plan("x" * 2000).kind == "global"


@pytest.mark.parametrize(("instruction", "regions"), [
    ("make the café sign neon ✨", ["café sign"]),
    ("replace the sky with a starry night 🌌", ["sky"]),
    ("🎨 as a watercolor painting 🎨", []),
    ("turn the Müller house into a château", ["Müller house"]),
])
def test_unicode_and_emoji(instruction: str, regions: list[str]) -> None:
    p = plan(instruction)
    assert p.regions == regions
    json.loads(p.to_json())


def test_multiple_sentences_plan_the_first() -> None:
    p = plan("Make the car red. Also add a dog.")
    assert p.regions == ["car"] and any("first sentence" in n for n in p.notes)


def test_pure_and_deterministic() -> None:
    assert plan("make the sky stormy") == plan("make the sky stormy")
    assert plan("   make   the    sky   stormy   ").regions == ["sky"]


def test_to_dict_and_json_round_trip() -> None:
    p = plan("make the sky stormy but not the mountains")
    d = p.to_dict()
    assert {"kind", "regions", "negatives", "prompt", "strength", "generator"} <= d.keys()
    assert isinstance(d["regions"], list) and isinstance(d["negatives"], list)
    assert json.loads(p.to_json()) == d
    assert EditPlan.from_dict(json.loads(p.to_json())) == p


def test_replace_overrides_and_validates() -> None:
    p = plan("make the sky stormy")
    q = p.replace(strength=0.5, regions=["sky", "clouds"], generator="grounded")
    assert (q.strength, q.regions, q.generator) == (0.5, ["sky", "clouds"], "grounded")
    assert p.strength != 0.5 and p.regions == ["sky"]  # the original is untouched
    with pytest.raises(ValueError, match="strength"):
        p.replace(strength=1.5)


@pytest.mark.parametrize(("changes", "error", "field"), [
    ({"kind": "blur"}, ValueError, "kind"), ({"generator": "magic"}, ValueError, "generator"),
    ({"strength": -0.1}, ValueError, "strength"), ({"strength": True}, TypeError, "strength"),
    ({"strength": "0.5"}, TypeError, "strength"), ({"regions": "sky"}, TypeError, "regions"),
    ({"regions": ["sky", 3]}, TypeError, "regions"), ({"grow": -1}, ValueError, "grow"),
    ({"grow": 2.5}, ValueError, "grow"), ({"feather": -2.0}, ValueError, "feather"),
    ({"invert_region": 1}, TypeError, "invert_region"), ({"prompt": " "}, ValueError, "prompt"),
    ({"regions": [], "generator": "clipseg"}, ValueError, "regions"),
])
def test_edit_plan_validation(changes: dict, error: type[Exception], field: str) -> None:
    with pytest.raises(error, match=field):
        plan("make the sky stormy").replace(**changes)


def test_edit_plan_copies_lists() -> None:
    regions = ["sky"]
    p = EditPlan("x", "attribute", regions, [], "a sky", 0.9, "clipseg")
    regions.append("sea")
    assert p.regions == ["sky"]


def test_planner_alias_accepts_plan() -> None:
    planner: Planner = plan
    assert isinstance(planner, Callable)
    assert set(GENERATORS) >= {plan(s).generator for s, *_ in TABLE}


# --- LLM planner --------------------------------------------------------------------------------------------

VALID = {"kind": "replace", "regions": ["cat"], "negatives": [], "prompt": "a tiger", "strength": 0.9,
         "generator": "grounded", "grow": 12, "feather": 4.0, "invert_region": False, "depth_weighted": False,
         "notes": ["from the model"]}


@pytest.fixture(scope="module")
def tiny_lm_folder(tmp_path_factory):
    """A 1-layer random GPT-2 with a byte-level tokenizer built in memory, saved with save_pretrained."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    vocab = {ch: i for i, ch in enumerate(sorted(ByteLevel.alphabet()))}
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = GPT2Tokenizer(vocab=vocab, merges=[])
    config = GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=len(vocab), n_positions=4096,
                        bos_token_id=len(vocab) - 1, eos_token_id=len(vocab) - 1)
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_parse_valid_json_is_accepted_as_is() -> None:
    from automaps.llm_planner import parse_plan_json

    p = parse_plan_json(json.dumps(VALID), "turn the cat into a tiger")
    assert p.to_dict() == {**VALID, "instruction": "turn the cat into a tiger"}


@pytest.mark.parametrize("text", [
    "Sure! Here is the plan:\n```json\n" + json.dumps(VALID) + "\n```",
    "{not json} then " + json.dumps(VALID),
    json.dumps({k: VALID[k] for k in ("kind", "regions", "prompt", "strength", "generator")}),
])
def test_parse_finds_the_json_object(text: str) -> None:
    from automaps.llm_planner import parse_plan_json

    p = parse_plan_json(text, "turn the cat into a tiger")
    assert (p.kind, p.regions, p.prompt) == ("replace", ["cat"], "a tiger")


@pytest.mark.parametrize(("text", "reason"), [
    ("I cannot help with that.", "no JSON object"),
    ("[1, 2, 3]", "no JSON object"),
    ('{"kind": "replace"}', "missing keys"),
    (json.dumps({**VALID, "kind": "blur"}), "kind"),
    (json.dumps({**VALID, "strength": 1.5}), "strength"),
    (json.dumps({**VALID, "strength": "0.9"}), "strength"),
    (json.dumps({**VALID, "regions": "cat"}), "regions"),
    (json.dumps({**VALID, "regions": ["cat", None]}), "regions"),
    (json.dumps({**VALID, "generator": "sam2"}), "generator"),
    (json.dumps({**VALID, "grow": -3}), "grow"),
    (json.dumps({**VALID, "invert_region": "yes"}), "invert_region"),
    (json.dumps({**VALID, "confidence": 0.7}), "unknown keys"),
    (json.dumps({**VALID, "regions": [], "generator": "clipseg"}), "regions"),
    ('{"kind": "replace", "regions": ["cat"], "prompt": "a tiger", "strength": NaN, "generator": "auto"}',
     "strength"),
])
def test_parse_rejects_invalid_answers(text: str, reason: str) -> None:
    from automaps.llm_planner import parse_plan_json

    with pytest.raises(ValueError, match=reason):
        parse_plan_json(text, "turn the cat into a tiger")


def test_llm_planner_random_model_falls_back(tiny_lm_folder) -> None:
    from automaps.llm_planner import LLMPlanner

    planner = LLMPlanner(tiny_lm_folder, device="cpu", max_new_tokens=16)
    p = planner("make the sky stormy but not the mountains")
    rule = plan("make the sky stormy but not the mountains")
    assert p.replace(notes=rule.notes) == rule  # the rule-based plan, plus a note saying why
    assert any("rejected" in n and "rule-based" in n for n in p.notes)
    assert planner.load() is LLMPlanner(tiny_lm_folder, device="cpu").load()  # loaded once, cached


def test_llm_planner_context_overflow_falls_back(tiny_lm_folder) -> None:
    from automaps.llm_planner import LLMPlanner

    p = LLMPlanner(tiny_lm_folder, device="cpu", max_new_tokens=5000)("make the car red")
    assert p.regions == ["car"] and any("context" in n for n in p.notes)


def test_llm_planner_accepts_a_valid_answer(tiny_lm_folder, monkeypatch) -> None:
    from automaps.llm_planner import LLMPlanner

    planner = LLMPlanner(tiny_lm_folder, device="cpu")
    monkeypatch.setattr(planner, "generate", lambda instruction: json.dumps(VALID))
    p = planner("turn the cat into a tiger")
    assert p.to_dict() == {**VALID, "instruction": "turn the cat into a tiger"}


def test_llm_planner_checks_instruction_before_loading() -> None:
    from automaps.llm_planner import LLMPlanner

    planner = LLMPlanner("no-such-org/no-such-model")
    with pytest.raises(ValueError, match="instruction"):
        planner("  ")
    with pytest.raises(TypeError, match="instruction"):
        planner(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_new_tokens"):
        LLMPlanner("x", max_new_tokens=0)


def test_llm_planner_offline_missing_model_is_a_clear_error(monkeypatch) -> None:
    from automaps.llm_planner import LLMPlanner

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="no-such-org/no-such-model"):
        LLMPlanner("no-such-org/no-such-model", device="cpu")("make the car red")


@pytest.mark.parametrize(("instruction", "word"), [("make it winter", "in winter"), ("make it night", "at night"),
                                                   ("make it summer", "in summer")])
def test_season_and_time_nouns_are_not_verbs(instruction, word):
    result = plan(instruction)
    assert result.kind == "global" and word in result.prompt and "ing" not in result.prompt.split()[-1]
