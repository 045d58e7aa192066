"""Small file helpers: atomic writes, so a crash never leaves a half-written map or image behind.

Every write goes to a hidden temporary file beside the destination (``.<name>.<pid>-<random>.tmp``) and is
renamed onto it only when complete. A run that is killed outright (SIGKILL, power loss) cannot remove its
temporary file; the next write to the same destination removes such leftovers once their process is gone and
they are older than :data:`STALE_SECONDS`. The destination itself is never partial: it is the old file or the
complete new one. A temporary name always fits in ``NAME_MAX`` (255 bytes): a long base name is shortened and a
hash of the whole name keeps it distinct. SIGTERM unwinds like Ctrl-C inside :func:`sigterm_interrupts`, so its
temporary file is removed too.

Paths are compared by :func:`path_identity` (the resolved path and, for an existing file, ``(st_dev, st_ino)``,
so hard links and symbolic links count as the same file); :func:`check_distinct` refuses an output that is an
input or another output of the same run. Special files (FIFOs, devices, sockets) and symbolic-link loops are
named by :func:`stat_path` / :func:`special_kind` in one line instead of hanging or raising a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import signal
import stat
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO

__all__ = [
    "NAME_MAX", "STALE_SECONDS", "Terminated", "atomic_write", "check_distinct", "check_writable", "path_identity",
    "remove_stale_temporaries", "sigterm_interrupts", "special_kind", "stat_path",
]

NAME_MAX = 255
"""Longest file name in bytes on the usual file systems (ext4, XFS, btrfs, APFS, NTFS); temporary names fit."""

STALE_SECONDS = 600.0
"""Age after which a dead process's temporary file is removed. The age check (beside the process check) keeps
a write on another machine sharing the folder (NFS), whose process id means nothing here, from being disturbed."""


# The longest suffix a temporary name adds after its prefix: "<pid, at most 10 digits>-<8 hex>.tmp".
_SUFFIX_BYTES = 10 + 1 + 8 + 4


def _temporary_prefix(path: str) -> str:
    """``.<basename>.``, with a long basename cut and followed by ``~<hash>`` so the whole name fits NAME_MAX."""
    base = os.path.basename(path)
    room = NAME_MAX - _SUFFIX_BYTES - 2  # the two dots
    if len(os.fsencode(base)) <= room:
        return f".{base}."
    digest = hashlib.sha256(os.fsencode(base)).hexdigest()[:8]  # distinct long names stay distinct
    cut = os.fsencode(base)[: room - 9].decode("utf-8", "ignore")  # "ignore": a character cut in half is dropped
    return f".{cut}~{digest}."


def _temporary_name(path: str) -> str:
    return f"{_temporary_prefix(path)}{os.getpid()}-{secrets.token_hex(4)}.tmp"


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
    pattern = re.compile(re.escape(_temporary_prefix(path)) + r"(\d+)-[0-9a-f]{8}\.tmp$")
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


def stat_path(path: str | os.PathLike[str], name: str) -> os.stat_result | None:
    """``os.stat(path)`` following symbolic links; None when nothing is there (or a link points nowhere).

    Raises:
        ValueError: ``path`` is, or passes through, a symbolic-link loop (``Path.resolve`` would raise
            ``RuntimeError``); the message names ``name``.
        OSError: another reason it cannot be looked at (permission denied), naming ``name`` and ``path``.
    """
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ValueError(f"{name}: {os.fspath(path)} is a symbolic link loop") from error
        raise OSError(f"{name}: cannot look at {os.fspath(path)}: {error.strerror or error}") from error


def special_kind(status: os.stat_result) -> str | None:
    """``"a folder"``, ``"a FIFO"``, ``"a device"``, ``"a socket"`` for what is not a regular file, else None."""
    mode = status.st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"  # pragma: no cover - door, whiteout, ...


def path_identity(path: str | os.PathLike[str], name: str) -> tuple[str, tuple[int, int] | None]:
    """What makes two paths the same file: the resolved path and, if the file exists, ``(st_dev, st_ino)``.

    The inode catches hard links and bind mounts, the resolved path catches ``a/../b`` and symbolic links to a
    file that does not exist yet.

    Raises:
        ValueError: a symbolic-link loop (see :func:`stat_path`).
    """
    status = stat_path(path, name)
    resolved = os.path.realpath(path)  # never raises: a loop ends where it loops (stat_path reported it)
    return resolved, None if status is None else (status.st_dev, status.st_ino)


def check_distinct(
    inputs: Mapping[str, str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None],
    outputs: Mapping[str, str | os.PathLike[str] | None],
) -> None:
    """Refuse an output that is an input, or another output, of the same run (same resolved path or inode).

    Args:
        inputs: ``{option: path}`` of the files a run reads (a value may be several paths, or None: unused).
        outputs: ``{option: path}`` of the files it writes (None: not asked for), in the order they are named.

    Raises:
        ValueError: ``"<option>: refusing to overwrite an input file: <path> is also <input option>"`` or
            ``"<option>: <path> is also <other output option>"``; or a symbolic-link loop.
    """
    seen: list[tuple[str, bool, str, tuple[int, int] | None]] = []
    for option, value in inputs.items():
        paths = [] if value is None else [value] if isinstance(value, str | os.PathLike) else list(value)
        seen += [(option, True, *path_identity(path, option)) for path in paths]
    for option, path in outputs.items():
        if path is None:
            continue
        resolved, inode = path_identity(path, option)
        for other, is_input, other_resolved, other_inode in seen:
            if resolved == other_resolved or (inode is not None and inode == other_inode):
                if is_input:
                    raise ValueError(f"{option}: refusing to overwrite an input file: {os.fspath(path)} is also "
                                     f"{other} (inputs are never overwritten, even with --overwrite)")
                raise ValueError(f"{option}: {os.fspath(path)} is also {other}")
        seen.append((option, False, resolved, inode))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so ``finally`` blocks and :func:`atomic_write`'s cleanup run."""


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``) like Ctrl-C does.

    Python's default for SIGTERM is to die at once, leaving a hidden temporary file behind. Outside the main
    thread (where handlers cannot be set) this does nothing. The previous handler is restored on exit.
    """

    def terminate(signum: int, frame: object) -> None:
        raise Terminated("terminated")

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
         errno.EROFS: "read-only file system"}


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
            reason = _FULL.get(error.errno, error.strerror or str(error))
            raise OSError(f"{name}: cannot write to folder {folder!r}: {reason}") from error


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
        PermissionError / OSError: The folder is not writable (the message names ``name``); the disk is full,
            over quota or read-only (``"NAME: cannot write PATH: no space left on device"``, ``errno`` kept).
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
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.errno in _FULL:  # "[Errno 28]" names neither option nor file
            full = OSError(f"{name}: cannot write {path}: {_FULL[error.errno]}")
            full.errno = error.errno  # (not .filename: str() would turn into "[Errno 28] None: ...")
            raise full from error
        raise
