"""``automaps ui``: serve the web page (:mod:`pipelines.ui_app`) on loopback, or on another interface when asked.

Registered from :func:`pipelines.cli.build_parser` with :func:`add_parser`. Gradio is imported only when the
command runs, so the rest of the command line stays fast and works without the ``ui`` extra.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from pipelines.cli import UsageError, _key_values

__all__ = ["add_parser", "check_host", "cmd_ui"]

_LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts connections from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_host(host: str, allow_remote: bool) -> str | None:
    """Refuse a non-loopback ``host`` unless ``allow_remote``; return the warning to print for one allowed.

    Raises:
        UsageError: a non-loopback host without ``--allow-remote``.
    """
    if is_loopback(host):
        return None
    if not allow_remote:
        raise UsageError(f"--host: {host} is reachable from other machines; pass --allow-remote to serve there "
                         "(the page has no login and runs models for anyone who reaches it)")
    return (f"warning: serving on {host}: anyone who can reach this machine can use the page and its models "
            "(no login)")


def _warm_imports() -> None:
    """Import the model libraries while the page starts: the first map then waits for the map model, not for
    transformers' import (about 12 s on a busy 2-core machine)."""
    try:
        import torch  # noqa: F401
        from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor  # noqa: F401 (the default map model)

        import automaps.generators  # noqa: F401
    except ImportError:  # reported by the first request that needs it, on the page
        pass


def cmd_ui(args: argparse.Namespace) -> None:
    """Build the page with the command's models and serve it until interrupted."""
    from pipelines.maps import MAP_MODEL_KEYS

    if not 0 < args.port < 65536:
        raise UsageError(f"--port: expected 1..65535, got {args.port}")
    if args.steps < 1:
        raise UsageError(f"--steps: expected an integer >= 1, got {args.steps}")
    warning = check_host(args.host, args.allow_remote)
    map_models = _key_values(args.map_model, "--map-model")
    if unknown := sorted(set(map_models) - set(MAP_MODEL_KEYS)):
        raise UsageError(f"--map-model: unknown names {unknown}; expected some of {list(MAP_MODEL_KEYS)}")
    try:
        from pipelines.ui_app import build_app, launch
    except ImportError as error:
        raise UsageError(f"ui: needs Gradio ({error}); install it with pip install 'automaps[ui]'") from error
    from pipelines.ui import UISettings

    if warning:
        print(warning, file=sys.stderr)
    import threading

    threading.Thread(target=_warm_imports, name="automaps-ui-warm", daemon=True).start()
    app = build_app(UISettings(model=args.model, map_models=map_models, device=args.device, steps=args.steps))
    print(f"automaps ui: http://{args.host}:{args.port} (Ctrl-C stops)", file=sys.stderr)
    launch(app, args.host, args.port, block=True)


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``automaps ui`` to the command line's subcommands."""
    ui = commands.add_parser("ui", help="a web page to plan, see, adjust and run edits (Gradio)")
    ui.add_argument("--model", default="sd15", help="default diffusion model: alias, hub id or folder (sd15)")
    ui.add_argument("--map-model", action="append", metavar="NAME=ID_OR_FOLDER",
                    help="clipseg, detector, segmenter or depth model (repeatable)")
    ui.add_argument("--host", default="127.0.0.1", help="interface to listen on (default loopback 127.0.0.1)")
    ui.add_argument("--port", type=int, default=7860)
    ui.add_argument("--allow-remote", action="store_true", help="allow a --host other machines can reach")
    ui.add_argument("--device", help="cpu, cuda, mps (default: best available)")
    ui.add_argument("--steps", type=int, default=30, help="default inference steps shown on the page")
    ui.set_defaults(run=cmd_ui)
    return ui
