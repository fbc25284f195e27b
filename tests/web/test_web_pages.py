"""The web review's pages: each renders for the roles that may see it (and only them), shows
the case's real figures, carries the session's CSRF token in its forms and scripts, and holds
no inline script or style (the Content-Security-Policy forbids them).

The case is the synthetic one of ``conftest.py`` (benign generated pictures only).
"""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from web_support import CHAT_GROUP, WebCase

from lanterne.case import schema
from lanterne.review import audit
from lanterne.web import pages
from lanterne.web.app import STATIC, TEMPLATES

ROLES = ("examiner", "reviewer", "supervisor", "auditor")
EVERYONE = ("/", "/evidence", "/review", "/flags", "/chats", "/suspects", "/countries", "/settings")
RESTRICTED = {"/audit": ("supervisor", "auditor"), "/users": ("supervisor",)}


# ------------------------------------------------------------------ helpers
class Tags(HTMLParser):
    """Every start tag of a page with its attributes, and the text inside <script>/<style>."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.forms: list[list[tuple[str, dict[str, str | None]]]] = []
        self.inline: list[str] = []
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "form":
            self.forms.append([(tag, found)])
        elif self.forms and tag in ("input", "button", "select", "textarea"):
            self.forms[-1].append((tag, found))
        if tag in ("script", "style"):
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in and data.strip():
            self.inline.append(data)


def assert_no_inline_script_or_style(html: str, where: str) -> None:
    page = Tags(html)
    assert not page.inline, f"{where}: inline script or style {page.inline[:1]}"
    for tag, attrs in page.tags:
        assert tag != "style", f"{where}: a <style> element"
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), f"{where}: script {attrs}"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"{where}: event handler {name} on <{tag}>"
            assert name != "style", f"{where}: style attribute on <{tag}>"
            assert not (value or "").strip().lower().startswith("javascript:"), where


def session_csrf(client: TestClient) -> str:
    token: str = client.get("/api/me").json()["csrf"]
    return token


def tiles(html: str) -> list[str]:
    """The SHA-256 of the grid's tiles, in order."""
    return [
        attrs["data-sha256"] or ""
        for tag, attrs in Tags(html).tags
        if tag == "li" and "data-review-tile" in attrs
    ]


def apply_category(client: TestClient, sha256: str, category: str) -> dict[str, object]:
    preview = client.post("/api/categorise", json={"sha256": sha256, "category": category})
    assert preview.status_code == 200, preview.text
    plan = preview.json()["preview"]
    done = client.post(
        "/api/categorise",
        json={
            "sha256": sha256,
            "category": category,
            "confirm": True,
            "expected": plan["sha256s"],
        },
    )
    assert done.status_code == 200, done.text
    decision: dict[str, object] = done.json()["decision"]
    return decision


# ------------------------------------------------------------------ tests
def test_every_page_renders_for_the_roles_that_may_see_it(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    item_pages = [f"/items/{web_case.posted}", f"/items/{web_case.group[0]}", "/chats/1"]
    for role in ROLES:
        client = clients[role]
        for path in (*EVERYONE, *item_pages, "/network?center=group:1"):
            response = client.get(path)
            assert response.status_code == 200, (role, path, response.text[:500])
            assert response.headers["content-type"].startswith("text/html")
            assert response.headers["cache-control"] == "no-store"
            assert_no_inline_script_or_style(response.text, f"{role} {path}")
            nav = {a.get("id") for t, a in Tags(response.text).tags if t == "a"}
            assert ("nav-audit" in nav) == (role in RESTRICTED["/audit"]), (role, path)
            assert ("nav-users" in nav) == (role in RESTRICTED["/users"]), (role, path)
        for path, allowed in RESTRICTED.items():
            status = client.get(path).status_code
            assert status == (200 if role in allowed else 403), (role, path, status)

    sup = clients["supervisor"]
    dashboard = sup.get("/").text
    # two contents are settled by a hash set (one known-bad, one known-good), nobody saw them
    assert re.search(r'id="settled-by-hash">\s*<dt>[^<]*</dt>\s*<dd>2</dd>', dashboard)
    assert re.search(r'id="awaiting-review">\s*<dt>[^<]*</dt>\s*<dd>6</dd>', dashboard)
    assert 'id="chart-categories"' in dashboard and 'id="chart-evidence"' in dashboard
    evidence = sup.get("/evidence").text
    for label in ("PC-01", "USB-02", "PARTNER-1"):
        assert f'data-evidence="{label}"' in evidence
    assert CHAT_GROUP in sup.get("/chats").text
    group = sup.get("/chats/1").text
    assert "+33612345678" in group and "+33698765432" in group and "Member Two" in group
    countries = sup.get("/countries").text
    assert re.search(r"<td>FR</td><td class=\"num\">2</td>", countries)
    suspects = sup.get("/suspects").text
    assert ('id="ranked"' in suspects) or ('id="priorities-unavailable"' in suspects)
    assert sup.get("/items/" + "0" * 64).status_code == 404
    assert sup.get("/chats/999").status_code == 404


def test_auditor_and_reviewer_pages_offer_only_what_the_role_may_do(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    auditor = clients["auditor"].get(f"/items/{web_case.posted}").text
    assert 'data-can-categorise="0"' in auditor and 'data-can-reveal="0"' in auditor
    assert "data-reveal-url" not in auditor and "data-category-key" not in auditor
    assert 'id="reveal-button"' not in auditor
    grid = clients["auditor"].get("/review?state=all").text
    assert "/media/thumb/" in grid and "/media/reveal/" not in grid

    reviewer = clients["reviewer"].get(f"/items/{web_case.posted}").text
    assert 'data-can-categorise="1"' in reviewer and 'data-can-reveal="1"' in reviewer
    assert f'data-reveal-url="/media/reveal/{web_case.posted}"' in reviewer
    for key in ("0", "1", "2", "3", "4", "u"):
        assert f'data-category-key="{key}"' in reviewer
    # the reviewer sees who looked only as a count; the names are audit data
    clients["reviewer"].get(f"/media/reveal/{web_case.posted}")
    again = clients["reviewer"].get(f"/items/{web_case.posted}").text
    assert "Revealed 1 time." in again and "(audit #" not in again
    assert "(audit #" in clients["supervisor"].get(f"/items/{web_case.posted}").text


def test_pages_without_a_session_redirect_to_sign_in(anon: TestClient) -> None:
    for path in (*EVERYONE, *RESTRICTED, "/items/" + "a" * 64, "/chats/1", "/network"):
        response = anon.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path
        assert CHAT_GROUP not in response.text
    assert anon.get("/static/js/review.js").status_code == 200


def test_grid_shows_one_representative_per_group_and_filters(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    client = clients["reviewer"]
    rep = web_case.group[0]
    shown = tiles(client.get("/review?state=all").text)
    expected = {rep, web_case.duplicate, web_case.known_bad, *web_case.new}
    assert set(shown) == expected and len(shown) == 5  # known-good hidden, one per group
    page = client.get("/review?state=all").text
    assert f'href="/review?state=all&amp;group={rep}" data-group-size="3">group of 3' in page

    assert set(tiles(client.get("/review?state=all&known_good=true").text)) == {
        *expected,
        web_case.known_good,
    }
    assert set(tiles(client.get(f"/review?state=all&group={rep}").text)) == set(web_case.group)
    assert tiles(client.get("/review?state=all&chat=1").text) == [web_case.posted]
    known = client.get("/review?state=known").text
    assert tiles(known) == [web_case.known_bad] and "known 1</span>" in known
    assert tiles(client.get("/review?state=known:1").text) == [web_case.known_bad]
    assert tiles(client.get("/review?state=known:2").text) == []
    assert set(tiles(client.get("/review").text)) == {rep, web_case.duplicate, *web_case.new}
    # empty filters, as the filter form sends them, mean "all"
    empty = "/review?state=all&evidence=&suspect=&chat=&group=&kind="
    assert set(tiles(client.get(empty).text)) == expected
    with web_case.case.store.engine.connect() as conn:
        usb = conn.execute(
            select(schema.evidence.c.id).where(schema.evidence.c.label == "USB-02")
        ).scalar_one()
    on_usb = set(tiles(client.get(f"/review?state=all&evidence={usb}").text))
    assert on_usb == {rep, web_case.duplicate, web_case.new[1]}  # rep: a member is on USB-02
    for bad in ("state=bogus", "evidence=abc", "group=xyz"):
        response = client.get(f"/review?{bad}")
        assert response.status_code == 200 and 'role="alert"' in response.text, bad
        assert tiles(response.text) == []


def test_item_page_shows_provenance_matches_exif_chats_and_decisions(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    client = clients["reviewer"]
    posted = client.get(f"/items/{web_case.posted}").text
    assert 'id="camera">Synthcam S-1 · serial SN-0001' in posted
    assert 'id="gps">48.85660, 2.35220' in posted
    assert f'<a href="/chats/1">{CHAT_GROUP}</a>' in posted and "Member Two" in posted
    assert "<code>folder</code> new-camera.jpg" in posted  # the provenance chain
    assert "No hash set knows it: new material." in posted

    bad = client.get(f"/items/{web_case.known_bad}").text
    assert "<td>synthetic-vics</td><td>known-bad</td>" in bad
    assert '1 <span class="muted">(vics-us)</span>' in bad

    rep, member, _ = web_case.group
    page = client.get(f"/items/{rep}").text
    near = Tags(page).tags
    listed = {a.get("data-sha256") for t, a in near if t == "li" and "data-sha256" in a}
    assert listed == set(web_case.group[1:])

    decision = apply_category(client, rep, "1")
    assert set(decision["sha256s"]) == set(web_case.group)  # type: ignore[arg-type]
    page = client.get(f"/items/{member}").text
    assert f'propagated from <a href="/items/{rep}"' in page
    assert 'id="current-category">reviewed: 1</span>' in page
    reviewed = client.get("/review?state=reviewed:1").text
    assert tiles(reviewed) == [rep] and "reviewed: 1</span>" in reviewed
    dashboard = clients["supervisor"].get("/").text
    assert re.search(r'id="reviewed">\s*<dt>[^<]*</dt>\s*<dd>3</dd>', dashboard)

    # a reviewer's category that disagrees with a hash set: shown, the set's category kept
    apply_category(client, web_case.known_bad, "2")
    conflict = client.get(f"/items/{web_case.known_bad}").text
    assert "Conflict: reviewed as 2, but" in conflict and "synthetic-vics says 1" in conflict
    grid = client.get("/review?state=known").text
    assert "conflict</span>" in grid


def test_suspect_pages_explain_the_priority_and_filter_the_grid(
    web_case: WebCase, clients: dict[str, TestClient], tmp_path: Path
) -> None:
    from lanterne.network.suspects import import_suspects

    listing = tmp_path / "suspects.csv"
    listing.write_text(
        "id,name,occupation,identifiers,evidence\n"
        "S-1,Invented Person,gardener,+33698765432,PC-01\n",
        encoding="utf-8",
    )
    import_suspects(web_case.case, listing)
    client = clients["examiner"]
    with web_case.case.store.engine.connect() as conn:
        sid = conn.execute(select(schema.suspect.c.id)).scalar_one()
    ranked = client.get("/suspects").text
    assert f'<a href="/suspects/{sid}">S-1 Invented Person</a>' in ranked
    page = client.get(f"/suspects/{sid}").text
    assert "Suspect S-1: Invented Person" in page and "gardener" in page
    assert re.search(r"Rank 1 among suspects, score <strong>[0-9.]+</strong>", page)
    assert f'data-center="suspect:{sid}"' in page and "cytoscape-3.35.0.min.js" in page
    network = client.get(f"/api/network?center=suspect:{sid}").json()
    kinds = {e["data"].get("kind") for e in network["elements"] if e["group"] == "nodes"}
    assert {"suspect", "item", "person"} <= kinds
    # the suspect's items: PC-01, where the group's representative, the duplicate, the
    # known-bad picture and the picture with a camera are
    on_items = set(tiles(client.get(f"/review?state=all&suspect={sid}").text))
    assert on_items == {web_case.group[0], web_case.duplicate, web_case.known_bad, web_case.posted}
    assert client.get("/suspects/999").status_code == 404


def test_forms_and_scripts_carry_the_session_csrf_token(
    web_case: WebCase, clients: dict[str, TestClient], app: FastAPI
) -> None:
    reviewer = clients["reviewer"]
    assert reviewer.post("/api/flags", json={"sha256": web_case.posted}).status_code == 201
    client = clients["supervisor"]
    token = session_csrf(client)
    routes = {
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        for method in route.methods or ()
    }
    checked = 0
    for path in ("/users", "/settings", "/flags", f"/items/{web_case.posted}", "/review"):
        html = client.get(path).text
        page = Tags(html)
        body = next(a for t, a in page.tags if t == "body")
        assert body["data-csrf"] == token, path
        for form in page.forms:
            attrs = form[0][1]
            method = (attrs.get("method") or "get").upper()
            if method in ("GET", "DIALOG"):  # filters; a dialog's own buttons
                continue
            if "data-api" in attrs:  # sent by the page's script, as JSON
                assert attrs["data-api"] == attrs.get("action"), attrs
                method = (attrs.get("data-method") or "POST").upper()
            hidden = [a for t, a in form if t == "input" and a.get("name") == "csrf"]
            assert hidden and hidden[0]["value"] == token, (path, attrs)
            target = attrs.get("data-api") or attrs.get("action") or ""
            pattern = re.sub(r"/api/flags/\d+/", "/api/flags/{flag_id}/", target)
            pattern = re.sub(r"/api/users/[^/]+/disable", "/api/users/{name}/disable", pattern)
            assert (method, pattern) in routes, (path, method, target)
            checked += 1
    assert checked >= 5  # sign-out on every page, settings, add user, disable, resolve


def test_audit_page_lists_reveals_and_shows_a_broken_chain(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    assert clients["reviewer"].get(f"/media/reveal/{web_case.new[1]}").status_code == 200
    sup = clients["supervisor"]
    page = sup.get("/audit?action=reveal").text
    rows = [a for t, a in Tags(page).tags if t == "tr" and a.get("data-action")]
    assert [(r["data-action"], r["data-target"]) for r in rows] == [("reveal", web_case.new[1])]
    assert "Older entries" not in page
    intact = sup.get("/audit?verify=true").text
    assert 'class="ok" id="verify-report"' in intact and "is intact" in intact

    for n in range(pages.AUDIT_PAGE):  # more than one page of entries
        audit.record(web_case.case.store, "examiner", audit.EXPORT, f"export-{n}")
    first_page = sup.get("/audit").text
    assert len(Tags(first_page).forms) == 2  # the filters and the sign-out
    more = re.search(r'hx-get="(/audit\?offset=100[^"]*)"', first_page)
    assert more and "Older entries (1 more)" in first_page
    partial = sup.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert "<html" not in partial.text and "<body" not in partial.text
    rows = [a for t, a in Tags(partial.text).tags if t == "tr"]
    assert [(r["data-action"], r["data-target"]) for r in rows] == [("reveal", web_case.new[1])]

    a = schema.audit
    with web_case.case.store.engine.begin() as conn:
        first = conn.execute(select(a.c.id).order_by(a.c.id).limit(1)).scalar_one()
        conn.execute(update(a).where(a.c.id == first).values(user="someone-else"))
    broken = sup.get("/audit?verify=true").text
    assert 'class="error" id="verify-report"' in broken
    assert f"the first at entry {first}" in broken


def test_settings_page_shows_and_applies_the_user_settings(
    clients: dict[str, TestClient],
) -> None:
    client = clients["reviewer"]
    before = Tags(client.get("/settings").text)
    body = next(a for t, a in before.tags if t == "body")
    assert "blur-on" in (body["class"] or "") and "grey-on" in (body["class"] or "")
    assert body["data-break-minutes"] == "50"
    changed = client.put("/api/me/settings", json={"blur": False, "break_minutes": 20})
    assert changed.status_code == 200, changed.text
    after = Tags(client.get("/settings").text)
    body = next(a for t, a in after.tags if t == "body")
    assert "blur-on" not in (body["class"] or "") and "grey-on" in (body["class"] or "")
    assert body["data-break-minutes"] == "20"
    inputs = {a.get("name"): a for t, a in after.tags if t == "input"}
    assert "checked" not in inputs["blur"] and "checked" in inputs["greyscale"]
    assert inputs["break_minutes"]["value"] == "20"
    exposure = Tags(client.get("/review").text)
    assert next(a for t, a in exposure.tags if t == "body")["data-exposure"] == "1"
    assert next(a for t, a in after.tags if t == "body")["data-exposure"] == "0"


# ------------------------------------------------------------------ without a case
def test_templates_have_no_inline_script_or_style() -> None:
    names = sorted(p.name for p in TEMPLATES.glob("*.html"))
    assert "base.html" in names and "review.html" in names
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        for script in re.findall(r"<script\b[^>]*>", text):
            assert re.search(r'\bsrc="/static/', script), (path.name, script)
        bodies = re.findall(r"<script\b[^>]*>(.*?)</script>", text, re.DOTALL)
        assert not any(b.strip() for b in bodies), path.name
        assert "<style" not in text, path.name
        assert not re.search(r"\sstyle=", text), path.name
        assert not re.search(r"\son[a-z]+=", text), path.name
        assert "javascript:" not in text, path.name
        assert "://" not in text.replace("http://", "").replace("https://", ""), path.name
        assert not re.search(r"https?://", text), f"{path.name}: an external address"


def test_vendored_assets_match_their_record() -> None:
    record = (STATIC / "VENDORED.md").read_text(encoding="utf-8")
    listed = re.findall(r"`(vendor/[^`]+)` \(from `[^`]+`\) \| `([0-9a-f]{64})`", record)
    licences = re.findall(r"`(vendor/[^`]+)` \(`([0-9a-f]{64})`\)", record)
    assert len(listed) == 3 and len(licences) == 3
    for name, digest in listed + licences:
        data = (STATIC / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
    on_disk = {f"vendor/{p.name}" for p in (STATIC / "vendor").iterdir()}
    assert on_disk == {n for n, _ in listed + licences}
    used: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        used.update(re.findall(r'src="/static/(vendor/[^"]+)"', path.read_text(encoding="utf-8")))
    assert used == {n for n, _ in listed}
    for script in (STATIC / "js").glob("*.js"):
        text = script.read_text(encoding="utf-8")
        assert "eval(" not in text and "innerHTML" not in text, script.name
        assert not re.search(r"https?://", text), script.name


def test_navigation_lists_only_real_pages() -> None:
    paths = {r.path for r in iter_route_contexts(pages.router.routes)}
    for _key, path, _title, _action in pages.NAV:
        assert path in paths, path


@pytest.mark.parametrize("value", [1536, 0, 5 * 1024**4])
def test_human_bytes(value: int) -> None:
    from lanterne.web.page_data import human_bytes

    text = human_bytes(value)
    assert text in ("1.5 KiB", "0 B", "5.0 TiB")
