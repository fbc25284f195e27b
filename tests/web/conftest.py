"""Fixtures of the web review tests: a small synthetic case, users of every role, logged-in
clients and a live server for the browser tests.

The case (built by :func:`web_case` on SQLite and PostgreSQL, like ``case``) holds benign
generated pictures only, on two seized items:

* ``group``: a picture and two near duplicates of it (resized, recompressed): one
  near-duplicate group of three, its representative first (as ``lanterne groups`` chose it);
* ``duplicate``: one picture found on both items (one content, two occurrences);
* ``known_bad``: a picture whose SHA-256 is listed, VICS category ``1``, in the known-bad set
  ``synthetic-vics`` (simulated known material: a benign picture listed by hash);
* ``known_good``: a picture listed in the known-good set ``synthetic-nsrl``;
* ``new``: two pictures nobody knows, one with camera EXIF and a GPS position;
* ``posted``: the first of ``new`` is also attached to a message of the chat group
  ``Synthetic group`` (a generic chat export of invented members).

Users: one per role, named as the role (``examiner``, ``reviewer``, ``supervisor``,
``auditor``), all with :data:`PASSWORD`.

``login(client, name)`` signs a :class:`TestClient` in through the login form (with its
pre-session CSRF token) and sets its ``X-CSRF-Token`` header, so that the client's state-changing
requests pass the CSRF check like the pages' own scripts do; ``clients[role]`` are such clients
(their sessions started directly, without the form). ``live_server`` serves the case with
uvicorn on a free loopback port, for Playwright.

Each test gets its own copy of a case built once per session (per database), so it may change
it freely.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url

from lanterne.case import schema
from lanterne.case.workspace import Case

PASSWORD = "correct horse battery staple"
ROLE_NAMES = ("examiner", "reviewer", "supervisor", "auditor")
CHAT_GROUP = "Synthetic group"


@dataclass(frozen=True)
class WebCase:
    """The case of the web tests and the SHA-256 of its pictures, by part."""

    case: Case
    group: tuple[str, str, str]
    """The near-duplicate group's representative first, then its other two members."""
    duplicate: str
    known_bad: str
    known_good: str
    new: tuple[str, str]
    posted: str

    @property
    def pictures(self) -> list[str]:
        """Every picture of the case (eight distinct contents)."""
        return [*self.group, self.duplicate, self.known_bad, self.known_good, *self.new]


@functools.cache
def _pictures() -> dict[str, bytes]:
    """The benign synthetic pictures, generated once per test session."""
    from lanterne.synth.pictures import CameraExif, make_picture, make_variant

    a = make_picture(801, (480, 360))
    exif = CameraExif(
        make="Synthcam",
        model="S-1",
        serial="SN-0001",
        taken_at=datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
        gps=(48.8566, 2.3522),
    )
    return {
        "group": a,
        "group-small": make_variant(a, "resized"),
        "group-again": make_variant(a, "recompressed"),
        "duplicate": make_picture(802, (320, 240)),
        "known-bad": make_picture(803, (320, 240)),
        "known-good": make_picture(804, (320, 240)),
        "new-camera": make_picture(805, (320, 240), exif=exif),
        "new-plain": make_picture(806, (320, 240)),
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_web_case(case: Case, work: Path) -> WebCase:
    """Fill ``case`` with the pictures above (``work`` receives the seized folders and hash
    sets): ingest, near-duplicate groups, hash sets matched, a chat export imported."""
    from lanterne.evidence.registry import add_evidence
    from lanterne.hashsets.formats import by_name
    from lanterne.hashsets.importer import import_hashset
    from lanterne.hashsets.matching import match_exact
    from lanterne.hashsets.records import HashRecord, HashSetHeader
    from lanterne.ingest.pipeline import Ingestor
    from lanterne.match.groups import build_groups
    from lanterne.messaging.service import import_chats

    pics = _pictures()
    layout = {
        "PC-01": ["group", "group-small", "duplicate", "known-bad", "new-camera"],
        "USB-02": ["group-again", "duplicate", "known-good", "new-plain"],
    }
    for label, names in layout.items():
        folder = work / label
        folder.mkdir(parents=True)
        for name in names:
            (folder / f"{name}.jpg").write_bytes(pics[name])
        add_evidence(case, folder, label, "Suspect A", "test")
    Ingestor(case, workers=1).run()
    build_groups(case)

    bad = pics["known-bad"]
    records = [
        HashRecord(
            "1",
            md5=hashlib.md5(bad).hexdigest(),
            sha1=hashlib.sha1(bad).hexdigest(),
            sha256=_sha(bad),
            category="1",
            entry_id="1",
        )
    ]
    vics = work / "synthetic-vics.json"
    by_name("vics").write(vics, HashSetHeader("vics", name="synthetic-vics"), records)
    import_hashset(case, vics, "known-bad", name="synthetic-vics", scheme="vics-us")
    good = work / "synthetic-nsrl.sha256"
    good.write_text(f"{_sha(pics['known-good'])}  known-good.jpg\n", encoding="utf-8")
    import_hashset(case, good, "known-good", name="synthetic-nsrl")
    match_exact(case)

    chat = work / "chat-export"
    chat.mkdir()
    (chat / "posted.jpg").write_bytes(pics["new-camera"])
    with (chat / "export.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["platform", "conversation_id", "conversation_name", "timestamp", "sender_phone",
             "sender_name", "body", "attachment_path"]
        )  # fmt: skip
        writer.writerow(
            ["signal", "g-1", CHAT_GROUP, "2025-03-01T12:00:00+00:00", "+33612345678",
             "Member One", "hello", ""]
        )  # fmt: skip
        writer.writerow(
            ["signal", "g-1", CHAT_GROUP, "2025-03-01T12:05:00+00:00", "+33698765432",
             "Member Two", "", "posted.jpg"]
        )  # fmt: skip
    import_chats(case, "generic", chat / "export.csv", label="PARTNER-1", workers=1)

    members = [_sha(pics[n]) for n in ("group", "group-small", "group-again")]
    g = schema.pdq_group
    with case.store.engine.connect() as conn:
        rep = conn.execute(select(g.c.group_sha256).where(g.c.sha256 == members[0])).scalar_one()
    assert rep in members
    rest = [m for m in members if m != rep]
    return WebCase(
        case=case,
        group=(rep, rest[0], rest[1]),
        duplicate=_sha(pics["duplicate"]),
        known_bad=_sha(bad),
        known_good=_sha(pics["known-good"]),
        new=(_sha(pics["new-camera"]), _sha(pics["new-plain"])),
        posted=_sha(pics["new-camera"]),
    )


def add_role_users(case: Case) -> None:
    """One user per role, named as the role, with :data:`PASSWORD`."""
    from lanterne.review.users import add_user

    for role in ROLE_NAMES:
        add_user(case.store, role, PASSWORD, role)


PG_URL = os.environ.get("LANTERNE_TEST_PG_URL")


class _Templates:
    """Web cases built once per test session (one per database), copied for each test: the
    ingest, groups, hash sets, chats and password hashing take seconds, a copy a fraction."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[str, tuple[Path, WebCase, str | None]] = {}

    def get(self, kind: str) -> tuple[Path, WebCase, str | None]:
        """(template case folder, its parts, its PostgreSQL template database or None)."""
        if kind not in self.built:
            folder = self.root / kind
            pg_name = None
            db_url = None
            if kind == "postgresql":
                assert PG_URL
                pg_name = f"lanterne_webtpl_{uuid.uuid4().hex[:12]}"
                with _admin() as conn:
                    conn.execute(sa.text(f'CREATE DATABASE "{pg_name}"'))
                db_url = (
                    make_url(PG_URL).set(database=pg_name).render_as_string(hide_password=False)
                )
            case = Case.init(folder / "case", "Test case", db_url)
            try:
                web = build_web_case(case, folder / "seized")
                add_role_users(case)
            finally:
                case.close()  # no connection may stay open on a template
            self.built[kind] = (folder / "case", web, pg_name)
        return self.built[kind]

    def drop(self) -> None:
        for _, _, pg_name in self.built.values():
            if pg_name:
                with _admin() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


@contextlib.contextmanager
def _admin() -> Iterator[sa.Connection]:
    assert PG_URL
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _web_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Templates]:
    templates = _Templates(tmp_path_factory.mktemp("web-templates"))
    try:
        yield templates
    finally:
        templates.drop()


@pytest.fixture
def web_case(db_url: str | None, tmp_path: Path, _web_templates: _Templates) -> Iterator[WebCase]:
    """The synthetic case above, with its users, on SQLite and PostgreSQL: a fresh copy for
    each test (of a case built once per session), so a test may change it at will."""
    root = tmp_path / "web-case"
    if db_url is None:
        template, parts, _ = _web_templates.get("sqlite")
        shutil.copytree(template, root)
        case = Case.open(root)
    else:
        template, parts, pg_name = _web_templates.get("postgresql")
        name = make_url(db_url).database
        with _admin() as conn:  # the empty database db_url made, replaced by a copy
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_name}"'))
        case = Case.init(root, "Test case", db_url)
        shutil.copytree(template / "thumbnails", case.thumbnails, dirs_exist_ok=True)
    try:
        yield dataclasses.replace(parts, case=case)
    finally:
        case.close()


@pytest.fixture
def app(web_case: WebCase) -> FastAPI:
    from lanterne.web.app import create_app

    return create_app(web_case.case)


_CSRF_FIELD = re.compile(r'name="csrf"\s+value="([^"]+)"')


def login(client: TestClient, name: str, password: str = PASSWORD) -> TestClient:
    """Sign ``client`` in through the login form; sets its ``X-CSRF-Token`` header."""
    page = client.get("/login")
    assert page.status_code == 200, page.text
    found = _CSRF_FIELD.search(page.text)
    assert found, "the login form carries a CSRF field"
    response = client.post(
        "/login",
        data={"name": name, "password": password, "csrf": found.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    me = client.get("/api/me")
    assert me.status_code == 200, me.text
    client.headers["X-CSRF-Token"] = me.json()["csrf"]
    return client


def start_session(app: FastAPI, client: TestClient, name: str) -> TestClient:
    """Give ``client`` a session of user ``name`` without the sign-in form; sets its
    ``X-CSRF-Token`` header."""
    from lanterne.review.users import find_user
    from lanterne.web.security import SESSION_COOKIE

    user = find_user(app.state.case.store, name)
    assert user is not None
    token, session = app.state.sessions.create(user)
    client.cookies.set(SESSION_COOKIE, token)
    client.headers["X-CSRF-Token"] = session.csrf
    return client


@pytest.fixture
def anon(app: FastAPI) -> Iterator[TestClient]:
    """A client with no session."""
    with TestClient(app) as client:
        yield client


@pytest.fixture
def clients(app: FastAPI) -> Iterator[dict[str, TestClient]]:
    """A signed-in client per role (``clients["reviewer"]`` …), each with its CSRF header.

    Their sessions are started directly (no password check, so no sign-in audit entry):
    :func:`login` is the way through the sign-in form."""
    opened: list[TestClient] = []
    try:
        result: dict[str, TestClient] = {}
        for role in ROLE_NAMES:
            client = TestClient(app)
            client.__enter__()
            opened.append(client)
            result[role] = start_session(app, client, role)
        yield result
    finally:
        for client in opened:
            client.__exit__(None, None, None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    """A uvicorn server of the web case, in a thread, on a free loopback port."""

    url: str
    web: WebCase


@pytest.fixture
def live_server(app: FastAPI, web_case: WebCase) -> Iterator[LiveServer]:
    """The app served by uvicorn in a thread (for Playwright); stopped after the test."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", web_case)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
