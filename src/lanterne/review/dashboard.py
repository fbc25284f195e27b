"""The dashboard's review figures, remembered while the case is unchanged."""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, and_, case, distinct, func, select

from lanterne.case import schema
from lanterne.review import audit
from lanterne.review.decisions import conflicts, current_decisions
from lanterne.review.grid import KINDS, grid
from lanterne.review.remembered import remembered


def dashboard(conn: Connection) -> dict[str, Any]:
    """The case's review figures: contents by kind; pictures and videos known by category
    (known-bad sets), known-good; per evidence item; new awaiting review (contents and
    groups); reviewed by category; open flags; conflicts; and the pictures and videos a hash
    set settled without anyone viewing them (no reveal in the audit log). Remembered until
    the figures may change (:mod:`lanterne.review.remembered`)."""
    figures: dict[str, Any] = copy.deepcopy(
        remembered(conn, ("dashboard",), lambda: _dashboard(conn))
    )
    return figures


def _dashboard(conn: Connection) -> dict[str, Any]:
    c, m, hs, e = schema.content, schema.match, schema.hashset, schema.hash_entry
    by_kind = {
        r.kind: r.n
        for r in conn.execute(select(c.c.kind, func.count().label("n")).group_by(c.c.kind))
    }
    known_by_category: dict[str, dict[str, int]] = defaultdict(dict)
    for r in conn.execute(
        select(hs.c.scheme, e.c.category, func.count(distinct(m.c.sha256)).label("n"))
        .select_from(m.join(e, e.c.id == m.c.entry).join(hs, hs.c.id == m.c.hashset_id))
        .where(hs.c.role == "known-bad")
        .group_by(hs.c.scheme, e.c.category)
    ):
        known_by_category[r.scheme or "?"][r.category or "uncategorised"] = r.n
    sets = _sets()
    joined: Any = c
    for name in ("known", "good", "matched", "decided", "revealed"):
        joined = joined.outerjoin(sets[name], sets[name].c.sha256 == c.c.sha256)
    has = {name: sets[name].c.sha256.is_not(None) for name in sets}
    figures = conn.execute(
        select(
            _count_if(has["known"]).label("known"),
            _count_if(has["good"]).label("known_good"),
            _count_if(and_(has["matched"], ~has["revealed"])).label("settled"),
            _count_if(and_(~has["matched"], ~has["decided"])).label("new"),
        )
        .select_from(joined)
        .where(c.c.kind.in_(list(KINDS)))
    ).one()
    cur = current_decisions().subquery()
    reviewed: dict[str, dict[str, int]] = defaultdict(dict)
    for r in conn.execute(
        select(cur.c.scheme, cur.c.category, func.count().label("n")).group_by(
            cur.c.scheme, cur.c.category
        )
    ):
        reviewed[r.scheme][r.category] = r.n
    fl = schema.review_flag
    open_flags = conn.execute(
        select(func.count()).select_from(fl).where(fl.c.resolved_at.is_(None))
    ).scalar_one()
    return {
        "contents": dict(sorted(by_kind.items())),
        "pictures": by_kind.get("picture", 0),
        "videos": by_kind.get("video", 0),
        "known_by_category": {k: dict(sorted(v.items())) for k, v in known_by_category.items()},
        "known": int(figures.known),
        "known_good": int(figures.known_good),
        "settled_by_hash": int(figures.settled),
        "new": {"contents": int(figures.new), "groups": grid(conn, state="new", size=1).total},
        "reviewed": {
            "contents": sum(sum(v.values()) for v in reviewed.values()),
            "by_category": {k: dict(sorted(v.items())) for k, v in reviewed.items()},
        },
        "flags_open": int(open_flags),
        "conflicts": len(conflicts(conn)),
        "evidence": _evidence_figures(conn),
    }


def _evidence_figures(conn: Connection) -> list[dict[str, Any]]:
    """Per evidence item: its files, and the distinct pictures and videos on it, known to a
    known-bad or alert set, new (unknown and undecided) — one pass over the file table."""
    c, f, ev = schema.content, schema.file, schema.evidence
    sets = _sets()
    on_item = select(f.c.evidence_id, f.c.sha256).distinct().subquery("on_item")
    joined = on_item.join(c, c.c.sha256 == on_item.c.sha256)
    for name in ("known", "matched", "decided"):
        joined = joined.outerjoin(sets[name], sets[name].c.sha256 == c.c.sha256)
    has = {name: sets[name].c.sha256.is_not(None) for name in sets}
    media: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in conn.execute(
        select(
            on_item.c.evidence_id,
            c.c.kind,
            func.count().label("n"),
            _count_if(has["known"]).label("known"),
            _count_if(and_(~has["matched"], ~has["decided"])).label("new"),
        )
        .select_from(joined)
        .where(c.c.kind.in_(list(KINDS)))
        .group_by(on_item.c.evidence_id, c.c.kind)
    ):
        figures = media[r.evidence_id]
        figures[r.kind + "s"] = r.n
        figures["known"] += r.known
        figures["new"] += r.new
    files = {
        r.evidence_id: r.n
        for r in conn.execute(
            select(f.c.evidence_id, func.count().label("n")).group_by(f.c.evidence_id)
        )
    }
    out = []
    for r in conn.execute(
        select(ev.c.id, ev.c.label, ev.c.kind, ev.c.status, ev.c.suspect).order_by(ev.c.label)
    ):
        figures = media.get(r.id, {})
        out.append(
            {
                **r._mapping,
                "files": files.get(r.id, 0),
                "pictures": figures.get("pictures", 0),
                "videos": figures.get("videos", 0),
                "known": figures.get("known", 0),
                "new": figures.get("new", 0),
            }
        )
    return out


def _sets() -> dict[str, Any]:
    """The contents known (a known-bad or alert set), known good, matched by any set,
    decided (a decision in force) and revealed (in the audit log), each as a subquery of
    distinct ``sha256``: figures join them once instead of probing row by row."""
    m, hs, d, a = schema.match, schema.hashset, schema.review_decision, schema.audit
    by_role = m.join(hs, hs.c.id == m.c.hashset_id)
    return {
        "known": select(m.c.sha256)
        .select_from(by_role)
        .where(hs.c.role != "known-good")
        .distinct()
        .subquery("known"),
        "good": select(m.c.sha256)
        .select_from(by_role)
        .where(hs.c.role == "known-good")
        .distinct()
        .subquery("good"),
        "matched": select(m.c.sha256).distinct().subquery("matched"),
        "decided": select(d.c.sha256).where(d.c.undone_at.is_(None)).distinct().subquery("decided"),
        "revealed": select(a.c.target.label("sha256"))
        .where(a.c.action == audit.REVEAL)
        .distinct()
        .subquery("revealed"),
    }


def _count_if(condition: Any) -> Any:
    return func.count(case((condition, 1)))
