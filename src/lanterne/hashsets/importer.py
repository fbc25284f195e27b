"""Importing a hash set into a case: streamed, in one transaction, idempotent.

A set is known by its name. Importing the same file again under the same name changes nothing;
a different file under an existing name replaces that set's entries (and its matches) in the
same single transaction. A malformed record aborts the whole import with the line or record
named: a set is never half-imported. Rows are written in batches, so memory stays bounded
whatever the size of the file (NSRL's ~74 M distinct hashes included).

A listed video (a record with vPDQ frames) is written with its entry's id returned, and its
frames into ``hash_entry_frame``; records without frames keep the plain bulk path.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from lanterne.analyze.digest import sha256_file
from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.errors import CorruptData, UserError
from lanterne.hashsets.formats import Format, by_name, detect
from lanterne.hashsets.records import HashRecord
from lanterne.progress import NoProgress, Progress

ROLES = ("known-bad", "known-good", "alert")
BATCH = 5000
VIDEO_BATCH = 500
"""Listed videos written at once at most (their entries, then all their frames) …"""
VIDEO_BATCH_FRAMES = 50_000
"""… and frames held for them before they are written."""
BYTES_PER_ENTRY = 100
"""A rough size of one entry in a hash-set file, to foresee a large import."""
SQLITE_CACHE_KIB = 256 * 1024
"""SQLite page cache during an import: index pages of random hashes stay in memory."""
HASH_INDEXES = [ix for ix in schema.hash_entry.indexes if ix.name != "ix_hash_entry_set"]
"""The hash lookups, dropped during a large import and rebuilt once at its end (sorting once
is several times faster than inserting random keys into live B-trees)."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    hashset_id: int
    name: str
    format: str
    entries: int
    replaced: bool
    unchanged: bool


def import_hashset(
    case: Case,
    path: Path,
    role: str,
    name: str | None = None,
    fmt: str | None = None,
    scheme: str | None = None,
    examiner: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import the hash set in ``path`` (format detected unless ``fmt`` is given)."""
    progress = progress or NoProgress()
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if not path.is_file():
        raise UserError(f"{path} is not a file; give the hash-set file to import")
    reader: Format = by_name(fmt) if fmt else detect(path)
    name = (name or path.stem).strip()
    if not name:
        raise UserError("a hash set needs a name (--name)")
    source_sha256, _ = sha256_file(path, progress)
    store = case.store
    with store.engine.connect() as conn:
        old = conn.execute(
            select(schema.hashset.c.id, schema.hashset.c.source_sha256).where(
                schema.hashset.c.name == name
            )
        ).first()
    if old is not None and old.source_sha256 == source_sha256:
        count = store.count(schema.hash_entry, schema.hash_entry.c.hashset_id == old.id)
        return ImportResult(old.id, name, reader.name, count, replaced=False, unchanged=True)
    try:
        header, records = reader.read(path)
    except CorruptData as exc:
        raise UserError(f"{path.name} is not a valid {reader.name} file: {exc.detail}") from exc
    values: dict[str, Any] = {
        "name": name,
        "role": role,
        "scheme": scheme or header.scheme,
        "format": reader.name,
        "version": header.version,
        "source": str(path.absolute()),
        "source_sha256": source_sha256,
        "entries": 0,
        "details": json.dumps(header.extra, sort_keys=True, default=str) if header.extra else None,
        "imported_by": examiner or getpass.getuser(),
        "imported_at": utcnow(),
        "matched_until": None,
    }
    bulk = path.stat().st_size // BYTES_PER_ENTRY > store.count(schema.hash_entry)
    progress.start(f"importing {path.name}", None)
    try:
        with store.engine.begin() as conn:  # all or nothing
            set_id = _set_row(conn, old.id if old is not None else None, values)
            if bulk:  # more to add than there is: index once at the end, not row by row
                for index in HASH_INDEXES:
                    index.drop(conn)
            if store.dialect == "sqlite":
                conn.exec_driver_sql(f"PRAGMA cache_size = {-SQLITE_CACHE_KIB}")
            count = _insert_entries(conn, set_id, records, progress)
            if bulk:
                for index in HASH_INDEXES:
                    index.create(conn)
            conn.execute(
                update(schema.hashset).where(schema.hashset.c.id == set_id).values(entries=count)
            )
    except CorruptData as exc:
        raise UserError(
            f"{path.name} is not a valid {reader.name} file: {exc.detail}; nothing was imported"
        ) from exc
    finally:
        progress.finish()
    return ImportResult(set_id, name, reader.name, count, replaced=old is not None, unchanged=False)


def _set_row(conn: Connection, old_id: int | None, values: dict[str, Any]) -> int:
    """The set's row: a new one, or the old one emptied of its entries and matches."""
    if old_id is None:
        key = conn.execute(insert(schema.hashset).values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])
    e, ef = schema.hash_entry, schema.hash_entry_frame
    conn.execute(delete(schema.match).where(schema.match.c.hashset_id == old_id))
    conn.execute(delete(ef).where(ef.c.entry.in_(select(e.c.id).where(e.c.hashset_id == old_id))))
    conn.execute(delete(e).where(e.c.hashset_id == old_id))
    conn.execute(update(schema.hashset).where(schema.hashset.c.id == old_id).values(**values))
    return old_id


def _insert_entries(conn: Connection, set_id: int, records: Any, progress: Progress) -> int:
    count = 0
    batch: list[dict[str, Any]] = []
    videos: list[HashRecord] = []
    held = 0
    for record in records:
        if record.frames:
            videos.append(record)
            held += len(record.frames)
            if len(videos) >= VIDEO_BATCH or held >= VIDEO_BATCH_FRAMES:
                count += _insert_videos(conn, set_id, videos, progress)
                videos, held = [], 0
            continue
        batch.append(_row(set_id, record))
        if len(batch) >= BATCH:
            conn.execute(insert(schema.hash_entry), batch)
            count += len(batch)
            progress.advance(files=len(batch))
            batch = []
    if batch:
        conn.execute(insert(schema.hash_entry), batch)
        count += len(batch)
        progress.advance(files=len(batch))
    if videos:
        count += _insert_videos(conn, set_id, videos, progress)
    return count


def _insert_videos(
    conn: Connection, set_id: int, videos: list[HashRecord], progress: Progress
) -> int:
    """Entries of listed videos, their ids returned in order, then their frames."""
    e = schema.hash_entry
    ids = (
        conn.execute(
            insert(e).returning(e.c.id, sort_by_parameter_order=True),
            [_row(set_id, r) for r in videos],
        )
        .scalars()
        .all()
    )
    frames: list[dict[str, Any]] = []
    for entry, record in zip(ids, videos, strict=True):
        frames.extend(
            {
                "entry": entry,
                "frame": fh.frame,
                "timestamp": fh.timestamp,
                "pdq": fh.pdq,
                "quality": fh.quality,
            }
            for fh in record.frames
        )
        if len(frames) >= BATCH:
            conn.execute(insert(schema.hash_entry_frame), frames)
            frames = []
    if frames:
        conn.execute(insert(schema.hash_entry_frame), frames)
    progress.advance(files=len(videos))
    return len(videos)


def _row(set_id: int, r: HashRecord) -> dict[str, Any]:
    return {
        "hashset_id": set_id,
        "md5": r.md5,
        "sha1": r.sha1,
        "sha256": r.sha256,
        "pdq": r.pdq,
        "pdq_quality": r.pdq_quality,
        "category": r.category,
        "entry_id": r.entry_id,
        "name": r.name,
        "size": r.size,
        "extra": json.dumps(r.extra, sort_keys=True, default=str) if r.extra else None,
        "location": r.where,
    }
