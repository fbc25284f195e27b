"""Signing in and out: the sign-in page and its API twin, sessions started and ended, every
attempt audited and failures rate limited.

The sign-in form is the one page served without a session. It carries a pre-session CSRF
token that must match the ``lanterne_login`` cookie set with the page (so another site cannot
sign a browser in under its own account); tools do the same with ``GET /api/login`` (the token,
and the cookie) then ``POST /api/login`` with the token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from lanterne.review import audit
from lanterne.review.users import authenticate
from lanterne.web.api import user_json
from lanterne.web.security import (
    CSRF_HEADER,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Session,
    check_login_csrf,
    client_address,
    current_session,
    safe_next,
    secure_cookies,
    sessions,
    token_digest,
)

router = APIRouter()

LOGIN_COOKIE_SECONDS = 3600


class SignInRefused(Exception):
    """A sign-in that did not succeed: ``status`` 401 (wrong name or password) or 429 (too
    many failures; ``retry_after`` seconds)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def sign_in(request: Request, name: str, password: str) -> tuple[str, Session]:
    """Check the name and password (after the rate limit), start a session and audit the
    attempt; returns the cookie token and the session, or raises :class:`SignInRefused`."""
    app = request.app
    name = name.strip()[:100]
    client = client_address(request)
    keys = app.state.limiter.keys(name, client)
    wait = app.state.limiter.retry_after(keys)
    if wait is not None:
        raise SignInRefused(
            429, f"too many failed sign-ins; try again in {wait} seconds", retry_after=wait
        )
    user = authenticate(app.state.case.store, name, password) if name and password else None
    if user is None:
        app.state.limiter.failed(keys)
        audit.record(
            app.state.case.store,
            name or "(none)",
            audit.LOGIN_FAILED,
            detail={"client": client, "via": _via(request)},
        )
        raise SignInRefused(401, "wrong user name or password (or the account is disabled)")
    app.state.limiter.succeeded(keys[0])
    old = request.cookies.get(SESSION_COOKIE)
    if old:  # never carry a session over a sign-in
        sessions(request).end(token_digest(old))
    token, session = sessions(request).create(user)
    detail = {"client": client, "via": _via(request)}
    audit.record(app.state.case.store, user.name, audit.LOGIN, detail=detail)
    return token, session


def sign_out(request: Request, session: Session) -> None:
    sessions(request).end(session.token_sha256)
    audit.record(
        request.app.state.case.store,
        session.user.name,
        audit.LOGOUT,
        detail={"client": client_address(request)},
    )


def _via(request: Request) -> str:
    return "api" if request.url.path.startswith("/api/") else "page"


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(request.app.state.config.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )


def _login_token(request: Request) -> str:
    """The pre-session CSRF token: the cookie's, or a new one (then set by
    :func:`_set_login_cookie`)."""
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    request.state.login_csrf = token
    return token


def _set_login_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_COOKIE_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )


def _clear_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


# ------------------------------------------------------------------ the page
def _login_page(
    request: Request, next_path: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    token = _login_token(request)
    page: HTMLResponse = request.app.state.templates.TemplateResponse(
        request,
        "login.html",
        {
            "csrf": token,
            "next": next_path,
            "error": error,
            "case_name": request.app.state.case.name,
        },
        status_code=status,
    )
    _set_login_cookie(request, page, token)
    return page


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    """The sign-in form."""
    return _login_page(request, safe_next(next))


@router.post("/login", include_in_schema=False, response_model=None)
def login_form(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Sign in from the form; back to the page asked for, or the form again with why not."""
    check_login_csrf(request, csrf)
    target = safe_next(next)
    try:
        token, _ = sign_in(request, name, password)
    except SignInRefused as refused:
        page = _login_page(request, target, refused.message, refused.status)
        if refused.retry_after is not None:
            page.headers["Retry-After"] = str(refused.retry_after)
        return page
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, token)
    response.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post("/logout", include_in_schema=False)
def logout_form(
    request: Request, session: Annotated[Session, Depends(current_session)]
) -> RedirectResponse:
    """Sign out (the form's CSRF token checked by the application) and go to the sign-in page."""
    sign_out(request, session)
    response = RedirectResponse("/login", status_code=303)
    _clear_cookies(response)
    return response


# ------------------------------------------------------------------ the API twin
class LoginToken(BaseModel):
    csrf: str = Field(description="Send it back in the X-CSRF-Token header of POST /api/login.")


class Credentials(BaseModel):
    name: str = Field(max_length=200)
    password: str = Field(max_length=1024)


class SignedIn(BaseModel):
    user: dict[str, Any]
    csrf: str = Field(description="The session's CSRF token, for X-CSRF-Token.")
    expires_at: str


@router.get("/api/login", tags=["session"])
def api_login_token(request: Request, response: Response) -> LoginToken:
    """A pre-session CSRF token (and its cookie), needed to sign in."""
    token = _login_token(request)
    _set_login_cookie(request, response, token)
    return LoginToken(csrf=token)


@router.post(
    "/api/login",
    tags=["session"],
    responses={401: {"description": "Wrong name or password"}, 429: {"description": "Wait"}},
)
def api_login(
    request: Request,
    response: Response,
    credentials: Credentials,
    csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None,
) -> SignedIn:
    """Sign in: sets the session cookie; returns the user and the session's CSRF token."""
    check_login_csrf(request, csrf)
    try:
        token, session = sign_in(request, credentials.name, credentials.password)
    except SignInRefused as refused:
        headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
        raise HTTPException(refused.status, refused.message, headers=headers) from None
    set_session_cookie(request, response, token)
    return SignedIn(
        user=user_json(session.user), csrf=session.csrf, expires_at=session.expires_at.isoformat()
    )


@router.post("/api/logout", tags=["session"], status_code=204)
def api_logout(
    request: Request, response: Response, session: Annotated[Session, Depends(current_session)]
) -> None:
    """Sign out: the session ends."""
    sign_out(request, session)
    _clear_cookies(response)
