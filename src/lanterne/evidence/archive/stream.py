"""Gzip, bzip2 and xz: a compressed stream holds one member, named after the container."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections.abc import Iterator
from typing import BinaryIO

from lanterne.errors import CorruptData
from lanterne.evidence.archive.spool import random_access
from lanterne.evidence.archive.times import utc
from lanterne.evidence.archive.walk import Unread, Walk, extract
from lanterne.evidence.base import Item

_STREAMS: dict[str, tuple[bytes, dict[str, str]]] = {
    "gzip": (b"\x1f\x8b", {".gz": "", ".tgz": ".tar", ".gzip": "", ".z": ""}),
    "bzip2": (b"BZh", {".bz2": "", ".bz": "", ".tbz2": ".tar", ".tbz": ".tar"}),
    "xz": (b"\xfd7zXZ\x00", {".xz": "", ".txz": ".tar"}),
}
"""Each kind's magic, and its suffixes with what replaces them in the member's name."""


def _decompressed(kind: str, source: BinaryIO) -> io.BufferedIOBase:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=source, mode="rb")
    return bz2.BZ2File(source) if kind == "bzip2" else lzma.LZMAFile(source)


def walk_stream(walk: Walk) -> Iterator[Item]:
    """A compressed stream holds one member named after the container, less its suffix."""
    magic, suffixes = _STREAMS[walk.kind]
    name = walk.entry.name
    for suffix, replacement in suffixes.items():
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)] + replacement
            break
    # seekable: to check the magic, then measure
    with random_access(walk.entry, walk.spools) as stream:
        head = stream.read(len(magic))
        if head != magic:
            raise CorruptData("corrupt", f"not a {walk.kind} stream (starts {head.hex()})")
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        with _decompressed(walk.kind, stream) as opened:
            outcome = extract(walk, opened.read, size)
            mtime = utc(opened.mtime) if isinstance(opened, gzip.GzipFile) else None
    prov, base, warns = walk.member(name.encode(), windows=False)
    yield from warns
    walk.members += 1
    if isinstance(outcome, Unread):
        yield outcome.warning(prov)
    else:
        yield walk.entry_for(prov, base, outcome, mtime=mtime)
