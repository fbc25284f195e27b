"""Walking a file system through dfVFS' own back ends (libfsapfs, libfsxfs, libfsext …).

Used for the file systems The Sleuth Kit does not read (APFS volumes dfVFS unlocks, XFS) and
as the fallback when TSK fails on one it should read. These back ends list allocated entries
only: deleted files and carving need the TSK walk (:mod:`.tsk`). Every data stream of a file
is an entry (``name:stream`` for named ones).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from dfvfs.lib import errors

from lanterne.evidence.base import Entry, EntryWarning, Item
from lanterne.evidence.disk.handles import DfvfsStream, Handles
from lanterne.evidence.disk.tsk import MAX_DEPTH, READ_SIZE, STAGE
from lanterne.evidence.disk.volumes import FILE_SYSTEM_TYPES, FileSystemVolume
from lanterne.provenance import Provenance, Step, decode_name


def walk_native(volume: FileSystemVolume, root: Provenance, handles: Handles) -> Iterator[Item]:
    kind = FILE_SYSTEM_TYPES.get(volume.type_indicator, volume.type_indicator.lower())
    base = (*root, *volume.steps)
    fs = handles.file_system(volume.path_spec)
    top = fs.GetRootFileEntry()
    if top is None:
        yield EntryWarning((*base, Step(kind, ".")), STAGE, "unreadable", "no root folder")
        return
    seen: set[object] = set()
    stack: list[tuple[Any, str, int]] = [(top, "", 0)]
    while stack:
        directory, rel, depth = stack.pop()
        try:
            children = sorted(directory.sub_file_entries, key=lambda e: _raw_name(e.name))
        except (errors.Error, OSError) as exc:
            yield EntryWarning((*base, Step(kind, rel or ".")), STAGE, "unreadable", str(exc))
            continue
        subdirs = []
        for child in children:
            text, raw = decode_name(_raw_name(child.name))
            path = f"{rel}/{text}" if rel else text
            chain = (*base, Step(kind, path, raw))
            if child.IsDirectory():
                ident = _identity(child.path_spec)
                if ident in seen or depth + 1 > MAX_DEPTH:
                    yield EntryWarning(chain, STAGE, "directory-loop", "folder already walked")
                    continue
                seen.add(ident)
                subdirs.append((child, path, depth + 1))
            elif child.IsFile():
                opener = _opener(handles, volume.path_spec, child.path_spec)
                yield from _file_entries(child, chain, text, opener, kind, path, raw, base)
        stack.extend(reversed(subdirs))


def _file_entries(
    entry: Any,
    chain: Provenance,
    text: str,
    opener: Callable[[str], Callable[[], BinaryIO]],
    kind: str,
    path: str,
    raw: str | None,
    base: Provenance,
) -> Iterator[Item]:
    times = {
        "mtime": _time(entry.modification_time),
        "atime": _time(entry.access_time),
        "ctime": _time(entry.change_time),
        "crtime": _time(entry.creation_time),
    }
    streams = sorted((ds.name or "" for ds in entry.data_streams), key=lambda n: (n != "", n))
    for stream in streams:
        sub = chain if not stream else (*base, Step(kind, f"{path}:{stream}", raw))
        size = int(entry.size) if not stream else None
        yield Entry(
            provenance=sub,
            name=text + (f":{stream}" if stream else ""),
            size=size,
            opener=opener(stream),
            mtime=times["mtime"],
            atime=times["atime"],
            ctime=times["ctime"],
            crtime=times["crtime"],
        )


def _opener(handles: Handles, fs_spec: Any, spec: Any) -> Callable[[str], Callable[[], BinaryIO]]:
    """Openers of a file's data streams, each reading through the calling thread's handles."""

    def for_stream(stream: str) -> Callable[[], BinaryIO]:
        def opener() -> BinaryIO:
            entry = handles.file_system(fs_spec).GetFileEntryByPathSpec(spec)
            if entry is None:
                raise OSError(f"file entry vanished: {getattr(spec, 'location', '?')}")
            stream_object = entry.GetFileObject(data_stream_name=stream)
            return io.BufferedReader(DfvfsStream(stream_object), READ_SIZE)

        return opener

    return for_stream


def _identity(spec: Any) -> object:
    """What names a folder whatever the path it is reached by (its inode or identifier)."""
    for attribute in ("inode", "identifier", "mft_entry"):
        value = getattr(spec, attribute, None)
        if value is not None:
            return (attribute, value)
    return spec.comparable


def _raw_name(name: str | bytes | None) -> bytes:
    if isinstance(name, bytes):
        return name
    return (name or "").encode("utf-8", "surrogateescape")


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        micros = value.GetPlasoTimestamp()
    except (AttributeError, ValueError, OverflowError):
        return None
    if not micros:
        return None
    try:
        return datetime.fromtimestamp(micros / 1e6, UTC)
    except (OverflowError, OSError, ValueError):
        return None
