"""Exports for the hash-set world: the case's media as a VICS 2.0 ``#Cases`` document, and
its pictures' PDQ as a list, all or new material only.

VICS: one Media per picture or video content, with its category in the chosen scheme when a
known-bad set gives one (none when the sets disagree: the conflict is written in ``Comments``),
SHA-256 and PDQ under ``AlternativeHashes``, and every place it was found under
``MediaFiles`` (display path, deleted, carved as ``Unallocated``). Lanterne's own VICS reader
reads it back losslessly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.hashsets.formats import by_name
from lanterne.hashsets.matching import categorised
from lanterne.hashsets.records import HashRecord, HashSetHeader


def export_vics(case: Case, path: Path, scheme: str | None = None) -> int:
    """Write the case's media to ``path``; returns the number of Media written."""
    header = HashSetHeader("vics", version="2.0", scheme=scheme, name=case.name)
    return by_name("vics").write(path, header, _media(case, scheme, new_only=False))


def export_pdq(case: Case, path: Path, new_only: bool = False) -> int:
    """Write the PDQ of the case's pictures (``hash,quality,sha256`` lines)."""
    header = HashSetHeader("pdq", name=case.name)
    records = (r for r in _media(case, None, new_only) if r.pdq is not None)
    return by_name("pdq").write(path, header, records)


def _media(case: Case, scheme: str | None, new_only: bool) -> Iterator[HashRecord]:
    c, f = schema.content, schema.file
    cats = categorised(case)
    known: set[str] = set()
    if new_only:
        known = {r.sha256 for r in case.store.rows(select(schema.match.c.sha256).distinct())}
    query = (
        select(
            c.c.sha256,
            c.c.md5,
            c.c.sha1,
            c.c.size,
            c.c.mime,
            c.c.pdq,
            c.c.pdq_quality,
            f.c.path,
            f.c.name,
            f.c.deleted,
            f.c.carved,
            f.c.id,
        )
        .join(f, f.c.sha256 == c.c.sha256)
        .where(c.c.kind.in_(("picture", "video")))
        .order_by(c.c.sha256, f.c.id)
    )
    current: list[Any] = []
    for row in case.store.rows(query):
        if current and current[0].sha256 != row.sha256:
            if current[0].sha256 not in known:
                yield _record(current, cats.get(current[0].sha256), scheme)
            current = []
        current.append(row)
    if current and current[0].sha256 not in known:
        yield _record(current, cats.get(current[0].sha256), scheme)


def _record(rows: list[Any], cat: Any, scheme: str | None) -> HashRecord:
    first = rows[0]
    category = None
    extra: dict[str, Any] = {
        "MimeType": first.mime,
        "MediaFiles": [
            {
                "MediaFileID": r.id,
                "FileName": r.name,
                "FilePath": r.path,
                "Deleted": bool(r.deleted),
                "Unallocated": bool(r.carved),
            }
            for r in rows
        ],
    }
    if cat is not None:
        schemes = [scheme] if scheme else sorted(cat.categories)
        found = {c for s in schemes for c in cat.categories.get(s, set())}
        if len(found) == 1:
            category = found.pop()
        elif found:
            extra["Comments"] = "category conflict between hash sets: " + ", ".join(sorted(found))
    return HashRecord(
        where=first.sha256,
        md5=first.md5,
        sha1=first.sha1,
        sha256=first.sha256,
        pdq=first.pdq,
        pdq_quality=first.pdq_quality,
        category=category,
        name=first.name,
        size=first.size,
        extra=extra,
    )
