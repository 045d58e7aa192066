"""``edit()``'s LoRA and IP-Adapter arguments: checked before any work, part of the cached editor's identity,
and handed to each editor call."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["AdapterOptions", "adapter_options", "check_loaded_model"]


@dataclass(frozen=True)
class AdapterOptions:
    """What :func:`pipelines.edit` was asked to ride on the diffusion model.

    Attributes:
        lora: the ``lora=`` entries as given (``None``: none).
        ip_adapter: an IP-Adapter spec ``REPO[::SUBFOLDER/WEIGHT]`` to load (``None``: none, or the editor's own).
        ip_image: the IP-Adapter's reference image, RGB (``None``: none).
        ip_scale: the IP-Adapter's strength (``None``: 1.0).
    """

    lora: Any = None
    ip_adapter: str | None = None
    ip_image: Any = None
    ip_scale: float | None = None

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`pipelines.models.load_editor` (those set only)."""
        return {key: value for key, value in (("lora", self.lora), ("ip_adapter", self.ip_adapter))
                if value is not None}

    def call_kwargs(self, editor) -> dict[str, Any]:
        """The editor call's ``ip_adapter_image`` (``{}`` without one); sets the IP-Adapter's scale first."""
        from diffdiff.adapters import ip_adapter_call

        return ip_adapter_call(editor, self.ip_image, self.ip_scale)

    def settings(self) -> dict[str, Any]:
        """What ``edit.json`` records: the LoRA entries and the IP-Adapter (its image's size, not its pixels)."""
        lora = None if self.lora is None else [list(map(str, e)) if isinstance(e, (list, tuple)) else str(e)
                                                for e in ([self.lora] if isinstance(self.lora, (str, os.PathLike))
                                                          else self.lora)]
        image = None if self.ip_image is None else f"{self.ip_image.width}x{self.ip_image.height}"
        return {"lora": lora, "ip_adapter": self.ip_adapter, "ip_adapter_image": image,
                "ip_adapter_scale": self.ip_scale}


def adapter_options(model: Any = None, lora: Any = None, ip_adapter: Any = None, ip_adapter_image: Any = None,
                    ip_adapter_scale: Any = None) -> AdapterOptions:
    """Check :func:`pipelines.edit`'s adapter arguments and read the IP image, before any model loads.

    Args:
        model: ``edit``'s model (``lora`` and ``ip_adapter`` are refused for one already loaded).
        lora: ``[ID_OR_PATH or (ID_OR_PATH, scale), ...]`` (see ``DifferentialEditor.from_pretrained``).
        ip_adapter: ``"REPO[::SUBFOLDER/WEIGHT]"``, e.g. ``"h94/IP-Adapter"``.
        ip_adapter_image: a path, PIL image or array (read like ``edit``'s image); required with ``ip_adapter``.
        ip_adapter_scale: the IP-Adapter's strength.

    Returns:
        The :class:`AdapterOptions`.

    Raises:
        TypeError / ValueError: a malformed argument, or ``ip_adapter`` without ``ip_adapter_image`` (the message
            names the parameter).
        FileNotFoundError: a missing IP image or LoRA path.
        ImportError: ``lora`` without peft installed.
    """
    from diffdiff.adapters import parse_lora
    from pipelines.images import load_image

    parse_lora(lora)  # raises for a malformed entry; the entries themselves go to from_pretrained as given
    check_loaded_model(model, lora, ip_adapter)
    if ip_adapter is not None and (not isinstance(ip_adapter, (str, os.PathLike)) or not str(ip_adapter).strip()):
        raise TypeError(f"ip_adapter: expected 'REPO[::SUBFOLDER/WEIGHT]', got {type(ip_adapter).__name__}")
    if ip_adapter is not None and ip_adapter_image is None:
        raise ValueError("ip_adapter_image: required with ip_adapter (the IP-Adapter's reference image)")
    if ip_adapter_scale is not None and ip_adapter_image is None:
        raise ValueError("ip_adapter_scale: only applies with ip_adapter_image")
    image = None if ip_adapter_image is None else load_image(ip_adapter_image, name="ip_adapter_image")[0]
    if ip_adapter_scale is not None:
        from diffdiff.adapters import finite

        finite("ip_adapter_scale", ip_adapter_scale)
    return AdapterOptions(lora, None if ip_adapter is None else str(ip_adapter), image, ip_adapter_scale)


def check_loaded_model(model: Any, lora: Any, ip_adapter: Any) -> None:
    """Refuse ``lora`` / ``ip_adapter`` for a model that is already loaded (an editor or pipeline): loading them
    here would change the caller's object.

    Raises:
        ValueError: naming the argument and what to do instead.
    """
    if isinstance(model, (str, os.PathLike)):
        return
    if lora is not None:
        raise ValueError("lora: applies to a model loaded by name; load it into your pipeline with "
                         "load_lora_weights (the editor keeps it), or pass the model's id or folder")
    if ip_adapter is not None:
        raise ValueError("ip_adapter: applies to a model loaded by name; call editor.load_ip_adapter(...) on "
                         "your editor and pass only ip_adapter_image")
