"""The web application of a case: :func:`create_app` puts together the sign-in routes, the
JSON API, the audited media routes, the pages and the static assets, behind the security of
:mod:`lanterne.web.security` (every route needs a session unless it is listed as open there).

The application serves one case; ``request.app.state`` holds what routes share:

``case``        the :class:`~lanterne.case.workspace.Case`
``sessions``    the :class:`~lanterne.web.security.SessionStore`
``limiter``     the sign-in :class:`~lanterne.web.security.LoginLimiter`
``templates``   the Jinja2 templates (autoescaped), with ``csrf_token(request)`` and
                ``can(user, action)`` available in every template
``config``      the case's ``[web]`` settings (:class:`~lanterne.web.security.WebConfig`)
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from lanterne import __version__
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.review.audit import keep_witness
from lanterne.review.users import User
from lanterne.web import api, auth, media
from lanterne.web.security import (
    AuthRequired,
    LoginLimiter,
    SecurityHeaders,
    SessionCookieRequired,
    SessionStore,
    WebConfig,
    check_csrf,
    csrf_token,
    require_session,
    unauthenticated,
)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

API_TAGS = [
    {"name": "session", "description": "Signing in and out; the signed-in user and settings."},
    {"name": "case", "description": "The case dashboard and the categorisation scheme."},
    {"name": "review", "description": "The review grid, items, categorisation, undo, flags."},
    {"name": "network", "description": "Suspects' priorities and the case graph."},
    {"name": "audit", "description": "The hash-chained audit log (supervisors, auditors)."},
    {"name": "users", "description": "Users and roles (supervisors)."},
    {"name": "export", "description": "Audited exports (examiners, supervisors)."},
    {"name": "media", "description": "Thumbnails (blurred, greyscale), audited reveals."},
]


def web_config(case: Case) -> WebConfig:
    """The case's ``[web]`` section, validated."""
    section = case.sections.get("web", {})
    if not isinstance(section, dict):
        raise UserError("[web] in case.toml must be a table, e.g. idle_minutes = 60")
    return WebConfig.from_mapping(section)


def create_app(case: Case) -> FastAPI:
    """The web application of ``case`` (not yet served: see :mod:`lanterne.commands.web`)."""
    config = web_config(case)
    app = FastAPI(
        title=f"Lanterne: {case.name}",
        version=__version__,
        description="Review and investigation of one Lanterne case. Every route needs a "
        "session (POST /api/login); state-changing requests carry the session's CSRF token "
        "in the X-CSRF-Token header (GET /api/me gives it).",
        openapi_tags=API_TAGS,
        openapi_url=None,  # served below, to signed-in users only
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(require_session), Depends(check_csrf)],
    )
    keep_witness(case)
    app.state.case = case
    app.state.config = config
    app.state.sessions = SessionStore(case.store, config)
    app.state.limiter = LoginLimiter(config.login_failures, config.login_window_seconds)
    app.state.templates = _templates()

    @app.exception_handler(AuthRequired)
    async def _auth_required(request: Request, exc: AuthRequired) -> Response:
        return unauthenticated(request.url.path, request.url.query)

    @app.exception_handler(UserError)
    async def _user_error(request: Request, exc: UserError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    app.include_router(auth.router)
    app.include_router(api.router)
    app.include_router(media.router)
    pages = _pages_router()
    if pages is not None:
        app.include_router(pages)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SessionCookieRequired)
    app.add_middleware(SecurityHeaders)  # outermost: on every response, even refusals
    return app


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES)
    templates.env.globals["csrf_token"] = csrf_token
    templates.env.globals["can"] = _can
    return templates


def _can(user: User | None, action: str) -> bool:
    return user is not None and user.can(action)


def _pages_router() -> Any:
    """The pages' router (:mod:`lanterne.web.pages`), when that module is installed."""
    try:
        pages = importlib.import_module("lanterne.web.pages")
    except ModuleNotFoundError as exc:
        if exc.name != "lanterne.web.pages":
            raise
        return None
    return pages.router
