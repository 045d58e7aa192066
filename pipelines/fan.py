"""The Strength Fan (Levin & Fried, "Differential Diffusion", Sec. "Strength Fan"): which strength does an edit need?

Two views of the same question, with one seed:

(a) **one** Differential Diffusion edit with a fan-shaped change map whose ``n`` angular sectors go from 0 to 1
    (clockwise from 12 o'clock), so every strength appears side by side in a single picture;
(b) a grid of ``n`` plain edits with uniform maps ``0, 1/(n-1), ..., 1`` (a uniform map *is* img2img at that
    strength), batched as far as memory allows.

Both land on a labelled contact sheet with the strength under each tile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from automaps import ChangeMap
from pipelines.sheet import contact_sheet, tile_size

__all__ = ["FanResult", "fan_map", "fan_strengths", "strength_fan"]


@dataclass
class FanResult:
    """What :func:`strength_fan` made.

    Attributes:
        image: (a) the single edit with the fan map, RGB, the input's size.
        change_map: the fan map, ``(H, W)`` float32, sector ``k`` = ``k / (n - 1)``, 1 = change fully.
        strengths: ``[k / (n - 1) for k in range(n)]``, ascending.
        grid: (b) ``grid[k]`` is the uniform edit at ``strengths[k]`` (empty when ``grid=False``).
        sheet: the labelled contact sheet: input, fan map, fan edit, then the grid.
        seed: the seed every run used.
    """

    image: Image.Image
    change_map: ChangeMap
    strengths: list[float]
    grid: list[Image.Image]
    sheet: Image.Image
    seed: int
    source: Image.Image = field(repr=False)


def fan_strengths(n: int) -> list[float]:
    """The ``n`` strengths of a fan, ``k / (n - 1)`` for ``k = 0..n-1`` (0 and 1 included).

    >>> fan_strengths(5)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n: expected an integer >= 2, got {n!r}")
    return [k / (n - 1) for k in range(int(n))]


def fan_map(size: tuple[int, int], n: int = 8, center: Sequence[float] = (0.5, 0.5)) -> ChangeMap:
    """The fan change map of the registered ``fan`` generator, for an image of ``size = (W, H)``.

    Sector ``k`` (``k = 0..n-1``, equal angles, clockwise from 12 o'clock around ``center``) holds ``k / (n - 1)``:
    the map is 0 just right of 12 o'clock and 1 just left of it, monotone clockwise in between.

    Args:
        size: ``(W, H)`` in pixels.
        n: number of sectors, >= 2.
        center: ``(x, y)`` fractions of ``(W, H)``.

    Returns:
        ChangeMap ``(H, W)`` float32 with values in ``{k / (n - 1)}``; provenance ``"fan(8)"``.
    """
    from automaps.generators import generate

    fan_strengths(n)  # validates n with this module's message
    return generate(Image.new("RGB", tuple(size)), source="fan", n=int(n), center=tuple(center))


def _annotate(tile: Image.Image, n: int, center: Sequence[float]) -> Image.Image:
    """Write each sector's strength at its mid-angle on a fan-map tile (a copy)."""
    from pipelines.sheet import font as sheet_font

    tile = tile.copy()
    draw = ImageDraw.Draw(tile)
    w, h = tile.size
    cx, cy = center[0] * w, center[1] * h
    radius = 0.36 * min(w, h)
    face = sheet_font(max(8, min(w, h) // 14))
    for k, strength in enumerate(fan_strengths(n)):
        theta = (k + 0.5) * 2 * math.pi / n  # clockwise from up, as in the generator
        x, y = cx + radius * math.sin(theta), cy - radius * math.cos(theta)
        draw.text((x, y), f"{strength:.2f}", fill=(220, 30, 30), font=face, anchor="mm", stroke_width=1,
                  stroke_fill=(255, 255, 255))
    return tile


def _oom_errors() -> tuple[type[BaseException], ...]:
    import torch

    return tuple({getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError})


def _uniform_grid(editor, source: Image.Image, prompt: str, strengths: list[float], batch_size: int | None,
                  seed: int, call: dict[str, Any]) -> list[Image.Image]:
    """Uniform edits at each strength, as few batched calls as memory allows (halving the batch on OOM)."""
    import torch

    size = len(strengths) if batch_size is None else max(1, int(batch_size))
    out: list[Image.Image] = []
    while len(out) < len(strengths):
        chunk = strengths[len(out) : len(out) + size]
        maps = [np.full((source.height, source.width), s, np.float32) for s in chunk]
        # One generator per output, all with the same seed: every tile starts from the same noise.
        generators = [torch.Generator().manual_seed(seed) for _ in chunk]
        try:
            images = editor([source] * len(chunk), prompt, maps, generator=generators, **call).images
        except _oom_errors():
            if size == 1:
                raise
            size = max(1, size // 2)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        out.extend(images)
    return out


def strength_fan(
    editor: Any,
    image: Any,
    prompt: str,
    n: int = 8,
    *,
    steps: int = 30,
    seed: int = 0,
    guidance_scale: float | None = None,
    negative_prompt: str | None = None,
    center: Sequence[float] = (0.5, 0.5),
    grid: bool = True,
    batch_size: int | None = None,
    tile: int = 192,
    columns: int | None = None,
    title: str | None = None,
) -> FanResult:
    """Show what every strength of an edit looks like: one fan-map edit plus a grid of uniform edits.

    Args:
        editor: a ``DifferentialEditor`` (or anything :func:`pipelines.models.load_editor` accepts: an alias,
            a hub id, a folder, a diffusers pipeline).
        image: PIL image, path, or uint8 ``(H, W, 3)`` array.
        prompt: the target prompt.
        n: number of strengths (fan sectors and grid tiles), >= 2; strengths are ``k / (n - 1)``.
        steps: inference steps ``N``.
        seed: one seed for every run, so tiles differ only by strength.
        guidance_scale: ``None`` = the model's default.
        negative_prompt: passed to the editor.
        center: the fan's centre as ``(x, y)`` fractions of the image.
        grid: also run the ``n`` uniform edits (b); ``False`` runs the fan edit only.
        batch_size: uniform edits per editor call; ``None`` = all ``n`` in one batch, halved on out-of-memory.
        tile: the long side of each contact-sheet tile in pixels.
        columns: tiles per row on the sheet (default ``max(3, min(n, 4))``).
        title: a line above the sheet (e.g. to label a tiny test model).

    Returns:
        :class:`FanResult`. ``grid[0]`` (strength 0) equals the input exactly, and so does the fan edit in
        sector 0, because pixels with change 0 are kept bit for bit.

    Raises:
        ValueError: ``n < 2``, ``steps < 1`` or a bad ``center``.
    """
    import torch

    from pipelines.checks import check_knobs
    from pipelines.edit import _as_image
    from pipelines.models import load_editor

    check_knobs(steps=steps, seed=seed, guidance_scale=guidance_scale, negative_prompt=negative_prompt)
    if not isinstance(prompt, str):
        raise TypeError(f"prompt: expected a string, got {type(prompt).__name__}")
    steps, seed = int(steps), int(seed)  # numpy integers: torch takes int only
    strengths = fan_strengths(n)
    editor, _ = load_editor(editor)
    source = _as_image(image)
    change = fan_map(source.size, n, center)
    call = {"num_inference_steps": steps, "guidance_scale": guidance_scale, "negative_prompt": negative_prompt}
    fan_image = editor(source, prompt, change, generator=torch.Generator().manual_seed(seed), **call).images[0]
    tiles = _uniform_grid(editor, source, prompt, strengths, batch_size, seed, call) if grid else []

    sheet = _fan_sheet(source, change, fan_image, tiles, strengths, center, tile, columns, title)
    return FanResult(fan_image, change, strengths, tiles, sheet, seed, source)


def _fan_sheet(source: Image.Image, change: ChangeMap, fan_image: Image.Image, tiles: list[Image.Image],
               strengths: list[float], center: Sequence[float], tile: int, columns: int | None,
               title: str | None) -> Image.Image:
    """The contact sheet: input, the annotated fan map and the fan edit, then the grid on a row of its own."""
    n = len(strengths)
    size = tile_size(source.size, tile)
    columns = max(3, min(n, 4)) if columns is None else columns
    map_tile = _annotate(change.to_pil().convert("RGB").resize(size, Image.Resampling.NEAREST), n, center)
    header: list[Any] = [source, map_tile, fan_image]
    header_labels = ["input", f"fan map ({n} sectors)", "fan edit"]
    pad = (-len(header)) % columns if tiles else 0  # the grid starts on a new row
    return contact_sheet(
        header + [None] * pad + tiles,
        header_labels + [""] * pad + [f"strength {s:.2f}" for s in strengths[: len(tiles)]],
        columns=columns, tile_size=size, title=title,
    )
