"""Stock img2img of each family, called the way a user calls diffusers without the editor.

This is the reference of DESIGN.md's invariant 2 (a uniform map of value ``m`` is exactly this at
``strength=m``) and the baseline of ``benchmarks/overhead.py``. Nothing here touches the editor's
machinery: each family adapter's ``stock`` calls the editor's loaded pipelines (``editor.pipe`` and its
extra stages) as stock pipelines, the way a diffusers user would.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["step_networks", "stock_img2img"]


def stock_img2img(
    editor,
    image: Any,
    prompt: str | list[str],
    strength: float,
    num_inference_steps: int,
    generator: torch.Generator | list[torch.Generator],
    output_type: str = "latent",
    **kwargs: Any,
) -> Any:
    """Run the stock diffusers img2img pipeline(s) of ``editor``'s family at ``strength``.

    Args:
        editor: a ``DifferentialEditor`` (its pipelines are used as they are).
        image: ``(B, 3, H, W)`` float32 in [0, 1], a PIL image (or a list of them) or a float numpy
            ``(B, H, W, 3)`` array in [0, 1]: handed to the stock pipeline as it is.
        prompt: one prompt, or one per image.
        strength: img2img strength in [0, 1].
        num_inference_steps: ``N``.
        generator: as the stock pipeline takes it.
        output_type: ``"latent"`` (the pipeline's own latent layout; IF: the last stage's raw sample in
            [-1, 1]) or ``"pt"`` (``(B, 3, h, w)`` in [0, 1]).
        **kwargs: passed to the (last) stock pipeline call.

    Returns:
        The stock pipeline's ``images``.
    """
    return editor.adapter.stock(editor, image, prompt, strength, num_inference_steps, generator, output_type,
                                **kwargs)


def step_networks(editor) -> list[torch.nn.Module]:
    """Every network that runs once per denoising step in the editor's loaded pipelines (the Kandinsky
    prior's transformer too): what tests count and benchmarks time."""
    return [editor.adapter.denoiser(pipe) for pipe in editor.pipelines]
