"""``automaps batch`` manifests: JSONL, CSV or a folder of images, read into checked :class:`BatchItem` rows.

Everything here is checked before any model loads: a bad manifest is a :class:`ManifestError` (a
``ValueError``, exit code 2) naming the manifest, the line and the column. A missing or corrupt image or map is
not a manifest error: it fails that item alone when the batch runs.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "BatchItem", "ManifestError", "derived_seed", "in_shard", "parse_shard", "read_manifest"]

COLUMNS = ("id", "image", "instruction", "change_map", "region", "strength", "seed", "prompt", "negative_prompt",
           "steps")
"""The columns a manifest may have; ``image`` and ``instruction`` are required (``instruction`` may come from
``--instruction`` instead)."""

_ID = re.compile(r"[\w][\w.+=@-]{0,199}")  # a folder name: no "/", no leading dot (hidden, ".."), <= 200 chars


class ManifestError(ValueError):
    """A manifest that cannot be run (exit code 2); the message names the file and the line."""


@dataclass(frozen=True)
class BatchItem:
    """One edit of a batch: what ``automaps edit`` would be given for one image.

    Attributes:
        id: the output folder's name, ``OUTDIR/<id>/``; unique in the manifest.
        image: the image's path (absolute, or as given when the manifest was a folder).
        instruction: the edit instruction.
        line: the manifest line it came from (1 = the first line; for CSV the header is line 1).
        change_map: an explicit map's path (1 = change fully), or None for the planner's map.
        region, prompt, negative_prompt: as ``automaps edit --region/--prompt/--negative-prompt``.
        strength: maximum change in [0, 1], or None.
        seed: the diffusion seed; None means "derived from the id" (:func:`derived_seed`).
        steps: inference steps, or None for the batch's ``--steps``.
    """

    id: str
    image: str
    instruction: str
    line: int
    change_map: str | None = None
    region: str | None = None
    strength: float | None = None
    seed: int | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-safe dict (what the Ray engine ships to its actors)."""
        return asdict(self)


def derived_seed(item_id: str) -> int:
    """A stable seed in [0, 2**31) for an item without one: the first 4 bytes of ``sha256(id)``.

    >>> derived_seed("cat-01") == derived_seed("cat-01"), 0 <= derived_seed("x") < 2**31
    (True, True)
    """
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:4], "big") % 2**31


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``.

    Raises:
        ValueError: anything else (the message names ``--shard``).
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise ValueError(f"--shard: expected I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def in_shard(item_id: str, shard: tuple[int, int]) -> bool:
    """Whether ``item_id`` belongs to shard ``(I, N)``: ``sha256(id) mod N == I``, so an item keeps its shard
    when the manifest grows or is reordered."""
    index, count = shard
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[4:12], "big") % count == index


def read_manifest(path: str | os.PathLike[str], *, instruction: str | None = None) -> list[BatchItem]:
    """The items of a JSONL file, a CSV file (header row) or a folder of images, checked.

    Relative ``image`` and ``change_map`` paths are resolved against the manifest's folder. An item without
    ``id`` is named after its image's stem. ``instruction`` is the default for items without one (required for
    a folder).

    Args:
        path: a ``.jsonl`` / ``.ndjson`` / ``.json`` (one object a line) or ``.csv`` file, or a folder.
        instruction: the instruction of items that have none.

    Returns:
        The items in manifest order.

    Raises:
        ManifestError: not JSON, an unknown or missing column, a bad value, a duplicate id; the message names the
            manifest and the line (and the column).
        FileNotFoundError: the manifest does not exist.
    """
    path = Path(path)
    if path.is_dir():
        return _folder_items(path, instruction)
    if not path.is_file():
        raise FileNotFoundError(f"manifest: no such file or folder: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(path)
    elif suffix in (".jsonl", ".ndjson", ".json"):
        rows = _jsonl_rows(path)
    else:
        raise ManifestError(f"manifest: {path}: expected a .jsonl or .csv file or a folder of images, got {suffix!r}")
    items = [_item(row, line, path, instruction) for line, row in rows]
    if not items:
        raise ManifestError(f"manifest: {path} holds no items")
    _check_unique(items, path)
    return items


def _jsonl_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8-sig") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue  # a blank line, e.g. the last one
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                raise ManifestError(f"manifest: {path} line {line}: not JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise ManifestError(f"manifest: {path} line {line}: expected a JSON object, got {type(row).__name__}")
            yield line, row


def _csv_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise ManifestError(f"manifest: {path} line 1: expected a header row ({', '.join(COLUMNS)})")
        for row in reader:
            if None in row:  # more cells than the header has columns
                raise ManifestError(f"manifest: {path} line {reader.line_num}: more cells than header columns")
            if any(value not in (None, "") for value in row.values()):
                yield reader.line_num, {key: (None if value == "" else value) for key, value in row.items()}


def _item(row: Mapping[str, Any], line: int, manifest: Path, instruction: str | None) -> BatchItem:
    where = f"manifest: {manifest} line {line}"
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise ManifestError(f"{where}: unknown column(s) {unknown}; expected some of {list(COLUMNS)}")
    text = {name: _text(row.get(name), name, where) for name in
            ("id", "image", "instruction", "change_map", "region", "prompt", "negative_prompt")}
    if text["instruction"] is None:
        text["instruction"] = instruction
    for name in ("image", "instruction"):
        if text[name] is None:
            hint = " (or pass --instruction)" if name == "instruction" else ""
            raise ManifestError(f"{where}: missing column {name!r}{hint}")
    if text["change_map"] is not None and text["region"] is not None:
        raise ManifestError(f"{where}: change_map and region: give one of them")
    folder = manifest.parent
    image = str(folder / text["image"])
    change_map = None if text["change_map"] is None else str(folder / text["change_map"])
    item_id = text["id"] if text["id"] is not None else Path(text["image"]).stem
    _check_id(item_id, where)
    return BatchItem(id=item_id, image=image, instruction=text["instruction"], line=line, change_map=change_map,
                     region=text["region"], prompt=text["prompt"], negative_prompt=text["negative_prompt"],
                     strength=_number(row.get("strength"), "strength", where, float, 0, 1),
                     seed=_number(row.get("seed"), "seed", where, int, 0, 2**64 - 1),
                     steps=_number(row.get("steps"), "steps", where, int, 1, None))


def _text(value: Any, name: str, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ManifestError(f"{where}: {name}: expected a string, got {type(value).__name__}")
    value = str(value)
    return value if value.strip() else None


def _number(value: Any, name: str, where: str, kind: type, low: float, high: float | None) -> Any:
    """``value`` (a JSON number or a CSV cell) as ``kind`` in ``[low, high]``; None stays None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = kind(float(value)) if kind is float else int(str(value).strip())
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: {name}: expected {'an integer' if kind is int else 'a number'}, "
                            f"got {value!r}") from None
    if number != number or number < low or (high is not None and number > high):  # number != number: nan
        bounds = f">= {low}" if high is None else f"in [{low}, {high if high < 2**32 else '2**64 - 1'}]"
        raise ManifestError(f"{where}: {name}: expected a value {bounds}, got {value!r}")
    return number


def _check_id(item_id: str, where: str) -> None:
    if not _ID.fullmatch(item_id):
        raise ManifestError(f"{where}: id: {item_id!r} cannot name a folder; expected letters, digits and . _ - + = @, "
                            "not starting with a dot, at most 200 characters")


def _check_unique(items: list[BatchItem], manifest: Path) -> None:
    first: dict[str, int] = {}
    for item in items:
        if item.id in first:
            raise ManifestError(f"manifest: {manifest} line {item.line}: duplicate id {item.id!r} (first on line "
                                f"{first[item.id]}); give each item its own id")
        first[item.id] = item.line


def _folder_items(folder: Path, instruction: str | None) -> list[BatchItem]:
    """One item per image file of ``folder`` (not recursive, sorted by name), named after its stem."""
    from PIL import Image

    if instruction is None or not instruction.strip():
        raise ManifestError(f"--instruction: required when the manifest is a folder ({folder})")
    extensions = set(Image.registered_extensions())
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions
                   and not p.name.startswith("."))
    if not files:
        raise ManifestError(f"manifest: {folder} holds no image files")
    items = []
    for number, file in enumerate(files, start=1):
        where = f"manifest: {folder} file {file.name}"
        _check_id(file.stem, where)
        items.append(BatchItem(id=file.stem, image=str(file), instruction=instruction, line=number))
    seen: dict[str, str] = {}
    for item, file in zip(items, files, strict=True):
        if item.id in seen:
            raise ManifestError(f"manifest: {folder}: {seen[item.id]} and {file.name} would both be item "
                                f"{item.id!r}; use a JSONL or CSV manifest with an id column")
        seen[item.id] = file.name
    return items
