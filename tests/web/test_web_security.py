"""The web application's security: nothing without a session, cookies, CSRF, sign-in rate
limiting, roles over HTTP, media headers, the Content-Security-Policy, and audit entries."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from PIL import Image, ImageChops, ImageFilter, ImageStat
from sqlalchemy import select
from typer.testing import CliRunner
from web_support import PASSWORD, ROLE_NAMES, WebCase, login

from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.commands.web import check_host, is_loopback, serve
from lanterne.errors import UserError
from lanterne.review import audit
from lanterne.review.users import can
from lanterne.web import security
from lanterne.web.media import starts_playback
from lanterne.web.security import (
    CONTENT_SECURITY_POLICY,
    LOGIN_COOKIE,
    OPEN_ROUTES,
    SESSION_COOKIE,
    LoginLimiter,
    safe_next,
)


def _path(path: str, web: WebCase) -> str:
    """The route's path with real values for its parameters (so a leak would show data)."""
    values = {
        "sha256": web.known_bad,
        "flag_id": "1",
        "name": "reviewer",
    }
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "1"), path)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the application serves, included routers flattened; the static
    assets' mount aside."""
    out: list[tuple[str, str]] = []
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if path.startswith("/static"):
            continue
        out.extend((method, path) for method in sorted(route.methods or ()))
    return out


def _refused(response: Any) -> bool:
    if response.status_code == 401:
        return True
    location = str(response.headers.get("location", ""))
    return bool(response.status_code == 303 and location.startswith("/login"))


def test_every_route_refuses_without_a_session(app: FastAPI, web_case: WebCase) -> None:
    routes = _routes(app)
    assert len(routes) > 25
    checked = 0
    for cookie in (None, "not-a-session-token"):
        with TestClient(app) as client:
            if cookie:
                client.cookies.set(SESSION_COOKIE, cookie)
            for method, template in routes:
                if template in OPEN_ROUTES:
                    continue
                path = _path(template, web_case)
                body = {"sha256": web_case.known_bad, "category": "1", "confirm": True}
                response = client.request(method, path, json=body, follow_redirects=False)
                assert _refused(response), (method, path, response.status_code, response.text)
                for sha in web_case.pictures:
                    assert sha not in response.text
                assert not response.content.startswith(b"RIFF")  # no picture (WebP)
                checked += 1
    assert checked == 2 * (len(routes) - sum(1 for _, p in routes if p in OPEN_ROUTES))
    # pages redirect to the sign-in page, the API and media answer 401
    with TestClient(app) as client:
        assert client.get("/api/dashboard").status_code == 401
        assert client.get(f"/media/thumb/{web_case.known_bad}").status_code == 401
        page = client.get("/", follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (303, "/login?next=%2F")
        assert client.get("/api/openapi.json").status_code == 401
        assert client.get("/docs", follow_redirects=False).status_code == 303
        assert client.get("/static/css/lanterne.css").status_code == 200  # open: assets


def test_open_routes_are_only_the_sign_in(app: FastAPI) -> None:
    assert {"/login", "/api/login"} == OPEN_ROUTES
    open_routes = {p for _, p in _routes(app) if p in OPEN_ROUTES}
    assert open_routes == set(OPEN_ROUTES)


def test_session_cookie_is_httponly_strict_and_secure_over_tls(app: FastAPI) -> None:
    with TestClient(app) as client:
        page = client.get("/login")
        pre = page.headers["set-cookie"]
        assert f"{LOGIN_COOKIE}=" in pre and "HttpOnly" in pre and "SameSite=strict" in pre
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        response = client.post(
            "/login",
            data={"name": "reviewer", "password": PASSWORD, "csrf": token.group(1)},
            follow_redirects=False,
        )
        assert response.status_code == 303
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
        )
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback: a Secure cookie would be lost
        # the token in the cookie is never what the store keeps
        raw = cookie.split(";")[0].split("=", 1)[1]
        with app.state.case.store.engine.connect() as conn:
            stored = conn.execute(select(schema.web_session.c.token_sha256)).scalars().all()
        assert raw not in stored and security.token_digest(raw) in stored
    with TestClient(app, base_url="https://testserver") as client:
        login(client, "reviewer")
        jar = [c for c in client.cookies.jar if c.name == SESSION_COOKIE]
        assert jar and jar[0].secure


def test_state_changing_requests_need_the_csrf_token(
    app: FastAPI, web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    reviewer = clients["reviewer"]
    token = reviewer.headers.pop("X-CSRF-Token")
    body = {"sha256": web_case.new[1], "category": "2", "confirm": True}
    assert reviewer.post("/api/categorise", json=body).status_code == 403
    wrong = {"X-CSRF-Token": "0" * 64}
    assert reviewer.post("/api/categorise", json=body, headers=wrong).status_code == 403
    assert reviewer.put("/api/me/settings", json={"blur": False}).status_code == 403
    right = {"X-CSRF-Token": token}
    assert reviewer.post("/api/categorise", json=body, headers=right).status_code == 200
    # a form post carries it as a field: sign-out
    assert reviewer.post("/logout", data={}, follow_redirects=False).status_code == 403
    out = reviewer.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert reviewer.get("/api/me").status_code == 401  # the session is over
    # the sign-in form needs its pre-session token, matching its cookie
    with TestClient(app) as client:
        form = {"name": "reviewer", "password": PASSWORD, "csrf": "forged"}
        client.get("/login")
        assert client.post("/login", data=form).status_code == 403
        creds = {"name": "reviewer", "password": PASSWORD}
        assert client.post("/api/login", json=creds).status_code == 403
    with TestClient(app) as client:  # the API twin: GET a token, send it back
        pre = client.get("/api/login").json()["csrf"]
        signed = client.post(
            "/api/login",
            json={"name": "reviewer", "password": PASSWORD},
            headers={"X-CSRF-Token": pre},
        )
        assert signed.status_code == 200
        assert signed.json()["user"]["role"] == "reviewer"
        session_csrf = signed.json()["csrf"]
        assert client.get("/api/me").json()["csrf"] == session_csrf
        assert client.post("/api/logout", headers={"X-CSRF-Token": session_csrf}).status_code == 204
        assert client.get("/api/me").status_code == 401


def _form_login(client: TestClient, name: str, password: str) -> Any:
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    return client.post(
        "/login",
        data={"name": name, "password": password, "csrf": token.group(1)},
        follow_redirects=False,
    )


def test_sign_in_is_rate_limited(app: FastAPI, web_case: WebCase) -> None:
    with TestClient(app) as client:
        for _ in range(5):
            wrong = _form_login(client, "reviewer", "not the password at all")
            assert wrong.status_code == 401
            assert "wrong user name or password" in wrong.text
        limited = _form_login(client, "reviewer", PASSWORD)  # even the right password
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert "too many failed sign-ins" in limited.text
        # per client too: another name from the same client
        assert _form_login(client, "examiner", PASSWORD).status_code == 429
        pre = client.get("/api/login").json()["csrf"]
        api = client.post(
            "/api/login",
            json={"name": "examiner", "password": PASSWORD},
            headers={"X-CSRF-Token": pre},
        )
        assert api.status_code == 429 and "retry-after" in api.headers
    failures = audit.entries(web_case.case.store, action=audit.LOGIN_FAILED)
    assert len(failures) == 5 and {e.user for e in failures} == {"reviewer"}
    assert all(e.detail["client"] == "testclient" for e in failures)


def test_login_limiter_window(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("lanterne.web.security.time.monotonic", lambda: now[0])
    limiter = LoginLimiter(failures=3, window_seconds=60)
    keys = limiter.keys("Reviewer ", "10.0.0.1")
    assert keys == ("name:reviewer", "client:10.0.0.1")
    for _ in range(3):
        assert limiter.retry_after(keys) is None
        limiter.failed(keys)
        now[0] += 10
    assert limiter.retry_after(keys) == 30  # now 1030: the first failure leaves it at 1060
    now[0] = 1060.5
    assert limiter.retry_after(keys) is None  # one failure fewer in the window
    limiter.failed(keys)
    assert limiter.retry_after(keys) is not None
    limiter.succeeded(keys[0])  # a right password clears the name, not the client
    assert limiter.retry_after((keys[0],)) is None
    assert limiter.retry_after((keys[1],)) is not None


def test_roles_are_enforced_by_the_server(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    sha = web_case.new[1]
    flag = clients["reviewer"].post("/api/flags", json={"sha256": sha, "note": "unsure"})
    assert flag.status_code == 201
    flag_id = flag.json()["id"]
    checks: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("view", "GET", "/api/dashboard", None),
        ("view", "GET", f"/api/items/{sha}", None),
        ("view", "GET", f"/media/thumb/{sha}", None),
        ("reveal", "GET", f"/media/reveal/{sha}", None),
        ("categorise", "POST", "/api/categorise", {"sha256": sha, "category": "0"}),
        ("flag", "POST", "/api/flags", {"sha256": sha, "note": ""}),
        ("export", "GET", "/api/export/files?format=csv", None),
        ("manage_users", "GET", "/api/users", None),
        ("read_audit", "GET", "/api/audit", None),
        ("read_audit", "GET", "/api/audit/verify", None),
        ("resolve_flag", "POST", f"/api/flags/{flag_id}/resolve", {"resolution": "ok"}),
    ]
    for role in ROLE_NAMES:
        client = clients[role]
        for action, method, path, body in checks:
            response = client.request(method, path, json=body)
            if can(role, action):
                assert response.status_code in (200, 201), (role, path, response.text)
            else:
                assert response.status_code == 403, (role, path, response.status_code)
                assert role in response.json()["detail"]
    # the brief's cases, spelled out
    assert clients["reviewer"].get("/api/users").status_code == 403
    assert clients["reviewer"].get("/api/audit").status_code == 403
    assert clients["auditor"].get(f"/media/reveal/{sha}").status_code == 403
    body = {"sha256": sha, "category": "1", "confirm": True}
    assert clients["auditor"].post("/api/categorise", json=body).status_code == 403


def _image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.convert("RGB")


def _detail(img: Image.Image) -> float:
    """Mean difference between the picture and a slightly smoothed copy: its fine detail."""
    grey = img.convert("L")
    smooth = grey.filter(ImageFilter.GaussianBlur(2))
    return float(ImageStat.Stat(ImageChops.difference(grey, smooth)).mean[0])


def _spread(a: Image.Image, b: Image.Image) -> int:
    """The largest difference between two single-band images."""
    _, high = ImageChops.difference(a, b).getextrema()
    assert isinstance(high, int)
    return high


def test_media_is_not_stored_and_blurred_until_revealed(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    reviewer = clients["reviewer"]
    sha = web_case.new[0]
    thumb = reviewer.get(f"/media/thumb/{sha}")
    clear = reviewer.get(f"/media/reveal/{sha}")
    for response in (thumb, clear):
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["content-disposition"] == "inline"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert clear.content == web_case.case.thumbnail_path(sha).read_bytes()
    blurred, revealed = _image(thumb.content), _image(clear.content)
    assert blurred.size == revealed.size
    r, g, b = blurred.split()  # greyscale: the three channels agree (but for WebP's rounding)
    assert _spread(r, g) <= 4 and _spread(g, b) <= 4
    cr, cg, _ = revealed.split()
    assert _spread(cr, cg) > 40  # the clear picture has colour
    assert _detail(blurred) < _detail(revealed) / 3
    assert reviewer.get(f"/media/thumb/{'0' * 64}").status_code == 404
    assert reviewer.get("/media/thumb/..%2Fcase.toml").status_code in (404, 422)
    assert reviewer.get(f"/media/video/{sha}").status_code == 404  # a picture, not a video

    # settings may turn blur off (audited); a role that may not reveal never gets it
    assert reviewer.put("/api/me/settings", json={"blur": False}).status_code == 200
    sharp = _image(reviewer.get(f"/media/thumb/{sha}").content)
    assert _detail(sharp) > _detail(blurred) * 3
    changed = audit.entries(web_case.case.store, action=audit.SETTINGS)
    assert [(e.user, e.detail) for e in changed] == [("reviewer", {"blur": False})]
    auditor = clients["auditor"]
    clear_settings = {"blur": False, "greyscale": False}
    assert auditor.put("/api/me/settings", json=clear_settings).status_code == 200
    assert auditor.get(f"/media/thumb/{sha}").content == thumb.content


def test_security_headers_and_no_inline_script_in_any_page(
    app: FastAPI, web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    supervisor = clients["supervisor"]
    pages = 0
    for method, template in _routes(app):
        if method != "GET" or template.startswith(("/api/", "/media/")):
            continue
        response = supervisor.get(_path(template, web_case), follow_redirects=False)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        if response.headers.get("content-type", "").startswith("text/html"):
            _assert_no_inline_script(response.text, template)
            pages += 1
    with TestClient(app) as anon:
        login_page = anon.get("/login")
        assert login_page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        _assert_no_inline_script(login_page.text, "/login")
    assert pages >= 1
    csp = CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp


def _assert_no_inline_script(html: str, where: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", html, re.IGNORECASE):
        assert re.search(r"\bsrc\s*=", tag), f"inline <script> in {where}: {tag}"
    for body in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.IGNORECASE | re.DOTALL):
        assert not body.strip(), f"script body in {where}"
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE), f"inline handler in {where}"
    assert "javascript:" not in html.lower(), f"javascript: URL in {where}"


def test_reveal_categorise_and_sign_ins_are_audited(
    app: FastAPI, web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    store = web_case.case.store
    reviewer = clients["reviewer"]
    assert reviewer.get(f"/media/reveal/{web_case.known_bad}").status_code == 200
    reveals = audit.entries(store, action=audit.REVEAL)
    assert [(e.user, e.target, e.detail["media"]) for e in reveals] == [
        ("reviewer", web_case.known_bad, "picture")
    ]
    # viewing blurred thumbnails is not a reveal
    assert reviewer.get(f"/media/thumb/{web_case.new[1]}").status_code == 200
    assert len(audit.entries(store, action=audit.REVEAL)) == 1

    body = {"sha256": web_case.group[1], "category": "2", "confirm": True}
    done = reviewer.post("/api/categorise", json=body).json()["decision"]
    cat = audit.entries(store, action=audit.CATEGORISE)
    assert [(e.user, e.target, e.detail["batch"]) for e in cat] == [
        ("reviewer", web_case.group[1], done["batch"])
    ]
    with TestClient(app) as client:
        login(client, "auditor")
        assert [e.user for e in audit.entries(store, action=audit.LOGIN)] == ["auditor"]
        assert _form_login(client, "examiner", "wrong password!").status_code == 401
        assert _form_login(client, "nobody", "wrong password!").status_code == 401
    failed = audit.entries(store, action=audit.LOGIN_FAILED)
    assert [e.user for e in failed] == ["nobody", "examiner"]  # newest first
    token = clients["examiner"].headers["X-CSRF-Token"]
    clients["examiner"].post("/logout", data={"csrf": token}, follow_redirects=False)
    assert [e.user for e in audit.entries(store, action=audit.LOGOUT)] == ["examiner"]
    report = audit.verify(store, audit.witness_path(web_case.case))
    assert report.ok, report.problems


def test_disabled_users_lose_their_sessions(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    supervisor, reviewer = clients["supervisor"], clients["reviewer"]
    assert reviewer.get("/api/me").status_code == 200
    assert supervisor.post("/api/users/reviewer/disable").status_code == 200
    assert reviewer.get("/api/me").status_code == 401
    assert supervisor.post("/api/users/supervisor/disable").status_code == 400


def test_sign_in_goes_back_only_to_this_site(app: FastAPI) -> None:
    assert safe_next("/items/ab?x=1") == "/items/ab?x=1"
    for evil in ("//evil.example/x", "https://evil.example", "/\\evil.example", "", None,
                 "/login?next=/x", "/a\r\nSet-Cookie: x=1"):  # fmt: skip
        assert safe_next(evil) == "/"
    with TestClient(app) as client:
        page = client.get("/login", params={"next": "//evil.example/"})
        assert 'name="next" value="/"' in page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        form = {"name": "auditor", "password": PASSWORD, "csrf": token.group(1)}
        response = client.post(
            "/login", data={**form, "next": "/api/dashboard"}, follow_redirects=False
        )
        assert response.headers["location"] == "/api/dashboard"


def test_serve_stays_on_loopback_unless_told(web_case: WebCase) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")
    assert check_host("127.0.0.1", allow_remote=False, tls=False) is None
    with pytest.raises(UserError, match="--allow-remote"):
        check_host("0.0.0.0", allow_remote=False, tls=True)
    warning = check_host("0.0.0.0", allow_remote=True, tls=False)
    assert warning and "WITHOUT TLS" in warning
    cli = typer.Typer()
    cli.command()(serve)
    result = CliRunner().invoke(cli, [str(web_case.case.root), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--allow-remote" in result.output


def _add_video(web_case: WebCase, folder: Path, rel: str, data: bytes, label: str) -> str:
    """A video content found in a seized folder, recorded as the ingest would."""
    sha = hashlib.sha256(data).hexdigest()
    chain = json.dumps([{"type": "evidence", "path": label}, {"type": "folder", "path": rel}])
    now = utcnow()
    with web_case.case.store.engine.begin() as conn:
        ev = conn.execute(
            schema.evidence.insert()
            .values(label=label, kind="folder", location=str(folder), registered_by="test",
                    registered_at=now, status="done")
            .returning(schema.evidence.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(
            schema.content.insert().values(
                sha256=sha, md5=hashlib.md5(data).hexdigest(), sha1=hashlib.sha1(data).hexdigest(),
                size=len(data), mime="video/mp4", kind="video", analyzed_at=now,
            )
        )  # fmt: skip
        conn.execute(
            schema.file.insert().values(
                evidence_id=ev, provenance_key=hashlib.sha256(chain.encode()).hexdigest(),
                provenance=chain, path=rel, name=rel.rsplit("/", 1)[-1], size=len(data),
                sha256=sha, state="done",
            )
        )  # fmt: skip
    return sha


def test_videos_stream_from_seized_folders_audited_once_per_playback(
    web_case: WebCase, clients: dict[str, TestClient], tmp_path: Path
) -> None:
    folder = tmp_path / "VIDEOS-01"
    (folder / "clips").mkdir(parents=True)
    data = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40  # not a real video: bytes
    (folder / "clips" / "a.mp4").write_bytes(data)
    sha = _add_video(web_case, folder, "clips/a.mp4", data, "VIDEOS-01")
    reviewer = clients["reviewer"]
    whole = reviewer.get(f"/media/video/{sha}")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["cache-control"] == "no-store"
    assert whole.headers["content-disposition"] == "inline"
    part = reviewer.get(f"/media/video/{sha}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    start = reviewer.get(f"/media/video/{sha}", headers={"Range": "bytes=0-99"})
    assert start.status_code == 206
    views = audit.entries(web_case.case.store, action=audit.REVEAL, target=sha)
    assert [e.detail["media"] for e in views] == ["video", "video"]  # not for the seek
    assert clients["auditor"].get(f"/media/video/{sha}").status_code == 403

    # a recorded path that leaves the folder, or a file changed since, is never served
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(data + b"x")
    sneaky = _add_video(web_case, folder, "../outside.mp4", data + b"x", "VIDEOS-02")
    assert reviewer.get(f"/media/video/{sneaky}").status_code == 404
    (folder / "clips" / "b.mp4").write_bytes(data + b"yy")
    changed = _add_video(web_case, folder, "clips/b.mp4", data + b"zzz", "VIDEOS-03")
    assert reviewer.get(f"/media/video/{changed}").status_code == 404
    assert starts_playback(None) and starts_playback("bytes=0-") and starts_playback("x")
    assert not starts_playback("bytes=1-") and not starts_playback("bytes=500-999")


def test_forged_tokens_of_any_text_are_refused(clients: dict[str, TestClient]) -> None:
    reviewer = clients["reviewer"]
    body = {"sha256": "0" * 64, "category": "1"}
    forged = {b"X-CSRF-Token": "é".encode("latin-1") * 64}  # a header of non-ASCII bytes
    assert reviewer.post("/api/categorise", json=body, headers=forged).status_code == 403
    del reviewer.headers["X-CSRF-Token"]
    assert reviewer.post("/logout", data={"csrf": "é" * 64}).status_code == 403
    assert not security.same_token("é", "e") and security.same_token("abc", "abc")
