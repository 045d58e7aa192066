"""Hugging Face hub helpers shared by every loader: offline mode, the "model not available" error, device and dtype.

Only the standard library is imported here; torch is imported inside :func:`resolve_device` and
:func:`resolve_dtype`, huggingface_hub never (its version is read from the installed metadata).

>>> looks_like_path("./models/sd"), looks_like_path("CIDAS/clipseg-rd64-refined")
(True, False)
>>> download_command("org/model", "v2").split(" ", 1)[1]
'download org/model --revision v2'
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from automaps.errors import ModelNotAvailableError

__all__ = [
    "OFFLINE_VARIABLES",
    "download_command",
    "looks_like_path",
    "not_available",
    "offline",
    "resolve_device",
    "resolve_dtype",
]

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
"""Environment variables that switch the hub off; either one set to 1/true/yes/on means offline."""

_TRUE = ("1", "true", "yes", "on")

_DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16", "fp64": "float64"}
_FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")


def _offline_variable() -> str | None:
    """The first of :data:`OFFLINE_VARIABLES` that is set to a true value, or ``None``."""
    for variable in OFFLINE_VARIABLES:
        if os.environ.get(variable, "").strip().lower() in _TRUE:
            return variable
    return None


def offline() -> bool:
    """Whether the hub is switched off (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``), read at call time.

    huggingface_hub reads ``HF_HUB_OFFLINE`` once, at import; loaders pass ``local_files_only=True`` when this
    is true so a variable set later (a test, a notebook cell) is honoured too.
    """
    return _offline_variable() is not None


def looks_like_path(name: str) -> bool:
    """Whether a model name is meant as a folder (absolute, relative, home, drive letter, or 2+ separators).

    A hub id is ``name`` or ``org/name``; anything else cannot be fetched, so a missing one is a missing folder.
    """
    return (
        name.startswith(("/", "./", "../", "~", "\\"))
        or (len(name) > 1 and name[1] == ":")
        or name.count("/") > 1
        or name.count(os.sep) > 1
    )


def _hub_major() -> int:
    from importlib import metadata

    try:
        return int(metadata.version("huggingface_hub").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):  # pragma: no cover - huggingface_hub is a dependency
        return 0


def download_command(model_id: str, revision: str | None = None) -> str:
    """The shell command that puts ``model_id`` (at ``revision``, unless ``main``) into the local cache."""
    # huggingface_hub >= 1.0 ships `hf` and no longer `huggingface-cli`.
    cli = "hf" if shutil.which("hf") or _hub_major() >= 1 else "huggingface-cli"
    rev = f" --revision {revision}" if revision not in (None, "main") else ""
    return f"{cli} download {model_id}{rev}"


def not_available(
    model_id: str, error: BaseException | None = None, revision: str | None = None
) -> ModelNotAvailableError:
    """The error for a model that failed to load from the hub: names the id, why, and the download command.

    Args:
        model_id: the hub id (or missing folder) that was asked for.
        error: what the loader raised (its type is named when the hub was online).
        revision: the hub revision that was asked for.
    """
    from automaps.errors import ModelNotAvailableError

    variable = _offline_variable()
    if variable is not None:
        reason = f"{variable} is set and it is not in the local cache"
    else:
        cause = f" ({type(error).__name__})" if error is not None else ""
        reason = f"it is not in the local cache and could not be fetched{cause}"
    return ModelNotAvailableError(model_id, reason, revision)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks CUDA, then MPS, then the CPU; an unavailable device is a clear error.

    Raises:
        ValueError: an unknown device string or one this machine does not have.
    """
    import torch

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


def resolve_dtype(dtype: Any, device: str | torch.device | None = None, *, name: str = "torch_dtype") -> torch.dtype:
    """A floating ``torch.dtype`` from a dtype, its name or ``None`` (float32).

    Names may carry the ``torch.`` prefix (``"torch.bfloat16"``) or be short (``"fp16"``, ``"bf16"``, ``"half"``).

    Args:
        dtype: ``None``, a ``torch.dtype``, or a name as above.
        device: where the weights will run; on the CPU float16 is refused (many CPU kernels lack it).
            ``None`` skips that check.
        name: the parameter named in error messages.

    Raises:
        ValueError: an unknown or non-floating dtype, or float16 on the CPU.
    """
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        key = dtype.strip().removeprefix("torch.")
        resolved = getattr(torch, _DTYPE_ALIASES.get(key, key), None)
        if not isinstance(resolved, torch.dtype):
            raise ValueError(f"{name}: unknown dtype {key!r}; expected float32, float16 or bfloat16")
        dtype = resolved
    if dtype not in tuple(getattr(torch, n) for n in _FLOAT_DTYPES):
        raise ValueError(f"{name}: expected a floating dtype, got {dtype}")
    if device is not None and torch.device(device).type == "cpu" and dtype == torch.float16:
        raise ValueError(f"{name}: float16 is not supported on the CPU; use float32 or bfloat16")
    return dtype
