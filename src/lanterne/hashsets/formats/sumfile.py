"""The output of md5sum, sha1sum and sha256sum (GNU and BSD styles).

GNU: ``<hex>  <name>`` (``<hex> *<name>`` in binary mode; a line starting with ``\\`` has
``\\\\``, ``\\n`` and ``\\r`` escaped in the name). BSD (``--tag``, macOS, OpenSSL):
``MD5 (name) = <hex>``, ``SHA1 (...)``, ``SHA256 (...)``. The hash kind is the BSD tag's or, in
GNU lines, told by the length (32 MD5, 40 SHA-1, 64 SHA-256); lengths may mix in one file.
Blank lines and ``#`` comments are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from lanterne.hashsets.formats.text import BOM, read_lines
from lanterne.hashsets.records import HashRecord, HashSetHeader, MalformedHashSet, clean_hex

NAME = "sumfile"

_GNU = re.compile(r"(?P<hex>[0-9A-Fa-f]+) (?P<mode>[ *]?)(?P<name>.*)", re.DOTALL)
_BSD = re.compile(
    r"(?P<tag>MD5|SHA1|SHA-1|SHA256|SHA-256|SHA2-256) ?\((?P<name>.*)\) ?= ?(?P<hex>[0-9A-Fa-f]+)",
    re.DOTALL | re.IGNORECASE,
)
_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}
_BY_TAG = {"MD5": "md5", "SHA1": "sha1", "SHA-1": "sha1"}
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


def _is_comment(text: str) -> bool:
    stripped = text.strip()
    return not stripped or stripped.startswith("#")


def _parse(text: str, where: str) -> tuple[str, str, str | None, str]:
    """(kind, hex, name, style) of one hash line."""
    escaped = text.startswith("\\")
    body = text[1:] if escaped else text
    m = _GNU.fullmatch(body)
    style = "gnu"
    if m is not None:
        digest = m.group("hex")
        kind = _BY_LENGTH.get(len(digest))
        if kind is None:
            raise MalformedHashSet(
                where, f"a hash of {len(digest)} hex digits is none of MD5, SHA-1, SHA-256"
            )
    else:
        m = _BSD.fullmatch(body)
        if m is None:
            raise MalformedHashSet(
                where, f"{text[:80]!r} is not '<hex>  <name>' nor 'MD5 (name) = <hex>'"
            )
        digest, style = m.group("hex"), "bsd"
        kind = _BY_TAG.get(m.group("tag").upper(), "sha256")
    value = clean_hex(digest, kind, where)
    assert value is not None
    name = m.group("name")
    if escaped:
        name = _UNESCAPE.sub(lambda e: _ESCAPES.get(e.group(1), e.group(0)), name)
    return kind, value, name or None, style


def sniff(head: bytes, path: Path) -> bool:
    """The first lines (up to 50) all parse as GNU or BSD checksum lines."""
    lines = head.removeprefix(BOM).split(b"\n")
    if len(head) >= 64 * 1024:
        lines = lines[:-1]  # cut short by the head's length
    try:
        texts = [line.decode("utf-8").rstrip("\r") for line in lines[:200]]
    except UnicodeDecodeError:
        return False
    data = [t for t in texts if not _is_comment(t)][:50]
    try:
        for t in data:
            _parse(t, "")
    except MalformedHashSet:
        return False
    return bool(data)


def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
    style = None
    with path.open("rb") as f:
        for n, text in read_lines(f):
            if not _is_comment(text):
                style = _parse(text, f"line {n}")[3]  # not a checksum list: say so now
                break
    header = HashSetHeader(NAME, extra={"style": style} if style else {})
    return header, _records(path)


def _records(path: Path) -> Iterator[HashRecord]:
    with path.open("rb") as f:
        for n, text in read_lines(f):
            if _is_comment(text):
                continue
            where = f"line {n}"
            kind, value, name, _ = _parse(text, where)
            if kind == "md5":
                yield HashRecord(where=where, md5=value, name=name)
            elif kind == "sha1":
                yield HashRecord(where=where, sha1=value, name=name)
            else:
                yield HashRecord(where=where, sha256=value, name=name)


def _line(digest: str, name: str) -> str:
    if "\\" in name or "\n" in name or "\r" in name:
        name = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{digest}  {name}\n"
    return f"{digest}  {name}\n"


def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
    """GNU lines of each record's strongest hash (SHA-256, else SHA-1, else MD5); records
    without any are left out."""
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for r in records:
            digest = r.sha256 or r.sha1 or r.md5
            if digest is None:
                continue
            out.write(_line(digest, r.name or ""))
            n += 1
    return n
