"""Loading pipelines by hub id or local folder, offline-aware, with errors that name the model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from diffdiff.errors import ModelNotAvailableError

__all__ = ["load_pipeline", "read_model_index", "resolve_device", "resolve_dtype"]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _not_available(model_id: str, error: Exception) -> ModelNotAvailableError:
    if _offline():
        reason = "HF_HUB_OFFLINE=1 and it is not in the local cache"
    else:
        reason = f"it could not be fetched ({type(error).__name__})"
    return ModelNotAvailableError(model_id, reason)


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
        local = hf_hub_download(model_id, "model_index.json", revision=revision)
    except Exception as error:  # huggingface_hub raises several unrelated types here
        raise _not_available(model_id, error) from error
    return json.loads(Path(local).read_text())


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks CUDA, then MPS, then the CPU; an unavailable device is a clear error.

    Raises:
        ValueError: an unknown device string or one this machine does not have.
    """
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device: {device!r} is not a torch device (try 'cpu' or 'cuda')") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} is not available on this machine (no CUDA); use 'cpu'")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device: {device!r} is not available on this machine; use 'cpu'")
    return resolved


def resolve_dtype(torch_dtype: torch.dtype | str | None, device: torch.device) -> torch.dtype:
    """``None`` is float32; half precision on the CPU is refused (many CPU kernels lack it).

    Raises:
        ValueError: an unknown dtype, or float16 on the CPU.
    """
    if torch_dtype is None:
        return torch.float32
    if isinstance(torch_dtype, str):
        name = torch_dtype.removeprefix("torch.")
        torch_dtype = getattr(torch, name, None)
        if not isinstance(torch_dtype, torch.dtype):
            raise ValueError(f"torch_dtype: unknown dtype {name!r}; expected float32, float16 or bfloat16")
    if torch_dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        raise ValueError(f"torch_dtype: expected a floating dtype, got {torch_dtype}")
    if device.type == "cpu" and torch_dtype == torch.float16:
        raise ValueError("torch_dtype: float16 is not supported on the CPU; use float32 or bfloat16")
    return torch_dtype


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
    try:
        return pipeline_class.from_pretrained(str(id_or_folder), **kwargs)
    except OSError as error:
        if Path(id_or_folder).is_dir():
            raise
        raise _not_available(str(id_or_folder), error) from error
