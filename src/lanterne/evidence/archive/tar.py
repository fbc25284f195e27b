"""Tar: headers and data interleaved in one stream, read once front to back."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import IO

from lanterne.evidence.archive.damage import DAMAGE, cannot_open, damage_reason
from lanterne.evidence.archive.times import utc
from lanterne.evidence.archive.walk import STAGE, MemberInfo, Unread, Walk, read_members
from lanterne.evidence.base import EntryWarning, Item


def walk_tar(walk: Walk) -> Iterator[Item]:
    """Streaming (``r|``): works on any stream, reads it once front to back."""
    with walk.entry.open() as stream:
        try:
            archive = tarfile.open(  # noqa: SIM115 (closed by the with below)
                fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape"
            )
        except DAMAGE as exc:
            raise cannot_open(exc, "tar stream") from exc
        with archive:
            yield from read_members(walk, _listing(walk, archive), windows=False, resumable=False)


def _listing(walk: Walk, archive: tarfile.TarFile) -> Iterator[MemberInfo | EntryWarning]:
    """The next header is read only once the member before it has been read: lazily."""
    while True:
        try:
            info = archive.next()
        except DAMAGE as exc:
            after = f"tar stream unreadable after {walk.members} members: {exc}"
            yield EntryWarning(walk.entry.provenance, STAGE, damage_reason(exc), after)
            return
        if info is None:
            return
        refusal = None
        if info.issym() or info.islnk():
            refusal = Unread("link", f"not followed: -> {info.linkname}")
        elif not info.isreg():
            refusal = Unread("not-regular-file", f"tar type {info.type!r}")
        yield MemberInfo(
            name=info.name.encode("utf-8", "surrogateescape"),
            data=partial(_data, archive, info),
            directory=info.isdir(),
            refusal=refusal,
            size=info.size,
            compressed=None,
            times={
                "mtime": utc(info.mtime),
                "atime": _pax_time(info, "atime"),
                "ctime": _pax_time(info, "ctime"),
            },
        )


def _data(archive: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    member = archive.extractfile(info)
    assert member is not None  # a regular file always has data
    return member


def _pax_time(info: tarfile.TarInfo, key: str) -> datetime | None:
    try:
        return utc(float(info.pax_headers[key]))
    except (KeyError, ValueError):
        return None
