"""Which diffusion model an edit uses: short aliases, and a cache of loaded editors."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["MODEL_ALIASES", "load_editor"]

MODEL_ALIASES: dict[str, str] = {
    "sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sd2": "stabilityai/stable-diffusion-2-1",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
    "kontext": "black-forest-labs/FLUX.1-Kontext-dev",  # instruction-editing (pipelines/instruction.py)
    "qwen-edit": "Qwen/Qwen-Image-Edit",  # instruction-editing, at 1024 x 1024 in area (diffdiff/families/qwen_edit.py)
}
"""Short names accepted by ``edit(model=...)`` and ``automaps edit --model``."""

_EDITORS: dict[tuple[Any, ...], Any] = {}


def load_editor(model: Any = "sd15", device: str | None = None, torch_dtype: Any = None, scheduler: Any = None,
                *, progress: bool | None = None, lora: Any = None, ip_adapter: str | None = None, **stages: Any):
    """Resolve ``model`` to a ``DifferentialEditor``, loading lazily and caching by (id, device, dtype, scheduler,
    stages, LoRA, IP-Adapter).

    Args:
        model: an alias from :data:`MODEL_ALIASES`, a hub id, a local folder, a ``DifferentialEditor``, or
            a loaded diffusers pipeline.
        device: torch device for a model loaded here (``None`` = best available).
        torch_dtype: dtype for a model loaded here (``None`` = float32).
        scheduler: scheduler name or object for a model loaded here.
        progress: ``False`` hides the libraries' loading bars (their notices are always hidden).
        lora: LoRA entries for a model loaded here (``DifferentialEditor.from_pretrained(lora=...)``).
        ip_adapter: an IP-Adapter ``REPO[::SUBFOLDER/WEIGHT]`` loaded into a model loaded here
            (``diffdiff.adapters.ip_adapter_arguments``); refused, like ``lora``, for an already-loaded model.
        **stages: the family's extra stages for a model loaded here (``refiner=``, ``prior=``, ``stage2=``,
            ``stage3=``: a hub id or folder each), passed to ``DifferentialEditor.from_pretrained``; ``None``
            values are left out.

    Returns:
        ``(editor, name)``: the editor and a printable model name.
    """
    from automaps.hub import quiet_libraries
    from diffdiff import DifferentialEditor
    from diffdiff.adapters import load_named_ip_adapter
    from pipelines.adapters import check_loaded_model

    stages = {role: value for role, value in stages.items() if value is not None}
    check_loaded_model(model, lora, ip_adapter)
    if isinstance(model, DifferentialEditor):
        return model, getattr(model.pipe, "name_or_path", None) or model.family
    if hasattr(model, "components") and hasattr(model, "scheduler"):  # a diffusers pipeline
        return DifferentialEditor.from_pipe(model, scheduler=scheduler), getattr(model, "name_or_path", "pipeline")
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(
            f"model: expected an alias, hub id, folder, DifferentialEditor or pipeline, got {type(model).__name__}"
        )
    name = MODEL_ALIASES.get(str(model), str(model))
    key = (name, None if device is None else str(device), None if torch_dtype is None else str(torch_dtype),
           None if scheduler is None else str(scheduler), tuple(sorted((r, str(v)) for r, v in stages.items())),
           None if lora is None else str(lora), ip_adapter)
    if key not in _EDITORS:
        with quiet_libraries(progress):
            editor = DifferentialEditor.from_pretrained(name, torch_dtype=torch_dtype, device=device,
                                                        scheduler=scheduler, lora=lora, **stages)
            if ip_adapter is not None:  # cached only once it holds its IP-Adapter
                load_named_ip_adapter(editor, ip_adapter)
            _EDITORS[key] = editor
    return _EDITORS[key], name
