"""INTERPOL ICSE CSV: ``;``-separated, a header row naming the columns.

Columns are found by name (any order, any case, a UTF-8 BOM allowed); the facts ICSE gives
besides the hashes go into ``extra`` under the names VICS uses for the same facts (``Series``,
``IsDistributed``, ``VictimIdentified``, ``OffenderIdentified``, ``PhotoDNA``) or, for those
VICS lacks, ``NumberOfSubmissions``, ``FileAvailable``, ``MediaType``, ``Baseline``. ICSE
has no category column: every record is uncategorised.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lanterne.hashsets.formats.text import BOM, raw_lines
from lanterne.hashsets.records import HashRecord, HashSetHeader, MalformedHashSet, clean_hex

NAME = "icse"

COLUMNS = (
    "MD5",
    "SHA1",
    "PhotoDNA",
    "Image ID",
    "Is distributed",
    "Victim identified",
    "Offender identified",
    "Series name",
    "Number of submissions",
    "File Available",
    "Media Type",
    "Baseline",
)
"""The header ICSE writes, in its order."""
_EXTRA = {
    "photodna": "PhotoDNA",
    "is distributed": "IsDistributed",
    "victim identified": "VictimIdentified",
    "offender identified": "OffenderIdentified",
    "series name": "Series",
    "number of submissions": "NumberOfSubmissions",
    "file available": "FileAvailable",
    "media type": "MediaType",
    "baseline": "Baseline",
}
_BOOLEANS = {"IsDistributed", "VictimIdentified", "OffenderIdentified", "FileAvailable", "Baseline"}
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
_KNOWN = {c.lower() for c in COLUMNS}
_COUNT = re.compile(r"[0-9]{1,18}")


def _columns(line: str) -> list[str]:
    return [c.strip().strip('"').strip() for c in line.rstrip("\r\n").split(";")]


def sniff(head: bytes, path: Path) -> bool:
    """A first line of ``;``-separated ICSE column names, MD5 among them."""
    first = head.removeprefix(BOM).split(b"\n", 1)[0]
    try:
        names = {c.lower() for c in _columns(first.decode("utf-8"))}
    except UnicodeDecodeError:
        return False
    return "md5" in names and len(names & _KNOWN) >= 3


def _header_row(path: Path) -> list[str]:
    with path.open("rb") as f:
        first = next((text for _, text in raw_lines(f)), "")
    columns = _columns(first)
    names = [c.lower() for c in columns]
    if "md5" not in names and "sha1" not in names:
        raise MalformedHashSet("line 1", "no MD5 or SHA1 column: not an ICSE CSV header")
    if len(set(names) & _KNOWN) < 3:
        raise MalformedHashSet("line 1", f"{first[:120]!r} is not an ICSE CSV header")
    if len(set(names)) != len(names):
        raise MalformedHashSet("line 1", "a column is named twice")
    return columns


def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
    columns = _header_row(path)
    header = HashSetHeader(NAME, extra={"columns": columns})
    return header, _records(path, columns)


def _records(path: Path, columns: list[str]) -> Iterator[HashRecord]:
    names = [c.lower() for c in columns]
    with path.open("rb") as f:
        rows = csv.reader((text for _, text in raw_lines(f)), delimiter=";")
        try:
            next(rows)
            for row in rows:
                if not any(c.strip() for c in row):
                    continue
                where = f"line {rows.line_num}"
                if len(row) > len(names) and not any(c.strip() for c in row[len(names) :]):
                    row = row[: len(names)]
                if len(row) != len(names):
                    raise MalformedHashSet(
                        where, f"{len(row)} fields where the header names {len(names)}"
                    )
                yield _record(dict(zip(names, row, strict=True)), columns, where)
        except csv.Error as exc:
            raise MalformedHashSet(f"line {rows.line_num}", f"bad CSV: {exc}") from None


def _record(cells: dict[str, str], columns: list[str], where: str) -> HashRecord:
    md5 = clean_hex(cells.get("md5"), "md5", where)
    sha1 = clean_hex(cells.get("sha1"), "sha1", where)
    extra: dict[str, Any] = {}
    for column in columns:
        value = cells[column.lower()]
        key = column.lower()
        if key in ("md5", "sha1", "image id") or not value.strip():
            continue
        name = _EXTRA.get(key, column)
        extra[name] = _value(name, value)
    if md5 is None and sha1 is None and "PhotoDNA" not in extra:
        raise MalformedHashSet(where, "no MD5, SHA1 or PhotoDNA")
    entry_id = cells.get("image id", "").strip() or None
    return HashRecord(where=where, md5=md5, sha1=sha1, entry_id=entry_id, extra=extra)


def _value(name: str, text: str) -> Any:
    if name in _BOOLEANS:
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    if name == "NumberOfSubmissions" and _COUNT.fullmatch(text.strip()):
        return int(text.strip())
    return text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
    """ICSE CSV with the standard header; records with no MD5, SHA1 or PhotoDNA are left out."""
    n = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for r in records:
            if r.md5 is None and r.sha1 is None and r.extra.get("PhotoDNA") is None:
                continue
            row = [r.md5, r.sha1, r.extra.get("PhotoDNA"), r.entry_id]
            row += [r.extra.get(_EXTRA[c.lower()]) for c in COLUMNS[4:]]
            writer.writerow([_cell(v) for v in row])
            n += 1
    return n
