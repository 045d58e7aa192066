"""Stock img2img of each family, called the way a user calls diffusers without the editor.

This is the reference of DESIGN.md's invariant 2 (a uniform map of value ``m`` is exactly this at
``strength=m``) and the baseline of ``benchmarks/overhead.py``. Nothing here touches the editor's
machinery: it only calls the editor's loaded pipelines (``editor.pipe``, ``prior``, ``stage2``,
``stage3``) as stock pipelines.
"""

from __future__ import annotations

from typing import Any

import torch

from diffdiff.stages import resize_pixels

__all__ = ["step_networks", "stock_img2img"]


def stock_img2img(
    editor,
    image: torch.Tensor,
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
        image: ``(B, 3, H, W)`` float32 in [0, 1].
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
    family, pipe = editor.family, editor.pipe
    height, width = image.shape[-2:]
    common = {"strength": strength, "num_inference_steps": num_inference_steps, "generator": generator}
    if family in ("sd", "sdxl"):
        return pipe(prompt, image=image, output_type=output_type, **common, **kwargs).images
    if family in ("sd3", "flux"):
        # Both ignore the image's size unless told.
        return pipe(prompt, image=image, height=height, width=width, output_type=output_type, **common,
                    **kwargs).images
    if family == "kandinsky":
        # What KandinskyV22Img2ImgCombinedPipeline does: the prior draws from the generator first.
        embeds = editor.prior(prompt=prompt, generator=generator, output_type="pt")
        return pipe(image_embeds=embeds.image_embeds, negative_image_embeds=embeds.negative_image_embeds,
                    image=image, height=height, width=width, output_type=output_type, **common, **kwargs).images
    if family == "deepfloyd_if":
        # IF takes tensors in [-1, 1] at the stage's own size and does not resize them.
        def at(stage) -> torch.Tensor:
            return resize_pixels(image, (stage.unet.config.sample_size,) * 2) * 2 - 1

        sample = pipe(prompt, image=at(pipe), output_type="pt", **common, **kwargs).images
        if editor.stage2 is not None:
            sample = editor.stage2(image=sample, original_image=at(editor.stage2), prompt=prompt, output_type="pt",
                                   **common, **kwargs).images
        if output_type == "latent":
            return sample
        pixels = (sample.float() / 2 + 0.5).clamp(0, 1)
        if editor.stage3 is None:
            return pixels
        return editor.stage3(prompt=prompt, image=pixels, noise_level=100, num_inference_steps=num_inference_steps,
                             generator=generator, output_type="pt").images
    raise ValueError(f"editor: no stock reference for family {family!r}")


def step_networks(editor) -> list[torch.nn.Module]:
    """Every network that runs once per denoising step in the editor's loaded pipelines (the Kandinsky
    prior's transformer too): what tests count and benchmarks time."""
    found = []
    for pipe in editor.pipelines:
        for name in ("unet", "transformer", "prior"):
            module = getattr(pipe, name, None)
            if isinstance(module, torch.nn.Module):
                found.append(module)
    return found
