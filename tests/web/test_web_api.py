"""The JSON API over HTTP: the same operations as the pages, for other tools."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select, update
from web_support import CHAT_GROUP, PASSWORD, LiveServer, WebCase, login

from lanterne.case import schema
from lanterne.review import audit


def _tiles(client: TestClient, **params: str | int | bool) -> dict[str, dict[str, Any]]:
    response = client.get("/api/grid", params=params)
    assert response.status_code == 200, response.text
    return {t["sha256"]: t for t in response.json()["items"]}


def test_me_tells_who_what_and_the_csrf_token(clients: dict[str, TestClient]) -> None:
    me = clients["reviewer"].get("/api/me").json()
    assert me["user"]["name"] == me["user"]["role"] == "reviewer"
    assert me["user"]["settings"] == {
        "blur": True,
        "greyscale": True,
        "break_minutes": 50,
        "page_size": 100,
    }
    assert me["permissions"]["categorise"] and not me["permissions"]["read_audit"]
    assert me["csrf"] == clients["reviewer"].headers["X-CSRF-Token"]
    assert me["scheme"]["name"] == "vics-us"
    assert [c["key"] for c in me["scheme"]["categories"]] == ["0", "1", "2", "3", "4", "u"]
    changed = clients["reviewer"].put("/api/me/settings", json={"break_minutes": 20})
    assert changed.json()["settings"]["break_minutes"] == 20
    bad = clients["reviewer"].put("/api/me/settings", json={"page_size": 5})
    assert bad.status_code == 422


def test_grid_shows_one_tile_per_group_by_state(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    client = clients["reviewer"]
    rep = web_case.group[0]
    new = _tiles(client, state="new")
    assert set(new) == {rep, web_case.duplicate, *web_case.new}  # not the known ones
    assert new[rep]["group_size"] == 3 and new[rep]["group"] == rep
    group = _tiles(client, state="all", group=rep)
    assert set(group) == set(web_case.group)
    known = _tiles(client, state="known")
    assert set(known) == {web_case.known_bad}
    assert known[web_case.known_bad]["known"] == {"vics-us": ["1"]}
    assert set(_tiles(client, state="known:1")) == {web_case.known_bad}
    assert set(_tiles(client, state="known:2")) == set()
    everything = _tiles(client, state="all")
    assert web_case.known_good not in everything
    with_good = _tiles(client, state="all", include_known_good=True)
    assert web_case.known_good in with_good
    pc01 = client.get("/api/dashboard").json()["evidence"]
    ids = {e["label"]: e["id"] for e in pc01}
    on_usb = _tiles(client, state="all", evidence_id=ids["USB-02"])
    assert set(on_usb) == {rep, web_case.duplicate, web_case.new[1]}  # the group by a member
    with case_conn(web_case) as conn:
        chat_id = conn.execute(
            select(schema.chat_group.c.id).where(schema.chat_group.c.title == CHAT_GROUP)
        ).scalar_one()
    assert set(_tiles(client, state="all", chat_group_id=chat_id)) == {web_case.posted}
    page = client.get("/api/grid", params={"state": "all", "size": 2, "page": 1}).json()
    assert (page["total"], page["page"], page["size"], len(page["items"])) == (5, 1, 2, 2)
    assert client.get("/api/grid", params={"state": "nonsense"}).status_code == 422
    assert client.get("/api/grid", params={"kind": "document"}).status_code == 422


def case_conn(web_case: WebCase) -> Connection:
    return web_case.case.store.engine.connect()


def test_item_has_occurrences_matches_exif_and_chats(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    client = clients["examiner"]
    dup = client.get(f"/api/items/{web_case.duplicate}").json()
    assert dup["occurrences_total"] == 2
    assert {o["evidence"] for o in dup["occurrences"]} == {"PC-01", "USB-02"}
    assert all(o["provenance"] for o in dup["occurrences"])
    bad = client.get(f"/api/items/{web_case.known_bad}").json()
    assert {(m["hashset"], m["category"]) for m in bad["matches"]} == {("synthetic-vics", "1")}
    assert {m["method"] for m in bad["matches"]} == {"md5", "sha1", "sha256"}
    camera = client.get(f"/api/items/{web_case.posted}").json()
    assert (camera["content"]["camera_make"], camera["content"]["camera_model"]) == (
        "Synthcam",
        "S-1",
    )
    assert round(camera["content"]["gps_lat"], 3) == 48.857
    assert [c["title"] for c in camera["chats"]] == [CHAT_GROUP]
    rep = client.get(f"/api/items/{web_case.group[0]}").json()
    assert {n["sha256"] for n in rep["near_duplicates"]} == set(web_case.group[1:])
    assert client.get(f"/api/items/{'0' * 64}").status_code == 404
    assert client.get("/api/items/not-a-hash").status_code == 422


def test_categorise_previews_then_propagates_and_undoes(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    client = clients["reviewer"]
    rep, *members = web_case.group
    body = {"sha256": members[0], "category": "2"}
    first = client.post("/api/categorise", json=body).json()
    assert first["applied"] is False
    preview = first["preview"]
    assert preview["sha256s"][0] == members[0]
    assert set(preview["sha256s"]) == set(web_case.group) and preview["changes"] == 3
    assert _tiles(client, state="reviewed") == {}  # nothing changed yet
    stale = client.post("/api/categorise", json={**body, "confirm": True, "expected": [members[0]]})
    assert stale.status_code == 409
    assert stale.json()["detail"]["preview"]["changes"] == 3
    done = client.post(
        "/api/categorise", json={**body, "confirm": True, "expected": preview["sha256s"]}
    ).json()
    assert done["applied"] is True
    batch = done["decision"]["batch"]
    reviewed = _tiles(client, state="reviewed:2")
    assert set(reviewed) == {rep}  # one tile for the group, now reviewed
    group = _tiles(client, state="all", group=rep)
    assert {t["category"] for t in group.values()} == {"2"}
    item = client.get(f"/api/items/{rep}").json()
    assert item["current"]["source"] == "propagated" and item["current"]["by"] == "reviewer"
    assert rep not in _tiles(client, state="new")

    # another reviewer may not undo it; a supervisor may; the owner undoes by default
    assert clients["examiner"].post("/api/undo", json={"batch": batch}).status_code == 403
    undone = client.post("/api/undo", json={}).json()
    assert undone == {"batch": batch, "undone": 3}
    assert rep in _tiles(client, state="new")
    assert client.post("/api/undo", json={}).status_code == 404
    assert client.post("/api/categorise", json={**body, "category": "9"}).status_code == 422
    key = client.post("/api/categorise", json={**body, "category": "u", "confirm": True})
    assert key.json()["decision"]["category"] == "uncategorised"
    assert (
        clients["supervisor"].post("/api/undo", json={"batch": key.json()["decision"]["batch"]})
    ).status_code == 200


def test_conflicts_with_hash_sets_are_shown_not_overwritten(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    client = clients["reviewer"]
    body = {"sha256": web_case.known_bad, "category": "2"}
    preview = client.post("/api/categorise", json=body).json()["preview"]
    assert preview["conflicts"] == [
        {
            "sha256": web_case.known_bad,
            "scheme": "vics-us",
            "review": "2",
            "hashsets": [{"hashset": "synthetic-vics", "category": "1"}],
        }
    ]
    client.post("/api/categorise", json={**body, "confirm": True})
    listed = client.get("/api/conflicts").json()
    assert [c["sha256"] for c in listed] == [web_case.known_bad]
    with case_conn(web_case) as conn:
        categories = conn.execute(select(schema.hash_entry.c.category)).scalars().all()
    assert "1" in categories and "2" not in categories  # the hash set is unchanged
    assert client.get("/api/dashboard").json()["conflicts"] == 1


def test_second_opinion_flags(web_case: WebCase, clients: dict[str, TestClient]) -> None:
    sha = web_case.new[1]
    made = clients["reviewer"].post("/api/flags", json={"sha256": sha, "note": "age unclear"})
    assert made.status_code == 201
    flag = made.json()
    assert (flag["kind"], flag["open"], flag["user"]) == ("second-opinion", True, "reviewer")
    assert [t for t in _tiles(clients["supervisor"], state="flagged")] == [sha]
    path = f"/api/flags/{flag['id']}/resolve"
    assert clients["reviewer"].post(path, json={"resolution": "x"}).status_code == 403
    resolved = clients["supervisor"].post(path, json={"resolution": "category 0"}).json()
    assert (resolved["open"], resolved["resolved_by"]) == (False, "supervisor")
    assert clients["supervisor"].get("/api/flags").json() == []
    assert len(clients["auditor"].get("/api/flags", params={"open_only": False}).json()) == 1
    assert clients["supervisor"].post(path, json={"resolution": "again"}).status_code == 404


def test_audit_api_lists_and_verifies(web_case: WebCase, clients: dict[str, TestClient]) -> None:
    clients["reviewer"].get(f"/media/reveal/{web_case.new[0]}")
    clients["reviewer"].get(f"/media/reveal/{web_case.new[1]}")
    listed = clients["auditor"].get("/api/audit", params={"action": "reveal"}).json()
    assert listed["total"] == 2
    assert [e["target"] for e in listed["entries"]] == [web_case.new[1], web_case.new[0]]
    assert clients["supervisor"].get("/api/audit/verify").json()["ok"] is True
    a = schema.audit
    with web_case.case.store.engine.begin() as conn:  # someone edits an entry in the database
        first = conn.execute(select(a.c.id).order_by(a.c.id).limit(1)).scalar_one()
        conn.execute(update(a).where(a.c.id == first).values(target="0" * 64))
    report = clients["auditor"].get("/api/audit/verify").json()
    assert report["ok"] is False and report["first_bad"] == first
    assert any("edited" in p for p in report["problems"])


def test_users_api_adds_and_disables(
    app: FastAPI, web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    supervisor = clients["supervisor"]
    names = [u["name"] for u in supervisor.get("/api/users").json()]
    assert names == sorted(["auditor", "examiner", "reviewer", "supervisor"])
    body = {"name": "second reviewer", "password": "a long enough secret", "role": "reviewer"}
    created = supervisor.post("/api/users", json=body)
    assert created.status_code == 201 and created.json()["role"] == "reviewer"
    assert supervisor.post("/api/users", json=body).status_code == 400  # name taken
    short = {**body, "name": "third", "password": "short"}
    assert "at least" in supervisor.post("/api/users", json=short).json()["detail"]
    assert supervisor.post("/api/users", json={**body, "role": "admin"}).status_code == 422
    with TestClient(app) as client:
        login(client, "second reviewer", "a long enough secret")
        assert client.get("/api/me").json()["user"]["role"] == "reviewer"
        assert supervisor.post("/api/users/second reviewer/disable").status_code == 200
        assert client.get("/api/me").status_code == 401
    entries = audit.entries(web_case.case.store, user="supervisor")
    assert [(e.action, e.target) for e in entries][:2] == [
        (audit.USER_DISABLE, "second reviewer"),
        (audit.USER_ADD, "second reviewer"),
    ]
    assert supervisor.post("/api/users/nobody/disable").status_code == 400


def test_exports_are_audited(web_case: WebCase, clients: dict[str, TestClient]) -> None:
    examiner = clients["examiner"]
    response = examiner.get("/api/export/files", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["sha256"] for r in rows} >= set(web_case.pictures)
    vics = examiner.get("/api/export/vics")
    assert vics.status_code == 200
    assert json.loads(vics.content)
    exports = audit.entries(web_case.case.store, action=audit.EXPORT)
    assert [(e.user, e.target) for e in exports] == [("examiner", "vics"), ("examiner", "files")]
    assert exports[1].detail["rows"] == len(rows)
    assert not list(web_case.case.tmp.glob("export-*"))  # the spooled files are removed


def test_openapi_is_documented_for_signed_in_users(
    anon: TestClient, clients: dict[str, TestClient]
) -> None:
    assert anon.get("/api/openapi.json").status_code == 401
    spec = clients["auditor"].get("/api/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/grid", "/api/items/{sha256}", "/api/categorise", "/api/undo",
                 "/api/flags", "/api/audit", "/api/users", "/api/login", "/api/priorities",
                 "/media/reveal/{sha256}", "/api/export/files"):  # fmt: skip
        assert path in paths, path
    tags = {t for p in paths.values() for op in p.values() for t in op.get("tags", [])}
    assert {"session", "review", "audit", "users", "media", "network", "export"} <= tags
    assert "/login" not in paths  # the HTML form is not part of the API


def test_dashboard_counts_what_hashing_settled_unseen(
    web_case: WebCase, clients: dict[str, TestClient]
) -> None:
    client = clients["reviewer"]
    before = client.get("/api/dashboard").json()
    assert before["pictures"] == 8
    assert before["known"] == 1 and before["known_good"] == 1
    assert before["new"]["groups"] == 4
    settled = before["settled_by_hash"]
    assert settled >= 1
    client.get(f"/media/reveal/{web_case.known_bad}")  # a reveal changes the figures at once
    assert client.get("/api/dashboard").json()["settled_by_hash"] == settled - 1


def test_network_and_priorities_answer(clients: dict[str, TestClient]) -> None:
    client = clients["auditor"]
    priorities = client.get("/api/priorities")
    network = client.get("/api/network")
    if priorities.status_code == 404:  # an installation without the network analysis
        assert "not available" in priorities.json()["detail"]
        return
    assert priorities.status_code == 200, priorities.text
    assert isinstance(priorities.json(), list)
    assert network.status_code == 200, network.text
    figures = network.json()
    assert figures["nodes"] >= 1
    person = next(iter(k for k in figures["nodes_by_kind"] if k == "person"), None)
    if person:
        ranked = priorities.json()
        assert all("factors" in r for r in ranked)
    assert client.get("/api/network", params={"center": "person:999999"}).status_code == 400


def test_api_sign_in_with_wrong_password(app: FastAPI) -> None:
    with TestClient(app) as client:
        pre = client.get("/api/login").json()["csrf"]
        wrong = client.post(
            "/api/login",
            json={"name": "reviewer", "password": PASSWORD + "x"},
            headers={"X-CSRF-Token": pre},
        )
        assert wrong.status_code == 401
        assert client.get("/api/me").status_code == 401


def test_live_server_serves_the_api_over_loopback(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        assert client.get("/api/me").status_code == 401
        pre = client.get("/api/login").json()["csrf"]
        signed = client.post(
            "/api/login",
            json={"name": "reviewer", "password": PASSWORD},
            headers={"X-CSRF-Token": pre},
        )
        assert signed.status_code == 200
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        grid = client.get("/api/grid").json()
        assert grid["total"] == 4
        thumb = client.get(f"/media/thumb/{live_server.web.new[0]}")
        assert thumb.headers["cache-control"] == "no-store"
