"""Checks of the editor's call arguments, each refusing a bad value by name before any work: numbers in range,
one prompt (or negative prompt) per output image, generators, and the warning for a map that frees no step."""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

from diffdiff.core import steps_for_strength, typed_strength
from diffdiff.noise import seeded_generator

__all__ = ["check_generator", "idle_map_message", "per_image", "real_number"]


def real_number(name: str, value: Any, lo: float, hi: float) -> float:
    """``value`` as a float; TypeError unless a real number (not bool), ValueError unless finite in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"{name}: expected a finite number in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def idle_map_message(max_change: float, n_steps: int, rounding: str = "floor") -> str | None:
    """The one-line warning for a map whose maximum frees (almost) no step, else ``None``.

    ``k(max m) == 0`` with ``max m > 0``: nothing changes. ``k(max m) == 1`` of ``N >= 10``: barely anything.
    An all-zero map gets no warning (it returns the input, as asked).

    >>> idle_map_message(0.03, 30)
    'change_map: its maximum 0.03 frees 0 of 30 steps; nothing changes'
    >>> idle_map_message(0.5, 30) is None
    True
    """
    if not max_change > 0:
        return None
    k = steps_for_strength(typed_strength(max_change), n_steps, rounding)
    if k == 0:
        return f"change_map: its maximum {max_change:.3g} frees 0 of {n_steps} steps; nothing changes"
    if k == 1 and n_steps >= 10:
        return f"change_map: its maximum {max_change:.3g} frees only 1 of {n_steps} steps; the edit is barely visible"
    return None


def per_image(name: str, value: Any, n_images: int, repeat: int, required: bool) -> list[str] | None:
    """One string per output image, in the order ``image b, sample r`` -> ``b * repeat + r``."""
    if value is None and not required:
        return None
    if isinstance(value, str):
        values = [value] * n_images
    elif isinstance(value, (list, tuple)) and value:
        bad = [i for i, v in enumerate(value) if not isinstance(v, str)]
        if bad:
            raise TypeError(f"{name}[{bad[0]}]: expected a string, got {type(value[bad[0]]).__name__}")
        values = list(value)
        if len(values) == 1:
            values = values * n_images
    else:
        optional = " or None" if not required else ""
        raise TypeError(f"{name}: expected a string or a non-empty list of strings{optional}, "
                        f"got {type(value).__name__} {value!r}"[:200])
    if len(values) != n_images:
        raise ValueError(f"{name}: got {len(values)} for {n_images} images; pass one or one per image")
    return [v for v in values for _ in range(repeat)]


def check_generator(generator: Any, total: int) -> Any:
    """``generator`` as the run uses it: one ``torch.Generator``, a list of ``total`` of them, or (for ``None``)
    one seeded from torch's global RNG. Raises TypeError / ValueError naming ``generator`` otherwise."""
    if generator is None:
        return seeded_generator()
    if isinstance(generator, (list, tuple)):
        bad = [i for i, g in enumerate(generator) if not isinstance(g, torch.Generator)]
        if bad:
            raise TypeError(f"generator[{bad[0]}]: expected a torch.Generator, got {type(generator[bad[0]]).__name__}")
        if len(generator) != total:
            raise ValueError(f"generator: expected one torch.Generator or a list of {total}, got {len(generator)}")
        return list(generator)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or a list of them, got {type(generator).__name__}")
    return generator
