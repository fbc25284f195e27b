"""The case graph: nodes, merged edges and the links derived between suspects.

:func:`make_tiny_network` writes a small, fully known case into the store (benign: invented
numbers and names, contents that are hashes of words); the statistics and export tests import
it from here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, insert

from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.messaging.identity import Ident, identifier_ids, phone
from lanterne.network.graph import build_graph, cytoscape_elements, node_key

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NUMBERS = {
    "P1": "+4915123456701",  # DE: suspect S-1, owner of PHONE-1
    "P2": "+4915123456702",  # DE: suspect S-2, owner of the chats on PC-2
    "P3": "+33612345603",  # FR: the bridge (3 groups), suspect S-3
    "P4": "+33612345604",  # FR
    "P5": "+31612345605",  # NL
    "P6": "+31612345606",  # NL, pending in G3
    "P7": "+447400123407",  # GB, former member of G1
}
"""P8 has a username only (country unknown)."""


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


@dataclass
class Tiny:
    """What :func:`make_tiny_network` wrote, by the names the tests use."""

    evidence: dict[str, int] = field(default_factory=dict)
    persons: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    suspects: dict[str, int] = field(default_factory=dict)
    identifiers: dict[str, int] = field(default_factory=dict)
    watchlists: dict[str, int] = field(default_factory=dict)


class _Writer:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.n = 0

    def add(self, table: Any, **values: Any) -> int:
        key = self.conn.execute(insert(table).values(**values)).inserted_primary_key[0]
        return key if isinstance(key, int) else 0

    def located(self, evidence_id: int) -> dict[str, Any]:
        self.n += 1
        return {
            "evidence_id": evidence_id,
            "provenance_key": f"k{self.n}",
            "provenance": "[]",
            "path": f"row/{self.n}",
        }


def make_tiny_network(case: Case) -> Tiny:
    """Five items, six contents, two chat databases, eight persons in three groups, four
    suspects, two hash sets and a watchlist (the expected graph is spelt out in the tests)."""
    t = Tiny()
    now = utcnow()
    with case.store.engine.begin() as conn:
        w = _Writer(conn)
        for label, kind, suspect, dtype, serial, size in (
            ("PHONE-1", "phone", None, None, None, 64_000_000_000),
            ("PC-1", "disk-image", "S-1", None, None, 500_000_000_000),
            ("PC-2", "disk-image", None, "computer", None, 1_000_000_000_000),
            ("CAM-3", "folder", None, "camera", "SN-3", 32_000_000_000),
            ("USB-9", "folder", None, None, None, 16_000_000_000),
        ):
            t.evidence[label] = w.add(
                schema.evidence,
                label=label,
                kind=kind,
                location=f"/seized/{label}",
                suspect=suspect,
                size=size,
                registered_by="test",
                registered_at=now,
                device_type=dtype,
                device_serial=serial,
            )
        for name, kind in (
            ("k1", "picture"),
            ("k2", "picture"),
            ("n1", "picture"),
            ("v1", "video"),
            ("d1", "document"),
            ("g1", "picture"),
        ):
            w.add(
                schema.content,
                sha256=sha(name),
                md5=sha(name)[:32],
                sha1=sha(name)[:40],
                size=1000,
                mime="image/jpeg",
                kind=kind,
                analyzed_at=now,
                camera_serial="SN-3" if name == "n1" else None,
            )
        for label, name, deleted in (
            ("PC-1", "k1", False),
            ("PC-1", "k1", True),
            ("PC-1", "k2", False),
            ("PC-1", "n1", False),
            ("PC-1", "d1", False),
            ("PC-1", "g1", False),
            ("PC-2", "k1", False),
            ("PC-2", "v1", False),
            ("PC-2", "d1", False),
            ("CAM-3", "n1", False),
            ("USB-9", "v1", True),
            ("PHONE-1", "k1", False),
            ("PHONE-1", "k2", False),
        ):
            w.add(
                schema.file,
                **w.located(t.evidence[label]),
                name=name,
                size=1000,
                sha256=sha(name),
                deleted=deleted,
                state="done",
            )
        bad = w.add(
            schema.hashset,
            name="VICS",
            role="known-bad",
            scheme="vics-us",
            format="vics",
            source="vics.json",
            source_sha256=sha("vics"),
            entries=2,
            imported_by="test",
            imported_at=now,
        )
        good = w.add(
            schema.hashset,
            name="NSRL",
            role="known-good",
            format="nsrl",
            source="nsrl.db",
            source_sha256=sha("nsrl"),
            entries=1,
            imported_by="test",
            imported_at=now,
        )
        for set_id, name, category in ((bad, "k1", "1"), (bad, "k2", "2"), (good, "g1", None)):
            entry = w.add(
                schema.hash_entry,
                hashset_id=set_id,
                sha256=sha(name),
                category=category,
                location="line 1",
            )
            w.add(
                schema.match,
                sha256=sha(name),
                hashset_id=set_id,
                entry=entry,
                method="sha256",
                matched_at=now,
            )

        idents: dict[str, Ident] = {p: phone(n) for p, n in NUMBERS.items()}
        idents["P8"] = Ident("username", "quiet.otter")
        idents["W"] = phone("+4915123456799")  # only on a watchlist: never a node
        ids = identifier_ids(conn, idents.values())
        t.identifiers = {p: ids[i] for p, i in idents.items()}
        for p in ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8"):
            t.persons[p] = w.add(schema.person, name=f"Name {p}", created_at=now)
        for g in ("G1", "G2", "G3"):
            t.groups[g] = w.add(schema.chat_group, app="signal", key=f"key-{g}", title=f"Group {g}")

        def source(label: str) -> int:
            return w.add(
                schema.chat_source,
                **w.located(t.evidence[label]),
                app="generic",
                status="done",
                imported_by="test",
                imported_at=now,
            )

        def participants(
            src: int, label: str, owner: str, others: list[str], saved: dict[str, str] | None = None
        ) -> dict[str, int]:
            out = {}
            for p in [owner, *others]:
                out[p] = w.add(
                    schema.participant,
                    **w.located(t.evidence[label]),
                    source_id=src,
                    person_id=t.persons[p],
                    is_self=p == owner,
                    contact_name=(saved or {}).get(p),
                )
                w.add(
                    schema.participant_identifier,
                    participant_id=out[p],
                    identifier_id=t.identifiers[p],
                )
            return out

        phone1 = source("PHONE-1")
        on1 = participants(phone1, "PHONE-1", "P1", ["P2", "P3", "P4", "P5", "P6", "P7", "P8"])
        for g, p, role in (
            ("G1", "P1", "admin"),
            ("G1", "P2", "member"),
            ("G1", "P3", "member"),
            ("G1", "P7", "former"),
            ("G2", "P1", "member"),
            ("G2", "P3", "member"),
            ("G2", "P4", "member"),
            ("G3", "P3", "member"),
            ("G3", "P5", "member"),
            ("G3", "P6", "pending"),
        ):
            w.add(
                schema.membership,
                **w.located(t.evidence["PHONE-1"]),
                source_id=phone1,
                chat_group_id=t.groups[g],
                participant_id=on1[p],
                role=role,
                first_seen=T0,
                last_seen=T0 + timedelta(days=3),
            )
        pc2 = source("PC-2")
        on2 = participants(pc2, "PC-2", "P2", ["P1"], {"P1": "Walker"})
        for p, role in (("P2", "member"), ("P1", "member")):
            w.add(
                schema.membership,
                **w.located(t.evidence["PC-2"]),
                source_id=pc2,
                chat_group_id=t.groups["G1"],
                participant_id=on2[p],
                role=role,
                first_seen=T0 - timedelta(days=1),
            )

        def message(
            src: int,
            label: str,
            sender: int,
            *,
            group: str | None = None,
            peer: int | None = None,
            attach: str | None = None,
        ) -> None:
            mid = w.add(
                schema.message,
                **w.located(t.evidence[label]),
                source_id=src,
                chat_group_id=t.groups[group] if group else None,
                peer_id=peer,
                sender_id=sender,
                sent_at=T0,
                type="text",
                body="hello",
            )
            if attach:
                w.add(
                    schema.attachment,
                    **w.located(t.evidence[label]),
                    source_id=src,
                    message_id=mid,
                    sha256=sha(attach),
                    state="ingested",
                )

        message(phone1, "PHONE-1", on1["P2"], group="G1", attach="k1")
        message(phone1, "PHONE-1", on1["P2"], group="G1")
        message(pc2, "PC-2", on2["P2"], group="G1")  # the same person seen on a second item
        message(phone1, "PHONE-1", on1["P1"], group="G2", attach="k2")
        message(phone1, "PHONE-1", on1["P2"], peer=on1["P2"])  # P2 → P1 (the owner)
        message(phone1, "PHONE-1", on1["P1"], peer=on1["P2"])  # P1 → P2
        message(phone1, "PHONE-1", on1["P8"], peer=on1["P8"])  # P8 → P1

        for key, country, region, occupation, line in (
            ("S-1", "DE", "Bayern", "primary school teacher", 2),
            ("S-2", "DE", "Berlin", "driver", 3),
            ("S-3", "DE", None, None, 4),
            ("S-4", "FR", "Bretagne", None, 5),
        ):
            t.suspects[key] = w.add(
                schema.suspect,
                key=key,
                name=f"Suspect {key}",
                country=country,
                region=region,
                occupation=occupation,
                source="suspects.csv",
                line=line,
                imported_by="test",
                imported_at=now,
            )
        conn.execute(
            insert(schema.suspect_evidence),
            [
                {"suspect_id": t.suspects["S-1"], "label": "PHONE-1"},
                {"suspect_id": t.suspects["S-2"], "label": "PC-2"},
                {"suspect_id": t.suspects["S-3"], "label": "CAM-3"},
            ],
        )
        conn.execute(
            insert(schema.suspect_identifier),
            [
                {"suspect_id": t.suspects["S-2"], "identifier_id": t.identifiers["P2"]},
                {"suspect_id": t.suspects["S-3"], "identifier_id": t.identifiers["P3"]},
            ],
        )
        for name in ("Offences", "Register"):
            t.watchlists[name] = w.add(
                schema.watchlist,
                name=name,
                source=f"{name}.csv",
                source_sha256=sha(name),
                entries=2,
                imported_by="test",
                imported_at=now,
            )
        for name, subject, subject_id in (
            ("Offences", "suspect", t.suspects["S-2"]),
            ("Offences", "suspect", t.suspects["S-3"]),
            ("Register", "suspect", t.suspects["S-2"]),
            ("Register", "person", t.persons["P5"]),
        ):
            entry = w.add(
                schema.watchlist_entry,
                watchlist_id=t.watchlists[name],
                key=f"{name}-{subject}-{subject_id}",
                record="{}",
                line=2,
            )
            w.add(
                schema.watchlist_hit,
                entry_id=entry,
                subject=subject,
                subject_id=subject_id,
                field="e164",
                value="+49…",
                matched_at=now,
            )
    return t


# ------------------------------------------------------------------------------- tests
def test_nodes_and_edges_of_a_tiny_case(case: Case) -> None:
    t = make_tiny_network(case)
    cg = build_graph(case)
    g = cg.graph
    kinds: dict[str, int] = {}
    for _, kind in g.nodes(data="kind"):
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds == {
        "person": 8,
        "identifier": 8,  # the watchlist-only number is left out
        "group": 3,
        "suspect": 4,
        "item": 5,
        "content": 4,  # k1 k2 n1 v1: not the document, not the known-good picture
    }
    relations: dict[str, int] = {}
    for _, _, kinds_of in g.edges(data="kinds"):
        for k in kinds_of:
            relations[k] = relations.get(k, 0) + 1
    assert relations == {
        "has_identifier": 10,
        "member": 10,
        "posted": 2,
        "shared": 2,
        "messaged": 2,
        "possesses": 9,
        "owns": 4,
        "is": 3,
        "same-content": 2,
        "same-group": 3,
        "contact": 2,
    }
    assert g.number_of_edges() == 43  # member+posted share an edge; suspect links per pair

    p1, p2, p3 = (node_key("person", t.persons[p]) for p in ("P1", "P2", "P3"))
    g1 = node_key("group", t.groups["G1"])
    edge = g.edges[p2, g1]
    assert edge["kinds"] == ("member", "posted")
    assert (edge["kind"], edge["role"], edge["messages"], edge["attachments"]) == (
        "member",
        "member",
        3,
        1,
    )
    assert edge["known_attachments"] == 1
    assert edge["first_seen"] == (T0 - timedelta(days=1)).isoformat()
    assert g.edges[p1, g1]["role"] == "admin"  # strongest role across the two databases
    assert g.edges[p1, p2]["messages"] == 2
    assert g.nodes[g1]["members"] == 4 and g.nodes[g1]["admins"] == 1
    assert g.nodes[node_key("group", t.groups["G3"])]["members"] == 2  # pending is not in
    assert g.nodes[p3]["country"] == "FR" and g.nodes[p3]["suspects"] == ["S-3"]
    pc1 = node_key("item", t.evidence["PC-1"])
    assert g.edges[pc1, node_key("content", sha("k1"))] == {
        "kind": "possesses",
        "kinds": ("possesses",),
        "files": 2,
        "deleted": 1,
    }
    k1 = g.nodes[node_key("content", sha("k1"))]
    assert (k1["known"], k1["categories"], k1["content_kind"]) == (True, ["vics-us:1"], "picture")
    assert g.nodes[node_key("content", sha("n1"))]["known"] is False
    s2 = node_key("suspect", t.suspects["S-2"])
    assert g.edges[s2, p2]["reasons"] == [
        f"e164 {NUMBERS['P2']} is among the suspect's known identifiers",
        "owner of the chat database on PC-2",
    ]
    assert g.nodes[node_key("item", t.evidence["CAM-3"])]["device_serial"] == "SN-3"


def test_suspect_links_with_their_evidence(case: Case) -> None:
    t = make_tiny_network(case)
    s1, s2, s3 = (t.suspects[k] for k in ("S-1", "S-2", "S-3"))
    found = {(x.a, x.b, x.kind): x for x in build_graph(case).suspect_links()}
    assert list(found) == [
        (s1, s2, "same-content"),
        (s1, s2, "same-group"),
        (s1, s2, "contact"),
        (s1, s3, "same-content"),
        (s1, s3, "same-group"),
        (s1, s3, "contact"),
        (s2, s3, "same-group"),
    ]
    assert found[(s1, s2, "same-content")].evidence == {
        "contents": 1,
        "known": 1,
        "sha256": [sha("k1")],
    }
    assert found[(s1, s3, "same-content")].evidence["sha256"] == [sha("n1")]
    assert found[(s1, s3, "same-group")].evidence == {
        "groups": [
            {"id": t.groups["G1"], "title": "Group G1"},
            {"id": t.groups["G2"], "title": "Group G2"},
        ]
    }
    contact = found[(s1, s2, "contact")]
    assert contact.evidence == {
        "items": ["PC-2", "PHONE-1"],
        "contact_names": ["Walker (PC-2)"],
        "participants": 2,
        "direct_messages": 2,
    }
    assert contact.explanation == (
        "listed in the chats on PC-2, PHONE-1; saved as contact Walker (PC-2); "
        "2 direct message(s) exchanged"
    )
    assert found[(s1, s3, "contact")].evidence["items"] == ["PHONE-1"]
    assert found[(s1, s2, "same-group")].to_json()["explanation"] == "both in 1 group(s): Group G1"


def test_cytoscape_neighbourhood(case: Case) -> None:
    t = make_tiny_network(case)
    cg = build_graph(case)
    center = node_key("suspect", t.suspects["S-3"])
    one = cytoscape_elements(cg, center, radius=1)
    nodes = {e["data"]["id"] for e in one if e["group"] == "nodes"}
    assert nodes == {
        center,
        node_key("item", t.evidence["CAM-3"]),
        node_key("person", t.persons["P3"]),
        node_key("identifier", t.identifiers["P3"]),
        node_key("suspect", t.suspects["S-1"]),
        node_key("suspect", t.suspects["S-2"]),
    }
    edges = [e["data"] for e in one if e["group"] == "edges"]
    assert all(e["source"] in nodes and e["target"] in nodes for e in edges)
    link = next(
        e
        for e in edges
        if {e["source"], e["target"]} == {center, node_key("suspect", t.suspects["S-1"])}
    )
    assert link["kinds"] == "same-content; same-group; contact"
    capped = cytoscape_elements(cg, center, radius=3, limit=10)
    assert sum(e["group"] == "nodes" for e in capped) == 10
    with pytest.raises(UserError, match="no node"):
        cytoscape_elements(cg, "person:999")


def test_an_empty_case_gives_an_empty_graph(case: Case) -> None:
    cg = build_graph(case)
    assert cg.graph.number_of_nodes() == 0 and cg.suspect_links() == []
