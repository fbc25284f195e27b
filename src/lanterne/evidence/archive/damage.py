"""Damaged data: which exceptions a parser fed hostile bytes may raise, and their reason codes."""

from __future__ import annotations

import lzma
import struct
import tarfile
import zipfile
import zlib

from py7zr.exceptions import ArchiveError

from lanterne.errors import CorruptData

# Parsers fed hostile bytes fail in many ways; all of them mean "this data is damaged".
DAMAGE: tuple[type[BaseException], ...] = (
    ArchiveError, zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError,
    OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, struct.error,
    NotImplementedError, RuntimeError, MemoryError, OverflowError,
)  # fmt: skip


def damage_reason(exc: BaseException) -> str:
    """The reason code for an exception raised while reading damaged data."""
    text = str(exc).lower()
    if "overlapped entries" in text:
        return "archive-bomb"
    if isinstance(exc, EOFError) or any(
        k in text for k in ("truncat", "unexpected end", "ended before", "exceeds the archive size")
    ):
        return "truncated"
    if isinstance(exc, NotImplementedError) or "unsupported" in text:
        return "unsupported-method"
    if type(exc) is OSError and exc.errno is not None:  # a real I/O error, not a codec's
        return "unreadable"
    return "corrupt"


def cannot_open(exc: BaseException, what: str) -> CorruptData:
    """The error for a container whose ``what`` (its header, its stream) cannot be read."""
    return CorruptData(damage_reason(exc), f"cannot read the {what}: {exc}")
