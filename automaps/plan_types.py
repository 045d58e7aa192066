"""The edit plan: what an instruction asks for, as data the map layer and the editor can act on.

`EditPlan` is the contract between a planner (rule-based `automaps.planner.plan`, or an LLM-backed one) and
the rest of automaps: which phrases to segment, what to subtract, the target prompt, and the map recipe.
It validates itself on construction, so a plan that exists is a plan the map layer can run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GENERATORS", "KINDS", "PARTS", "WHERE", "EditPlan", "Planner"]

KINDS: tuple[str, ...] = ("replace", "attribute", "add", "remove", "background", "global")
"""Edit kinds a plan may have."""

GENERATORS: tuple[str, ...] = ("clipseg", "grounded", "auto", "saliency", "depth", "constant")
"""Map recipes a plan may name. "auto" lets the map layer pick grounded with a clipseg fallback."""

WHERE: tuple[str, ...] = ("left", "right", "top", "bottom", "top left", "top right", "bottom left",
                          "bottom right", "center", "background", "foreground")
"""Positions a plan may record: the nine image positions (a `spatial` prior) and two depth ones (`depth`)."""

PARTS: tuple[str, ...] = ("face", "head", "hair", "neck", "hands", "feet")
"""Parts of a person or animal an accessory goes on ("sunglasses" -> "face", "a hat" -> "head")."""

# Recipes that read `regions`: a plan naming one of them must give at least one phrase.
PHRASE_GENERATORS: frozenset[str] = frozenset({"clipseg", "grounded", "auto"})


def _str_list(name: str, value: Any) -> list[str]:
    # A bare string is a sequence too, and "sky" would silently become ["s", "k", "y"].
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{name}: must be a list of str, got {type(value).__name__}")
    if not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name}: every item must be a str")
    return list(value)


_OPTIONAL: dict[str, Any] = {"parts": [], "where": None, "part": None}  # left out of to_dict() when unset


def _parts(value: Any, instruction: str) -> list[EditPlan]:
    # Parts arrive as plans or (from JSON, an LLM) as dicts: instruction defaults to the whole plan's.
    if isinstance(value, (str, dict)) or not isinstance(value, Sequence):
        raise TypeError(f"parts: must be a list of EditPlan, got {type(value).__name__}")
    defaults = {"instruction": instruction, "negatives": []}
    parts = [EditPlan.from_dict({**defaults, **p}) if isinstance(p, dict) else p for p in value]
    if not all(isinstance(p, EditPlan) for p in parts):
        raise TypeError("parts: every item must be an EditPlan (or its dict)")
    if len(parts) == 1:
        raise ValueError("parts: a single-part plan has parts == []; give two or more parts or none")
    if any(p.parts for p in parts):
        raise ValueError("parts: a part must not have parts of its own")
    return parts


@dataclass(frozen=True)
class EditPlan:
    """One edit, planned: where to change the image, how much, and towards what.

    Attributes:
        instruction: The instruction the plan was made from, verbatim.
        kind: One of `KINDS`: "replace", "attribute", "add", "remove", "background" or "global".
        regions: Phrases to segment (their union is the region); `[]` for a whole-image edit.
        negatives: Phrases subtracted from the region ("... but not the people" -> `["people"]`).
        prompt: Target prompt for the diffusion model.
        strength: Largest change in the map, in [0, 1] (1 = regenerate fully).
        generator: Map recipe, one of `GENERATORS`.
        grow: Pixels to grow the region mask by, at 512 px scale (>= 0).
        feather: Gaussian sigma in pixels for the mask edge (>= 0).
        invert_region: True when the map is 1 - region (a "background" edit: `regions` is the subject kept).
        depth_weighted: True when a whole-image change is weighted by depth (far changes more).
        notes: Human-readable remarks on how the plan was made.
        parts: A compound instruction's single-region plans, one per region, each with its own prompt and
            strength ("make the sky stormy and the grass yellow" -> two parts); `[]` for a single-part plan,
            which is its own only part. Parts have no parts of their own; a compound plan's own fields hold
            the merged edit (union of the regions, prompts joined) for callers that run one map.
        where: Where in the picture the region is, one of `WHERE` ("the car on the left" -> "left"), or
            None: the map is the region times a soft spatial prior, or weighted by depth for
            "background"/"foreground".
        part: The part of the region the edit lands on, one of `PARTS`, or None: "put sunglasses on the man"
            -> regions ["man"], part "face". The map builder segments "man's face" and falls back to the
            whole "man" when the part's map comes back empty.
    """

    instruction: str
    kind: str
    regions: list[str]
    negatives: list[str]
    prompt: str
    strength: float
    generator: str
    grow: int = 0
    feather: float = 0.0
    invert_region: bool = False
    depth_weighted: bool = False
    notes: list[str] = field(default_factory=list)
    parts: list[EditPlan] = field(default_factory=list)
    where: str | None = None
    part: str | None = None

    def __post_init__(self) -> None:
        # Frozen: normalise through object.__setattr__; copies so a caller's list cannot alias the plan.
        for name in ("regions", "negatives", "notes"):
            object.__setattr__(self, name, _str_list(name, getattr(self, name)))
        if not isinstance(self.instruction, str):
            raise TypeError("instruction: must be a str")
        if self.kind not in KINDS:
            raise ValueError(f"kind: must be one of {KINDS}, got {self.kind!r}")
        if self.generator not in GENERATORS:
            raise ValueError(f"generator: must be one of {GENERATORS}, got {self.generator!r}")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError("prompt: must be a non-empty string")
        # bool is an int subclass: True as a strength or a grow is a bug, not a number.
        if isinstance(self.strength, bool) or not isinstance(self.strength, (int, float)):
            raise TypeError(f"strength: must be a float, got {type(self.strength).__name__}")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength: must be in [0, 1], got {self.strength}")
        object.__setattr__(self, "strength", float(self.strength))
        if isinstance(self.grow, bool) or not isinstance(self.grow, int) or self.grow < 0:
            raise ValueError(f"grow: must be an int >= 0, got {self.grow!r}")
        if isinstance(self.feather, bool) or not isinstance(self.feather, (int, float)) or self.feather < 0:
            raise ValueError(f"feather: must be a float >= 0, got {self.feather!r}")
        object.__setattr__(self, "feather", float(self.feather))
        for name in ("invert_region", "depth_weighted"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}: must be a bool")
        if self.generator in PHRASE_GENERATORS and not self.regions:
            raise ValueError(f"regions: generator {self.generator!r} needs at least one phrase")
        if self.where is not None and self.where not in WHERE:
            raise ValueError(f"where: must be None or one of {WHERE}, got {self.where!r}")
        if self.part is not None and (self.part not in PARTS or len(self.regions) != 1):
            raise ValueError(f"part: must be None or one of {PARTS} of a plan with one region, got {self.part!r}")
        object.__setattr__(self, "parts", _parts(self.parts, self.instruction))

    @property
    def all_parts(self) -> list[EditPlan]:
        """The plan's parts, or `[self]` for a single-part plan: what a regional edit runs, one region each."""
        return list(self.parts) or [self]

    def to_dict(self) -> dict[str, Any]:
        """Returns the plan as a JSON-able dict (lists, not tuples), one key per field.

        `parts`, `where` and `part` appear only when set (a compound plan, a position, a part), so a plain
        plan's dict is what it was before they existed; `from_dict` gives them their defaults back.

        Example:
            >>> EditPlan("blur it", "global", [], [], "a blurry photo", 0.5, "constant").to_dict()["kind"]
            'global'
        """
        data = dataclasses.asdict(self)
        data["parts"] = [part.to_dict() for part in self.parts]
        for name, empty in _OPTIONAL.items():
            if data[name] == empty:
                del data[name]
        return data

    def to_json(self) -> str:
        """Returns the plan as a JSON object string (`json.loads` gives back `to_dict()`)."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EditPlan:
        """Builds a plan from a dict such as `to_dict()` returns, validating every field.

        Args:
            data: Field names to values; unknown keys are an error, missing optional fields take defaults.

        Raises:
            ValueError: An unknown key, a missing required key, or a value out of range.
            TypeError: A value of the wrong type.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown keys: {unknown}")
        try:
            return cls(**data)
        except TypeError as err:
            if "missing" in str(err):  # the dataclass's own "missing N required arguments" message
                raise ValueError(str(err)) from err
            raise

    def replace(self, **changes: Any) -> EditPlan:
        """Returns a copy with some fields changed, validated again: how a user overrides a decision.

        Example:
            >>> p = EditPlan("blur it", "global", [], [], "a blurry photo", 0.5, "constant")
            >>> p.replace(strength=0.3).strength
            0.3
        """
        return dataclasses.replace(self, **changes)


Planner = Callable[[str], EditPlan]
"""A planner is any callable from an instruction to an `EditPlan` (`automaps.planner.plan`, `LLMPlanner`)."""
