"""The audit log: every reveal, categorisation, export, sign-in and user change, hash-chained.

Each entry's ``hash`` is the SHA-256 of the previous entry's hash and this entry's canonical
fields (id, time, user, action, target, detail), so editing, deleting, reordering or inserting
an entry breaks the chain at that point, unless every later entry is rewritten too.

What the chain alone cannot show is the *end* of the log being cut off (the last entries
deleted), or the whole tail rewritten by someone with write access to the database. So the
head of the chain is also kept outside the database, in a **witness file** in the case folder
(``CASE/audit.head``: the last entry's id and hash), written each time a transaction that
appended entries commits. :func:`verify` compares the table with the witness: the entry the
witness names must be present with the same hash; entries after it must chain from it. The
case folder is the examiner's (the database may be a team's PostgreSQL server), so cutting the
log needs write access to both; the head hash printed by ``lanterne audit verify`` can also be
noted in the case file for an anchor nobody can reach. A witness behind the table (entries
appended by a process that did not keep the witness) is reported as a note, not a failure; a
missing witness file is a note too (a case whose log was never written by a witness keeper).
The witness is written just before the database commits (SQLAlchemy has no hook after a
connection's commit), while the append lock is held: a commit that fails after it leaves the
witness naming an entry the table lacks, which :func:`verify` reports like a cut log.

Appending is serialised (PostgreSQL: a table lock held to the commit; SQLite: the database's
single writer, taken by the insert that opens the append), so two writers never fork the chain.

Every process that appends must call :func:`keep_witness` once for its case (the web
application does at start; the CLI commands that append do too).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, event, select, text, update

from lanterne.case import schema
from lanterne.case.store import CaseStore, utcnow
from lanterne.case.workspace import Case

GENESIS = "0" * 64
"""The ``prev`` of the first entry."""

WITNESS_NAME = "audit.head"

# the actions written by Lanterne (others may be added; these are the ones counted)
LOGIN = "login"
LOGIN_FAILED = "login-failed"
LOGOUT = "logout"
REVEAL = "reveal"
"""A person saw material in clear (a picture revealed, a video played): ``target`` SHA-256."""
CATEGORISE = "categorise"
UNDO = "undo"
FLAG = "flag"
RESOLVE = "resolve"
EXPORT = "export"
USER_ADD = "user-add"
USER_DISABLE = "user-disable"
USER_PASSWORD = "user-password"
SETTINGS = "settings"

_HEAD_KEY = "lanterne.audit.head"
_witnesses: weakref.WeakKeyDictionary[Engine, Path] = weakref.WeakKeyDictionary()
_witness_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    user: str
    action: str
    target: str
    detail: dict[str, Any]
    prev: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "user": self.user,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "prev": self.prev,
            "hash": self.hash,
        }


@dataclass(slots=True)
class AuditReport:
    """What :func:`verify` found: ``ok`` when no problem; ``first_bad`` the id of the first
    entry found broken (None when the problem is the witness or none); ``head`` the last
    entry's hash."""

    ok: bool
    entries: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    first_bad: int | None = None
    head: str = GENESIS
    head_id: int | None = None


def entry_hash(
    prev: str, id: int, at: datetime, user: str, action: str, target: str, detail: str
) -> str:
    """The chain hash of an entry: SHA-256 of ``prev`` and the canonical JSON of its fields
    (``detail`` as stored: canonical JSON text)."""
    fields = [id, _iso(at), user, action, target, detail]
    canonical = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev}\n{canonical}".encode()).hexdigest()


def canonical_detail(detail: dict[str, Any] | None) -> str:
    return json.dumps(detail or {}, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def append(
    conn: Connection,
    user: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry within the caller's transaction (so that the audited change and its
    entry commit together). ``user`` is the person's user name (or the OS account for
    command-line actions)."""
    a = schema.audit
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE audit IN SHARE ROW EXCLUSIVE MODE"))
    at = utcnow()
    detail_text = canonical_detail(detail)
    pending = f"pending-{uuid.uuid4().hex}"
    # the insert comes first: on SQLite it takes the write lock before the head is read
    new_id = conn.execute(
        a.insert()
        .values(
            at=at,
            user=user,
            action=action,
            target=target,
            detail=detail_text,
            prev=pending,
            hash=pending,
        )
        .returning(a.c.id)
    ).scalar_one()
    prev = conn.execute(
        select(a.c.hash).where(a.c.id < new_id).order_by(a.c.id.desc()).limit(1)
    ).scalar()
    prev = prev or GENESIS
    digest = entry_hash(prev, new_id, at, user, action, target, detail_text)
    conn.execute(update(a).where(a.c.id == new_id).values(prev=prev, hash=digest))
    if conn.engine in _witnesses:
        conn.info[_HEAD_KEY] = (new_id, digest)
    return AuditEntry(new_id, at, user, action, target, dict(detail or {}), prev, digest)


def record(
    store: CaseStore,
    user: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry in a transaction of its own (an action that changes nothing else)."""
    with store.engine.begin() as conn:
        return append(conn, user, action, target, detail)


# ------------------------------------------------------------------ witness
def witness_path(case: Case) -> Path:
    """The case's witness file: the head of the audit chain, outside the database."""
    return case.root / WITNESS_NAME


def keep_witness(case: Case) -> Path:
    """Make every transaction on this case's store that appends audit entries update the
    witness file when it commits. Idempotent; returns the witness path."""
    path = witness_path(case)
    engine = case.store.engine
    with _witness_lock:
        _witnesses[engine] = path
        if not event.contains(engine, "commit", _on_commit):
            event.listen(engine, "commit", _on_commit)
            event.listen(engine, "rollback", _on_rollback)
    return path


def read_witness(path: Path) -> tuple[int, str] | None:
    """The (id, hash) a witness file names, or None when there is none; ValueError when it is
    not a witness."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not an audit witness: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise ValueError(f"{path} is not an audit witness")
    return int(data["id"]), str(data.get("hash", ""))


def _on_commit(conn: Connection) -> None:
    head = conn.info.pop(_HEAD_KEY, None)
    path = _witnesses.get(conn.engine)
    if head is None or path is None:
        return
    # called just before the database commits, while the append lock is still held, so
    # witness writes are in chain order
    _write_witness(path, head[0], head[1])


def _on_rollback(conn: Connection) -> None:
    conn.info.pop(_HEAD_KEY, None)


def _write_witness(path: Path, entry_id: int, digest: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    body = json.dumps({"id": entry_id, "hash": digest, "written": _iso(utcnow())})
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(body + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# ------------------------------------------------------------------ verify and read
def verify(store: CaseStore, witness: Path | None = None) -> AuditReport:
    """Check the whole chain, and its head against the ``witness`` file when given."""
    a = schema.audit
    report = AuditReport(ok=True, entries=0)
    expected = GENESIS
    witnessed: tuple[int, str] | None = None
    if witness is not None:
        try:
            witnessed = read_witness(witness)
        except ValueError as exc:
            report.problems.append(str(exc))
    witness_seen = False
    for row in store.rows(select(a).order_by(a.c.id)):
        report.entries += 1
        digest = entry_hash(row.prev, row.id, row.at, row.user, row.action, row.target, row.detail)
        if row.prev != expected:
            _problem(
                report,
                row.id,
                f"entry {row.id} does not follow the entry before it: an entry before it was "
                "deleted, inserted or moved",
            )
        if digest != row.hash:
            _problem(report, row.id, f"entry {row.id} was edited (its hash does not match)")
        if witnessed is not None and row.id == witnessed[0]:
            witness_seen = True
            if row.hash != witnessed[1]:
                _problem(
                    report,
                    row.id,
                    f"entry {row.id} is not the one the witness recorded: the log was "
                    "rewritten from there",
                )
        expected = row.hash
        report.head, report.head_id = row.hash, row.id
    if witness is not None and witnessed is None and not report.problems:
        if report.entries:
            report.notes.append(
                f"no witness file ({witness.name}): deletions at the end of the log cannot be "
                "detected"
            )
    elif witnessed is not None and not witness_seen:
        if report.head_id is None or report.head_id < witnessed[0]:
            report.problems.append(
                f"entry {witnessed[0]}, the last one the witness recorded, is missing: "
                "entries were deleted at the end of the log"
            )
        else:
            report.problems.append(
                f"entry {witnessed[0]}, recorded by the witness, is missing from the log"
            )
    elif witnessed is not None and report.head_id is not None and report.head_id > witnessed[0]:
        later = store.count(a, a.c.id > witnessed[0])
        report.notes.append(
            f"{later} entries after the last one the witness recorded (appended by a process "
            "that did not keep the witness)"
        )
    report.ok = not report.problems
    return report


def _problem(report: AuditReport, entry_id: int, message: str) -> None:
    report.problems.append(message)
    if report.first_bad is None:
        report.first_bad = entry_id


def entries(
    store: CaseStore,
    limit: int = 100,
    offset: int = 0,
    user: str | None = None,
    action: str | None = None,
    target: str | None = None,
) -> list[AuditEntry]:
    """Entries, newest first, optionally of one user, action or target."""
    a = schema.audit
    query = select(a).where(*_filters(user, action, target)).order_by(a.c.id.desc())
    with store.engine.connect() as conn:
        rows = conn.execute(query.limit(limit).offset(offset)).all()
    return [_entry(r) for r in rows]


def count_entries(
    store: CaseStore, user: str | None = None, action: str | None = None, target: str | None = None
) -> int:
    """How many entries :func:`entries` would page through."""
    return store.count(schema.audit, *_filters(user, action, target))


def iter_entries(store: CaseStore) -> Iterator[AuditEntry]:
    """Every entry, oldest first (streamed)."""
    a = schema.audit
    for row in store.rows(select(a).order_by(a.c.id)):
        yield _entry(row)


def _filters(user: str | None, action: str | None, target: str | None) -> list[Any]:
    a = schema.audit
    where: list[Any] = []
    if user is not None:
        where.append(a.c.user == user)
    if action is not None:
        where.append(a.c.action == action)
    if target is not None:
        where.append(a.c.target == target)
    return where


def _entry(row: Row[Any]) -> AuditEntry:
    try:
        detail = json.loads(row.detail)
    except json.JSONDecodeError:
        detail = {"unreadable": row.detail}
    return AuditEntry(row.id, row.at, row.user, row.action, row.target, detail, row.prev, row.hash)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")
