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

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from lanterne import provenance as prov
from lanterne.analyze.digest import ReadResult, digest_stream
from lanterne.analyze.filetype import TypeInfo, identify
from lanterne.case import schema
from lanterne.case.store import EvidenceRecord, KnownOccurrence
from lanterne.case.workspace import Case
from lanterne.errors import CorruptData
from lanterne.evidence.archive import open_container
from lanterne.evidence.base import Entry, EntryWarning, Item
from lanterne.evidence.registry import source_for
from lanterne.ingest.content import ContentResult, analyze_content, base_row, needs_analysis
from lanterne.ingest.rows import file_row, warning_row
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


@dataclass(eq=False)
class _Pending:
    """File rows waiting for their content's analysis to finish."""

    rows: list[tuple[_Frame, Entry, dict[str, Any]]] = field(default_factory=list)


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


class _ItemRun:
    """The ingest of one evidence item."""

    def __init__(self, ing: Ingestor, ev: EvidenceRecord) -> None:
        self.ing = ing
        self.ev = ev
        self.limits = ing.limits
        self.spool = ing.case.tmp / f"ingest-{os.getpid()}"
        self.writer = BatchWriter(ing.store)
        self.known: dict[str, KnownOccurrence] = {}
        self.contents: dict[str, str | None] = {}  # sha256 -> analysis error, for written ones
        self.pending: dict[str, _Pending] = {}  # sha256 -> rows waiting for its analysis
        self.files = self.bytes = self.new_contents = self.warnings = 0

    # ------------------------------------------------------------------ driver
    def go(self) -> None:
        store, ev = self.ing.store, self.ev
        shutil.rmtree(self.ing.case.tmp, ignore_errors=True)
        self.spool.mkdir(parents=True)
        store.set_evidence_status(ev.id, "ingesting")
        self.known = store.known_occurrences(ev.id)
        source = source_for(ev)
        root = _Frame(source.walk((Step("evidence", ev.label),)), depth=0)
        self.ing.progress.start(f"ingesting {ev.label}", ev.size)
        stack: list[_Frame] = [root]
        inflight: dict[Future[Any], Any] = {}
        try:
            with ThreadPoolExecutor(self.ing.workers, thread_name_prefix="ingest") as pool:
                self.pool = pool
                while stack or inflight:
                    while stack and len(inflight) < self.ing.max_inflight:
                        self._next_item(stack, inflight)
                    if inflight:
                        done, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED)
                        for fut in done:
                            self._completed(inflight.pop(fut), fut, stack, inflight)
                    self.writer.maybe_flush()
            self.writer.flush()
        finally:
            self.ing.progress.finish()
            shutil.rmtree(self.spool, ignore_errors=True)
        store.set_evidence_status(ev.id, "done")

    def _next_item(self, stack: list[_Frame], inflight: dict[Future[Any], Any]) -> None:
        frame = stack[-1]
        try:
            item = next(frame.items, None)
        except CorruptData as exc:  # the container could not be walked (further)
            self._warn(
                EntryWarning(
                    frame.entry.provenance if frame.entry else (), "archive", exc.reason, exc.detail
                )
            )
            item = None
        except OSError as exc:
            where = frame.entry.provenance if frame.entry else ()
            self._warn(EntryWarning(where, "read", "unreadable", exc.strerror or str(exc)))
            item = None
        if item is None:
            frame.exhausted = True
            stack.pop()
            self._maybe_finish(frame)
            return
        if isinstance(item, EntryWarning):
            self._warn(item)
            return
        key = prov.key(item.provenance)
        seen = self.known.get(key)
        if seen is not None:
            if seen.state == schema.STATE_OPEN and seen.container:
                self._descend(frame, item, key, seen.container, stack)
            else:
                item.release()
            return
        frame.outstanding += 1
        inflight[self.pool.submit(self._read, frame, item)] = None

    # ------------------------------------------------------------ worker tasks
    def _read(self, frame: _Frame, entry: Entry) -> _Read:
        r = _Read(frame, entry)
        try:
            with entry.open() as stream:
                r.result = digest_stream(stream, keep=KEEP_BYTES)
        except OSError as exc:
            r.error = exc.strerror or str(exc)
            return r
        except Exception as exc:  # a reader bug must cost one file, not the run
            r.error = f"internal error: {exc!r}"
            return r
        r.info = identify(r.result.head, entry.name, r.result.digests.size)
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
    def _completed(
        self, tag: Any, fut: Future[Any], stack: list[_Frame], inflight: dict[Future[Any], Any]
    ) -> None:
        if isinstance(tag, str):  # an analysis finished: tag is the SHA-256
            self._content_done(tag, fut.result())
            return
        r: _Read = fut.result()
        frame, entry = r.frame, r.entry
        self.files += 1
        if frame.depth == 0:
            self.ing.progress.advance(files=1, nbytes=entry.size or 0)
        else:
            self.ing.progress.advance(files=1)
        if r.error is not None or r.result is None or r.info is None:
            self._warn(EntryWarning(entry.provenance, "read", "unreadable", r.error or ""))
            self._emit_file(
                frame, entry, file_row(self.ev.id, entry, sha256=None, state=schema.STATE_UNREAD)
            )
            entry.release()
            return
        sha, info = r.result.digests.sha256, r.info
        self.bytes += r.result.digests.size
        container = info.container
        descend = container is not None
        if descend and frame.depth + 1 > self.limits.archive_max_depth:
            self._warn(
                EntryWarning(
                    entry.provenance,
                    "archive",
                    "archive-depth",
                    f"nested deeper than {self.limits.archive_max_depth} archives",
                )
            )
            descend = False
        key = prov.key(entry.provenance)
        row = file_row(
            self.ev.id,
            entry,
            sha256=sha,
            state=schema.STATE_OPEN if descend else schema.STATE_DONE,
            container=container,
            extension_mismatch=info.extension_mismatch,
        )
        self._place_file(frame, entry, row, r, inflight)
        if descend and container is not None:
            self._descend(frame, entry, key, container, stack)
        elif sha not in self.pending:  # its analysis (if any) no longer needs the bytes
            entry.release()

    def _place_file(
        self,
        frame: _Frame,
        entry: Entry,
        row: dict[str, Any],
        r: _Read,
        inflight: dict[Future[Any], Any],
    ) -> None:
        """Write the file row now if its content is recorded, else after its analysis."""
        assert r.result is not None and r.info is not None
        sha = row["sha256"]
        if sha in self.pending:
            self.pending[sha].rows.append((frame, entry, row))
            return
        if sha not in self.contents:
            self.contents.update(self.ing.store.existing_contents_errors([sha]))
        if sha in self.contents:
            self._emit_file(frame, entry, row, self.contents[sha])
            return
        self.new_contents += 1
        if needs_analysis(r.info):
            self.pending[sha] = _Pending([(frame, entry, row)])
            inflight[self.pool.submit(self._analyze, r)] = sha
        else:
            self.contents[sha] = None
            self.writer.add_content(base_row(r.result, r.info))
            self._emit_file(frame, entry, row)

    def _content_done(self, sha: str, result: ContentResult) -> None:
        self.contents[sha] = result.error
        self.writer.add_content(result.row)
        waiting = self.pending.pop(sha)
        for frame, entry, row in waiting.rows:
            self._emit_file(frame, entry, row, result.error, result.stage, result.detail)
            if row["state"] != schema.STATE_OPEN:
                entry.release()

    def _emit_file(
        self,
        frame: _Frame,
        entry: Entry,
        row: dict[str, Any],
        error: str | None = None,
        stage: str | None = None,
        detail: str = "",
    ) -> None:
        """Queue a file row (and its content's warning); the member now counts as written."""
        self.writer.add_file(row)
        if error is not None:
            kind = stage or "content"
            self._warn(EntryWarning(entry.provenance, kind, error, detail))
        frame.outstanding -= 1
        if row["state"] != schema.STATE_OPEN:  # an open container's own frame stands for it
            self._maybe_finish(frame)

    def _descend(
        self, frame: _Frame, entry: Entry, key: str, container: str, stack: list[_Frame]
    ) -> None:
        child = _Frame(
            open_container(entry, container, self.limits, self.spool),
            depth=frame.depth + 1,
            parent=frame,
            entry=entry,
            key=key,
        )
        frame.outstanding += 1
        stack.append(child)

    def _maybe_finish(self, frame: _Frame) -> None:
        while frame.exhausted and frame.outstanding == 0 and frame.entry is not None:
            assert frame.key is not None and frame.parent is not None
            self.writer.container_done(self.ev.id, frame.key)
            frame.entry.release()
            frame.entry = None
            parent = frame.parent
            parent.outstanding -= 1
            frame = parent

    def _warn(self, w: EntryWarning) -> None:
        self.warnings += 1
        self.writer.add_warning(warning_row(self.ev.id, w))
