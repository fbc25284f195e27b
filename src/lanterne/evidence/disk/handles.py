"""Per-thread handles on an image's file systems, and streams over their files.

dfVFS file objects and The Sleuth Kit's image layer keep a read position: one handle shared
by the pipeline's reader threads would interleave seeks. So each thread opens its own stack
(image → partition → file system) once per file system, with its own dfVFS resolver context,
and reads files through it. Opening is cheap next to reading; the handles live as long as
the thread.
"""

from __future__ import annotations

import bisect
import io
import itertools
import threading
from typing import Any

import pytsk3
from dfvfs.lib import definitions
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import context, resolver


class Handles:
    """Opens, per thread, the file systems (dfVFS and TSK) and volumes of one image."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _cache(self) -> dict[tuple[str, str], Any]:
        cache: dict[tuple[str, str], Any] | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = {}
            self._local.context = context.Context()
        return cache

    def file_system(self, path_spec: Any) -> Any:
        """The dfVFS file system at ``path_spec`` (any back end), opened in this thread."""
        cache = self._cache()
        key = ("fs", path_spec.comparable)
        if key not in cache:
            cache[key] = resolver.Resolver.OpenFileSystem(
                path_spec, resolver_context=self._local.context
            )
        return cache[key]

    def tsk(self, volume_spec: Any) -> Any:
        """The Sleuth Kit's ``FS_Info`` for the file system on the volume ``volume_spec``."""
        cache = self._cache()
        key = ("tsk", volume_spec.comparable)
        if key not in cache:
            spec = path_spec_factory.Factory.NewPathSpec(
                definitions.TYPE_INDICATOR_TSK, location="/", parent=volume_spec
            )
            cache[key] = self.file_system(spec).GetFsInfo()
        return cache[key]

    def file_object(self, spec: Any) -> Any:
        """A dfVFS file object over the bytes of a layer: the media, a volume (carving)."""
        cache = self._cache()
        key = ("bytes", spec.comparable)
        if key not in cache:
            cache[key] = resolver.Resolver.OpenFileObject(
                spec, resolver_context=self._local.context
            )
        return cache[key]

    def close(self) -> None:
        """Drop this thread's handles."""
        ctx = getattr(self._local, "context", None)
        if ctx is not None:
            ctx.Empty()
        self._local.__dict__.clear()


class _SizedStream(io.RawIOBase):
    """A read-only stream of known size that keeps its own position (subclasses read)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


class TskStream(_SizedStream):
    """A read-only stream over one attribute of a file, read through The Sleuth Kit."""

    def __init__(self, file: Any, size: int, attr_type: int | None, attr_id: int | None) -> None:
        super().__init__(size)
        self._file = file
        self._attr = (attr_type, attr_id)

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        attr_type, attr_id = self._attr
        if attr_type is None:
            data = self._file.read_random(self._pos, want)
        else:
            data = self._file.read_random(
                self._pos, want, attr_type, attr_id, pytsk3.TSK_FS_FILE_READ_FLAG_NONE
            )
        if not data:
            raise OSError(f"read failed at offset {self._pos} of {self._size}")
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n


class ExtentStream(_SizedStream):
    """A file read straight from the media: its data extents ``(media offset, length)`` in
    file order, read through the image layer (libewf, libsmraw … release the GIL while they
    read and decompress, The Sleuth Kit's Python-backed image reads do not)."""

    def __init__(self, media: Any, extents: list[tuple[int, int]]) -> None:
        self._starts = list(itertools.accumulate((n for _, n in extents), initial=0))
        super().__init__(self._starts[-1])
        self._media = media
        self._extents = extents

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        i = bisect.bisect_right(self._starts, self._pos) - 1
        at, length = self._extents[i]
        into = self._pos - self._starts[i]
        want = min(len(buffer), length - into)
        self._media.seek(at + into)
        data = self._media.read(want)
        if len(data) != want:
            raise OSError(f"media ends early: {len(data)} of {want} bytes at {at + into}")
        buffer[:want] = data
        self._pos += want
        return want


class DfvfsStream(io.RawIOBase):
    """A read-only stream over a dfVFS file object."""

    def __init__(self, file_object: Any) -> None:
        self._f = file_object

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._f.seek(offset, whence)
        return int(self._f.get_offset())

    def tell(self) -> int:
        return int(self._f.get_offset())

    def readinto(self, buffer: Any) -> int:
        data = self._f.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n
