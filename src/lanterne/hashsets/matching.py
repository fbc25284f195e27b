"""Matching the case's contents against its hash sets, and what the matches mean.

Exact matching joins contents and hash-set entries on MD5, SHA-1 and SHA-256 in the database
(indexed on both sides), one statement per set and hash kind, and records each pair once.
It is incremental: a set remembers until when the contents it was matched against had been
analysed, so a new set is matched against every content and an old set only against the
contents added since. Run it after an import and after an ingest (both do). Videos are matched
by their frames at the same time, against listed videos (vPDQ) and listed pictures
(:mod:`lanterne.match.video`), under the same bookkeeping.

Categories are never translated between schemes: a content takes the category of each
known-bad entry it matches, within that entry's set's scheme, and two sets that disagree
within one scheme are a *conflict*, reported, not resolved.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, distinct, func, literal, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from lanterne.analyze.picture import DIHEDRAL
from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.config import Limits
from lanterne.hashsets.entries import pdq_entries
from lanterne.match.pdq_index import PdqIndex, hex_to_bits
from lanterne.match.video import match_video_sets

EXACT = ("md5", "sha1", "sha256")
MATCH_COLUMNS = ["sha256", "hashset_id", "entry", "method", "distance", "variant", "matched_at"]


def match_exact(case: Case) -> int:
    """Match every set against the contents it has not seen, exactly, by PDQ and, for videos,
    by their frames; returns the new matches."""
    store = case.store
    c, e, hs, m = schema.content, schema.hash_entry, schema.hashset, schema.match
    now = utcnow()
    with store.engine.begin() as conn:
        before = conn.execute(select(func.count()).select_from(m)).scalar_one()
        sets = conn.execute(select(hs.c.id, hs.c.matched_until)).all()
        by_since: dict[Any, list[int]] = defaultdict(list)
        for set_id, since in sets:
            by_since[since].append(set_id)
        for since, ids in by_since.items():
            _match_pdq(conn, case.limits, ids, since, now)
            match_video_sets(conn, case.limits, ids, since, now)
        for set_id, since in sets:
            for method in EXACT:
                query = (
                    select(
                        c.c.sha256,
                        e.c.hashset_id,
                        e.c.id,
                        literal(method),
                        literal(0),
                        literal(""),
                        literal(now, schema.UtcDateTime()),
                    )
                    .select_from(c.join(e, e.c[method] == c.c[method]))
                    .where(e.c.hashset_id == set_id, true())
                )
                if since is not None:
                    query = query.where(c.c.analyzed_at > since)
                insert = (postgresql if store.dialect == "postgresql" else sqlite).insert(m)
                conn.execute(insert.from_select(MATCH_COLUMNS, query).on_conflict_do_nothing())
            conn.execute(update(hs).where(hs.c.id == set_id).values(matched_until=now))
        after = conn.execute(select(func.count()).select_from(m)).scalar_one()
    return int(after - before)  # (drivers' rowcount is -1 for INSERT … SELECT on psycopg)


def _match_pdq(conn: Connection, limits: Limits, set_ids: list[int], since: Any, now: Any) -> None:
    """PDQ matches of the pictures analysed after ``since`` (all when None) against the PDQ
    entries of these sets: an exact range search (no missed pair), quality-gated on both
    sides, over the 8 turns and mirrors of each picture when ``limits.pdq_dihedral``."""
    c, m = schema.content, schema.match
    entries = pdq_entries(conn, limits, set_ids)
    if not entries:
        return
    entry_set = {r.id: r.hashset_id for r in entries}
    index = PdqIndex.build(hex_to_bits([r.pdq for r in entries]), np.array([r.id for r in entries]))
    del entries
    query = select(c.c.sha256, c.c.pdq, c.c.pdq_dihedral).where(
        c.c.pdq.is_not(None), c.c.pdq_quality >= limits.pdq_min_quality
    )
    if since is not None:
        query = query.where(c.c.analyzed_at > since)
    pictures = conn.execute(query).all()
    for start in range(0, len(pictures), 50_000):
        chunk = pictures[start : start + 50_000]
        hexes, owners = [], []
        for i, p in enumerate(chunk):
            variants = [p.pdq]
            if limits.pdq_dihedral and p.pdq_dihedral:
                variants += p.pdq_dihedral.split(",")
            for v, h in enumerate(variants):
                hexes.append(h)
                owners.append((i, "" if v == 0 else DIHEDRAL[v]))
        found = index.search(hex_to_bits(hexes), limits.pdq_max_distance)
        rows: dict[tuple[str, int, str], dict[str, Any]] = {}
        for q, entry, distance in zip(
            found.query.tolist(), found.ids.tolist(), found.distance.tolist(), strict=True
        ):
            i, variant = owners[q]
            key = (chunk[i].sha256, entry, variant)
            if key not in rows or distance < rows[key]["distance"]:
                rows[key] = {
                    "sha256": chunk[i].sha256,
                    "hashset_id": entry_set[entry],
                    "entry": entry,
                    "method": "pdq",
                    "distance": distance,
                    "variant": variant,
                    "matched_at": now,
                }
        if rows:
            insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(m)
            conn.execute(insert.on_conflict_do_nothing(), list(rows.values()))


@dataclass(slots=True)
class Categorised:
    """What the known-bad matches say of one content."""

    sha256: str
    categories: dict[str, set[str]] = field(default_factory=dict)
    """Scheme (or ``"?"`` when a set names none) → the categories its entries give."""
    sources: list[dict[str, Any]] = field(default_factory=list)
    """Every matched known-bad entry: set, entry id, category, method, distance."""

    @property
    def conflict(self) -> bool:
        return any(len(cats) > 1 for cats in self.categories.values())


def categorised(case: Case) -> dict[str, Categorised]:
    """The categories of every content matching a known-bad set, with their sources."""
    m, e, hs = schema.match, schema.hash_entry, schema.hashset
    query = (
        select(
            m.c.sha256,
            m.c.method,
            m.c.distance,
            hs.c.name,
            hs.c.scheme,
            e.c.category,
            e.c.entry_id,
            e.c.location,
        )
        .select_from(m.join(e, m.c.entry == e.c.id).join(hs, m.c.hashset_id == hs.c.id))
        .where(hs.c.role == "known-bad")
        .order_by(m.c.sha256, hs.c.name, e.c.id)
    )
    out: dict[str, Categorised] = {}
    for r in case.store.rows(query):
        item = out.setdefault(r.sha256, Categorised(r.sha256))
        if r.category is not None:
            item.categories.setdefault(r.scheme or "?", set()).add(r.category)
        item.sources.append(
            {
                "hashset": r.name,
                "scheme": r.scheme,
                "category": r.category,
                "entry_id": r.entry_id,
                "location": r.location,
                "method": r.method,
                "distance": r.distance,
            }
        )
    return out


def match_figures(case: Case) -> dict[str, Any]:
    """Figures for the summary: contents matched per set and category, known-good excluded,
    conflicts, the pictures and videos no set knows (new material), and the near-duplicate
    groups of pictures and of videos (two or more members)."""
    m, hs, e, c = schema.match, schema.hashset, schema.hash_entry, schema.content
    with case.store.engine.connect() as conn:
        per_set = [
            {"hashset": r.name, "role": r.role, "contents": r.n}
            for r in conn.execute(
                select(hs.c.name, hs.c.role, func.count(distinct(m.c.sha256)).label("n"))
                .select_from(hs.outerjoin(m, m.c.hashset_id == hs.c.id))
                .group_by(hs.c.name, hs.c.role)
                .order_by(hs.c.name)
            )
        ]
        by_category: dict[str, dict[str, int]] = defaultdict(dict)
        for r in conn.execute(
            select(hs.c.scheme, e.c.category, func.count(distinct(m.c.sha256)).label("n"))
            .select_from(m.join(e, m.c.entry == e.c.id).join(hs, m.c.hashset_id == hs.c.id))
            .where(hs.c.role == "known-bad")
            .group_by(hs.c.scheme, e.c.category)
        ):
            by_category[r.scheme or "?"][r.category or "uncategorised"] = r.n
        known = select(m.c.sha256)
        good = known_good().subquery()
        good_count = conn.execute(select(func.count(distinct(good.c.sha256)))).scalar()
        new = {
            r.kind: r.n
            for r in conn.execute(
                select(c.c.kind, func.count().label("n"))
                .where(c.c.kind.in_(("picture", "video")), c.c.sha256.not_in(known))
                .group_by(c.c.kind)
            )
        }
    g = schema.pdq_group
    sizes: dict[bool, list[int]] = {False: [], True: []}  # picture groups, video groups
    with case.store.engine.connect() as conn:
        for r in conn.execute(
            select((c.c.kind == "video").label("video"), func.count().label("n"))
            .select_from(g.join(c, c.c.sha256 == g.c.group_sha256))
            .group_by(g.c.group_sha256, c.c.kind)
        ):
            sizes[bool(r.video)].append(r.n)
    conflicts = sum(1 for item in categorised(case).values() if item.conflict)
    return {
        "hashsets": per_set,
        "matched_by_category": {k: dict(v) for k, v in by_category.items()},
        "known_good_contents": int(good_count or 0),
        "category_conflicts": conflicts,
        "new_pictures": new.get("picture", 0),
        "new_videos": new.get("video", 0),
        "near_duplicate_groups": sum(1 for n in sizes[False] if n > 1),
        "pictures_in_groups": sum(n for n in sizes[False] if n > 1),
        "video_groups": sum(1 for n in sizes[True] if n > 1),
        "videos_in_groups": sum(n for n in sizes[True] if n > 1),
    }


def known_good() -> Any:
    """The SHA-256 of the contents a known-good set (NSRL) matches, as a subquery."""
    m, hs = schema.match, schema.hashset
    return select(m.c.sha256).join(hs, m.c.hashset_id == hs.c.id).where(hs.c.role == "known-good")


def known_good_filter(column: Any) -> Any:
    """A condition on a SHA-256 ``column``: true unless a known-good set matches the content
    (what review counts and lists keep unless asked for everything; files never read stay)."""
    return or_(column.is_(None), column.not_in(known_good()))
