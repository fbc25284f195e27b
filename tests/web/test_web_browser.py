"""The web review in a real browser (Playwright driving Debian's Chromium, headless): sign in,
review a grid with the keyboard and see the category reach the near-duplicate group, reveal an
item and find the reveal in the audit log, a reviewer refused the audit page, a tampered audit
row caught by ``lanterne audit verify``, the break reminder, and every page free of
Content-Security-Policy violations.

Screenshots of the main pages go to ``$LANTERNE_TEST_ARTIFACTS`` (or the test's tmp folder);
they are test artefacts, never committed. The case holds benign generated pictures only, and
the screenshots are taken with the pictures shielded.

Chromium is installed by ``.ci/run`` (Debian package ``chromium``): without it these tests are
skipped locally and fail under CI.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner, Result
from web_support import PASSWORD, LiveServer

from lanterne.case import schema
from lanterne.review import audit, decisions

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail("CI must provide /usr/bin/chromium (Debian package chromium, see .ci/run)")
    pytest.skip("needs /usr/bin/chromium (Debian package chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def artifacts(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Where screenshots go: ``$LANTERNE_TEST_ARTIFACTS/<test>`` or the test's tmp folder."""
    base = os.environ.get("LANTERNE_TEST_ARTIFACTS")
    folder = Path(base) / re.sub(r"[^\w.-]+", "_", request.node.name) if base else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Session:
    """A browser context signed in as one user, collecting CSP violations and page errors."""

    def __init__(self, browser: object, server: LiveServer, name: str) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.expected_refusal = False
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("response", self._response)
        self.sign_in(name)

    def _console(self, message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        kind = message.type  # type: ignore[attr-defined]
        where = message.location.get("url", "")  # type: ignore[attr-defined]
        if where.endswith("/favicon.ico"):  # asked by the browser for the JSON 403 answer
            return
        if "Content Security Policy" in text or (kind == "error" and not self.expected_refusal):
            self.problems.append(f"{kind} on {self.page.url}: {text}")

    def _response(self, response: object) -> None:
        status = response.status  # type: ignore[attr-defined]
        if status >= 400 and not self.expected_refusal:
            self.problems.append(f"{status} {response.url}")  # type: ignore[attr-defined]

    def url(self, path: str) -> str:
        return self.server.url + path

    def sign_in(self, name: str) -> None:
        page = self.page
        page.goto(self.url("/login"))
        page.fill("#name", name)
        page.fill("#password", PASSWORD)
        page.click("#sign-in")
        page.wait_for_url(self.url("/"))
        assert page.inner_text("#who").startswith(name)

    def goto(self, path: str) -> object:
        response = self.page.goto(self.url(path))
        self.page.wait_for_load_state("load")
        return response

    def shot(self, folder: Path, name: str) -> None:
        self.page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


class Sessions:
    """A signed-in browser session per user name, opened on first use."""

    def __init__(self, browser: object, server: LiveServer) -> None:
        self.browser = browser
        self.server = server
        self.opened: dict[str, Session] = {}

    def __getitem__(self, name: str) -> Session:
        if name not in self.opened:
            self.opened[name] = Session(self.browser, self.server, name)
        return self.opened[name]

    def close(self) -> None:
        for session in self.opened.values():
            session.close()


@pytest.fixture
def sessions(browser: object, live_server: LiveServer) -> Iterator[Sessions]:
    found = Sessions(browser, live_server)
    try:
        yield found
    finally:
        found.close()


def focused_sha(page: object) -> str:
    value: str = page.evaluate(  # type: ignore[attr-defined]
        "() => document.activeElement.closest('[data-review-tile]')?.dataset.sha256 || ''"
    )
    return value


def current_categories(server: LiveServer, sha256s: list[str]) -> dict[str, str]:
    with server.web.case.store.engine.connect() as conn:
        return {s: c.category for s, c in decisions.current(conn, sha256s).items()}


# ------------------------------------------------------------------ tests
def test_keyboard_review_propagates_to_the_near_duplicate_group(
    sessions: Sessions, live_server: LiveServer, artifacts: Path
) -> None:
    web = live_server.web
    rep, *others = web.group
    s = sessions["reviewer"]
    page = s.page
    page.wait_for_selector("canvas#chart-evidence[data-drawn='1']")
    s.shot(artifacts, "dashboard")

    s.goto("/review")
    tiles = page.eval_on_selector_all("[data-review-tile]", "els => els.map(e => e.dataset.sha256)")
    assert set(tiles) == {rep, web.duplicate, *web.new}
    page.wait_for_function("() => document.activeElement.matches('[data-review-tile]')")
    assert focused_sha(page) == tiles[0]
    s.shot(artifacts, "review-grid")
    for _ in range(tiles.index(rep)):
        page.keyboard.press("j")
    assert focused_sha(page) == rep
    there_and_back = ("j", "ArrowLeft") if rep != tiles[-1] else ("k", "ArrowRight")
    for key in there_and_back:
        page.keyboard.press(key)
    assert focused_sha(page) == rep

    page.keyboard.press("1")  # a group of three: confirm first
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    assert dialog.locator("[data-confirm-count]").inner_text() == "3"
    assert dialog.locator("[data-confirm-others]").inner_text() == "2"
    s.shot(artifacts, "review-confirm")
    page.keyboard.press("Escape")  # cancelled: nothing changes
    dialog.wait_for(state="hidden")
    assert current_categories(live_server, list(web.group)) == {}

    page.keyboard.press("1")
    dialog.wait_for(state="visible")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"[data-review-tile][data-sha256='{rep}'][data-category='1']")
    assert "Categorised 3 items" in page.inner_text("#toast")
    assert current_categories(live_server, list(web.group)) == dict.fromkeys(web.group, "1")
    assert focused_sha(page) == tiles[tiles.index(rep) + 1]  # on to the next tile

    page.keyboard.press("z")  # undo: the whole batch
    page.wait_for_selector(f"[data-review-tile][data-sha256='{rep}']:not([data-category])")
    assert current_categories(live_server, list(web.group)) == {}

    page.focus(f"[data-review-tile][data-sha256='{rep}']")
    page.keyboard.press("1")
    dialog.wait_for(state="visible")
    page.click("#confirm-ok")
    page.wait_for_selector(f"[data-review-tile][data-sha256='{rep}'][data-category='1']")

    # a picture alone is categorised at once, no confirmation needed
    alone = web.new[1]
    page.focus(f"[data-review-tile][data-sha256='{alone}']")
    page.keyboard.press("0")
    page.wait_for_selector(f"[data-review-tile][data-sha256='{alone}'][data-category='0']")
    assert not dialog.is_visible()
    page.keyboard.press("Enter")  # the focused tile: onto the next one, opened
    page.wait_for_url(re.compile(r"/items/[0-9a-f]{64}$"))
    assert page.locator("#item-tile").count() == 1

    # the group's members show the category they received
    s.goto(f"/review?state=all&group={rep}")
    members = page.eval_on_selector_all(
        "[data-review-tile]", "els => els.map(e => [e.dataset.sha256, e.dataset.category])"
    )
    assert sorted(members) == sorted([m, "1"] for m in web.group)
    s.goto(f"/items/{others[0]}")
    assert page.inner_text("#current-category") == "reviewed: 1"
    assert "propagated from" in page.inner_text("#decisions")
    s.shot(artifacts, "item")

    # a second opinion, asked with the keyboard
    page.focus("#item-tile")
    page.keyboard.press("s")
    page.locator("#flag-dialog").wait_for(state="visible")
    page.fill("#flag-dialog [name=note]", "unsure of the category")
    page.click("#flag-ok")
    page.wait_for_selector("#item-tile [data-flagged]:not(.hidden)")
    with web.case.store.engine.connect() as conn:
        flags = decisions.flags(conn, sha256=others[0])
    assert [(f.user, f.note) for f in flags] == [("reviewer", "unsure of the category")]
    assert s.problems == []


def test_reveal_is_audited_and_shielded_again_on_leaving(
    sessions: Sessions, live_server: LiveServer, artifacts: Path
) -> None:
    web = live_server.web
    s = sessions["reviewer"]
    page = s.page
    s.goto(f"/items/{web.posted}")
    img = page.locator("#item-tile img.shielded")
    assert "blur" in img.evaluate("e => getComputedStyle(e).filter")
    assert img.get_attribute("src") == f"/media/thumb/{web.posted}"

    page.focus("#item-tile")
    page.keyboard.press("r")
    page.wait_for_function(
        "() => { const i = document.querySelector('#item-tile img.shielded');"
        " return i.classList.contains('revealed') && i.complete && i.naturalWidth > 0; }"
    )
    assert img.get_attribute("src") == f"/media/reveal/{web.posted}"
    assert img.evaluate("e => getComputedStyle(e).filter") == "none"

    page.focus("#nav-review")  # focus leaves the item: shielded again
    page.wait_for_function(
        "() => !document.querySelector('#item-tile img.shielded').classList.contains('revealed')"
    )
    assert img.get_attribute("src") == f"/media/thumb/{web.posted}"
    assert "blur" in img.evaluate("e => getComputedStyle(e).filter")

    # the reviewer may not read the audit log, nor see it offered
    assert page.locator("#nav-audit").count() == 0
    s.expected_refusal = True
    response = s.goto("/audit")
    s.expected_refusal = False
    assert response.status == 403  # type: ignore[attr-defined]
    assert "reveal" not in page.content()

    sup = sessions["supervisor"]
    sup.goto("/audit?action=reveal")
    rows = sup.page.eval_on_selector_all(
        "#audit tr[data-action]",
        "els => els.map(e => [e.dataset.action, e.dataset.target, e.cells[2].innerText])",
    )
    assert rows == [["reveal", web.posted, "reviewer"]]
    sup.page.click("#verify-chain")
    sup.page.wait_for_selector("#verify-report.ok")
    sup.shot(artifacts, "audit")
    assert s.problems == [] and sup.problems == []


def test_video_plays_only_on_demand_muted_and_stops_on_leaving(
    sessions: Sessions, live_server: LiveServer, tmp_path: Path
) -> None:
    from lanterne.evidence.registry import add_evidence
    from lanterne.ingest.pipeline import Ingestor
    from lanterne.synth.videos import make_video

    case = live_server.web.case
    folder = tmp_path / "CAM-03"
    folder.mkdir()
    data = make_video(811, seconds=2.0, fmt="webm")
    (folder / "clip.webm").write_bytes(data)
    add_evidence(case, folder, "CAM-03", "Suspect A", "test")
    Ingestor(case, workers=1).run()
    sha = hashlib.sha256(data).hexdigest()

    s = sessions["reviewer"]
    page = s.page
    s.goto(f"/items/{sha}")
    assert page.locator("video").count() == 0  # nothing loads before it is asked for
    page.click("#video-button")
    video = page.locator("#item-tile video")
    video.wait_for(state="attached")
    page.wait_for_function("() => document.querySelector('#item-tile video').readyState >= 1")
    state = video.evaluate("v => [v.muted, v.autoplay, v.paused, v.controls]")
    assert state == [True, False, True, True]
    page.wait_for_timeout(500)
    assert video.evaluate("v => v.paused && v.currentTime === 0")  # it never starts by itself
    with case.store.engine.connect() as conn:
        views = conn.execute(
            select(schema.audit.c.user, schema.audit.c.detail).where(
                schema.audit.c.action == "reveal", schema.audit.c.target == sha
            )
        ).all()
    assert [(u, '"media":"video"' in d) for u, d in views] == [("reviewer", True)]

    page.focus("#nav-review")  # leaving the item stops and removes the video
    page.wait_for_function("() => document.querySelector('#item-tile video') === null")
    assert s.problems == []


def test_tampering_with_an_audit_row_fails_audit_verify(
    sessions: Sessions, live_server: LiveServer
) -> None:
    web = live_server.web
    s = sessions["reviewer"]
    s.goto(f"/items/{web.new[1]}")
    s.page.focus("#item-tile")
    s.page.keyboard.press("r")
    s.page.wait_for_selector("#item-tile img.revealed")
    root = web.case.root

    assert _audit_verify(root).exit_code == 0
    a = schema.audit
    with web.case.store.engine.begin() as conn:
        target = conn.execute(
            select(a.c.id).where(a.c.action == "reveal", a.c.target == web.new[1])
        ).scalar_one()
        conn.execute(update(a).where(a.c.id == target).values(user="someone-else"))
    broken = _audit_verify(root)
    assert broken.exit_code == 1, broken.output
    assert str(target) in broken.output

    sup = sessions["supervisor"]
    sup.goto("/audit?verify=true")
    assert f"the first at entry {target}" in sup.page.inner_text("#verify-report.error")


def _audit_verify(root: Path) -> Result:
    """``lanterne audit verify CASE``: through ``lanterne.cli`` once the command is registered
    there, else through its Typer app (:mod:`lanterne.commands.review`)."""
    from lanterne import cli
    from lanterne.commands.review import audit_app

    if any(g.name == "audit" for g in cli.app.registered_groups):
        return CliRunner().invoke(cli.app, ["audit", "verify", str(root)])
    return CliRunner().invoke(audit_app, ["verify", str(root)])


def test_break_reminder_after_continuous_review(
    sessions: Sessions, live_server: LiveServer, artifacts: Path
) -> None:
    s = sessions["reviewer"]
    page = s.page
    page.clock.install()
    s.goto("/review")
    page.wait_for_function("() => document.activeElement.matches('[data-review-tile]')")
    dialog = page.locator("#break-dialog")
    for _ in range(12):  # 48 minutes, a key pressed every 4: continuous review
        page.clock.run_for("04:00")
        page.keyboard.press("j")
        page.keyboard.press("k")
    assert not dialog.is_visible()
    page.clock.run_for("03:00")
    page.keyboard.press("j")
    page.clock.run_for("00:30")
    dialog.wait_for(state="visible")
    assert int(dialog.locator("[data-break-minutes-out]").inner_text()) >= 50
    s.shot(artifacts, "break-reminder")
    page.click("[data-break-take]")
    dialog.wait_for(state="hidden")

    # a pause longer than five minutes counts as a break: the count starts again
    page.clock.run_for("30:00")
    page.keyboard.press("j")
    page.clock.run_for("20:00")
    page.keyboard.press("k")
    page.clock.run_for("00:30")
    assert not dialog.is_visible()
    assert s.problems == []


def test_pages_draw_without_csp_violations(
    sessions: Sessions, live_server: LiveServer, artifacts: Path
) -> None:
    s = sessions["supervisor"]
    page = s.page
    for path, ready, name in (
        ("/", "canvas#chart-categories[data-drawn='1']", "dashboard-supervisor"),
        ("/countries", "canvas#chart-countries[data-drawn='1']", "countries"),
        ("/network?center=group:1", "#network[data-loaded]", "network"),
        ("/chats", "#chat-groups", "chats"),
        ("/chats/1", "#members", "chat-group"),
        ("/evidence", "#evidence-table", "evidence"),
        ("/suspects", "h1", "suspects"),
        ("/users", "#users", "users"),
        ("/settings", "#settings-form", "settings"),
        ("/flags", "#flags", "flags"),
    ):
        s.goto(path)
        page.wait_for_selector(ready)
        s.shot(artifacts, name)
    s.goto("/network?center=group:1")
    page.wait_for_selector("#network[data-loaded]")
    nodes = page.evaluate("() => document.querySelector('#network').cy.nodes().length")
    assert nodes >= 3  # the group and its two members

    s.goto("/settings")  # a form sent to the API as JSON, then the page again
    page.uncheck("#settings-form [name=blur]")
    page.fill("#settings-form [name=break_minutes]", "25")
    page.click("#settings-form [type=submit]")
    page.wait_for_selector("body[data-break-minutes='25']")
    assert "blur-on" not in (page.get_attribute("body", "class") or "")
    assert "Settings saved." in page.inner_text("#toast")

    store = live_server.web.case.store
    for n in range(100):  # more than a page of the audit log: htmx fetches the rest
        audit.record(store, "examiner", audit.EXPORT, f"export-{n}")
    s.goto("/audit")
    rows = page.locator("#audit tr[data-action]")
    assert rows.count() == 100
    page.click("#audit-more button")
    total = audit.count_entries(store)
    page.wait_for_function(
        f"() => document.querySelectorAll('#audit tr[data-action]').length === {total}"
    )
    assert page.locator("#audit-more").count() == 0
    assert s.problems == []
