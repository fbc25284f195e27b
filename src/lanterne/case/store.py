"""CaseStore: the only code that writes SQL.

SQLite (default, one file in the case folder, WAL, one writer) or PostgreSQL (a team's server),
chosen by URL. Every write is idempotent: rows are keyed (content by SHA-256, file occurrences
and warnings by evidence + provenance key) and inserted with "on conflict do nothing", so a
re-run after a crash never duplicates anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Row, create_engine, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.sql.dml import Insert

from lanterne.case import schema
from lanterne.errors import UserError

_MIGRATIONS = "lanterne.case:migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    id: int
    label: str
    kind: str
    location: str
    suspect: str | None
    size: int | None
    sha256: str | None
    registered_by: str
    registered_at: datetime
    status: str
    format: str | None = None
    details: str | None = None
    unlock: str | None = field(default=None, repr=False)
    device_type: str | None = None
    device_make: str | None = None
    device_model: str | None = None
    device_serial: str | None = None

    @property
    def details_json(self) -> dict[str, Any]:
        return dict(json.loads(self.details)) if self.details else {}

    @classmethod
    def from_row(cls, row: Row[Any]) -> EvidenceRecord:
        m = row._mapping
        return cls(**{k: m[k] for k in cls.__slots__})


@dataclass(frozen=True, slots=True)
class KnownOccurrence:
    """What a resumed ingest needs to know of a file already recorded."""

    state: str
    container: str | None


@dataclass(slots=True)
class Batch:
    """Rows written together in one transaction (contents first, then files, warnings, updates)."""

    contents: list[dict[str, Any]]
    files: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    containers_done: list[tuple[int, str]]
    apps: list[dict[str, Any]]
    frames: list[dict[str, Any]]

    def __init__(self) -> None:
        self.contents, self.files, self.warnings, self.containers_done = [], [], [], []
        self.apps = []
        self.frames = []

    def __len__(self) -> int:
        return (
            len(self.contents)
            + len(self.files)
            + len(self.warnings)
            + len(self.containers_done)
            + len(self.apps)
            + len(self.frames)
        )


class CaseStore:
    """Opens (and migrates) a case database; all reads and writes of the case go through here."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            self.migrate()
        except OperationalError as exc:
            raise UserError(f"cannot open the case database {_safe_url(url)}: {exc.orig}") from exc

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- schema
    def migrate(self) -> None:
        """Bring the schema to the newest revision (no-op when it is there)."""
        cfg = Config()
        cfg.set_main_option("script_location", _MIGRATIONS)
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def schema_version(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @staticmethod
    def head_version() -> str | None:
        cfg = Config()
        cfg.set_main_option("script_location", _MIGRATIONS)
        return ScriptDirectory.from_config(cfg).get_current_head()

    # --------------------------------------------------------------- evidence
    def add_evidence(self, **values: Any) -> EvidenceRecord:
        values.setdefault("registered_at", utcnow())
        try:
            with self.engine.begin() as conn:
                conn.execute(schema.evidence.insert().values(**values))
        except IntegrityError as exc:
            raise UserError(
                f"an evidence item labelled {values['label']!r} is already registered in this "
                "case; choose another --label"
            ) from exc
        record = self.evidence_by_label(values["label"])
        assert record is not None
        return record

    def evidence_by_label(self, label: str) -> EvidenceRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schema.evidence).where(schema.evidence.c.label == label)
            ).first()
        return EvidenceRecord.from_row(row) if row else None

    def list_evidence(self) -> list[EvidenceRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.evidence).order_by(schema.evidence.c.id)).all()
        return [EvidenceRecord.from_row(r) for r in rows]

    def set_evidence_status(self, evidence_id: int, status: str) -> None:
        values: dict[str, Any] = {"status": status}
        if status == "ingesting":
            values["ingest_started_at"] = utcnow()
        elif status == "done":
            values["ingest_finished_at"] = utcnow()
        self.update_evidence(evidence_id, **values)

    def update_evidence(self, evidence_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(schema.evidence).where(schema.evidence.c.id == evidence_id).values(values)
            )

    def add_verification(self, evidence_id: int, **values: Any) -> None:
        values.setdefault("verified_at", utcnow())
        with self.engine.begin() as conn:
            conn.execute(schema.verification.insert().values(evidence_id=evidence_id, **values))

    def verifications(self, evidence_id: int) -> list[dict[str, Any]]:
        """The item's verifications, oldest first."""
        v = schema.verification
        with self.engine.connect() as conn:
            rows = conn.execute(select(v).where(v.c.evidence_id == evidence_id).order_by(v.c.id))
            return [dict(r._mapping) for r in rows]

    def app_data(self, evidence_id: int | None = None) -> list[dict[str, Any]]:
        """Known application data found in the case (or in one item), in path order."""
        a = schema.app_data
        query = select(a).order_by(a.c.evidence_id, a.c.app, a.c.path)
        if evidence_id is not None:
            query = query.where(a.c.evidence_id == evidence_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # ----------------------------------------------------------------- ingest
    def known_occurrences(self, evidence_id: int) -> dict[str, KnownOccurrence]:
        """Provenance keys already recorded for an item (what a resumed ingest may skip)."""
        f = schema.file
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(f.c.provenance_key, f.c.state, f.c.container).where(
                    f.c.evidence_id == evidence_id
                )
            )
            return {r.provenance_key: KnownOccurrence(r.state, r.container) for r in rows}

    def existing_contents_errors(self, sha256s: Iterable[str]) -> dict[str, str | None]:
        """Of these contents, those already recorded, with their analysis error (or None)."""
        wanted = list(sha256s)
        found: dict[str, str | None] = {}
        c = schema.content
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = conn.execute(select(c.c.sha256, c.c.error).where(c.c.sha256.in_(chunk)))
                found.update((r.sha256, r.error) for r in rows)
        return found

    def write(self, batch: Batch) -> None:
        """Write a batch atomically; rows already present are left as they are."""
        if not len(batch):
            return
        with self.engine.begin() as conn:
            self.insert_ignore(conn, schema.content, batch.contents)
            self.insert_ignore(conn, schema.file, batch.files)
            self.insert_ignore(conn, schema.warning, batch.warnings)
            self.insert_ignore(conn, schema.app_data, batch.apps)
            self.insert_ignore(conn, schema.video_frame, batch.frames)
            f = schema.file
            for evidence_id, key in batch.containers_done:
                conn.execute(
                    update(f)
                    .where(f.c.evidence_id == evidence_id, f.c.provenance_key == key)
                    .values(state=schema.STATE_DONE)
                )

    def insert_ignore(
        self, conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        if not rows:
            return
        stmt: Insert
        if self.dialect == "postgresql":
            stmt = postgresql.insert(table).on_conflict_do_nothing()
        elif self.dialect == "sqlite":
            stmt = sqlite.insert(table).on_conflict_do_nothing()
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise UserError(f"unsupported database {self.dialect}; use SQLite or PostgreSQL")
        # an executemany takes its columns from the first row: group rows by their key set
        groups: dict[frozenset[str], list[Mapping[str, Any]]] = {}
        for row in rows:
            groups.setdefault(frozenset(row), []).append(row)
        for group in groups.values():
            conn.execute(stmt, group)

    def insert_rows(
        self, conn: Connection, table: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert-or-ignore rows given as tuples in ``columns`` order: the columns' own
        conversions, one prepared statement, none of the per-row statement work of
        :meth:`insert_ignore` (for millions of rows: messages)."""
        if not rows:
            return
        dialect = conn.dialect
        q = dialect.identifier_preparer
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO {q.format_table(table)} ({', '.join(q.quote(c) for c in columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))}) ON CONFLICT DO NOTHING"
        )
        procs = [(i, table.c[c].type.bind_processor(dialect)) for i, c in enumerate(columns)]
        active = [(i, p) for i, p in procs if p is not None]
        if active:
            converted = []
            for row in rows:
                values = list(row)
                for i, proc in active:
                    values[i] = proc(values[i])
                converted.append(tuple(values))
            rows = converted
        conn.exec_driver_sql(sql, list(rows))

    # ------------------------------------------------------------------ reads
    def count(self, table: Any, *where: Any) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
            )

    def rows(self, query: Any) -> Iterator[Row[Any]]:
        """Stream the rows of a read-only query (server-side cursor where available).

        Consume the iterator to its end (or close it): it holds a connection until then."""
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=2000).execute(query)
            yield from result


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB: large imports insert into big indexes
    cur.execute("PRAGMA wal_autocheckpoint=16384")  # 64 MiB of WAL between checkpoints
    cur.close()


def _safe_url(url: str) -> str:
    """The URL without its password, fit for a message."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
