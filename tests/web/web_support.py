"""What the web review tests share besides fixtures: the synthetic web case (see
``conftest.py``), its users' password, signing a test client in, and a free loopback port.
(A module of its own: two ``conftest`` modules cannot both be imported by name.)"""

from __future__ import annotations

import csv
import functools
import hashlib
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    """A uvicorn server of the web case, in a thread, on a free loopback port."""

    url: str
    web: WebCase
