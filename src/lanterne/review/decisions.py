"""Reviewers' decisions: categorising what hashing could not settle, once per group.

A decision is a row of ``review_decision``; the current category of a content is its latest
decision not undone. Categorising a content gives the same category to its near duplicates (the
other members of its PDQ group: pictures, or videos grouped by their frames; exact duplicates
are the same content, by SHA-256), as one *batch* that :func:`undo` reverses as one. A member
that someone categorised while looking at it (source ``review``) keeps its own category: a
propagated decision never overrides a person's look. Members already in that category are left
as they are.

A category that disagrees with a known-bad hash set's category in the same scheme is a
*conflict*: recorded and shown (:func:`conflicts`), the hash set never changed. Every
categorisation, undo, flag and resolution is written to the audit log in the same transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, select, update

from lanterne.case import schema
from lanterne.case.store import CaseStore, utcnow
from lanterne.errors import UserError
from lanterne.review import audit
from lanterne.review.schemes import Scheme, scheme_by_name

SECOND_OPINION = "second-opinion"
SOURCE_REVIEW = "review"
SOURCE_PROPAGATED = "propagated"
_CHUNK = 500


class NotFound(UserError):
    """The content, batch or flag asked for does not exist in this case."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """A content whose reviewer's category disagrees with known-bad hash sets in one scheme."""

    sha256: str
    scheme: str
    review: str
    """The reviewer's category."""
    hashsets: tuple[tuple[str, str], ...]
    """(hash set, its category) for each set that says otherwise."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "scheme": self.scheme,
            "review": self.review,
            "hashsets": [{"hashset": n, "category": c} for n, c in self.hashsets],
        }


@dataclass(frozen=True, slots=True)
class Current:
    """A content's current review category and where it came from."""

    category: str
    scheme: str
    by: str
    at: datetime
    source: str
    origin: str
    batch: str


@dataclass(frozen=True, slots=True)
class Decision:
    """One row of a content's decision history."""

    id: int
    sha256: str
    category: str
    scheme: str
    source: str
    origin: str
    batch: str
    user: str
    at: datetime
    undone_by: str | None
    undone_at: datetime | None


@dataclass(frozen=True, slots=True)
class Preview:
    """What categorising ``sha256`` would do: ``sha256s`` receive the category (the content
    first, then its near duplicates that change); ``unchanged`` already have it; ``kept`` have
    a category of their own look and keep it; ``conflicts`` disagree with hash sets."""

    sha256: str
    category: str
    scheme: str
    sha256s: list[str]
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "category": self.category,
            "scheme": self.scheme,
            "sha256s": self.sha256s,
            "changes": len(self.sha256s),
            "unchanged": self.unchanged,
            "kept": self.kept,
            "conflicts": [c.as_dict() for c in self.conflicts],
        }


@dataclass(frozen=True, slots=True)
class DecisionBatch:
    """A categorisation as applied: its ``batch`` id (for :func:`undo`), the contents that
    received the category (the reviewed one first) and the conflicts it made."""

    batch: str
    category: str
    scheme: str
    origin: str
    sha256s: list[str]
    kept: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "category": self.category,
            "scheme": self.scheme,
            "origin": self.origin,
            "sha256s": self.sha256s,
            "kept": self.kept,
            "conflicts": [c.as_dict() for c in self.conflicts],
        }


@dataclass(frozen=True, slots=True)
class Flag:
    id: int
    sha256: str
    kind: str
    note: str
    user: str
    at: datetime
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


# ------------------------------------------------------------------ propagation
def propagation(conn: Connection, sha256: str) -> list[str]:
    """The other members of the content's near-duplicate group (sorted), none when alone."""
    g = schema.pdq_group
    group = conn.execute(select(g.c.group_sha256).where(g.c.sha256 == sha256)).scalar()
    if group is None:
        return []
    rows = conn.execute(
        select(g.c.sha256).where(g.c.group_sha256 == group, g.c.sha256 != sha256)
    ).all()
    return sorted(r.sha256 for r in rows)


def preview(
    conn: Connection,
    sha256: str,
    category: str,
    *,
    scheme: Scheme | str,
    propagate: bool = True,
) -> Preview:
    """What :func:`categorise` would change, without changing anything (for a confirmation)."""
    sch = _scheme(scheme)
    value = _category(sch, category)
    _require_content(conn, sha256)
    members = propagation(conn, sha256) if propagate else []
    now = current(conn, [sha256, *members])
    targets, unchanged, kept = [sha256], [], []
    for member in members:
        cur = now.get(member)
        if cur is not None and cur.scheme == sch.name and cur.category == value:
            unchanged.append(member)
        elif cur is not None and cur.source == SOURCE_REVIEW:
            kept.append(member)
        else:
            targets.append(member)
    found = _hashset_conflicts(conn, {s: value for s in targets}, sch.name)
    return Preview(sha256, value, sch.name, targets, unchanged, kept, found)


def categorise(
    store: CaseStore,
    sha256: str,
    category: str,
    user: str,
    *,
    scheme: Scheme | str,
    propagate: bool = True,
) -> DecisionBatch:
    """Give ``sha256`` the ``category`` (a value or key of ``scheme``) and, with
    ``propagate``, its near duplicates as :func:`preview` says; audited. NotFound for an
    unknown content, ValueError for a category outside the scheme."""
    with _write(store) as conn:
        plan = preview(conn, sha256, category, scheme=scheme, propagate=propagate)
        batch = str(uuid.uuid4())
        at = utcnow()
        rows = [
            {
                "sha256": s,
                "category": plan.category,
                "scheme": plan.scheme,
                "source": SOURCE_REVIEW if s == sha256 else SOURCE_PROPAGATED,
                "origin": sha256,
                "batch": batch,
                "user": user,
                "at": at,
            }
            for s in plan.sha256s
        ]
        conn.execute(schema.review_decision.insert(), rows)
        audit.append(
            conn,
            user,
            audit.CATEGORISE,
            sha256,
            {
                "category": plan.category,
                "scheme": plan.scheme,
                "batch": batch,
                "propagated": plan.sha256s[1:],
                "kept": plan.kept,
                "conflicts": [c.sha256 for c in plan.conflicts],
            },
        )
    return DecisionBatch(
        batch, plan.category, plan.scheme, sha256, plan.sha256s, plan.kept, plan.conflicts
    )


def undo(store: CaseStore, batch: str, user: str) -> int:
    """Undo every decision of a batch still in force (the contents fall back to their
    previous decision, or to none); audited. Returns how many were undone; NotFound when the
    batch has nothing left to undo."""
    d = schema.review_decision
    with _write(store) as conn:
        rows = conn.execute(
            select(d.c.origin, d.c.category).where(d.c.batch == batch, d.c.undone_at.is_(None))
        ).all()
        if not rows:
            raise NotFound(f"batch {batch} does not exist or was undone already")
        conn.execute(
            update(d)
            .where(d.c.batch == batch, d.c.undone_at.is_(None))
            .values(undone_by=user, undone_at=utcnow())
        )
        audit.append(
            conn,
            user,
            audit.UNDO,
            rows[0].origin,
            {"batch": batch, "category": rows[0].category, "undone": len(rows)},
        )
    return len(rows)


def last_batch(conn: Connection, user: str) -> str | None:
    """The user's latest batch still in force (what an undo key undoes), or None."""
    d = schema.review_decision
    return conn.execute(
        select(d.c.batch)
        .where(d.c.user == user, d.c.undone_at.is_(None))
        .order_by(d.c.id.desc())
        .limit(1)
    ).scalar()


# ------------------------------------------------------------------ reading decisions
def current(conn: Connection, sha256s: Iterable[str]) -> dict[str, Current]:
    """The current review category of each of these contents that has one."""
    d = schema.review_decision
    out: dict[str, Current] = {}
    for chunk in _chunks(list(dict.fromkeys(sha256s))):
        rows = conn.execute(
            select(d).where(d.c.sha256.in_(chunk), d.c.undone_at.is_(None)).order_by(d.c.id)
        ).all()
        for r in rows:  # in id order: the latest wins
            out[r.sha256] = Current(r.category, r.scheme, r.user, r.at, r.source, r.origin, r.batch)
    return out


def history(conn: Connection, sha256: str) -> list[Decision]:
    """Every decision about a content, undone ones included, oldest first."""
    d = schema.review_decision
    rows = conn.execute(select(d).where(d.c.sha256 == sha256).order_by(d.c.id)).all()
    return [Decision(**{k: r._mapping[k] for k in Decision.__slots__}) for r in rows]


def current_decisions() -> Any:
    """The decisions in force (one per content: its latest not undone), as a selectable."""
    d = schema.review_decision
    later = d.alias("later")
    return select(d).where(
        d.c.undone_at.is_(None),
        ~exists().where(
            later.c.sha256 == d.c.sha256, later.c.undone_at.is_(None), later.c.id > d.c.id
        ),
    )


def conflicts(conn: Connection, sha256s: Sequence[str] | None = None) -> list[Conflict]:
    """Contents whose current review category disagrees with a known-bad hash set's category
    in the same scheme (all of the case's, or of these contents)."""
    cur = current_decisions().subquery()
    m, e, hs = schema.match, schema.hash_entry, schema.hashset
    query = (
        select(cur.c.sha256, cur.c.scheme, cur.c.category, hs.c.name, e.c.category.label("set_cat"))
        .select_from(
            cur.join(m, m.c.sha256 == cur.c.sha256)
            .join(e, e.c.id == m.c.entry)
            .join(hs, and_(hs.c.id == m.c.hashset_id, hs.c.scheme == cur.c.scheme))
        )
        .where(hs.c.role == "known-bad", e.c.category.is_not(None), e.c.category != cur.c.category)
        .order_by(cur.c.sha256, hs.c.name)
    )
    found: dict[tuple[str, str, str], set[tuple[str, str]]] = defaultdict(set)
    if sha256s is None:
        for r in conn.execute(query):
            found[(r.sha256, r.scheme, r.category)].add((r.name, r.set_cat))
    else:
        for chunk in _chunks(list(sha256s)):
            for r in conn.execute(query.where(cur.c.sha256.in_(chunk))):
                found[(r.sha256, r.scheme, r.category)].add((r.name, r.set_cat))
    return [Conflict(s, sch, cat, tuple(sorted(v))) for (s, sch, cat), v in sorted(found.items())]


# ------------------------------------------------------------------ flags
def flag(
    store: CaseStore, sha256: str, user: str, note: str = "", kind: str = SECOND_OPINION
) -> Flag:
    """Flag a content (by default: a reviewer asks a supervisor's second opinion); audited."""
    f = schema.review_flag
    with _write(store) as conn:
        _require_content(conn, sha256)
        at = utcnow()
        flag_id = conn.execute(
            f.insert()
            .values(sha256=sha256, kind=kind, note=note, user=user, at=at)
            .returning(f.c.id)
        ).scalar_one()
        audit.append(conn, user, audit.FLAG, sha256, {"flag": flag_id, "kind": kind, "note": note})
    return Flag(flag_id, sha256, kind, note, user, at, None, None, None)


def resolve(store: CaseStore, flag_id: int, user: str, resolution: str) -> Flag:
    """Close an open flag with what was decided; audited. NotFound when there is no such open
    flag."""
    f = schema.review_flag
    with _write(store) as conn:
        row = conn.execute(select(f).where(f.c.id == flag_id)).first()
        if row is None or row.resolved_at is not None:
            raise NotFound(f"no open flag {flag_id}")
        at = utcnow()
        conn.execute(
            update(f)
            .where(f.c.id == flag_id)
            .values(resolved_by=user, resolved_at=at, resolution=resolution)
        )
        audit.append(
            conn, user, audit.RESOLVE, row.sha256, {"flag": flag_id, "resolution": resolution}
        )
    return Flag(flag_id, row.sha256, row.kind, row.note, row.user, row.at, user, at, resolution)


def flags(
    conn: Connection, *, sha256: str | None = None, open_only: bool = True, kind: str | None = None
) -> list[Flag]:
    """Flags, oldest first: open ones (or all), of one content or kind (or every one)."""
    f = schema.review_flag
    query = select(f).order_by(f.c.id)
    if sha256 is not None:
        query = query.where(f.c.sha256 == sha256)
    if open_only:
        query = query.where(f.c.resolved_at.is_(None))
    if kind is not None:
        query = query.where(f.c.kind == kind)
    return [Flag(**{k: r._mapping[k] for k in Flag.__slots__}) for r in conn.execute(query)]


# ------------------------------------------------------------------ helpers
@contextmanager
def _write(store: CaseStore) -> Iterator[Connection]:
    """A transaction that holds the database's write lock from its start (SQLite would
    otherwise refuse a read-then-write transaction another writer overtook)."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("UPDATE review_flag SET id = id WHERE id < 0")
        yield conn


def _hashset_conflicts(conn: Connection, wanted: dict[str, str], scheme: str) -> list[Conflict]:
    """Of these contents (→ the category they would get), those whose known-bad hash-set
    categories in ``scheme`` say otherwise."""
    m, e, hs = schema.match, schema.hash_entry, schema.hashset
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for chunk in _chunks(list(wanted)):
        rows = conn.execute(
            select(m.c.sha256, hs.c.name, e.c.category)
            .select_from(m.join(e, e.c.id == m.c.entry).join(hs, hs.c.id == m.c.hashset_id))
            .where(
                m.c.sha256.in_(chunk),
                hs.c.role == "known-bad",
                hs.c.scheme == scheme,
                e.c.category.is_not(None),
            )
        ).all()
        for r in rows:
            if r.category != wanted[r.sha256]:
                found[r.sha256].add((r.name, r.category))
    return [Conflict(s, scheme, wanted[s], tuple(sorted(found[s]))) for s in wanted if s in found]


def _require_content(conn: Connection, sha256: str) -> None:
    c = schema.content
    if conn.execute(select(c.c.sha256).where(c.c.sha256 == sha256)).first() is None:
        raise NotFound(f"no content {sha256} in this case")


def _scheme(scheme: Scheme | str) -> Scheme:
    return scheme if isinstance(scheme, Scheme) else scheme_by_name(scheme)


def _category(scheme: Scheme, category: str) -> str:
    return scheme.category(category).value


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
