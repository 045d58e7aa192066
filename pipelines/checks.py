"""Checks :func:`pipelines.edit` makes before reading or loading anything: arguments, the model (found, a
diffusers pipeline, a supported class) and prompts longer than the text encoder's window."""

from __future__ import annotations

import json
import numbers
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from automaps.hub import looks_like_path
from pipelines.maps import MAP_MODEL_KEYS
from pipelines.models import MODEL_ALIASES

__all__ = ["CROP_MODES", "SEED_RANGE", "check_arguments", "check_knobs", "check_model", "warn_if_truncated"]

CROP_MODES = ("auto", "off")


SEED_RANGE = (0, 2**64 - 1)
"""Seeds ``torch.Generator.manual_seed`` takes as given (it wraps negatives and refuses 2**64 and above)."""


def check_arguments(instruction: Any, crop: str, steps: Any, seed: Any, max_megapixels: Any,
                    map_models: Mapping[str, Any] | None, device: Any, torch_dtype: Any, **knobs: Any) -> None:
    """Refuse bad arguments before anything is read or loaded; every message names the parameter.

    Args:
        instruction, crop, steps, seed, max_megapixels, map_models, device, torch_dtype: as :func:`pipelines.edit`
            takes them.
        **knobs: further arguments checked by :func:`check_knobs` (``guidance_scale``, ``strength``,
            ``negative_prompt``, ``names``).
    """
    if not isinstance(instruction, str):
        raise TypeError(f"instruction: expected a string, got {type(instruction).__name__}")
    if not instruction.strip():
        raise ValueError("instruction: is empty; say what to change, e.g. 'make the sky stormy'")
    if not isinstance(crop, str) or crop not in CROP_MODES:
        raise ValueError(f"crop: expected one of {CROP_MODES}, got {crop!r}")
    check_knobs(steps=steps, seed=seed, max_megapixels=max_megapixels, **knobs)
    if map_models is not None and not isinstance(map_models, Mapping):
        raise TypeError(f"map_models: expected a mapping of names to model ids, got {type(map_models).__name__}")
    unknown = sorted(set(map_models or {}) - set(MAP_MODEL_KEYS))
    if unknown:
        raise ValueError(f"map_models: unknown keys {unknown}; expected some of {list(MAP_MODEL_KEYS)}")
    if device is not None or torch_dtype is not None:
        # Checked now: a missing CUDA would otherwise surface from the map models as a torch assertion.
        from automaps.hub import resolve_device, resolve_dtype

        resolve_dtype(torch_dtype, resolve_device(device))


def check_knobs(*, steps: Any = None, seed: Any = None, guidance_scale: Any = None, strength: Any = None,
                max_megapixels: Any = None, negative_prompt: Any = None, names: Mapping[str, str] | None = None
                ) -> None:
    """Check the numeric and text knobs of an edit by type and range; ``None`` means "the default" for each.

    Args:
        steps: an integer >= 1 (not bool).
        seed: an integer in [0, 2**64 - 1] (what ``torch.Generator.manual_seed`` takes without wrapping).
        guidance_scale: a finite real number >= 0 (inf turns the image black, nan into noise).
        strength: a finite real number in [0, 1].
        max_megapixels: a finite real number > 0.
        negative_prompt: a string.
        names: how messages name each parameter, e.g. ``{"guidance_scale": "--guidance"}`` for the CLI.

    Raises:
        TypeError: a wrong type (bool counts as one). ValueError: out of range, inf or nan.
    """
    def label(name: str) -> str:
        return (names or {}).get(name, name)

    for name, value in (("steps", steps), ("seed", seed)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
            raise TypeError(f"{label(name)}: expected an integer, got {type(value).__name__} {value!r}")
    if steps is not None and steps < 1:
        raise ValueError(f"{label('steps')}: expected an integer >= 1, got {steps!r}")
    if seed is not None and not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise ValueError(f"{label('seed')}: expected an integer in [0, 2**64 - 1], got {seed!r}")
    for name, value, lo, hi, open_low in (("guidance_scale", guidance_scale, 0.0, np.inf, False),
                                          ("strength", strength, 0.0, 1.0, False),
                                          ("max_megapixels", max_megapixels, 0.0, np.inf, True)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{label(name)}: expected a number, got {type(value).__name__} {value!r}")
        if not (np.isfinite(value) and (lo < value if open_low else lo <= value) and value <= hi):
            bounds = f"> {lo:g}" if open_low else f"in [{lo:g}, {hi:g}]" if np.isfinite(hi) else f">= {lo:g}"
            raise ValueError(f"{label(name)}: expected a finite number {bounds}, got {value!r}")
    if negative_prompt is not None and not isinstance(negative_prompt, str):
        raise TypeError(f"{label('negative_prompt')}: expected a string, got {type(negative_prompt).__name__}")


def check_model(model: Any) -> str:
    """The model's printable name; for an id or folder, fail fast (before the map) if it cannot load.

    Raises:
        TypeError: not an alias, id, folder, editor or pipeline.
        FileNotFoundError / ValueError: a missing folder, a folder that is not a diffusers pipeline.
        ModelNotAvailableError: a hub id missing from the local cache while offline.
        UnsupportedPipelineError: a pipeline class no family drives (the message starts with ``model:``).
    """
    from diffdiff import DifferentialEditor

    if isinstance(model, DifferentialEditor):
        return getattr(model.pipe, "name_or_path", None) or model.family
    if hasattr(model, "components") and hasattr(model, "scheduler"):  # a loaded diffusers pipeline
        return getattr(model, "name_or_path", None) or "pipeline"
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(
            f"model: expected an alias, hub id, folder, DifferentialEditor or pipeline, got {type(model).__name__}"
        )
    name = MODEL_ALIASES.get(str(model), os.fspath(model))
    folder = Path(name).expanduser()
    if folder.is_dir():
        index_file = folder / "model_index.json"
        if not index_file.is_file():
            raise ValueError(f"model: {name} is not a diffusers pipeline folder (it has no model_index.json)")
        try:
            index = json.loads(index_file.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"model: {index_file} is not valid JSON ({error})") from error
        if not isinstance(index, dict):
            raise ValueError(f"model: {index_file} is not a diffusers model index (expected a JSON object)")
    elif folder.exists():
        raise ValueError(f"model: {name} is a file; expected a diffusers pipeline folder or a hub id")
    elif looks_like_path(name):
        raise FileNotFoundError(f"model: no such folder: {name}")
    else:
        from diffdiff.loading import read_model_index

        index = read_model_index(name)  # a small JSON file: ModelNotAvailableError now, not after the map
    from automaps.errors import UnsupportedPipelineError
    from diffdiff.families import family_for_class

    try:
        family_for_class(str(index.get("_class_name", "<missing _class_name>")))
    except UnsupportedPipelineError as error:
        error.args = (f"model: {name}: {error}",)
        raise
    return name


def warn_if_truncated(editor, text: str | None, name: str) -> None:
    """Warn (like diffusers, but as a Python warning naming ``name``) when ``text`` exceeds a text encoder."""
    if not text:
        return
    over = []
    for pipe in getattr(editor, "pipelines", [editor.pipe]):
        for attribute in ("tokenizer", "tokenizer_2", "tokenizer_3"):
            tokenizer = getattr(pipe, attribute, None)
            window = getattr(tokenizer, "model_max_length", None)
            if tokenizer is None or not isinstance(window, int) or window > 100_000:  # "no limit" sentinels
                continue
            count = len(tokenizer(text, truncation=False).input_ids)
            if count > window:
                over.append((window, count))
    if over:
        window, count = min(over)
        warnings.warn(f"{name}: {count} tokens, longer than the text encoder's window of {window}; the rest is "
                      "truncated (as diffusers does)", stacklevel=3)
