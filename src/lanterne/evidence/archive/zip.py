"""Zip: the central directory lists the members; each is inflated alone, from a seekable copy."""

from __future__ import annotations

import itertools
import stat
import struct
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

from lanterne.errors import CorruptData
from lanterne.evidence.archive.damage import DAMAGE
from lanterne.evidence.archive.spool import random_access
from lanterne.evidence.archive.times import filetime, utc
from lanterne.evidence.archive.walk import MemberInfo, Unread, Walk, read_members
from lanterne.evidence.base import Item


def walk_zip(walk: Walk) -> Iterator[Item]:
    with random_access(walk.entry, walk.spools) as stream:
        try:
            archive = zipfile.ZipFile(stream)
        except DAMAGE as exc:
            stream.seek(0)
            local_header = stream.read(4) == b"PK\x03\x04"  # members but no directory: cut short
            raise CorruptData("truncated" if local_header else "corrupt",
                              f"cannot read the zip directory: {exc}") from exc  # fmt: skip
        with archive:
            yield from read_members(walk, _listing(archive), windows=True, resumable=True)


def _listing(archive: zipfile.ZipFile) -> Iterator[MemberInfo]:
    infos = archive.infolist()
    raws = [i.orig_filename.encode("utf-8" if i.flag_bits & 0x800 else "cp437") for i in infos]
    overlaps = _overlapping(infos, raws)
    for index, info in enumerate(infos):
        # Unix type bits, when the zipper wrote them (many write permissions only).
        fmt = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
        refusal = None
        if fmt not in (0, stat.S_IFREG):
            reason = "link" if fmt == stat.S_IFLNK else "not-regular-file"
            refusal = Unread(reason, f"unix type {fmt:o}; not read")
        elif info.flag_bits & 0x1:
            refusal = Unread("encrypted", "no password: not read")
        elif index in overlaps:
            refusal = Unread("archive-bomb", "data overlaps another member")
        yield MemberInfo(
            name=raws[index],
            data=partial(archive.open, info),
            directory=info.is_dir() or fmt == stat.S_IFDIR,
            refusal=refusal,
            size=info.file_size,
            compressed=info.compress_size,
            times=_zip_times(info),
        )


def _zip_times(info: zipfile.ZipInfo) -> dict[str, datetime | None]:
    """NTFS times, else Unix extended-timestamp times (both UTC), else the DOS time: the
    zipping machine's wall-clock time in a zone the archive does not record, labelled UTC
    (the case store keeps aware times; a report must not read more into it)."""
    try:
        dos: datetime | None = datetime(*info.date_time, tzinfo=UTC)
    except ValueError:
        dos = None
    found: dict[str, datetime | None] = {"mtime": dos}
    extra, pos = info.extra, 0
    while pos + 4 <= len(extra):
        hid, size = struct.unpack_from("<HH", extra, pos)
        data, pos = extra[pos + 4 : pos + 4 + size], pos + 4 + size
        if hid == 0x000A and len(data) >= 32 and data[4:6] == b"\x01\x00":
            m, a, c = struct.unpack_from("<QQQ", data, 8)
            return {"mtime": filetime(m), "atime": filetime(a), "crtime": filetime(c)}
        if hid == 0x5455 and data:
            stamps = iter(struct.unpack_from(f"<{(len(data) - 1) // 4}i", data, 1))
            for bit, key in ((1, "mtime"), (2, "atime"), (4, "crtime")):
                if data[0] & bit:
                    found[key] = utc(next(stamps, None))
    return found


def _overlapping(infos: list[zipfile.ZipInfo], raw_names: list[bytes]) -> set[int]:
    """Members whose data runs into another's local header: the overlapping-entries bomb
    (many directory entries sharing one compressed kernel), caught before inflating it."""
    order = sorted(range(len(infos)), key=lambda i: infos[i].header_offset)
    bad: set[int] = set()
    for a, b in itertools.pairwise(order):
        end = infos[a].header_offset + 30 + len(raw_names[a]) + infos[a].compress_size
        if end > infos[b].header_offset:
            bad |= {a, b}
    return bad
