"""LLM-backed planner: a causal language model answers an `EditPlan` as strict JSON.

`LLMPlanner` is a `Planner` (a callable `str -> EditPlan`), so it replaces `automaps.planner.plan` wherever a
planner is accepted. The model's answer is parsed and every field validated; any answer that is not a valid
plan (not JSON, an unknown kind, a strength outside [0, 1], ...) falls back to the rule-based plan, with a
note saying why. transformers is imported only when a model is first loaded.
"""

from __future__ import annotations

import json
import os
import threading
from functools import lru_cache
from typing import Any

from automaps.hub import not_available, offline
from automaps.plan_types import GENERATORS, KINDS, PARTS, WHERE, EditPlan, Planner
from automaps.planner import plan as rule_plan

__all__ = ["SYSTEM_PROMPT", "LLMPlanner", "parse_plan_json"]

REQUIRED_KEYS = ("kind", "regions", "prompt", "strength", "generator")

SYSTEM_PROMPT = f"""You plan image edits. Answer one JSON object and nothing else, with these keys:
"kind": one of {json.dumps(KINDS)};
"regions": list of short noun phrases to segment ([] for a whole-image edit; for "background": the
subject kept);
"negatives": list of phrases to leave unchanged;
"prompt": the target description for the diffusion model;
"strength": number in [0, 1], the largest change;
"generator": one of {json.dumps(GENERATORS)} ("clipseg" for sky/water/grass, "auto" for objects,
"saliency" for background, "constant" or "depth" for whole-image edits);
optional: "grow" (int >= 0 px), "feather" (number >= 0), "invert_region" (true for background),
"depth_weighted" (bool), "notes" (list of strings), "where" (one of {json.dumps(WHERE)}: where the region is),
"part" (one of {json.dumps(PARTS)}: the part of the one region an accessory goes on), "parts" (for several
edits in one instruction: a list of two or more such objects, one region each).
Person pronouns (her, him, them) mean "person".
Example: make the sky stormy but not the mountains ->
{json.dumps({k: v for k, v in rule_plan("make the sky stormy but not the mountains").to_dict().items()
             if k not in ("instruction", "notes")})}
Example: as an oil painting ->
{json.dumps({k: v for k, v in rule_plan("as an oil painting").to_dict().items() if k in REQUIRED_KEYS})}"""


def _first_json_object(text: str) -> Any:
    """Decodes the first JSON value starting at a "{" in `text` (prose or code fences around it are fine)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            return decoder.raw_decode(text, start)[0]
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
    raise ValueError("no JSON object in the answer")


def parse_plan_json(text: str, instruction: str) -> EditPlan:
    """Parses a model's answer into an `EditPlan`, validating every field.

    Args:
        text: The model's answer: one JSON object with the `EditPlan` keys (text around it is ignored).
        instruction: The instruction the plan is for (the plan's `instruction`; an "instruction" key in the
            answer is ignored).

    Returns:
        The plan, exactly as the answer gives it (missing optional fields take their defaults).

    Raises:
        ValueError: The answer holds no JSON object, misses a required key (kind, regions, prompt, strength,
            generator), has an unknown key, or a value of the wrong type or out of range.

    Example:
        >>> parse_plan_json('{"kind": "global", "regions": [], "prompt": "a watercolor", '
        ...                 '"strength": 0.8, "generator": "constant"}', "as a watercolor").strength
        0.8
    """
    data = _first_json_object(text)
    if not isinstance(data, dict):
        raise ValueError(f"the answer is a JSON {type(data).__name__}, not an object")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"missing keys: {missing}")
    data = {**data, "instruction": instruction, "negatives": data.get("negatives", [])}
    try:
        return EditPlan.from_dict(data)
    except TypeError as err:  # a wrong type is an invalid answer like any other
        raise ValueError(str(err)) from err


_LOAD_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _load(model: str, device: str, trust_remote_code: bool) -> tuple[Any, Any]:
    """Loads (tokenizer, model) once per (model, device, trust_remote_code)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # local_files_only read now: huggingface_hub froze HF_HUB_OFFLINE at its import.
    kwargs = {"trust_remote_code": trust_remote_code, "local_files_only": offline()}
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, **kwargs)
        lm = AutoModelForCausalLM.from_pretrained(model, **kwargs)
    except OSError as err:
        if os.path.isdir(os.path.expanduser(model)):
            raise  # a folder that exists but does not load is a real error, not a missing download
        raise not_available(model, err) from err
    return tokenizer, lm.eval().to(device)


class LLMPlanner:
    """A planner that asks a causal language model for the plan, with the rule-based plan as a fallback.

    Args:
        model_id_or_folder: A Hugging Face hub id or a local folder saved with `save_pretrained`.
        device: Torch device; None picks "cuda" when available, else "cpu".
        max_new_tokens: Most tokens the model may generate for one answer.
        trust_remote_code: Passed to `from_pretrained`; off unless you trust the model's repository.
        fallback: The planner used when the answer is not a valid plan (the rule-based `plan`).

    Example:
        >>> planner = LLMPlanner("Qwen/Qwen2.5-0.5B-Instruct")  # doctest: +SKIP
        >>> planner("make the sky stormy").regions  # doctest: +SKIP
        ['sky']
    """

    def __init__(
        self,
        model_id_or_folder: str | os.PathLike[str],
        *,
        device: str | None = None,
        max_new_tokens: int = 128,
        trust_remote_code: bool = False,
        fallback: Planner = rule_plan,
    ) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens: must be >= 1, got {max_new_tokens}")
        self.model_id = os.fspath(model_id_or_folder)
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.trust_remote_code = trust_remote_code
        self.fallback = fallback

    def _resolved_device(self) -> str:
        if self.device is not None:
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def load(self) -> tuple[Any, Any]:
        """Returns the (tokenizer, model) pair, loading it on first use (cached across planners)."""
        with _LOAD_LOCK:  # two threads asking at once load once
            return _load(self.model_id, self._resolved_device(), self.trust_remote_code)

    def generate(self, instruction: str) -> str:
        """Returns the model's raw answer for an instruction (greedy decoding, the new tokens only).

        Raises:
            ValueError: The prompt and `max_new_tokens` do not fit the model's context.
        """
        import torch

        tokenizer, lm = self.load()
        if getattr(tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user", "content": instruction}]
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = f"{SYSTEM_PROMPT}\n\nInstruction: {instruction}\nJSON:"
        inputs = tokenizer(text, return_tensors="pt").to(lm.device)
        n_in = inputs["input_ids"].shape[1]
        limit = getattr(lm.config, "max_position_embeddings", None) or getattr(lm.config, "n_positions", None)
        if limit and n_in + self.max_new_tokens > limit:
            raise ValueError(f"the prompt ({n_in} tokens) and {self.max_new_tokens} new tokens exceed the "
                             f"model's context of {limit}")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        with torch.inference_mode():
            out = lm.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad)
        return tokenizer.decode(out[0, n_in:], skip_special_tokens=True)

    def __call__(self, instruction: str) -> EditPlan:
        """Plans an instruction with the model; falls back to `fallback` (with a note) on an invalid answer.

        Raises:
            TypeError: `instruction` is not a str.
            ValueError: `instruction` is empty or whitespace.
            automaps.errors.ModelNotAvailableError: the model is neither a folder nor in the local cache and
                cannot be fetched (the message names it and the download command).
        """
        fallback = self.fallback(instruction)  # also checks the instruction, before any model is loaded
        try:
            return parse_plan_json(self.generate(instruction), instruction)
        except ValueError as err:
            note = f"LLM planner answer rejected ({err}); using the rule-based plan"
            return fallback.replace(notes=[*fallback.notes, note])
