"""The case summary: what was seized, what is on it, what could not be read.

Figures count file *occurrences* (a picture on three devices is three files) and distinct
*contents* (one SHA-256) separately, as examiners report both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, distinct, func, select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.hashsets.matching import match_figures

KINDS_SHOWN = ("picture", "video")


def summarize(case: Case) -> dict[str, Any]:
    """All figures as plain JSON-able data."""
    store = case.store
    f, c, w, e = schema.file, schema.content, schema.warning, schema.evidence
    occurrences = f.join(c, f.c.sha256 == c.c.sha256)
    with store.engine.connect() as conn:
        files, nbytes = conn.execute(
            select(func.count(), func.coalesce(func.sum(f.c.size), 0))
        ).one()
        contents, content_bytes = conn.execute(
            select(func.count(), func.coalesce(func.sum(c.c.size), 0))
        ).one()
        by_kind = {
            r.kind: {"contents": r.n, "bytes": int(r.b or 0)}
            for r in conn.execute(
                select(c.c.kind, func.count().label("n"), func.sum(c.c.size).label("b")).group_by(
                    c.c.kind
                )
            )
        }
        for r in conn.execute(
            select(c.c.kind, func.count().label("n")).select_from(occurrences).group_by(c.c.kind)
        ):
            by_kind.setdefault(r.kind, {"contents": 0, "bytes": 0})["files"] = r.n
        by_type = [
            {"mime": r.mime, "files": r.files, "contents": r.contents, "bytes": int(r.b or 0)}
            for r in conn.execute(
                select(
                    c.c.mime,
                    func.count().label("files"),
                    func.count(distinct(c.c.sha256)).label("contents"),
                    func.sum(f.c.size).label("b"),
                )
                .select_from(occurrences)
                .group_by(c.c.mime)
                .order_by(func.count().desc(), c.c.mime)
            )
        ]
        warnings = {
            r.reason: r.n
            for r in conn.execute(
                select(w.c.reason, func.count().label("n"))
                .group_by(w.c.reason)
                .order_by(func.count().desc(), w.c.reason)
            )
        }
        mismatches = conn.execute(
            select(func.count()).where(f.c.extension_mismatch.is_(True))
        ).scalar_one()
        deleted, carved = conn.execute(
            select(
                func.count().filter(f.c.deleted.is_(True)),
                func.count().filter(f.c.carved.is_(True)),
            )
        ).one()
        apps = [
            {"evidence": r.label, "app": r.app, "path": r.path}
            for r in conn.execute(
                select(e.c.label, schema.app_data.c.app, schema.app_data.c.path)
                .select_from(schema.app_data.join(e, schema.app_data.c.evidence_id == e.c.id))
                .order_by(e.c.id, schema.app_data.c.app, schema.app_data.c.path)
            )
        ]
        per_item = [_item(conn, ev) for ev in conn.execute(select(e).order_by(e.c.id))]
        video = _videos(conn)
    other = {k: v for k, v in by_kind.items() if k not in KINDS_SHOWN}
    return {
        "matches": match_figures(case),
        "case": case.name,
        "items": len(per_item),
        "files": files,
        "bytes": int(nbytes),
        "distinct_contents": contents,
        "distinct_bytes": int(content_bytes),
        "pictures": by_kind.get("picture", {"contents": 0, "files": 0, "bytes": 0}),
        "videos": by_kind.get("video", {"contents": 0, "files": 0, "bytes": 0}),
        "other": {
            "contents": sum(v["contents"] for v in other.values()),
            "files": sum(v.get("files", 0) for v in other.values()),
            "bytes": sum(v["bytes"] for v in other.values()),
        },
        "by_kind": by_kind,
        "by_type": by_type,
        "extension_mismatches": mismatches,
        "deleted_files": deleted,
        "carved_files": carved,
        "app_data": apps,
        "warnings": sum(warnings.values()),
        "warnings_by_reason": warnings,
        "evidence": per_item,
        "video": video,
    }


def _videos(conn: Any) -> dict[str, Any]:
    """Hours of video, how many had their frames hashed, and the videos each kind of video
    matching found (whole listed videos, listed stills inside them) by set and category."""
    c, m, hs, he = schema.content, schema.match, schema.hashset, schema.hash_entry
    videos = c.c.kind == "video"
    seconds, hashed, frames = conn.execute(
        select(
            func.coalesce(func.sum(c.c.duration), 0.0),
            func.count().filter(c.c.frames_hashed.is_not(None)),
            func.coalesce(func.sum(c.c.frames_hashed), 0),
        ).where(videos)
    ).one()
    matched: dict[str, dict[str, Any]] = {}
    for r in conn.execute(
        select(
            m.c.method,
            hs.c.name,
            hs.c.role,
            hs.c.scheme,
            he.c.category,
            func.count(distinct(m.c.sha256)).label("n"),
        )
        .select_from(
            m.join(c, c.c.sha256 == m.c.sha256)
            .join(hs, hs.c.id == m.c.hashset_id)
            .join(he, he.c.id == m.c.entry)
        )
        .where(videos)
        .group_by(m.c.method, hs.c.name, hs.c.role, hs.c.scheme, he.c.category)
        .order_by(hs.c.name, m.c.method, he.c.category)
    ):
        item = matched.setdefault(
            r.name, {"role": r.role, "scheme": r.scheme, "by_method": {}, "by_category": {}}
        )
        item["by_method"][r.method] = item["by_method"].get(r.method, 0) + r.n
        category = r.category or "uncategorised"
        item["by_category"][category] = item["by_category"].get(category, 0) + r.n
    return {
        "hours": round(float(seconds) / 3600, 3),
        "frames_hashed_videos": hashed,
        "frame_hashes": int(frames),
        "matched_by_set": matched,
    }


def _item(conn: Any, ev: Any) -> dict[str, Any]:
    f, c, w = schema.file, schema.content, schema.warning
    files, nbytes, contents = conn.execute(
        select(
            func.count(), func.coalesce(func.sum(f.c.size), 0), func.count(distinct(f.c.sha256))
        ).where(f.c.evidence_id == ev.id)
    ).one()
    kinds = {
        r.kind: r.n
        for r in conn.execute(
            select(c.c.kind, func.count(distinct(c.c.sha256)).label("n"))
            .select_from(f.join(c, and_(f.c.sha256 == c.c.sha256, f.c.evidence_id == ev.id)))
            .group_by(c.c.kind)
        )
    }
    nwarn = conn.execute(select(func.count()).where(w.c.evidence_id == ev.id)).scalar_one()
    v = schema.verification
    last = conn.execute(
        select(v.c.outcome).where(v.c.evidence_id == ev.id).order_by(v.c.id.desc()).limit(1)
    ).scalar()
    return {
        "label": ev.label,
        "kind": ev.kind,
        "suspect": ev.suspect,
        "status": ev.status,
        "files": files,
        "bytes": int(nbytes),
        "contents": contents,
        "pictures": kinds.get("picture", 0),
        "videos": kinds.get("video", 0),
        "warnings": nwarn,
        "format": ev.format,
        "verification": last,
    }
