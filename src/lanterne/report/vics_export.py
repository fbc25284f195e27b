"""Exports for the hash-set world: the case's media as a VICS 2.0 ``#Cases`` document, and
its pictures' PDQ as a list, all or new material only.

VICS: one Media per picture or video content, with its category in the chosen scheme when a
known-bad set gives one (none when the sets disagree: the conflict is written in ``Comments``),
SHA-256 and PDQ under ``AlternativeHashes``, and every place it was found under
``MediaFiles`` (display path, deleted, carved as ``Unallocated``). A video matched by its frames
(a ``vpdq`` or ``pdq-frame`` match of a known-bad or alert set) lists the time ranges that
matched under ``Segments``: ``{"SegmentIndex", "Start", "End"}`` in seconds, the ranges of all
its matches merged, each with the Media's ``Category`` when it has one. Lanterne's own VICS
reader reads it back losslessly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.hashsets.formats import by_name
from lanterne.hashsets.matching import categorised
from lanterne.hashsets.records import HashRecord, HashSetHeader
from lanterne.match.video import METHOD_FRAME, METHOD_VIDEO

_NUMBER = re.compile(r"[0-9]{1,18}")


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
    segments = _segments(case)
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
                sha = current[0].sha256
                yield _record(current, cats.get(sha), scheme, segments.get(sha))
            current = []
        current.append(row)
    if current and current[0].sha256 not in known:
        sha = current[0].sha256
        yield _record(current, cats.get(sha), scheme, segments.get(sha))


def _segments(case: Case) -> dict[str, list[list[float]]]:
    """The matched time ranges of each video a known-bad or alert set knows by its frames,
    merged across its matches (overlapping or touching ranges joined)."""
    m, hs = schema.match, schema.hashset
    query = (
        select(m.c.sha256, m.c.segments)
        .join(hs, hs.c.id == m.c.hashset_id)
        .where(
            m.c.method.in_((METHOD_VIDEO, METHOD_FRAME)),
            m.c.segments.is_not(None),
            hs.c.role != "known-good",
        )
    )
    ranges: dict[str, list[list[float]]] = {}
    for row in case.store.rows(query):
        ranges.setdefault(row.sha256, []).extend(json.loads(row.segments))
    merged: dict[str, list[list[float]]] = {}
    for sha, found in ranges.items():
        out: list[list[float]] = []
        for start, end in sorted((float(a), float(b)) for a, b in found):
            if out and start <= out[-1][1]:
                out[-1][1] = max(out[-1][1], end)
            else:
                out.append([start, end])
        merged[sha] = out
    return merged


def _record(
    rows: list[Any], cat: Any, scheme: str | None, segments: list[list[float]] | None = None
) -> HashRecord:
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
    if segments:
        label: dict[str, Any] = {}
        if category is not None:  # a number when it is one, as the Media's own Category
            label["Category"] = int(category) if _NUMBER.fullmatch(category) else category
        extra["Segments"] = [
            {"SegmentIndex": i, "Start": start, "End": end, **label}
            for i, (start, end) in enumerate(segments)
        ]
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
