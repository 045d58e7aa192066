"""Typed errors with one-line messages that say what to do."""

from __future__ import annotations

__all__ = ["ModelNotAvailableError", "UnsupportedPipelineError"]


class ModelNotAvailableError(OSError):
    """A model is neither a local folder nor in the Hugging Face cache (and cannot be downloaded now).

    Args:
        model_id: the hub id or folder that was asked for.
        reason: a short cause (``"HF_HUB_OFFLINE=1 and it is not in the local cache"``).
    """

    def __init__(self, model_id: str, reason: str = "it is not in the local cache") -> None:
        self.model_id = model_id
        super().__init__(
            f"model {model_id!r} is not available: {reason}; "
            f"download it with: hf download {model_id}  (or pass a local folder)"
        )


class UnsupportedPipelineError(ValueError):
    """A diffusers pipeline class that no family adapter drives."""

    def __init__(self, class_name: str, supported: list[str], hint: str = "") -> None:
        self.class_name = class_name
        hint = f" ({hint})" if hint else ""
        super().__init__(
            f"pipeline class {class_name!r} is not supported{hint}; supported classes: {', '.join(sorted(supported))}"
        )
