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
import dataclasses
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from web_support import (
    ROLE_NAMES,
    LiveServer,
    WebCase,
    add_role_users,
    build_web_case,
    free_port,
    start_session,
)

from lanterne.case.workspace import Case

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
