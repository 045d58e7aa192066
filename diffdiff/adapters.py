"""LoRA and IP-Adapter on the pipeline the editor drives, through diffusers' own loaders.

Nothing here changes the differential maths: a LoRA patches the denoiser's weights and an IP-Adapter adds
image tokens to its cross-attention, so the stock pipeline the editor hooks runs with them exactly as it
would without the editor (a uniform map still equals stock img2img with the same LoRA / IP image). This
module checks the arguments before any weights load, loads through ``load_lora_weights`` / ``set_adapters``
and ``load_ip_adapter``, and names the argument in every error.
"""

from __future__ import annotations

import importlib.util
import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["IPAdapterMethods", "LoraEntry", "apply_lora", "check_adapter_call", "finite", "has_ip_adapter",
           "ip_adapter_arguments", "ip_adapter_call", "load_named_ip_adapter", "parse_lora"]

LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
"""The file diffusers' ``save_lora_weights`` writes; asked for when a hub LoRA is read from the cache offline."""

WEIGHT_SEPARATOR = "::"
"""Separates a repository (hub id or folder) from a file inside it: ``"h94/IP-Adapter::models/ip.safetensors"``."""


@dataclass(frozen=True)
class LoraEntry:
    """One LoRA to load.

    Attributes:
        source: hub id, local folder or ``.safetensors`` file.
        scale: its weight in ``set_adapters`` (1.0 = as trained; 0 = loaded but without effect).
        weight_name: the file inside ``source`` (``None``: diffusers' choice).
    """

    source: str
    scale: float = 1.0
    weight_name: str | None = None


def parse_lora(lora: Any) -> list[LoraEntry]:
    """Check ``from_pretrained``'s ``lora=`` argument and normalise it, before any model loads.

    Args:
        lora: ``None``; one ``ID_OR_PATH``; or a list of ``ID_OR_PATH`` or ``(ID_OR_PATH, scale)``. An
            ``ID_OR_PATH`` is a hub id, a folder holding ``pytorch_lora_weights.safetensors``, a
            ``.safetensors`` file, or ``REPO::FILE`` for another file in a hub repository or folder.

    Returns:
        One :class:`LoraEntry` per LoRA, in order (``[]`` for ``None``).

    Raises:
        ImportError: peft (the ``lora`` extra) is not installed.
        TypeError: a malformed entry (the message names ``lora[i]``).
        ValueError: a scale that is not finite.
        FileNotFoundError: a path-like entry that does not exist.
    """
    if lora is None:
        return []
    if isinstance(lora, (str, os.PathLike)):
        lora = [lora]
    if not isinstance(lora, (list, tuple)):
        raise TypeError(f"lora: expected a list of hub ids, paths or (id_or_path, scale) pairs, got "
                        f"{type(lora).__name__}")
    entries = [_lora_entry(f"lora[{i}]", item) for i, item in enumerate(lora)]
    if entries and importlib.util.find_spec("peft") is None:
        raise ImportError("lora: loading LoRA weights needs peft; install it with: pip install 'automaps[lora]'")
    return entries


def _lora_entry(name: str, item: Any) -> LoraEntry:
    """One entry of ``lora=``, checked: a source, or a ``(source, scale)`` pair."""
    from automaps.hub import looks_like_path

    scale: Any = 1.0
    if isinstance(item, (list, tuple)):
        if len(item) != 2:
            raise TypeError(f"{name}: expected (id_or_path, scale), got {len(item)} items")
        item, scale = item
    if not isinstance(item, (str, os.PathLike)) or not str(item).strip():
        raise TypeError(f"{name}: expected a hub id, folder or .safetensors file (or (that, scale)), "
                        f"got {type(item).__name__} {item!r}"[:200])
    scale = finite(name, scale)
    source, weight_name = split_weight(str(item))
    path = Path(source).expanduser()
    if path.is_file():
        source, weight_name = str(path.parent), path.name
    elif not path.is_dir() and looks_like_path(source):
        raise FileNotFoundError(f"{name}: no such LoRA file or folder: {source}")
    return LoraEntry(source, scale, weight_name)


def finite(name: str, value: Any) -> float:
    """``value`` as a float. Raises TypeError unless a real number (not bool), ValueError unless finite.

    >>> finite("scale", 0.5)
    0.5
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a finite number as the scale, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number as the scale, got {value!r}")
    return float(value)


def split_weight(spec: str) -> tuple[str, str | None]:
    """``"REPO::FILE"`` -> ``("REPO", "FILE")``; a spec without ``::`` (or an existing path) -> ``(spec, None)``.

    >>> split_weight("h94/IP-Adapter::models/ip-adapter_sd15.safetensors")
    ('h94/IP-Adapter', 'models/ip-adapter_sd15.safetensors')
    >>> split_weight("some/lora")
    ('some/lora', None)
    """
    if WEIGHT_SEPARATOR not in spec or Path(spec).exists():
        return spec, None
    repo, weight = spec.rsplit(WEIGHT_SEPARATOR, 1)
    return repo, weight or None


def apply_lora(pipe, entries: list[LoraEntry]) -> list[str]:
    """Load each LoRA into ``pipe`` (unfused) under its own adapter name, then activate them with their scales.

    Args:
        pipe: a diffusers pipeline with ``load_lora_weights`` (SD, SDXL, SD3, Flux, ...).
        entries: from :func:`parse_lora`.

    Returns:
        The adapter names (``"lora_0"``, ``"lora_1"``, ...), active with their scales.

    Raises:
        UnsupportedPipelineError: ``pipe`` cannot load LoRA weights.
        ModelNotAvailableError: a hub LoRA not in the cache while offline.
        ValueError: a file holding no LoRA weights for this pipeline's modules (``lora[i]`` named).
    """
    from automaps.errors import UnsupportedPipelineError
    from automaps.hub import not_available, offline, quiet_libraries

    if not entries:
        return []
    if not hasattr(pipe, "load_lora_weights"):
        raise UnsupportedPipelineError(type(pipe).__name__, supporting("load_lora_weights"), hint=" with lora=")
    names = []
    for i, entry in enumerate(entries):
        name, local = f"lora_{i}", Path(entry.source).is_dir()
        kwargs: dict[str, Any] = {"adapter_name": name}
        if entry.weight_name is not None or (not local and offline()):
            kwargs["weight_name"] = entry.weight_name or LORA_WEIGHT_NAME  # offline, diffusers cannot list files
        if not local and offline():
            kwargs["local_files_only"] = True
        try:
            with quiet_libraries():  # "no LoRA keys for the text encoder" is normal for a UNet-only LoRA
                pipe.load_lora_weights(entry.source, **kwargs)
        except OSError as error:
            if local:
                raise FileNotFoundError(f"lora[{i}]: {error}".splitlines()[0]) from error
            raise not_available(entry.source, error) from error
        except (ValueError, KeyError, RuntimeError) as error:
            raise ValueError(f"lora[{i}]: {entry.source} is not a LoRA for this pipeline: {error}"[:300]) from error
        if not any(name in adapters for adapters in pipe.get_list_adapters().values()):
            raise ValueError(f"lora[{i}]: {entry.source} holds no LoRA weights for this pipeline's modules")
        names.append(name)
    pipe.set_adapters(names, adapter_weights=[entry.scale for entry in entries])
    return names


# -- IP-Adapter ------------------------------------------------------------------------------------------

def has_ip_adapter(denoiser) -> bool:
    """Whether an IP-Adapter is loaded into ``denoiser`` (a UNet or transformer): its image projection is there."""
    from diffusers.models.embeddings import MultiIPAdapterImageProjection

    return isinstance(getattr(denoiser, "encoder_hid_proj", None), MultiIPAdapterImageProjection)


def ip_adapter_arguments(spec: str, family: str) -> dict[str, Any]:
    """The ``load_ip_adapter`` arguments of a CLI / ``edit()`` spec ``REPO[::SUBFOLDER/WEIGHT]``.

    Without ``::``, the family's default file (``diffdiff.models``, role ``ip_adapter``: for SD 1.x
    ``models/ip-adapter_sd15.safetensors``) is read from ``REPO``; the image encoder is the ``image_encoder``
    folder beside the weight file, as in ``h94/IP-Adapter``.

    Args:
        spec: ``"h94/IP-Adapter"``, ``"h94/IP-Adapter::models/ip-adapter-plus_sd15.safetensors"``, a folder, ...
        family: the editor's family name.

    Returns:
        ``{"pretrained_model_name_or_path_or_dict", "subfolder", "weight_name"}``.

    Raises:
        TypeError: ``spec`` is not a non-empty string.
        ValueError: no file named and the family has no default IP-Adapter.
    """
    from diffdiff.models import DEFAULT_MODELS

    if not isinstance(spec, (str, os.PathLike)) or not str(spec).strip():
        raise TypeError(f"ip_adapter: expected 'REPO[::SUBFOLDER/WEIGHT]', got {type(spec).__name__} {spec!r}")
    repo, weight = split_weight(str(spec))
    if weight is None:
        default = DEFAULT_MODELS.get(family, {}).get("ip_adapter")
        if default is None or not default.weight:
            raise ValueError(f"ip_adapter: the {family!r} family has no default IP-Adapter file; name it as "
                             f"'{repo}{WEIGHT_SEPARATOR}SUBFOLDER/WEIGHT'")
        weight = default.weight
    subfolder, _, weight_name = weight.rpartition("/")
    return {"pretrained_model_name_or_path_or_dict": repo, "subfolder": subfolder, "weight_name": weight_name}


def check_adapter_call(editor, pipeline_kwargs: dict[str, Any]) -> None:
    """Refuse an IP-Adapter call that the stock pipeline would fail on only after encoding everything.

    Raises:
        ValueError: an IP-Adapter is loaded but neither ``ip_adapter_image`` nor ``ip_adapter_image_embeds``
            is given (stock fails deep in the UNet with ``TypeError: argument of type 'NoneType' is not
            iterable``); an IP image without a loaded IP-Adapter; an IP image with extra stages (they have
            no IP-Adapter of their own).
    """
    given = [key for key in ("ip_adapter_image", "ip_adapter_image_embeds") if pipeline_kwargs.get(key) is not None]
    loaded = has_ip_adapter(editor.adapter.denoiser(editor.pipe))
    if loaded and not given:
        raise ValueError("ip_adapter_image: an IP-Adapter is loaded; pass ip_adapter_image= (or "
                         "ip_adapter_image_embeds=), or call editor.unload_ip_adapter()")
    if given and not loaded:
        raise ValueError(f"{given[0]}: no IP-Adapter is loaded; call editor.load_ip_adapter(...) first")
    if given and editor.stages:
        raise ValueError(f"{given[0]}: an IP-Adapter drives the main pipeline only; extra stages "
                         f"({', '.join(editor.stages)}) have none, so edit without them")


class IPAdapterMethods:
    """The editor's IP-Adapter methods, delegating to the driven pipeline (``self.pipe``)."""

    def load_ip_adapter(self, pretrained_model_name_or_path_or_dict: Any, subfolder: Any, weight_name: Any,
                        image_encoder_folder: str | None = "image_encoder", **kwargs: Any) -> None:
        """Load an IP-Adapter into the driven pipeline: diffusers' ``load_ip_adapter``, same arguments.

        Then pass ``ip_adapter_image=`` to every call. Pipelines made by :meth:`from_pipe` share their UNet with
        the pipeline they came from, which gets the IP-Adapter too.

        Args:
            pretrained_model_name_or_path_or_dict: hub id (``"h94/IP-Adapter"``), folder or state dict (or a list).
            subfolder: the weight file's folder in it (``"models"``).
            weight_name: the weight file (``"ip-adapter_sd15.safetensors"``).
            image_encoder_folder: the image encoder's folder, inside ``subfolder`` unless it has a ``/``.
            **kwargs: passed on (``revision``, ``local_files_only``, ``low_cpu_mem_usage``, ...).

        Raises:
            UnsupportedPipelineError: the family's pipeline has no IP-Adapter support.
            ModelNotAvailableError: a hub id not in the cache while offline.
            FileNotFoundError: a folder without that file.
        """
        from automaps.hub import not_available, offline, quiet_libraries

        pipe = _ip_pipe(self.pipe)
        source = pretrained_model_name_or_path_or_dict
        local = isinstance(source, (str, os.PathLike)) and Path(source).is_dir()
        if isinstance(source, (str, os.PathLike)) and not local and offline():
            kwargs.setdefault("local_files_only", True)
        try:
            with quiet_libraries():  # the torchvision-fallback notice of CLIPImageProcessor
                pipe.load_ip_adapter(source, subfolder, weight_name, image_encoder_folder=image_encoder_folder,
                                     **kwargs)
        except OSError as error:
            if local or not isinstance(source, (str, os.PathLike)):
                raise FileNotFoundError(f"ip_adapter: {error}".splitlines()[0]) from error
            raise not_available(str(source), error) from error

    def set_ip_adapter_scale(self, scale: Any) -> None:
        """The IP-Adapter's strength (diffusers' ``set_ip_adapter_scale``: a float, or per-block dicts)."""
        _ip_pipe(self.pipe).set_ip_adapter_scale(scale)

    def unload_ip_adapter(self) -> None:
        """Remove the IP-Adapter (and its image encoder) from the driven pipeline."""
        _ip_pipe(self.pipe).unload_ip_adapter()


def _ip_pipe(pipe):
    """``pipe`` if its class can hold an IP-Adapter, else an error naming the class and those that can."""
    if not hasattr(pipe, "load_ip_adapter"):
        from automaps.errors import UnsupportedPipelineError

        raise UnsupportedPipelineError(type(pipe).__name__, supporting("load_ip_adapter"), hint=" with an IP-Adapter")
    return pipe


def supporting(method: str) -> list[str]:
    """The pipeline classes the registered families drive whose diffusers class has ``method``."""
    from diffdiff.families import FAMILIES

    return sorted({family.img2img_class for family in FAMILIES.values()
                   if hasattr(family.pipeline_type(), method)})


def load_named_ip_adapter(editor, spec: str) -> None:
    """Load the IP-Adapter a CLI / ``edit()`` spec ``REPO[::SUBFOLDER/WEIGHT]`` names into ``editor``
    (:func:`ip_adapter_arguments` resolves it for the editor's family)."""
    editor.load_ip_adapter(**ip_adapter_arguments(spec, editor.family))


def ip_adapter_call(editor, image: Any = None, scale: Any = None) -> dict[str, Any]:
    """Set the IP-Adapter's scale for the next calls (``None``: 1.0, so a cached editor forgets an earlier
    scale) and return the call's ``{"ip_adapter_image": image}`` (``{}`` when ``image`` is ``None``).

    Raises:
        TypeError / ValueError: ``scale`` is not a finite number.
    """
    if image is None:
        return {}
    if scale is not None:
        scale = finite("ip_adapter_scale", scale)
    if has_ip_adapter(editor.adapter.denoiser(editor.pipe)):
        editor.set_ip_adapter_scale(1.0 if scale is None else scale)
    return {"ip_adapter_image": image}
