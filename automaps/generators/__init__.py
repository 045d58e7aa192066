"""Map generators: text (or clicks, or geometry) -> ChangeMap, looked up by name in one registry.

>>> from automaps.generators import generate, list_generators
>>> sorted(spec.name for spec in list_generators())[:4]
['auto', 'canny', 'clipseg', 'constant']

Built-in generators: ``clipseg``, ``grounded``, ``sam``, ``depth``, ``saliency``, ``canny``, ``auto``,
``diffedit``, and
the model-free ``constant``, ``gradient``, ``radial``, ``fan``, ``file``, ``spatial``. Importing this package
registers them without importing any model library (transformers, OpenCV load inside the generator functions).
"""

from __future__ import annotations

from automaps.errors import ModelNotAvailableError  # the one class, also automaps.ModelNotAvailableError

# Built-in generators register themselves on import (their heavy imports are deferred to call time).
from automaps.generators import (  # noqa: F401
    auto,
    canny,
    clipseg,
    depth,
    diffedit,
    grounded,
    saliency,
    sam,
    spatial,
    synthetic,
)
from automaps.generators.loading import cached, load, release
from automaps.generators.registry import (
    ENTRY_POINT_GROUP,
    GeneratorSpec,
    ParamSpec,
    generate,
    get_generator,
    list_generators,
    register,
    register_generator,
    validate_params,
)

# `diffedit` (|eps(target) - eps(source)| of the loaded diffusion model) takes the loaded editor as `editor=`:
# automaps never imports the editor's package.

__all__ = [
    "ENTRY_POINT_GROUP",
    "GeneratorSpec",
    "ModelNotAvailableError",
    "ParamSpec",
    "cached",
    "generate",
    "get_generator",
    "list_generators",
    "load",
    "register",
    "register_generator",
    "release",
    "validate_params",
]
