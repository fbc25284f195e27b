"""The JSON API (``/api/…``, OpenAPI at ``/api/openapi.json``): everything the pages do, for
other tools to drive a case.

A client signs in (``GET /api/login`` for a pre-session token, then ``POST /api/login``), keeps
the session cookie, and sends the session's CSRF token (``GET /api/me``) in ``X-CSRF-Token``
with every POST, PUT and DELETE. Roles are checked on each route (:func:`require`).

Categorising is two calls: the first (``confirm`` false) answers what would change (the content
and the near duplicates it propagates to, those kept because a person categorised them, the
conflicts with hash sets); the second (``confirm`` true, with the ``expected`` list of the
first) applies it, or answers 409 when the plan changed in between.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.background import BackgroundTask

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.review import audit, decisions, queries
from lanterne.review.schemes import Scheme, scheme_for
from lanterne.review.users import (
    ACTIONS,
    ROLES,
    User,
    add_user,
    disable_user,
    list_users,
    set_settings,
)
from lanterne.web.context import case_of, reading
from lanterne.web.security import (
    Session,
    client_address,
    current_session,
    current_user,
    require,
)

router = APIRouter(prefix="/api")

SHA256 = Annotated[str, PathParam(pattern="^[0-9a-f]{64}$", description="A content's SHA-256.")]
GRAPH_SECONDS = 60.0
"""The case graph is rebuilt when older than this (building it reads the whole case)."""


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors as HTTP answers: not found 404, bad values 422, other refusals 400."""
    try:
        yield
    except decisions.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    except UserError as exc:
        raise HTTPException(400, str(exc)) from exc


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "settings": user.settings,
        "disabled": user.disabled,
    }


# ------------------------------------------------------------------ session
@router.get("/me", tags=["session"])
def me(request: Request, session: Annotated[Session, Depends(current_session)]) -> dict[str, Any]:
    """The signed-in user, what their role may do, the session's CSRF token and the case's
    categorisation scheme."""
    user = session.user
    return {
        "user": user_json(user),
        "permissions": {a: user.can(a) for a in ACTIONS},
        "csrf": session.csrf,
        "expires_at": session.expires_at.isoformat(),
        "case": case_of(request).name,
        "scheme": scheme_for(case_of(request)).as_dict(),
    }


class SettingsChange(BaseModel):
    """Settings to change (the others keep their values)."""

    blur: bool | None = None
    greyscale: bool | None = None
    break_minutes: int | None = Field(None, ge=0, le=600)
    page_size: int | None = Field(None, ge=10, le=500)


@router.put("/me/settings", tags=["session"])
def change_settings(
    request: Request, change: SettingsChange, user: Annotated[User, Depends(current_user)]
) -> dict[str, Any]:
    """Change the user's settings; turning blur or greyscale off (or on) is audited, since it
    changes what the user sees without revealing item by item."""
    values = change.model_dump(exclude_none=True)
    with _errors():
        updated = set_settings(case_of(request).store, user.id, values)
    changed = {k: v for k, v in values.items() if user.settings.get(k) != v}
    if changed:
        audit.record(case_of(request).store, user.name, audit.SETTINGS, user.name, changed)
    return user_json(updated)


# ------------------------------------------------------------------ case
@router.get("/dashboard", tags=["case"])
def dashboard(request: Request, _: Annotated[User, Depends(require("view"))]) -> dict[str, Any]:
    """The case's figures: contents by kind, known by category, per evidence item, new
    awaiting review, reviewed, and how many were settled by hash without anyone viewing them."""
    with reading(request) as conn:
        return queries.dashboard(conn)


@router.get("/scheme", tags=["case"])
def scheme(request: Request, _: Annotated[User, Depends(require("view"))]) -> dict[str, Any]:
    """The case's categorisation scheme: categories, values and keys."""
    return scheme_for(case_of(request)).as_dict()


# ------------------------------------------------------------------ review
@router.get("/grid", tags=["review"])
def grid(
    request: Request,
    user: Annotated[User, Depends(require("view"))],
    state: Annotated[
        str,
        Query(
            description="new, known, known:<category>, reviewed, reviewed:<category>, "
            "flagged or all",
            max_length=64,
        ),
    ] = "new",
    evidence_id: int | None = None,
    suspect_id: int | None = None,
    group: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
    chat_group_id: int | None = None,
    kind: Literal["picture", "video"] | None = None,
    page: Annotated[int, Query(ge=0)] = 0,
    size: Annotated[int | None, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = None,
    include_known_good: bool = False,
) -> dict[str, Any]:
    """A page of the review grid: one tile per near-duplicate group (its representative, with
    the group's size) unless ``group`` lists one group's members."""
    with _errors(), reading(request) as conn:
        found = queries.grid(
            conn,
            state=state,
            evidence_id=evidence_id,
            suspect_id=suspect_id,
            group=group,
            chat_group_id=chat_group_id,
            kind=kind,
            page=page,
            size=size or user.preferences.page_size,
            include_known_good=include_known_good,
        )
    return found.as_dict()


@router.get("/items/{sha256}", tags=["review"], responses={404: {"description": "No such item"}})
def item(
    request: Request, sha256: SHA256, _: Annotated[User, Depends(require("view"))]
) -> dict[str, Any]:
    """Everything known of one content: occurrences with provenance, matches with distance,
    EXIF/camera/GPS, near duplicates, chats it was posted in, decisions, flags, views."""
    with reading(request) as conn:
        found = queries.item(conn, sha256)
    if found is None:
        raise HTTPException(404, f"no content {sha256} in this case")
    return found


class Categorisation(BaseModel):
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    category: str = Field(
        min_length=1, max_length=32, description="A value or key of the case's scheme."
    )
    propagate: bool = Field(True, description="Give the category to the near duplicates too.")
    confirm: bool = Field(False, description="False: only say what would change; true: apply.")
    expected: list[str] | None = Field(
        None,
        description="With confirm: the sha256s the preview listed; 409 when that changed.",
    )


@router.post(
    "/categorise",
    tags=["review"],
    responses={409: {"description": "What would change is not what was previewed"}},
)
def categorise(
    request: Request,
    body: Categorisation,
    user: Annotated[User, Depends(require("categorise"))],
) -> dict[str, Any]:
    """Categorise a content (and, with ``propagate``, its near duplicates): a preview unless
    ``confirm``; applied decisions are audited. Hash sets' categories are never changed:
    disagreements come back as ``conflicts``."""
    case = case_of(request)
    sch: Scheme = scheme_for(case)
    with _errors():
        with reading(request) as conn:
            plan = decisions.preview(
                conn, body.sha256, body.category, scheme=sch, propagate=body.propagate
            )
        if not body.confirm:
            return {"applied": False, "preview": plan.as_dict()}
        if body.expected is not None and sorted(body.expected) != sorted(plan.sha256s):
            raise HTTPException(
                409,
                {
                    "message": "the near duplicates changed since the preview; confirm again",
                    "preview": plan.as_dict(),
                },
            )
        done = decisions.categorise(
            case.store,
            body.sha256,
            body.category,
            user.name,
            scheme=sch,
            propagate=body.propagate,
        )
    return {"applied": True, "decision": done.as_dict()}


class UndoRequest(BaseModel):
    batch: str | None = Field(
        None, max_length=36, description="The batch to undo (default: your latest in force)."
    )


@router.post("/undo", tags=["review"], responses={404: {"description": "Nothing to undo"}})
def undo(
    request: Request,
    body: UndoRequest,
    user: Annotated[User, Depends(require("categorise"))],
) -> dict[str, Any]:
    """Undo a categorisation batch (your own; a supervisor may undo anyone's); audited."""
    store = case_of(request).store
    with reading(request) as conn:
        batch = body.batch or decisions.last_batch(conn, user.name)
        owner = (
            conn.execute(
                select(schema.review_decision.c.user)
                .where(schema.review_decision.c.batch == batch)
                .limit(1)
            ).scalar()
            if batch
            else None
        )
    if batch is None or owner is None:
        raise HTTPException(404, "nothing to undo")
    if owner != user.name and user.role != "supervisor":
        raise HTTPException(403, f"batch {batch} is {owner}'s; only a supervisor may undo it")
    with _errors():
        undone = decisions.undo(store, batch, user.name)
    return {"batch": batch, "undone": undone}


@router.get("/conflicts", tags=["review"])
def conflicts(
    request: Request, _: Annotated[User, Depends(require("view"))]
) -> list[dict[str, Any]]:
    """Contents whose review category disagrees with a known-bad hash set (shown, never
    overwritten)."""
    with reading(request) as conn:
        return [c.as_dict() for c in decisions.conflicts(conn)]


class FlagRequest(BaseModel):
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    note: str = Field("", max_length=2000)


class Resolution(BaseModel):
    resolution: str = Field(min_length=1, max_length=2000)


def _flag_json(f: decisions.Flag) -> dict[str, Any]:
    return {
        "id": f.id,
        "sha256": f.sha256,
        "kind": f.kind,
        "note": f.note,
        "user": f.user,
        "at": f.at.isoformat(),
        "resolved_by": f.resolved_by,
        "resolved_at": f.resolved_at.isoformat() if f.resolved_at else None,
        "resolution": f.resolution,
        "open": f.open,
    }


@router.get("/flags", tags=["review"])
def list_flags(
    request: Request,
    _: Annotated[User, Depends(require("view"))],
    open_only: bool = True,
    sha256: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
) -> list[dict[str, Any]]:
    """Flags (open ones by default), oldest first."""
    with reading(request) as conn:
        return [_flag_json(f) for f in decisions.flags(conn, sha256=sha256, open_only=open_only)]


@router.post("/flags", tags=["review"], status_code=201)
def add_flag(
    request: Request, body: FlagRequest, user: Annotated[User, Depends(require("flag"))]
) -> dict[str, Any]:
    """Ask a supervisor's second opinion on a content; audited."""
    with _errors():
        return _flag_json(decisions.flag(case_of(request).store, body.sha256, user.name, body.note))


@router.post("/flags/{flag_id}/resolve", tags=["review"])
def resolve_flag(
    request: Request,
    flag_id: int,
    body: Resolution,
    user: Annotated[User, Depends(require("resolve_flag"))],
) -> dict[str, Any]:
    """Close a flag with what was decided (supervisors); audited."""
    with _errors():
        return _flag_json(
            decisions.resolve(case_of(request).store, flag_id, user.name, body.resolution)
        )


# ------------------------------------------------------------------ audit
@router.get("/audit", tags=["audit"])
def audit_entries(
    request: Request,
    _: Annotated[User, Depends(require("read_audit"))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    user: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Audit entries, newest first, optionally of one user, action or target."""
    store = case_of(request).store
    found = audit.entries(store, limit, offset, user=user, action=action, target=target)
    total = audit.count_entries(store, user=user, action=action, target=target)
    return {"entries": [e.as_dict() for e in found], "total": total}


@router.get("/audit/verify", tags=["audit"])
def audit_verify(
    request: Request, _: Annotated[User, Depends(require("read_audit"))]
) -> dict[str, Any]:
    """Check the audit chain (and its head against the witness file)."""
    case = case_of(request)
    report = audit.verify(case.store, audit.witness_path(case))
    return {
        "ok": report.ok,
        "entries": report.entries,
        "problems": report.problems,
        "notes": report.notes,
        "first_bad": report.first_bad,
        "head": report.head,
        "head_id": report.head_id,
    }


# ------------------------------------------------------------------ users
class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)
    role: Literal["examiner", "reviewer", "supervisor", "auditor"]


@router.get("/users", tags=["users"])
def users(
    request: Request, _: Annotated[User, Depends(require("manage_users"))]
) -> list[dict[str, Any]]:
    """Every user, by name (supervisors)."""
    return [user_json(u) for u in list_users(case_of(request).store)]


@router.post("/users", tags=["users"], status_code=201)
def create_user(
    request: Request, body: NewUser, by: Annotated[User, Depends(require("manage_users"))]
) -> dict[str, Any]:
    """Add a user (supervisors); audited."""
    assert body.role in ROLES
    store = case_of(request).store
    with _errors():
        created = add_user(store, body.name, body.password, body.role)
    audit.record(store, by.name, audit.USER_ADD, created.name, {"role": created.role})
    return user_json(created)


@router.post("/users/{name}/disable", tags=["users"])
def disable(
    request: Request,
    name: Annotated[str, PathParam(max_length=100)],
    by: Annotated[User, Depends(require("manage_users"))],
) -> dict[str, Any]:
    """Disable a user and end their sessions (supervisors; not oneself); audited."""
    if name == by.name:
        raise HTTPException(400, "you cannot disable your own account")
    store = case_of(request).store
    with _errors():
        done = disable_user(store, name)
    audit.record(store, by.name, audit.USER_DISABLE, done.name)
    return user_json(done)


# ------------------------------------------------------------------ exports
@router.get(
    "/export/files",
    tags=["export"],
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
def export_files(
    request: Request,
    user: Annotated[User, Depends(require("export"))],
    format: Literal["jsonl", "csv", "hashdeep"] = "csv",
    select_: Annotated[Literal["all", "new", "no-known-good"], Query(alias="select")] = "all",
) -> FileResponse:
    """One row per file occurrence (digests, type, picture facts, provenance); audited."""
    from lanterne.report.export import export_files as write_files

    case = case_of(request)
    path = _spool(case, f".{format}")
    with path.open("w", encoding="utf-8", newline="") as out:
        rows = write_files(case, format, out, select_)
    audit.record(
        case.store,
        user.name,
        audit.EXPORT,
        "files",
        {"format": format, "select": select_, "rows": rows, "client": client_address(request)},
    )
    media = {"csv": "text/csv", "jsonl": "application/x-ndjson"}.get(format, "text/plain")
    return _download(path, media, f"{_slug(case)}-files.{format}")


@router.get(
    "/export/vics",
    tags=["export"],
    response_class=FileResponse,
    responses={200: {"content": {"application/json": {}}}},
)
def export_vics(
    request: Request,
    user: Annotated[User, Depends(require("export"))],
    scheme: Annotated[str | None, Query(max_length=32)] = None,
) -> FileResponse:
    """The case's pictures and videos as a VICS 2.0 ``#Cases`` document; audited."""
    from lanterne.report.vics_export import export_vics as write_vics

    case = case_of(request)
    path = _spool(case, ".json")
    with _errors():
        n = write_vics(case, path, scheme)
    audit.record(
        case.store,
        user.name,
        audit.EXPORT,
        "vics",
        {"scheme": scheme, "media": n, "client": client_address(request)},
    )
    return _download(path, "application/json", f"{_slug(case)}-vics.json")


def _spool(case: Case, suffix: str) -> Path:
    case.tmp.mkdir(exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="export-", suffix=suffix, dir=case.tmp)
    os.close(fd)
    return Path(name)


def _download(path: Path, media_type: str, filename: str) -> FileResponse:
    return FileResponse(
        path,
        media_type=media_type,
        filename=filename,
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def _slug(case: Case) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in case.name)[:60] or "case"


# ------------------------------------------------------------------ network
_graph_lock = threading.Lock()


def _network() -> tuple[Any, Any]:
    """The network modules, imported when first asked (404 when not installed)."""
    try:
        from lanterne.network import graph as graph_module
        from lanterne.network import priorities as priorities_module
    except ImportError as exc:
        raise HTTPException(
            404, f"the network analysis is not available in this installation ({exc})"
        ) from exc
    return graph_module, priorities_module


def case_graph(request: Request) -> Any:
    """The case graph (shared by the API and the pages), rebuilt when older than
    :data:`GRAPH_SECONDS`; 404 when the network analysis is not installed."""
    graph_module, _ = _network()
    state = request.app.state
    with _graph_lock:
        cached = getattr(state, "graph", None)
        if cached is None or time.monotonic() - cached[0] > GRAPH_SECONDS:
            cached = (time.monotonic(), graph_module.build_graph(case_of(request)))
            state.graph = cached
    return cached[1]


@router.get("/priorities", tags=["network"], responses={404: {"description": "Unavailable"}})
def priorities(
    request: Request,
    _: Annotated[User, Depends(require("view"))],
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    suspects_only: bool = False,
) -> list[dict[str, Any]]:
    """Suspects and chat persons by priority, each with the factors that explain the score."""
    _, priorities_module = _network()
    with _errors():
        ranked = priorities_module.rank(
            case_of(request), graph=case_graph(request), limit=limit, suspects_only=suspects_only
        )
    return [r.to_json() for r in ranked]


@router.get("/network", tags=["network"], responses={404: {"description": "Unavailable"}})
def network(
    request: Request,
    _: Annotated[User, Depends(require("view"))],
    center: Annotated[
        str | None, Query(max_length=200, description="A node key, e.g. suspect:3, person:12.")
    ] = None,
    radius: Annotated[int, Query(ge=1, le=4)] = 2,
    limit: Annotated[int, Query(ge=1, le=2000)] = 300,
) -> dict[str, Any]:
    """Without ``center``: the graph's figures and the links between suspects; with it: the
    node's neighbourhood as Cytoscape.js elements."""
    graph_module, _ = _network()
    graph = case_graph(request)
    if center is not None:
        with _errors():
            elements = graph_module.cytoscape_elements(graph, center, radius, limit)
        return {"center": center, "elements": elements}
    kinds: dict[str, int] = {}
    for _node, kind in graph.graph.nodes(data="kind"):
        kinds[str(kind)] = kinds.get(str(kind), 0) + 1
    return {
        "nodes": graph.graph.number_of_nodes(),
        "edges": graph.graph.number_of_edges(),
        "nodes_by_kind": dict(sorted(kinds.items())),
        "suspect_links": [link.to_json() for link in graph.suspect_links()],
    }
