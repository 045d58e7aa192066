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

__all__ = ["CROP_MODES", "check_arguments", "check_model", "warn_if_truncated"]

CROP_MODES = ("auto", "off")


def check_arguments(instruction: Any, crop: str, steps: Any, seed: Any, max_megapixels: Any,
                     map_models: Mapping[str, Any] | None, device: Any, torch_dtype: Any) -> None:
    """Refuse bad arguments before anything is read or loaded; every message names the parameter."""
    if not isinstance(instruction, str):
        raise TypeError(f"instruction: expected a string, got {type(instruction).__name__}")
    if not instruction.strip():
        raise ValueError("instruction: is empty; say what to change, e.g. 'make the sky stormy'")
    if crop not in CROP_MODES:
        raise ValueError(f"crop: expected one of {CROP_MODES}, got {crop!r}")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise ValueError(f"steps: expected an integer >= 1, got {steps!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    if max_megapixels is not None and (not isinstance(max_megapixels, numbers.Real) or not max_megapixels > 0
                                       or not np.isfinite(max_megapixels)):
        raise ValueError(f"max_megapixels: expected a number > 0 or None, got {max_megapixels!r}")
    unknown = sorted(set(map_models or {}) - set(MAP_MODEL_KEYS))
    if unknown:
        raise ValueError(f"map_models: unknown keys {unknown}; expected some of {list(MAP_MODEL_KEYS)}")
    if device is not None or torch_dtype is not None:
        # Checked now: a missing CUDA would otherwise surface from the map models as a torch assertion.
        from automaps.hub import resolve_device, resolve_dtype

        resolve_dtype(torch_dtype, resolve_device(device))


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
