"""The adherence evaluation: run map families over a folder of images, report CAM / DAM per family against
plain img2img at the same mean strength (``automaps evaluate``).

For every image (resized so its short side is ``size`` and centre-cropped to ``size × size``) and every map
family, with one prompt and one seed:

1. ``y_m`` = the Differential Diffusion edit under the family's map ``m``;
2. ``y_s`` = plain img2img at the map's mean strength ``s = mean(m)`` (a uniform map *is* img2img);
3. ``y_1`` = the edit under the all-change map (once per image), for the bias correction;
4. EM = :func:`pipelines.metrics.edit_strength_map`, bias-corrected as ``EM(x, y) − EM(x, y_1)`` unless
   ``bias_correction=False``; CAM and DAM of ``m`` against the EM of ``y_m`` and of ``y_s``.

With tiny random models the numbers only prove the plumbing; with real weights this is the paper's table.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from automaps import ChangeMap
from pipelines import metrics
from pipelines.images import load_image

__all__ = ["IMAGE_SUFFIXES", "MAP_FAMILIES", "EvalReport", "EvalRow", "evaluate", "family_map", "list_images"]

MAP_FAMILIES = ("gradient", "triangle", "shapes")
"""``gradient``: 0 at the left edge to 1 at the right; ``triangle``: 0 at both side edges rising linearly to 1 in
the middle column; ``shapes``: 3–6 random ellipses and rectangles of random strengths in [0.2, 1] on 0,
feathered (seeded by the run's seed and the image's index)."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def family_map(family: str, size: int, index: int = 0, seed: int = 0) -> ChangeMap:
    """The change map of ``family`` for the ``index``-th image of a run, ``size × size``.

    Args:
        family: one of :data:`MAP_FAMILIES`.
        size: side in pixels.
        index: the image's position in the run (only ``"shapes"`` depends on it).
        seed: the run's seed (only ``"shapes"`` depends on it).

    Returns:
        ChangeMap ``(size, size)`` float32 in [0, 1], 1 = change fully; never constant.
    """
    from automaps import ops
    from automaps.generators import generate

    canvas = Image.new("RGB", (size, size))
    if family == "gradient":
        return generate(canvas, source="gradient", direction="left-right")
    t = np.linspace(0.0, 1.0, size)
    if family == "triangle":
        ramp = (1.0 - np.abs(2.0 * t - 1.0)).astype(np.float32)
        return ChangeMap(np.broadcast_to(ramp[None, :], (size, size)), provenance="triangle(left-right)")
    if family != "shapes":
        raise ValueError(f"family: expected one of {MAP_FAMILIES}, got {family!r}")
    rng = np.random.default_rng([seed, index])
    y, x = np.mgrid[0:size, 0:size] / size
    values = np.zeros((size, size), np.float32)
    for _ in range(int(rng.integers(3, 7))):
        cx, cy = rng.uniform(0.15, 0.85, 2)
        rx, ry = rng.uniform(0.08, 0.3, 2)
        inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1 if rng.random() < 0.5 else (
            (np.abs(x - cx) <= rx) & (np.abs(y - cy) <= ry))
        values = np.maximum(values, np.where(inside, np.float32(rng.uniform(0.2, 1.0)), 0))
    change = ops.feather(ChangeMap(values, provenance=f"shapes(seed={seed}, index={index})"), 0.02 * size)
    return change


def list_images(folder: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """Image files directly in ``folder`` (by suffix, sorted by name), at most ``limit`` of them."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"images: no such folder: {folder}")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return paths[:limit] if limit is not None else paths


def _square(path: Path, size: int) -> Image.Image:
    # The one guarded opener (bomb guard, EXIF upright, corrupt files named), 16-bit files scaled by their range.
    image = load_image(path, name="images")[0]
    scale = size / min(image.size)
    w, h = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    image = image.resize((w, h), Image.Resampling.LANCZOS)
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


@dataclass
class EvalRow:
    """One (image, family, method) measurement."""

    image: str
    family: str
    method: str  # "differential" or "img2img"
    mean_strength: float
    cam: float
    dam: float
    reliability: float | None = None  # gradient family only


@dataclass
class EvalReport:
    """All rows of a run, its settings, and the summary table."""

    rows: list[EvalRow]
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> list[dict[str, Any]]:
        """One dict per (family, method): ``n``, mean and standard deviation of CAM, DAM and reliability."""
        out = []
        keys = dict.fromkeys((r.family, r.method) for r in self.rows)
        for family, method in keys:
            rows = [r for r in self.rows if r.family == family and r.method == method]
            entry: dict[str, Any] = {"family": family, "method": method, "n": len(rows)}
            for name in ("cam", "dam", "reliability"):
                values = np.array([getattr(r, name) for r in rows if getattr(r, name) is not None], np.float64)
                entry[name] = (float(np.nanmean(values)), float(np.nanstd(values))) if values.size else None
            out.append(entry)
        return out

    def table(self) -> str:
        """The summary as an aligned text table (mean ± std over images)."""
        s = self.settings
        lines = [f"model: {s.get('model')}  images: {s.get('images')}  size: {s.get('size')}  "
                 f"steps: {s.get('steps')}  seed: {s.get('seed')}  EM: {s.get('distance')}"
                 f"{' bias-corrected' if s.get('bias_correction') else ''}",
                 f"{'family':10} {'method':13} {'n':>3}  {'CAM (higher better)':>21}  {'DAM (lower better)':>21}  "
                 f"{'reliability':>15}"]

        def fmt(pair: tuple[float, float] | None, digits: int) -> str:
            return "-" if pair is None or math.isnan(pair[0]) else f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"

        for e in self.summary():
            lines.append(f"{e['family']:10} {e['method']:13} {e['n']:>3}  {fmt(e['cam'], 3):>21}  "
                         f"{fmt(e['dam'], 2):>21}  {fmt(e['reliability'], 3):>15}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: settings, summary and every row."""
        return {"settings": self.settings, "summary": self.summary(), "rows": [asdict(r) for r in self.rows]}


def _check_evaluation(images: Any, families: Sequence[str], size: Any, limit: int | None) -> list[Path]:
    """The image paths to evaluate, after checking the families and the size."""
    unknown = [f for f in families if f not in MAP_FAMILIES]
    if unknown or not families:
        raise ValueError(f"families: expected some of {MAP_FAMILIES}, got {list(families)}")
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size: expected an integer >= 8, got {size!r}")
    paths = list_images(images, limit) if isinstance(images, (str, os.PathLike)) else [Path(p) for p in images][:limit]
    if not paths:
        raise ValueError(f"images: no image files ({', '.join(IMAGE_SUFFIXES)}) in {images}")
    return paths


def _evaluate_image(run: Callable[[Image.Image, Any], Image.Image], path: Path, index: int,
                    families: Sequence[str], size: int, seed: int, distance: Any,
                    bias_correction: bool) -> list[EvalRow]:
    """One image's rows: each map family, edited differentially and by img2img at the map's mean strength."""
    source = _square(path, size)
    ones = np.ones((size, size), np.float32)
    reference = metrics.edit_strength_map(source, run(source, ones), distance) if bias_correction else None

    def strength_map(edited: Image.Image) -> np.ndarray:
        em = metrics.edit_strength_map(source, edited, distance)
        return em if reference is None else metrics.bias_corrected(em, reference)

    rows = []
    for family in families:
        change = family_map(family, size, index, seed)
        mean = change.mean()
        uniform = np.full((size, size), mean, np.float32)
        for method, target in (("differential", change), ("img2img", uniform)):
            em = strength_map(run(source, target))
            reliability = metrics.reliability_score(em) if family == "gradient" else None
            rows.append(EvalRow(path.name, family, method, mean, metrics.cam(change, em), metrics.dam(change, em),
                                reliability))
    return rows


def evaluate(
    model: Any,
    images: str | os.PathLike | Sequence[str | os.PathLike],
    prompt: str,
    families: Sequence[str] = MAP_FAMILIES,
    *,
    steps: int = 30,
    seed: int = 0,
    size: int = 512,
    limit: int | None = None,
    distance: str | metrics.Distance = "auto",
    bias_correction: bool = True,
    preserve_unchanged: bool = False,
    guidance_scale: float | None = None,
    scheduler: Any = None,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
) -> EvalReport:
    """Measure how well edits follow their maps: Differential Diffusion vs img2img at matched mean strength.

    Args:
        model: alias, hub id, folder, ``DifferentialEditor`` or diffusers pipeline.
        images: a folder (its image files, sorted) or a list of image paths.
        prompt: one target prompt for every image.
        families: map families from :data:`MAP_FAMILIES`.
        steps: inference steps ``N``.
        seed: one seed for every run (and for the random shapes).
        size: images are resized (short side) and centre-cropped to ``size × size``; DAM depends on it.
        limit: use at most this many images.
        distance: the EM distance (see :func:`pipelines.metrics.edit_strength_map`).
        bias_correction: subtract the all-change edit's EM (see the module docstring).
        preserve_unchanged: copy input pixels where the map is 0 (off by default: the metric should see the
            model's own output, not the paste).
        guidance_scale, scheduler, device: for the editor.
        log: called with one line per image (progress).

    Returns:
        :class:`EvalReport`; ``report.table()`` is what ``automaps evaluate`` prints.

    Raises:
        ValueError: an unknown family, no images, or a bad size.
    """
    import torch

    from pipelines.models import load_editor

    paths = _check_evaluation(images, families, size, limit)
    editor, model_name = load_editor(model, device=device, scheduler=scheduler)
    editor.pipe.set_progress_bar_config(disable=True)

    def run(image: Image.Image, change: Any) -> Image.Image:
        return editor(image, prompt, change, num_inference_steps=steps, guidance_scale=guidance_scale,
                      generator=torch.Generator().manual_seed(seed), preserve_unchanged=preserve_unchanged).images[0]

    rows: list[EvalRow] = []
    for index, path in enumerate(paths):
        rows += _evaluate_image(run, path, index, families, size, seed, distance, bias_correction)
        if log is not None:
            log(f"[{index + 1}/{len(paths)}] {path.name}")
    settings = {"model": model_name, "images": len(paths), "size": size, "steps": steps, "seed": seed,
                "prompt": prompt, "families": list(families), "distance": metrics.distance_name(distance),
                "bias_correction": bias_correction, "preserve_unchanged": preserve_unchanged,
                "guidance_scale": guidance_scale, "family": editor.family}
    return EvalReport(rows, settings)
