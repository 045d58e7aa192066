"""One registry of map generators: specs (declared parameters) + functions, looked up by name.

A generator is a function ``fn(image, phrase, model, **params) -> ChangeMap`` where ``image`` is an RGB
``PIL.Image``, ``phrase`` a string / list of strings / ``None``, and ``model`` a hub id or folder (``None`` =
the spec's default). Its :class:`GeneratorSpec` declares the parameters once (default, range, choices, help); the
CLI lists and validates them from the spec, and :func:`generate` checks every call against it.

Third-party packages add generators through the entry-point group ``"automaps.generators"``: each entry point
resolves to a ``(GeneratorSpec, fn)`` pair or to a callable that calls :func:`register` itself. They are loaded
lazily, the first time the registry is listed or a name is looked up.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from automaps.changemap import ChangeMap

__all__ = [
    "ENTRY_POINT_GROUP",
    "GeneratorFn",
    "GeneratorSpec",
    "ParamSpec",
    "as_rgb_image",
    "describe_phrase",
    "generate",
    "get_generator",
    "list_generators",
    "register",
    "register_generator",
    "validate_params",
]

ENTRY_POINT_GROUP = "automaps.generators"

GeneratorFn = Callable[..., "ChangeMap"]


@dataclass(frozen=True)
class ParamSpec:
    """One declared generator parameter.

    Attributes:
        default: Value used when the caller does not pass the parameter (``None`` = "auto" / unset).
        min: Inclusive lower bound for numbers, or ``None``.
        max: Inclusive upper bound for numbers, or ``None``.
        choices: Allowed values, or ``None`` for any.
        help: One line for ``--help`` and docs.
    """

    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""


@dataclass(frozen=True)
class GeneratorSpec:
    """What a generator is, what it loads and what it accepts.

    Attributes:
        name: Registry name (``source=`` of :func:`generate`).
        summary: One line: what the generator is good at.
        default_model: Default hub id, or ``None`` for generators without weights.
        revision: Revision of ``default_model`` (branch, tag or commit).
        license: License of the default weights (or of the method, for weight-free ones).
        extra: ``pip install automaps[<extra>]`` needed beyond the base install, or ``None``.
        params: Declared keyword parameters, by name.
        needs_phrase: True if a text phrase is required.
    """

    name: str
    summary: str
    default_model: str | None = None
    revision: str | None = None
    license: str | None = None
    extra: str | None = None
    params: dict[str, ParamSpec] = field(default_factory=dict)
    needs_phrase: bool = False


_REGISTRY: dict[str, tuple[GeneratorSpec, GeneratorFn]] = {}
_entry_points_loaded = False


def register(spec: GeneratorSpec, fn: GeneratorFn, *, replace: bool = False) -> GeneratorFn:
    """Add a generator to the registry.

    Args:
        spec: Its spec; ``spec.name`` is the registry key.
        fn: ``fn(image: PIL.Image RGB, phrase, model, **params) -> ChangeMap`` at the image's size.
        replace: Allow replacing a generator of the same name.

    Returns:
        ``fn`` (so this can be used inside decorators).

    Raises:
        ValueError: The name is taken (and ``replace`` is False) or empty.
        TypeError: ``spec`` is not a GeneratorSpec or ``fn`` is not callable.
    """
    if not isinstance(spec, GeneratorSpec):
        raise TypeError(f"spec: expected GeneratorSpec, got {type(spec).__name__}")
    if not callable(fn):
        raise TypeError(f"fn: expected a callable, got {type(fn).__name__}")
    if not spec.name:
        raise ValueError("spec.name must not be empty")
    if spec.name in _REGISTRY and not replace and _REGISTRY[spec.name][1] is not fn:
        raise ValueError(f"a generator named {spec.name!r} is already registered (pass replace=True)")
    _REGISTRY[spec.name] = (spec, fn)
    return fn


def register_generator(spec: GeneratorSpec, *, replace: bool = False) -> Callable[[GeneratorFn], GeneratorFn]:
    """Decorator form of :func:`register`: ``@register_generator(GeneratorSpec(...))`` above the function."""

    def decorate(fn: GeneratorFn) -> GeneratorFn:
        return register(spec, fn, replace=replace)

    return decorate


def _load_entry_points() -> None:
    """Register third-party generators from the ``automaps.generators`` entry-point group, once per process."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        # A broken plug-in must not take the built-in generators down with it: warn and go on.
        try:
            obj = ep.load()
            if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], GeneratorSpec):
                spec, fn = obj
                if spec.name in _REGISTRY and _REGISTRY[spec.name][1] is not fn:
                    warnings.warn(
                        f"entry point {ep.name!r} ({ep.value}): generator {spec.name!r} is already "
                        "registered; the plug-in is ignored",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    continue
                register(spec, fn)
            elif callable(obj):
                obj()
            else:
                raise TypeError(f"expected a (GeneratorSpec, fn) pair or a callable, got {type(obj).__name__}")
        except Exception as err:
            warnings.warn(
                f"could not load map generator entry point {ep.name!r} ({ep.value}): {err}",
                RuntimeWarning,
                stacklevel=3,
            )


def list_generators() -> list[GeneratorSpec]:
    """All registered generators (built-in and plug-ins), sorted by name."""
    _load_entry_points()
    return [_REGISTRY[name][0] for name in sorted(_REGISTRY)]


def get_generator(name: str) -> tuple[GeneratorSpec, GeneratorFn]:
    """Look a generator up by name.

    Returns:
        ``(spec, fn)``.

    Raises:
        ValueError: Unknown name; the message lists the known names.
    """
    _load_entry_points()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown map generator {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def validate_params(spec: GeneratorSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Check ``params`` against ``spec.params`` and fill in defaults.

    Numbers are checked against ``[min, max]`` (inclusive); ``choices`` by membership. ``None`` is accepted
    where the default is ``None`` (it means "auto").

    Returns:
        A new dict with every declared parameter.

    Raises:
        TypeError: An undeclared parameter (named in the message), or a non-number where a range is declared.
        ValueError: A value out of range or not among the choices (the message names the parameter and range).
    """
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise TypeError(
            f"generator {spec.name!r} got unknown parameter(s) {', '.join(map(repr, unknown))}; "
            f"it accepts: {', '.join(sorted(spec.params)) or 'none'}"
        )
    out = {name: p.default for name, p in spec.params.items()}
    for name, value in params.items():
        p = spec.params[name]
        out[name] = value
        if value is None and p.default is None:
            continue
        where = f"parameter {name!r} of generator {spec.name!r}"
        if p.choices is not None and value not in p.choices:
            raise ValueError(f"{where} must be one of {list(p.choices)}, got {value!r}")
        if p.min is None and p.max is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{where} must be a number, got {type(value).__name__}")
        lo = -math.inf if p.min is None else p.min
        hi = math.inf if p.max is None else p.max
        if not lo <= float(value) <= hi:  # also rejects NaN
            raise ValueError(f"{where} must be in [{_fmt(lo)}, {_fmt(hi)}], got {value!r}")
    return out


def _fmt(x: float) -> str:
    return f"{x:g}"


def as_rgb_image(image: Any) -> Image.Image:
    """Convert an input image to an RGB ``PIL.Image``.

    Args:
        image: ``PIL.Image`` of any mode; numpy ``(H, W, 3)`` / ``(H, W, 4)`` / ``(H, W)`` uint8 (0..255) or float
            in [0, 1]; torch ``(3, H, W)`` or ``(1, 3, H, W)`` float in [0, 1] or uint8 (channels first).

    Returns:
        An RGB image (alpha dropped, grey replicated).

    Raises:
        TypeError: Unsupported type or dtype.
        ValueError: Unsupported shape or float values outside [0, 1].
    """
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if type(image).__module__.startswith("torch"):
        import torch  # already imported: a tensor exists

        t = image.detach().cpu()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
            raise ValueError(f"image: expected a torch tensor (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}")
        # uint8 tensors keep their 0..255 scale; any other dtype is read as float in [0, 1].
        image = (t if t.dtype == torch.uint8 else t.float()).permute(1, 2, 0).numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: expected PIL.Image, numpy array or torch tensor, got {type(image).__name__}")
    a = image
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or a.size == 0:
        raise ValueError(f"image: expected shape (H, W, 3), (H, W, 4) or (H, W), got {image.shape}")
    if a.dtype == np.uint8:
        pass
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError("image: float images must hold finite values in [0, 1]")
        a = np.rint(a * 255).astype(np.uint8)
    else:
        raise TypeError(f"image: expected uint8 or float in [0, 1], got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    pil = Image.fromarray(np.ascontiguousarray(a))
    return pil if pil.mode == "RGB" else pil.convert("RGB")


def phrases_of(phrase: str | Sequence[str] | None, name: str = "phrase") -> list[str]:
    """Normalise a phrase argument to a non-empty list of stripped, non-empty strings.

    Raises:
        ValueError: No phrase, or an empty one.
        TypeError: Not a string or a sequence of strings.
    """
    if phrase is None:
        raise ValueError(f"{name}: this generator needs a text phrase")
    items = [phrase] if isinstance(phrase, str) else list(phrase)
    if not all(isinstance(p, str) for p in items):
        raise TypeError(f"{name}: expected a string or a list of strings, got {phrase!r}")
    items = [p.strip() for p in items]
    if not items or not all(items):
        raise ValueError(f"{name}: phrases must be non-empty strings, got {phrase!r}")
    return items


def describe_phrase(phrase: str | Sequence[str] | None) -> str:
    """The phrase as it appears in provenance: ``'sky'`` or ``['cat', 'dog']`` (repr of the stripped text)."""
    if phrase is None:
        return ""
    items = phrases_of(phrase)
    return repr(items[0]) if isinstance(phrase, str) else repr(items)


def generate(
    image: Any,
    phrase: str | Sequence[str] | None = None,
    source: str = "clipseg",
    model: str | None = None,
    **params: Any,
) -> ChangeMap:
    """Make a change map for ``image`` with the generator ``source``.

    Args:
        image: ``PIL.Image`` (any mode), numpy ``(H, W, 3)`` uint8, or torch ``(3, H, W)`` float in [0, 1].
        phrase: What to change, e.g. ``"sky"`` or ``["cat", "dog"]`` (union); generators that do not read text
            (depth, saliency, synthetic maps) ignore it.
        source: Registry name of the generator (see :func:`list_generators`).
        model: Hub id or local folder of the generator's model; ``None`` = the spec's default. ``grounded``
            takes ``detector=`` and ``segmenter=`` instead (``model`` is an alias of ``detector``).
        **params: The generator's declared parameters (``spec.params``).

    Returns:
        A :class:`~automaps.changemap.ChangeMap` of shape ``(H, W)`` = the image's, float32 in [0, 1],
        1 = change fully, with provenance such as ``"clipseg('sky')"``.

    Raises:
        ValueError: Unknown generator, missing phrase, or a parameter out of range.
        TypeError: Unknown parameter, or ``model`` given to a generator without a model.
        automaps.generators.ModelNotAvailableError: The model is not available locally and cannot be fetched.
    """
    spec, fn = get_generator(source)
    resolved = validate_params(spec, params)
    if spec.needs_phrase:
        phrases_of(phrase)  # fail before any model loads
    if model is not None and spec.default_model is None:
        raise TypeError(f"generator {spec.name!r} has no model; do not pass model=")
    rgb = as_rgb_image(image)
    change = fn(rgb, phrase, model, **resolved)
    expected = (rgb.height, rgb.width)
    if tuple(change.shape) != expected:
        raise RuntimeError(f"generator {spec.name!r} returned a {change.shape} map for a {expected} image")
    return change
