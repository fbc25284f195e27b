"""hashdeep's known-file format (``hashdeep -c ... > FILE``, read back with ``hashdeep -k FILE``).

``%%%% HASHDEEP-1.0``, then ``%%%% size,<hashes>,filename`` naming the columns (any of md5,
sha1, sha256, tiger, whirlpool, in any order), ``##`` comments, then one row a file: size, the
hashes, and the file name as the rest of the line (it may hold commas). Tiger and Whirlpool go
into ``extra`` (``tiger``, ``whirlpool``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lanterne.hashsets.formats.text import BOM, read_lines
from lanterne.hashsets.records import HashRecord, HashSetHeader, MalformedHashSet, clean_hex

NAME = "hashdeep"

MAGIC = "%%%% HASHDEEP-1.0"
HASHES = {"md5": 32, "sha1": 40, "sha256": 64, "tiger": 48, "whirlpool": 128}
"""The columns hashdeep 4.4 writes, with their length in hex digits."""
DEFAULT_COLUMNS = ("md5", "sha1", "sha256")
_HEX = frozenset("0123456789abcdef")
_SIZE = re.compile(r"[0-9]{1,20}")


def sniff(head: bytes, path: Path) -> bool:
    return head.removeprefix(BOM).startswith(MAGIC.encode())


def _columns(text: str, where: str) -> list[str]:
    """The hash columns a ``%%%% size,...,filename`` line names."""
    names = [c.strip().lower() for c in text.removeprefix("%%%%").split(",")]
    if len(names) < 3 or names[0] != "size" or names[-1] != "filename":
        raise MalformedHashSet(where, f"{text[:120]!r} is not 'size,<hashes>,filename'")
    hashes = names[1:-1]
    unknown = [h for h in hashes if h not in HASHES]
    if unknown:
        raise MalformedHashSet(where, f"unknown hash column {unknown[0][:40]!r}")
    if len(set(hashes)) != len(hashes):
        raise MalformedHashSet(where, "a hash column is named twice")
    return hashes


def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
    with path.open("rb") as f:
        lines = read_lines(f)
        first = next(lines, (1, ""))[1]
        if first.strip() != MAGIC:
            raise MalformedHashSet("line 1", f"{first[:40]!r} is not {MAGIC!r}")
        second = next(lines, (2, ""))[1]
        if not second.startswith("%%%%"):
            raise MalformedHashSet("line 2", "no '%%%% size,...,filename' line")
        columns = _columns(second, "line 2")
    header = HashSetHeader(NAME, version="1.0", extra={"hashdeep_columns": columns})
    return header, _records(path, columns)


def _records(path: Path, columns: list[str]) -> Iterator[HashRecord]:
    with path.open("rb") as f:
        for n, text in read_lines(f):
            if n <= 2 or text.startswith("##") or not text.strip():
                continue
            where = f"line {n}"
            if text.startswith("%%%%"):  # files concatenated: a header again
                if text.strip() != MAGIC:
                    columns = _columns(text, where)
                continue
            yield _record(text, columns, where)


def _record(text: str, columns: list[str], where: str) -> HashRecord:
    parts = text.split(",", len(columns) + 1)
    if len(parts) != len(columns) + 2:
        raise MalformedHashSet(where, f"fewer than the {len(columns) + 2} fields of the header")
    size_text = parts[0].strip()
    if not _SIZE.fullmatch(size_text):
        raise MalformedHashSet(where, f"size {size_text[:40]!r} is not a byte count")
    hashes: dict[str, str | None] = {}
    extra: dict[str, Any] = {}
    for kind, value in zip(columns, parts[1:-1], strict=False):
        if kind in ("md5", "sha1", "sha256"):
            hashes[kind] = clean_hex(value, kind, where)
        elif value.strip():
            digest = value.strip().lower()
            if len(digest) != HASHES[kind] or not _HEX.issuperset(digest):
                raise MalformedHashSet(
                    where, f"{kind} {value[:80]!r} is not {HASHES[kind]} hex digits"
                )
            extra[kind] = digest
    return HashRecord(
        where=where,
        md5=hashes.get("md5"),
        sha1=hashes.get("sha1"),
        sha256=hashes.get("sha256"),
        name=parts[-1] or None,
        size=int(size_text),
        extra=extra,
    )


def _hash_of(record: HashRecord, kind: str) -> str | None:
    if kind in ("md5", "sha1", "sha256"):
        value: Any = getattr(record, kind)
    else:
        value = record.extra.get(kind)
    return value if isinstance(value, str) and value else None


def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
    """hashdeep rows of ``header.extra["hashdeep_columns"]`` (md5, sha1, sha256 unless it says
    otherwise). hashdeep refuses a row with an empty hash, so records lacking one of the
    columns' hashes are left out; a missing size is written 0, a line break in a name a space."""
    columns = list(header.extra.get("hashdeep_columns") or DEFAULT_COLUMNS)
    if not columns or any(c not in HASHES for c in columns) or len(set(columns)) != len(columns):
        raise ValueError(f"hashdeep columns {columns!r}: choose among {', '.join(HASHES)}")
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(f"{MAGIC}\n%%%% size,{','.join(columns)},filename\n")
        out.write("## Written by Lanterne\n")
        if header.name:
            out.write("## Hash set: " + header.name.replace("\r", " ").replace("\n", " ") + "\n")
        out.write("## \n")
        for r in records:
            hashes = [_hash_of(r, c) for c in columns]
            if any(h is None for h in hashes):
                continue
            name = (r.name or "").replace("\r", " ").replace("\n", " ")
            out.write(f"{r.size or 0},{','.join(h or '' for h in hashes)},{name}\n")
            n += 1
    return n
