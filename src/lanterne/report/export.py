"""Exports of the file list: JSON Lines, CSV, and hashdeep's known-file format.

One row per file occurrence, streamed from the store (bounded memory for any case size).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.hashsets.matching import known_good_filter

FORMATS = ("jsonl", "csv", "hashdeep")

COLUMNS = (
    "evidence",
    "path",
    "provenance",
    "name",
    "size",
    "md5",
    "sha1",
    "sha256",
    "mime",
    "kind",
    "extension_mismatch",
    "deleted",
    "carved",
    "state",
    "pdq",
    "pdq_quality",
    "width",
    "height",
    "format",
    "duration",
    "codec",
    "camera_make",
    "camera_model",
    "camera_serial",
    "lens",
    "taken_at",
    "gps_lat",
    "gps_lon",
    "orientation",
    "mtime",
    "error",
)


SELECTIONS = ("all", "new", "no-known-good")
"""``all`` files; ``new``: contents no hash set matches; ``no-known-good``: all but what a
known-good set (NSRL) matches."""


def file_rows(case: Case, selection: str = "all") -> Iterator[dict[str, Any]]:
    """Every file occurrence (of the selection) with its content's facts, in evidence then
    path order."""
    f, c, e = schema.file, schema.content, schema.evidence
    query = (
        select(
            e.c.label.label("evidence"),
            f.c.path,
            f.c.provenance,
            f.c.name,
            f.c.size,
            c.c.md5,
            c.c.sha1,
            f.c.sha256,
            c.c.mime,
            c.c.kind,
            f.c.extension_mismatch,
            f.c.deleted,
            f.c.carved,
            f.c.state,
            c.c.pdq,
            c.c.pdq_quality,
            c.c.width,
            c.c.height,
            c.c.format,
            c.c.duration,
            c.c.codec,
            c.c.camera_make,
            c.c.camera_model,
            c.c.camera_serial,
            c.c.lens,
            c.c.taken_at,
            c.c.gps_lat,
            c.c.gps_lon,
            c.c.orientation,
            f.c.mtime,
            c.c.error,
        )
        .select_from(f.join(e, f.c.evidence_id == e.c.id).outerjoin(c, f.c.sha256 == c.c.sha256))
        .order_by(e.c.id, f.c.path, f.c.id)
    )
    if selection == "new":
        query = query.where(f.c.sha256.not_in(select(schema.match.c.sha256)))
    elif selection == "no-known-good":
        query = query.where(known_good_filter(f.c.sha256))
    elif selection != "all":
        raise ValueError(f"unknown selection {selection!r}; choose one of {', '.join(SELECTIONS)}")
    for row in case.store.rows(query):
        d = dict(row._mapping)
        d["provenance"] = json.loads(d["provenance"])
        d["extension_mismatch"] = bool(d["extension_mismatch"])
        d["deleted"] = bool(d["deleted"])
        d["carved"] = bool(d["carved"])
        if d["mtime"] is not None:
            d["mtime"] = d["mtime"].isoformat()
        yield d


def export_files(case: Case, fmt: str, out: TextIO, selection: str = "all") -> int:
    """Write the file list (of the selection) in ``fmt``; returns the number of rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    rows = file_rows(case, selection)
    return {"jsonl": _jsonl, "csv": _csv, "hashdeep": _hashdeep}[fmt](case, rows, out)


def _jsonl(case: Case, rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    n = 0
    for n, row in enumerate(rows, 1):  # noqa: B007
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return n


def _csv(case: Case, rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    n = 0
    for n, row in enumerate(rows, 1):  # noqa: B007
        row["provenance"] = json.dumps(row["provenance"], ensure_ascii=False)
        writer.writerow(row)
    return n


def _hashdeep(case: Case, rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    """hashdeep's known-file format (``hashdeep -k FILE``); unread files have no hashes and
    are left out. File names are ``EVIDENCE/path``."""
    out.write("%%%% HASHDEEP-1.0\n%%%% size,md5,sha1,sha256,filename\n")
    out.write(f"## Lanterne export of case {case.name}\n##\n")
    n = 0
    for row in rows:
        if row["sha256"] is None:
            continue
        name = f"{row['evidence']}/{row['path']}".replace("\n", " ")
        out.write(f"{row['size']},{row['md5']},{row['sha1']},{row['sha256']},{name}\n")
        n += 1
    return n
