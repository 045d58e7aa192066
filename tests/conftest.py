"""Shared fixtures: tiny random pipelines saved once per session and loaded back through the project's
own loaders (never a hub download)."""

from __future__ import annotations

import os

import pytest
import torch

# Tests must never reach a hub; any accidental download fails fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One thread per xdist worker: two workers with two threads each on two cores run several times slower.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1)))



class _TinyFolders(dict):
    """Saves a tiny pipeline the first time its folder is asked for, so each worker builds only the
    families its tests use."""

    def __init__(self, root) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, name: str):
        from diffdiff.tiny import TINY_FAMILIES, save_tiny_pipeline

        if name not in TINY_FAMILIES:
            raise KeyError(name)
        self[name] = save_tiny_pipeline(name, self.root / name)
        return self[name]


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory):
    """``{"sd": folder, "sdxl": folder, "kandinsky": folder, "if-1": folder, ...}`` of saved tiny
    pipelines (every name of ``diffdiff.tiny.TINY_FAMILIES``), saved on first use."""
    return _TinyFolders(tmp_path_factory.mktemp("tiny-pipelines"))


@pytest.fixture(scope="session")
def editors(tiny_folders):
    """A cache of editors loaded through ``DifferentialEditor.from_pretrained``, keyed by
    ``(name, scheduler)``; a name is a case of ``diffdiff.tiny.TINY_EDITORS`` (each family registers its
    own) or a tiny pipeline loaded alone."""
    from diffdiff import DifferentialEditor
    from diffdiff.tiny import TINY_EDITORS

    cache: dict[tuple[str, str | None], DifferentialEditor] = {}

    def get(name: str, scheduler: str | None = None) -> DifferentialEditor:
        key = (name, scheduler)
        if key not in cache:
            case = TINY_EDITORS.get(name)
            main, extras = (case.main, case.extras) if case is not None else (name, {})
            editor = DifferentialEditor.from_pretrained(
                tiny_folders[main], device="cpu", scheduler=scheduler,
                **{role: tiny_folders[part] for role, part in extras.items()},
            )
            for pipe in editor.pipelines:
                pipe.set_progress_bar_config(disable=True)
            cache[key] = editor
        return cache[key]

    return get


@pytest.fixture(scope="session")
def map_models(tmp_path_factory):
    """``edit(map_models=...)`` folders of tiny random CLIPSeg, Grounding DINO, SAM and Depth Anything."""
    from automaps import tiny

    root = tmp_path_factory.mktemp("tiny-map-models")
    return {
        "clipseg": str(tiny.save_tiny_clipseg(root / "clipseg")),
        "detector": str(tiny.save_tiny_grounding_dino(root / "detector")),
        "segmenter": str(tiny.save_tiny_sam(root / "segmenter")),
        "depth": str(tiny.save_tiny_depth_anything(root / "depth")),
    }
