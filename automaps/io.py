"""Small file helpers: atomic writes, so a crash never leaves a half-written map or image behind."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, name: str = "path") -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path`` for binary writing; move it onto ``path`` on success.

    The temporary file lives in the same folder as ``path`` so that the final ``os.replace`` is an
    atomic rename on one file system: readers see either the old file or the complete new one. If the
    body raises, the temporary file is removed and ``path`` is left untouched.

    Args:
        path: Destination file. Its folder must exist (it is not created: a typo in a folder name should
            fail loudly rather than scatter folders).
        name: Parameter name used in error messages.

    Yields:
        A binary file object open for writing.

    Raises:
        FileNotFoundError: The destination folder does not exist (the message names ``path``).
        IsADirectoryError: ``path`` is an existing folder.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{name}: cannot save to {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{name}: cannot save to {path!r}: it is a folder")
    # os.open with 0o666 (not mkstemp's 0o600) so the final file gets the usual umask-based permissions.
    while True:
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 32 random bits collided; pick another name
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
