"""Autopsy / The Sleuth Kit hash database (``.kdb``, SQLite).

The schema TSK creates (``hfind -c x.kdb``, ``tsk/hashdb/sqlite_hdb.cpp``)::

    db_properties (name TEXT NOT NULL, value TEXT)        -- TSK writes ('Schema Version', '1')
    hashes (id INTEGER PRIMARY KEY AUTOINCREMENT, md5 BINARY(16) UNIQUE, sha1 BINARY(20),
            sha2_256 BINARY(32))
    file_names (name TEXT NOT NULL, hash_id INTEGER NOT NULL, PRIMARY KEY(name, hash_id))
    comments (comment TEXT NOT NULL, hash_id INTEGER NOT NULL, PRIMARY KEY(comment, hash_id))
    INDEX md5_index ON hashes(md5)

Hashes are binary blobs (TSK fills only md5; sha1/sha2_256 are usually NULL). One hash row may
have several file names and comments. TSK stores no set name: Autopsy keeps the name in its
own settings, so the header's ``name`` comes only from a ``db_properties`` row such as
``Name``/``DB Name`` when one exists (this module's writer adds ``Name``); every other
property goes to the header's ``extra``, ``Schema Version`` to ``version``.

A record per ``hashes`` row, in id order: ``id`` → ``entry_id`` and ``where`` (``row <id>``),
the first file name (insertion order) → ``name``, further names → ``extra["other_names"]``,
comments → ``extra["comments"]``. Names and comments are merged in by walking the three tables
ordered by hash id side by side, so memory stays bounded whatever the size. A hash blob of the
wrong length raises :class:`MalformedHashSet` naming the row; hex text where a blob belongs is
accepted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lanterne.hashsets.formats.nsrl3 import (
    FETCH_BATCH,
    connect_readonly,
    sniff_sqlite,
    sqlite_objects,
)
from lanterne.hashsets.records import HashRecord, HashSetHeader, MalformedHashSet, clean_hex

NAME = "kdb"

_NAME_PROPERTIES = ("name", "db name", "dbname", "database name", "hash set name", "set name")
_VERSION_PROPERTY = "schema version"
_BLOB_COLUMNS = (("md5", 16), ("sha1", 20), ("sha256", 32))

_SCHEMA = """
CREATE TABLE db_properties (name TEXT NOT NULL, value TEXT);
CREATE TABLE hashes (id INTEGER PRIMARY KEY AUTOINCREMENT, md5 BINARY(16) UNIQUE,
                     sha1 BINARY(20), sha2_256 BINARY(32));
CREATE TABLE file_names (name TEXT NOT NULL, hash_id INTEGER NOT NULL,
                         PRIMARY KEY(name, hash_id));
CREATE TABLE comments (comment TEXT NOT NULL, hash_id INTEGER NOT NULL,
                       PRIMARY KEY(comment, hash_id));
CREATE INDEX md5_index ON hashes(md5);
"""


def _is_kdb(objects: dict[str, str]) -> bool:
    return objects.get("hashes") == "table" and "db_properties" in objects


def sniff(head: bytes, path: Path) -> bool:
    """SQLite with the ``hashes`` and ``db_properties`` tables TSK creates."""
    return sniff_sqlite(head, path, _is_kdb)


def _header(con: sqlite3.Connection) -> HashSetHeader:
    objects = sqlite_objects(con)
    if not _is_kdb(objects):
        raise MalformedHashSet("schema", "no hashes/db_properties tables: not a TSK hash database")
    try:
        properties = con.execute("SELECT name, value FROM db_properties").fetchall()
    except sqlite3.Error as exc:
        raise MalformedHashSet("db_properties", f"unreadable: {exc}") from exc
    name: str | None = None
    version: str | None = None
    extra: dict[str, Any] = {}
    for key, value in properties:
        key_text, value_text = str(key), None if value is None else str(value)
        folded = key_text.strip().lower()
        if folded == _VERSION_PROPERTY and version is None:
            version = value_text
        elif folded in _NAME_PROPERTIES and name is None and value_text:
            name = value_text
        else:
            extra[key_text] = value_text
    return HashSetHeader(format=NAME, version=version, name=name, extra=extra)


def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
    """The header (from db_properties) now, then a record per ``hashes`` row, streamed."""
    con = connect_readonly(path)
    try:
        header = _header(con)
        objects = sqlite_objects(con)
    finally:
        con.close()
    return header, _records(path, "file_names" in objects, "comments" in objects)


def _hash(value: object, kind: str, length: int, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        if len(value) != length:
            raise MalformedHashSet(where, f"{kind} blob of {len(value)} bytes, not {length}")
        return value.hex()
    return clean_hex(value, kind, where)  # hex text (or junk: raises naming the row)


class _Side:
    """A ``(hash_id, text)`` cursor ordered by hash id, read in batches, consumed in step."""

    def __init__(self, con: sqlite3.Connection, query: str) -> None:
        self._cursor = con.execute(query)
        self._batch: list[tuple[Any, Any]] = []
        self._at = 0
        self._done = False

    def _peek(self) -> tuple[Any, Any] | None:
        if self._at >= len(self._batch):
            if self._done:
                return None
            self._batch = self._cursor.fetchmany(FETCH_BATCH)
            self._at = 0
            if not self._batch:
                self._done = True
                return None
        return self._batch[self._at]

    def take(self, hash_id: int) -> list[str]:
        """The texts of ``hash_id`` (ids below it, orphans, are skipped)."""
        found: list[str] = []
        while (item := self._peek()) is not None:
            key = item[0]
            if not isinstance(key, int) or key < hash_id:
                self._at += 1
                continue
            if key > hash_id:
                break
            self._at += 1
            if item[1] is not None:
                found.append(str(item[1]))
        return found


def _records(path: Path, has_names: bool, has_comments: bool) -> Iterator[HashRecord]:
    con = connect_readonly(path)
    where = "row ?"
    try:
        hashes = con.execute("SELECT id, md5, sha1, sha2_256 FROM hashes ORDER BY id")
        names = (
            _Side(con, "SELECT hash_id, name FROM file_names ORDER BY hash_id, rowid")
            if has_names
            else None
        )
        comments = (
            _Side(con, "SELECT hash_id, comment FROM comments ORDER BY hash_id, rowid")
            if has_comments
            else None
        )
        while batch := hashes.fetchmany(FETCH_BATCH):
            for row_id, md5, sha1, sha256 in batch:
                where = f"row {row_id}"
                values = dict(zip(("md5", "sha1", "sha256"), (md5, sha1, sha256), strict=True))
                hexes = {
                    kind: _hash(values[kind], kind, length, where) for kind, length in _BLOB_COLUMNS
                }
                if not any(hexes.values()):
                    raise MalformedHashSet(where, "no hash")
                file_names = names.take(row_id) if names is not None else []
                notes = comments.take(row_id) if comments is not None else []
                extra: dict[str, Any] = {}
                if len(file_names) > 1:
                    extra["other_names"] = file_names[1:]
                if notes:
                    extra["comments"] = notes
                yield HashRecord(
                    where=where,
                    md5=hexes["md5"],
                    sha1=hexes["sha1"],
                    sha256=hexes["sha256"],
                    entry_id=str(row_id),
                    name=file_names[0] if file_names else None,
                    extra=extra,
                )
    except sqlite3.Error as exc:
        raise MalformedHashSet(where, f"SQLite: {exc}") from exc
    finally:
        con.close()


def _blob(value: str | None) -> bytes | None:
    return bytes.fromhex(value) if value else None


def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
    """A kdb as TSK creates it (same schema, ``Schema Version`` 1, plus ``Name`` when the
    header has one). Records with the same MD5 share one ``hashes`` row (names and comments
    add up, missing SHA-1/SHA-256 are filled in). ``extra`` may give ``other_names`` and
    ``comments`` (lists of text). Returns the number of records consumed."""
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path, isolation_level=None)
    count = 0
    try:
        con.execute("PRAGMA page_size = 4096")
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.executescript(_SCHEMA)
        con.execute("BEGIN")
        con.execute("INSERT INTO db_properties VALUES ('Schema Version', '1')")
        if header.name:
            con.execute("INSERT INTO db_properties VALUES ('Name', ?)", (header.name,))
        for key, value in header.extra.items():
            if key.strip().lower() not in (_VERSION_PROPERTY, *_NAME_PROPERTIES):
                con.execute(
                    "INSERT INTO db_properties VALUES (?, ?)",
                    (key, None if value is None else str(value)),
                )
        for record in records:
            md5, sha1, sha256 = _blob(record.md5), _blob(record.sha1), _blob(record.sha256)
            hash_id: int | None = None
            if md5 is not None:
                found = con.execute("SELECT id FROM hashes WHERE md5 = ?", (md5,)).fetchone()
                if found is not None:
                    hash_id = int(found[0])
                    con.execute(
                        "UPDATE hashes SET sha1 = coalesce(sha1, ?),"
                        " sha2_256 = coalesce(sha2_256, ?) WHERE id = ?",
                        (sha1, sha256, hash_id),
                    )
            if hash_id is None:
                cur = con.execute(
                    "INSERT INTO hashes (md5, sha1, sha2_256) VALUES (?, ?, ?)",
                    (md5, sha1, sha256),
                )
                hash_id = cur.lastrowid
            file_names = [record.name] if record.name else []
            file_names += [str(n) for n in record.extra.get("other_names", ())]
            con.executemany(
                "INSERT OR IGNORE INTO file_names VALUES (?, ?)",
                [(n, hash_id) for n in file_names],
            )
            con.executemany(
                "INSERT OR IGNORE INTO comments VALUES (?, ?)",
                [(str(c), hash_id) for c in record.extra.get("comments", ())],
            )
            count += 1
        con.execute("COMMIT")
    finally:
        con.close()
    return count
