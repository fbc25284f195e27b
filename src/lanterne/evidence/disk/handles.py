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
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pytsk3
from dfvfs.lib import definitions
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import context, resolver

from lanterne.evidence.disk.volumes import FileSystemVolume


class Handles:
    """Opens, per thread, the file systems (dfVFS and TSK) and volumes of one image."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _opened(self, kind: str, spec: Any, opener: Callable[[Any], Any]) -> Any:
        """This thread's handle of ``kind`` on ``spec``, opened on first use."""
        cache: dict[tuple[str, str], Any] | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = {}
            self._local.context = context.Context()
        key = (kind, spec.comparable)
        if key not in cache:
            cache[key] = opener(spec)
        return cache[key]

    def file_system(self, path_spec: Any) -> Any:
        """The dfVFS file system at ``path_spec`` (any back end), opened in this thread."""
        return self._opened(
            "fs",
            path_spec,
            lambda spec: resolver.Resolver.OpenFileSystem(
                spec, resolver_context=self._local.context
            ),
        )

    def file_object(self, spec: Any) -> Any:
        """A dfVFS file object over the bytes of a layer: the media, a volume (carving)."""
        return self._opened(
            "bytes",
            spec,
            lambda s: resolver.Resolver.OpenFileObject(s, resolver_context=self._local.context),
        )

    def media(self, spec: Any) -> MediaReader:
        """A cached reader of the media (the image layer) at ``spec``, for this thread."""
        reader: MediaReader = self._opened(
            "media", spec, lambda s: MediaReader(self.file_object(s))
        )
        return reader

    def tsk(self, volume: FileSystemVolume) -> Any:
        """The Sleuth Kit's ``FS_Info`` for the file system of ``volume``: over the cached
        media reader when its place in the media is known, else through dfVFS' layers."""

        def open_tsk(volume_spec: Any) -> Any:
            if volume.media_spec is not None and volume.media_offset is not None:
                image = _TskImage(self.media(volume.media_spec))
                return pytsk3.FS_Info(image, offset=volume.media_offset)
            spec = path_spec_factory.Factory.NewPathSpec(
                definitions.TYPE_INDICATOR_TSK, location="/", parent=volume_spec
            )
            return self.file_system(spec).GetFsInfo()

        return self._opened("tsk", volume.path_spec.parent, open_tsk)

    def close(self) -> None:
        """Drop this thread's handles."""
        ctx = getattr(self._local, "context", None)
        if ctx is not None:
            ctx.Empty()
        self._local.__dict__.clear()


class MediaReader:
    """Reads of an image's media at offsets, small ones served from aligned blocks it keeps.

    The Sleuth Kit's metadata reads and the small files of a disk come mostly in allocation
    order, a few KiB at a time; every read of a compressed EWF chunk costs an inflate of the
    whole 32 KiB chunk (libewf's own deflate in the PyPI build, ~15x slower than zlib), so
    small reads are served from 64 KiB blocks (two chunks) kept in a small LRU, and each
    chunk is inflated about once. Large reads bypass the blocks. One reader per thread.
    """

    BLOCK = 64 << 10
    BLOCKS = 256

    def __init__(self, file_object: Any) -> None:
        self._f = file_object
        self.size = int(file_object.get_size())
        self._blocks: OrderedDict[int, bytes] = OrderedDict()

    def read_at(self, offset: int, length: int) -> bytes:
        if length <= 0 or offset >= self.size:
            return b""
        length = min(length, self.size - offset)
        if length >= self.BLOCK:
            return self._read(offset, length)
        first, last = offset // self.BLOCK, (offset + length - 1) // self.BLOCK
        if first == last:
            start = offset - first * self.BLOCK
            return self._block(first)[start : start + length]
        parts = [self._block(i) for i in range(first, last + 1)]
        start = offset - first * self.BLOCK
        return b"".join(parts)[start : start + length]

    def _block(self, index: int) -> bytes:
        block = self._blocks.get(index)
        if block is None:
            block = self._read(index * self.BLOCK, min(self.BLOCK, self.size - index * self.BLOCK))
            self._blocks[index] = block
            if len(self._blocks) > self.BLOCKS:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(index)
        return block

    def _read(self, offset: int, length: int) -> bytes:
        self._f.seek(offset)
        data: bytes = self._f.read(length)
        if len(data) != length:
            raise OSError(f"media ends early: {len(data)} of {length} bytes at {offset}")
        return data


class _TskImage(pytsk3.Img_Info):  # type: ignore[misc]
    """The media as The Sleuth Kit's image, read through a :class:`MediaReader`."""

    def __init__(self, reader: MediaReader) -> None:
        self._reader = reader
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset: int, size: int) -> bytes:
        return self._reader.read_at(offset, size)

    def get_size(self) -> int:
        return self._reader.size

    def close(self) -> None:
        return None


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

    def __init__(self, media: MediaReader, extents: list[tuple[int, int]]) -> None:
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
        buffer[:want] = self._media.read_at(at + into, want)
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
