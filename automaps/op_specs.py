"""``OpSpec``: a map operation as a command line sees it (its parameters, their types and ranges).

The registry of operations, ``automaps.ops.OPERATIONS``, is built from these next to the operations; the
``automaps map`` command makes one flag of each single-map operation from it (:mod:`pipelines.cli`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OpSpec"]


@dataclass(frozen=True)
class OpSpec:
    """A map operation as a CLI sees it.

    Attributes:
        fn: The operation; called as ``fn(*maps, **params)``.
        params: Parameter name -> inclusive ``(min, max)`` range (for ``size``, the range of each entry).
        n_maps: Number of map arguments; ``-1`` means one or more (union, intersect).
        ints: Names of the parameters that take integers (the others take real numbers).
    """

    fn: Callable[..., Any]
    params: dict[str, tuple[float, float]] = field(default_factory=dict)
    n_maps: int = 1
    ints: tuple[str, ...] = ()

    @property
    def doc(self) -> str:
        """First line of the operation's docstring."""
        return (self.fn.__doc__ or "").strip().splitlines()[0]

    def kind(self, name: str) -> type:
        """``int`` or ``float``: what parameter ``name`` takes."""
        return int if name in self.ints else float

    def problem(self, name: str, value: Any) -> str | None:
        """What is wrong with ``value`` for parameter ``name``, in words; ``None`` when it is in its range.

        >>> OpSpec(abs, {"t": (0, 1)}).problem("t", 2)
        'expected a value in [0, 1], got 2'
        """
        if name not in self.params:
            return f"unknown parameter of {self.fn.__name__}; expected one of {list(self.params)}"
        lo, hi = self.params[name]
        for v in value if isinstance(value, (tuple, list)) else (value,):
            if name in self.ints and (isinstance(v, bool) or not isinstance(v, numbers.Integral)):
                return f"expected an integer, got {v!r}"
            if not lo <= v <= hi:
                return f"expected a value in [{lo:g}, {hi:g}], got {v!r}"
        return None

    def check(self, **params: Any) -> None:
        """Raise ValueError naming the parameter if ``params`` has unknown names or out-of-range values."""
        for name, value in params.items():
            if (problem := self.problem(name, value)) is not None:
                raise ValueError(f"{name}: {problem}")
