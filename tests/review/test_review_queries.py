"""The review grid, the item page and the dashboard, on a small generated case."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.evidence.registry import add_evidence
from lanterne.hashsets.formats import by_name
from lanterne.hashsets.importer import import_hashset
from lanterne.hashsets.matching import match_exact
from lanterne.hashsets.records import HashRecord, HashSetHeader
from lanterne.ingest.pipeline import Ingestor
from lanterne.match.groups import build_groups
from lanterne.review import audit
from lanterne.review import grid as grid_module
from lanterne.review.decisions import categorise, flag, last_batch, resolve, undo
from lanterne.review.queries import GridPage, dashboard, grid, item
from lanterne.synth.pictures import make_picture, make_variant


@dataclass
class Review:
    """The case and its pictures' SHA-256 by name: ``a`` with ``a-again`` (PC-01) and
    ``a-small`` (PC-02) near duplicates of it; ``b`` alone (PC-01); ``c`` known-bad, category
    1; ``d`` known-good; ``e`` alone (PC-02). ``a-again`` was posted in the chat group
    ``chat``; the suspect ``suspect`` was seized PC-02."""

    case: Case
    sha: dict[str, str]
    evidence: dict[str, int]
    chat: int
    suspect: int


def _digests(data: bytes) -> dict[str, str]:
    return {k: hashlib.new(k, data).hexdigest() for k in ("md5", "sha1", "sha256")}


@pytest.fixture
def review(case: Case, tmp_path: Path) -> Review:
    a, b, c, d, e = (make_picture(950 + i, (320, 240)) for i in range(5))
    items = {
        "PC-01": {
            "a.jpg": a,
            "a-again.jpg": make_variant(a, "recompressed"),
            "b.jpg": b,
            "c.jpg": c,
            "d.jpg": d,
            "readme.txt": b"an ordinary text\n",
        },
        "PC-02": {"a-small.jpg": make_variant(a, "resized"), "e.jpg": e},
    }
    sha: dict[str, str] = {}
    for label, files in items.items():
        folder = tmp_path / label
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
            sha[name.removesuffix(".jpg").removesuffix(".txt")] = _digests(data)["sha256"]
        add_evidence(case, folder, label)
    Ingestor(case, workers=1).run()
    build_groups(case)
    bad = tmp_path / "bad.json"
    hc: dict[str, Any] = dict(_digests(c))
    by_name("vics").write(
        bad,
        HashSetHeader("vics", name="vics-set"),
        [HashRecord("1", **hc, category="1", entry_id="77")],
    )
    import_hashset(case, bad, "known-bad", name="vics-set", scheme="vics-us")
    good = tmp_path / "good.md5"
    by_name("sumfile").write(
        good, HashSetHeader("sumfile", name="nsrl"), [HashRecord("line 1", md5=_digests(d)["md5"])]
    )
    import_hashset(case, good, "known-good", name="nsrl")
    match_exact(case)
    audit.keep_witness(case)
    evidence = {ev.label: ev.id for ev in case.store.list_evidence()}
    chat, suspect = _chat_and_suspect(case, evidence["PC-01"], sha["a-again"])
    return Review(case, sha, evidence, chat, suspect)


def _chat_and_suspect(case: Case, evidence_id: int, posted: str) -> tuple[int, int]:
    """An invented chat group where ``posted`` was sent, and a suspect seized PC-02."""
    now = utcnow()
    here = {"evidence_id": evidence_id, "provenance": "[]", "path": "chat.db"}
    with case.store.engine.begin() as conn:
        source = conn.execute(
            schema.chat_source.insert()
            .values(
                **here,
                provenance_key="s" * 64,
                app="generic",
                status="done",
                imported_by="t",
                imported_at=now,
            )
            .returning(schema.chat_source.c.id)
        ).scalar_one()
        person = conn.execute(
            schema.person.insert()
            .values(name="Invented Sender", created_at=now)
            .returning(schema.person.c.id)
        ).scalar_one()
        sender = conn.execute(
            schema.participant.insert()
            .values(
                **here,
                provenance_key="p" * 64,
                source_id=source,
                person_id=person,
                name="Invented Sender",
            )
            .returning(schema.participant.c.id)
        ).scalar_one()
        group = conn.execute(
            schema.chat_group.insert()
            .values(app="generic", key="g-1", title="Invented group")
            .returning(schema.chat_group.c.id)
        ).scalar_one()
        message = conn.execute(
            schema.message.insert()
            .values(
                **here,
                provenance_key="m" * 64,
                source_id=source,
                chat_group_id=group,
                sender_id=sender,
                sent_at=now,
                type="incoming",
            )
            .returning(schema.message.c.id)
        ).scalar_one()
        conn.execute(
            schema.attachment.insert().values(
                **here,
                provenance_key="t" * 64,
                source_id=source,
                message_id=message,
                sha256=posted,
                file_name="a-again.jpg",
                state="ingested",
            )
        )
        suspect = conn.execute(
            schema.suspect.insert()
            .values(
                key="S-1",
                name="Invented Suspect",
                source="suspects.csv",
                line=2,
                imported_by="t",
                imported_at=now,
            )
            .returning(schema.suspect.c.id)
        ).scalar_one()
        conn.execute(schema.suspect_evidence.insert().values(suspect_id=suspect, label="PC-02"))
    return int(group), int(suspect)


def _names(r: Review, page: GridPage) -> list[str]:
    by_sha = {v: k for k, v in r.sha.items()}
    return [by_sha[i.sha256] for i in page.items]


def _last(r: Review, user: str) -> str:
    with r.case.store.engine.connect() as conn:
        batch = last_batch(conn, user)
    assert batch is not None
    return batch


def _grid(r: Review, **kw: object) -> tuple[list[str], int]:
    with r.case.store.engine.connect() as conn:
        page = grid(conn, **kw)  # type: ignore[arg-type]
    return sorted(_names(r, page)), page.total


def test_grid_shows_one_representative_per_group(
    review: Review, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = review
    with r.case.store.engine.connect() as conn:
        page = grid(conn)
        new = {i.sha256: i for i in page.items}
    assert sorted(_names(r, page)) == ["a", "b", "e"] and page.total == 3
    assert [i.sha256 for i in page.items] == sorted(new)  # in SHA-256 order
    a, b = new[r.sha["a"]], new[r.sha["b"]]
    assert (a.group, a.group_size, a.kind, a.width) == (r.sha["a"], 3, "picture", 320)
    assert (b.group, b.group_size, b.known, b.category, b.flagged) == (None, 1, {}, None, False)
    assert a.thumbnail and r.case.thumbnail_path(a.sha256).is_file()

    assert _grid(r, state="all") == (["a", "b", "c", "e"], 4)  # known-good hidden
    assert _grid(r, state="all", include_known_good=True) == (["a", "b", "c", "d", "e"], 5)
    with r.case.store.engine.connect() as conn:
        known = grid(conn, state="known").items
        d = grid(conn, state="all", include_known_good=True, group=None).items
    assert [(i.sha256, i.known) for i in known] == [(r.sha["c"], {"vics-us": ["1"]})]
    assert [i.known_good for i in d if i.sha256 == r.sha["d"]] == [True]
    assert _grid(r, state="known:1") == (["c"], 1)
    assert _grid(r, state="known:2") == ([], 0)
    assert _grid(r, state="all", group=r.sha["a"]) == (["a", "a-again", "a-small"], 3)
    assert _grid(r, kind="video") == ([], 0)

    with r.case.store.engine.connect() as conn:
        first, second = grid(conn, size=2), grid(conn, size=2, page=1)
    assert (first.total, first.pages, len(first.items), len(second.items)) == (3, 2, 2, 1)
    assert sorted(_names(r, first) + _names(r, second)) == ["a", "b", "e"]
    monkeypatch.setattr(grid_module, "SEEK_FROM_PAGE", 2)  # deep pages: from a remembered row
    with r.case.store.engine.connect() as conn:
        everything = grid(conn, state="all", include_known_good=True, size=100).items
        one_by_one = [
            grid(conn, state="all", include_known_good=True, size=1, page=n).items
            for n in range(len(everything) + 1)
        ]
    assert len(everything) == 5
    assert [i.sha256 for page in one_by_one for i in page] == [i.sha256 for i in everything]
    with r.case.store.engine.connect() as conn:
        wrong: list[dict[str, object]] = [{"state": "old"}, {"kind": "text"}, {"size": 0}]
        for bad in [*wrong, {"page": -1}]:
            with pytest.raises(ValueError):
                grid(conn, **bad)  # type: ignore[arg-type]


def test_grid_filters_keep_a_group_with_a_member_there(review: Review) -> None:
    r = review
    assert _grid(r, evidence_id=r.evidence["PC-02"]) == (["a", "e"], 2)  # a through a-small
    assert _grid(r, evidence_id=r.evidence["PC-01"]) == (["a", "b"], 2)
    assert _grid(r, state="all", evidence_id=r.evidence["PC-01"]) == (["a", "b", "c"], 3)
    assert _grid(r, suspect_id=r.suspect) == (["a", "e"], 2)
    assert _grid(r, suspect_id=r.suspect + 1) == ([], 0)
    assert _grid(r, chat_group_id=r.chat) == (["a"], 1)  # through a-again
    assert _grid(r, state="all", group=r.sha["a"], evidence_id=r.evidence["PC-02"]) == (
        ["a-small"],
        1,
    )


def test_grid_states_follow_decisions_and_flags(review: Review) -> None:
    r = review
    store = r.case.store
    assert _grid(r)[1] == 3
    batch = categorise(store, r.sha["a"], "1", "alice", scheme="vics-us")
    assert _grid(r) == (["b", "e"], 2)  # the total is not a stale one
    with store.engine.connect() as conn:
        reviewed = grid(conn, state="reviewed").items
    assert [(i.sha256, i.category, i.reviewed_by, i.group_size) for i in reviewed] == [
        (r.sha["a"], "1", "alice", 3)
    ]
    categorise(store, r.sha["e"], "2", "bob", scheme="vics-us")
    with store.engine.connect() as conn:
        tiles = {i.sha256: (i.category, i.reviewed_by) for i in grid(conn, state="reviewed").items}
    assert tiles == {r.sha["a"]: ("1", "alice"), r.sha["e"]: ("2", "bob")}
    undo(store, _last(r, "bob"), "bob")
    assert _grid(r, state="reviewed:1") == (["a"], 1)
    assert _grid(r, state="reviewed:2") == ([], 0)
    assert _grid(r, state="reviewed", group=r.sha["a"]) == (["a", "a-again", "a-small"], 3)

    asked = flag(store, r.sha["b"], "alice", "second opinion please")
    with store.engine.connect() as conn:
        flagged = grid(conn, state="flagged").items
    assert [(i.sha256, i.flagged) for i in flagged] == [(r.sha["b"], True)]
    resolve(store, asked.id, "sue", "category 0")
    assert _grid(r, state="flagged") == ([], 0)

    undo(store, batch.batch, "alice")
    assert _grid(r) == (["a", "b", "e"], 3)
    assert _grid(r, state="reviewed") == ([], 0)


def test_item_page_tells_everything_known_of_a_content(review: Review) -> None:
    r = review
    store = r.case.store
    audit.record(store, "alice", audit.REVEAL, r.sha["a-again"])
    categorise(store, r.sha["c"], "2", "alice", scheme="vics-us")
    flag(store, r.sha["c"], "alice", "hash set says 1")
    with store.engine.connect() as conn:
        small = item(conn, r.sha["a-small"])
        again = item(conn, r.sha["a-again"])
        known = item(conn, r.sha["c"])
        assert item(conn, "0" * 64) is None
    assert small is not None and again is not None and known is not None

    assert small["content"]["width"] == 192 and small["content"]["kind"] == "picture"
    assert small["occurrences_total"] == 1
    occurrence = small["occurrences"][0]
    assert (occurrence["evidence"], occurrence["name"]) == ("PC-02", "a-small.jpg")
    assert isinstance(occurrence["provenance"], list) and occurrence["provenance"]
    assert small["group"] == {"sha256": r.sha["a"], "size": 3, "representative": False}
    near = {n["sha256"]: n for n in small["near_duplicates"]}
    assert set(near) == {r.sha["a"], r.sha["a-again"]}
    assert near[r.sha["a"]]["representative"] is True
    assert all(isinstance(n["distance"], int) for n in near.values())
    assert small["chats"] == [] and small["views"] == []

    assert [(c["title"], c["sender"], c["evidence"]) for c in again["chats"]] == [
        ("Invented group", "Invented Sender", "PC-01")
    ]
    assert [v["user"] for v in again["views"]] == ["alice"]

    assert [
        (m["hashset"], m["role"], m["category"], m["method"], m["distance"])
        for m in known["matches"]
        if m["method"] == "sha256"
    ] == [("vics-set", "known-bad", "1", "sha256", 0)]
    assert known["current"]["category"] == "2" and known["current"]["by"] == "alice"
    assert [d["category"] for d in known["decisions"]] == ["2"]
    assert [f["note"] for f in known["flags"]] == ["hash set says 1"]
    assert known["conflicts"][0]["hashsets"] == [{"hashset": "vics-set", "category": "1"}]
    json.dumps([small, again, known])  # all of it JSON-ready


def test_dashboard_counts_what_hashing_settled_unseen(review: Review) -> None:
    r = review
    store = r.case.store
    with store.engine.connect() as conn:
        first = dashboard(conn)
    assert first["contents"] == {"picture": 7, "text": 1}
    assert (first["pictures"], first["videos"]) == (7, 0)
    assert first["known_by_category"] == {"vics-us": {"1": 1}}
    assert (first["known"], first["known_good"]) == (1, 1)
    assert first["settled_by_hash"] == 2  # c and d: matched, nobody revealed them
    assert first["new"] == {"contents": 5, "groups": 3}
    assert first["reviewed"] == {"contents": 0, "by_category": {}}
    assert (first["flags_open"], first["conflicts"]) == (0, 0)
    per_item = {e["label"]: e for e in first["evidence"]}
    assert {k: per_item["PC-01"][k] for k in ("files", "pictures", "known", "new")} == {
        "files": 6,
        "pictures": 5,
        "known": 1,
        "new": 3,
    }
    assert (per_item["PC-02"]["pictures"], per_item["PC-02"]["new"]) == (2, 2)

    audit.record(store, "alice", audit.REVEAL, r.sha["c"])
    categorise(store, r.sha["a"], "1", "alice", scheme="vics-us")
    categorise(store, r.sha["c"], "3", "alice", scheme="vics-us")
    flag(store, r.sha["b"], "alice")
    with store.engine.connect() as conn:
        after = dashboard(conn)
        rows = conn.execute(select(schema.audit.c.action)).scalars().all()
    assert after["settled_by_hash"] == 1  # c was seen
    assert after["new"] == {"contents": 2, "groups": 2}
    assert after["reviewed"] == {"contents": 4, "by_category": {"vics-us": {"1": 3, "3": 1}}}
    assert (after["flags_open"], after["conflicts"]) == (1, 1)
    assert rows.count("reveal") == 1
