"""Loading ControlNet models for ``DifferentialEditor.from_pretrained(base, controlnet=...)``: by hub id or
local folder (offline-aware, errors that name the model), one or a list (diffusers' multi-ControlNet)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from automaps.hub import local_only, not_available, quiet_libraries
from diffdiff.families.base import Family
from diffdiff.families.controlnet import controlnet_variant
from diffdiff.models import ModelSpec

__all__ = ["load_controlnet", "with_controlnet"]


def _load_one(model_class, value: Any, dtype: torch.dtype, revision: str | None) -> torch.nn.Module:
    """One ControlNet: a loaded module as it is, else ``model_class.from_pretrained`` of an id or folder."""
    if isinstance(value, torch.nn.Module):
        return value
    if isinstance(value, ModelSpec):
        value, revision = value.model_id, value.revision
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"controlnet: expected a hub id, folder, ModelSpec or loaded ControlNet, "
                        f"got {type(value).__name__}")
    kwargs: dict[str, Any] = {"torch_dtype": dtype, **({"revision": revision} if revision else {})}
    folder = Path(value)
    if folder.exists() and not (folder / "config.json").is_file():
        raise ValueError(f"controlnet: {str(folder)!r} is not a ControlNet model folder (no config.json)")
    if not folder.is_dir() and local_only(str(value), ("config.json",), revision):
        kwargs["local_files_only"] = True
    try:
        with quiet_libraries():
            return model_class.from_pretrained(str(value), **kwargs)
    except OSError as error:
        if folder.is_dir():
            raise
        raise not_available(str(value), error, revision) from error


def load_controlnet(family: Family, controlnet: Any, dtype: torch.dtype = torch.float32,
                    revision: str | None = None) -> torch.nn.Module:
    """Load the ControlNet(s) for a ControlNet family.

    Args:
        family: a ControlNet adapter (its ``controlnet_class`` / ``multi_class``).
        controlnet: a hub id, folder, ``ModelSpec`` or loaded model, or a non-empty list of them (several
            ControlNets, each with its own control image at call time).
        dtype: the dtype to load in.
        revision: hub revision of a single id.

    Returns:
        The model, or diffusers' multi-ControlNet wrapping the list.

    Raises:
        TypeError / ValueError: a value of the wrong kind, an empty list, a folder without ``config.json``.
        ModelNotAvailableError: weights not in the local cache while offline.
    """
    import diffusers

    model_class = getattr(diffusers, family.controlnet_class)
    if isinstance(controlnet, (list, tuple)):
        if not controlnet:
            raise ValueError("controlnet: expected a ControlNet or a non-empty list of them, got an empty list")
        nets = [_load_one(model_class, value, dtype, None) for value in controlnet]
        return getattr(diffusers, family.multi_class)(nets)
    return _load_one(model_class, controlnet, dtype, revision)


def with_controlnet(family: Family, controlnet: Any, dtype: torch.dtype,
                    load_kwargs: dict[str, Any]) -> tuple[Family, dict[str, Any]]:
    """The family and pipeline-loading keywords for a base checkpoint driven with ``controlnet``.

    Args:
        family: the base checkpoint's family (read from its ``model_index.json``).
        controlnet: as :func:`load_controlnet` takes it.
        dtype: the editor's dtype.
        load_kwargs: the keywords ``from_pretrained`` passes on to diffusers (not changed).

    Returns:
        ``(ControlNet variant of family, load_kwargs + {"controlnet": the loaded model})``.

    Raises:
        ValueError: ``family`` has no ControlNet variant (the message names ``controlnet``).
    """
    variant = controlnet_variant(family)
    model = load_controlnet(variant, controlnet, dtype)
    return variant, {**load_kwargs, "controlnet": model}
