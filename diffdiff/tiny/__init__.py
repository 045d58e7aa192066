"""Tiny randomly initialised diffusion pipelines for tests, notebooks and benchmarks, one module per family.

Nothing here downloads anything: every component is built from a config in code (the pattern of
diffusers' ``get_dummy_components()``), tokenizers included (:mod:`diffdiff.tiny.parts`).
``save_tiny_pipeline`` writes a folder that ``DifferentialEditor.from_pretrained`` loads like a hub
checkpoint. The pictures these models make are noise: they exist to prove the editor's maths, never its
looks.

Each family's module registers its builders (:func:`register_tiny`) and the tiny editors made of them
(:func:`tiny_editor`); the test suite, the notebooks and the benchmarks read :data:`TINY_EDITORS`, so a new
family adds one module here beside its adapter in ``diffdiff/families/``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

__all__ = [
    "TINY_EDITORS",
    "TINY_FAMILIES",
    "TinyEditor",
    "build_tiny_pipeline",
    "generic_cases",
    "register_tiny",
    "save_tiny_pipeline",
    "tiny_editor",
]

TINY_FAMILIES: dict[str, Callable] = {}
"""Tiny pipeline name (``"sd"``, ``"kandinsky-prior"``, ``"if-2"``, ...) -> its builder."""


@dataclass(frozen=True)
class TinyEditor:
    """A tiny editor: which family it tests and the tiny pipelines it is loaded from.

    Attributes:
        name: the case name (``"if-1+2"``).
        family: the family adapter's name it must be read as (``"deepfloyd_if"``).
        main: the tiny pipeline ``DifferentialEditor.from_pretrained`` loads.
        extras: extra-stage keyword -> tiny pipeline name (``{"stage2": "if-2"}``).
        requires: call arguments the editor cannot run without (a ControlNet's ``control_image``): the
            family-generic tests, which call ``editor(image, prompt, change_map)``, leave such cases to
            their own tests (see :func:`generic_cases`).
        slow: a call takes tens of seconds even on the tiny model (Qwen-Image-Edit works at 1024^2 whatever
            the input): the family-generic tests leave it out too, and only its own few tests run it.
    """

    name: str
    family: str
    main: str
    extras: dict[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    slow: bool = False


TINY_EDITORS: dict[str, TinyEditor] = {}
"""Case name -> :class:`TinyEditor`, every family's (filled when this package is imported)."""


def register_tiny(name: str, builder: Callable) -> Callable:
    """Register a builder of a tiny pipeline under ``name``; returns the builder."""
    TINY_FAMILIES[name] = builder
    return builder


def tiny_editor(name: str, family: str, main: str, requires: tuple[str, ...] = (), slow: bool = False,
                **extras: str) -> TinyEditor:
    """Register a tiny editor case: ``family``'s adapter driving tiny pipeline ``main`` with ``extras``
    (``requires``: call arguments it cannot run without; ``slow``: see :class:`TinyEditor`)."""
    TINY_EDITORS[name] = TinyEditor(name, family, main, dict(extras), tuple(requires), slow)
    return TINY_EDITORS[name]


def generic_cases() -> dict[str, TinyEditor]:
    """The tiny editor cases that run with ``editor(image, prompt, change_map)`` alone (no ``requires``) in
    well under a second (not ``slow``): the ones the family-generic tests and benchmarks iterate over."""
    return {name: case for name, case in TINY_EDITORS.items() if not case.requires and not case.slow}


def build_tiny_pipeline(name: str):
    """Build a tiny random diffusers pipeline in memory.

    Args:
        name: one of :data:`TINY_FAMILIES` (``"sd"``, ``"sdxl"``, ``"sdxl-refiner"``, ``"kandinsky"``,
            ``"kandinsky-prior"``, ``"if-1"``, ``"if-2"``, ``"x4-upscaler"``, ``"sd3"``, ``"flux"``).

    Returns:
        The pipeline (or, for a ControlNet name, the model), in eval mode, fp32, on the CPU.

    Raises:
        KeyError: for an unknown name.
    """
    if name not in TINY_FAMILIES:
        raise KeyError(f"name: unknown tiny pipeline {name!r}; expected one of {sorted(TINY_FAMILIES)}")
    pipe = TINY_FAMILIES[name]()
    # A few builders make a single model (a ControlNet) rather than a pipeline: it saves the same way.
    components = pipe.components.values() if hasattr(pipe, "components") else [pipe]
    for module in components:
        if isinstance(module, torch.nn.Module):
            module.eval()
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_pipeline(name: str, folder: str | Path) -> Path:
    """Build a tiny pipeline and ``save_pretrained`` it (safetensors) into ``folder``.

    Returns:
        The folder, which now holds a ``model_index.json`` like a hub checkpoint.
    """
    folder = Path(folder)
    build_tiny_pipeline(name).save_pretrained(folder, safe_serialization=True)
    return folder


# Every family module registers itself; they import diffusers/transformers only inside their builders.
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "parts":
        importlib.import_module(f"{__name__}.{_module.name}")
