"""``lanterne chats summary``: the groups, who was in them and from where, what was shared.

Figures are of persons (participants joined on strong identifiers), so one man seen on his
phone's backup and on his computer's profile counts once; groups are counted across devices by
their identity (a Signal v2 group id).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import distinct, func, select

from lanterne.case import schema
from lanterne.case.workspace import Case

MEMBER_ROLES = ("admin", "member")


def chats_summary(case: Case) -> dict[str, Any]:
    g, ms, p, msg = schema.chat_group, schema.membership, schema.participant, schema.message
    at, src = schema.attachment, schema.chat_source
    with case.store.engine.connect() as conn:
        sources = [
            {
                "evidence": r.label,
                "app": r.app,
                "path": r.path,
                "schema_version": r.schema_version,
                "status": r.status,
            }
            for r in conn.execute(
                select(
                    schema.evidence.c.label,
                    src.c.app,
                    src.c.path,
                    src.c.schema_version,
                    src.c.status,
                )
                .join(schema.evidence, schema.evidence.c.id == src.c.evidence_id)
                .order_by(schema.evidence.c.label, src.c.path)
            )
        ]
        members: dict[int, int] = dict(
            conn.execute(
                select(ms.c.chat_group_id, func.count(distinct(p.c.person_id)))
                .join(p, p.c.id == ms.c.participant_id)
                .where(ms.c.role.in_(MEMBER_ROLES))
                .group_by(ms.c.chat_group_id)
            ).all()
        )
        admins: dict[int, int] = dict(
            conn.execute(
                select(ms.c.chat_group_id, func.count(distinct(p.c.person_id)))
                .join(p, p.c.id == ms.c.participant_id)
                .where(ms.c.role == "admin")
                .group_by(ms.c.chat_group_id)
            ).all()
        )
        per_group = {
            r.chat_group_id: r
            for r in conn.execute(
                select(
                    msg.c.chat_group_id,
                    func.count().label("messages"),
                    func.min(msg.c.sent_at).label("first"),
                    func.max(msg.c.sent_at).label("last"),
                )
                .where(msg.c.chat_group_id.is_not(None))
                .group_by(msg.c.chat_group_id)
            )
        }
        files: dict[int, int] = dict(
            conn.execute(
                select(msg.c.chat_group_id, func.count(at.c.id))
                .join(msg, msg.c.id == at.c.message_id)
                .group_by(msg.c.chat_group_id)
            ).all()
        )
        devices: dict[int, int] = dict(
            conn.execute(
                select(
                    schema.chat_group_seen.c.chat_group_id,
                    func.count(distinct(schema.chat_group_seen.c.evidence_id)),
                ).group_by(schema.chat_group_seen.c.chat_group_id)
            ).all()
        )
        groups = []
        for gid, key, title in conn.execute(select(g.c.id, g.c.key, g.c.title).order_by(g.c.id)):
            stats = per_group.get(gid)
            groups.append(
                {
                    "key": key,
                    "title": title,
                    "members": members.get(gid, 0),
                    "admins": admins.get(gid, 0),
                    "messages": stats.messages if stats else 0,
                    "attachments": files.get(gid, 0),
                    "first_message": stats.first.isoformat() if stats and stats.first else None,
                    "last_message": stats.last.isoformat() if stats and stats.last else None,
                    "items": devices.get(gid, 0),
                }
            )
        groups.sort(key=lambda d: (-d["members"], -d["messages"], d["key"]))
        return {
            "sources": sources,
            "persons": conn.execute(select(func.count()).select_from(schema.person)).scalar_one(),
            "participants": conn.execute(select(func.count()).select_from(p)).scalar_one(),
            "groups": groups,
            "messages": conn.execute(select(func.count()).select_from(msg)).scalar_one(),
            "attachments": _attachments(conn),
            "persons_by_country": _countries(conn),
        }


def _attachments(conn: Any) -> dict[str, Any]:
    at, m, e, hs = schema.attachment, schema.match, schema.hash_entry, schema.hashset
    by_state = dict(conn.execute(select(at.c.state, func.count()).group_by(at.c.state)).all())
    distinct_contents = conn.execute(
        select(func.count(distinct(at.c.sha256))).where(at.c.sha256.is_not(None))
    ).scalar_one()
    bad = hs.c.role == "known-bad"
    by_category: dict[str, dict[str, int]] = defaultdict(dict)
    for scheme, category, n in conn.execute(
        select(hs.c.scheme, e.c.category, func.count(distinct(at.c.id)))
        .select_from(
            at.join(m, m.c.sha256 == at.c.sha256)
            .join(e, e.c.id == m.c.entry)
            .join(hs, hs.c.id == m.c.hashset_id)
        )
        .where(bad)
        .group_by(hs.c.scheme, e.c.category)
    ):
        by_category[scheme or "?"][category or "uncategorised"] = n
    matched = conn.execute(
        select(func.count(distinct(at.c.id)))
        .select_from(at.join(m, m.c.sha256 == at.c.sha256).join(hs, hs.c.id == m.c.hashset_id))
        .where(bad)
    ).scalar_one()
    return {
        "total": sum(by_state.values()),
        "by_state": by_state,
        "distinct_contents": distinct_contents,
        "known_bad": matched,
        "known_bad_by_category": dict(by_category),
    }


def _countries(conn: Any) -> dict[str, int]:
    """Persons per country of their phone numbers (``unknown``: no valid number seen); a
    person with numbers of two countries counts in both."""
    i, pi, p = schema.identifier, schema.participant_identifier, schema.participant
    seen: dict[int, set[str]] = {
        pid: set() for pid in conn.execute(select(schema.person.c.id)).scalars()
    }
    for person, code in conn.execute(
        select(p.c.person_id, i.c.country)
        .join(pi, pi.c.participant_id == p.c.id)
        .join(i, i.c.id == pi.c.identifier_id)
        .where(i.c.kind == "e164", i.c.country.is_not(None))
        .distinct()
    ):
        seen.setdefault(person, set()).add(code)
    out: dict[str, int] = defaultdict(int)
    for codes in seen.values():
        for code in codes or {"unknown"}:
            out[code] += 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))
