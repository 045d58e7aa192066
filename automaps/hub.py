"""Hugging Face hub helpers shared by every loader: offline mode, the "model not available" error, device and dtype.

Only the standard library is imported here; torch is imported inside :func:`resolve_device` and
:func:`resolve_dtype`, huggingface_hub only inside :func:`is_cached` (its version is read from the installed
metadata).

>>> looks_like_path("./models/sd"), looks_like_path("CIDAS/clipseg-rd64-refined")
(True, False)
>>> download_command("org/model", "v2").split(" ", 1)[1]
'download org/model --revision v2'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from automaps.errors import ModelNotAvailableError

__all__ = [
    "OFFLINE_VARIABLES",
    "download_command",
    "hub_reachable",
    "is_cached",
    "local_only",
    "looks_like_path",
    "not_available",
    "offline",
    "quiet_libraries",
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


_REACHABLE: dict[str, bool] = {}
"""host -> whether a TCP connection to it succeeded; each host is tried once per process."""

HUB_TIMEOUT_S = 1.5
"""How long :func:`hub_reachable` waits for the hub's TCP handshake."""


def hub_host() -> tuple[str, int]:
    """``(host, port)`` of the hub: ``HF_ENDPOINT``'s (a mirror) or ``huggingface.co:443``."""
    from urllib.parse import urlsplit

    endpoint = urlsplit(os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co")
    return endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)


def hub_reachable() -> bool:
    """Whether the hub answers a TCP connect within :data:`HUB_TIMEOUT_S`; tried once per process and host.

    Without it, a machine with no network spends ~20 s in huggingface_hub's retries before the same
    "not available" error; with it, one short connect decides and the loaders stay on the local cache.
    """
    host, port = hub_host()
    key = f"{host}:{port}"
    if key not in _REACHABLE:
        try:
            socket.create_connection((host, port), timeout=HUB_TIMEOUT_S).close()
            _REACHABLE[key] = True
        except OSError:  # no route, no DNS, refused, timed out
            _REACHABLE[key] = False
            _hub_offline_for_this_process()
    return _REACHABLE[key]


def _hub_offline_for_this_process() -> None:
    """Tell huggingface_hub the hub is off: its own calls (retries, its agent-registry fetch) skip the network."""
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is None:
        from huggingface_hub import constants
    constants.HF_HUB_OFFLINE = True


def _known_unreachable() -> str | None:
    """The hub's ``host`` when :func:`hub_reachable` has found it unreachable in this process, else ``None``."""
    host, port = hub_host()
    return host if _REACHABLE.get(f"{host}:{port}") is False else None


def is_cached(model_id: str, filenames: tuple[str, ...] = ("model_index.json", "config.json"),
              revision: str | None = None) -> bool:
    """Whether one of ``filenames`` of hub id ``model_id`` is in the local Hugging Face cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return any(isinstance(try_to_load_from_cache(model_id, name, revision=revision), str)
                   for name in filenames)
    except ValueError:  # not a valid repo id: it cannot be cached either
        return False


def local_only(model_id: str, filenames: tuple[str, ...] = ("model_index.json", "config.json"),
               revision: str | None = None) -> bool:
    """Whether a loader must pass ``local_files_only=True`` for hub id ``model_id``.

    True when :func:`offline`, or when the id is not in the local cache and :func:`hub_reachable` is false
    (checked only then, once per process): the load then fails at once and :func:`not_available` says the
    hub could not be reached.
    """
    return offline() or (not is_cached(model_id, filenames, revision) and not hub_reachable())


@contextlib.contextmanager
def quiet_libraries(progress: bool | None = None,
                    libraries: tuple[str, ...] = ("diffusers", "transformers")) -> Iterator[None]:
    """Within: ``libraries``' log records below errors are not printed, and with ``progress=False`` their and
    huggingface_hub's progress bars are off; every setting is restored on exit.

    The notices this hides are none of the user's problems: transformers' "``CLIPImageProcessor`` requires
    torchvision ... falling back", diffusers' "modules ... that should be kept in float32: []" on every dtype
    move, loading bars under ``--quiet``. A library that is not installed is skipped.

    Args:
        progress: ``False`` turns the loading bars off, ``None`` or ``True`` leaves them as they are.
        libraries: ``"diffusers"`` and/or ``"transformers"`` (each imported here if it is not yet).
    """
    restore: list[tuple[Any, Any]] = []
    try:
        for library in libraries:
            try:
                logging = __import__(f"{library}.utils.logging", fromlist=["logging"])
            except ImportError:  # pragma: no cover - both are dependencies
                continue
            restore.append((logging.set_verbosity, logging.get_verbosity()))
            logging.set_verbosity(logging.ERROR)
            if progress is False and logging.is_progress_bar_enabled():
                logging.disable_progress_bar()
                restore.append((lambda _, logging=logging: logging.enable_progress_bar(), None))
        hub_utils = sys.modules.get("huggingface_hub.utils")
        if progress is False and hub_utils is not None and not hub_utils.are_progress_bars_disabled():
            hub_utils.disable_progress_bars()
            restore.append((lambda _: hub_utils.enable_progress_bars(), None))
        yield
    finally:
        for undo, value in reversed(restore):
            undo(value)


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
    elif (host := _known_unreachable()) is not None:
        reason = (f"it is not in the local cache and {host} cannot be reached "
                  "(set HF_HUB_OFFLINE=1 to use the local cache only)")
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
