"""``EditResult``: what one :func:`pipelines.edit` produced, how to save it, and how to chain the next edit."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from automaps import ChangeMap
from automaps.plan_types import EditPlan

__all__ = ["EditResult"]


@dataclass
class EditResult:
    """What one edit produced, and everything needed to reproduce it.

    Attributes:
        image: the edited image, the input's size and orientation (upright); RGBA when the input had alpha
            (the alpha is the input's), RGB otherwise.
        change_map: the map used, ``(H, W)`` in [0, 1], 1 = change fully, with its provenance.
        plan: the edit plan (after the caller's overrides).
        seed: the seed of the diffusion run.
        model: the diffusion model's id or folder.
        timings: seconds per stage: ``plan``, ``map``, ``load``, ``diffusion``, ``total``.
        settings: steps, guidance, scheduler, crop box and the other knobs of the run.
        source: the input as edited: upright, RGB or RGBA.
    """

    image: Image.Image
    change_map: ChangeMap
    plan: EditPlan
    seed: int
    model: str
    timings: dict[str, float]
    settings: dict[str, Any]
    source: Image.Image = field(repr=False)
    _editor: Any = field(default=None, repr=False)
    _map_models: dict[str, Any] = field(default_factory=dict, repr=False)

    def save(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write ``image.png``, ``change_map.png``, ``overlay.png`` and ``edit.json`` into ``folder``.

        Every file is written atomically (temporary file, then rename). ``edit.json`` holds the plan,
        seed, model and settings: enough to reproduce the edit.

        Returns:
            ``{"image" | "change_map" | "overlay" | "json": path}``.
        """
        from automaps.io import atomic_write
        from pipelines.images import save_image

        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"folder: {folder} is a file; expected a folder to write into")
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / file for name, file in
                 (("image", "image.png"), ("change_map", "change_map.png"), ("overlay", "overlay.png"),
                  ("json", "edit.json"))}
        save_image(self.image, paths["image"], name="folder")
        save_image(self.change_map.overlay(self.source), paths["overlay"], name="folder")
        self.change_map.save(paths["change_map"])
        record = {"plan": self.plan.to_dict(), "seed": self.seed, "model": self.model,
                  "map_provenance": self.change_map.provenance, "settings": self.settings, "timings": self.timings}
        with atomic_write(paths["json"], name="folder") as handle:
            handle.write(json.dumps(record, indent=2, ensure_ascii=False, default=str).encode())
        return paths

    def then(self, instruction: str, **overrides: Any) -> EditResult:
        """Chain: edit this result's image with a new instruction, same model and map models.

        Args:
            instruction: the next instruction.
            **overrides: any :func:`edit` keyword (``seed`` defaults to this result's seed).
        """
        overrides.setdefault("seed", self.seed)
        overrides.setdefault("map_models", self._map_models)
        for key in ("steps", "guidance_scale", "crop", "progress", "max_megapixels"):
            if key in self.settings:
                overrides.setdefault(key, self.settings[key])
        from pipelines.edit import edit  # edit() builds EditResults: imported when chaining

        return edit(self.image, instruction, model=self._editor, **overrides)
