"""Prioritisation: exact points of every factor on a tiny case written into the store.

The case (all invented, benign): a producer whose new pictures carry the serial of his seized
camera and cluster by GPS, a teacher on a watchlist by name and birth year, an administrator
who posted known material and is on a register by phone number, a passive member, and chat
persons who are no suspect. Expected scores are computed by hand below.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert
from typer.testing import CliRunner

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.messaging.identity import Ident, identifier_ids
from lanterne.network.priorities import (
    PriorityConfig,
    Ranked,
    child_access_category,
    child_access_match,
    rank,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOME = (48.137154, 11.576124)
METRE = 1 / 111_195.0  # degrees of latitude


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


class World:
    """Inserts the rows of a tiny case, with readable names for what it creates."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.n = 0
        self.items: dict[str, int] = {}
        self.sets: dict[str, int] = {}

    def _id(self, table: Any, **values: Any) -> int:
        return int(self.conn.execute(insert(table).values(**values)).inserted_primary_key[0])

    def located(self, item: str, path: str) -> dict[str, Any]:
        self.n += 1
        chain = json.dumps([{"type": "evidence", "path": item}, {"type": "folder", "path": path}])
        return {
            "evidence_id": self.items[item],
            "provenance_key": f"k{self.n}",
            "provenance": chain,
            "path": path,
        }

    def item(self, label: str, **device: str) -> None:
        self.items[label] = self._id(
            schema.evidence,
            label=label,
            kind="folder",
            location=f"/seized/{label}",
            registered_by="examiner",
            registered_at=NOW,
            **device,
        )

    def content(self, name: str, kind: str = "picture", **exif: Any) -> str:
        digest = sha(name)
        self.conn.execute(
            insert(schema.content).values(
                sha256=digest,
                md5=digest[:32],
                sha1=digest[:40],
                size=1000,
                mime="image/jpeg" if kind == "picture" else "video/mp4",
                kind=kind,
                analyzed_at=NOW,
                **exif,
            )
        )
        return digest

    def file(self, item: str, name: str, path: str | None = None) -> int:
        return self._id(
            schema.file,
            **self.located(item, path or f"Users/x/{name}.jpg"),
            name=name,
            sha256=sha(name),
            state="done",
        )

    def hashset(self, name: str, role: str, scheme: str | None = None) -> None:
        self.sets[name] = self._id(
            schema.hashset,
            name=name,
            role=role,
            scheme=scheme,
            format="text",
            source=name,
            source_sha256="0" * 64,
            entries=0,
            imported_by="t",
            imported_at=NOW,
        )

    def listed(self, content: str, hashset: str, category: str | None = None) -> None:
        entry = self._id(
            schema.hash_entry,
            hashset_id=self.sets[hashset],
            sha256=sha(content),
            category=category,
            location=f"line {self.n}",
        )
        self._id(
            schema.match,
            sha256=sha(content),
            hashset_id=self.sets[hashset],
            entry=entry,
            method="sha256",
            matched_at=NOW,
        )

    def suspect(self, key: str, *items: str, **values: Any) -> int:
        sid = self._id(
            schema.suspect,
            key=key,
            source="/cases/suspects.csv",
            line=int(key.split("-")[1]) + 1,
            imported_by="t",
            imported_at=NOW,
            **values,
        )
        for label in items:
            self.conn.execute(insert(schema.suspect_evidence).values(suspect_id=sid, label=label))
        return sid

    def ident(self, number: str) -> int:
        return identifier_ids(self.conn, [Ident("e164", number, "DE", 49)])[
            Ident("e164", number, "DE", 49)
        ]

    def chats(self, item: str) -> int:
        return self._id(
            schema.chat_source,
            **self.located(item, "signal/db.sqlite"),
            app="generic",
            status="done",
            imported_by="t",
            imported_at=NOW,
        )

    def participant(
        self, source: int, item: str, name: str, number: str | None = None, is_self: bool = False
    ) -> tuple[int, int]:
        person = self._id(schema.person, name=name, created_at=NOW)
        part = self._id(
            schema.participant,
            **self.located(item, f"recipients/{name}"),
            source_id=source,
            person_id=person,
            name=name,
            is_self=is_self,
        )
        if number:
            self.conn.execute(
                insert(schema.participant_identifier).values(
                    participant_id=part, identifier_id=self.ident(number)
                )
            )
        return person, part

    def group(self, title: str) -> int:
        return self._id(schema.chat_group, app="signal", key=f"signal-v2:{title}", title=title)

    def member(self, source: int, item: str, group: int, part: int, role: str = "member") -> int:
        return self._id(
            schema.membership,
            **self.located(item, f"groups/{group}/members/{part}"),
            source_id=source,
            chat_group_id=group,
            participant_id=part,
            role=role,
        )

    def message(
        self, source: int, item: str, sender: int, group: int | None, *attachments: str
    ) -> int:
        mid = self._id(
            schema.message,
            **self.located(item, f"messages/{self.n}"),
            source_id=source,
            chat_group_id=group,
            peer_id=None if group else sender,
            sender_id=sender,
            sent_at=NOW,
            type="incoming",
        )
        for name in attachments:
            self._id(
                schema.attachment,
                **self.located(item, f"attachments/{name}"),
                source_id=source,
                message_id=mid,
                sha256=sha(name),
                state="ingested",
            )
        return mid

    def watch(self, watchlist: str, line: int, subject: str, subject_id: int, field: str) -> None:
        wid = self.conn.execute(
            schema.watchlist.select().where(schema.watchlist.c.name == watchlist)
        ).first()
        if wid is None:
            list_id = self._id(
                schema.watchlist,
                name=watchlist,
                source=f"/records/{watchlist}.csv",
                source_sha256="0" * 64,
                entries=1,
                imported_by="t",
                imported_at=NOW,
            )
        else:
            list_id = wid.id
        entry = self.conn.execute(
            schema.watchlist_entry.select().where(
                schema.watchlist_entry.c.watchlist_id == list_id,
                schema.watchlist_entry.c.line == line,
            )
        ).first()
        entry_id = (
            entry.id
            if entry
            else self._id(
                schema.watchlist_entry, watchlist_id=list_id, key=f"R{line}", record="{}", line=line
            )
        )
        self._id(
            schema.watchlist_hit,
            entry_id=entry_id,
            subject=subject,
            subject_id=subject_id,
            field=field,
            value="+4915112345678" if field == "e164" else "x",
            matched_at=NOW,
        )


def near(metres_north: float) -> dict[str, float]:
    return {"gps_lat": HOME[0] + metres_north * METRE, "gps_lon": HOME[1]}


@pytest.fixture
def planted(case: Case) -> dict[str, int]:
    """The tiny case; returns the ids of what the tests look at."""
    ids: dict[str, int] = {}
    with case.store.engine.begin() as conn:
        w = World(conn)
        w.item("PC-1")
        w.item("CAM-1", device_type="camera", device_make="Canon", device_model="EOS 80D")
        conn.execute(
            schema.evidence.update()
            .where(schema.evidence.c.label == "CAM-1")
            .values(device_serial="SN-123")
        )
        w.item("PHONE-9")  # the seized phone that revealed the groups: nobody's
        w.item("PC-4")
        w.hashset("KB", "known-bad")
        w.hashset("KB-2", "known-bad", "other")
        w.hashset("NSRL", "known-good")
        for n in range(1, 4):  # three category 1 on the producer's PC (one also on his camera)
            w.content(f"K{n}")
            w.listed(f"K{n}", "KB", "1")
            w.file("PC-1", f"K{n}")
        w.file("CAM-1", "K1", "DCIM/K1.jpg")
        w.content("K8")  # category 2 in one set, 3 in another: counts as 2 (weighs most)
        w.listed("K8", "KB", "2")
        w.listed("K8", "KB-2", "3")
        w.content("G1")
        w.listed("G1", "NSRL")
        w.file("PC-1", "G1")
        for n in range(1, 4):  # by the seized camera (serial), at home
            w.content(f"P{n}", camera_make="Canon", camera_model="Canon EOS 80D",
                      camera_serial="sn-123", **near(60 * n))  # fmt: skip
            w.file("CAM-1", f"P{n}", f"DCIM/P{n}.jpg")
        w.content("P4", camera_make="CANON", camera_model="EOS 80D")  # same model, no serial
        w.content("P5", camera_make="Canon", camera_model="EOS 80D", camera_serial="OTHER")
        w.content("P6")
        w.content("P7", **near(5000))
        w.content("V1", kind="video")
        for name in ("P4", "P5", "P6", "P7", "V1"):
            w.file("PC-1", name)
        ids["producer"] = w.suspect("S-1", "PC-1", "CAM-1", name="Paul Producer")
        ids["teacher"] = w.suspect(
            "S-2", name="Tina Teacher", occupation="Grundschullehrerin", birth_year=1980,
            region="Bayern", country="DE",
        )  # fmt: skip
        ids["passive"] = w.suspect("S-3", name="Peter Passive")
        ids["admin"] = w.suspect("S-4", "PC-4", name="Anna Admin")
        conn.execute(
            insert(schema.suspect_identifier).values(
                suspect_id=ids["admin"], identifier_id=w.ident("+4915112345678")
            )
        )
        src = w.chats("PHONE-9")
        g1, g2 = w.group("Group one"), w.group("Group two")
        ids["g1"] = g1
        ids["x"], x = w.participant(src, "PHONE-9", "Xaver", "+4915112345678")
        ids["y"], y = w.participant(src, "PHONE-9", "Yannick", "+4930901820")
        ids["z"], z = w.participant(src, "PHONE-9", "Zoe", "+4930901821")
        # the passive suspect: owner of the chat database on his own phone, a member only
        w.item("PHONE-3")
        conn.execute(insert(schema.suspect_evidence).values(suspect_id=ids["passive"],
                                                            label="PHONE-3"))  # fmt: skip
        src3 = w.chats("PHONE-3")
        ids["p3"], p3 = w.participant(src3, "PHONE-3", "Peter", is_self=True)
        w.member(src3, "PHONE-3", g1, p3)
        w.message(src3, "PHONE-3", p3, g1)  # text only
        ids["admin_membership"] = w.member(src, "PHONE-9", g1, x, "admin")
        w.member(src, "PHONE-9", g2, x, "admin")
        w.member(src, "PHONE-9", g1, y)
        w.member(src, "PHONE-9", g1, z)
        ids["first_post"] = w.message(src, "PHONE-9", x, g1, "K8")
        w.message(src, "PHONE-9", x, g1, "K8", "P6")
        w.message(src, "PHONE-9", x, g2, "P6")
        w.message(src, "PHONE-9", x, g2)  # no attachment: not a post
        ids["y_post"] = w.message(src, "PHONE-9", y, None, "K1")
        w.message(src, "PHONE-9", z, g1)
        # records: the admin by number (on the suspect and on his chat person: one hit), the
        # teacher by name and birth year only
        w.watch("Register", 7, "suspect", ids["admin"], "e164")
        w.watch("Register", 7, "person", ids["x"], "e164")
        w.watch("Offences", 3, "suspect", ids["teacher"], "name+birth_year")
    return ids


def log2(n: int) -> float:
    return math.log2(1 + n)


def factors(r: Ranked) -> dict[tuple[str, str | None], float]:
    return {(f.name, f.detail): f.points for f in r.factors}


def by_subject(ranked: list[Ranked]) -> dict[tuple[str, int], Ranked]:
    return {(r.kind, r.id): r for r in ranked}


def test_exact_points_of_every_factor(case: Case, planted: dict[str, int]) -> None:
    ranked = rank(case)
    got = by_subject(ranked)
    producer = got["suspect", planted["producer"]]
    assert factors(producer) == pytest.approx(
        {
            ("production_serial", None): 40 * log2(3),
            ("known_held", "1"): 10 * log2(3),
            ("production_model", None): 12 * log2(1),
            ("gps_cluster", None): 8,
            ("new_pictures", None): 2 * log2(7),
            ("new_videos", None): 3 * log2(1),
        }
    )
    assert producer.score == pytest.approx(80 + 20 + 12 + 8 + 6 + 3)
    admin = got["suspect", planted["admin"]]
    assert factors(admin) == pytest.approx(
        {
            ("watchlist", "Register"): 30,
            ("admin", None): 8 * 2,
            ("known_posted", "2"): 6 * log2(1),
            ("posts", None): 2 * log2(3),
        }
    )
    teacher = got["suspect", planted["teacher"]]
    assert factors(teacher) == {
        ("child_access", "education"): 25,
        ("watchlist_weak", "Offences"): 10,
    }
    assert (teacher.country, teacher.region) == ("DE", "Bayern")
    y = got["person", planted["y"]]
    assert factors(y) == pytest.approx({("known_posted", "1"): 10, ("posts", None): 2})
    assert (y.display, y.country) == ("Yannick +4930901820", "DE")
    assert got["suspect", planted["passive"]].factors == []
    assert got["person", planted["z"]].score == 0
    # the admin's and the passive suspect's chat persons are ranked as the suspects only
    assert ("person", planted["x"]) not in got and ("person", planted["p3"]) not in got


def test_an_empty_case_ranks_nobody(case: Case) -> None:
    assert rank(case) == []


def test_order_is_by_score_then_suspects_then_id(case: Case, planted: dict[str, int]) -> None:
    ranked = rank(case)
    order = [(r.kind, r.id) for r in ranked]
    assert order == [
        ("suspect", planted["producer"]),
        ("suspect", planted["admin"]),
        ("suspect", planted["teacher"]),
        ("person", planted["y"]),
        ("suspect", planted["passive"]),
        ("person", planted["z"]),
    ]
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5, 6]
    assert rank(case) == ranked  # deterministic
    top = rank(case, limit=2, suspects_only=True)
    assert [(r.rank, r.id) for r in top] == [(1, planted["producer"]), (2, planted["admin"])]
    assert [r.kind for r in rank(case, suspects_only=True)] == ["suspect"] * 4


def test_producer_outranks_passive_member_with_evidence(
    case: Case, planted: dict[str, int]
) -> None:
    got = by_subject(rank(case))
    producer = got["suspect", planted["producer"]]
    assert producer.items == ["CAM-1", "PC-1"]
    assert producer.score > got["suspect", planted["passive"]].score
    serial = producer.factors[0]
    assert (serial.name, serial.value, serial.evidence_total) == ("production_serial", 3, 4)
    assert "CAM-1 (serial SN-123)" in serial.explanation
    assert "40 × log2(1 + 3) = 80.0" in serial.explanation
    device, *pictures = serial.evidence
    assert device == {
        "type": "device",
        "evidence": "CAM-1",
        "device_type": "camera",
        "make": "Canon",
        "model": "EOS 80D",
        "serial": "SN-123",
    }
    assert sorted((p["evidence"], p["path"]) for p in pictures) == [
        ("CAM-1", f"DCIM/P{n}.jpg") for n in range(1, 4)
    ]
    assert pictures[0]["provenance"][0] == {"type": "evidence", "path": "CAM-1"}
    model = next(f for f in producer.factors if f.name == "production_model")
    assert [e.get("sha256") for e in model.evidence[1:]] == [sha("P4")]  # P5: another camera
    cluster = next(f for f in producer.factors if f.name == "gps_cluster")
    (where,) = cluster.evidence
    # all three are within 250 m of one another: the centre is the first by SHA-256
    assert where["pictures"] == 3
    assert where["centre_sha256"] == min(sha(f"P{n}") for n in range(1, 4))
    assert sorted(where["sha256"]) == sorted(sha(f"P{n}") for n in range(1, 4))
    held = next(f for f in producer.factors if f.name == "known_held")
    assert held.value == 3  # K1 on both items counts once
    assert {e["evidence"] for e in held.evidence} == {"PC-1"}  # the first file of each


def test_chat_evidence_and_links(case: Case, planted: dict[str, int]) -> None:
    got = by_subject(rank(case))
    admin = got["suspect", planted["admin"]]
    assert list(admin.persons) == [planted["x"]]
    posted = next(f for f in admin.factors if f.name == "known_posted")
    (msg,) = posted.evidence
    assert (msg["group"], msg["evidence"], msg["sha256"]) == ("Group one", "PHONE-9", sha("K8"))
    assert msg["path"].startswith("messages/")
    posts = next(f for f in admin.factors if f.name == "posts")
    assert [(e["group"], e["messages"]) for e in posts.evidence] == [
        ("Group one", 2),
        ("Group two", 1),
    ]
    assert posts.evidence[0]["first_message"]["evidence"] == "PHONE-9"
    roles = next(f for f in admin.factors if f.name == "admin")
    assert [(e["group"], e["role"], e["evidence"]) for e in roles.evidence] == [
        ("Group one", "admin", "PHONE-9"),
        ("Group two", "admin", "PHONE-9"),
    ]
    record = next(f for f in admin.factors if f.name == "watchlist")
    assert record.value == 1  # the suspect's and his person's hit are the same record
    assert record.evidence[0] | {"subject": None, "subject_id": None} == {
        "type": "watchlist_hit",
        "subject": None,
        "subject_id": None,
        "watchlist": "Register",
        "line": 7,
        "record": "R7",
        "field": "e164",
        "value": "+4915112345678",
    }
    y = got["person", planted["y"]]
    direct = next(f for f in y.factors if f.name == "known_posted")
    assert direct.evidence[0]["group"] == "direct messages"
    teacher = got["suspect", planted["teacher"]]
    access = next(f for f in teacher.factors if f.name == "child_access")
    assert access.evidence == [
        {
            "type": "suspect_record",
            "source": "/cases/suspects.csv",
            "line": 3,
            "occupation": "Grundschullehrerin",
            "category": "education",
            "keyword": "*lehrer*",
        }
    ]
    weak = next(f for f in teacher.factors if f.name == "watchlist_weak")
    assert "by name and birth year only" in weak.explanation


def test_to_json_is_complete_and_serialisable(case: Case, planted: dict[str, int]) -> None:
    (top,) = rank(case, limit=1)
    data = json.loads(json.dumps(top.to_json()))
    assert (
        data["rank"] == 1 and data["kind"] == "suspect" and data["display"] == "S-1 Paul Producer"
    )
    assert data["score"] == pytest.approx(129.0)
    assert [f["name"] for f in data["factors"]][:2] == ["production_serial", "known_held"]
    first = data["factors"][0]
    assert set(first) == {
        "name",
        "detail",
        "value",
        "weight",
        "points",
        "explanation",
        "evidence_total",
        "evidence",
    }
    assert first["weight"] == 40 and first["points"] == 80


def test_config_overrides_change_the_points(case: Case, planted: dict[str, int]) -> None:
    case.sections["priorities"] = {
        "production_serial": 0,
        "category_weights": {"1": 20, "other:3": 50},
        "known_held": 0.5,
        "admin_max_groups": 1,
        "child_access_categories": {"education": []},
    }
    got = by_subject(rank(case))
    producer = factors(got["suspect", planted["producer"]])
    assert ("production_serial", None) not in producer  # weight 0: no points, not listed
    assert producer["known_held", "1"] == pytest.approx(0.5 * 20 * 2)
    admin = factors(got["suspect", planted["admin"]])
    assert admin["admin", None] == 8  # one group counted
    assert admin["known_posted", "3"] == 50  # "other:3" now outweighs category 2
    assert ("child_access", "education") not in factors(got["suspect", planted["teacher"]])


def test_config_read_from_case_toml(tmp_path: Path) -> None:
    root = tmp_path / "c"
    Case.init(root).close()
    toml = root / "case.toml"
    toml.write_text(
        toml.read_text() + "\n[priorities]\nwatchlist = 50\ngps_cluster_radius_m = 100.5\n"
        "[priorities.category_weights]\nA = 12\n"
    )
    with Case.open(root) as c:
        config = PriorityConfig.from_case(c)
    assert (config.watchlist, config.gps_cluster_radius_m) == (50.0, 100.5)
    assert config.category_weight(None, "A") == 12 and config.category_weight(None, "1") == 10
    assert config.category_weight("x", "zz") == config.other_category_weight == 4
    assert config.to_json()["category_weights"]["A"] == 12


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"wieght": 3},
            "unknown key(s) wieght in [priorities] of case.toml; valid keys: known_held",
        ),
        ({"posts": -1}, "[priorities] posts must be a number of at least 0"),
        ({"posts": "high"}, "[priorities] posts must be a number"),
        ({"gps_cluster_min": 2.5}, "gps_cluster_min must be a whole number"),
        ({"gps_cluster_radius_m": 0}, "more than 0 metres"),
        ({"category_weights": [1, 2]}, "category_weights must be a table"),
        ({"category_weights": {"1": True}}, "category_weights.1 must be a number"),
        ({"child_access_categories": {"sport": "coach"}}, "must be a list of keywords"),
    ],
)
def test_bad_config_is_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError) as err:
        PriorityConfig.from_mapping(raw)
    assert message in str(err.value)
    if "unknown" in message:
        for key in ("child_access_categories", "bridging", "watchlist_weak"):
            assert key in str(err.value)


@pytest.mark.parametrize(
    ("occupation", "expected"),
    [
        ("Primary school teacher", ("education", "*teacher*")),
        ("schoolteacher", ("education", "*teacher*")),
        ("Private TUTOR", ("education", "tutor")),
        ("Grundschullehrerin", ("education", "*lehrer*")),
        ("Erzieherin in einer Kita", ("childcare", "erzieher*")),
        ("day  care assistant", ("childcare", "day care")),
        ("Au pair", ("childcare", "au pair")),
        ("Crèche worker", ("childcare", "creche")),
        ("football coach (U12)", ("youth", "coach")),
        ("Paediatrician", ("health", "paediatric*")),
        ("children’s nurse", ("health", "children's nurse")),
        ("foster parent", ("care", "foster*")),
        ("social worker", ("care", "social worker")),
        ("accountant", None),
        ("teach", None),
        ("campaign manager", None),  # "camp" on word boundaries only
        ("", None),
        (None, None),
    ],
)
def test_child_access_category(occupation: str | None, expected: tuple[str, str] | None) -> None:
    assert child_access_match(occupation) == expected
    assert child_access_category(occupation) == (expected[0] if expected else None)


def test_child_access_configured_categories() -> None:
    config = PriorityConfig.from_mapping(
        {"child_access_categories": {"sport": ["swimming instructor", "*trainer"]}}
    )
    assert child_access_category("Swimming  Instructor", config) == "sport"
    assert child_access_category("Jugendtrainer", config) == "youth"  # jugend* comes first
    assert child_access_category("Fitnesstrainer", config) == "sport"
    assert child_access_category("teacher", config) == "education"  # defaults kept


def test_bridging_from_the_graph_scales_to_the_case_maximum(
    case: Case, planted: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The factor with a stand-in for the graph's betweenness (the real one is tested below)."""
    fake = types.ModuleType("lanterne.network.stats")
    values = {planted["x"]: 0.5, planted["y"]: 0.25, planted["z"]: 0.0}
    fake.person_betweenness = lambda graph: values  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lanterne.network.stats", fake)
    got = by_subject(rank(case, graph=object()))  # type: ignore[arg-type]
    admin = next(f for f in got["suspect", planted["admin"]].factors if f.name == "bridging")
    assert (admin.value, admin.points) == (0.5, 15)
    assert admin.evidence == [
        {"type": "groups", "person": planted["x"], "groups": ["Group one", "Group two"]}
    ]
    y = next(f for f in got["person", planted["y"]].factors if f.name == "bridging")
    assert y.points == pytest.approx(7.5)
    assert all(f.name != "bridging" for f in got["person", planted["z"]].factors)
    assert all(f.name != "bridging" for r in rank(case) for f in r.factors)  # no graph: none


def test_bridging_with_the_real_graph(case: Case, planted: dict[str, int]) -> None:
    """Xaver is the only person in both groups: he bridges them, so the admin suspect gets the
    full bridging weight."""
    graph_module = pytest.importorskip("lanterne.network.graph")
    pytest.importorskip("lanterne.network.stats")
    got = by_subject(rank(case, graph=graph_module.build_graph(case)))
    admin = next(f for f in got["suspect", planted["admin"]].factors if f.name == "bridging")
    assert admin.points == pytest.approx(15)
    assert not any(f.name == "bridging" for f in got["person", planted["y"]].factors)


def test_cli_table_explain_and_json(case: Case, planted: dict[str, int]) -> None:
    import typer

    from lanterne.commands.priorities import priorities

    app = typer.Typer()
    app.command()(priorities)
    runner = CliRunner()
    root = str(case.root)
    case.close()
    result = runner.invoke(app, [root, "--limit", "3"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "S-1 Paul Producer" in result.output and "production_serial" in result.output
    assert "bridging 15.0" in result.output  # the graph is built by default
    result = runner.invoke(app, [root, "--no-graph", "--explain", "--suspects-only"])
    assert result.exit_code == 0, result.output
    assert "seized device CAM-1: Canon EOS 80D serial SN-123" in result.output
    assert "Register line 7: e164 +4915112345678" in result.output
    assert "suspects.csv line 3: occupation 'Grundschullehrerin'" in result.output
    result = runner.invoke(app, [root, "--no-graph", "--json", "--limit", "0"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["weights"]["production_serial"] == 40
    assert [r["rank"] for r in data["ranked"]] == [1, 2, 3, 4, 5, 6]
    toml = case.root / "case.toml"
    toml.write_text(toml.read_text() + "\n[priorities]\nbogus = 1\n")
    result = runner.invoke(app, [root, "--no-graph"])
    assert result.exit_code == 2
    assert "unknown key(s) bogus" in result.output


def test_every_weight_and_factor_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "priorities.md").read_text(encoding="utf-8")
    config = PriorityConfig()
    for key, value in config.to_json().items():
        assert f"| `{key}` |" in doc, key
        if isinstance(value, float | int):
            assert f"| `{key}` | {value} |" in doc, key
    for factor in ("known_held", "known_posted", "new_pictures", "new_videos",
                   "production_serial", "production_model", "gps_cluster", "posts", "admin",
                   "bridging", "watchlist", "watchlist_weak", "child_access"):  # fmt: skip
        assert f"| `{factor}`" in doc, factor
    for category, words in config.child_access_categories.items():
        row = next(line for line in doc.splitlines() if line.startswith(f"| {category} |"))
        for word in words:
            assert word in row, (category, word)
