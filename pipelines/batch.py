"""``automaps batch``: many edits, resumable, on one process (``engine="local"``) or a Ray cluster (``"ray"``).

Each item is one :func:`pipelines.edit.edit` call with the arguments ``automaps edit`` would pass, so an item
and its seed give the same image bytes as ``automaps edit`` alone; an item without a seed gets
:func:`pipelines.batch_manifest.derived_seed` of its id (recorded in its ``edit.json``). Its files are written
as :meth:`pipelines.edit.EditResult.save` writes them, into a partial folder renamed onto ``OUTDIR/<id>/``
(:class:`pipelines.batch_store.BatchStore`). A failed item (bad image, missing map, a model error) is recorded
in ``results.jsonl`` and the run goes on; a missing model (``ModelNotAvailableError``) stops the run, since
every item would fail the same way.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.batch_manifest import BatchItem, derived_seed, in_shard
from pipelines.batch_store import BatchStore

__all__ = ["BatchSettings", "BatchSummary", "ItemOutcome", "pending_items", "preload_editor", "run_batch", "run_item"]


@dataclass(frozen=True)
class BatchSettings:
    """What every item of a batch shares: the ``automaps edit`` flags other than the item's own.

    Attributes:
        model: alias, hub id or folder of the diffusion model.
        steps: inference steps of items without their own.
        guidance_scale, crop, scheduler, device, torch_dtype, max_megapixels, invert_map: as :func:`edit`.
        map_models: ``{"clipseg" | "detector" | "segmenter" | "depth": id_or_folder}``.
    """

    model: str = "sd15"
    steps: int = 30
    guidance_scale: float | None = None
    crop: str = "auto"
    scheduler: str | None = None
    device: str | None = None
    torch_dtype: str | None = None
    max_megapixels: float | None = 1.0
    invert_map: bool = False
    map_models: Mapping[str, str] = field(default_factory=dict)

    def edit_arguments(self, item: BatchItem) -> dict[str, Any]:
        """The :func:`pipelines.edit.edit` keywords for ``item`` (image and instruction apart), as ``cmd_edit``
        builds them; the seed is the item's or :func:`derived_seed` of its id."""
        return dict(
            model=self.model, prompt=item.prompt, negative_prompt=item.negative_prompt,
            steps=self.steps if item.steps is None else item.steps, guidance_scale=self.guidance_scale,
            crop=self.crop, scheduler=self.scheduler, device=self.device, torch_dtype=self.torch_dtype, stages={},
            progress=False, max_megapixels=self.max_megapixels, change_map=item.change_map, region=item.region,
            strength=item.strength, seed=derived_seed(item.id) if item.seed is None else item.seed,
            map_models=dict(self.map_models), invert_map=self.invert_map and item.change_map is not None,
        )


@dataclass(frozen=True)
class ItemOutcome:
    """What happened to one item: ``status`` is ``"ok"``, ``"error"`` or ``"skipped"`` (done before, or claimed
    by another live run); ``output`` is ``OUTDIR/<id>`` when ok; ``error`` the one-line message."""

    id: str
    status: str
    error: str | None = None
    output: str | None = None
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        """The ``results.jsonl`` line: ``id``, ``status``, ``error``, ``output``, ``seconds``."""
        return {"id": self.id, "status": self.status, "error": self.error, "output": self.output,
                "seconds": round(self.seconds, 4)}


@dataclass
class BatchSummary:
    """Counts of a run: ``ok`` and ``failed`` (this run's attempts), ``skipped`` (done or failed before, other
    shards' items not counted), ``seconds`` (wall clock) and every attempted item's outcome."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    failed_before: int = 0
    seconds: float = 0.0
    outcomes: list[ItemOutcome] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every item of the shard is ok, 4 when some failed, in this run or before (skipped without
        ``retry_failed``): ``automaps batch``'s exit code."""
        return 4 if self.failed or self.failed_before else 0

    def line(self) -> str:
        """``"batch: 6 ok, 2 failed, 0 skipped in 3.1 s (2.58 items/s)"``, and the failures skipped."""
        rate = (self.ok + self.failed) / self.seconds if self.seconds > 0 else 0.0
        before = f" ({self.failed_before} failed before; --retry-failed reruns them)" if self.failed_before else ""
        return (f"batch: {self.ok} ok, {self.failed} failed, {self.skipped} skipped{before} in {self.seconds:.1f} s "
                f"({rate:.2f} items/s)")


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:2000]


def run_item(item: BatchItem, settings: BatchSettings, store: BatchStore, *, retry_failed: bool = False
             ) -> ItemOutcome:
    """Edit ``item`` into ``OUTDIR/<id>/`` under its claim and record the outcome in ``results.jsonl``.

    Skipped (nothing written) when its folder is complete, when its last record is an error and
    ``retry_failed`` is False, or when another live process holds its claim. A complete folder without an ``ok``
    record (a run killed between the rename and the log line) gets its record now.

    Returns:
        The outcome (``"skipped"`` ones are not logged).

    Raises:
        ModelNotAvailableError: a model is missing (every item would fail alike); nothing is recorded.
        KeyboardInterrupt: the partial folder is removed first.
    """
    from automaps.errors import ModelNotAvailableError
    from pipelines.edit import edit

    with store.claim(item.id) as held:
        if not held:
            return ItemOutcome(item.id, "skipped")
        # Checked again under the claim: another run may have finished or failed it since the dispatch.
        if store.is_complete(item.id):
            if store.records().get(item.id, {}).get("status") != "ok":  # rare: read the log only here
                store.append(ItemOutcome(item.id, "ok", output=str(store.item_folder(item.id))).record())
                store.mark_failed(item.id, False)
            return ItemOutcome(item.id, "skipped")
        if store.has_failed(item.id) and not retry_failed:
            return ItemOutcome(item.id, "skipped", error="failed in another run")
        started = time.perf_counter()
        try:
            with store.partial_folder(item.id) as partial:
                edit(item.image, item.instruction, **settings.edit_arguments(item)).save(partial)
                output = store.publish(partial, item.id)
            outcome = ItemOutcome(item.id, "ok", output=str(output), seconds=time.perf_counter() - started)
        except ModelNotAvailableError:
            raise
        except Exception as error:  # a per-item failure: recorded, the batch goes on
            outcome = ItemOutcome(item.id, "error", error=_one_line(error), seconds=time.perf_counter() - started)
        store.append(outcome.record())
        store.mark_failed(item.id, outcome.status == "error")
        return outcome


def pending_items(items: Iterable[BatchItem], store: BatchStore, *, shard: tuple[int, int] | None = None,
                  retry_failed: bool = False) -> tuple[list[BatchItem], int, int]:
    """The items of this shard still to do, how many of the shard's are done, and how many failed before (skipped
    without ``retry_failed``). Read once, before dispatch; :func:`run_item` checks again under each claim."""
    records = store.records()
    todo, done, failed_before = [], 0, 0
    for item in items:
        if shard is not None and not in_shard(item.id, shard):
            continue
        status = records.get(item.id, {}).get("status")
        complete = store.is_complete(item.id)
        if complete and status == "ok":
            done += 1
        elif status == "error" and not retry_failed and not complete:
            failed_before += 1
        else:
            todo.append(item)
    return todo, done, failed_before


def run_batch(items: Iterable[BatchItem], outdir: str | os.PathLike[str], settings: BatchSettings | None = None,
              *, engine: str = "local", workers: int = 1, gpus_per_worker: float = 0.0,
              shard: tuple[int, int] | None = None, retry_failed: bool = False, ray_address: str | None = None,
              progress: bool = True) -> BatchSummary:
    """Run every pending item of ``items`` (this ``shard``'s, ``(I, N)``) into ``outdir``.

    Args:
        items: from :func:`pipelines.batch_manifest.read_manifest`.
        outdir: the output folder (created; its parent must exist).
        settings: the shared edit flags (default :class:`BatchSettings`).
        engine: ``"local"`` (this process, models loaded once) or ``"ray"`` (:mod:`pipelines.batch_ray`).
        workers, gpus_per_worker: Ray actors and the GPUs each holds (``engine="ray"``).
        shard: ``(I, N)``: only the items with ``sha256(id) mod N == I``.
        retry_failed: rerun the items whose last record is an error.
        ray_address: join this Ray cluster instead of starting a local one.
        progress: a progress bar with ETA and the summary line on stderr.

    Returns:
        :class:`BatchSummary` (``exit_code`` 4 when some item failed).

    Raises:
        ValueError: an unknown engine or a bad ``workers`` / ``gpus_per_worker``.
        ModelNotAvailableError: a model is missing.
    """
    if engine not in ("local", "ray"):
        raise ValueError(f"--engine: expected local or ray, got {engine!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers: expected an integer >= 1, got {workers!r}")
    if not gpus_per_worker >= 0:
        raise ValueError(f"--gpus-per-worker: expected a number >= 0, got {gpus_per_worker!r}")
    settings = settings or BatchSettings()
    store = BatchStore(outdir)
    todo, done, failed_before = pending_items(items, store, shard=shard, retry_failed=retry_failed)
    if todo:
        from pipelines.checks import check_model

        check_model(settings.model)  # a missing model fails here once (exit code 3), not on every item
    started = time.perf_counter()
    if engine == "local":
        if todo:
            preload_editor(settings)
        outcomes = _local(todo, settings, store, retry_failed)
    else:
        from pipelines.batch_ray import ray_outcomes

        outcomes = ray_outcomes(todo, settings, store.outdir, retry_failed=retry_failed, workers=workers,
                                gpus_per_worker=gpus_per_worker, address=ray_address)
    summary = BatchSummary(skipped=done + failed_before, failed_before=failed_before)
    from tqdm.auto import tqdm

    with tqdm(total=len(todo), desc="batch", unit="item", file=sys.stderr, disable=not progress) as bar:
        for outcome in outcomes:
            _count(summary, outcome)
            bar.update()
            bar.set_postfix(ok=summary.ok, failed=summary.failed, refresh=False)
    summary.seconds = time.perf_counter() - started
    store.sweep_claims()
    if progress:
        print(f"{summary.line()}; results in {store.results_path}", file=sys.stderr)
    return summary


def preload_editor(settings: BatchSettings) -> None:
    """Load the editor now (cached by :func:`pipelines.models.load_editor` under the key :func:`edit` uses), so
    the first item's time and the bar's ETA do not include it."""
    from automaps.hub import quiet_libraries
    from pipelines.models import load_editor

    with quiet_libraries(progress=False):
        load_editor(settings.model, device=settings.device, torch_dtype=settings.torch_dtype,
                    scheduler=settings.scheduler, progress=False)


def _local(todo: list[BatchItem], settings: BatchSettings, store: BatchStore, retry_failed: bool):
    from automaps.hub import quiet_libraries

    with quiet_libraries(progress=False):  # the batch's bar only: no loading or denoising bars per item
        for item in todo:
            yield run_item(item, settings, store, retry_failed=retry_failed)


def _count(summary: BatchSummary, outcome: ItemOutcome) -> None:
    summary.outcomes.append(outcome)
    if outcome.status == "ok":
        summary.ok += 1
    elif outcome.status == "error":
        summary.failed += 1
    else:
        summary.skipped += 1
        summary.failed_before += outcome.error is not None  # its failure was recorded by another run meanwhile
