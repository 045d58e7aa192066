"""Every command's files checked before any work: inputs are regular files, outputs are writable, new and apart.

:func:`check_paths` is called by each ``automaps`` command (``edit``, ``map``, ``fan``, ``inpaint``, ``evaluate``)
before a model loads, with the command's inputs and outputs named by their options. It refuses, in one line
naming the option and the path:

- an input that is missing, a folder (where a file is wanted), a FIFO, a device, a socket or a symbolic-link loop;
- an output with an extension it cannot be written in (a change map must be lossless: ``.png`` or ``.npy``), in a
  missing or unwritable folder, that is an existing folder or special file, or a symbolic-link loop;
- an output that is an input or another output of the same run, compared by resolved path and by
  ``(st_dev, st_ino)`` (:func:`automaps.io.check_distinct`), so hard links, symbolic links and ``a/../b`` count.
  An input is never overwritten, even with ``--overwrite``; an existing file that is no input is replaced
  (atomically), with or without it.

``python -m diffdiff`` cannot import this package (layering) and calls the same :mod:`automaps.io` helpers.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from automaps.io import check_distinct, check_writable, special_kind, stat_path

__all__ = ["LOSSY_SUFFIXES", "MAP_SUFFIXES", "check_paths", "save_map", "silence_stdout"]

MAP_SUFFIXES = (".png", ".npy")
"""What :meth:`automaps.ChangeMap.save` writes: 8-bit grey PNG, or the exact float32 values as ``.npy``."""

LOSSY_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".avif", ".heic", ".jp2", ".j2k")
"""Formats that store approximate pixel values: refused for a change map, whose values are its meaning."""

PathArg = str | os.PathLike[str]


def _check_input(path: PathArg, option: str, folder: bool) -> None:
    status = stat_path(path, option)
    if status is None:
        raise FileNotFoundError(f"{option}: no such {'folder' if folder else 'file'}: {os.fspath(path)}")
    kind = special_kind(status)
    if folder and kind != "a folder":
        raise NotADirectoryError(f"{option}: {os.fspath(path)} is {kind or 'a file'}, not a folder")
    if not folder and kind is not None:  # a FIFO would block forever, a device never end
        raise ValueError(f"{option}: {os.fspath(path)} is {kind}, not a regular file")


def _check_output(path: PathArg, option: str, kind: str) -> None:
    path = Path(path)
    status = stat_path(path, option)
    if status is not None and (special := special_kind(status)) is not None:
        if special == "a folder":
            raise IsADirectoryError(f"{option}: {path} is a folder")
        raise ValueError(f"{option}: {path} is {special}; outputs are written as regular files")
    suffix = path.suffix.lower()
    if kind == "map" and suffix in LOSSY_SUFFIXES:
        raise ValueError(f"{option}: {path}: a change map must be lossless ({' or '.join(MAP_SUFFIXES)}); "
                         f"{suffix} would change its values")
    if kind == "map" and suffix not in MAP_SUFFIXES:
        raise ValueError(f"{option}: expected a {' or '.join(MAP_SUFFIXES)} file name, got {path}")
    if kind == "image":
        from PIL import Image

        if suffix not in Image.registered_extensions():
            raise ValueError(f"{option}: unknown image extension {suffix!r} in {path} (use .png, .jpg, .webp, ...)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{option}: folder does not exist: {path.parent}")


def check_paths(
    inputs: Mapping[str, PathArg | Iterable[PathArg] | None],
    outputs: Mapping[str, PathArg | None],
    *,
    kinds: Mapping[str, str] | None = None,
    folders: Iterable[str] = (),
) -> None:
    """Refuse, before any work, inputs that cannot be read and outputs that cannot or must not be written.

    Args:
        inputs: ``{option: path}`` of the files the command reads (``"image"``, ``"--map"``); a value may be
            several paths (the images of a folder) or None (not given).
        outputs: ``{option: path}`` of the files it writes (``"output"``, ``"--save-map"``); None: not asked for.
            An output is compared with every input and every output named before it.
        kinds: ``{output option: "image" | "map" | "data"}``; the default ``"image"`` needs an extension PIL
            writes, ``"map"`` one of :data:`MAP_SUFFIXES`, ``"data"`` (JSON, ...) any.
        folders: the input options whose value is a folder, not a file.

    Raises:
        FileNotFoundError / NotADirectoryError / IsADirectoryError / ValueError / OSError: one line naming the
        option and the path (see the module docstring).

    >>> check_paths({"image": __file__}, {"--json": __file__}, kinds={"--json": "data"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --json: refusing to overwrite an input file: ... is also image (inputs are never overwritten, ...)
    """
    kinds = kinds or {}
    folders = set(folders)
    for option, value in inputs.items():
        paths = [] if value is None else [value] if isinstance(value, str | os.PathLike) else list(value)
        for path in paths:
            _check_input(path, option, option in folders)
    given = {option: path for option, path in outputs.items() if path is not None}
    for option, path in given.items():
        _check_output(path, option, kinds.get(option, "image"))
    check_distinct(inputs, given)
    for option, path in given.items():
        check_writable(path, name=option)  # a real probe, now: permission bits do not tell (root, read-only mounts)


def save_map(change_map, path: PathArg, option: str) -> None:
    """``change_map.save(path)`` with errors (a full disk, a vanished folder) naming ``option``, not ``path``."""
    try:
        change_map.save(path)
    except OSError as error:
        message = str(error).removeprefix("path: ")
        renamed = type(error)(f"{option}: {message}")  # FileNotFoundError stays one, ...
        renamed.errno = error.errno
        raise renamed from error


def silence_stdout() -> None:
    """After a ``BrokenPipeError``: point stdout at devnull, so the interpreter's flush at exit cannot fail again.

    The recipe of the Python docs (``signal`` module, "Note on SIGPIPE"); a captured stdout (no file) is left.
    """
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
