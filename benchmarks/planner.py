"""Benchmark the rule-based planner on the instruction -> target-region dev set.

Usage:
    python benchmarks/planner.py [--data PATH] [--show N] [--seed S]

The dev set (4,467 {"sentence", "target"} pairs, from z-esmaily/guided_grounded_instructpix2pix, Apache-2.0)
labels each instruction with one region word, "" for a global edit, or a pronoun for a person. Labels are
noisy (often the anchor of a position rather than the object edited), so the numbers are a development
signal, not ground truth. Printed:

1. Region agreement on items whose target is neither empty nor a pronoun. The rule: lower-case the target
   and take its last word (its head noun); singularise it (people->person, men->man, ...ies->...y,
   ...(s|x|ch|sh)es->..., ...s->... except ...ss/...us/...is); split every region phrase of the plan into
   words on anything that is not a letter, digit or hyphen (so "tiger's fur" gives "tiger", "fur") and
   singularise them the same way. The item agrees when the target head is one of those words. A background
   plan (`invert_region`, the region is everything but the subject) also agrees with the target
   "background". Also printed: the stricter "head" agreement, where the target head must be the last word
   of a region phrase (the phrase's own head noun), so containment in a longer phrase does not count.
2. Global-edit detection: precision and recall of "plan.regions == []" against "target == ''".
3. Pronoun items: the fraction whose plan has a region phrase containing the word "person".
4. Speed: mean microseconds per `plan()` call over the whole set (best of 3 passes).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from automaps.planner import plan

DEFAULT_DATA = Path(__file__).resolve().parent / "data/ggip2p_instruct_target.json"  # ships with the project
PRONOUNS = frozenset(re.findall(r"\w+", "her him them his he she they their hers theirs himself herself "
                                          "themselves me my i you your us our we"))
LOCATIVES = frozenset(re.findall(r"\w+", "on in at to of under below above over beside behind near next by "
                                           "from inside around beneath underneath against atop"))
IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse",
             "feet": "foot", "teeth": "tooth", "geese": "goose", "persons": "person"}
GOALS = {"region": 0.85, "precision": 0.90, "recall": 0.90}


def singular(word: str) -> str:
    """Returns a simple singular form: "skies" -> "sky", "boxes" -> "box", "cats" -> "cat", "grass" stays."""
    w = word.lower()
    if w in IRREGULAR:
        return IRREGULAR[w]
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ses", "xes", "ches", "shes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        return w[:-1]
    return w


def region_words(phrase: str) -> list[str]:
    """Singular words of a region phrase, possessive "'s" dropped."""
    return [singular(w) for w in re.split(r"[^\w-]+", re.sub(r"'s\b", "", phrase.lower())) if w]


def is_anchor_label(sentence: str, head: str, regions: list[str]) -> bool:
    """Whether the target is the anchor of a locative phrase after the planned region.

    "turn the frog on the left of the pond purple" is labelled "pond" while the plan edits "frog": the
    sentence has a region word, then a locative preposition, then the target.
    """
    words = [singular(w) for w in re.findall(r"[\w-]+", re.sub(r"'s\b", "", sentence.lower()))]
    region = {w for r in regions for w in region_words(r)}
    first = next((i for i, w in enumerate(words) if w in region), None)
    if first is None or head not in words[first + 1 :]:
        return False
    return any(w in LOCATIVES for w in words[first + 1 : words.index(head, first + 1)])


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints the four numbers beside their goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the instruct_target.json file")
    parser.add_argument("--show", type=int, default=0, help="print this many random disagreements per metric")
    parser.add_argument("--seed", type=int, default=0, help="seed for choosing the disagreements shown")
    args = parser.parse_args(argv)
    items = json.loads(args.data.read_text())
    plans = [plan(it["sentence"]) for it in items]

    region_ok = head_ok = region_n = anchor_labels = 0
    tp = fp = fn = 0
    pron_ok = pron_n = 0
    misses: dict[str, list[str]] = {"region": [], "false global": [], "missed global": [], "pronoun": []}
    for it, p in zip(items, plans, strict=True):
        target = it["target"].strip()
        is_global = not p.regions
        tp += is_global and not target
        fp += is_global and bool(target)
        fn += not is_global and not target
        line = f"{target!r:14} | {it['sentence']}  ->  {p.kind} {p.regions}"
        if not target:
            if not is_global:
                misses["missed global"].append(line)
            continue
        if is_global:
            misses["false global"].append(line)
        head = singular(target.split()[-1])
        if head in PRONOUNS:
            pron_n += 1
            ok = any("person" in region_words(r) for r in p.regions)
            pron_ok += ok
            if not ok:
                misses["pronoun"].append(line)
            continue
        region_n += 1
        ok = any(head in region_words(r) for r in p.regions) or (p.invert_region and head == "background")
        region_ok += ok
        head_ok += any(region_words(r)[-1:] == [head] for r in p.regions) or (
            p.invert_region and head == "background")
        if not ok:
            misses["region"].append(line)
            anchor_labels += is_anchor_label(it["sentence"], head, p.regions)

    sentences = [it["sentence"] for it in items]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for s in sentences:
            plan(s)
        best = min(best, time.perf_counter() - t0)

    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    region = region_ok / max(region_n, 1)
    print(f"dev set: {args.data} ({len(items)} items)")
    print(f"1. region agreement (non-pronoun, non-empty target, n={region_n}): {region:.1%}  "
          f"(goal >= {GOALS['region']:.0%}); strict head agreement: {head_ok / max(region_n, 1):.1%}")
    print(f"   of the {region_n - region_ok} disagreements, {anchor_labels} label the anchor of a locative "
          f"phrase after the planned region (\"the frog on the left of the pond\" -> \"pond\")")
    print(f"2. global detection (n_target_empty={tp + fn}, n_plan_global={tp + fp}): "
          f"precision {precision:.1%} (goal >= {GOALS['precision']:.0%}), "
          f"recall {recall:.1%} (goal >= {GOALS['recall']:.0%})")
    print(f"3. pronoun items resolved to 'person' (n={pron_n}): {pron_ok / max(pron_n, 1):.1%}")
    print(f"4. speed: {best / len(items) * 1e6:.1f} us per plan() call (best of 3 passes)")
    rng = random.Random(args.seed)
    for name, lines in misses.items():
        if args.show and lines:
            print(f"\n-- {name}: {len(lines)} items, {min(args.show, len(lines))} shown")
            for line in rng.sample(lines, min(args.show, len(lines))):
                print("  ", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
