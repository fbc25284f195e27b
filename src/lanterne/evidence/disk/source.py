"""Disk-image evidence: every file of every file system in a forensic image, deleted and
carved ones included.

Walk order (stable, so a resumed ingest meets the same entries in the same order): locked
volumes reported first, then each file system in the scanner's order — its allocated files,
its deleted files, then the pictures carved from the space no allocated file occupies.
Provenance: ``evidence → image ewf → volume gpt/p1 → ntfs Users/a/b.jpg`` (or
``… → volume gpt/p1 → carved carved-7340032.jpg`` with the byte offset in the volume).
Then the media outside every file system (unpartitioned space, deleted partitions, partition
tails) is carved, ``… → image raw → carved carved-N.jpg`` with N the offset in the media: the
whole media when no partition table or file system is recognised at all. Each file system's
carving, and the media's, runs on a thread of its own while the walk goes on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from dfvfs.lib import errors as dfvfs_errors

from lanterne.config import Limits
from lanterne.errors import NotMyFormat
from lanterne.evidence.base import Entry, EntryWarning, EvidenceSource, Item, bytes_opener
from lanterne.evidence.disk.carve import CarveStats, carve
from lanterne.evidence.disk.handles import Handles
from lanterne.evidence.disk.native import walk_native
from lanterne.evidence.disk.tsk import Coverage, TskWalk
from lanterne.evidence.disk.volumes import FileSystemVolume, media, scan_volumes
from lanterne.provenance import Provenance, Step

STAGE = "volume"
CARVED_EXTENSIONS = {"jpeg": "jpg", "png": "png", "gif": "gif"}


class DiskImageSource(EvidenceSource):
    NAME = "disk-image"

    def __init__(self, path: Path, limits: Limits | None = None, unlock: str | None = None):
        self.path = path
        self.limits = limits or Limits()
        self.unlock = unlock

    @classmethod
    def accepts(cls, path: Path) -> bool:
        if not path.is_file():
            return False
        try:
            scan_volumes(path)
        except NotMyFormat:
            return False
        return True

    def walk(self, root: Provenance) -> Iterator[Item]:
        handles = Handles()
        try:
            yield from self._walk(root, handles)
        finally:
            handles.close()

    def _walk(self, root: Provenance, handles: Handles) -> Iterator[Item]:
        try:
            scan = scan_volumes(self.path, self.unlock)
        except NotMyFormat as exc:
            yield EntryWarning(root, STAGE, "no-file-system", str(exc))
            yield from self._carve_media(root, handles, Coverage())
            return
        for locked in scan.locked:
            yield EntryWarning(
                (*root, *locked.steps),
                STAGE,
                "encrypted",
                f"{locked.encryption} volume not unlocked: register the item again with "
                "--unlock PASSWORD-OR-RECOVERY-KEY to read it",
            )
        if not scan.file_systems and not scan.locked:
            yield EntryWarning(
                (*root, Step("image", scan.image_format)),
                STAGE,
                "no-file-system",
                "no partition or volume holds a file system this version reads",
            )
            yield from self._carve_media(root, handles, Coverage())
        # the media's bytes outside every file system: unpartitioned space, deleted or
        # unrecognised partitions, partition tails (only when every file system's place in
        # the media is known, else carving the rest could find their files again)
        outside: Coverage | None = Coverage()
        carvers: list[_Background] = []
        try:
            for volume in scan.file_systems:
                carver, extent = yield from self._volume(volume, root, handles)
                if carver is not None:  # carve this volume while the next ones are read
                    carvers.append(_Background(carver))
                if outside is not None and volume.media_offset is not None and extent:
                    outside.add(volume.media_offset, volume.media_offset + extent)
                else:
                    outside = None
            if outside is not None and scan.file_systems:
                carvers.append(_Background(self._carve_media(root, Handles(), outside)))
            for background in carvers:
                yield from background
        finally:
            for background in carvers:
                background.close()

    def _carve_media(self, root: Provenance, handles: Handles, taken: Coverage) -> Iterator[Item]:
        """Pictures in the media (the whole acquired drive) outside ``taken``: everything when
        no partition table or file system is recognised (wiped or damaged)."""
        if not self.limits.carve:
            return
        fmt, spec = media(self.path)
        base = (*root, Step("image", fmt))
        try:
            size = int(handles.file_object(spec).get_size())
        except (dfvfs_errors.Error, OSError) as exc:
            yield EntryWarning(base, STAGE, "unreadable", f"cannot read the media: {exc}")
            return
        taken.freeze()
        yield from self._carve(base, handles, spec, taken, size)

    def _volume(
        self, volume: FileSystemVolume, root: Provenance, handles: Handles
    ) -> Generator[Item, None, tuple[Iterator[Item] | None, int | None]]:
        """Yields the volume's files; returns its carving, still to run, if any, and how many
        bytes from its start the file system spans."""
        if volume.uses_tsk:
            try:
                handles.tsk(volume)
            except (dfvfs_errors.Error, OSError) as exc:  # dfVFS' own back end may read it
                yield EntryWarning(
                    (*root, *volume.steps),
                    STAGE,
                    "no-deleted-entries",
                    f"The Sleuth Kit cannot read this file system ({exc}); allocated files "
                    "only, no deleted files, no carving",
                )
                yield from walk_native(volume, root, handles)
                return None, _size(handles, volume)
            walk = TskWalk(volume, root, handles)
            yield from walk.items()
            if not self.limits.carve:
                return None, walk.size
            base = (*root, *volume.steps)
            spec = volume.path_spec.parent
            return self._carve(base, Handles(), spec, walk.coverage, walk.size), walk.size
        yield from walk_native(volume, root, handles)
        return None, _size(handles, volume)

    def _carve(
        self, base: Provenance, handles: Handles, spec: Any, coverage: Coverage, size: int
    ) -> Iterator[Item]:
        """Pictures in the bytes of the volume at ``spec`` that ``coverage`` leaves free."""
        limits = self.limits
        f = handles.file_object(spec)

        def read_at(offset: int, length: int) -> bytes:
            f.seek(offset)
            data: bytes = f.read(length)
            return data

        stats = CarveStats()
        hits = carve(
            read_at,
            _capped(coverage.gaps(size), limits.carve_max_scan),
            max_size=limits.carve_max_size,
            max_hits=limits.carve_max_hits,
            stats=stats,
        )
        while True:
            try:
                hit = next(hits, None)
            except (dfvfs_errors.Error, OSError) as exc:  # damaged media: what was found stays
                yield EntryWarning(
                    (*base, Step("carved", "")), "carve", "unreadable", f"carving stopped: {exc}"
                )
                return
            if hit is None:
                break
            name = f"carved-{hit.offset}.{CARVED_EXTENSIONS.get(hit.kind, hit.kind)}"
            yield Entry(
                provenance=(*base, Step("carved", name, offset=hit.offset)),
                name=name,
                size=len(hit.data),
                opener=bytes_opener(hit.data),
                carved=True,
            )
        if stats.stopped_at_max_hits:
            yield EntryWarning(
                (*base, Step("carved", "")),
                "carve",
                "carve-limit",
                f"stopped after {limits.carve_max_hits} carved pictures (carve_max_hits)",
            )


class _Background:
    """Runs a volume's carving on a thread of its own, so that both cores work on one image
    (the reader threads on the next volumes' files, this one on free space); its items are
    handed over later, in their order. Bounded: it waits while a few items are unclaimed."""

    _END = object()

    def __init__(self, items: Iterator[Item], depth: int = 8) -> None:
        self._queue: queue.Queue[object] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), daemon=True)
        self._thread.name = "carve"
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Iterator[Item]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
        except Exception as exc:  # handed to the consumer, which records it
            self._put(exc)
        finally:
            self._put(self._END)

    def __iter__(self) -> Iterator[Item]:
        while (item := self._queue.get()) is not self._END:
            if isinstance(item, Exception):
                raise item
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()


def _size(handles: Handles, volume: FileSystemVolume) -> int | None:
    """The size of the volume holding a file system, in bytes (None when unreadable)."""
    try:
        return int(handles.file_object(volume.path_spec.parent).get_size())
    except (dfvfs_errors.Error, OSError):
        return None


def _capped(gaps: Iterator[tuple[int, int]], budget: int) -> Iterator[tuple[int, int]]:
    """The first ``budget`` bytes of the gaps."""
    for start, end in gaps:
        if budget <= 0:
            return
        end = min(end, start + budget)
        budget -= end - start
        yield start, end
