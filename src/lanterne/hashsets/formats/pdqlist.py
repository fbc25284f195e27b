"""PDQ lists: one 64-hex PDQ hash a line, optionally ``hash,quality,label``.

The reference hasher prints ``<64hex>,<quality>,<filename>``; the label is the rest of the line
(commas included). Blank lines and ``#`` comments are skipped. A list of bare 64-hex lines
cannot be told from a list of SHA-256 hashes: it is taken as PDQ unless its file name says
SHA-256.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from lanterne.hashsets.formats.text import BOM, read_lines
from lanterne.hashsets.records import HashRecord, HashSetHeader, MalformedHashSet, clean_hex

NAME = "pdq"

_LINE = re.compile(r"[0-9A-Fa-f]{64}(?P<more>[ \t]*,[ \t]*[0-9]{0,3}[ \t]*(?:,.*)?)?", re.ASCII)
_QUALITY = re.compile(r"[0-9]{1,3}")
_SHA256_NAME = re.compile(r"sha-?256", re.IGNORECASE)


def _is_comment(text: str) -> bool:
    stripped = text.strip()
    return not stripped or stripped.startswith("#")


def sniff(head: bytes, path: Path) -> bool:
    """The first lines (up to 50) are all PDQ lines."""
    lines = head.removeprefix(BOM).split(b"\n")
    if len(head) >= 64 * 1024:
        lines = lines[:-1]  # cut short by the head's length
    try:
        texts = [line.decode("utf-8") for line in lines[:200]]
    except UnicodeDecodeError:
        return False
    data = [t.strip() for t in texts if not _is_comment(t)][:50]
    matches = [_LINE.fullmatch(t) for t in data]
    if not data or not all(matches):
        return False
    bare = all(m is not None and m.group("more") is None for m in matches)
    return not (bare and _SHA256_NAME.search(path.name))


def _record(text: str, where: str) -> HashRecord:
    parts = text.lstrip().split(",", 2)
    pdq = clean_hex(parts[0], "pdq", where)
    if pdq is None:
        raise MalformedHashSet(where, "no PDQ hash before the comma")
    quality = None
    if len(parts) > 1 and parts[1].strip():
        q = parts[1].strip()
        if not _QUALITY.fullmatch(q) or int(q) > 100:
            raise MalformedHashSet(where, f"quality {q[:20]!r} is not a number from 0 to 100")
        quality = int(q)
    name = parts[2] if len(parts) > 2 and parts[2] else None
    return HashRecord(where=where, pdq=pdq, pdq_quality=quality, name=name)


def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
    with path.open("rb") as f:
        for n, text in read_lines(f):
            if not _is_comment(text):
                _record(text, f"line {n}")  # not PDQ at all: say so now
                break
    return HashSetHeader(NAME), _records(path)


def _records(path: Path) -> Iterator[HashRecord]:
    with path.open("rb") as f:
        for n, text in read_lines(f):
            if not _is_comment(text):
                yield _record(text, f"line {n}")


def _one_line(name: str | None) -> str | None:
    if not name:
        return None
    return name.replace("\r", " ").replace("\n", " ")


def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
    """``hash[,quality[,label]]`` lines; records without a PDQ are left out. Line breaks in a
    label become spaces."""
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for r in records:
            if r.pdq is None:
                continue
            line = r.pdq
            name = _one_line(r.name)
            if r.pdq_quality is not None or name is not None:
                line += "," + ("" if r.pdq_quality is None else str(r.pdq_quality))
            if name is not None:
                line += "," + name
            out.write(line + "\n")
            n += 1
    return n
