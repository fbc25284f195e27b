"""NIST NSRL RDSv2 ``NSRLFile.txt``: the known-software list as quoted CSV.

Current header::

    "SHA-1","MD5","CRC32","FileName","FileSize","ProductCode","OpSystemCode","SpecialCode"

An older release put the columns in another order (``"SHA-1","FileName","FileSize",
"ProductCode","OpSystemCode","MD4","MD5","CRC32","SpecialCode"``), so columns are found by
their header names, never by position. Hex is uppercase in the file, lowercase in records.
Strings are quoted, numbers (FileSize, ProductCode) are not.

A record per line (a hash repeats once per product that ships it): ``FileName`` → ``name``,
``FileSize`` → ``size``; ``extra`` keeps ``product_code`` (int when numeric), ``os_code`` and
``special_code`` (when not empty). CRC32 and MD4 are not kept. No category: known software.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lanterne.hashsets.records import HashRecord, HashSetHeader, MalformedHashSet, clean_hex

NAME = "nsrl-rds2"

COLUMNS = (
    "SHA-1",
    "MD5",
    "CRC32",
    "FileName",
    "FileSize",
    "ProductCode",
    "OpSystemCode",
    "SpecialCode",
)
"""The current column order (what :func:`write` emits)."""

_KNOWN = {
    "sha-1": "sha1",
    "sha1": "sha1",
    "md5": "md5",
    "sha-256": "sha256",
    "sha256": "sha256",
    "crc32": "crc32",
    "md4": "md4",
    "filename": "name",
    "filesize": "size",
    "productcode": "product_code",
    "opsystemcode": "os_code",
    "specialcode": "special_code",
}


def _columns(fields: list[str]) -> dict[str, int] | None:
    """Role → column index from a header row; None when it is not an NSRLFile header."""
    roles: dict[str, int] = {}
    for i, field in enumerate(fields):
        role = _KNOWN.get(field.strip().lower())
        if role is not None and role not in roles:
            roles[role] = i
    if "sha1" not in roles or "md5" not in roles or "name" not in roles:
        return None
    return roles


def _first_line(head: bytes) -> str | None:
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    line = text.split("\n", 1)[0].rstrip("\r")
    return line or None


def sniff(head: bytes, path: Path) -> bool:
    """A first line that is an NSRLFile header: quoted ``"SHA-1"`` first, with MD5 and
    FileName columns."""
    line = _first_line(head)
    if line is None or not line.startswith('"SHA-1"'):
        return False
    try:
        fields = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return False
    return _columns(fields) is not None


MAX_LINE = 1 << 20
"""Longest line accepted (characters): a file without line ends must not fill the memory."""


def open_text(path: Path) -> io.TextIOWrapper:
    """The file as UTF-8 text (a BOM skipped, bad bytes replaced), line ends kept for csv."""
    return io.TextIOWrapper(path.open("rb"), encoding="utf-8-sig", errors="replace", newline="")


def bounded_lines(stream: io.TextIOWrapper, first: int = 1) -> Iterator[str]:
    """The lines of ``stream``, each at most :data:`MAX_LINE` characters, else
    :class:`MalformedHashSet` naming the line (``first`` is the number of the first one)."""
    number = first
    while line := stream.readline(MAX_LINE):
        if len(line) >= MAX_LINE and not line.endswith("\n"):
            raise MalformedHashSet(f"line {number}", f"longer than {MAX_LINE} characters")
        yield line
        number += 1


def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
    """The header line now (columns found by name), then a record per line, streamed."""
    with open_text(path) as stream:
        try:
            fields = next(csv.reader(bounded_lines(stream)))
        except StopIteration:
            raise MalformedHashSet("line 1", "empty file, no NSRLFile header") from None
        except csv.Error as exc:
            raise MalformedHashSet("line 1", f"unreadable header: {exc}") from exc
    roles = _columns(fields)
    if roles is None:
        raise MalformedHashSet(
            "line 1", f"not an NSRLFile.txt header (needs SHA-1, MD5, FileName): {fields[:9]}"
        )
    return HashSetHeader(format=NAME, name="NSRL RDS"), _records(path, roles, len(fields))


def _int_or_text(value: str) -> int | str:
    text = value.strip()
    return int(text) if text.isdigit() and text.isascii() else text


def _records(path: Path, roles: dict[str, int], width: int) -> Iterator[HashRecord]:
    sha1_i, md5_i, name_i = roles["sha1"], roles["md5"], roles["name"]
    sha256_i = roles.get("sha256")
    size_i = roles.get("size")
    extras = [(k, roles[k]) for k in ("product_code", "os_code", "special_code") if k in roles]
    with open_text(path) as stream:
        reader = csv.reader(bounded_lines(stream))
        line = 1
        try:
            next(reader)  # the header
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                where = f"line {line}"
                if len(row) != width:
                    raise MalformedHashSet(where, f"{len(row)} fields, the header has {width}")
                size: int | None = None
                if size_i is not None and (text := row[size_i].strip()):
                    if not (text.isdigit() and text.isascii()):
                        raise MalformedHashSet(where, f"FileSize {text[:40]!r} is not a number")
                    size = int(text)
                extra: dict[str, Any] = {}
                for key, i in extras:
                    if value := row[i].strip():
                        extra[key] = _int_or_text(value) if key == "product_code" else value
                record = HashRecord(
                    where=where,
                    sha1=clean_hex(row[sha1_i], "sha1", where),
                    md5=clean_hex(row[md5_i], "md5", where),
                    sha256=clean_hex(row[sha256_i], "sha256", where)
                    if sha256_i is not None
                    else None,
                    name=row[name_i] or None,
                    size=size,
                    extra=extra,
                )
                if record.sha1 is None and record.md5 is None and record.sha256 is None:
                    raise MalformedHashSet(where, "no hash")
                yield record
        except csv.Error as exc:
            raise MalformedHashSet(f"line {reader.line_num}", f"bad CSV: {exc}") from exc


def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
    """An ``NSRLFile.txt`` in the current column order, uppercase hex, CRLF line ends.
    ``extra`` may give ``crc32`` (default ``00000000``: TSK's ``hfind`` finds the name by
    fixed offsets, so the column needs its 8 characters), ``product_code``, ``os_code``,
    ``special_code``. Returns the number of lines written (without the header)."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        stream.write(",".join(f'"{c}"' for c in COLUMNS) + "\r\n")
        writer = csv.writer(stream, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        for record in records:
            product = record.extra.get("product_code", 0)
            writer.writerow(
                [
                    (record.sha1 or "").upper(),
                    (record.md5 or "").upper(),
                    str(record.extra.get("crc32") or "00000000").upper(),
                    record.name or "",
                    record.size if record.size is not None else "",
                    product if isinstance(product, int) else str(product),
                    str(record.extra.get("os_code", "")),
                    str(record.extra.get("special_code", "")),
                ]
            )
            count += 1
    return count
