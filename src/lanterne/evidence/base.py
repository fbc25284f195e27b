"""What evidence sources and containers hand to the ingest pipeline.

A source (a folder, an archive, later a disk image) is walked into a stream of
:class:`Entry` (a regular file whose bytes can be read) and :class:`EntryWarning`
(something that could not be read, with its reason). Sources never write to the case store:
the pipeline does, as dfVFS/plaso parsers hand records to a mediator.
"""

from __future__ import annotations

import io
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, ClassVar

from lanterne.provenance import Provenance


@dataclass(slots=True)
class Entry:
    """One file to ingest: where it is, what the layer says of it, and how to read it."""

    provenance: Provenance
    name: str
    size: int | None
    opener: Callable[[], BinaryIO] = field(repr=False)
    """Returns a fresh binary stream of the file's bytes, positioned at 0."""
    mtime: datetime | None = None
    atime: datetime | None = None
    ctime: datetime | None = None
    crtime: datetime | None = None
    deleted: bool = False
    carved: bool = False
    """Recovered by signature from space no file occupies (the offset is in the provenance)."""
    local_path: Path | None = None
    """A real path on this machine holding exactly these bytes, when there is one
    (lets containers that need random access open the file directly)."""
    releaser: Callable[[], None] | None = field(default=None, repr=False)
    """Frees what holds the bytes (a spooled temporary file); called by the pipeline once this
    entry and everything inside it are done."""

    def open(self) -> BinaryIO:
        return self.opener()

    def release(self) -> None:
        if self.releaser is not None:
            self.releaser()
            self.releaser = None


@dataclass(frozen=True, slots=True)
class EntryWarning:
    """Something in a source that could not be (fully) ingested; stored, never raised."""

    provenance: Provenance
    stage: str
    """Pipeline stage: ``walk``, ``read``, ``archive``, ``picture``, ``video`` …"""
    reason: str
    """A short, stable reason code (``zip-bomb``, ``encrypted``, ``path-traversal`` …)."""
    detail: str = ""


Item = Entry | EntryWarning


class EvidenceSource(ABC):
    """A kind of seized item that can be registered as evidence."""

    NAME: ClassVar[str]

    @classmethod
    @abstractmethod
    def accepts(cls, path: Path) -> bool:
        """Whether this source can open ``path`` (cheap: looks at type and signature only)."""

    @abstractmethod
    def walk(self, root: Provenance) -> Iterator[Item]:
        """Every file of the item, depth-first, in a stable order (resume relies on it)."""


def bytes_opener(data: bytes) -> Callable[[], BinaryIO]:
    return lambda: io.BytesIO(data)


def path_opener(path: Path) -> Callable[[], BinaryIO]:
    """Opens read-only, without following a final symlink and without updating atime."""

    def _open() -> BinaryIO:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(path, flags | getattr(os, "O_NOATIME", 0))
        except PermissionError:
            fd = os.open(path, flags)  # O_NOATIME needs ownership
        return os.fdopen(fd, "rb", buffering=0)

    return _open
