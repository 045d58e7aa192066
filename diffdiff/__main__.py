"""``python -m diffdiff IMAGE PROMPT --map MAP -o OUT``: one differential edit from the command line.

Exit codes: 0 ok, 2 bad input, 3 missing model, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Errors are
one line unless ``--debug``. The output is refused, before the model loads, if it is the image or the map (by
resolved path or inode: hard and symbolic links count), even with ``--overwrite``; inputs must be regular files.
The output is written atomically with the usual umask-based permissions.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from diffdiff.cli_adapter_flags import adapter_flag_values, add_adapter_flags, use_ip_adapter
from diffdiff.cli_flags import add_control_flags, control_image_for, controlnet_value

# transformers prints notices (torchvision fallbacks) on import; a CLI's stderr is for our one-line errors.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m diffdiff", description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path, help="input image")
    parser.add_argument("prompt", help="target prompt")
    parser.add_argument("--map", dest="change_map", type=Path, required=True,
                        help="change map image: white = change fully, black = keep")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output image path")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"hub id or local folder (default {DEFAULT_MODEL})")
    parser.add_argument("--steps", type=int, default=30, help="inference steps N (default 30)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scheduler", default=None, help="euler, ddim, dpm++2m, heun, pndm, ... (default: model's)")
    parser.add_argument("--negative-prompt", default=None, help="what the edit should not look like")
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default=None,
                        help="weights' dtype (default float32; float16 needs a GPU)")
    for stage, about in (("refiner", "SDXL's refiner"), ("prior", "Kandinsky 2.2's prior"),
                         ("stage2", "DeepFloyd IF stage II"), ("stage3", "DeepFloyd IF stage III")):
        parser.add_argument(f"--{stage}", metavar="ID_OR_FOLDER", help=f"{about} (hub id or folder)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--invert-map", action="store_true", help="the map uses the paper's white = keep")
    parser.add_argument("--overwrite", action="store_true",
                        help="accepted for compatibility: an existing output is replaced anyway, an input never")
    add_adapter_flags(parser)  # --lora, --ip-adapter, --ip-image, --ip-scale
    add_control_flags(parser)  # --controlnet, --control, --control-scale
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def _check_paths(args: argparse.Namespace) -> None:
    """Refuse unreadable inputs and an output that cannot or must not be written, before any model is loaded.

    The same rules as ``pipelines.outputs.check_paths`` (which this package cannot import), from the same
    :mod:`automaps.io` helpers.
    """
    from PIL import Image

    from automaps.io import check_distinct, check_writable, special_kind, stat_path

    for path, name in ((args.image, "image"), (args.change_map, "map")):
        status = stat_path(path, name)  # a symbolic-link loop is a one-line ValueError
        if status is None:
            raise FileNotFoundError(f"{name}: no such file: {path}")
        if (kind := special_kind(status)) is not None:  # a FIFO would block forever
            raise ValueError(f"{name}: {path} is {kind}, not a regular file")
    path = args.output
    status = stat_path(path, "output")
    if status is not None and (kind := special_kind(status)) == "a folder":
        raise IsADirectoryError(f"output: {path} is a folder")
    if status is not None and kind is not None:  # replacing /dev/null or a FIFO by a file helps no one
        raise ValueError(f"output: {path} is {kind}; outputs are written as regular files")
    if path.suffix.lower() not in Image.registered_extensions():
        raise ValueError(f"output: unknown image extension {path.suffix!r} in {path} (use .png, .jpg, .webp, ...)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output: folder does not exist: {path.parent}")
    check_distinct({"image": args.image, "map": args.change_map}, {"output": path})
    check_writable(path, name="output")  # a real probe: permission bits alone do not tell (root, read-only mounts)


def run(args: argparse.Namespace) -> None:
    """Load, edit, save (raises on any problem; :func:`main` turns errors into exit codes)."""
    import torch

    from automaps.imagefiles import open_image_file, save_image
    from diffdiff import DifferentialEditor

    _check_paths(args)
    adapters = adapter_flag_values(args)  # before any model loads
    image = open_image_file(args.image, "image").convert("RGB")
    change_map = open_image_file(args.change_map, "map")
    stages = {role: getattr(args, role) for role in ("refiner", "prior", "stage2", "stage3") if getattr(args, role)}
    control = {}
    if (controlnet := controlnet_value(args)) is not None:  # the control image is made before the model loads
        stages["controlnet"] = controlnet
        control = {"control_image": control_image_for(args, image), "controlnet_conditioning_scale": args.control_scale}
    editor = DifferentialEditor.from_pretrained(args.model, torch_dtype=args.dtype, device=args.device,
                                                scheduler=args.scheduler, lora=adapters.get("lora"), **stages)
    out = editor(image, args.prompt, change_map, num_inference_steps=args.steps, guidance_scale=args.guidance,
                 negative_prompt=args.negative_prompt,
                 generator=torch.Generator().manual_seed(args.seed), invert_map=args.invert_map,
                 **use_ip_adapter(editor, adapters), **control)
    save_image(out.images[0], args.output)  # atomic: an interrupted run leaves no half-written file
    print(f"wrote {args.output} ({out.steps_run} of {args.steps} steps ran)")


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Within: each Python warning (a map stretched to the image, a prompt truncated) is one ``warning: ...`` line
    on stderr, without the file, line number and source line; restored on exit."""
    with warnings.catch_warnings():  # restores showwarning
        warnings.showwarning = lambda message, *rest, **kw: print(f"warning: {message}", file=sys.stderr)
        yield


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    from automaps.errors import ModelNotAvailableError
    from automaps.io import Terminated, sigterm_interrupts

    args = _parser().parse_args(argv)
    try:
        with sigterm_interrupts(), _one_line_warnings():  # SIGTERM unwinds like Ctrl-C: no temporary file left
            run(args)
    except KeyboardInterrupt as error:
        terminated = isinstance(error, Terminated)
        print(f"error: {'terminated' if terminated else 'interrupted'} (no partial output is written)", file=sys.stderr)
        return 143 if terminated else 130  # 128 + SIGTERM / SIGINT, as shells report them
    except ModelNotAvailableError as error:
        if args.debug:
            raise
        print(f"error: {error}".splitlines()[0], file=sys.stderr)
        return 3
    except (OSError, ValueError, TypeError) as error:
        if args.debug:
            raise
        print(f"error: {error}".splitlines()[0], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
