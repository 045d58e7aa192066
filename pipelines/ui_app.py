"""The ``automaps ui`` page: Gradio widgets wired to the functions of :mod:`pipelines.ui`.

Element ids (a contract for tests and scripts): ``image``, ``instruction``, ``plan``, ``change-map``, ``run``,
``result``, ``download``; also ``status`` (every message of the page), ``preview``, ``fan``, ``fan-sheet``,
``chain``, ``map-upload`` and ``used-map``.

Every handler's first output is the ``status`` text: an expected failure (a bad file, an empty instruction, a
missing model) becomes one readable line there and the page keeps serving; nothing raises into Gradio. Model
work (maps, edits, fans) shares one queue with concurrency 1: requests wait, never run in parallel on a model.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network: set before Gradio reads it

import gradio as gr  # this module is the page itself: only ``automaps ui`` imports it

from pipelines.ui import EDIT_OPTIONS, MapAdjustments, UISettings

__all__ = ["build_app", "launch"]

_LOG = logging.getLogger("automaps.ui")
_MODEL_QUEUE = "models"  # one concurrency group: map models and editors are never used by two requests at once
_BRUSH_COLORS = [("#ffffff", 0.5), ("#ffffff", 1.0), ("#000000", 0.5), ("#000000", 1.0)]
_HELP = ("Upload a photo, type an instruction and press Enter: the plan and the change map (red = change) appear "
         "before any diffusion. Adjust the map with the knobs, or paint on it (white = change, black = keep; "
         "half-opaque brushes for partial change), then run the edit.")


def failure_message(error: BaseException) -> str:
    """One readable line for the page's status box (never a traceback)."""
    from automaps.errors import ModelNotAvailableError

    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, ModelNotAvailableError):
        return f"**Missing model:** {first}"
    if isinstance(error, (OSError, ValueError, TypeError)):
        return f"**Error:** {first}"
    return f"**Unexpected error** ({type(error).__name__}): {first}"


def _guarded(n_outputs: int) -> Callable[[Callable[..., tuple]], Callable[..., tuple]]:
    """Turn a handler's exception into the status message, leaving its ``n_outputs - 1`` other outputs as
    they are (``gr.skip()``). ``functools.wraps`` keeps the signature, so Gradio still sees ``gr.Progress``."""
    def decorate(handler: Callable[..., tuple]) -> Callable[..., tuple]:
        @functools.wraps(handler)
        def run(*args: Any, **kwargs: Any) -> tuple:
            try:
                return handler(*args, **kwargs)
            except Exception as error:  # the page shows every failure as a line
                expected = isinstance(error, (OSError, ValueError, TypeError))  # bad input: no traceback in the log
                _LOG.warning("ui: %s failed: %s", handler.__name__, error, exc_info=not expected)
                return (failure_message(error), *[gr.skip() for _ in range(n_outputs - 1)])
        return run
    return decorate


class _Handlers:
    """The page's callbacks over one :class:`UISettings`; per-browser data lives in the ``state`` dict."""

    def __init__(self, settings: UISettings) -> None:
        self.settings = settings
        self.work_dir = Path(settings.work_dir or tempfile.mkdtemp(prefix="automaps-ui-"))

    def _source(self, image: Any, state: dict) -> Any:
        from pipelines.ui import read_upload

        if state.get("source_path") != image or "source" not in state:
            state["source"] = read_upload(image, self.settings.max_upload_megapixels)
            state["source_path"] = image
        return state["source"]

    def _map_outputs(self, state: dict, knobs: MapAdjustments, uploaded: Any) -> tuple[str, str, dict]:
        from pipelines.ui import adjusted_plan, make_map, plan_markdown

        started = time.perf_counter()
        plan = adjusted_plan(state["plan"], knobs)
        change = make_map(state["source"], plan, knobs, uploaded=uploaded, map_models=self.settings.map_models,
                          device=self.settings.device)
        # The plan's own map (no upload, gamma 1, not inverted): a compound plan may then run region by region.
        state.update(adjusted=plan, map=change, plan_map=not uploaded and knobs.gamma == 1.0 and not knobs.invert)
        shown = change.overlay(state["source"]).convert("RGBA")
        status = (f"Map ready in {time.perf_counter() - started:.1f} s: mean {change.mean():.2f}, max "
                  f"{change.max():.2f} ({change.provenance})")
        return status, plan_markdown(plan), {"background": shown, "layers": [], "composite": shown}

    def preview(self, image: Any, instruction: str, gamma: float, invert: bool, uploaded: Any, state: dict):
        """Image + instruction -> status, plan, region, generator, strength, grow, feather, map editor, state."""
        from pipelines.ui import plan_instruction

        state = dict(state or {})
        source = self._source(image, state)
        if not (instruction or "").strip() and "plan" not in state:
            message = f"Image loaded ({source.width}x{source.height}). Type an instruction and press Enter."
            return (message, *[gr.skip()] * 7, state)
        plan = plan_instruction(instruction)
        state["plan"] = plan
        knobs = MapAdjustments(", ".join(plan.regions), plan.generator, plan.strength, plan.grow, plan.feather,
                               gamma, invert)
        status, markdown, editor = self._map_outputs(state, knobs, uploaded)
        return (status, markdown, knobs.region, plan.generator, plan.strength, plan.grow, plan.feather, editor,
                state)

    def adjust(self, image: Any, region: str, generator: str, strength: float, grow: float, feather: float,
               gamma: float, invert: bool, uploaded: Any, state: dict):
        """A knob moved -> status, plan, map editor, state (the strokes painted so far are cleared)."""
        state = dict(state or {})
        self._source(image, state)
        if "plan" not in state:
            return ("Type an instruction and press Enter first.", gr.skip(), gr.skip(), state)
        knobs = MapAdjustments(region or "", generator or "", strength, grow, feather, gamma, invert)
        return (*self._map_outputs(state, knobs, uploaded), state)

    def _painted(self, editor_value: Any, softness: float, state: dict):
        from pipelines.ui import paint_strokes

        if "map" not in state:
            raise ValueError("change-map: no map yet; upload an image and type an instruction first")
        layers = (editor_value or {}).get("layers") if isinstance(editor_value, dict) else None
        return paint_strokes(state["map"], layers, softness)

    def run(self, editor_value: Any, softness: float, model: str, steps: float, seed: float, negative: str,
            controlnet: str, control_source: str, control_image: Any, control_scale: float, lora: str,
            lora_scale: float, ip_adapter: str, ip_adapter_image: Any, ip_adapter_scale: float, state: dict,
            progress: Any = gr.Progress(track_tqdm=True)):  # noqa: B008 (Gradio reads the default)
        """Run -> status, before/after, map used, download, state; the diffusion's tqdm bars drive the progress.
        The option fields are :data:`pipelines.ui.PAGE_OPTIONS`, in order."""
        from pipelines.ui import PAGE_OPTIONS, run_edit, save_zip

        state = dict(state or {})
        change = self._painted(editor_value, softness, state)
        fields = (controlnet, control_source, control_image, control_scale, lora, lora_scale, ip_adapter,
                  ip_adapter_image, ip_adapter_scale)
        options = dict(zip(PAGE_OPTIONS, fields, strict=True))
        if change is state["map"] and state.get("plan_map") and state["adjusted"].parts:
            change = None  # unpainted compound plan: edit() runs each part with its own prompt (edit_regions)
        progress(0, desc="editing")
        result = run_edit(state["source"], state["adjusted"], change, self.settings, model=model, steps=steps,
                          seed=None if seed is None or seed < 0 else int(seed), negative_prompt=negative or "",
                          options=options)
        folder = Path(tempfile.mkdtemp(prefix="edit-", dir=self.work_dir))
        archive = save_zip(result, folder)
        state["result"] = result
        took = result.timings.get("total", 0.0)
        status = f"Edited in {took:.1f} s with {result.model}, seed {result.seed}."
        return (status, (result.source.convert("RGB"), result.image.convert("RGB")),
                result.change_map.overlay(result.source), gr.update(value=str(archive), interactive=True), state)

    def fan(self, editor_value: Any, softness: float, model: str, steps: float, seed: float, state: dict):
        """Strength Fan for the current plan, centred on the current map's centre of mass -> status, sheet."""
        from pipelines.fan import strength_fan
        from pipelines.models import load_editor

        state = dict(state or {})
        change = self._painted(editor_value, softness, state)
        editor, _ = load_editor((model or "").strip() or self.settings.model, device=self.settings.device)
        result = strength_fan(editor, state["source"], state["adjusted"].prompt, n=5, steps=int(steps),
                              seed=0 if seed is None or seed < 0 else int(seed), center=_centre(change.values),
                              title="Strength Fan: strengths 0 .. 1")
        return ("Strength Fan ready: pick the strength whose tile looks right and set it above.", result.sheet)

    def chain(self, state: dict):
        """Edit the result next -> status, image, instruction, state."""
        state = dict(state or {})
        if "result" not in state:
            raise ValueError("chain: run an edit first")
        path = Path(tempfile.mkdtemp(prefix="chain-", dir=self.work_dir)) / "input.png"
        from automaps.imagefiles import save_image

        save_image(state["result"].image, path, name="chain")
        state = {"source_path": str(path), "source": state["result"].image.convert("RGB")}
        return ("The result is the new input: type the next instruction.", str(path), "", state)


def _centre(values: Any) -> tuple[float, float]:
    """The map's centre of mass as ``(x, y)`` fractions (the image's centre for an empty map)."""
    import numpy as np

    total = float(values.sum())
    if total <= 0:
        return 0.5, 0.5
    rows, cols = np.indices(values.shape)
    return (float((cols * values).sum() / total + 0.5) / values.shape[1],
            float((rows * values).sum() / total + 0.5) / values.shape[0])


def _map_controls() -> dict[str, Any]:
    from automaps.plan_types import GENERATORS

    controls = {
        "region": gr.Textbox(label="Region phrase(s), comma separated", elem_id="region"),
        "generator": gr.Dropdown([("the plan's", ""), *[(g, g) for g in GENERATORS]], value="", label="Generator",
                                 elem_id="generator"),
        "strength": gr.Slider(0, 1, value=1.0, step=0.01, label="Strength (map maximum)", elem_id="strength"),
        "grow": gr.Slider(0, 64, value=0, step=1, label="Grow (px at 512)", elem_id="grow"),
        "feather": gr.Slider(0, 64, value=0, step=0.5, label="Feather (px at 512)", elem_id="feather"),
        "gamma": gr.Slider(0.2, 5, value=1.0, step=0.05, label="Gamma", elem_id="gamma"),
        "invert": gr.Checkbox(label="Invert (keep what the map would change)", elem_id="invert"),
    }
    controls["uploaded"] = gr.Image(type="filepath", image_mode=None, label="Or upload a map (white = change)",
                                    elem_id="map-upload", sources=["upload"], height=160)
    return controls


def _option_controls(offered: list[str]) -> list[Any]:
    """Widgets for :data:`pipelines.ui.PAGE_OPTIONS`, in order; a group is visible only when ``edit()`` accepts
    its keyword now (ControlNet, LoRA, IP-Adapter). A hidden field stays blank, which changes nothing."""
    control, lora, ip = ("controlnet" in offered), ("lora" in offered), ("ip_adapter" in offered)
    with gr.Accordion("ControlNet, LoRA, IP-Adapter", open=False, visible=control or lora or ip):
        return [
            gr.Textbox(label="ControlNet (id or folder)", elem_id="controlnet", visible=control),
            gr.Dropdown(["depth", "canny"], value="depth", label="Control made from the image", elem_id="control",
                        visible=control),
            gr.Image(type="pil", label="Or a control image", elem_id="control-image", height=160, visible=control),
            gr.Slider(0, 2, value=1.0, step=0.05, label="Control scale", elem_id="control-scale", visible=control),
            gr.Textbox(label="LoRA (ids or folders, comma separated)", elem_id="lora", visible=lora),
            gr.Slider(0, 2, value=1.0, step=0.05, label="LoRA scale", elem_id="lora-scale", visible=lora),
            gr.Textbox(label="IP-Adapter (REPO[::SUBFOLDER/WEIGHT])", elem_id="ip-adapter", visible=ip),
            gr.Image(type="pil", label="IP-Adapter image", elem_id="ip-adapter-image", height=160, visible=ip),
            gr.Slider(0, 2, value=1.0, step=0.05, label="IP-Adapter scale", elem_id="ip-adapter-scale", visible=ip),
        ]


def _offered_options() -> list[str]:
    import inspect

    from pipelines.edit import edit

    accepted = inspect.signature(edit).parameters
    return [name for name in EDIT_OPTIONS if name in accepted]


def _input_column(w: dict[str, Any]) -> None:
    """The left column: image, instruction, plan and the map's knobs (widgets stored into ``w``)."""
    # image_mode=None: Gradio passes the file as uploaded, and the project's opener reads it (alpha, 16 bit, EXIF,
    # size limits) with its own messages.
    w["image"] = gr.Image(type="filepath", image_mode=None, label="Image", elem_id="image",
                          sources=["upload", "clipboard"])
    w["instruction"] = gr.Textbox(label="Instruction", elem_id="instruction", placeholder="make the sky stormy")
    w["preview"] = gr.Button("Plan and map", elem_id="preview")
    w["plan"] = gr.Markdown(elem_id="plan")
    with gr.Accordion("Adjust the map", open=True):
        w.update(_map_controls())


def _edit_column(w: dict[str, Any], settings: UISettings) -> None:
    """The right column: the paintable map, the model and run settings, the optional adapters, Run."""
    w["change_map"] = gr.ImageEditor(
        label="Change map (red = change): paint white = change, black = keep", elem_id="change-map", type="numpy",
        image_mode="RGBA", sources=[], transforms=[], layers=False, eraser=gr.Eraser(), height=420,
        brush=gr.Brush(colors=_BRUSH_COLORS, default_color=_BRUSH_COLORS[0], color_mode="fixed"))
    w["softness"] = gr.Slider(0, 32, value=4, step=1, label="Brush softness (px blur of strokes)", elem_id="softness")
    with gr.Row():
        w["model"] = gr.Textbox(value=settings.model, label="Model (alias, hub id or folder)", elem_id="model")
        w["steps"] = gr.Number(value=settings.steps, precision=0, minimum=1, label="Steps", elem_id="steps")
        w["seed"] = gr.Number(value=-1, precision=0, label="Seed (-1 = random)", elem_id="seed")
    w["negative"] = gr.Textbox(label="Negative prompt", elem_id="negative-prompt")
    w["options"] = _option_controls(_offered_options())
    w["run"] = gr.Button("Run edit", variant="primary", elem_id="run")


def _output_rows(w: dict[str, Any]) -> None:
    """Before/after, the map used, download, chain, and the Strength Fan."""
    with gr.Row():
        w["result"] = gr.ImageSlider(label="Before / after", elem_id="result", type="pil", height=420)
        w["used_map"] = gr.Image(label="Map used", elem_id="used-map", interactive=False, height=420)
    with gr.Row():
        w["download"] = gr.DownloadButton("Download image + map + plan (zip)", elem_id="download", interactive=False)
        w["chain"] = gr.Button("Edit the result next", elem_id="chain")
        w["fan"] = gr.Button("Strength Fan", elem_id="fan")
    w["fan_sheet"] = gr.Image(label="Strength Fan", elem_id="fan-sheet", interactive=False)


def _wire(handlers: _Handlers, w: dict[str, Any]) -> None:
    """Connect the widgets to the handlers; model work shares one queue at concurrency 1."""
    queued = {"concurrency_id": _MODEL_QUEUE, "concurrency_limit": 1}
    status, state = w["status"], w["state"]
    knobs = [w[name] for name in ("region", "generator", "strength", "grow", "feather")]
    preview = dict(fn=_guarded(9)(handlers.preview),
                   inputs=[w["image"], w["instruction"], w["gamma"], w["invert"], w["uploaded"], state],
                   outputs=[status, w["plan"], *knobs, w["change_map"], state], **queued)
    for event in (w["instruction"].submit, w["preview"].click, w["image"].upload):
        event(**preview)
    adjust = dict(fn=_guarded(4)(handlers.adjust),
                  inputs=[w["image"], *knobs, w["gamma"], w["invert"], w["uploaded"], state],
                  outputs=[status, w["plan"], w["change_map"], state], **queued)
    for event in (w["region"].submit, w["generator"].input, w["invert"].input, w["uploaded"].upload,
                  w["uploaded"].clear, *(w[name].release for name in ("strength", "grow", "feather", "gamma"))):
        event(**adjust)
    painted = [w["change_map"], w["softness"], w["model"], w["steps"], w["seed"]]
    w["run"].click(_guarded(5)(handlers.run), [*painted, w["negative"], *w["options"], state],
                   [status, w["result"], w["used_map"], w["download"], state], **queued)
    w["fan"].click(_guarded(2)(handlers.fan), [*painted, state], [status, w["fan_sheet"]], **queued)
    w["chain"].click(_guarded(4)(handlers.chain), [state], [status, w["image"], w["instruction"], state])


def build_app(settings: UISettings | None = None):
    """The ``automaps ui`` page as a ``gr.Blocks`` (queued, model work at concurrency 1), not yet launched.

    Args:
        settings: default model, map models, device, steps (``None``: :class:`UISettings` defaults).

    Returns:
        The ``gr.Blocks`` app; ``app.automaps_work_dir`` is the folder its downloads are written to.
    """
    handlers = _Handlers(settings or UISettings())
    widgets: dict[str, Any] = {}
    with gr.Blocks(title="automaps") as app:
        widgets["state"] = gr.State({})
        gr.Markdown(f"## automaps: edit by instruction, with a change map you can see and adjust\n{_HELP}")
        widgets["status"] = gr.Markdown("Ready.", elem_id="status")
        with gr.Row():
            with gr.Column():
                _input_column(widgets)
            with gr.Column():
                _edit_column(widgets, handlers.settings)
        _output_rows(widgets)
        _wire(handlers, widgets)
    app.queue(default_concurrency_limit=1)
    app.automaps_work_dir = handlers.work_dir
    return app


def launch(app: Any, host: str = "127.0.0.1", port: int = 7860, *, block: bool = True) -> Any:
    """Serve ``app`` on ``host:port`` (no share link, no analytics, results downloadable from its work folder).

    Args:
        app: from :func:`build_app`.
        host: the interface to listen on (the caller decides whether a non-loopback host is allowed).
        port: the TCP port.
        block: serve until interrupted; ``False`` returns at once (tests).

    Returns:
        The app, serving.
    """
    app.launch(server_name=host, server_port=int(port), share=False, show_error=True, prevent_thread_lock=not block,
               allowed_paths=[str(app.automaps_work_dir)], ssr_mode=False, quiet=not block, footer_links=[])
    return app
