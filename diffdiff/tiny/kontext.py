"""A tiny random FLUX.1 Kontext pipeline: the tiny Flux components under ``FluxKontextPipeline``."""

from __future__ import annotations

from diffdiff.tiny import TINY_FAMILIES, register_tiny, tiny_editor


def _build_kontext():
    from diffusers import FluxKontextPipeline

    # Kontext's checkpoint is FLUX.1-dev-shaped: the same transformer, encoders, VAE and scheduler.
    return FluxKontextPipeline(**TINY_FAMILIES["flux"]().components)


register_tiny("kontext", _build_kontext)
tiny_editor("kontext", "kontext", "kontext")
