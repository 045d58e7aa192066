"""Small file helpers: atomic writes, so a crash never leaves a half-written map or image behind.

Every write goes to a hidden temporary file beside the destination (``.<name>.<pid>-<random>.tmp``) and is
renamed onto it only when complete. A run that is killed outright (SIGKILL, power loss) cannot remove its
temporary file; the next write to the same destination removes such leftovers once their process is gone and
they are older than :data:`STALE_SECONDS`. The destination itself is never partial: it is the old file or the
complete new one.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["STALE_SECONDS", "atomic_write", "check_writable", "remove_stale_temporaries"]

STALE_SECONDS = 600.0
"""Age after which a dead process's temporary file is removed. The age check (beside the process check) keeps
a write on another machine sharing the folder (NFS), whose process id means nothing here, from being disturbed."""


def _temporary_name(path: str) -> str:
    return f".{os.path.basename(path)}.{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: an existence check, nothing is sent
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[str]:
    """Remove the temporary files that killed writes to ``path`` left beside it.

    A file is removed when its name is ``.<basename>.<pid>-<hex>.tmp``, process ``pid`` is not running and the
    file is older than :data:`STALE_SECONDS`. Errors (another process removed it first) are ignored.

    Returns:
        The removed files' paths.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(re.escape(f".{os.path.basename(path)}.") + r"(\d+)-[0-9a-f]{8}\.tmp$")
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = pattern.match(entry.name)
            if not match or int(match.group(1)) == os.getpid() or _process_alive(int(match.group(1))):
                continue
            with contextlib.suppress(OSError):
                if time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                    os.unlink(entry.path)
                    removed.append(entry.path)
    return removed


def _check_folder(path: str, name: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{name}: cannot save to {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{name}: cannot save to {path!r}: it is a folder")
    return folder


def _create(folder: str, path: str, name: str) -> tuple[int, str]:
    """Create a fresh temporary file in ``folder``; errors name the parameter and the folder."""
    # os.open with 0o666 (not mkstemp's 0o600) so the final file gets the usual umask-based permissions.
    while True:
        tmp = os.path.join(folder, _temporary_name(path))
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 32 random bits collided; pick another name
            continue
        except PermissionError as error:
            raise PermissionError(f"{name}: cannot write to folder {folder!r}: permission denied") from error
        except OSError as error:  # read-only file system, no space left, ...
            raise OSError(f"{name}: cannot write to folder {folder!r}: {error.strerror or error}") from error


def check_writable(path: str | os.PathLike[str], *, name: str = "path") -> None:
    """Fail now, before minutes of work, if ``path`` could not be written by :func:`atomic_write`.

    Creates and removes one empty temporary file in the destination folder (permission bits alone do not
    tell: root ignores them, read-only mounts do not show in them).

    Raises:
        FileNotFoundError: the folder does not exist.
        IsADirectoryError: ``path`` is a folder.
        PermissionError / OSError: the folder is not writable (the message names ``name``).
    """
    path = os.fspath(path)
    fd, tmp = _create(_check_folder(path, name), path, name)
    os.close(fd)
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, name: str = "path") -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path`` for binary writing; move it onto ``path`` on success.

    The temporary file lives in the same folder as ``path`` so that the final ``os.replace`` is an
    atomic rename on one file system: readers see either the old file or the complete new one. If the
    body raises (or the run is interrupted with Ctrl-C), the temporary file is removed and ``path`` is left
    untouched; leftovers of killed runs are removed by the next write to ``path`` (see the module docstring).

    Args:
        path: Destination file. Its folder must exist (it is not created: a typo in a folder name should
            fail loudly rather than scatter folders).
        name: Parameter name used in error messages.

    Yields:
        A binary file object open for writing.

    Raises:
        FileNotFoundError: The destination folder does not exist (the message names ``path``).
        IsADirectoryError: ``path`` is an existing folder.
        PermissionError / OSError: The folder is not writable (the message names ``name``).
    """
    path = os.fspath(path)
    folder = _check_folder(path, name)
    remove_stale_temporaries(path)
    fd, tmp = _create(folder, path, name)
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
