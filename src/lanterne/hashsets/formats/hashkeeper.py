"""HashKeeper CSV (the US NDIC's hash-set exchange format, read by The Sleuth Kit as ``hk``).

Header (TSK checks the first five names, ``tsk/hashdb/hashkeeper.c``)::

    "file_id","hashset_id","file_name","directory","hash","file_size","date_modified",
    "time_modified","time_zone","comments","date_accessed","time_accessed"

``hash`` is the MD5. Columns are found by their header names (the first six must be there);
ids and sizes are unquoted numbers, text is quoted.

A record per line: ``file_id`` → ``entry_id``, ``file_name`` → ``name``, ``file_size`` →
``size``; ``extra`` keeps ``hashset_id``, ``directory``, ``comments`` and the date/time
columns when not empty. No category (HashKeeper sets say known-good or known-bad per set,
in a table this file does not carry).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lanterne.hashsets.formats.nsrl2 import bounded_lines, open_text
from lanterne.hashsets.records import HashRecord, HashSetHeader, MalformedHashSet, clean_hex

NAME = "hashkeeper"

COLUMNS = (
    "file_id",
    "hashset_id",
    "file_name",
    "directory",
    "hash",
    "file_size",
    "date_modified",
    "time_modified",
    "time_zone",
    "comments",
    "date_accessed",
    "time_accessed",
)
_REQUIRED = COLUMNS[:6]
_EXTRA = ("hashset_id", "directory", *COLUMNS[6:])
_NUMERIC = ("hashset_id",)


def _is_header(fields: list[str]) -> bool:
    return tuple(f.strip().lower() for f in fields[: len(_REQUIRED)]) == _REQUIRED


def sniff(head: bytes, path: Path) -> bool:
    """A first line beginning ``"file_id","hashset_id","file_name","directory","hash",
    "file_size"`` (quotes optional)."""
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    line = text.split("\n", 1)[0].rstrip("\r")
    if not line.lstrip('"').lower().startswith("file_id"):
        return False
    try:
        fields = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return False
    return _is_header(fields)


def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
    """The header line now, then a record per line, streamed."""
    with open_text(path) as stream:
        try:
            fields = next(csv.reader(bounded_lines(stream)))
        except StopIteration:
            raise MalformedHashSet("line 1", "empty file, no HashKeeper header") from None
        except csv.Error as exc:
            raise MalformedHashSet("line 1", f"unreadable header: {exc}") from exc
    if not _is_header(fields):
        raise MalformedHashSet("line 1", f"not a HashKeeper header: {fields[:6]}")
    index = {f.strip().lower(): i for i, f in reversed(list(enumerate(fields)))}
    return HashSetHeader(format=NAME), _records(path, index, len(fields))


def _number(text: str, column: str, where: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not (text.isdigit() and text.isascii()):
        raise MalformedHashSet(where, f"{column} {text[:40]!r} is not a number")
    return int(text)


def _records(path: Path, index: dict[str, int], width: int) -> Iterator[HashRecord]:
    id_i, name_i, hash_i, size_i = (index[c] for c in ("file_id", "file_name", "hash", "file_size"))
    extras = [(c, index[c]) for c in _EXTRA if c in index]
    with open_text(path) as stream:
        reader = csv.reader(bounded_lines(stream))
        try:
            next(reader)
            for row in reader:
                if not row:
                    continue
                where = f"line {reader.line_num}"
                if len(row) != width:
                    raise MalformedHashSet(where, f"{len(row)} fields, the header has {width}")
                md5 = clean_hex(row[hash_i], "md5", where)
                if md5 is None:
                    raise MalformedHashSet(where, "no hash")
                extra: dict[str, Any] = {}
                for column, i in extras:
                    if value := row[i].strip():
                        extra[column] = (
                            _number(value, column, where) if column in _NUMERIC else row[i]
                        )
                yield HashRecord(
                    where=where,
                    md5=md5,
                    entry_id=row[id_i].strip() or None,
                    name=row[name_i] or None,
                    size=_number(row[size_i], "file_size", where),
                    extra=extra,
                )
        except csv.Error as exc:
            raise MalformedHashSet(f"line {reader.line_num}", f"bad CSV: {exc}") from exc


def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
    """A HashKeeper CSV with the full 12-column header, uppercase MD5, CRLF line ends (the
    form TSK's ``hfind -i hk`` indexes). ``entry_id`` → ``file_id`` (else the line number);
    ``extra`` may give the other columns. A record without MD5 raises ValueError. Returns the
    number of records."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        stream.write(",".join(f'"{c}"' for c in COLUMNS) + "\r\n")
        writer = csv.writer(stream, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        for record in records:
            if record.md5 is None:
                raise ValueError(f"{record.where}: HashKeeper lists MD5s; this has none")
            count += 1
            file_id: int | str = record.entry_id if record.entry_id is not None else count
            if isinstance(file_id, str) and file_id.isdigit() and str(int(file_id)) == file_id:
                file_id = int(file_id)  # unquoted, as HashKeeper writes ids
            hashset_id = record.extra.get("hashset_id", 1)
            row: list[Any] = [
                file_id,
                hashset_id if isinstance(hashset_id, int) else str(hashset_id),
                record.name or "",
                str(record.extra.get("directory", "")),
                record.md5.upper(),
                record.size if record.size is not None else "",
            ]
            row += [str(record.extra.get(c, "")) for c in COLUMNS[6:]]
            writer.writerow(row)
    return count
