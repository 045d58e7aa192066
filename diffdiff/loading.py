"""Loading pipelines by hub id or local folder, offline-aware, with errors that name the model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from automaps.hub import local_only, not_available, quiet_libraries

__all__ = ["load_pipeline", "read_model_index"]


def read_model_index(id_or_folder: str | os.PathLike, revision: str | None = None) -> dict[str, Any]:
    """Read a pipeline's ``model_index.json`` from a local folder or the hub (cache first).

    Args:
        id_or_folder: a local folder holding ``model_index.json`` or a hub id such as
            ``"stable-diffusion-v1-5/stable-diffusion-v1-5"``.
        revision: hub revision (branch, tag or commit).

    Returns:
        The parsed JSON (``_class_name`` names the pipeline class).

    Raises:
        ModelNotAvailableError: the id is not cached and cannot be downloaded (offline, no network).
        ValueError: a local folder that is not a diffusers pipeline.
    """
    path = Path(id_or_folder)
    if path.is_dir():
        index = path / "model_index.json"
        if not index.is_file():
            raise ValueError(
                f"id_or_folder: {str(path)!r} is not a diffusers pipeline folder (no model_index.json)"
            )
        return json.loads(index.read_text())
    if path.exists():
        raise ValueError(f"id_or_folder: {str(path)!r} is a file; expected a pipeline folder or a hub id")
    from huggingface_hub import hf_hub_download

    model_id = str(id_or_folder)
    try:
        # local_files_only when offline (huggingface_hub froze HF_HUB_OFFLINE at its import, a later setting
        # counts here) or when the id is not cached and the hub is unreachable (no ~20 s of retries).
        stay_local = local_only(model_id, ("model_index.json",), revision)
        local = hf_hub_download(model_id, "model_index.json", revision=revision, local_files_only=stay_local)
    except Exception as error:  # huggingface_hub raises several unrelated types here
        raise not_available(model_id, error, revision) from error
    return json.loads(Path(local).read_text())


def load_pipeline(pipeline_class, id_or_folder: str | os.PathLike, **kwargs: Any):
    """``pipeline_class.from_pretrained`` with errors that name the model.

    Args:
        pipeline_class: a diffusers pipeline class.
        id_or_folder: hub id or local folder.
        **kwargs: passed to ``from_pretrained`` (``torch_dtype``, ``revision``, ``variant``, ...).

    Raises:
        ModelNotAvailableError: weights missing from the cache while offline (or unreachable).
    """
    kwargs.setdefault("use_safetensors", None)
    if not Path(id_or_folder).is_dir() and local_only(str(id_or_folder), ("model_index.json",),
                                                      kwargs.get("revision")):
        kwargs.setdefault("local_files_only", True)
    try:
        with quiet_libraries():  # no torchvision-fallback or float32-modules notices: none is the user's problem
            return pipeline_class.from_pretrained(str(id_or_folder), **kwargs)
    except OSError as error:
        if Path(id_or_folder).is_dir():
            raise
        raise not_available(str(id_or_folder), error, kwargs.get("revision")) from error
