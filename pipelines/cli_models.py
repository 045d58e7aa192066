"""``automaps models`` (the default checkpoints, their licenses, whether each is cached) and ``automaps
tiny-models`` (tiny random models to try every command offline)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.cli import UsageError

__all__ = ["add_model_commands", "model_rows", "tiny_model_commands"]


def add_model_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``models`` and ``tiny-models`` to the ``automaps`` subcommands."""
    models = commands.add_parser("models", help="default model ids, whether each is cached, how to download")
    models.set_defaults(run=cmd_models)

    tiny_models = commands.add_parser("tiny-models", help="save tiny random models to try every command offline")
    tiny_models.add_argument("folder", type=Path, help="written as FOLDER/sd, FOLDER/clipseg, ... and photo.png")
    tiny_models.add_argument("--only", nargs="+", metavar="NAME",
                             help="just these (sd, sdxl, kandinsky, ..., clipseg, detector, segmenter, depth)")
    tiny_models.set_defaults(run=cmd_tiny_models)


def model_rows() -> list[tuple[str, str, str, str, str]]:
    """``(kind, name, model id, license, note)`` of every default model: each registered diffusion family's
    checkpoints and extra stages (``diffdiff.models``), the ``--model`` aliases, then the map generators'."""
    from automaps.generators import list_generators
    from diffdiff.families import FAMILIES
    from diffdiff.models import DEFAULT_MODELS
    from pipelines.models import MODEL_ALIASES

    rows = []
    for family in FAMILIES:
        for role, spec in DEFAULT_MODELS.get(family, {}).items():
            licence = spec.license + (" (gated)" if spec.gated else "")
            name = family if role == "main" else f"{family}:{role}"
            rows.append(("diffusion", name, spec.model_id, licence, spec.note))
    rows += [("alias", alias, model_id, "", "") for alias, model_id in MODEL_ALIASES.items()]
    rows += [("map", spec.name, spec.default_model, spec.license, "") for spec in list_generators()
             if spec.default_model]
    rows += [("map", "grounded:segmenter", "facebook/sam-vit-base", "Apache-2.0", "")]
    return rows


def cmd_models(args: argparse.Namespace) -> None:
    print(f"{'kind':10} {'name':24} {'model':50} {'cached':7} {'license':44} {'download':64} note")
    for kind, name, model_id, licence, note in model_rows():
        cached = "yes" if _is_cached(model_id) else "no"
        print(f"{kind:10} {name:24} {model_id:50} {cached:7} {licence:44} {'hf download ' + model_id:64} {note}")


TINY_MAP_MODELS = {"clipseg": "save_tiny_clipseg", "detector": "save_tiny_grounding_dino",
                   "segmenter": "save_tiny_sam", "depth": "save_tiny_depth_anything"}
"""``automaps tiny-models``: ``--map-model`` name -> the builder in :mod:`automaps.tiny` that saves it."""


def tiny_model_commands(folder: Path) -> list[str]:
    """The commands ``automaps tiny-models`` prints: every journey of the README on the models in ``folder``."""
    d = folder
    return [
        'automaps plan "make the sky stormy"',
        f'automaps map {d}/photo.png sky -o {d}/sky.png --source clipseg --map-model clipseg={d}/clipseg --grow 2',
        f'automaps edit {d}/photo.png "make the sky stormy" -o {d}/edited.png --model {d}/sd '
        f"--map-model clipseg={d}/clipseg --steps 4 --seed 1 --save-map {d}/map.png",
        f'python -m diffdiff {d}/photo.png "a stormy sky" --map {d}/sky.png -o {d}/edited-diffdiff.png '
        f"--model {d}/sd --steps 4",
    ]


def cmd_tiny_models(args: argparse.Namespace) -> None:
    from diffdiff.tiny import TINY_FAMILIES

    folder: Path = args.folder
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"folder: {folder} is a file; expected a folder to write the tiny models into")
    names = args.only or [*TINY_FAMILIES, *TINY_MAP_MODELS]
    unknown = sorted(set(names) - set(TINY_FAMILIES) - set(TINY_MAP_MODELS))
    if unknown:
        raise UsageError(f"--only: unknown tiny models {unknown}; expected some of "
                         f"{[*TINY_FAMILIES, *TINY_MAP_MODELS]}")
    folder.mkdir(parents=True, exist_ok=True)
    from automaps import tiny
    from automaps.hub import quiet_libraries
    from diffdiff.tiny import save_tiny_pipeline
    from pipelines.images import save_image

    with quiet_libraries(progress=False):  # no "Writing model shards" bars, no notices
        for name in names:
            if name in TINY_MAP_MODELS:
                getattr(tiny, TINY_MAP_MODELS[name])(folder / name)
            else:
                save_tiny_pipeline(name, folder / name)
    import numpy as np
    from PIL import Image

    sky = np.linspace([90, 120, 200], [200, 220, 250], 32)  # a blue sky over a green field, 64 x 64
    pixels = np.concatenate([np.repeat(sky[:, None], 64, 1), np.full((32, 64, 3), (60, 140, 60))]).astype(np.uint8)
    save_image(Image.fromarray(pixels), folder / "photo.png", name="folder")
    print(f"wrote {len(names)} tiny random models and photo.png into {folder}; they make noise, not pictures. Try:",
          file=sys.stderr)
    for command in tiny_model_commands(folder):
        print(command)


def _is_cached(model_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(model_id, name), str)
               for name in ("model_index.json", "config.json"))
