"""The web review's pages: server-rendered HTML (Jinja2) over the review library, read-only.

Every page is a GET; what changes the case (categorising, undo, flags, settings, users) is
done by the pages' scripts through the JSON API (:mod:`lanterne.web.api`), with the session's
CSRF token, so that the API is the one place where state changes and roles are checked for
them. The pages check roles too, server side: a role that may not take an action never gets a
page that offers it (``require``), and a page only shows the controls the role may use.

Wellbeing is built in: pictures are served blurred and greyscale (:mod:`lanterne.web.media`)
and the page adds a CSS blur of its own until one item is revealed; the grid shows one
representative per near-duplicate group; pages that show material carry the user's break
reminder (``static/js/lanterne.js``).

The application includes :data:`router` (see :func:`lanterne.web.app.create_app`), and the
application-wide gate has already refused requests without a session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from lanterne.case import schema
from lanterne.review import audit, decisions, queries
from lanterne.review.schemes import UNCATEGORISED, Scheme, scheme_for
from lanterne.review.users import ACTIONS, ROLES, User, list_users
from lanterne.web import page_data
from lanterne.web.context import case_of, reading
from lanterne.web.security import csrf_token, require

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

SHA256 = Annotated[str, PathParam(pattern="^[0-9a-f]{64}$")]
AUDIT_PAGE = 100
SUSPECTS_SHOWN = 200

NAV = (
    ("dashboard", "/", "Dashboard", "view"),
    ("evidence", "/evidence", "Evidence", "view"),
    ("review", "/review", "Review", "view"),
    ("flags", "/flags", "Second opinions", "view"),
    ("chats", "/chats", "Chat groups", "view"),
    ("suspects", "/suspects", "Suspects", "view"),
    ("countries", "/countries", "Countries", "view"),
    ("audit", "/audit", "Audit log", "read_audit"),
    ("users", "/users", "Users", "manage_users"),
    ("settings", "/settings", "Settings", "view"),
)
"""(page, path, title, action needed to see it in the navigation)."""


# ------------------------------------------------------------------ rendering


def render(
    request: Request, template: str, user: User, page: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page: ``template`` with what every page shows (user, their settings, the navigation
    their role may use, the case's name and scheme, the CSRF token for scripts and forms)."""
    templates = request.app.state.templates
    _filters(templates.env)
    case = case_of(request)
    scheme = scheme_for(case)
    base = {
        "user": user,
        "prefs": user.preferences,
        "page": page,
        "nav": [(p, path, title) for p, path, title, act in NAV if user.can(act)],
        "case_name": case.name,
        "scheme": scheme,
        "scheme_json": scheme.as_dict(),
        "csrf": csrf_token(request),
        "perms": {a: user.can(a) for a in ACTIONS},
    }
    response: HTMLResponse = templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status
    )
    return response


def _filters(env: Any) -> None:
    """Template filters of the pages (registered once on the application's environment)."""
    if "bytes" in env.filters:
        return
    env.filters["bytes"] = page_data.human_bytes
    env.filters["when"] = _when
    env.filters["category_label"] = _category_label


def _when(value: Any) -> str:
    """A time as people read it (UTC, to the second); text that is not a time, as it is."""
    if value is None or value == "":
        return ""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return str(value)


def _category_label(value: str | None, scheme: Scheme) -> str:
    if value is None:
        return ""
    try:
        category = scheme.category(value)
    except ValueError:
        return value
    return category.label if value == UNCATEGORISED else f"{category.value} · {category.label}"


# ------------------------------------------------------------------ dashboard and evidence
@router.get("/")
def dashboard(request: Request, user: Annotated[User, Depends(require("view"))]) -> HTMLResponse:
    """The case in figures: what hashing settled without anyone viewing it, what awaits
    review, and charts by category and by evidence item."""
    from lanterne.report.summary import summarize

    case = case_of(request)
    with reading(request) as conn:
        figures = queries.dashboard(conn)
    summary = summarize(case)
    scheme = scheme_for(case)
    return render(
        request,
        "dashboard.html",
        user,
        "dashboard",
        figures=figures,
        summary=summary,
        category_chart=page_data.category_chart(figures, scheme),
        evidence_chart=page_data.evidence_chart(figures),
    )


@router.get("/evidence")
def evidence(request: Request, user: Annotated[User, Depends(require("view"))]) -> HTMLResponse:
    """The seized items and their ingest state."""
    with reading(request) as conn:
        items = page_data.evidence_items(conn)
    return render(request, "evidence.html", user, "evidence", items=items)


# ------------------------------------------------------------------ review
@router.get("/review")
def review(
    request: Request,
    user: Annotated[User, Depends(require("view"))],
    state: Annotated[str, Query(max_length=64)] = "new",
    evidence: Annotated[str, Query(max_length=20)] = "",
    suspect: Annotated[str, Query(max_length=20)] = "",
    group: Annotated[str, Query(max_length=64)] = "",
    chat: Annotated[str, Query(max_length=20)] = "",
    kind: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    known_good: bool = False,
) -> HTMLResponse:
    """The review grid: one tile per near-duplicate group, filtered, keyboard-driven. Empty
    filters (as the filter form sends them) mean "all"."""
    size = user.preferences.page_size
    error = None
    with reading(request) as conn:
        try:
            found = queries.grid(
                conn,
                state=state,
                evidence_id=_number(evidence, "evidence"),
                suspect_id=_number(suspect, "suspect"),
                group=_sha256(group),
                chat_group_id=_number(chat, "chat"),
                kind=kind or None,
                page=page,
                size=size,
                include_known_good=known_good,
            )
        except ValueError as exc:
            error = str(exc)
            found = queries.GridPage([], 0, page, size)
        options = page_data.filter_options(conn)
    filters = {
        "state": state,
        "evidence": _number(evidence, "evidence", strict=False),
        "suspect": _number(suspect, "suspect", strict=False),
        "group": _sha256(group, strict=False),
        "chat": _number(chat, "chat", strict=False),
        "kind": kind,
        "known_good": known_good,
    }
    return render(
        request,
        "review.html",
        user,
        "review",
        grid=found,
        filters=filters,
        options=options,
        states=page_data.state_options(scheme_for(case_of(request))),
        error=error,
        page_links=page_data.page_links(request, found),
    )


def _number(text: str, name: str, *, strict: bool = True) -> int | None:
    """A filter's id: None when empty; ValueError (or None unless ``strict``) when not a
    number."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        if strict:
            raise ValueError(f"{name} must be a number, not {text!r}")
        return None
    return int(text)


def _sha256(text: str, *, strict: bool = True) -> str | None:
    text = text.strip().lower()
    if not text:
        return None
    if len(text) != 64 or any(ch not in "0123456789abcdef" for ch in text):
        if strict:
            raise ValueError(f"a group is named by a SHA-256 (64 hex digits), not {text!r}")
        return None
    return text


@router.get("/items/{sha256}")
def item(
    request: Request, sha256: SHA256, user: Annotated[User, Depends(require("view"))]
) -> HTMLResponse:
    """One item: occurrences with provenance, matches, EXIF, near duplicates, chats, history."""
    with reading(request) as conn:
        found = queries.item(conn, sha256)
    if found is None:
        raise HTTPException(404, f"no content {sha256} in this case")
    return render(
        request,
        "item.html",
        user,
        "review",
        item=found,
        content=found["content"],
        known=page_data.known_categories(found["matches"]),
    )


@router.get("/flags")
def flag_list(
    request: Request,
    user: Annotated[User, Depends(require("view"))],
    closed: bool = False,
) -> HTMLResponse:
    """Second opinions asked: open ones (or all), for supervisors to resolve."""
    with reading(request) as conn:
        found = decisions.flags(conn, open_only=not closed)
        cur = decisions.current(conn, [f.sha256 for f in found])
    return render(request, "flags.html", user, "flags", flags=found, current=cur, closed=closed)


# ------------------------------------------------------------------ chats, suspects, countries
@router.get("/chats")
def chats(request: Request, user: Annotated[User, Depends(require("view"))]) -> HTMLResponse:
    """The chat groups of the case, with members, messages and attachments."""
    with reading(request) as conn:
        groups = page_data.chat_groups(conn)
    return render(request, "chats.html", user, "chats", groups=groups)


@router.get("/chats/{chat_group_id}")
def chat_group(
    request: Request, chat_group_id: int, user: Annotated[User, Depends(require("view"))]
) -> HTMLResponse:
    """One chat group: where it was seen and its members."""
    with reading(request) as conn:
        found = page_data.chat_group(conn, chat_group_id)
    if found is None:
        raise HTTPException(404, f"no chat group {chat_group_id} in this case")
    return render(request, "chat_group.html", user, "chats", group=found)


@router.get("/suspects")
def suspects(request: Request, user: Annotated[User, Depends(require("view"))]) -> HTMLResponse:
    """Suspects (and chat persons) by priority, each score explained factor by factor."""
    ranked, unavailable = page_data.priorities(request, SUSPECTS_SHOWN)
    return render(
        request, "suspects.html", user, "suspects", ranked=ranked, unavailable=unavailable
    )


@router.get("/suspects/{suspect_id}")
def suspect(
    request: Request, suspect_id: int, user: Annotated[User, Depends(require("view"))]
) -> HTMLResponse:
    """One suspect: their record, their priority explained and their network."""
    with reading(request) as conn:
        row = conn.execute(select(schema.suspect).where(schema.suspect.c.id == suspect_id)).first()
    if row is None:
        raise HTTPException(404, f"no suspect {suspect_id} in this case")
    ranked, unavailable = page_data.priorities(request, None, suspects_only=True)
    mine = next((r for r in ranked if r["kind"] == "suspect" and r["id"] == suspect_id), None)
    return render(
        request,
        "suspect.html",
        user,
        "suspects",
        suspect=dict(row._mapping),
        ranked=mine,
        unavailable=unavailable,
        center=f"suspect:{suspect_id}",
    )


@router.get("/network")
def network(
    request: Request,
    user: Annotated[User, Depends(require("view"))],
    center: Annotated[str, Query(max_length=200, pattern=r"^[a-z]+:[0-9a-f]+$")],
) -> HTMLResponse:
    """The network around any node of the case graph (``person:12``, ``group:3`` …)."""
    return render(request, "network.html", user, "suspects", center=center)


@router.get("/countries")
def countries(
    request: Request,
    user: Annotated[User, Depends(require("view"))],
    chat: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """Chat participants (persons) by the country of their phone numbers, in the whole case
    or in one chat group."""
    group = _number(chat, "chat", strict=False)
    with reading(request) as conn:
        rows, unknown = page_data.persons_by_country(conn, group)
        groups = page_data.filter_options(conn)["chat_groups"]
    return render(
        request,
        "countries.html",
        user,
        "countries",
        rows=rows,
        unknown=unknown,
        chat=group,
        chat_groups=groups,
        chart=page_data.country_chart(rows),
    )


# ------------------------------------------------------------------ audit, users, settings
@router.get("/audit")
def audit_log(
    request: Request,
    user: Annotated[User, Depends(require("read_audit"))],
    who: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    verify: bool = False,
) -> HTMLResponse:
    """The audit log, newest first (supervisors and auditors), and its verification."""
    case = case_of(request)
    who, action, target = who or None, action or None, target or None
    entries = audit.entries(case.store, AUDIT_PAGE, offset, user=who, action=action, target=target)
    total = audit.count_entries(case.store, user=who, action=action, target=target)
    report = audit.verify(case.store, audit.witness_path(case)) if verify else None
    query = {"who": who or "", "action": action or "", "target": target or ""}
    partial = request.headers.get("HX-Request") == "true"  # htmx: the next rows only
    return render(
        request,
        "_audit_rows.html" if partial else "audit.html",
        user,
        "audit",
        entries=entries,
        total=total,
        offset=offset,
        limit=AUDIT_PAGE,
        query=query,
        report=report,
        actions=page_data.AUDIT_ACTIONS,
    )


@router.get("/users")
def users(
    request: Request, user: Annotated[User, Depends(require("manage_users"))]
) -> HTMLResponse:
    """The case's users and their roles; adding and disabling (supervisors)."""
    return render(
        request, "users.html", user, "users", users=list_users(case_of(request).store), roles=ROLES
    )


@router.get("/settings")
def settings(request: Request, user: Annotated[User, Depends(require("view"))]) -> HTMLResponse:
    """The user's own settings: blur, greyscale, break reminder, page size."""
    return render(request, "settings.html", user, "settings")
