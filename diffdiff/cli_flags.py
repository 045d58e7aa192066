"""Command-line flags shared by ``python -m diffdiff`` and ``automaps edit``: ControlNet (``--controlnet``,
``--control``, ``--control-scale``). Defined once here (``pipelines`` may import ``diffdiff``, not the reverse)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_control_flags", "control_flag_values", "control_image_for", "controlnet_value"]


def add_control_flags(parser: argparse.ArgumentParser) -> None:
    """Add the ControlNet flags to ``parser`` (an argument group of their own).

    ``--controlnet ID_OR_FOLDER`` (repeatable: several ControlNets, each given the same control image),
    ``--control depth|canny|FILE`` (the control image), ``--control-scale S`` (``controlnet_conditioning_scale``,
    default 1.0).
    """
    group = parser.add_argument_group("ControlNet", "SD, SDXL and Flux: steer the edit with a control image")
    group.add_argument("--controlnet", action="append", metavar="ID_OR_FOLDER",
                       help="ControlNet hub id or folder (repeat for several)")
    group.add_argument("--control", metavar="depth|canny|FILE",
                       help="the control image: made from the input (depth, canny) or read from FILE")
    group.add_argument("--control-scale", type=float, default=1.0, metavar="S",
                       help="controlnet_conditioning_scale (default 1.0)")


def controlnet_value(args: argparse.Namespace) -> Any:
    """``--controlnet`` as ``from_pretrained(controlnet=...)`` takes it: ``None``, one id, or a list.

    Raises:
        ValueError: ``--control`` without ``--controlnet`` or the reverse (the message names the flag).
    """
    nets = args.controlnet or []
    if nets and args.control is None:
        raise ValueError("--control: --controlnet needs a control image (--control depth, canny or FILE)")
    if args.control is not None and not nets:
        raise ValueError("--controlnet: --control needs a ControlNet (--controlnet ID_OR_FOLDER)")
    return None if not nets else nets[0] if len(nets) == 1 else list(nets)


def control_image_for(args: argparse.Namespace, image) -> Any:
    """The control image of ``python -m diffdiff``: ``canny`` edges of ``image`` or ``FILE`` at its size.

    ``depth`` needs automaps' depth generator, which ``diffdiff`` does not import: ``automaps edit`` makes it.

    Args:
        args: parsed flags (``control``).
        image: the RGB PIL input image.

    Returns:
        An RGB PIL image of ``image.size``, or ``None`` without ``--control``.

    Raises:
        ValueError: ``--control depth`` (use ``automaps edit``) or an unreadable file.
        FileNotFoundError: no such control file.
    """
    from PIL import Image

    if args.control is None:
        return None
    if args.control == "depth":
        raise ValueError("--control: depth control images are made by `automaps edit --control depth`; "
                         "here pass canny or a depth image FILE")
    if args.control == "canny":
        from automaps.edges import canny_edges

        return Image.fromarray((canny_edges(image) * 255).astype("uint8"), mode="L").convert("RGB")
    from automaps.imagefiles import open_image_file

    picture = open_image_file(Path(args.control), "control").convert("RGB")
    return picture if picture.size == image.size else picture.resize(image.size, Image.Resampling.LANCZOS)


def control_flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """``pipelines.edit`` keywords from the flags: ``controlnet``, ``control``, ``control_scale``.

    Raises:
        ValueError: as :func:`controlnet_value`.
    """
    return {"controlnet": controlnet_value(args), "control": args.control, "control_scale": args.control_scale}
