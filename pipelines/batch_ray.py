"""``automaps batch --engine ray``: Ray Data over the manifest, an actor pool holding the loaded models.

The pending items become a dataset (``ray.data.from_items``, one JSON row each); ``map_batches`` sends them, one
at a time, to ``workers`` actors (``concurrency=workers``, ``num_gpus=gpus_per_worker`` each). Each actor loads
the editor in its constructor and keeps it and the map models (cached by :func:`pipelines.edit.edit`) for every
item it gets, and writes its items itself with the same claims and atomic renames as the local engine
(:func:`pipelines.batch.run_item`), so the output folder must be shared by every node of a cluster. The driver
only streams the outcomes back for the progress bar and the summary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipelines.batch import BatchSettings, ItemOutcome, run_item
from pipelines.batch_manifest import BatchItem
from pipelines.batch_store import BatchStore

__all__ = ["EditActor", "ray_outcomes"]


class EditActor:
    """A Ray Data callable class: built once per actor (the editor loads here), called with batches of items.

    Args:
        settings: :class:`pipelines.batch.BatchSettings` as a dict.
        outdir: the batch's output folder (shared by every node).
        retry_failed: rerun items whose last record is an error.
    """

    def __init__(self, settings: dict[str, Any], outdir: str, retry_failed: bool) -> None:
        from pipelines.batch import preload_editor

        self.settings = BatchSettings(**settings)
        self.store = BatchStore(outdir)
        self.retry_failed = retry_failed
        preload_editor(self.settings)  # once per actor; the map models are cached by edit() on first use

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        """``{"item": [json, ...]}`` -> ``{"outcome": [json, ...]}`` (:meth:`ItemOutcome.record` each)."""
        from automaps.hub import quiet_libraries

        outcomes = []
        with quiet_libraries(progress=False):
            for text in batch["item"]:
                fields = json.loads(str(text))
                outcome = run_item(BatchItem(**fields), self.settings, self.store, retry_failed=self.retry_failed)
                outcomes.append(json.dumps(outcome.record()))
        return {"outcome": outcomes}


def ray_outcomes(todo: list[BatchItem], settings: BatchSettings, outdir: str | os.PathLike[str], *,
                 retry_failed: bool, workers: int, gpus_per_worker: float, address: str | None
                 ) -> Iterator[ItemOutcome]:
    """Run ``todo`` on Ray; yields each item's outcome as its actor finishes it.

    A local Ray (``ray.init(num_cpus=workers)``) is started unless one is running in this process or
    ``address`` names a cluster to join; one started here is shut down at the end.

    Raises:
        ImportError: Ray is not installed (``pip install 'automaps[ray]'``).
    """
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise ImportError("--engine ray: Ray is not installed; pip install 'automaps[ray]'") from error
    if not todo:
        return
    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"address": address} if address else {"num_cpus": workers}
        ray.init(**options, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    import logging

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # no INFO lines about the dataset between our bar's
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the batch's own bar counts items; Ray's would count blocks
        dataset = ray.data.from_items([{"item": json.dumps(item.to_dict())} for item in todo],
                                      override_num_blocks=min(len(todo), 200))
        mapped = dataset.map_batches(
            EditActor, batch_size=1, concurrency=workers, num_cpus=1, num_gpus=gpus_per_worker or None,
            fn_constructor_kwargs={"settings": asdict(settings), "outdir": str(Path(outdir).absolute()),
                                   "retry_failed": retry_failed})
        for row in mapped.iter_rows():
            yield ItemOutcome(**{key: value for key, value in json.loads(row["outcome"]).items()})
    finally:
        if started_here:
            ray.shutdown()
