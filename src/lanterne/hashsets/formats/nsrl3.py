"""NIST NSRL RDSv3: the known-software ("ignore") list as an SQLite database.

The database has ``FILE(sha256, sha1, md5, crc32, file_name, file_size, package_id)``,
``PKG``, ``OS``, ``MFG``, ``VERSION`` and the view ``DISTINCT_HASH(sha256, sha1, md5, crc32)``;
in full releases FILE/PKG are themselves views over other tables, so only these names are
relied on. FILE holds hundreds of millions of rows, many per hash: the reader yields the
*distinct* hashes (one record per ``DISTINCT_HASH`` row, or ``SELECT DISTINCT`` over FILE when
the view is absent), streamed from SQLite in batches, never collected in Python.

The database is opened read-only and immutable (``file:…?mode=ro&immutable=1``): nothing is
written next to an evidence file, no lock is taken. SQLite's own work space for the
``DISTINCT`` (an ephemeral index) is kept in temporary files, not in memory.

Records carry lowercase hex, no category (known-good software) and an empty ``extra``: with
~74 M records per release nothing per record is worth its space (file names and packages live
in FILE/PKG, which a record does not repeat).

Also here: the helpers the other SQLite-based readers share (:func:`connect_readonly`,
:func:`sqlite_objects`) and :func:`fast_hex`, the per-row hot path in front of
:func:`~lanterne.hashsets.records.clean_hex`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lanterne.hashsets.records import (
    HEX_LENGTHS,
    HashRecord,
    HashSetHeader,
    MalformedHashSet,
    clean_hex,
)

NAME = "nsrl-rds3"

SQLITE_MAGIC = b"SQLite format 3\x00"
FETCH_BATCH = 10_000
"""Rows fetched from SQLite per ``fetchmany``: bounded memory, few Python/C round trips."""

_INSERT_BATCH = 100_000

# --------------------------------------------------------------------------- shared helpers

_FULL_HEX: dict[str, Callable[[str], re.Match[str] | None]] = {
    kind: re.compile(f"[0-9a-f]{{{length}}}").fullmatch for kind, length in HEX_LENGTHS.items()
}


def fast_hex(value: object, kind: str, where: Callable[[], str]) -> str | None:
    """:func:`clean_hex` with a fast path for the usual case (a clean hex string of the right
    length, any case); anything else goes through ``clean_hex`` itself, which strips, treats
    empty as None and raises :class:`MalformedHashSet` naming ``where()``. Same results."""
    if type(value) is str:
        low = value.lower()
        if _FULL_HEX[kind](low) is not None:
            return low
    return clean_hex(value, kind, where())


def connect_readonly(path: Path) -> sqlite3.Connection:
    """Open an SQLite file read-only and immutable; errors become :class:`MalformedHashSet`."""
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        con = sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise MalformedHashSet("database", f"cannot open as SQLite: {exc}") from exc
    try:
        # The DISTINCT of a huge view builds an ephemeral index: on disk, not in memory.
        con.execute("PRAGMA temp_store = FILE")
    except sqlite3.Error as exc:  # pragma: no cover - only on exotic builds
        con.close()
        raise MalformedHashSet("database", f"cannot open as SQLite: {exc}") from exc
    return con


def sqlite_objects(con: sqlite3.Connection) -> dict[str, str]:
    """Tables and views of the database: lowercase name → ``table``/``view``."""
    try:
        rows = con.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
        ).fetchall()
    except sqlite3.Error as exc:
        raise MalformedHashSet("schema", f"cannot read the SQLite schema: {exc}") from exc
    return {str(name).lower(): str(kind) for name, kind in rows}


def sqlite_columns(con: sqlite3.Connection, table: str) -> list[str]:
    """Lowercase column names of a table or view (without running a view's query)."""
    try:
        rows = con.execute(f'PRAGMA table_info("{table}")').fetchall()
    except sqlite3.Error as exc:
        raise MalformedHashSet("schema", f"cannot read the columns of {table}: {exc}") from exc
    return [str(row[1]).lower() for row in rows]


def sniff_sqlite(head: bytes, path: Path, test: Callable[[dict[str, str]], bool]) -> bool:
    """An SQLite file whose tables/views pass ``test``; False on anything unreadable."""
    if not head.startswith(SQLITE_MAGIC):
        return False
    try:
        con = connect_readonly(path)
    except MalformedHashSet:
        return False
    try:
        return test(sqlite_objects(con))
    except MalformedHashSet:
        return False
    finally:
        con.close()


# --------------------------------------------------------------------------------- reading


def _is_rds3(objects: dict[str, str]) -> bool:
    return "file" in objects and ("distinct_hash" in objects or "pkg" in objects)


def sniff(head: bytes, path: Path) -> bool:
    """SQLite with a FILE table/view and DISTINCT_HASH or PKG: an RDSv3 database."""
    return sniff_sqlite(head, path, _is_rds3)


def _source(con: sqlite3.Connection) -> str:
    objects = sqlite_objects(con)
    for table, query in (
        ("distinct_hash", "SELECT sha256, sha1, md5 FROM DISTINCT_HASH"),
        ("file", "SELECT DISTINCT sha256, sha1, md5 FROM FILE"),
    ):
        if table in objects:
            missing = {"sha256", "sha1", "md5"} - set(sqlite_columns(con, table))
            if missing:
                raise MalformedHashSet("schema", f"{table.upper()} lacks {sorted(missing)}")
            return query
    raise MalformedHashSet("schema", "no DISTINCT_HASH view or FILE table: not NSRL RDSv3")


def _version(con: sqlite3.Connection) -> dict[str, Any]:
    if "version" not in sqlite_objects(con):
        return {}
    try:
        cur = con.execute("SELECT * FROM VERSION LIMIT 1")
        row = cur.fetchone()
    except sqlite3.Error as exc:
        raise MalformedHashSet("VERSION", f"unreadable: {exc}") from exc
    if row is None:
        return {}
    names = [str(d[0]).lower() for d in cur.description]
    return {k: v for k, v in zip(names, row, strict=True) if v is not None}


def _header(con: sqlite3.Connection) -> tuple[HashSetHeader, str]:
    query = _source(con)
    version = _version(con)
    extra = {
        key: str(version[key])
        for key in ("build_set", "build_date", "release_date")
        if key in version
    }
    header = HashSetHeader(
        format=NAME,
        version=str(version["version"]) if "version" in version else None,
        name=str(version.get("description") or "NSRL RDS"),
        extra=extra,
    )
    return header, query


def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
    """The header (from VERSION) now, then one record per distinct hash, streamed."""
    con = connect_readonly(path)
    try:
        header, query = _header(con)
    finally:
        con.close()
    return header, _records(path, query)


def _records(path: Path, query: str) -> Iterator[HashRecord]:
    con = connect_readonly(path)
    n = 0
    try:
        cur = con.execute(query)
        while batch := cur.fetchmany(FETCH_BATCH):
            for sha256, sha1, md5 in batch:
                n += 1
                row = n

                def where(row: int = row) -> str:
                    return f"row {row}"

                record = HashRecord(
                    where=f"row {row}",
                    sha256=fast_hex(sha256, "sha256", where),
                    sha1=fast_hex(sha1, "sha1", where),
                    md5=fast_hex(md5, "md5", where),
                )
                if record.sha256 is None and record.sha1 is None and record.md5 is None:
                    raise MalformedHashSet(where(), "no hash")
                yield record
    except sqlite3.Error as exc:
        raise MalformedHashSet(f"row {n + 1}", f"SQLite: {exc}") from exc
    finally:
        con.close()


# --------------------------------------------------------------------------------- writing

_SCHEMA = """
CREATE TABLE VERSION (version TEXT, build_set TEXT, build_date TEXT, release_date TEXT,
                      description TEXT);
CREATE TABLE MFG (manufacturer_id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE OS (operating_system_id INTEGER PRIMARY KEY, name TEXT, version TEXT,
                 manufacturer_id INTEGER);
CREATE TABLE PKG (package_id INTEGER PRIMARY KEY, name TEXT, version TEXT,
                  operating_system_id INTEGER, manufacturer_id INTEGER, language TEXT,
                  application_type TEXT);
CREATE TABLE FILE (sha256 VARCHAR, sha1 VARCHAR, md5 VARCHAR, crc32 VARCHAR,
                   file_name TEXT, file_size INTEGER, package_id INTEGER);
CREATE VIEW DISTINCT_HASH AS SELECT DISTINCT sha256, sha1, md5, crc32 FROM FILE;
"""

_INSERT_FILE = "INSERT INTO FILE VALUES (?, ?, ?, ?, ?, ?, ?)"


def _create(path: Path, header: HashSetHeader) -> sqlite3.Connection:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -65536")
    con.executescript(_SCHEMA)
    con.execute("BEGIN")
    con.execute(
        "INSERT INTO VERSION VALUES (?, ?, ?, ?, ?)",
        (
            header.version,
            header.extra.get("build_set"),
            header.extra.get("build_date"),
            header.extra.get("release_date"),
            header.name,
        ),
    )
    con.execute("INSERT INTO MFG VALUES (1, 'Synthetic Manufacturer')")
    con.execute("INSERT INTO OS VALUES (1, 'Synthetic OS', '1.0', 1)")
    return con


def _finish(con: sqlite3.Connection) -> None:
    con.execute(
        "INSERT OR IGNORE INTO PKG (package_id, name, version, operating_system_id,"
        " manufacturer_id, language, application_type)"
        " SELECT DISTINCT package_id, 'Synthetic package ' || package_id, '1.0', 1, 1,"
        " 'English', 'Synthetic' FROM FILE WHERE package_id IS NOT NULL"
    )
    con.execute("COMMIT")
    con.close()


def _upper(value: str | None) -> str | None:
    return value.upper() if value is not None else None


def _file_row(record: HashRecord) -> tuple[Any, ...]:
    return (
        _upper(record.sha256),
        _upper(record.sha1),
        _upper(record.md5),
        _upper(record.extra.get("crc32")),
        record.name,
        record.size,
        record.extra.get("package_id"),
    )


def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
    """An RDSv3-like database (FILE, PKG, OS, MFG, VERSION, view DISTINCT_HASH): one FILE row
    per record (a hash may repeat), uppercase hex as NSRL writes it; ``extra`` may give
    ``crc32`` and ``package_id``. Returns the number of FILE rows."""
    con = _create(path, header)
    count = 0
    try:
        rows = map(_file_row, records)
        while batch := list(islice(rows, _INSERT_BATCH)):
            con.executemany(_INSERT_FILE, batch)
            count += len(batch)
        _finish(con)
    except BaseException:
        con.close()
        raise
    return count


# ---------------------------------------------------------------- synthetic data (benchmark)

_HEX_UPPER = np.array([f"{i:02X}" for i in range(256)], dtype="<U2")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_WORDS = 9
"""uint64 words per synthetic hash triple: 32 + 20 + 16 + 4 bytes rounded up to 72."""


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _hex_column(data: NDArray[np.uint8]) -> list[str]:
    """Each row of bytes as one uppercase hex string."""
    chars = np.ascontiguousarray(_HEX_UPPER[data])
    joined: list[str] = chars.view(f"<U{2 * data.shape[1]}").ravel().tolist()
    return joined


def synthetic_hashes(index: NDArray[np.int64], seed: int) -> tuple[list[str], ...]:
    """Invented (sha256, sha1, md5, crc32) uppercase hex for each distinct-hash index: a pure
    function of (index, seed), so any row can name any distinct hash without a table of all."""
    base = index.astype(np.uint64) * np.uint64(_WORDS) + np.uint64(seed & 0xFFFFFFFF) * np.uint64(
        1 << 40
    )
    words = np.stack([_splitmix64(base + np.uint64(w)) for w in range(_WORDS)], axis=1)
    raw = words.view(np.uint8)
    return (
        _hex_column(raw[:, 0:32]),
        _hex_column(raw[:, 32:52]),
        _hex_column(raw[:, 52:68]),
        _hex_column(raw[:, 68:72]),
    )


def make_synthetic_rds3(path: Path, rows: int, distinct: int, seed: int) -> int:
    """An RDSv3-like database of ``rows`` FILE rows over ``distinct`` invented hashes (the
    first ``distinct`` rows give each hash once, the rest repeat random ones), invented names
    (``synth_<n>.bin``), sizes and packages. Memory stays bounded (chunks of 200 000 rows).
    Returns the number of FILE rows."""
    distinct = max(1, min(distinct, rows)) if rows else 0
    header = HashSetHeader(
        format=NAME,
        version="synthetic",
        name="Synthetic RDSv3-like test set",
        extra={"build_set": "synthetic", "build_date": "2000-01-01"},
    )
    rng = np.random.default_rng(seed)
    con = _create(path, header)
    chunk = 200_000
    try:
        for start in range(0, rows, chunk):
            stop = min(rows, start + chunk)
            index = np.arange(start, stop, dtype=np.int64)
            repeat = index >= distinct
            if repeat.any():
                index[repeat] = rng.integers(0, distinct, int(repeat.sum()), dtype=np.int64)
            sha256, sha1, md5, crc32 = synthetic_hashes(index, seed)
            names = [f"synth_{i}.bin" for i in index.tolist()]
            sizes = rng.integers(0, 1 << 24, stop - start).tolist()
            packages = rng.integers(1, 1000, stop - start).tolist()
            con.executemany(
                _INSERT_FILE, zip(sha256, sha1, md5, crc32, names, sizes, packages, strict=True)
            )
        _finish(con)
    except BaseException:
        con.close()
        raise
    return rows
