"""The LoRA and IP-Adapter flags of both command lines (``automaps edit``, ``python -m diffdiff``), defined once.

``--lora ID[:SCALE]`` (repeatable): a hub id, folder, ``.safetensors`` file or ``REPO::FILE``, with an optional
scale after the LAST colon, taken as a scale only when it reads as a number (so ``./my:lora`` stays a path).
``--ip-adapter REPO[::SUBFOLDER/WEIGHT]`` with ``--ip-image FILE`` (and ``--ip-scale``): without ``::``, the
family's default weight file in ``REPO`` (``h94/IP-Adapter``: ``models/ip-adapter_sd15.safetensors`` for SD 1.x,
``sdxl_models/ip-adapter_sdxl.safetensors`` for SDXL); the image encoder is the ``image_encoder`` folder beside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["adapter_flag_values", "add_adapter_flags", "parse_lora_flag", "use_ip_adapter"]


def parse_lora_flag(text: str) -> str | tuple[str, float]:
    """``ID[:SCALE]`` -> ``ID`` or ``(ID, SCALE)``, splitting on the last colon only before a number.

    >>> parse_lora_flag("someone/style-lora:0.7")
    ('someone/style-lora', 0.7)
    >>> parse_lora_flag("./loras/a:b.safetensors")
    './loras/a:b.safetensors'
    >>> parse_lora_flag("someone/repo::weights.safetensors:0.5")
    ('someone/repo::weights.safetensors', 0.5)

    Raises:
        argparse.ArgumentTypeError: an empty id.
    """
    source, colon, tail = text.rpartition(":")
    if colon and source and not source.endswith(":"):
        try:
            return source, float(tail)
        except ValueError:
            pass
    if not text.strip():
        raise argparse.ArgumentTypeError("expected ID[:SCALE], got an empty string")
    return text


def add_adapter_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--lora``, ``--ip-adapter``, ``--ip-image`` and ``--ip-scale`` to ``parser`` (one group)."""
    group = parser.add_argument_group("LoRA and IP-Adapter", "weights that ride on the diffusion model")
    group.add_argument("--lora", action="append", type=parse_lora_flag, metavar="ID[:SCALE]",
                       help="LoRA weights: hub id, folder, .safetensors file or REPO::FILE, optional :SCALE "
                            "(default 1); repeatable")
    group.add_argument("--ip-adapter", metavar="REPO[::SUBFOLDER/WEIGHT]",
                       help="IP-Adapter repository or folder, e.g. h94/IP-Adapter (default file for the model's "
                            "family) or h94/IP-Adapter::models/ip-adapter-plus_sd15.safetensors; needs --ip-image")
    group.add_argument("--ip-image", type=Path, metavar="FILE", help="the IP-Adapter's reference image")
    group.add_argument("--ip-scale", type=float, metavar="SCALE", help="IP-Adapter strength (default 1.0)")


def adapter_flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The flags as keyword arguments (``lora``, ``ip_adapter``, ``ip_adapter_image``, ``ip_adapter_scale``;
    only those given), checked before any model loads.

    Raises:
        ValueError: ``--ip-image`` or ``--ip-scale`` without ``--ip-adapter``, or the reverse.
        FileNotFoundError: ``--ip-image`` names no file.
    """
    options: dict[str, Any] = {}
    if args.lora:
        options["lora"] = list(args.lora)
    if args.ip_adapter is None:
        given = [flag for flag, value in (("--ip-image", args.ip_image), ("--ip-scale", args.ip_scale))
                 if value is not None]
        if given:
            raise ValueError(f"{given[0]}: needs --ip-adapter REPO")
        return options
    if args.ip_image is None:
        raise ValueError("--ip-adapter: needs --ip-image FILE (the reference image)")
    if not args.ip_image.is_file():
        raise FileNotFoundError(f"--ip-image: no such file: {args.ip_image}")
    options.update(ip_adapter=args.ip_adapter, ip_adapter_image=args.ip_image)
    if args.ip_scale is not None:
        options["ip_adapter_scale"] = args.ip_scale
    return options


def use_ip_adapter(editor, values: dict[str, Any]) -> dict[str, Any]:
    """Load the IP-Adapter named by :func:`adapter_flag_values`'s ``values`` into ``editor`` and read its image.

    Returns:
        The editor call's ``{"ip_adapter_image": image}`` (``{}`` without ``--ip-adapter``).
    """
    if values.get("ip_adapter") is None:
        return {}
    from automaps.imagefiles import open_image_file
    from diffdiff.adapters import ip_adapter_call, load_named_ip_adapter

    image = open_image_file(values["ip_adapter_image"], "--ip-image").convert("RGB")
    load_named_ip_adapter(editor, values["ip_adapter"])
    return ip_adapter_call(editor, image, values.get("ip_adapter_scale"))
