"""Walking a file system with The Sleuth Kit: allocated files, deleted ones, and what is left.

dfVFS' own back ends omit deleted directory entries; The Sleuth Kit (reached through dfVFS' TSK
file system, ``GetFsInfo()``) lists them with their name flags (see ../shared/FORENSICS.md).
The walk:

1. Directories depth-first in name order (stable for resume), each regular file's data
   attributes as entries (NTFS alternate data streams are files ``name:stream``). Every byte
   range an allocated file's data occupies is added to a :class:`Coverage` map.
2. Deleted entries (a name or an MFT/inode record marked unallocated, and the orphans TSK lists
   under ``$OrphanFiles``) are kept aside until the walk ends, then checked against the map: a
   deleted file whose data blocks now hold an allocated file's data, or whose metadata was
   reused, or whose block list is gone (ext4 zeroes it) cannot be read reliably and becomes a
   warning, never a wrong hash. The others are ingested with ``deleted`` set.
3. The gaps of the map — unallocated space and the slack after each file's last byte — are
   what the carver scans (see :mod:`.source`).

Directory loops (a damaged or hostile file system) are detected by directory metadata address
and reported once; virtual entries (``$MBR``, ``$FAT1`` …) are skipped.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

import numpy as np
import pytsk3

from lanterne.evidence.base import Entry, EntryWarning, Item
from lanterne.evidence.disk.handles import ExtentStream, Handles, TskStream
from lanterne.evidence.disk.volumes import FileSystemVolume
from lanterne.provenance import Provenance, Step, decode_name

STAGE = "filesystem"
READ_SIZE = 1 << 20
ORPHANS = "$OrphanFiles"
"""TSK's virtual folder of deleted files no directory entry names any more."""
FAT_LABEL = " (Volume Label Entry)"
"""TSK lists a FAT volume label as an empty file with this suffix."""
MAX_DEPTH = 512
"""Directories nested deeper than this are not entered (a loop the address check missed)."""

_FS_NAMES = {
    pytsk3.TSK_FS_TYPE_NTFS: "ntfs",
    pytsk3.TSK_FS_TYPE_FAT12: "fat12",
    pytsk3.TSK_FS_TYPE_FAT16: "fat16",
    pytsk3.TSK_FS_TYPE_FAT32: "fat32",
    pytsk3.TSK_FS_TYPE_EXFAT: "exfat",
    pytsk3.TSK_FS_TYPE_EXT2: "ext2",
    pytsk3.TSK_FS_TYPE_EXT3: "ext3",
    pytsk3.TSK_FS_TYPE_EXT4: "ext4",
    pytsk3.TSK_FS_TYPE_HFS: "hfs",
    pytsk3.TSK_FS_TYPE_APFS: "apfs",
    pytsk3.TSK_FS_TYPE_ISO9660: "iso9660",
    pytsk3.TSK_FS_TYPE_FFS1: "ufs1",
    pytsk3.TSK_FS_TYPE_FFS1B: "ufs1",
    pytsk3.TSK_FS_TYPE_FFS2: "ufs2",
}
_DATA_ATTRS = {
    int(pytsk3.TSK_FS_ATTR_TYPE_DEFAULT),
    int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA),
    int(pytsk3.TSK_FS_ATTR_TYPE_HFS_DATA),
    int(pytsk3.TSK_FS_ATTR_TYPE_APFS_DATA),
}
_SKIPPED_RUNS = int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE) | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER)
_META_ALLOC = int(pytsk3.TSK_FS_META_FLAG_ALLOC)
_META_UNALLOC = int(pytsk3.TSK_FS_META_FLAG_UNALLOC)
_NAME_UNALLOC = int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
_RESIDENT = int(pytsk3.TSK_FS_ATTR_RES)
_TRANSFORMED = int(pytsk3.TSK_FS_ATTR_COMP) | int(pytsk3.TSK_FS_ATTR_ENC)


class Coverage:
    """Byte ranges of a volume that hold allocated files' data (half-open, volume-relative)."""

    def __init__(self) -> None:
        self._ranges: list[tuple[int, int]] = []
        self._starts = np.zeros(0, dtype=np.int64)
        self._ends = np.zeros(0, dtype=np.int64)

    def add(self, start: int, end: int) -> None:
        if end > start:
            self._ranges.append((start, end))

    def freeze(self) -> None:
        """Sort and merge the ranges added since the last call into the map (queries see the
        map as of the last call)."""
        if not self._ranges:
            return
        old = list(zip(self._starts.tolist(), self._ends.tolist(), strict=True))
        arr = np.array(sorted(self._ranges + old), dtype=np.int64)
        self._ranges = []
        starts, ends = arr[:, 0], np.maximum.accumulate(arr[:, 1])
        new = np.ones(len(arr), dtype=bool)
        new[1:] = starts[1:] > ends[:-1]
        groups = np.cumsum(new) - 1
        self._starts = starts[new]
        self._ends = np.zeros(len(self._starts), dtype=np.int64)
        np.maximum.at(self._ends, groups, ends)

    def overlaps(self, start: int, end: int) -> bool:
        i = int(np.searchsorted(self._ends, start, side="right"))
        return i < len(self._starts) and int(self._starts[i]) < end

    def gaps(self, size: int) -> Iterator[tuple[int, int]]:
        """The ranges of ``[0, size)`` no allocated data covers."""
        pos = 0
        for s, e in zip(self._starts.tolist(), self._ends.tolist(), strict=True):
            if s > pos:
                yield pos, min(s, size)
            pos = max(pos, e)
            if pos >= size:
                return
        if pos < size:
            yield pos, size


@dataclass(slots=True)
class _Stream:
    """One data attribute of a file: what to read and where its bytes lie."""

    suffix: str
    attr_type: int | None
    attr_id: int | None
    size: int
    ranges: list[tuple[int, int]]
    resident: bool
    direct: bool = False
    """``ranges`` are, in order, exactly the file's bytes (no sparse run, no compression or
    encryption): it can be read straight from the media, without The Sleuth Kit."""


@dataclass(frozen=True, slots=True)
class _Folder:
    directory: Any
    path: str
    depth: int
    deleted: bool
    """The folder itself is deleted: everything it still lists is."""


@dataclass(slots=True)
class _Deleted:
    chain: Provenance
    name: str
    addr: int
    stream: _Stream
    times: dict[str, datetime | None]
    reused_meta: bool


@dataclass(slots=True)
class TskWalk:
    """The walk of one file system; after :meth:`items` is exhausted, :attr:`coverage` holds
    every allocated file's data and :attr:`size` the volume's size in bytes."""

    volume: FileSystemVolume
    root: Provenance
    handles: Handles
    coverage: Coverage = field(default_factory=Coverage)
    size: int = 0
    kind: str = "fs"

    def items(self) -> Iterator[Item]:
        fs = self.handles.tsk(self.volume)
        info = fs.info
        self.size = int(info.block_count) * int(info.block_size)
        self.kind = _FS_NAMES.get(info.ftype, str(info.ftype).lower().replace("tsk_fs_type_", ""))
        block = int(info.block_size)
        deleted: list[_Deleted] = []
        visited: set[int] = set()
        stack = [_Folder(fs.open_dir(inode=info.root_inum), "", 0, False)]
        visited.add(int(info.root_inum))
        while stack:
            folder = stack.pop()
            subdirs: list[_Folder] = []
            yield from self._directory(folder, block, deleted, visited, subdirs)
            stack.extend(reversed(subdirs))
        self.coverage.freeze()
        recovered = []
        for d in deleted:
            item = self._deleted_item(d)
            if isinstance(item, Entry):
                recovered.extend(d.stream.ranges)
            yield item
        for start, end in recovered:  # recovered with their names: not carved again
            self.coverage.add(start, end)
        self.coverage.freeze()

    # -------------------------------------------------------------- directory
    def _directory(
        self,
        folder: _Folder,
        block: int,
        deleted: list[_Deleted],
        visited: set[int],
        subdirs: list[_Folder],
    ) -> Iterator[Item]:
        directory, rel, depth = folder.directory, folder.path, folder.depth
        try:
            files = sorted(
                (f for f in directory if f.info.name.name not in (b".", b"..")),
                key=lambda f: (bytes(f.info.name.name), int(f.info.name.flags)),
            )
        except OSError as exc:
            yield EntryWarning(self._chain(rel or "."), STAGE, "unreadable", str(exc))
            return
        for f in files:
            text, raw = decode_name(bytes(f.info.name.name))
            path = f"{rel}/{text}" if rel else text
            chain = self._chain(path, raw)
            meta = f.info.meta
            name_deleted = folder.deleted or bool(int(f.info.name.flags) & _NAME_UNALLOC)
            if meta is None and rel == ORPHANS:  # TSK lists orphans without their records
                f, meta = self._orphan(f)
            if meta is None:
                if name_deleted:
                    yield EntryWarning(chain, STAGE, "deleted-no-metadata", "name only survives")
                else:
                    yield EntryWarning(
                        chain, STAGE, "unreadable", "the entry's metadata record cannot be read"
                    )
                continue
            mtype = meta.type
            if mtype == pytsk3.TSK_FS_META_TYPE_DIR or mtype == pytsk3.TSK_FS_META_TYPE_VIRT_DIR:
                addr = int(meta.addr)
                gone = name_deleted or bool(int(meta.flags) & _META_UNALLOC)
                if not gone:
                    self._note_ranges(f, block)
                if addr in visited:
                    yield EntryWarning(
                        chain, STAGE, "directory-loop", f"folder meta {addr} already walked"
                    )
                    continue
                if depth + 1 > MAX_DEPTH:
                    yield EntryWarning(chain, STAGE, "too-deep", f"deeper than {MAX_DEPTH}")
                    continue
                visited.add(addr)
                try:  # a deleted folder is walked too: what it still lists is deleted
                    subdirs.append(_Folder(f.as_directory(), path, depth + 1, gone))
                except OSError as exc:
                    if not gone:
                        yield EntryWarning(chain, STAGE, "unreadable", f"cannot list: {exc}")
                continue
            if mtype != pytsk3.TSK_FS_META_TYPE_REG or text.endswith(FAT_LABEL):
                continue  # links, devices, virtual files ($MBR, $FAT1), the FAT volume label
            is_deleted = name_deleted or bool(int(meta.flags) & _META_UNALLOC) or rel == ORPHANS
            reused = name_deleted and bool(int(meta.flags) & _META_ALLOC)
            try:
                streams = _streams(f, meta, block)
            except OSError as exc:
                yield EntryWarning(chain, STAGE, "unreadable", f"cannot read metadata: {exc}")
                continue
            if not streams:
                continue  # no data attribute (NTFS $Extend/$Quota …, unused records)
            times = _times(meta)
            for s in streams:
                sub_chain = chain if not s.suffix else self._chain(path + s.suffix, raw)
                name = text + s.suffix
                if is_deleted:
                    deleted.append(_Deleted(sub_chain, name, int(meta.addr), s, times, reused))
                    continue
                for start, end in s.ranges:
                    self.coverage.add(start, end)
                yield self._entry(sub_chain, name, int(meta.addr), s, times, deleted=False)

    def _orphan(self, f: Any) -> tuple[Any, Any]:
        """An orphan's file and metadata, opened by its record address (None when unusable)."""
        try:
            opened = self.handles.tsk(self.volume).open_meta(inode=f.info.name.meta_addr)
        except OSError:
            return f, None
        return opened, opened.info.meta

    def _note_ranges(self, f: Any, block: int) -> None:
        """Folders' own blocks are allocated data too."""
        try:
            for s in _streams(f, f.info.meta, block, folders=True):
                for start, end in s.ranges:
                    self.coverage.add(start, end)
        except OSError:
            return

    # ---------------------------------------------------------------- entries
    def _deleted_item(self, d: _Deleted) -> Item:
        s = d.stream
        if d.reused_meta:
            return EntryWarning(
                d.chain,
                STAGE,
                "deleted-overwritten",
                "its metadata record now belongs to another file",
            )
        if not s.resident and not s.ranges:
            return EntryWarning(
                d.chain,
                STAGE,
                "deleted-content-lost",
                "the file system no longer records its data (size "
                f"{s.size}, no blocks); carving may still find it",
            )
        if any(self.coverage.overlaps(a, b) for a, b in s.ranges):
            return EntryWarning(
                d.chain,
                STAGE,
                "deleted-overwritten",
                "its former data blocks now hold another file's data",
            )
        return self._entry(d.chain, d.name, d.addr, s, d.times, deleted=True)

    def _entry(
        self,
        chain: Provenance,
        name: str,
        addr: int,
        s: _Stream,
        times: dict[str, datetime | None],
        deleted: bool,
    ) -> Entry:
        handles, volume = self.handles, self.volume
        size, attr_type, attr_id = s.size, s.attr_type, s.attr_id
        media, base = self.volume.media_spec, self.volume.media_offset
        if s.direct and media is not None and base is not None and not deleted:
            extents = [(base + start, end - start) for start, end in s.ranges]

            def opener() -> BinaryIO:
                return io.BufferedReader(ExtentStream(handles.media(media), extents))

        else:

            def opener() -> BinaryIO:
                f = handles.tsk(volume).open_meta(inode=addr)
                return io.BufferedReader(TskStream(f, size, attr_type, attr_id), READ_SIZE)

        return Entry(
            provenance=chain,
            name=name,
            size=size,
            opener=opener,
            deleted=deleted,
            mtime=times["mtime"],
            atime=times["atime"],
            ctime=times["ctime"],
            crtime=times["crtime"],
        )

    def _chain(self, path: str, raw: str | None = None) -> Provenance:
        return (*self.root, *self.volume.steps, Step(self.kind, path, raw))


def _streams(f: Any, meta: Any, block: int, folders: bool = False) -> list[_Stream]:
    """The data attributes of a file (the unnamed one first, then named streams), with the
    volume byte ranges their data occupies (slack excluded)."""
    streams: list[_Stream] = []
    for attr in f:
        ai = attr.info
        if int(ai.type) not in _DATA_ATTRS and not folders:
            continue
        name = ai.name.decode("utf-8", "backslashreplace") if ai.name else ""
        if name == "$Bad":
            continue  # NTFS $BadClus:$Bad: sparse, the size of the volume
        size = int(ai.size)
        resident = bool(int(ai.flags) & _RESIDENT)
        ranges: list[tuple[int, int]] = []
        direct = not resident and not int(ai.flags) & _TRANSFORMED
        if not resident:
            for run in attr:
                if int(run.flags) & _SKIPPED_RUNS or not run.len:
                    direct = direct and not run.len
                    continue
                used = min(int(run.len) * block, size - int(run.offset) * block)
                if used > 0:
                    direct = direct and int(run.offset) * block == sum(e - s for s, e in ranges)
                    start = int(run.addr) * block
                    ranges.append((start, start + used))
        direct = direct and sum(e - s for s, e in ranges) == size
        suffix = f":{name}" if name and not folders else ""
        streams.append(_Stream(suffix, int(ai.type), int(ai.id), size, ranges, resident, direct))
    streams.sort(key=lambda s: (s.suffix != "", s.suffix))
    if streams and not streams[0].suffix and len(streams) == 1:
        streams[0].attr_type = streams[0].attr_id = None  # the default attribute
    return streams


def _times(meta: Any) -> dict[str, datetime | None]:
    def at(seconds: int, nanos: int) -> datetime | None:
        if not seconds:
            return None
        try:
            return datetime.fromtimestamp(seconds + nanos / 1e9, UTC)
        except (OverflowError, OSError, ValueError):
            return None

    return {
        "mtime": at(meta.mtime, meta.mtime_nano),
        "atime": at(meta.atime, meta.atime_nano),
        "ctime": at(meta.ctime, meta.ctime_nano),
        "crtime": at(meta.crtime, meta.crtime_nano),
    }
