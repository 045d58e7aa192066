"""``diffedit``: where the diffusion model itself thinks the edit lands (Couairon et al., "DiffEdit", 2022).

The map is ``|eps(x_t, target) - eps(x_t, source_prompt)|``, averaged over channels and several noise draws at a
mid timestep, upsampled to the image and normalised, and kept soft (DiffEdit thresholds it; Differential
Diffusion does not need to). The model is whatever loaded editor the caller passes as ``editor=``: automaps
never imports the editor's package, it only calls ``editor.predict_noise``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from automaps.changemap import ChangeMap
from automaps.generators.registry import GeneratorSpec, ParamSpec, describe_phrase, phrases_of, register_generator

__all__ = ["SPEC", "diffedit", "noise_difference_map"]

SPEC = GeneratorSpec(
    name="diffedit",
    summary="|eps(target) - eps(source)| of the loaded diffusion model itself, soft (needs editor=)",
    default_model=None,
    revision=None,
    license="Apache-2.0 (automaps); the editor's model keeps its own license",
    extra=None,
    params={
        "editor": ParamSpec(None, help="a loaded diffdiff.DifferentialEditor (required)"),
        "source_prompt": ParamSpec("", help="text describing the image as it is (DiffEdit's reference query)"),
        "strength": ParamSpec(0.5, min=0.05, max=1.0, help="noise level of the probe, as an img2img strength"),
        "n_draws": ParamSpec(4, min=1, max=64, help="noise draws averaged"),
        "num_inference_steps": ParamSpec(10, min=1, max=1000, help="schedule the probe's timestep comes from"),
        "seed": ParamSpec(0, min=0, max=2**31 - 1, help="first noise seed"),
        "max_batch": ParamSpec(8, min=1, max=256, help="most (prompt, draw) pairs per model call (memory cap)"),
        "percentile": ParamSpec(99.0, min=50.0, max=100.0, help="this percentile of the difference maps to 1"),
    },
    needs_phrase=True,
)


def noise_difference_map(target: np.ndarray, source: np.ndarray, size: tuple[int, int], percentile: float = 99.0
                         ) -> np.ndarray:
    """The soft DiffEdit map from two stacks of noise predictions.

    Args:
        target: float ``(n_draws, C, h, w)`` predictions conditioned on the target text.
        source: the same for the source text (same noisy inputs).
        size: ``(H, W)`` of the image.
        percentile: the difference at this percentile maps to 1 (robust to a few extreme latents).

    Returns:
        float32 ``(H, W)`` in [0, 1]; all zero when the predictions are equal.

    >>> a = np.zeros((2, 4, 3, 3)); b = a.copy(); b[:, :, 0, 0] = 1.0
    >>> m = noise_difference_map(b, a, (6, 6), percentile=100.0)
    >>> float(m[0, 0]), float(m[5, 5])
    (1.0, 0.0)
    """
    import torch
    import torch.nn.functional as F

    if target.shape != source.shape or target.ndim != 4:
        raise ValueError(f"target/source: expected two (n_draws, C, h, w) arrays of one shape, got "
                         f"{target.shape} and {source.shape}")
    difference = np.abs(np.asarray(target, np.float64) - np.asarray(source, np.float64)).mean(axis=(0, 1))
    upsampled = F.interpolate(torch.from_numpy(difference)[None, None], size=size, mode="bilinear",
                              align_corners=False)[0, 0].numpy()
    scale = np.percentile(upsampled, percentile)
    if scale <= 0:
        return np.zeros(size, np.float32)
    return np.clip(upsampled / scale, 0.0, 1.0).astype(np.float32)


@register_generator(SPEC)
def diffedit(
    image: Image.Image,
    phrase: str | Sequence[str],
    model: Any = None,
    *,
    editor: Any = None,
    source_prompt: str = "",
    strength: float = 0.5,
    n_draws: int = 4,
    num_inference_steps: int = 10,
    seed: int = 0,
    percentile: float = 99.0,
    max_batch: int = 8,
) -> ChangeMap:
    """DiffEdit map of ``phrase`` (the target text) against ``source_prompt`` with a loaded editor's model.

    Args:
        image: RGB image.
        phrase: The target text ("a tiger"); a list is joined with ", ".
        model: Unused (the model is the editor's).
        editor: A loaded ``diffdiff.DifferentialEditor`` (any family it supports).
        source_prompt: Text describing the image as it is ("" = unconditional).
        strength, n_draws, num_inference_steps, seed: The probe (see ``DifferentialEditor.predict_noise``): the
            image is encoded once, each text once, and the 2 x ``n_draws`` predictions run in batches.
        percentile: The difference at this percentile maps to 1.
        max_batch: The most (prompt, draw) pairs one model call takes (lower it to save memory).

    Returns:
        ChangeMap ``(H, W)`` float32 in [0, 1], 1 = where the model's prediction changes most; provenance
        ``"diffedit('a tiger' vs '', 4 draws)"``.

    Raises:
        TypeError: ``editor`` missing or not an editor.
    """
    if editor is None or not callable(getattr(editor, "predict_noise", None)):
        raise TypeError("editor: diffedit needs a loaded DifferentialEditor, e.g. generate(..., editor=editor)")
    target = ", ".join(phrases_of(phrase))
    predictions = editor.predict_noise(image, [target, source_prompt], strength=strength, n_draws=n_draws,
                                       num_inference_steps=num_inference_steps, seed=seed, max_batch=max_batch)
    predictions = np.asarray(predictions.float().cpu() if hasattr(predictions, "cpu") else predictions)
    values = noise_difference_map(predictions[0], predictions[1], (image.height, image.width), percentile)
    return ChangeMap(values, provenance=f"diffedit({describe_phrase(phrase)} vs {source_prompt!r}, {n_draws} draws)")
