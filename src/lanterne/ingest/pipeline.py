"""The ingest pipeline: every file of every registered item, read once, recorded once.

Shape of a run, per evidence item::

    source.walk() ──► read task (thread pool: one pass → MD5/SHA-1/SHA-256, head, small bytes)
         ▲                 │
         │  members        ▼
    open_container ◄── main thread: type by signature; new SHA-256? ──► analysis task (pool)
                           │                                                │
                           ▼                                                ▼
                      BatchWriter ◄──────────── file rows wait for their content row

Threads, not processes: hashlib, zlib/lzma and Pillow release the GIL for the heavy work, so
two cores are used without copying bytes between processes.

Crash safety: a file row is written only in the batch that writes its content row or after it;
a container's row stays ``open`` until every member row is written, and a resumed run walks
``open`` containers again. Every insert ignores rows already there. So ``kill -9`` at any moment
followed by another run gives exactly the rows of an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from lanterne import provenance as prov
from lanterne.analyze.digest import ReadResult, digest_stream
from lanterne.analyze.filetype import TypeInfo, identify
from lanterne.case import schema
from lanterne.case.store import EvidenceRecord, KnownOccurrence
from lanterne.case.workspace import Case
from lanterne.errors import CorruptData
from lanterne.evidence.apps import app_markers
from lanterne.evidence.archive import open_container
from lanterne.evidence.base import Entry, EntryWarning, Item
from lanterne.evidence.registry import source_for
from lanterne.ingest.content import ContentResult, analyze_content, base_row, needs_analysis
from lanterne.ingest.rows import app_row, file_row, warning_row
from lanterne.ingest.writer import BatchWriter
from lanterne.progress import NoProgress, Progress
from lanterne.provenance import Step

KEEP_BYTES = 32 << 20
"""The digest pass keeps contents up to this size in memory, so pictures are not read twice."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    items: int
    files: int
    bytes: int
    new_contents: int
    warnings: int


@dataclass(eq=False)
class _Frame:
    """One level of the walk: the item's own walk, or the members of one container."""

    items: Iterator[Item]
    depth: int
    parent: _Frame | None = None
    entry: Entry | None = None
    key: str | None = None
    outstanding: int = 0
    exhausted: bool = False


@dataclass(eq=False)
class _Read:
    """A file read by a worker: its entry, digests and type, or the error that stopped it."""

    frame: _Frame
    entry: Entry
    result: ReadResult | None = None
    info: TypeInfo | None = None
    error: str | None = None
    child: _Frame | None = None
    """For a container being walked: the frame of its members."""


class Ingestor:
    def __init__(self, case: Case, workers: int | None = None, progress: Progress | None = None):
        self.case = case
        self.store = case.store
        self.limits = case.limits
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.progress = progress or NoProgress()
        self.max_inflight = self.workers * 4

    def run(self, labels: list[str] | None = None) -> IngestResult:
        """Ingest every registered item not yet done (or those named)."""
        todo = [
            ev
            for ev in self.store.list_evidence()
            if (labels is None or ev.label in labels) and ev.status != "done"
        ]
        totals = [0, 0, 0, 0]
        for ev in todo:
            run = _ItemRun(self, ev)
            run.go()
            for i, n in enumerate((run.files, run.bytes, run.new_contents, run.warnings)):
                totals[i] += n
        return IngestResult(len(todo), *totals)

    def ingest_entries(self, ev: EvidenceRecord, items: Iterator[Item], task: str) -> IngestResult:
        """Ingest files an importer found in an item (a chat database's attachments): read,
        analysed and recorded like the item's own files, each with its own provenance; the
        item's ingest status is left as it is."""
        run = _ItemRun(self, ev, items, task)
        run.go()
        return IngestResult(1, run.files, run.bytes, run.new_contents, run.warnings)


class _ItemRun:
    """The ingest of one evidence item."""

    def __init__(
        self,
        ing: Ingestor,
        ev: EvidenceRecord,
        items: Iterator[Item] | None = None,
        task: str | None = None,
    ) -> None:
        self.ing = ing
        self.ev = ev
        self.items = items
        """Given: these entries, not the item's walk (and the item's status is not touched)."""
        self.task = task or f"ingesting {ev.label}"
        self.limits = ing.limits
        self.spool = ing.case.tmp / f"ingest-{os.getpid()}"
        self.writer = BatchWriter(ing.store, self.limits.batch_rows, self.limits.batch_seconds)
        self.known: dict[str, KnownOccurrence] = {}
        self.contents: dict[str, str | None] = {}  # sha256 -> analysis error, for written ones
        # sha256 -> file rows waiting for that content's analysis
        self.pending: dict[str, list[tuple[_Read, dict[str, Any]]]] = {}
        self.unplaced: list[tuple[_Read, dict[str, Any]]] = []  # read, content not yet looked up
        self.unplaced_bytes = 0
        self.placed_at = time.monotonic()
        self.stack: list[_Frame] = []
        self.inflight: dict[Future[Any], str | None] = {}  # analysis futures carry the SHA-256
        self.files = self.bytes = self.new_contents = self.warnings = 0

    # ------------------------------------------------------------------ driver
    def go(self) -> None:
        store, ev = self.ing.store, self.ev
        shutil.rmtree(self.ing.case.tmp, ignore_errors=True)
        self.spool.mkdir(parents=True)
        whole = self.items is None
        if whole:
            store.set_evidence_status(ev.id, "ingesting")
            items = source_for(ev, self.limits).walk((Step("evidence", ev.label),))
        else:
            assert self.items is not None
            items = self.items
        self.known = store.known_occurrences(ev.id)
        self.stack = [_Frame(items, depth=0)]
        self.ing.progress.start(self.task, ev.size if whole else None)
        try:
            with ThreadPoolExecutor(self.ing.workers, thread_name_prefix="ingest") as pool:
                self.pool = pool
                while self.stack or self.inflight or self.unplaced:
                    while self.stack and len(self.inflight) < self.ing.max_inflight:
                        self._next_item()
                    if self.inflight:
                        done, _ = wait(self.inflight, timeout=0.5, return_when=FIRST_COMPLETED)
                        for fut in done:
                            self._completed(self.inflight.pop(fut), fut)
                    self._place_unplaced(force=not self.stack or not self.inflight)
                    self.writer.maybe_flush()
            self.writer.flush()
        finally:
            self.ing.progress.finish()
            shutil.rmtree(self.spool, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.ing.case.tmp.rmdir()  # only when empty: another run may be spooling there
        if whole:
            store.set_evidence_status(ev.id, "done")

    def _next_item(self) -> None:
        frame = self.stack[-1]
        where = frame.entry.provenance if frame.entry else (Step("evidence", self.ev.label),)
        try:
            item = next(frame.items, None)
        except CorruptData as exc:  # the container could not be walked (further)
            self._warn(EntryWarning(where, "archive", exc.reason, exc.detail))
            item = None
        except OSError as exc:
            self._warn(EntryWarning(where, "read", "unreadable", exc.strerror or str(exc)))
            item = None
        except Exception as exc:  # a reader bug must cost one container, not the run
            self._warn(
                EntryWarning(where, "walk", "internal-error", f"{type(exc).__name__}: {exc}")
            )
            item = None
        if item is None:
            frame.exhausted = True
            self.stack.pop()
            self._maybe_finish(frame)
            return
        if isinstance(item, EntryWarning):
            self._warn(item)
            return
        for marker in app_markers(item.provenance):
            self.writer.add_app(app_row(self.ev.id, item, marker.app, marker.marker))
        key = prov.key(item.provenance)
        seen = self.known.get(key)
        if seen is not None:
            if seen.state == schema.STATE_OPEN and seen.container:
                self._descend(frame, item, key, seen.container)
            else:
                item.release()
            return
        frame.outstanding += 1
        self.inflight[self.pool.submit(self._read, frame, item)] = None

    # ------------------------------------------------------------ worker tasks
    def _read(self, frame: _Frame, entry: Entry) -> _Read:
        r = _Read(frame, entry)
        keep = KEEP_BYTES if entry.size is None or entry.size <= KEEP_BYTES else 0
        try:
            with entry.open() as stream:
                r.result = digest_stream(stream, keep=keep)
            r.info = identify(r.result.head, entry.name, r.result.digests.size)
        except OSError as exc:
            r.error = exc.strerror or str(exc)
        except Exception as exc:  # a reader bug must cost one file, not the run
            r.error = f"{type(exc).__name__}: {exc}"
        return r

    def _analyze(self, r: _Read) -> ContentResult:
        assert r.result is not None and r.info is not None
        sha = r.result.digests.sha256
        try:
            return analyze_content(
                r.entry, r.result, r.info, self.limits, self.ing.case.thumbnail_path(sha)
            )
        except Exception as exc:  # a decoder bug must cost one content, not the run
            row = base_row(r.result, r.info)
            row["error"] = "analysis-failed"
            return ContentResult(row, r.info.kind, repr(exc))

    # ------------------------------------------------------------- completions
    def _completed(self, sha: str | None, fut: Future[Any]) -> None:
        if sha is not None:  # an analysis finished
            self._content_done(sha, fut.result())
            return
        r: _Read = fut.result()
        frame, entry = r.frame, r.entry
        self.files += 1
        self.ing.progress.advance(files=1, nbytes=(entry.size or 0) if frame.depth == 0 else 0)
        if r.error is not None or r.result is None or r.info is None:
            self._warn(EntryWarning(entry.provenance, "read", "unreadable", r.error or ""))
            self._emit_file(r, file_row(self.ev.id, entry, sha256=None, state=schema.STATE_UNREAD))
            entry.release()
            return
        self.bytes += r.result.digests.size
        container = r.info.container
        if container is not None and frame.depth + 1 > self.limits.archive_max_depth:
            limit = self.limits.archive_max_depth
            self._warn(
                EntryWarning(
                    entry.provenance,
                    "archive",
                    "archive-depth",
                    f"nested deeper than {limit} archives",
                )
            )
            container = None
        row = file_row(
            self.ev.id,
            entry,
            sha256=r.result.digests.sha256,
            state=schema.STATE_OPEN if container else schema.STATE_DONE,
            container=r.info.container,
            extension_mismatch=r.info.extension_mismatch,
        )
        self.unplaced.append((r, row))
        self.unplaced_bytes += len(r.result.data or b"")
        if container is not None:
            r.child = self._descend(frame, entry, row["provenance_key"], container)
            r.child.outstanding += 1  # its members are not done before its own row is written

    def _place_unplaced(self, force: bool) -> None:
        """Look up, in one query, which read contents the store already has; place their rows.

        Batched because a query per file would make the single writer thread the bottleneck.
        """
        if not self.unplaced or not (
            force
            or len(self.unplaced) >= 512
            or self.unplaced_bytes >= 128 << 20
            or time.monotonic() - self.placed_at > 0.5
        ):
            return
        unknown = {
            row["sha256"]
            for _, row in self.unplaced
            if row["sha256"] not in self.contents and row["sha256"] not in self.pending
        }
        if unknown:
            self.contents.update(self.ing.store.existing_contents_errors(unknown))
        batch, self.unplaced, self.unplaced_bytes = self.unplaced, [], 0
        self.placed_at = time.monotonic()
        for r, row in batch:
            self._place_file(r, row)

    def _place_file(self, r: _Read, row: dict[str, Any]) -> None:
        """Write the file row now if its content is recorded, else after its analysis."""
        assert r.result is not None and r.info is not None
        sha = row["sha256"]
        if sha in self.pending:
            self.pending[sha].append((r, row))
        elif sha in self.contents:
            self._emit_file(r, row, self.contents[sha])
        elif needs_analysis(r.info):
            self.new_contents += 1
            self.pending[sha] = [(r, row)]
            self.inflight[self.pool.submit(self._analyze, r)] = sha
            return  # the analysis still needs the entry's bytes
        else:
            self.new_contents += 1
            self.contents[sha] = None
            self.writer.add_content(base_row(r.result, r.info))
            self._emit_file(r, row)
        if r.child is None:
            r.entry.release()

    def _content_done(self, sha: str, result: ContentResult) -> None:
        self.contents[sha] = result.error
        self.writer.add_content(result.row)
        self.writer.add_frames(result.frames)
        for r, row in self.pending.pop(sha):
            self._emit_file(r, row, result.error, result.stage, result.detail)
            if r.child is None:
                r.entry.release()

    def _emit_file(
        self,
        r: _Read,
        row: dict[str, Any],
        error: str | None = None,
        stage: str | None = None,
        detail: str = "",
    ) -> None:
        """Queue a file row (and its content's warning): the file counts as written."""
        self.writer.add_file(row)
        if error is not None:
            self._warn(EntryWarning(r.entry.provenance, stage or "content", error, detail))
        r.frame.outstanding -= 1
        if r.child is not None:
            r.child.outstanding -= 1
            self._maybe_finish(r.child)
        else:
            self._maybe_finish(r.frame)

    def _descend(self, frame: _Frame, entry: Entry, key: str, container: str) -> _Frame:
        child = _Frame(
            open_container(entry, container, self.limits, self.spool),
            depth=frame.depth + 1,
            parent=frame,
            entry=entry,
            key=key,
        )
        frame.outstanding += 1
        self.stack.append(child)
        return child

    def _maybe_finish(self, frame: _Frame | None) -> None:
        """Close finished container frames, innermost first, marking their rows done."""
        while (
            frame is not None
            and frame.exhausted
            and frame.outstanding == 0
            and frame.entry is not None
        ):
            assert frame.key is not None
            self.writer.container_done(self.ev.id, frame.key)
            frame.entry.release()
            frame.entry = None
            if frame.parent is not None:
                frame.parent.outstanding -= 1
            frame = frame.parent

    def _warn(self, w: EntryWarning) -> None:
        self.warnings += 1
        self.writer.add_warning(warning_row(self.ev.id, w))
