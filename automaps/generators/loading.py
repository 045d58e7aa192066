"""Load (model, processor) pairs through ``from_pretrained``, cached, with one clear error when a model is missing.

Every model generator loads through :func:`load`; nothing else in :mod:`automaps.generators` calls
``from_pretrained``. A hub id or a local folder is accepted. Loaded pairs are cached per
(class, id, revision, device, dtype) so that answering many phrases, or many images, loads a model once;
:func:`offload` moves them off an accelerator without forgetting them (what ``pipelines.edit`` does before
diffusion, so chained edits reload nothing) and :func:`release` drops them (when memory is short, or asked).
"""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path
from typing import Any

from automaps.errors import ModelNotAvailableError
from automaps.hub import local_only, not_available, quiet_libraries, resolve_dtype

# ModelNotAvailableError (automaps.errors) and resolve_dtype (automaps.hub) are re-exported: the generators'
# modules and their users import them from here.
__all__ = ["ModelNotAvailableError", "cached", "device_params", "load", "memory_is_short", "offload", "release",
           "resolve_dtype"]

# (model class, processor class, id or absolute folder, revision, device, dtype) -> (model, processor)
_CACHE: dict[tuple[str, str, str, str | None, str, str], tuple[Any, Any]] = {}
_LOCK = threading.Lock()


def load(
    model_class: Any,
    processor_class: Any,
    id_or_folder: str | os.PathLike[str],
    revision: str | None = "main",
    device: str = "cpu",
    dtype: Any = "float32",
) -> tuple[Any, Any]:
    """Load (or fetch from the cache) a model and its processor.

    Args:
        model_class: A ``transformers`` model class (``from_pretrained`` is called on it).
        processor_class: Its processor / image-processor class (``AutoProcessor`` works).
        id_or_folder: Hub id (``"CIDAS/clipseg-rd64-refined"``) or a local folder written by ``save_pretrained``.
        revision: Hub branch, tag or commit; ignored for a local folder.
        device: Torch device of the model (default CPU).
        dtype: ``torch.dtype`` or its name (default float32).

    Returns:
        ``(model, processor)``; the model is in eval mode on ``device``. The same objects are returned for the
        same arguments until :func:`release`.

    Raises:
        ModelNotAvailableError: The model is missing locally and cannot be fetched (``HF_HUB_OFFLINE=1``, no
            network, unknown id); the message names the id and the download command.
    """
    folder = Path(os.path.expanduser(os.fspath(id_or_folder)))
    is_folder = folder.is_dir()
    name = str(folder.resolve()) if is_folder else os.fspath(id_or_folder)
    rev = None if is_folder else revision
    torch_dtype = resolve_dtype(dtype, name="dtype")
    key = (_qualname(model_class), _qualname(processor_class), name, rev, str(device), str(torch_dtype))
    with _LOCK:
        if key in _CACHE:
            model = _CACHE[key][0]
            if _device_of(model) != str(device):
                model.to(device)  # offloaded meanwhile (see offload): back to where it was asked for
            return _CACHE[key]

    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    common: dict[str, Any] = {"revision": rev, "trust_remote_code": False}
    if not is_folder and local_only(name, ("config.json",), rev):
        # Offline (honoured here too: huggingface_hub froze HF_HUB_OFFLINE at import time), or not cached and
        # the hub unreachable: fail at once instead of after huggingface_hub's retries.
        common["local_files_only"] = True
    # Prefer safetensors: required for hub ids (every default model ships them, and no pickle is ever
    # downloaded); a local folder without them falls back to transformers' weights_only torch.load of .bin files.
    safetensors = True if not is_folder or any(folder.glob("*.safetensors")) else None
    try:
        with quiet_libraries(libraries=("transformers",)):  # no "requires torchvision ... falling back" notices
            model = model_class.from_pretrained(name, dtype=torch_dtype, use_safetensors=safetensors, **common)
            processor = processor_class.from_pretrained(name, **common)
    except (OSError, HfHubHTTPError, HFValidationError) as err:
        if is_folder:
            raise  # a folder that exists but does not load is a real error, not a missing download
        raise not_available(name, err, rev) from err
    model = model.to(device).eval()
    with _LOCK:
        # Another thread may have loaded the same model meanwhile: keep the first one.
        return _CACHE.setdefault(key, (model, processor))


def cached() -> list[tuple[str, str | None, str, str]]:
    """The cached models as ``(id or folder, revision, device, dtype)`` tuples, in load order."""
    with _LOCK:
        return [k[2:] for k in _CACHE]


def _device_of(model: Any) -> str:
    parameter = next(iter(model.parameters()), None)
    return "cpu" if parameter is None else str(parameter.device)


def offload(device: str = "cpu") -> int:
    """Move every cached model that is elsewhere to ``device`` (default: the CPU), keeping it cached.

    Frees accelerator memory for diffusion without losing the models: the next :func:`load` with the original
    arguments moves the model back instead of reading it from disk again.

    Returns:
        How many models were moved.
    """
    with _LOCK:
        moving = [model for model, _ in _CACHE.values() if _device_of(model) != device]
    for model in moving:
        model.to(device)
    if moving and not device.startswith("cuda"):
        _empty_accelerator_cache()
    return len(moving)


def memory_is_short(fraction: float = 0.25) -> bool:
    """Whether less than ``fraction`` of the machine's memory is available (Linux ``MemAvailable``); ``False``
    where that cannot be read."""
    try:
        with open("/proc/meminfo") as handle:
            info = {line.split(":")[0]: int(line.split()[1]) for line in handle if line.split()}
        return info["MemAvailable"] < fraction * info["MemTotal"]
    except (OSError, KeyError, ValueError, IndexError):
        return False


def _empty_accelerator_cache() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def release(id: str | os.PathLike[str] | None = None) -> int:
    """Drop cached models so their memory can be reclaimed (e.g. before running diffusion).

    Args:
        id: Drop only the models loaded from this hub id or folder; ``None`` drops all.

    Returns:
        How many cached (model, processor) pairs were dropped.
    """
    with _LOCK:
        if id is None:
            keys = list(_CACHE)
        else:
            wanted = {os.fspath(id)}
            path = Path(os.path.expanduser(os.fspath(id)))
            if path.is_dir():
                wanted.add(str(path.resolve()))
            keys = [k for k in _CACHE if k[2] in wanted]
        for k in keys:
            del _CACHE[k]
    if keys:
        gc.collect()
        _empty_accelerator_cache()
    return len(keys)


def _qualname(cls: Any) -> str:
    return f"{getattr(cls, '__module__', '')}.{getattr(cls, '__qualname__', repr(cls))}"


def device_params() -> dict[str, Any]:
    """The ``device`` / ``dtype`` parameters every model generator declares (CPU float32 by default)."""
    from automaps.generators.registry import ParamSpec

    return {
        "device": ParamSpec("cpu", help="torch device of the model, e.g. 'cpu', 'cuda', 'cuda:1', 'mps'"),
        "dtype": ParamSpec("float32", choices=("float32", "float16", "bfloat16"), help="weights' dtype"),
    }
