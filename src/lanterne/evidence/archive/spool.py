"""Spools: a member's bytes, written once, held in memory or past a limit in a temporary file.

Only the walk creates spools, and it owns each one (in its :class:`SpoolKeeper`) until it hands
it over inside the member's Entry; from then on the consumer releases it.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from lanterne.evidence.base import Entry, path_opener

CHUNK = 1 << 20
MEMORY_BUDGET = 4
"""Members held in memory by one walk (a 7z solid block) stay under this × spool_in_memory."""


class SpoolKeeper:
    """The spools one walk still owns, and the memory they hold together."""

    def __init__(self, in_memory: int, folder: Path) -> None:
        self.in_memory, self.folder = in_memory, folder
        self.owned: set[Spool] = set()
        self.memory = 0

    def hand_over(self, spool: Spool) -> None:
        """``spool`` is the consumer's from now on: it releases it, not the walk."""
        self.owned.discard(spool)

    def release_all(self) -> None:
        for spool in list(self.owned):
            spool.release()


class Spool:
    """One member's bytes, written once: in memory, or past the limit in a temporary file."""

    def __init__(self, keeper: SpoolKeeper) -> None:
        self._keeper = keeper
        self._memory: io.BytesIO | None = io.BytesIO()
        self._file: BinaryIO | None = None
        self._data: bytes | None = None
        self.path: Path | None = None
        self.size = 0
        self.released = False
        keeper.owned.add(self)

    def write(self, chunk: bytes | bytearray) -> None:
        keeper, n = self._keeper, len(chunk)
        if self._memory is not None:
            limit = keeper.in_memory
            if self.size + n <= limit and keeper.memory + n <= MEMORY_BUDGET * limit:
                self._memory.write(chunk)
                keeper.memory += n
                self.size += n
                return
            fd, name = tempfile.mkstemp(prefix="member-", suffix=".spool", dir=keeper.folder)
            self.path, self._file = Path(name), os.fdopen(fd, "wb")
            self._file.write(self._memory.getbuffer())
            keeper.memory -= self.size
            self._memory = None
        assert self._file is not None
        self._file.write(chunk)
        self.size += n

    def finish(self) -> Spool:
        if self._memory is not None:
            self._data, self._memory = self._memory.getvalue(), None
        if self._file is not None:
            self._file.close()
        return self

    def open(self) -> BinaryIO:
        if self.released:
            raise ValueError("archive member already released")
        if self.path is not None:
            return open(self.path, "rb")
        return io.BytesIO(self._data or b"")

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self._keeper.owned.discard(self)
        if self.path is None:
            self._keeper.memory -= self.size
        else:
            if self._file is not None:
                self._file.close()
            self.path.unlink(missing_ok=True)
        self._data = self._memory = None


@contextmanager
def random_access(entry: Entry, keeper: SpoolKeeper) -> Iterator[BinaryIO]:
    """A seekable stream of the container (spooled first if its source cannot seek)."""
    stream = path_opener(entry.local_path)() if entry.local_path else entry.open()
    with stream:
        if stream.seekable():
            yield stream
            return
        copy = Spool(keeper)
        while chunk := stream.read(CHUNK):
            copy.write(chunk)
    try:
        with copy.finish().open() as seekable:
            yield seekable
    finally:
        copy.release()
