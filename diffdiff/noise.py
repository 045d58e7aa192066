"""The run's one noise tensor: drawn exactly as the stock pipeline will draw it, without consuming it.

The stock img2img pipeline draws its starting noise from the user's generator after encoding the
image. Re-noising kept pixels needs that same tensor, so it is drawn here with the pipeline's own
``randn_tensor`` call on the same generator(s), whose states are then restored: the pipeline draws the
identical values, and its results stay equal to stock img2img with the same generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["draw_like_pipeline", "fork_generator", "rewound", "seeded_generator"]


def draw_like_pipeline(
    generator: torch.Generator | list[torch.Generator], shape: tuple[int, ...], device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Draw ``randn_tensor(shape, generator, device, dtype)`` and rewind the generator(s).

    Args:
        generator: one generator or one per batch item, as the pipeline will receive it.
        shape: the pipeline's noise shape (its latents' shape).
        device: the pipeline's execution device.
        dtype: the latents' dtype.

    Returns:
        The noise tensor the pipeline's next draw will produce.
    """
    from diffusers.utils.torch_utils import randn_tensor

    with rewound(generator):
        return randn_tensor(shape, generator=generator, device=device, dtype=dtype)


@contextmanager
def rewound(generator: torch.Generator | list[torch.Generator]) -> Iterator[None]:
    """Within the block, draw from ``generator`` (one or a list) as the stock pipeline will; on leaving it,
    every generator is back in the state it had on entering, so the pipeline's own draws repeat those values."""
    generators: list[Any] = generator if isinstance(generator, list) else [generator]
    states = [g.get_state() for g in generators]
    try:
        yield
    finally:
        for g, state in zip(generators, states, strict=True):
            g.set_state(state)


def fork_generator(generator: Any) -> Any:
    """Independent copies of a generator (or of each of a list) in their current state: drawing from the copy
    gives the values the original's next draw would, without advancing it."""
    if isinstance(generator, list):
        return [fork_generator(g) for g in generator]
    copy = torch.Generator(device=generator.device)
    copy.set_state(generator.get_state())
    return copy


def seeded_generator() -> torch.Generator:
    """A CPU generator seeded from torch's global RNG (so ``torch.manual_seed`` makes runs repeatable)."""
    seed = int(torch.randint(0, 2**62, (1,)).item())
    return torch.Generator("cpu").manual_seed(seed)
