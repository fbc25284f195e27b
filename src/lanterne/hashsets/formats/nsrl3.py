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
:func:`sqlite_objects`) .
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


_IDENT = r"(?:\w+|\"\w+\"|`\w+`|\[\w+\])"
_PLAIN_DISTINCT_VIEW = re.compile(
    rf"\s*CREATE\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT}\s+AS\s+SELECT\s+DISTINCT\s+"
    rf"(?P<columns>{_IDENT}(?:\s*,\s*{_IDENT})*)\s+FROM\s+(?P<source>{_IDENT})\s*;?\s*",
    re.IGNORECASE,
)
VIEW_QUERY = "SELECT sha256, sha1, md5 FROM DISTINCT_HASH"


def _view_by_sorting(con: sqlite3.Connection) -> str | None:
    """The DISTINCT_HASH view's own query, with its ``SELECT DISTINCT`` written as the
    equivalent ``GROUP BY`` over the same columns, when the view is that plain and SQLite
    would otherwise build a B-tree of every distinct row for it.

    SQLite computes a ``DISTINCT`` by inserting each row into an ephemeral B-tree: in random
    order, spilling from a 2 MB cache to a temporary file, its cost grows faster than the
    rows (measured: 700 k distinct of 1 M rows in ~15 s, 3.5 M of 5 M in ~126 s). A ``GROUP
    BY`` is computed by SQLite's external merge sort (sorted runs, sequential I/O): 25 s for
    the same 5 M. Both give the same set of rows (NULLs group together as DISTINCT treats
    them equal); only the order differs, which nobody relies on."""
    try:
        plan = con.execute(f"EXPLAIN QUERY PLAN {VIEW_QUERY}").fetchall()
        found = con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'DISTINCT_HASH'"
            " COLLATE NOCASE"
        ).fetchone()
    except sqlite3.Error as exc:
        raise MalformedHashSet("DISTINCT_HASH", f"unusable view: {exc}") from exc
    if not any("B-TREE FOR DISTINCT" in str(step[-1]).upper() for step in plan):
        return None  # served by an index: the view streams as it is
    match = _PLAIN_DISTINCT_VIEW.fullmatch(str(found[0] if found else ""))
    if match is None:
        return None
    columns = ", ".join(c.strip() for c in match["columns"].split(","))
    return f"SELECT sha256, sha1, md5 FROM {match['source']} GROUP BY {columns}"


def _source(con: sqlite3.Connection) -> str:
    """The query that yields the distinct (sha256, sha1, md5): the DISTINCT_HASH view (see
    :func:`_view_by_sorting`), else the distinct hashes of FILE."""
    objects = sqlite_objects(con)
    for table in ("distinct_hash", "file"):
        if table in objects:
            missing = {"sha256", "sha1", "md5"} - set(sqlite_columns(con, table))
            if missing:
                raise MalformedHashSet("schema", f"{table.upper()} lacks {sorted(missing)}")
            if table == "file":
                return "SELECT sha256, sha1, md5 FROM FILE GROUP BY sha256, sha1, md5"
            return _view_by_sorting(con) or VIEW_QUERY
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
    extra: dict[str, Any] = {
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
                where = f"row {n}"
                record = HashRecord(
                    where=where,
                    sha256=clean_hex(sha256, "sha256", where),
                    sha1=clean_hex(sha1, "sha1", where),
                    md5=clean_hex(md5, "md5", where),
                )
                if record.sha256 is None and record.sha1 is None and record.md5 is None:
                    raise MalformedHashSet(where, "no hash")
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
_SYNTHETIC_CHUNK = 200_000


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _hex_column(data: NDArray[np.uint8]) -> list[str]:
    """Each row of bytes as one uppercase hex string (vectorised: a 2-character string per
    byte, the row's characters then viewed as one string)."""
    chars = np.ascontiguousarray(_HEX_UPPER[data])
    joined: list[str] = chars.view(f"<U{2 * data.shape[1]}").ravel().tolist()
    return joined


def synthetic_hashes(index: NDArray[np.int64], seed: int) -> tuple[list[str], ...]:
    """Invented (sha256, sha1, md5, crc32) as uppercase hex for each distinct-hash index: a
    pure function of (index, seed) (splitmix64 of a counter), so any row can name any distinct
    hash without a table of all of them."""
    offset = np.uint64(seed & 0xFFFFFFFF) * np.uint64(1 << 32)
    base = index.astype(np.uint64) * np.uint64(_WORDS) + offset
    words = np.stack([_splitmix64(base + np.uint64(w)) for w in range(_WORDS)], axis=1)
    raw = words.view(np.uint8)
    return (
        _hex_column(raw[:, 0:32]),
        _hex_column(raw[:, 32:52]),
        _hex_column(raw[:, 52:68]),
        _hex_column(raw[:, 68:72]),
    )


def _synthetic_rows(start: int, stop: int, distinct: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = np.random.default_rng([seed, start])
    index = np.arange(start, stop, dtype=np.int64)
    repeat = index >= distinct
    if repeat.any():
        index[repeat] = rng.integers(0, distinct, int(repeat.sum()), dtype=np.int64)
    sha256, sha1, md5, crc32 = synthetic_hashes(index, seed)
    names = [f"synth_{i}.bin" for i in index.tolist()]
    sizes = rng.integers(0, 1 << 24, stop - start).tolist()
    packages = rng.integers(1, 1000, stop - start).tolist()
    return zip(sha256, sha1, md5, crc32, names, sizes, packages, strict=True)


def make_synthetic_rds3(path: Path, rows: int, distinct: int, seed: int) -> int:
    """An RDSv3-like database of ``rows`` FILE rows over ``distinct`` invented hashes (the
    first ``distinct`` rows give each hash once, the rest repeat random ones), invented names
    (``synth_<n>.bin``), sizes and packages; deterministic for a seed. Memory stays bounded
    (chunks of 200 000 rows). Returns the number of FILE rows."""
    distinct = max(1, min(distinct, rows))
    header = HashSetHeader(
        format=NAME,
        version="synthetic",
        name="Synthetic RDSv3-like test set",
        extra={"build_set": "synthetic", "build_date": "2000-01-01"},
    )
    con = _create(path, header)
    try:
        for start in range(0, rows, _SYNTHETIC_CHUNK):
            stop = min(rows, start + _SYNTHETIC_CHUNK)
            con.executemany(_INSERT_FILE, _synthetic_rows(start, stop, distinct, seed))
        _finish(con)
    except BaseException:
        con.close()
        raise
    return rows
