"""Legacy EnCase hash set (``.hash``).

Layout (as The Sleuth Kit reads it, ``tsk/hashdb/encase.cpp``):

- offset 0: the magic ``HASH\\r\\n\\xff\\x00``;
- offset 1032: the set name, UTF-16LE, NUL-terminated (room for 59 characters before the
  records);
- offset 1152: 18-byte records, the first 16 bytes the binary MD5; the last two bytes are
  not documented: kept, when not zero, as ``extra["tail"]`` (little-endian int).

The rest of the header is not interpreted (this module's writer leaves it zero). A trailing
partial record raises :class:`MalformedHashSet` naming the record (numbered from 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from lanterne.hashsets.records import HashRecord, HashSetHeader, MalformedHashSet

NAME = "encase-hash"

MAGIC = b"HASH\r\n\xff\x00"
NAME_OFFSET = 1032
RECORDS_OFFSET = 1152
RECORD_SIZE = 18
NAME_BYTES = RECORDS_OFFSET - NAME_OFFSET - 2
"""Longest set name in UTF-16LE bytes (the NUL terminator must fit too)."""

_BATCH = 4096


def sniff(head: bytes, path: Path) -> bool:
    """The 8-byte magic at offset 0."""
    return head.startswith(MAGIC)


def _name(raw: bytes) -> str | None:
    for end in range(0, len(raw) - 1, 2):
        if raw[end : end + 2] == b"\x00\x00":
            raw = raw[:end]
            break
    else:
        raw = raw[: len(raw) - len(raw) % 2]
    text = raw.decode("utf-16-le", errors="replace").strip()
    return text or None


def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
    """The magic and set name now, then a record per 18 bytes from offset 1152, streamed."""
    with path.open("rb") as stream:
        head = stream.read(RECORDS_OFFSET)
    if not head.startswith(MAGIC):
        raise MalformedHashSet("header", "no EnCase hash set magic at offset 0")
    if len(head) < RECORDS_OFFSET:
        raise MalformedHashSet(
            "header", f"truncated: {len(head)} bytes, the records start at {RECORDS_OFFSET}"
        )
    header = HashSetHeader(format=NAME, name=_name(head[NAME_OFFSET:RECORDS_OFFSET]))
    return header, _records(path)


def _records(path: Path) -> Iterator[HashRecord]:
    number = 0
    with path.open("rb") as stream:
        stream.seek(RECORDS_OFFSET)
        while chunk := stream.read(RECORD_SIZE * _BATCH):
            whole = len(chunk) - len(chunk) % RECORD_SIZE
            for at in range(0, whole, RECORD_SIZE):
                number += 1
                tail = int.from_bytes(chunk[at + 16 : at + 18], "little")
                yield HashRecord(
                    where=f"record {number}",
                    md5=chunk[at : at + 16].hex(),
                    extra={"tail": tail} if tail else {},
                )
            if whole != len(chunk):
                # A short read inside a file only happens at its end: a partial record.
                rest = len(chunk) - whole
                raise MalformedHashSet(
                    f"record {number + 1}",
                    f"truncated: {rest} of {RECORD_SIZE} bytes at the end of the file",
                )


def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
    """An EnCase ``.hash``: magic, the set name (at most 59 UTF-16 units, else ValueError),
    then the records' MD5s (a record without MD5 raises ValueError), ``extra["tail"]`` in the
    last two bytes. Returns the number of records."""
    name = (header.name or "").encode("utf-16-le")
    if len(name) > NAME_BYTES:
        raise ValueError(f"EnCase set names hold at most {NAME_BYTES // 2} UTF-16 units")
    head = bytearray(RECORDS_OFFSET)
    head[: len(MAGIC)] = MAGIC
    head[NAME_OFFSET : NAME_OFFSET + len(name)] = name
    count = 0
    with path.open("wb") as stream:
        stream.write(head)
        batch = bytearray()
        for record in records:
            if record.md5 is None:
                raise ValueError(f"{record.where}: EnCase hash sets hold MD5s; this has none")
            tail = int(record.extra.get("tail", 0))
            batch += bytes.fromhex(record.md5) + tail.to_bytes(2, "little")
            count += 1
            if len(batch) >= RECORD_SIZE * _BATCH:
                stream.write(batch)
                batch.clear()
        stream.write(batch)
    return count
