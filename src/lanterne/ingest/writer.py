"""Batching of the pipeline's rows into store transactions (one writer, bounded loss on crash)."""

from __future__ import annotations

import time
from typing import Any

from lanterne.case.store import Batch, CaseStore


class BatchWriter:
    """Collects rows and writes them in order, in transactions of bounded size and age.

    A crash loses at most the rows not yet flushed; the next run redoes exactly those.
    """

    def __init__(self, store: CaseStore, max_rows: int = 2000, max_age: float = 2.0) -> None:
        self.store = store
        self.max_rows = max_rows
        self.max_age = max_age
        self.batch = Batch()
        self.started = time.monotonic()

    def add_content(self, row: dict[str, Any]) -> None:
        self.batch.contents.append(row)

    def add_file(self, row: dict[str, Any]) -> None:
        self.batch.files.append(row)

    def add_warning(self, row: dict[str, Any]) -> None:
        self.batch.warnings.append(row)

    def add_app(self, row: dict[str, Any]) -> None:
        self.batch.apps.append(row)

    def add_frames(self, rows: list[dict[str, Any]]) -> None:
        self.batch.frames.extend(rows)

    def container_done(self, evidence_id: int, key: str) -> None:
        self.batch.containers_done.append((evidence_id, key))

    def maybe_flush(self) -> None:
        if len(self.batch) >= self.max_rows or (
            len(self.batch) and time.monotonic() - self.started >= self.max_age
        ):
            self.flush()

    def flush(self) -> None:
        self.store.write(self.batch)
        self.batch = Batch()
        self.started = time.monotonic()
