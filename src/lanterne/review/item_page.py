"""The item page: everything the case knows of one content.

Its occurrences with provenance, hash-set matches with distance, picture facts (EXIF, camera,
GPS), near duplicates with their PDQ distance, the chats it was posted in, the decisions,
flags and conflicts, and who revealed it. Read-only; lists are capped at :data:`ITEM_LIMIT`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, func, select

from lanterne.case import schema
from lanterne.review import audit
from lanterne.review.decisions import Conflict, Decision, flags, history

ITEM_LIMIT = 500
"""At most this many occurrences, near duplicates, chat postings and views on an item page."""


def item(conn: Connection, sha256: str) -> dict[str, Any] | None:
    """Everything known of one content, None when the case has no such content (eight
    queries, whatever the content)."""
    c, g = schema.content, schema.pdq_group
    members = g.alias("members")
    row = conn.execute(
        select(
            c,
            g.c.group_sha256,
            select(func.count())
            .where(members.c.group_sha256 == g.c.group_sha256)
            .scalar_subquery()
            .label("group_size"),
        )
        .select_from(c.outerjoin(g, g.c.sha256 == c.c.sha256))
        .where(c.c.sha256 == sha256)
    ).first()
    if row is None:
        return None
    content = {col.key: _jsonable(row._mapping[col.key]) for col in c.columns}
    occurrences, n_occurrences = _occurrences(conn, sha256)
    matches = _matches(conn, sha256)
    decisions = history(conn, sha256)
    in_force = [d for d in decisions if d.undone_at is None]
    cur = in_force[-1] if in_force else None
    group = None
    if row.group_sha256 is not None:
        group = {
            "sha256": row.group_sha256,
            "size": int(row.group_size),
            "representative": row.group_sha256 == sha256,
        }
    return {
        "sha256": sha256,
        "content": content,
        "occurrences": occurrences,
        "occurrences_total": n_occurrences,
        "matches": matches,
        "group": group,
        "near_duplicates": _near_duplicates(conn, sha256, row.group_sha256, row.pdq),
        "chats": _chats(conn, sha256),
        "current": None
        if cur is None
        else {
            "category": cur.category,
            "scheme": cur.scheme,
            "by": cur.user,
            "at": _jsonable(cur.at),
            "source": cur.source,
            "origin": cur.origin,
            "batch": cur.batch,
        },
        "decisions": [{k: _jsonable(v) for k, v in asdict(d).items()} for d in decisions],
        "flags": [
            {k: _jsonable(v) for k, v in asdict(f).items()}
            for f in flags(conn, sha256=sha256, open_only=False)
        ],
        "conflicts": _conflicts(sha256, cur, matches),
        "views": _views(conn, sha256),
    }


def _conflicts(sha256: str, cur: Decision | None, matches: list[dict[str, Any]]) -> list[Any]:
    """The decision in force against the known-bad sets' categories in its scheme (as
    :func:`lanterne.review.decisions.conflicts` says it, from what the page read already)."""
    if cur is None:
        return []
    against = {
        (m["hashset"], m["category"])
        for m in matches
        if m["role"] == "known-bad"
        and m["scheme"] == cur.scheme
        and m["category"] is not None
        and m["category"] != cur.category
    }
    if not against:
        return []
    return [Conflict(sha256, cur.scheme, cur.category, tuple(sorted(against))).as_dict()]


def _occurrences(conn: Connection, sha256: str) -> tuple[list[dict[str, Any]], int]:
    f, ev = schema.file, schema.evidence
    rows = conn.execute(
        select(
            f.c.id,
            f.c.evidence_id,
            ev.c.label,
            ev.c.suspect,
            f.c.path,
            f.c.name,
            f.c.provenance,
            f.c.size,
            f.c.mtime,
            f.c.atime,
            f.c.ctime,
            f.c.crtime,
            f.c.deleted,
            f.c.carved,
            f.c.extension_mismatch,
            func.count().over().label("total"),
        )
        .join(ev, ev.c.id == f.c.evidence_id)
        .where(f.c.sha256 == sha256)
        .order_by(ev.c.label, f.c.path)
        .limit(ITEM_LIMIT)
    ).all()
    out = []
    for r in rows:
        d = {k: _jsonable(v) for k, v in r._mapping.items()}
        del d["total"]
        d["evidence"] = d.pop("label")
        d["provenance"] = json.loads(r.provenance)
        out.append(d)
    return out, int(rows[0].total) if rows else 0


def _matches(conn: Connection, sha256: str) -> list[dict[str, Any]]:
    m, e, hs = schema.match, schema.hash_entry, schema.hashset
    rows = conn.execute(
        select(
            hs.c.name.label("hashset"),
            hs.c.role,
            hs.c.scheme,
            e.c.category,
            e.c.entry_id,
            e.c.name.label("entry_name"),
            m.c.method,
            m.c.distance,
            m.c.variant,
            m.c.query_share,
            m.c.target_share,
            m.c.segments,
        )
        .select_from(m.join(e, e.c.id == m.c.entry).join(hs, hs.c.id == m.c.hashset_id))
        .where(m.c.sha256 == sha256)
        .order_by(hs.c.name, m.c.distance, e.c.id)
    ).all()
    out = []
    for r in rows:
        d = dict(r._mapping)
        d["segments"] = json.loads(r.segments) if r.segments else None
        out.append(d)
    return out


def _near_duplicates(
    conn: Connection, sha256: str, group: str | None, pdq: str | None
) -> list[dict[str, Any]]:
    """The other members of the content's group, nearest first (PDQ distance to it)."""
    if group is None:
        return []
    g, c = schema.pdq_group, schema.content
    rows = conn.execute(
        select(
            c.c.sha256, c.c.kind, c.c.width, c.c.height, c.c.pdq, c.c.thumbnail, g.c.representative
        )
        .join(g, g.c.sha256 == c.c.sha256)
        .where(g.c.group_sha256 == group, c.c.sha256 != sha256)
        .order_by(c.c.sha256)
        .limit(ITEM_LIMIT)
    ).all()
    near = [
        {
            "sha256": r.sha256,
            "kind": r.kind,
            "width": r.width,
            "height": r.height,
            "thumbnail": bool(r.thumbnail),
            "representative": bool(r.representative),
            "distance": _hamming(pdq, r.pdq),
        }
        for r in rows
    ]
    near.sort(key=lambda d: (d["distance"] is None, d["distance"] or 0, d["sha256"]))
    return near


def _chats(conn: Connection, sha256: str) -> list[dict[str, Any]]:
    a, msg, cg, p, ev = (
        schema.attachment,
        schema.message,
        schema.chat_group,
        schema.participant,
        schema.evidence,
    )
    rows = conn.execute(
        select(
            msg.c.id.label("message_id"),
            msg.c.chat_group_id,
            cg.c.title,
            cg.c.app,
            msg.c.sent_at,
            msg.c.sender_id,
            func.coalesce(p.c.name, p.c.profile_name, p.c.contact_name).label("sender"),
            p.c.person_id,
            ev.c.label.label("evidence"),
            a.c.file_name,
        )
        .select_from(
            a.join(msg, msg.c.id == a.c.message_id)
            .join(ev, ev.c.id == a.c.evidence_id)
            .outerjoin(cg, cg.c.id == msg.c.chat_group_id)
            .outerjoin(p, p.c.id == msg.c.sender_id)
        )
        .where(a.c.sha256 == sha256)
        .order_by(msg.c.sent_at, msg.c.id)
        .limit(ITEM_LIMIT)
    ).all()
    return [{k: _jsonable(v) for k, v in r._mapping.items()} for r in rows]


def _views(conn: Connection, sha256: str) -> list[dict[str, Any]]:
    a = schema.audit
    rows = conn.execute(
        select(a.c.id, a.c.user, a.c.at)
        .where(a.c.target == sha256, a.c.action == audit.REVEAL)
        .order_by(a.c.id.desc())
        .limit(ITEM_LIMIT)
    ).all()
    return [{"audit": r.id, "user": r.user, "at": _jsonable(r.at)} for r in rows]


def _hamming(a: str | None, b: str | None) -> int | None:
    if not a or not b:
        return None
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
