"""``OpSpec``: a map operation as a command line sees it (its parameters and their ranges).

The registry of operations, ``automaps.ops.OPERATIONS``, is built from these next to the operations.
"""

from __future__ import annotations

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
    """

    fn: Callable[..., Any]
    params: dict[str, tuple[float, float]] = field(default_factory=dict)
    n_maps: int = 1

    @property
    def doc(self) -> str:
        """First line of the operation's docstring."""
        return (self.fn.__doc__ or "").strip().splitlines()[0]

    def check(self, **params: Any) -> None:
        """Raise ValueError naming the parameter if ``params`` has unknown names or out-of-range values."""
        for name, value in params.items():
            if name not in self.params:
                known = list(self.params)
                raise ValueError(f"{name}: unknown parameter of {self.fn.__name__}; expected one of {known}")
            lo, hi = self.params[name]
            for v in value if isinstance(value, (tuple, list)) else (value,):
                if not lo <= v <= hi:
                    raise ValueError(f"{name}: expected a value in [{lo:g}, {hi:g}], got {v!r}")
