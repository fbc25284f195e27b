"""What the pages show beyond the review library: evidence items, chat groups and members,
persons by country, filter choices, chart data and paging links.

Read-only queries over the case store (SQLAlchemy Core; SQLite and PostgreSQL alike), each
aggregated in SQL so that a page costs a handful of queries however large the case. The review
grid, item page and dashboard figures themselves come from :mod:`lanterne.review.queries`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import HTTPException, Request
from sqlalchemy import Connection, distinct, func, select

from lanterne.case import schema
from lanterne.errors import UserError
from lanterne.review import audit, queries
from lanterne.review.schemes import UNCATEGORISED, Scheme

MEMBERS_SHOWN = 2000
COUNTRIES_CHARTED = 40
AUDIT_ACTIONS = (
    audit.LOGIN,
    audit.LOGIN_FAILED,
    audit.LOGOUT,
    audit.REVEAL,
    audit.CATEGORISE,
    audit.UNDO,
    audit.FLAG,
    audit.RESOLVE,
    audit.EXPORT,
    audit.USER_ADD,
    audit.USER_DISABLE,
    audit.USER_PASSWORD,
    audit.SETTINGS,
)
ROLE_STRENGTH = ("admin", "member", "former", "banned", "pending", "requesting")
"""Membership roles, strongest first (a person's role in a group across devices)."""
_CHUNK = 500


def human_bytes(value: Any) -> str:
    """``1536`` → ``1.5 KiB``."""
    try:
        n = float(value)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover (the loop returns)


# ------------------------------------------------------------------ charts
def chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    stacked: bool = False,
    horizontal: bool = False,
) -> dict[str, Any]:
    """A bar chart as ``static/js/charts.js`` draws it (``data-chart``)."""
    return {
        "type": "bar",
        "labels": list(labels),
        "series": [{"label": name, "data": list(data)} for name, data in series],
        "stacked": stacked,
        "horizontal": horizontal,
    }


def category_chart(figures: dict[str, Any], scheme: Scheme) -> dict[str, Any]:
    """Material by category: what known-bad hash sets say, and what reviewers decided, in the
    case's scheme (categories of other schemes follow, named with their scheme)."""
    known: dict[str, dict[str, int]] = figures["known_by_category"]
    reviewed: dict[str, dict[str, int]] = figures["reviewed"]["by_category"]
    keys = [(scheme.name, c.value) for c in scheme.categories]
    for source in (known, reviewed):
        for sch, cats in sorted(source.items()):
            keys += [(sch, cat) for cat in sorted(cats) if (sch, cat) not in keys]
    labels = []
    for sch, cat in keys:
        label = _category_name(scheme, cat) if sch == scheme.name else f"{sch} {cat}"
        labels.append(label)
    return chart(
        labels,
        [
            ("Hash sets (known-bad)", [known.get(s, {}).get(c, 0) for s, c in keys]),
            ("Reviewed", [reviewed.get(s, {}).get(c, 0) for s, c in keys]),
        ],
    )


def _category_name(scheme: Scheme, value: str) -> str:
    try:
        category = scheme.category(value)
    except ValueError:
        return value
    return category.label if value == UNCATEGORISED else f"{value} {category.label}"


def evidence_chart(figures: dict[str, Any]) -> dict[str, Any]:
    """Pictures and videos per evidence item: known, new (awaiting review), the rest."""
    items = figures["evidence"]
    rest = [max(0, i["pictures"] + i["videos"] - i["known"] - i["new"]) for i in items]
    return chart(
        [i["label"] for i in items],
        [
            ("Known (hash sets)", [i["known"] for i in items]),
            ("New (awaiting review)", [i["new"] for i in items]),
            ("Reviewed or known-good", rest),
        ],
        stacked=True,
    )


def country_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    shown = rows[:COUNTRIES_CHARTED]
    return chart(
        [r["country"] for r in shown],
        [("Persons", [r["persons"] for r in shown])],
        horizontal=True,
    )


# ------------------------------------------------------------------ review filters
def state_options(scheme: Scheme) -> list[tuple[str, str]]:
    """The grid's states, with one entry per category of the case's scheme."""
    out = [("new", "New (awaiting review)"), ("known", "Known (hash sets)")]
    out += [
        (f"known:{c.value}", f"Known: {_category_name(scheme, c.value)}") for c in scheme.categories
    ]
    out.append(("reviewed", "Reviewed"))
    out += [
        (f"reviewed:{c.value}", f"Reviewed: {_category_name(scheme, c.value)}")
        for c in scheme.categories
    ]
    out += [("flagged", "Second opinion asked"), ("all", "All")]
    return out


def filter_options(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Evidence items, suspects and chat groups, for the grid's filters."""
    e, s, g = schema.evidence, schema.suspect, schema.chat_group
    return {
        "evidence": [
            dict(r._mapping) for r in conn.execute(select(e.c.id, e.c.label).order_by(e.c.label))
        ],
        "suspects": [
            dict(r._mapping)
            for r in conn.execute(select(s.c.id, s.c.key, s.c.name).order_by(s.c.key))
        ],
        "chat_groups": [
            dict(r._mapping)
            for r in conn.execute(select(g.c.id, g.c.title, g.c.app).order_by(g.c.title, g.c.id))
        ],
    }


def page_links(request: Request, grid: queries.GridPage) -> dict[str, str | None]:
    """Links to the previous and next pages of the grid, keeping the filters."""

    def at(page: int) -> str:
        params = dict(request.query_params)
        params["page"] = str(page)
        return str(request.url.replace_query_params(**params).include_query_params())

    return {
        "previous": at(grid.page - 1) if grid.page > 0 else None,
        "next": at(grid.page + 1) if grid.page + 1 < grid.pages else None,
    }


def known_categories(matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the known-bad and alert sets matching an item say of it, one line per set."""
    seen: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
    for m in matches:
        if m["role"] == "known-good":
            continue
        key = (m["hashset"], m["scheme"], m["category"])
        seen.setdefault(key, {"hashset": m["hashset"], "scheme": m["scheme"],
                              "category": m["category"], "role": m["role"]})  # fmt: skip
    return list(seen.values())


# ------------------------------------------------------------------ evidence
def evidence_items(conn: Connection) -> list[dict[str, Any]]:
    """Every seized item with its ingest state and figures."""
    e, w, v = schema.evidence, schema.warning, schema.verification
    figures = {i["id"]: i for i in queries.dashboard(conn)["evidence"]}
    warnings: dict[int, int] = {
        r.evidence_id: r.n
        for r in conn.execute(
            select(w.c.evidence_id, func.count().label("n")).group_by(w.c.evidence_id)
        )
    }
    last: dict[int, str] = {}
    for r in conn.execute(select(v.c.evidence_id, v.c.outcome).order_by(v.c.id)):
        last[r.evidence_id] = r.outcome
    out = []
    for row in conn.execute(
        select(
            e.c.id,
            e.c.label,
            e.c.kind,
            e.c.format,
            e.c.suspect,
            e.c.size,
            e.c.status,
            e.c.registered_at,
            e.c.registered_by,
            e.c.ingest_started_at,
            e.c.ingest_finished_at,
        ).order_by(e.c.label)
    ):
        item = dict(row._mapping)
        found = figures.get(row.id, {})
        item.update(
            files=found.get("files", 0),
            pictures=found.get("pictures", 0),
            videos=found.get("videos", 0),
            known=found.get("known", 0),
            new=found.get("new", 0),
            warnings=warnings.get(row.id, 0),
            verification=last.get(row.id),
        )
        out.append(item)
    return out


# ------------------------------------------------------------------ chats
def chat_groups(conn: Connection) -> list[dict[str, Any]]:
    """Every chat group with its members (persons), messages, attachments and the known-bad
    material among them."""
    g, ms, p, msg, a = (
        schema.chat_group,
        schema.membership,
        schema.participant,
        schema.message,
        schema.attachment,
    )
    members: dict[int, int] = {
        r.chat_group_id: r.n
        for r in conn.execute(
            select(ms.c.chat_group_id, func.count(distinct(p.c.person_id)).label("n"))
            .join(p, p.c.id == ms.c.participant_id)
            .group_by(ms.c.chat_group_id)
        )
    }
    messages: dict[int, int] = {
        r.chat_group_id: r.n
        for r in conn.execute(
            select(msg.c.chat_group_id, func.count().label("n"))
            .where(msg.c.chat_group_id.is_not(None))
            .group_by(msg.c.chat_group_id)
        )
    }
    attachments: dict[int, tuple[int, int]] = {}
    known = _known_bad()
    for r in conn.execute(
        select(
            msg.c.chat_group_id,
            func.count().label("n"),
            func.count(distinct(a.c.sha256)).filter(a.c.sha256.in_(known)).label("known"),
        )
        .join(msg, msg.c.id == a.c.message_id)
        .where(msg.c.chat_group_id.is_not(None))
        .group_by(msg.c.chat_group_id)
    ):
        attachments[r.chat_group_id] = (r.n, r.known)
    out = []
    for r in conn.execute(select(g).order_by(g.c.title, g.c.id)):
        n, k = attachments.get(r.id, (0, 0))
        out.append(
            {
                "id": r.id,
                "app": r.app,
                "title": r.title,
                "members": members.get(r.id, 0),
                "messages": messages.get(r.id, 0),
                "attachments": n,
                "known": k,
            }
        )
    return out


def _known_bad() -> Any:
    m, hs = schema.match, schema.hashset
    return select(m.c.sha256).join(hs, hs.c.id == m.c.hashset_id).where(hs.c.role == "known-bad")


def chat_group(conn: Connection, chat_group_id: int) -> dict[str, Any] | None:
    """One group: where it was seen, and its members (persons) with their names, role,
    identifiers, first and last seen, and what they posted."""
    g, seen, ev = schema.chat_group, schema.chat_group_seen, schema.evidence
    row = conn.execute(select(g).where(g.c.id == chat_group_id)).first()
    if row is None:
        return None
    sightings = [
        dict(r._mapping)
        for r in conn.execute(
            select(ev.c.label.label("evidence"), seen.c.title, seen.c.path)
            .join(ev, ev.c.id == seen.c.evidence_id)
            .where(seen.c.chat_group_id == chat_group_id)
            .order_by(ev.c.label, seen.c.path)
        )
    ]
    members = _members(conn, chat_group_id)
    return {**dict(row._mapping), "seen": sightings, "members": members}


def _members(conn: Connection, chat_group_id: int) -> list[dict[str, Any]]:
    ms, p, msg, a = schema.membership, schema.participant, schema.message, schema.attachment
    people: dict[int, dict[str, Any]] = {}
    for r in conn.execute(
        select(
            p.c.person_id,
            p.c.name,
            p.c.profile_name,
            p.c.contact_name,
            ms.c.role,
            ms.c.first_seen,
            ms.c.last_seen,
        )
        .join(p, p.c.id == ms.c.participant_id)
        .where(ms.c.chat_group_id == chat_group_id)
    ):
        person = people.setdefault(
            r.person_id,
            {"person": r.person_id, "names": set(), "roles": set(), "first": None, "last": None},
        )
        person["names"].update(n for n in (r.name, r.profile_name, r.contact_name) if n)
        person["roles"].add(r.role)
        person["first"] = _earliest(person["first"], r.first_seen)
        person["last"] = _latest(person["last"], r.last_seen)
    posted = {
        r.person_id: (r.messages, r.attachments)
        for r in conn.execute(
            select(
                p.c.person_id,
                func.count(distinct(msg.c.id)).label("messages"),
                func.count(distinct(a.c.id)).label("attachments"),
            )
            .select_from(
                msg.join(p, p.c.id == msg.c.sender_id).outerjoin(a, a.c.message_id == msg.c.id)
            )
            .where(msg.c.chat_group_id == chat_group_id)
            .group_by(p.c.person_id)
        )
    }
    idents = _identifiers(conn, list(people))
    out = []
    for pid, person in people.items():
        roles = sorted(person["roles"], key=_role_rank)
        messages, attachments = posted.get(pid, (0, 0))
        out.append(
            {
                "person": pid,
                "names": sorted(person["names"]),
                "role": roles[0] if roles else "",
                "roles": roles,
                "first_seen": person["first"],
                "last_seen": person["last"],
                "messages": messages,
                "attachments": attachments,
                "identifiers": idents.get(pid, []),
            }
        )
    out.sort(key=lambda m: (_role_rank(m["role"]), -m["messages"], m["person"]))
    return out[:MEMBERS_SHOWN]


def _role_rank(role: str) -> int:
    return ROLE_STRENGTH.index(role) if role in ROLE_STRENGTH else len(ROLE_STRENGTH)


def _earliest(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def _identifiers(conn: Connection, persons: list[int]) -> dict[int, list[dict[str, Any]]]:
    p, pi, ident = schema.participant, schema.participant_identifier, schema.identifier
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for chunk in _chunks(persons):
        for r in conn.execute(
            select(p.c.person_id, ident.c.kind, ident.c.value, ident.c.country)
            .distinct()
            .select_from(
                p.join(pi, pi.c.participant_id == p.c.id).join(
                    ident, ident.c.id == pi.c.identifier_id
                )
            )
            .where(p.c.person_id.in_(chunk))
            .order_by(p.c.person_id, ident.c.kind, ident.c.value)
        ):
            out[r.person_id].append({"kind": r.kind, "value": r.value, "country": r.country})
    return out


def _chunks(items: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# ------------------------------------------------------------------ countries
def persons_by_country(
    conn: Connection, chat_group_id: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Persons by the country of their phone numbers (a person with numbers of two countries
    counts in both), most first; and how many persons have no number with a country. With
    ``chat_group_id``: the members of that group only."""
    p, pi, ident, ms = (
        schema.participant,
        schema.participant_identifier,
        schema.identifier,
        schema.membership,
    )
    scope = select(p.c.person_id)
    if chat_group_id is not None:
        scope = scope.join(ms, ms.c.participant_id == p.c.id).where(
            ms.c.chat_group_id == chat_group_id
        )
    persons = scope
    rows = [
        {"country": r.country, "persons": r.n, "numbers": r.numbers}
        for r in conn.execute(
            select(
                ident.c.country,
                func.count(distinct(p.c.person_id)).label("n"),
                func.count(distinct(ident.c.id)).label("numbers"),
            )
            .select_from(
                p.join(pi, pi.c.participant_id == p.c.id).join(
                    ident, ident.c.id == pi.c.identifier_id
                )
            )
            .where(ident.c.country.is_not(None), p.c.person_id.in_(persons))
            .group_by(ident.c.country)
            .order_by(func.count(distinct(p.c.person_id)).desc(), ident.c.country)
        )
    ]
    with_country = (
        select(p.c.person_id)
        .join(pi, pi.c.participant_id == p.c.id)
        .join(ident, ident.c.id == pi.c.identifier_id)
        .where(ident.c.country.is_not(None))
    )
    unknown = conn.execute(
        select(func.count(distinct(p.c.person_id))).where(
            p.c.person_id.in_(persons), p.c.person_id.not_in(with_country)
        )
    ).scalar_one()
    return rows, int(unknown)


# ------------------------------------------------------------------ priorities
def priorities(
    request: Request, limit: int | None, *, suspects_only: bool = False
) -> tuple[list[dict[str, Any]], str | None]:
    """Suspects (and chat persons) ranked by :mod:`lanterne.network.priorities`, as JSON-ready
    dicts, with the case graph the API keeps (so page and API rank alike); and why not, when
    the network analysis is not available."""
    try:
        from lanterne.network import priorities as priorities_module
        from lanterne.web import api
    except ImportError as exc:
        return [], f"the network analysis is not available in this installation ({exc})"
    try:
        graph = api.case_graph(request)  # the API's cached case graph
        ranked = priorities_module.rank(
            request.app.state.case, graph=graph, limit=limit, suspects_only=suspects_only
        )
    except HTTPException as exc:
        return [], str(exc.detail)
    except (ImportError, AttributeError) as exc:
        return [], f"the network analysis is not available in this installation ({exc})"
    except UserError as exc:
        return [], str(exc)
    return [r.to_json() for r in ranked], None
