"""``automaps batch MANIFEST -o OUTDIR``: resumable batch edits (:mod:`pipelines.batch`), registered by
:func:`add_parser` from :func:`pipelines.cli.build_parser`.

Exit codes: 0 every item ok (or skipped as done), 4 some item failed (see ``OUTDIR/results.jsonl``), 2 a bad
manifest or flag (before any model loads; the line is named), 3 a missing model, 130 interrupted.

Under ``torchrun`` / ``accelerate launch`` (``WORLD_SIZE`` > 1 in the environment) and without ``--shard``, the
process runs shard ``RANK/WORLD_SIZE``, and ``LOCAL_RANK`` picks its GPU (``cuda:LOCAL_RANK``) when ``--device``
is ``cuda`` or not given and CUDA is available.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from pipelines.cli import UsageError, _key_values

__all__ = ["add_parser", "cmd_batch", "launcher_defaults"]

EXIT_SOME_FAILED = 4
"""``automaps batch``: at least one item failed (each is recorded in ``results.jsonl``)."""


def launcher_defaults(shard: tuple[int, int] | None, device: str | None, env: Mapping[str, str],
                      cuda_available: bool) -> tuple[tuple[int, int] | None, str | None]:
    """The shard and device of a process started by ``torchrun`` / ``accelerate launch``.

    Args:
        shard: ``--shard`` (kept when given).
        device: ``--device``.
        env: the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).
        cuda_available: whether CUDA can be used.

    Returns:
        ``(shard, device)``: ``(RANK, WORLD_SIZE)`` when ``--shard`` is not given and ``WORLD_SIZE`` > 1;
        ``cuda:LOCAL_RANK`` when ``LOCAL_RANK`` is set, ``device`` is None or ``"cuda"`` and CUDA is available.

    >>> launcher_defaults(None, None, {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, True)
    ((3, 4), 'cuda:1')
    """
    world = int(env.get("WORLD_SIZE", "1") or 1)
    if shard is None and world > 1:
        shard = (int(env.get("RANK", "0")), world)
    if "LOCAL_RANK" in env and device in (None, "cuda") and cuda_available:
        device = f"cuda:{int(env['LOCAL_RANK'])}"
    return shard, device


def cmd_batch(args: argparse.Namespace) -> int:
    """Run ``automaps batch``; returns the exit code (0, or 4 when some item failed)."""
    from pipelines.batch import BatchSettings, run_batch
    from pipelines.batch_manifest import parse_shard, read_manifest
    from pipelines.checks import check_knobs

    check_knobs(steps=args.steps, guidance_scale=args.guidance, max_megapixels=args.max_megapixels or None,
                names={"steps": "--steps", "guidance_scale": "--guidance", "max_megapixels": "--max-megapixels"})
    if args.workers < 1:
        raise UsageError(f"--workers: expected an integer >= 1, got {args.workers}")
    if not args.gpus_per_worker >= 0:
        raise UsageError(f"--gpus-per-worker: expected a number >= 0, got {args.gpus_per_worker}")
    if args.engine == "local" and (args.workers != 1 or args.ray_address):
        raise UsageError("--workers and --ray-address: only with --engine ray (use --shard or torchrun locally)")
    shard = None if args.shard is None else parse_shard(args.shard)
    items = read_manifest(args.manifest, instruction=args.instruction)  # bad manifest: exit 2, before models
    import torch

    shard, device = launcher_defaults(shard, args.device, os.environ, torch.cuda.is_available())
    settings = BatchSettings(
        model=args.model, steps=args.steps, guidance_scale=args.guidance, crop=args.crop, scheduler=args.scheduler,
        device=device, torch_dtype=args.dtype, max_megapixels=None if args.max_megapixels == 0 else args.max_megapixels,
        invert_map=args.invert_map, map_models=_key_values(args.map_model, "--map-model"))
    summary = run_batch(items, args.output, settings, engine=args.engine, workers=args.workers,
                        gpus_per_worker=args.gpus_per_worker, shard=shard, retry_failed=args.retry_failed,
                        ray_address=args.ray_address, progress=not args.quiet)
    return EXIT_SOME_FAILED if summary.exit_code else 0


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``automaps batch`` to the ``automaps`` subcommands; returns its parser."""
    batch = commands.add_parser(
        "batch", help="edit every item of a manifest (JSONL, CSV or a folder); resumable, local or on Ray",
        description="Exit codes: 0 all ok, 4 some item failed (see OUTDIR/results.jsonl), 2 bad manifest, "
                    "3 missing model.")
    batch.add_argument("manifest", type=Path, help="a .jsonl or .csv file (image, instruction, ...) or a folder")
    batch.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                       help="written as OUTDIR/<id>/ per item and OUTDIR/results.jsonl")
    batch.add_argument("--model", default="sd15", help="sd15, sdxl, a hub id or a local folder (default sd15)")
    batch.add_argument("--instruction", help="the instruction of items without one (required for a folder)")
    batch.add_argument("--engine", choices=("local", "ray"), default="local")
    batch.add_argument("--workers", type=int, default=1, help="--engine ray: actors (default 1)")
    batch.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G", help="--engine ray: GPUs per actor")
    batch.add_argument("--ray-address", metavar="ADDR", help="--engine ray: join this cluster (default: a local Ray)")
    batch.add_argument("--shard", metavar="I/N", help="only the items with sha256(id) mod N == I")
    batch.add_argument("--retry-failed", action="store_true", help="rerun the items recorded as failed")
    batch.add_argument("--steps", type=int, default=30, help="inference steps of items without their own")
    batch.add_argument("--guidance", type=float, help="guidance scale (default: the model's)")
    batch.add_argument("--scheduler", help="euler, ddim, dpm++2m, ... (default: the model's)")
    batch.add_argument("--crop", choices=("auto", "off"), default="auto")
    batch.add_argument("--max-megapixels", type=float, default=1.0, help="as automaps edit (0: no limit)")
    batch.add_argument("--invert-map", action="store_true", help="the items' change_map use white = keep")
    batch.add_argument("--map-model", action="append", metavar="NAME=ID_OR_FOLDER",
                       help="clipseg, detector, segmenter or depth model (repeatable)")
    batch.add_argument("--device", help="cpu, cuda, mps (default: best available; cuda:LOCAL_RANK under torchrun)")
    batch.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), help="weights' dtype")
    batch.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    batch.set_defaults(run=cmd_batch)
    return batch
