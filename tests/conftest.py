"""Shared fixtures: tiny random pipelines saved once per session and loaded back through the project's
own loaders (never a hub download)."""

from __future__ import annotations

import os

import pytest
import torch

# Tests must never reach a hub; any accidental download fails fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory):
    """``{"sd": folder, "sdxl": folder, "sdxl-refiner": folder}`` of saved tiny pipelines."""
    from diffdiff.tiny import TINY_FAMILIES, save_tiny_pipeline

    root = tmp_path_factory.mktemp("tiny-pipelines")
    return {name: save_tiny_pipeline(name, root / name) for name in TINY_FAMILIES}


@pytest.fixture(scope="session")
def editors(tiny_folders):
    """A cache of editors loaded through ``DifferentialEditor.from_pretrained``, keyed by
    ``(family, scheduler)``."""
    from diffdiff import DifferentialEditor

    cache: dict[tuple[str, str | None], DifferentialEditor] = {}

    def get(family: str, scheduler: str | None = None) -> DifferentialEditor:
        key = (family, scheduler)
        if key not in cache:
            editor = DifferentialEditor.from_pretrained(tiny_folders[family], device="cpu", scheduler=scheduler)
            editor.pipe.set_progress_bar_config(disable=True)
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
