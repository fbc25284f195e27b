"""``lanterne network figures``: the operation in the figures a press release or a report
gives, from the case's own data.

The reference operation read: ~16,000 participants in ~130 countries; 95 suspects identified in
one country, by region; 122 computers, 330 storage media and 152 phones seized, 217 TB; 375,000
photos and 156,000 videos; 36 suspects already on record, 7 on the sex-offender register;
several with jobs giving access to children. Each figure here says what it counts:

- participants: persons (accounts joined on strong identifiers), the accounts themselves, the
  countries of their E.164 numbers, groups and messages;
- suspects: identified (the suspects file), in the case's country
  (:func:`lanterne.network.stats.case_country`) and by region there;
- on record: per watchlist, the suspects (and chat persons) it has a hit for;
- access to children: suspects whose occupation falls in a category of the prioritisation's
  configurable list (when the prioritisation is installed);
- seized: items by device type (the item's own ``device_type``, else guessed from its kind: a
  disk image is a computer, a phone extraction a phone, anything else storage) with bytes;
- photos and videos: distinct contents and their occurrences (files, attachments included),
  of them known (a known-bad set matches) and new (no known-bad or known-good set does).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Connection, distinct, func, select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.network.subjects import Suspect, load_links

DEVICE_TYPES = ("computer", "storage", "phone", "camera", "other")
GUESSED_DEVICE = {"disk-image": "computer", "phone": "phone"}
"""An item without a recorded device type, by its evidence kind (else ``storage``)."""


def operation_figures(case: Case) -> dict[str, Any]:
    """The operation's figures, JSON-ready (see the module's docstring for what counts)."""
    from lanterne.network.stats import case_country

    with case.store.engine.connect() as conn:
        links = load_links(conn)
        country = case_country(case)
        suspects = list(links.suspects.values())
        home = [s for s in suspects if country and (s.country or "").upper() == country]
        regions = Counter(s.region or "unknown" for s in home)
        return {
            "participants": _participants(conn),
            "suspects": {
                "identified": len(suspects),
                "case_country": country,
                "in_case_country": len(home),
                "by_region": dict(sorted(regions.items(), key=lambda kv: (-kv[1], kv[0]))),
            },
            "on_record": _on_record(conn),
            "child_access": _child_access(case, suspects),
            "seized": _seized(conn),
            "media": {
                "pictures": _media(conn, "picture"),
                "videos": _media(conn, "video"),
            },
        }


def _count(conn: Connection, table: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _participants(conn: Connection) -> dict[str, int]:
    i, pi, p = schema.identifier, schema.participant_identifier, schema.participant
    countries = conn.execute(
        select(func.count(distinct(i.c.country)))
        .select_from(
            i.join(pi, pi.c.identifier_id == i.c.id).join(p, p.c.id == pi.c.participant_id)
        )
        .where(i.c.kind == "e164", i.c.country.is_not(None))
    ).scalar_one()
    return {
        "persons": _count(conn, schema.person),
        "accounts": _count(conn, schema.participant),
        "countries": int(countries),
        "groups": _count(conn, schema.chat_group),
        "messages": _count(conn, schema.message),
    }


def _on_record(conn: Connection) -> dict[str, Any]:
    w, e, h = schema.watchlist, schema.watchlist_entry, schema.watchlist_hit
    per: dict[str, dict[str, int]] = {}
    for name, entries in conn.execute(select(w.c.name, w.c.entries).order_by(w.c.name)):
        per[name] = {"entries": int(entries), "suspects": 0, "persons": 0}
    for name, subject, n in conn.execute(
        select(w.c.name, h.c.subject, func.count(distinct(h.c.subject_id)))
        .select_from(h.join(e, e.c.id == h.c.entry_id).join(w, w.c.id == e.c.watchlist_id))
        .group_by(w.c.name, h.c.subject)
    ):
        key = "suspects" if subject == "suspect" else "persons"
        per[name][key] = int(n)
    any_suspect = conn.execute(
        select(func.count(distinct(h.c.subject_id))).where(h.c.subject == "suspect")
    ).scalar_one()
    return {
        "suspects": int(any_suspect),
        "by_watchlist": [{"watchlist": name, **counts} for name, counts in per.items()],
    }


def _child_access(case: Case, suspects: list[Suspect]) -> dict[str, Any] | None:
    """Suspects whose occupation gives access to children, by category (None when the
    prioritisation, which holds the list of occupations, is not installed)."""
    try:
        from lanterne.network.priorities import PriorityConfig, child_access_category
    except ImportError:
        return None
    config = PriorityConfig.from_case(case)
    found = Counter(
        category
        for s in suspects
        if (category := child_access_category(s.occupation, config)) is not None
    )
    return {"suspects": sum(found.values()), "by_category": dict(sorted(found.items()))}


def _seized(conn: Connection) -> dict[str, Any]:
    ev = schema.evidence
    by_device = {d: {"items": 0, "bytes": 0} for d in DEVICE_TYPES}
    for kind, device, n, size in conn.execute(
        select(ev.c.kind, ev.c.device_type, func.count(), func.sum(ev.c.size)).group_by(
            ev.c.kind, ev.c.device_type
        )
    ):
        if device in by_device:
            name = device
        elif device:
            name = "other"
        else:
            name = GUESSED_DEVICE.get(kind, "storage")
        by_device[name]["items"] += int(n)
        by_device[name]["bytes"] += int(size or 0)
    return {
        "items": sum(d["items"] for d in by_device.values()),
        "bytes": sum(d["bytes"] for d in by_device.values()),
        "by_device": by_device,
    }


def _media(conn: Connection, kind: str) -> dict[str, Any]:
    f, c, m, hs = schema.file, schema.content, schema.match, schema.hashset

    def matched(*roles: str) -> Any:
        return select(m.c.sha256).join(hs, hs.c.id == m.c.hashset_id).where(hs.c.role.in_(roles))

    def figures(*where: Any) -> dict[str, int]:
        contents, occurrences = conn.execute(
            select(func.count(distinct(f.c.sha256)), func.count())
            .select_from(f.join(c, c.c.sha256 == f.c.sha256))
            .where(c.c.kind == kind, *where)
        ).one()
        return {"contents": int(contents), "occurrences": int(occurrences)}

    return {
        **figures(),
        "known": figures(f.c.sha256.in_(matched("known-bad"))),
        "new": figures(f.c.sha256.not_in(matched("known-bad", "known-good"))),
    }
