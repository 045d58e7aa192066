"""Default models of the map generators: hub id, revision and license, in one place.

Revisions are ``"main"``: this project was written offline and could not read the hub's commit hashes. Pin a
commit (``revision="<40 hex digits>"``) here once it has been checked against the hub, so that a model update
upstream cannot silently change the maps. Licenses are those of the hub model cards as known at the time of
writing; check them before redistributing weights.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_MODELS", "ModelInfo", "default_model"]


@dataclass(frozen=True)
class ModelInfo:
    """A default model of one role.

    Attributes:
        id: Hugging Face hub id.
        revision: Branch, tag or commit hash passed to ``from_pretrained(revision=...)``.
        license: SPDX-like license id of the weights.
        extra: The ``pip install automaps[...]`` extra it needs, or ``None`` for the base install.
    """

    id: str
    revision: str
    license: str
    extra: str | None = None


DEFAULT_MODELS: dict[str, ModelInfo] = {
    # Hub card tag: apache-2.0 (the original CLIPSeg code, timojl/clipseg, is MIT).
    "clipseg": ModelInfo("CIDAS/clipseg-rd64-refined", "main", "apache-2.0"),
    "grounding_dino": ModelInfo("IDEA-Research/grounding-dino-tiny", "main", "apache-2.0"),
    # OWLv2's processor needs scipy (a base dependency).
    "owlv2": ModelInfo("google/owlv2-base-patch16-ensemble", "main", "apache-2.0"),
    "sam": ModelInfo("facebook/sam-vit-base", "main", "apache-2.0"),
    # The Small variant only: Depth Anything V2 Base/Large are CC-BY-NC-4.0.
    "depth": ModelInfo("depth-anything/Depth-Anything-V2-Small-hf", "main", "apache-2.0"),
}


def default_model(role: str) -> ModelInfo:
    """The default model of ``role`` (a key of :data:`DEFAULT_MODELS`).

    Raises:
        ValueError: Unknown role; the message lists the known ones.
    """
    try:
        return DEFAULT_MODELS[role]
    except KeyError:
        raise ValueError(f"unknown model role {role!r}; known: {', '.join(sorted(DEFAULT_MODELS))}") from None
