"""What keeps the web application safe: sessions, the authentication gate, CSRF, roles, login
rate limiting and the security headers of every response.

* **Sessions** are server side (``web_session``): the browser holds a random token in an
  HttpOnly, SameSite=Strict cookie (Secure when served over TLS); the store keeps only the
  token's SHA-256, the user and the session's CSRF token. A session ends at sign-out, after
  ``[web] idle_minutes`` without a request, after ``[web] session_hours`` in all, and when its
  user is disabled.
* **The gate** (:func:`require_session`) is a dependency of the whole application: every route
  but :data:`OPEN_ROUTES` (the sign-in page and its API twin) and the static assets needs a
  session. Pages answer a missing session with a redirect to ``/login``, the API and media with
  401, so that a route added later is closed unless it is listed as open here.
* **CSRF**: every request that may change state (not GET/HEAD/OPTIONS) carries the session's
  token in the ``X-CSRF-Token`` header or a ``csrf`` form field (:func:`check_csrf`); the
  sign-in form, which has no session yet, carries a pre-session token that matches a cookie.
* **Roles** are checked here, never in the browser: :func:`require` ("reveal", "categorise" …,
  see :mod:`lanterne.review.users`) answers 403 to a role that lacks the action.
* **Sign-in rate limiting** (:class:`LoginLimiter`): after ``[web] login_failures`` failures in
  ``[web] login_window_seconds`` for one user name or one client, sign-in answers 429 with
  ``Retry-After`` until the window has passed.
* **Headers** (:class:`SecurityHeaders`): a Content-Security-Policy without inline script, no
  framing, no MIME sniffing, no referrer, and ``Cache-Control: no-store`` on everything but the
  static assets (pages and media show case data that must not stay in a browser cache).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import delete, select, update
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lanterne.case import schema
from lanterne.case.store import CaseStore, utcnow
from lanterne.errors import UserError
from lanterne.review.users import Settings, User, can

SESSION_COOKIE = "lanterne_session"
LOGIN_COOKIE = "lanterne_login"
"""Cookie of the pre-session CSRF token of the sign-in form."""
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_ROUTES = frozenset({"/login", "/api/login"})
"""Route paths served without a session (besides the static assets under ``/static``)."""
STATIC_PREFIX = "/static/"
MACHINE_PREFIXES = ("/api/", "/media/")
"""Paths answered with 401 (not a redirect to the sign-in page) when there is no session."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


# ------------------------------------------------------------------ configuration
@dataclass(frozen=True, slots=True)
class WebConfig:
    """``[web]`` of ``case.toml``: session lifetimes and the sign-in rate limit."""

    session_hours: float = 12.0
    idle_minutes: float = 60.0
    login_failures: int = 5
    login_window_seconds: float = 60.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> WebConfig:
        """From ``case.toml``'s ``[web]``; a UserError names an unknown or bad value."""
        config = cls()
        unknown = set(values) - set(cls.__slots__)
        if unknown:
            raise UserError(
                f"unknown setting(s) {', '.join(sorted(unknown))} in [web] of case.toml "
                f"(known: {', '.join(cls.__slots__)})"
            )
        out: dict[str, Any] = {}
        for key in cls.__slots__:
            value = values.get(key, getattr(config, key))
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise UserError(f"[web] {key} in case.toml must be a positive number")
            out[key] = int(value) if key == "login_failures" else float(value)
        return cls(**out)


# ------------------------------------------------------------------ sessions
@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in session: whose, its CSRF token, and until when it lasts."""

    token_sha256: str
    user: User
    csrf: str
    expires_at: datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionStore:
    """The sessions of one case, kept in its ``web_session`` table."""

    TOUCH_SECONDS = 60.0
    """``seen_at`` is written at most this often per session (not one write per request)."""

    def __init__(self, store: CaseStore, config: WebConfig) -> None:
        self.store = store
        self.config = config

    def create(self, user: User) -> tuple[str, Session]:
        """A new session of ``user``: the cookie token (never stored) and the session."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        session = Session(
            token_sha256=token_digest(token),
            user=user,
            csrf=secrets.token_hex(32),
            expires_at=now + timedelta(hours=self.config.session_hours),
        )
        with self.store.engine.begin() as conn:
            conn.execute(schema.web_session.delete().where(schema.web_session.c.expires_at < now))
            conn.execute(
                schema.web_session.insert().values(
                    token_sha256=session.token_sha256,
                    user_id=user.id,
                    csrf=session.csrf,
                    created_at=now,
                    seen_at=now,
                    expires_at=session.expires_at,
                )
            )
        return token, session

    def lookup(self, token: str) -> Session | None:
        """The live session of this cookie token, or None (unknown, expired, idle too long,
        or its user disabled)."""
        ws, u = schema.web_session, schema.app_user
        digest = token_digest(token)
        query = (
            select(ws.c.csrf, ws.c.seen_at, ws.c.expires_at)
            .add_columns(u.c.id, u.c.name, u.c.role, u.c.settings, u.c.disabled)
            .join(u, u.c.id == ws.c.user_id)
            .where(ws.c.token_sha256 == digest)
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        now = utcnow()
        idle = timedelta(minutes=self.config.idle_minutes)
        if row.disabled or row.expires_at <= now or row.seen_at + idle <= now:
            self.end(digest)
            return None
        if (now - row.seen_at).total_seconds() >= self.TOUCH_SECONDS:
            with self.store.engine.begin() as conn:
                conn.execute(update(ws).where(ws.c.token_sha256 == digest).values(seen_at=now))
        user = User(row.id, row.name, row.role, _settings(row.settings), False)
        return Session(digest, user, row.csrf, row.expires_at)

    def end(self, token_sha256: str) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(
                delete(schema.web_session).where(schema.web_session.c.token_sha256 == token_sha256)
            )


def _settings(stored: str | None) -> dict[str, Any]:
    try:
        return Settings.from_mapping(json.loads(stored or "{}")).as_dict()
    except ValueError:
        return Settings().as_dict()


# ------------------------------------------------------------------ gate and dependencies
class AuthRequired(Exception):
    """No valid session: pages redirect to the sign-in page, the API and media answer 401."""


def unauthenticated(path: str, query: str = "") -> Response:
    """The answer to a request without a live session: 401 for the API and media, a redirect
    to the sign-in page (back here afterwards) for pages."""
    if path.startswith(MACHINE_PREFIXES) or path in ("/api", "/media"):
        return JSONResponse(
            {"detail": "sign in first (POST /api/login, or the /login page)"}, status_code=401
        )
    target = path + (f"?{query}" if query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another origin)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ch in target for ch in "\r\n\\") or target.startswith("/login"):
        return "/"
    return target


def sessions(request: Request) -> SessionStore:
    found: SessionStore = request.app.state.sessions
    return found


def require_session(request: Request) -> None:
    """The application-wide gate: every route but :data:`OPEN_ROUTES` needs a live session,
    which is left in ``request.state.session``."""
    if request.scope.get("path") in OPEN_ROUTES:
        request.state.session = None
        return
    token = request.cookies.get(SESSION_COOKIE)
    session = sessions(request).lookup(token) if token else None
    if session is None:
        raise AuthRequired()
    request.state.session = session


async def check_csrf(request: Request) -> None:
    """The application-wide CSRF check of state-changing requests: the session's token in the
    ``X-CSRF-Token`` header or the ``csrf`` form field (403 otherwise). The sign-in routes check
    their pre-session token themselves (:func:`check_login_csrf`)."""
    if request.method in SAFE_METHODS:
        return
    session: Session | None = getattr(request.state, "session", None)
    if session is None:  # an open route: checked by its handler
        return
    if not same_token(await _submitted_csrf(request), session.csrf):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


async def _submitted_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.form()).get(CSRF_FIELD)
        if isinstance(value, str):
            return value
    return ""


def same_token(submitted: str, expected: str) -> bool:
    """Constant-time comparison of tokens (any text: a non-ASCII forgery is just unequal)."""
    return hmac.compare_digest(submitted.encode("utf-8"), expected.encode("utf-8"))


def check_login_csrf(request: Request, submitted: str | None) -> None:
    """The sign-in form's pre-session token must match its cookie (403 otherwise)."""
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    if not cookie or not submitted or not same_token(cookie, submitted):
        raise HTTPException(403, "the sign-in form has expired; reload the page and try again")


def current_session(request: Request) -> Session:
    session: Session | None = getattr(request.state, "session", None)
    if session is None:
        raise AuthRequired()
    return session


def current_user(request: Request) -> User:
    """The signed-in user (a dependency; the gate has already refused requests without one)."""
    return current_session(request).user


def require(action: str) -> Callable[..., User]:
    """A dependency: the signed-in user, when their role may take ``action`` (403 otherwise)."""
    can("supervisor", action)  # an unknown action fails here, at import, not per request

    def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.can(action):
            raise HTTPException(403, f"your role ({user.role}) may not {action.replace('_', ' ')}")
        return user

    dependency.__name__ = f"require_{action}"
    return dependency


def csrf_token(request: Request) -> str:
    """The token a page puts in its forms and scripts' headers (the session's, or the
    pre-session token on the sign-in page)."""
    session: Session | None = getattr(request.state, "session", None)
    if session is not None:
        return session.csrf
    token: str = getattr(request.state, "login_csrf", "") or request.cookies.get(LOGIN_COOKIE, "")
    return token


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def secure_cookies(request: Request) -> bool:
    """Cookies are marked Secure when the application is served over TLS."""
    return request.url.scheme == "https"


# ------------------------------------------------------------------ sign-in rate limit
class LoginLimiter:
    """Failed sign-ins counted per user name and per client over a sliding window."""

    def __init__(self, failures: int, window_seconds: float) -> None:
        self.failures = failures
        self.window = window_seconds
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(name: str, client: str) -> tuple[str, str]:
        return (f"name:{name.strip().casefold()}", f"client:{client}")

    def retry_after(self, keys: tuple[str, ...]) -> int | None:
        """Seconds until a sign-in may be tried again, or None when it may be now."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._prune(key, now)
                if len(times) >= self.failures:
                    wait = max(wait, times[0] + self.window - now)
        return max(1, int(wait + 0.999)) if wait > 0 else None

    def failed(self, keys: tuple[str, ...]) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._seen.setdefault(key, deque()).append(now)

    def succeeded(self, name_key: str) -> None:
        """A right password clears the name's failures (never the client's)."""
        with self._lock:
            self._seen.pop(name_key, None)

    def _prune(self, key: str, now: float) -> deque[float]:
        times = self._seen.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._seen[key]
        return times


# ------------------------------------------------------------------ middleware
class SessionCookieRequired:
    """ASGI middleware, ahead of any parsing: a request for anything but the open routes and
    the static assets without even a session cookie is answered at once (the gate then checks
    the session of those that have one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = str(scope.get("path", ""))
            if not path.startswith(STATIC_PREFIX) and path not in OPEN_ROUTES:
                request = Request(scope)
                if not request.cookies.get(SESSION_COOKIE):
                    response = unauthenticated(path, request.url.query)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """ASGI middleware: the security headers on every response; ``no-store`` on all but the
    static assets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers[name] = value
                if not static:
                    headers["cache-control"] = "no-store"
                    headers["pragma"] = "no-cache"
            await send(message)

        await self.app(scope, receive, send_with_headers)
