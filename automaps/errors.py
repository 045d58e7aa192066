"""The project's one error hierarchy: typed errors with one-line messages that say what to do.

Every package (``automaps``, ``diffdiff``, ``pipelines``) raises these classes, so a caller catches one
``ModelNotAvailableError`` whether a map model or a diffusion model is missing. Each class also derives from
the built-in type it refines (``OSError``, ``ValueError``), so ``except OSError`` keeps working.

>>> error = ModelNotAvailableError("org/model", "HF_HUB_OFFLINE is set and it is not in the local cache")
>>> isinstance(error, OSError), error.model_id
(True, 'org/model')
"""

from __future__ import annotations

from typing import Any

from automaps.hub import download_command, looks_like_path

__all__ = ["AutomapsError", "ModelNotAvailableError", "UnsupportedPipelineError"]


class AutomapsError(Exception):
    """Base of every error this project defines."""


def _restore(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    # Rebuild without calling __init__ (its signature is not the message's): pickling keeps the message as is.
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ModelNotAvailableError(AutomapsError, OSError):
    """A model is neither a local folder nor in the Hugging Face cache, and cannot be fetched now.

    The message is one line naming the model and the command that downloads it (``hf download ID``, with
    ``--revision`` for a revision other than ``main``); for a path-like id it says the folder is missing.

    Args:
        model_id: the hub id or folder that was asked for (kept as :attr:`model_id`).
        reason: a short cause (``"HF_HUB_OFFLINE is set and it is not in the local cache"``).
        revision: the hub revision that was asked for (kept as :attr:`revision`).
    """

    def __init__(
        self, model_id: str, reason: str = "it is not in the local cache", revision: str | None = None
    ) -> None:
        self.model_id = str(model_id)
        self.reason = reason
        self.revision = revision
        if looks_like_path(self.model_id):
            message = f"model folder {self.model_id!r} does not exist or holds no loadable model"
        else:
            message = (
                f"model {self.model_id!r} is not available: {reason}; download it with: "
                f"{download_command(self.model_id, revision)}  (or pass a local folder)"
            )
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return _restore, (type(self), self.args, self.__dict__)


class UnsupportedPipelineError(AutomapsError, ValueError):
    """A diffusers pipeline class that no family adapter drives.

    Args:
        class_name: the pipeline class named by the model (kept as :attr:`class_name`).
        supported: the classes that are supported, listed in the message.
        hint: a short addition, e.g. ``"as stage2="``.
    """

    def __init__(self, class_name: str, supported: list[str], hint: str = "") -> None:
        self.class_name = class_name
        hint = f" ({hint})" if hint else ""
        super().__init__(
            f"pipeline class {class_name!r} is not supported{hint}; supported classes: {', '.join(sorted(supported))}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return _restore, (type(self), self.args, self.__dict__)
