"""The ``automaps`` command line: ``edit``, ``plan``, ``map``, ``models``, and the paper's tools ``fan``, ``inpaint``
and ``evaluate`` (in :mod:`pipelines.cli_tools`).

Exit codes: 0 ok, 2 bad input, 3 missing model, 130 interrupted. Errors are one line on stderr, no traceback,
unless ``--debug``. Every file is written atomically (temporary file + rename); inputs are never modified.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

# transformers prints notices (torchvision fallbacks) on import; a CLI's stderr is for our one-line errors.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
from typing import TYPE_CHECKING, Any

from diffdiff.cli_adapter_flags import adapter_flag_values, add_adapter_flags
from diffdiff.cli_flags import add_control_flags, control_flag_values

if TYPE_CHECKING:
    from automaps.op_specs import OpSpec

EXIT_OK, EXIT_BAD_INPUT, EXIT_MISSING_MODEL = 0, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


class UsageError(ValueError):
    """A command-line argument that cannot be used (exit code 2)."""


def _key_values(pairs: list[str] | None, option: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise UsageError(f"{option}: expected NAME=ID_OR_FOLDER, got {pair!r}")
        result[name] = value
    return result


def _save_image(image, path: Path, option: str = "output") -> None:
    from pipelines.images import save_image

    _format_of(path)
    save_image(image, path, name=option)  # atomic: temporary file + rename


def _format_of(path: Path) -> str:
    from PIL import Image

    extension = path.suffix.lower()
    formats = Image.registered_extensions()
    if extension not in formats:
        raise UsageError(f"output: unknown image extension {extension!r} (use .png, .jpg, .webp, ...)")
    return formats[extension]


# -- commands ------------------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace) -> None:
    from automaps.planner import plan

    print(json.dumps(plan(args.instruction).to_dict(), indent=2, ensure_ascii=False))


STAGE_FLAGS = ("prior", "refiner", "stage2", "stage3")
"""``automaps edit`` flags naming a family's extra stage, passed to ``DifferentialEditor.from_pretrained``."""


def numbered_outputs(path: Path, count: int) -> list[Path]:
    """``[path]`` for one image; ``stem-1.ext`` ... ``stem-N.ext`` beside ``path`` for ``count`` images.

    >>> [p.name for p in numbered_outputs(Path("out.png"), 2)]
    ['out-1.png', 'out-2.png']
    """
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{k}{path.suffix}") for k in range(1, count + 1)]


def cmd_edit(args: argparse.Namespace) -> None:
    from pipelines.checks import check_knobs
    from pipelines.edit import edit
    from pipelines.outputs import check_paths, save_map

    # Named by flag, before any file is touched: argparse's float() takes "inf" and "nan".
    check_knobs(steps=args.steps, seed=args.seed, guidance_scale=args.guidance, strength=args.strength,
                max_megapixels=args.max_megapixels or None,
                names={"steps": "--steps", "seed": "--seed", "guidance_scale": "--guidance",
                       "strength": "--strength", "max_megapixels": "--max-megapixels"})
    if args.map is not None and args.region is not None:
        raise UsageError("--map and --region: give one of them")
    if args.map is not None and args.map_source != "plan":
        raise UsageError(f"--map and --map-source {args.map_source}: give one of them")
    if args.num_images < 1:
        raise UsageError(f"--num-images: expected an integer >= 1, got {args.num_images}")
    outputs = numbered_outputs(args.output, args.num_images)
    # Before any model loads: inputs are regular files, outputs writable, lossless for the map, all distinct.
    check_paths({"image": args.image, "--map": args.map},
                {**{"output" if k == 0 else f"output {path.name}": path for k, path in enumerate(outputs)},
                 "--save-map": args.save_map, "--preview": args.preview},
                kinds={"--save-map": "map"})
    common = dict(
        model=args.model, prompt=args.prompt, negative_prompt=args.negative_prompt, steps=args.steps,
        guidance_scale=args.guidance, crop=args.crop, scheduler=args.scheduler, device=args.device,
        torch_dtype=args.dtype, stages={flag: getattr(args, flag) for flag in STAGE_FLAGS if getattr(args, flag)},
        progress=not args.quiet, max_megapixels=None if args.max_megapixels == 0 else args.max_megapixels,
        **adapter_flag_values(args), **control_flag_values(args),
    )
    from automaps.hub import quiet_libraries

    with quiet_libraries(progress=False if args.quiet else None):  # --quiet: no loading bars, map models' too
        result = edit(
            args.image, args.instruction, change_map=args.map, region=args.region, strength=args.strength,
            seed=args.seed, map_models=_key_values(args.map_model, "--map-model"), invert_map=args.invert_map,
            map_source=args.map_source, **common,
        )
        _save_image(result.image, outputs[0])
        for k, output in enumerate(outputs[1:], start=1):
            # Image k: the same map (no map model runs again) and the same, cached, editor; seed + k.
            more = edit(args.image, args.instruction, change_map=result.change_map, seed=result.seed + k, **common)
            _save_image(more.image, output)
    if args.save_map is not None:
        save_map(result.change_map, args.save_map, "--save-map")
    if args.preview is not None:
        _save_image(result.change_map.overlay(result.source), args.preview, "--preview")
    if not args.quiet:
        print(f"wrote {', '.join(map(str, outputs))}: {result.plan.kind} edit, map {result.change_map.provenance!s}, "
              f"seed {result.seed}, {result.timings['total']:.1f} s", file=sys.stderr)


def cmd_map(args: argparse.Namespace) -> None:
    from automaps.generators import generate
    from pipelines.images import load_image
    from pipelines.outputs import check_paths, save_map

    operations = _map_operations(args)  # before any file is read: a value out of range is a usage error
    check_paths({"image": args.image}, {"output": args.output, "--preview": args.preview}, kinds={"output": "map"})
    image = load_image(args.image)[0]  # upright by EXIF, any mode, corrupt files named
    models = _key_values(args.map_model, "--map-model")
    params: dict[str, Any] = {}
    if args.source in ("clipseg", "auto"):
        params["model"] = models.get("clipseg")
    if args.source in ("grounded", "auto"):
        params.update(detector=models.get("detector"), segmenter=models.get("segmenter"))
    if args.source == "depth":
        params["model"] = models.get("depth")
    if args.source == "diffedit":
        from pipelines.models import load_editor

        params.update(editor=load_editor(args.model, device=args.device)[0], source_prompt=args.source_prompt)
    params = {key: value for key, value in params.items() if value is not None}
    change = generate(image, args.phrase, source=args.source, **params)
    for flag, spec, values in operations:
        try:
            change = spec.fn(change, **values)
        except ValueError as error:  # a constraint between parameters, such as levels' LO <= HI
            raise UsageError(f"{flag}: {error}") from error
    save_map(change, args.output, "output")
    if args.preview is not None:
        _save_image(change.overlay(image), args.preview, "--preview")
    print(f"wrote {args.output}: {change.provenance}", file=sys.stderr)


# -- map operations as flags -----------------------------------------------------------------------------

MAP_OPERATIONS_WITHOUT_FLAG: dict[str, str] = {
    "resize": "a map stays at its image's resolution",
    "union": "combines several maps",
    "intersect": "combines several maps",
    "subtract": "combines two maps",
    "blend": "combines two maps",
}
"""The operations of ``automaps.ops.OPERATIONS`` that ``automaps map`` has no flag for, and why."""


def map_operation_flags() -> dict[str, OpSpec]:
    """``{flag: spec}`` for every map operation ``automaps map`` offers, in the order it applies them.

    Each single-map operation of ``automaps.ops.OPERATIONS`` (except those in
    :data:`MAP_OPERATIONS_WITHOUT_FLAG`) is one flag, named after it: ``--grow PIXELS``, ``--levels LO HI``,
    ``--invert``. The registry's order is the order of application, whatever the order on the command line.
    """
    from automaps.ops import OPERATIONS

    return {f"--{name.replace('_', '-')}": spec for name, spec in OPERATIONS.items()
            if name not in MAP_OPERATIONS_WITHOUT_FLAG}


def _add_map_operation_flags(parser: argparse.ArgumentParser) -> None:
    flags = map_operation_flags()
    group = parser.add_argument_group(
        "map operations", f"applied to the map in this order: {', '.join(f.lstrip('-') for f in flags)}")
    for flag, spec in flags.items():
        doc = re.sub(r":\w+:`([^`]*)`", r"\1", spec.doc).replace("``", "").replace("%", "%%")  # plain text
        if not spec.params:
            group.add_argument(flag, action="store_true", help=doc)
            continue
        kinds = {spec.kind(name) for name in spec.params}
        if len(kinds) != 1:
            raise TypeError(f"{flag}: parameters of one flag must share a type, got {sorted(map(str, kinds))}")
        ranges = ", ".join(f"{name.upper()} in [{lo:g}, {hi:g}]" for name, (lo, hi) in spec.params.items())
        names = tuple(name.upper() for name in spec.params)
        group.add_argument(flag, type=kinds.pop(), nargs=len(names) if len(names) > 1 else None,
                           metavar=names if len(names) > 1 else names[0], help=f"{doc} {ranges}")


def _map_operations(args: argparse.Namespace) -> list[tuple[str, OpSpec, dict[str, Any]]]:
    """The operations the command line asked for, in order: ``(flag, spec, checked parameters)`` each.

    Raises:
        UsageError: a value outside its operation's range (the message names the flag and the range).
    """
    operations = []
    for flag, spec in map_operation_flags().items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is None or value is False:
            continue
        given = [] if value is True else value if isinstance(value, list) else [value]  # True: a switch
        values = dict(zip(spec.params, given, strict=True))
        for name, v in values.items():
            if (problem := spec.problem(name, v)) is not None:
                where = flag if len(values) == 1 else f"{flag} {name.upper()}"
                raise UsageError(f"{where}: {problem}")
        operations.append((flag, spec, values))
    return operations


# -- parser ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automaps", description="Text-driven, per-pixel-strength image editing.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    edit = commands.add_parser("edit", help="edit an image as an instruction says")
    edit.add_argument("image", type=Path)
    edit.add_argument("instruction")
    edit.add_argument("-o", "--output", type=Path, required=True)
    edit.add_argument("--model", default="sd15", help="sd15, sdxl, a hub id or a local folder (default sd15)")
    edit.add_argument("--map", type=Path, help="explicit change map (white = change fully)")
    edit.add_argument("--region", help="explicit phrase to segment instead of the planner's region")
    edit.add_argument("--map-source", choices=("plan", "diffedit"), default="plan",
                      help="plan: the planner's map models; diffedit: the diffusion model's own map, no map model")
    edit.add_argument("--strength", type=float, help="maximum change in [0, 1]")
    edit.add_argument("--prompt", help="target prompt instead of the planner's")
    edit.add_argument("--negative-prompt", help="what the edit should not look like")
    edit.add_argument("--steps", type=int, default=30)
    edit.add_argument("--guidance", type=float, help="guidance scale (default: the model's)")
    edit.add_argument("--seed", type=int)
    edit.add_argument("--scheduler", help="euler, ddim, dpm++2m, heun, pndm, ... (default: the model's)")
    edit.add_argument("--device", help="cpu, cuda, mps (default: best available)")
    edit.add_argument("--dtype", choices=("float32", "float16", "bfloat16"),
                      help="weights' dtype (default float32; float16 needs a GPU)")
    edit.add_argument("--num-images", type=int, default=1, metavar="N",
                      help="N edits with seeds SEED, SEED+1, ...; written as OUTPUT's stem-1, stem-2, ...")
    stages = edit.add_argument_group("extra stages", "a family's other pipelines (hub id or folder each)")
    stages.add_argument("--refiner", metavar="ID_OR_FOLDER", help="SDXL: the refiner that finishes the schedule")
    stages.add_argument("--prior", metavar="ID_OR_FOLDER", help="Kandinsky 2.2: the prior (default: the hub's)")
    stages.add_argument("--stage2", metavar="ID_OR_FOLDER", help="DeepFloyd IF: stage II")
    stages.add_argument("--stage3", metavar="ID_OR_FOLDER", help="DeepFloyd IF: stage III (the x4 upscaler)")
    edit.add_argument("--save-map", type=Path, help="also write the change map here")
    edit.add_argument("--preview", type=Path, help="also write the map tinted over the image here")
    edit.add_argument("--crop", choices=("auto", "off"), default="auto")
    edit.add_argument("--invert-map", action="store_true", help="the --map uses the paper's white = keep")
    edit.add_argument("--max-megapixels", type=float, default=1.0,
                      help="larger images are edited at this size and restored through the map (0: no limit)")
    edit.add_argument("--map-model", action="append", metavar="NAME=ID_OR_FOLDER",
                      help="clipseg, detector, segmenter or depth model (repeatable)")
    edit.add_argument("--overwrite", action="store_true",
                      help="accepted for old scripts: outputs are replaced atomically, inputs never overwritten")
    edit.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    add_adapter_flags(edit)
    add_control_flags(edit)  # --controlnet, --control, --control-scale
    edit.set_defaults(run=cmd_edit)

    plan = commands.add_parser("plan", help="print the edit plan of an instruction as JSON (no model)")
    plan.add_argument("instruction")
    plan.set_defaults(run=cmd_plan)

    make_map = commands.add_parser("map", help="make a change map for a phrase")
    make_map.add_argument("image", type=Path)
    make_map.add_argument("phrase", nargs="?")
    make_map.add_argument("-o", "--output", type=Path, required=True)
    make_map.add_argument("--source", default="auto",
                          choices=("auto", "clipseg", "grounded", "depth", "saliency", "diffedit", "constant",
                                   "gradient", "radial", "fan"))
    make_map.add_argument("--model", default="sd15", help="diffedit: the diffusion model (alias, hub id or folder)")
    make_map.add_argument("--source-prompt", default="", help="diffedit: text describing the image as it is")
    make_map.add_argument("--device", help="diffedit: cpu, cuda, mps (default: best available)")
    make_map.add_argument("--preview", type=Path, help="also write the map tinted over the image here")
    make_map.add_argument("--map-model", action="append", metavar="NAME=ID_OR_FOLDER")
    make_map.add_argument("--overwrite", action="store_true",
                          help="accepted for old scripts: outputs are replaced atomically, inputs never overwritten")
    _add_map_operation_flags(make_map)
    make_map.set_defaults(run=cmd_map)

    from pipelines.cli_models import add_model_commands  # here, not at the top: these modules import this one
    from pipelines.cli_tools import add_tool_commands

    add_model_commands(commands)  # automaps models, automaps tiny-models
    add_tool_commands(commands)
    __import__("pipelines.cli_ui").cli_ui.add_parser(commands)  # `automaps ui` (Gradio loads only when it runs)
    from pipelines.cli_batch import add_parser as add_batch_command  # automaps batch (imports this module)
    add_batch_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    import warnings

    from automaps.errors import ModelNotAvailableError  # the one class, for map and diffusion models alike
    from automaps.io import Terminated, sigterm_interrupts

    previous_format = warnings.formatwarning
    try:
        # Our warnings (prompt truncated, map stretched, alpha dropped) as one line each, without source lines.
        warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
        with sigterm_interrupts():  # SIGTERM unwinds like Ctrl-C, so no hidden temporary file is left
            status = args.run(args)  # None, or a command's own exit code (automaps batch: 4 = some failed)
            sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
    except BrokenPipeError:
        from pipelines.outputs import silence_stdout

        silence_stdout()  # `automaps models | head -1`: the reader left; quiet, as `cat` is
        return 128 + 13  # 141 = 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe
    except KeyboardInterrupt as error:
        how = "terminated" if isinstance(error, Terminated) else "interrupted"
        print(f"error: {how} (every file is written whole or not at all)", file=sys.stderr)
        return 128 + 15 if isinstance(error, Terminated) else EXIT_INTERRUPTED  # 143 = 128 + SIGTERM
    except ModelNotAvailableError as error:
        if args.debug:
            raise
        print(f"error: {error}".splitlines()[0], file=sys.stderr)
        return EXIT_MISSING_MODEL
    except (OSError, ValueError, TypeError) as error:
        if args.debug:
            raise
        print(f"error: {error}".splitlines()[0], file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        warnings.formatwarning = previous_format
    return status if isinstance(status, int) else EXIT_OK


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
