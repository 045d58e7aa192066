"""Instruction-editing models (FLUX.1 Kontext, Qwen-Image-Edit) in :func:`pipelines.edit`.

Such a model understands the instruction itself ("make the sky stormy"), so the prompt it gets is the
instruction verbatim, not the planner's target description; the planner still builds the change map, which
confines the change. ``map_source="diffedit"`` asks the model instead: its map is
``|eps(instruction) - eps(empty instruction)|`` averaged over noise draws (the ``diffedit`` generator with
the loaded editor), so no segmentation model is needed.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from automaps.changemap import ChangeMap
from automaps.plan_types import EditPlan

__all__ = ["MAP_SOURCES", "check_map_source", "diffedit_change_map", "instruction_plan", "takes_instruction"]

MAP_SOURCES = ("plan", "diffedit")
"""``edit(map_source=...)``: the planner's recipe, or the DiffEdit map of the loaded diffusion model itself."""

_PROMPT_NOTE = "instruction model: its prompt is the instruction verbatim"


def takes_instruction(editor: Any) -> bool:
    """Whether ``editor``'s family reads the instruction itself as its prompt (``Family.takes_instruction``)."""
    return bool(getattr(getattr(editor, "adapter", None), "takes_instruction", False))


def check_map_source(map_source: Any, change_map: Any) -> None:
    """Refuse a bad ``map_source`` before any work.

    Raises:
        TypeError / ValueError: not one of :data:`MAP_SOURCES`, or ``"diffedit"`` beside an explicit
            ``change_map`` (two maps for one edit).
    """
    if not isinstance(map_source, str):
        raise TypeError(f"map_source: expected one of {', '.join(MAP_SOURCES)}, got {type(map_source).__name__}")
    if map_source not in MAP_SOURCES:
        raise ValueError(f"map_source: expected one of {', '.join(MAP_SOURCES)}, got {map_source!r}")
    if map_source != "plan" and change_map is not None:
        raise ValueError(f"map_source: {map_source!r} makes the map; pass it or change_map, not both")


def instruction_plan(editor: Any, plan: EditPlan, instruction: str, prompt_given: bool) -> EditPlan:
    """The plan whose prompt an instruction model receives: the instruction itself (recorded in the notes).

    Args:
        editor: the loaded ``DifferentialEditor``.
        plan: the planner's plan (its map recipe is kept).
        instruction: the user's instruction, verbatim.
        prompt_given: the caller passed ``prompt=``, which wins.

    Returns:
        ``plan`` unchanged for other families or an explicit prompt; else a copy with ``prompt=instruction``.
    """
    if prompt_given or not takes_instruction(editor):
        return plan
    return plan.replace(prompt=instruction, notes=[*plan.notes, _PROMPT_NOTE])


def diffedit_change_map(editor: Any, image: Image.Image, instruction: str, plan: EditPlan,
                        **params: Any) -> tuple[ChangeMap, EditPlan]:
    """The map from the diffusion model itself: ``|eps(text) - eps("")|`` averaged over noise draws.

    Args:
        editor: the loaded ``DifferentialEditor``.
        image: the RGB image.
        instruction: the text an instruction model reads (other families: the plan's target prompt is used).
        plan: the plan; its notes record where the map came from.
        **params: the ``diffedit`` generator's parameters (``n_draws``, ``strength``, ``seed``, ...).

    Returns:
        ``(change, plan)``: ``change`` float32 ``(H, W)`` in [0, 1] at the image's size, 1 = change fully.
    """
    from automaps.generators.registry import generate

    text = instruction if takes_instruction(editor) else plan.prompt
    change = generate(image, text, source="diffedit", editor=editor, **params)
    return change, plan.replace(notes=[*plan.notes, f"change map: {change.provenance}"])
