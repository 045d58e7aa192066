"""The paper's tools on the command line: ``automaps fan``, ``automaps inpaint`` and ``automaps evaluate``.

Registered from :func:`pipelines.cli.build_parser` with :func:`add_tool_commands`; same conventions as the
other commands (atomic writes, exit codes 0 / 2 / 3, one-line errors, every path checked up front by
:func:`pipelines.outputs.check_paths`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipelines.cli import UsageError, _save_image
from pipelines.outputs import check_paths, save_map

__all__ = ["add_tool_commands", "cmd_evaluate", "cmd_fan", "cmd_inpaint"]


def _editor(args: argparse.Namespace):
    from pipelines.models import load_editor

    editor, _ = load_editor(args.model, device=args.device, scheduler=args.scheduler)
    editor.pipe.set_progress_bar_config(disable=args.quiet)
    return editor


def cmd_fan(args: argparse.Namespace) -> None:
    """``automaps fan IMAGE PROMPT -o SHEET``: the Strength Fan's contact sheet (and ``--save-fan``: the fan edit)."""
    from pipelines.fan import strength_fan

    if args.n < 2:
        raise UsageError(f"--n: expected an integer >= 2, got {args.n}")
    if args.steps < 1:
        raise UsageError(f"--steps: expected an integer >= 1, got {args.steps}")
    check_paths({"image": args.image}, {"output": args.output, "--save-fan": args.save_fan})
    result = strength_fan(_editor(args), args.image, args.prompt, n=args.n, steps=args.steps, seed=args.seed,
                          guidance_scale=args.guidance, grid=not args.no_grid, batch_size=args.batch_size,
                          tile=args.tile, title=args.title)
    _save_image(result.sheet, args.output)
    if args.save_fan is not None:
        _save_image(result.image, args.save_fan, "--save-fan")
    if not args.quiet:
        print(f"wrote {args.output}: strength fan of {args.n} ({', '.join(f'{s:.2f}' for s in result.strengths)}), "
              f"seed {args.seed}", file=sys.stderr)


def cmd_inpaint(args: argparse.Namespace) -> None:
    """``automaps inpaint IMAGE MASK PROMPT -o OUT``: soft inpainting (``--compare``: with the three baselines)."""
    from pipelines.inpaint import FALLOFFS, soft_inpaint

    if args.falloff not in FALLOFFS:
        raise UsageError(f"--falloff: expected one of {FALLOFFS}, got {args.falloff!r}")
    if args.band is not None and args.band < 0:
        raise UsageError(f"--band: expected pixels >= 0, got {args.band}")
    check_paths({"image": args.image, "mask": args.mask},
                {"output": args.output, "--compare": args.compare, "--save-map": args.save_map},
                kinds={"--save-map": "map"})
    result = soft_inpaint(_editor(args), args.image, args.mask, args.prompt, band=args.band, falloff=args.falloff,
                          steps=args.steps, seed=args.seed, guidance_scale=args.guidance,
                          baselines=args.compare is not None, title=args.title)
    _save_image(result.image, args.output)
    if args.compare is not None:
        _save_image(result.sheet, args.compare, "--compare")
    if args.save_map is not None:
        save_map(result.change_map, args.save_map, "--save-map")
    if not args.quiet:
        print(f"wrote {args.output}: {result.change_map.provenance}, seed {args.seed}", file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> None:
    """``automaps evaluate FOLDER``: print CAM / DAM per map family, Differential Diffusion vs img2img."""
    from automaps.io import atomic_write
    from pipelines.evaluate import IMAGE_SUFFIXES, MAP_FAMILIES, evaluate
    from pipelines.metrics import DISTANCES

    check_paths({"images": args.images}, {}, folders=["images"])
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in MAP_FAMILIES]
    if unknown or not families:
        raise UsageError(f"--families: expected a comma-separated subset of {','.join(MAP_FAMILIES)}, "
                         f"got {args.families!r}")
    if args.distance not in DISTANCES:
        raise UsageError(f"--distance: expected one of {DISTANCES}, got {args.distance!r}")
    # Every image of the folder is an input: --json photos/a.png must not write JSON over a photo.
    photos = [p for p in args.images.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    check_paths({"images": photos}, {"--json": args.json}, kinds={"--json": "data"})
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr))
    report = evaluate(args.model, args.images, args.prompt, families, steps=args.steps, seed=args.seed,
                      size=args.size, limit=args.limit, distance=args.distance,
                      bias_correction=not args.no_bias_correction, preserve_unchanged=args.preserve_unchanged,
                      guidance_scale=args.guidance, scheduler=args.scheduler, device=args.device, log=log)
    print(report.table())
    if args.json is not None:
        with atomic_write(args.json, name="--json") as handle:
            handle.write(json.dumps(report.to_dict(), indent=2).encode())


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="sd15", help="sd15, sdxl, a hub id or a local folder (default sd15)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, help="guidance scale (default: the model's)")
    parser.add_argument("--scheduler", help="euler, ddim, dpm++2m, ... (default: the model's)")
    parser.add_argument("--device", help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")


def add_tool_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``fan``, ``inpaint`` and ``evaluate`` subcommands to the ``automaps`` parser."""
    fan = commands.add_parser("fan", help="Strength Fan: one edit with every strength, plus a grid of strengths")
    fan.add_argument("image", type=Path)
    fan.add_argument("prompt")
    fan.add_argument("-o", "--output", type=Path, required=True, help="the labelled contact sheet")
    fan.add_argument("--n", type=int, default=8, help="number of strengths 0..1 (default 8)")
    fan.add_argument("--no-grid", action="store_true", help="only the fan edit, not the n uniform edits")
    fan.add_argument("--batch-size", type=int, help="uniform edits per batch (default: all, halved on OOM)")
    fan.add_argument("--save-fan", type=Path, help="also write the fan edit alone here")
    fan.add_argument("--tile", type=int, default=192, help="long side of each sheet tile in pixels")
    fan.add_argument("--title", help="a line above the sheet")
    fan.add_argument("--overwrite", action="store_true",
                     help="accepted for compatibility: existing outputs are replaced anyway, inputs never")
    _model_options(fan)
    fan.set_defaults(run=cmd_fan)

    inpaint = commands.add_parser("inpaint", help="soft inpainting: fill a hole, fade the change over a band")
    inpaint.add_argument("image", type=Path)
    inpaint.add_argument("mask", type=Path, help="the hole: white = fill")
    inpaint.add_argument("prompt")
    inpaint.add_argument("-o", "--output", type=Path, required=True)
    inpaint.add_argument("--band", type=float, help="transition width in pixels (default: 1/16 of the long side)")
    inpaint.add_argument("--falloff", default="cosine", help="linear, cosine or gaussian (default cosine)")
    inpaint.add_argument("--compare", type=Path,
                         help="also run the hard fill + alpha/Poisson/Laplacian baselines; write the sheet here")
    inpaint.add_argument("--save-map", type=Path, help="also write the soft change map (.png or .npy)")
    inpaint.add_argument("--title", help="a line above the comparison sheet")
    inpaint.add_argument("--overwrite", action="store_true",
                         help="accepted for compatibility: existing outputs are replaced anyway, inputs never")
    _model_options(inpaint)
    inpaint.set_defaults(run=cmd_inpaint)

    ev = commands.add_parser("evaluate", help="CAM/DAM of map families over a folder, vs img2img at mean strength")
    ev.add_argument("images", type=Path, help="a folder of images")
    ev.add_argument("--prompt", default="a high quality photograph", help="the target prompt for every image")
    ev.add_argument("--families", default="gradient,triangle,shapes", help="comma-separated map families")
    ev.add_argument("--size", type=int, default=512, help="images are resized and centre-cropped to SIZE x SIZE")
    ev.add_argument("--limit", type=int, help="use at most this many images")
    ev.add_argument("--distance", default="auto", help="EM distance: auto (LPIPS if present, else lab), lpips, lab")
    ev.add_argument("--no-bias-correction", action="store_true", help="do not subtract the all-change edit's EM")
    ev.add_argument("--preserve-unchanged", action="store_true", help="paste input pixels where the map is 0")
    ev.add_argument("--json", type=Path, help="also write settings, summary and every row as JSON")
    _model_options(ev)
    ev.set_defaults(run=cmd_evaluate)
