"""A batch's output folder: finished items, per-item claims, and the ``results.jsonl`` log.

``OUTDIR/<id>/`` appears only whole: an item is written into ``OUTDIR/.partial/<id>.<pid>-<hex>/`` and renamed
onto ``OUTDIR/<id>/`` when every file is in it, so a killed run leaves no partial item folder (its leftover in
``.partial`` is removed by the next run that claims the item). An item is claimed with an exclusive ``flock`` on
``OUTDIR/.claims/<id>.lock``: the kernel drops the lock when its process dies (SIGKILL included), so a claim is
never stale and two runs on one OUTDIR, on this machine or on others sharing it over a file system with
working locks (local disks, NFSv4), never write the same item twice. ``results.jsonl`` gets one line per
attempt, appended with a single ``O_APPEND`` write; ``OUTDIR/.failed/<id>`` marks an item whose last attempt
failed, so the check under a claim is one ``stat``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["RESULTS", "BatchStore"]

RESULTS = "results.jsonl"
"""The log of a batch: one JSON object a line with ``id``, ``status``, ``error``, ``output``, ``seconds``."""


class BatchStore:
    """The output folder of a batch (created if missing).

    Args:
        outdir: ``OUTDIR``; its parent folder must exist.

    Raises:
        FileNotFoundError / NotADirectoryError: the parent is missing, or ``outdir`` is a file.
        OSError: a folder cannot be created (permission denied, read-only); the message names ``--output``.
    """

    def __init__(self, outdir: str | os.PathLike[str]) -> None:
        self.outdir = Path(outdir).absolute()  # the same records from every process and node, whatever its cwd
        if self.outdir.exists() and not self.outdir.is_dir():
            raise NotADirectoryError(f"--output: {self.outdir} is a file; expected a folder")
        if not self.outdir.parent.is_dir():
            raise FileNotFoundError(f"--output: folder does not exist: {self.outdir.parent}")
        for folder in (self.outdir, self.outdir / ".claims", self.outdir / ".partial", self.outdir / ".failed"):
            try:
                folder.mkdir(exist_ok=True)
            except OSError as error:  # read-only, permission denied, a file in the way: one line naming the flag
                raise type(error)(f"--output: cannot create {folder}: {error.strerror or error}") from error

    @property
    def results_path(self) -> Path:
        """``OUTDIR/results.jsonl``."""
        return self.outdir / RESULTS

    def item_folder(self, item_id: str) -> Path:
        """``OUTDIR/<id>``: present only when the item is complete."""
        return self.outdir / item_id

    def is_complete(self, item_id: str) -> bool:
        """Whether ``OUTDIR/<id>/`` exists (it appears whole, by a rename)."""
        return self.item_folder(item_id).is_dir()

    def records(self) -> dict[str, dict[str, Any]]:
        """``{id: last record}`` of ``results.jsonl``; lines that are not JSON objects (a torn last line of a
        killed run, say) are ignored."""
        latest: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(FileNotFoundError), open(self.results_path, encoding="utf-8") as handle:
            for text in handle:
                with contextlib.suppress(json.JSONDecodeError):
                    record = json.loads(text)
                    if isinstance(record, dict) and isinstance(record.get("id"), str):
                        latest[record["id"]] = record
        return latest

    def append(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one line to ``results.jsonl`` (one ``write`` of ``O_APPEND``: lines of runs
        appending at once do not interleave)."""
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
        fd = os.open(self.results_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            if end and os.pread(fd, 1, end - 1) != b"\n":
                line = b"\n" + line  # end the torn last line a killed run left (readers skip it)
            os.write(fd, line)  # no fsync: a line lost to a power cut is re-added by the next run (run_item)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def claim(self, item_id: str) -> Iterator[bool]:
        """Hold the item's lock within the block; yields False (and holds nothing) when another live process
        holds it."""
        path = self.outdir / ".claims" / f"{item_id}.lock"
        fd = _lock(path)
        if fd is None:
            yield False
            return
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())  # who holds it, for a human
            yield True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # before the unlock: a waiter then finds its file unlinked and retries
            os.close(fd)

    def has_failed(self, item_id: str) -> bool:
        """Whether the item's last attempt failed (``OUTDIR/.failed/<id>`` exists): one ``stat``, where reading
        ``results.jsonl`` for every item would cost a batch time quadratic in its size."""
        return (self.outdir / ".failed" / item_id).exists()

    def mark_failed(self, item_id: str, failed: bool) -> None:
        """Create (``failed``) or remove ``OUTDIR/.failed/<id>``; call within :meth:`claim`, after the log line."""
        marker = self.outdir / ".failed" / item_id
        if failed:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)

    def sweep_claims(self) -> None:
        """Remove the lock files that no live process holds (one a run killed between its item's log line and
        its unlock leaves); a held one is left alone."""
        for lock in (self.outdir / ".claims").glob("*.lock"):
            with self.claim(lock.name.removesuffix(".lock")):
                pass  # taking and releasing a free claim unlinks its file

    @contextlib.contextmanager
    def partial_folder(self, item_id: str) -> Iterator[Path]:
        """A fresh folder to write the item into (call within :meth:`claim`); removed on any error.

        Leftovers of killed runs for this item are removed first: the claim proves their writers are gone.
        """
        partial = self.outdir / ".partial"
        for leftover in partial.glob(f"{item_id}.*"):
            shutil.rmtree(leftover, ignore_errors=True)
        folder = partial / f"{item_id}.{os.getpid()}-{secrets.token_hex(4)}"
        folder.mkdir()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # gone already when it was renamed into place

    def publish(self, folder: Path, item_id: str) -> Path:
        """Rename the complete ``folder`` onto ``OUTDIR/<id>`` (atomic, one file system); returns the latter."""
        target = self.item_folder(item_id)
        os.rename(folder, target)  # refuses a non-empty target: a finished item is never replaced
        return target


def _lock(path: Path) -> int | None:
    """An open descriptor of ``path`` holding its exclusive ``flock``; None when another process holds it.

    A lock file unlinked by its previous holder between our open and our lock is a dead end (a new file may
    stand at the path, locked by a third process), so the inode is compared after locking and the open retried.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
