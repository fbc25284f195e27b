"""End to end on a planted network: the case built by the real library steps, then the graph,
its statistics, the priorities and the exports checked against what was planted.

One planted operation (:func:`lanterne.synth.network.make_network`) is built into a case once
per database (SQLite, and PostgreSQL when ``LANTERNE_TEST_PG_URL`` names a server) and shared
by the tests of this module.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import sqlalchemy as sa
from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.network.graph import CaseGraph, build_graph
from lanterne.synth.network import KNOWN_SCHEME, PlantedNetwork, build_case, make_network
from testkit import database

pytestmark = pytest.mark.slow

SIZE = {"participants": 1500, "groups": 8, "countries": 30}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> PlantedNetwork:
    return make_network(tmp_path_factory.mktemp("planted") / "op", seed=11, **SIZE)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def built(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    planted: PlantedNetwork,
) -> Iterator[tuple[Case, CaseGraph]]:
    """The planted operation built into a case (on each database), and its graph."""
    with database(request.param) as url:
        case = build_case(tmp_path_factory.mktemp(request.param) / "case", planted, url)
        try:
            yield case, build_graph(case)
        finally:
            case.close()


# ---------------------------------------------------------------- lookups


def _suspect_keys(case: Case) -> dict[int, str]:
    s = schema.suspect
    with case.store.engine.connect() as conn:
        return {r.id: r.key for r in conn.execute(select(s.c.id, s.c.key))}


def _person_numbers(case: Case) -> dict[int, str]:
    """Person id → its E.164 number (every planted person has exactly one)."""
    p, pi, i = schema.participant, schema.participant_identifier, schema.identifier
    with case.store.engine.connect() as conn:
        rows = conn.execute(
            select(p.c.person_id, i.c.value)
            .join(pi, pi.c.participant_id == p.c.id)
            .join(i, i.c.id == pi.c.identifier_id)
            .where(i.c.kind == "e164")
            .distinct()
        ).all()
    return {person: value for person, value in rows}


def _group_titles(case: Case) -> dict[int, str]:
    g = schema.chat_group
    with case.store.engine.connect() as conn:
        return {r.id: r.title for r in conn.execute(select(g.c.id, g.c.title))}


# ---------------------------------------------------------------- the build itself


def test_the_case_holds_what_was_planted(
    built: tuple[Case, CaseGraph], planted: PlantedNetwork
) -> None:
    case, _ = built
    store = case.store
    assert store.count(schema.person) == planted.persons
    assert store.count(schema.chat_group) == len(planted.groups)
    assert store.count(schema.suspect) == len(planted.suspects)
    assert store.count(schema.warning) == 0
    assert sorted(_group_titles(case).values()) == sorted(planted.groups)
    ev = schema.evidence
    with store.engine.connect() as conn:
        camera = conn.execute(
            select(ev.c.device_type, ev.c.device_serial).where(ev.c.label == "CAM-02")
        ).one()
        attached = conn.execute(
            select(sa.func.count())
            .select_from(schema.attachment)
            .where(schema.attachment.c.sha256.is_not(None))
        ).scalar_one()
    assert tuple(camera) == ("camera", planted.camera_serial)
    posted = sum(n for cats in planted.posted_known.values() for n in cats.values())
    assert attached == posted  # every posted picture is tied to its content (on PHONE-01)


# ---------------------------------------------------------------- graph and analytics


def test_persons_by_country_are_exact(
    built: tuple[Case, CaseGraph], planted: PlantedNetwork
) -> None:
    from lanterne.network.stats import network_stats

    case, graph = built
    by_country: dict[str, int] = {}
    for key in graph.nodes_of("person"):
        country = graph.graph.nodes[key].get("country")
        if country is not None:
            by_country[country] = by_country.get(country, 0) + 1
    assert by_country == planted.countries
    stats = network_stats(case, graph)
    assert stats["persons_by_country"] == planted.countries
    assert stats["countries"] == len(planted.countries)
    assert stats["case_country"] == planted.country
    assert stats["suspects"]["in_case_country"] == len(planted.suspects)
    assert stats["suspects"]["by_region"] == planted.suspects_by_region


def test_the_bridge_ranks_first_by_betweenness(
    built: tuple[Case, CaseGraph], planted: PlantedNetwork
) -> None:
    from lanterne.network.stats import network_stats, person_betweenness

    case, graph = built
    numbers = _person_numbers(case)
    scores = person_betweenness(graph)
    ranked = sorted(scores, key=lambda p: (-scores[p], p))
    assert numbers[ranked[0]] == planted.bridge_e164
    assert scores[ranked[0]] == pytest.approx(max(scores.values()))
    assert all(scores[p] < scores[ranked[0]] for p in ranked[1:])
    bridges = network_stats(case, graph)["bridges"]
    top = bridges[0]
    assert top["person"] == ranked[0]
    assert sorted(g["title"] for g in top["groups"]) == sorted(planted.bridge_groups)


def test_groups_and_administrators(built: tuple[Case, CaseGraph], planted: PlantedNetwork) -> None:
    from lanterne.network.stats import network_stats

    case, graph = built
    titles = _group_titles(case)
    stats = network_stats(case, graph)
    members = {titles[g["id"]]: g["members"] for g in stats["groups"]}
    assert members == planted.groups
    numbers = _person_numbers(case)
    admins = {
        numbers[a["person"]]: sorted(g["title"] for g in a["groups"])
        for a in stats["administrators"]
    }
    assert admins == {n: sorted(t) for n, t in planted.admins.items()}


def test_top_posters_of_known_material_by_category(
    built: tuple[Case, CaseGraph], planted: PlantedNetwork
) -> None:
    from lanterne.network.stats import network_stats

    case, graph = built
    numbers = _person_numbers(case)
    posters = network_stats(case, graph)["top_posters"]
    found: dict[str, dict[str, int]] = {}
    for block in posters["by_category"]:
        assert block["scheme"] == KNOWN_SCHEME
        for row in block["persons"]:
            found.setdefault(numbers[row["person"]], {})[block["category"]] = row["contents"]
    assert found == planted.posted_known
    overall = {numbers[r["person"]]: r["contents"] for r in posters["overall"]}
    assert overall == {n: sum(cats.values()) for n, cats in planted.posted_known.items()}


def test_planted_suspect_links_with_their_evidence(
    built: tuple[Case, CaseGraph], planted: PlantedNetwork
) -> None:
    case, graph = built
    keys = _suspect_keys(case)
    links: dict[tuple[str, str], dict[str, Any]] = {}
    for link in graph.suspect_links():
        a, b = sorted((keys[link.a], keys[link.b]))
        links.setdefault((a, b), {})[link.kind] = link
    assert {pair: set(kinds) for pair, kinds in links.items()} == planted.suspect_links

    content = links[("S-04", "S-05")]["same-content"]
    assert set(content.evidence["sha256"]) == planted.shared_contents[("S-04", "S-05")]
    assert content.evidence["known"] == 2
    group = links[("S-06", "S-07")]["same-group"]
    assert [g["title"] for g in group.evidence["groups"]] == list(planted.suspects["S-06"].groups)
    contact = links[("S-08", "S-09")]["contact"]
    assert contact.evidence["direct_messages"] == 2
    assert contact.evidence["items"] == ["PHONE-08"]


def test_watchlist_hits_name_the_field_that_matched(
    built: tuple[Case, CaseGraph], planted: PlantedNetwork
) -> None:
    from lanterne.network.watchlist import list_hits

    case, _ = built
    keys, numbers = _suspect_keys(case), _person_numbers(case)
    found = {
        (
            h["watchlist"],
            h["entry"],
            h["subject"],
            keys[h["subject_id"]] if h["subject"] == "suspect" else numbers[h["subject_id"]],
            h["field"],
        )
        for h in list_hits(case)
    }
    assert found == planted.watchlist_hits


# ---------------------------------------------------------------- priorities


def test_producer_and_child_access_rank_above_passive_members(
    built: tuple[Case, CaseGraph], planted: PlantedNetwork
) -> None:
    from lanterne.network.priorities import rank

    case, graph = built
    keys = _suspect_keys(case)
    ranked = rank(case, graph=graph)
    suspects = {keys[r.id]: r for r in ranked if r.kind == "suspect"}
    assert set(suspects) == set(planted.suspects)
    producer, teacher = suspects[planted.producer], suspects[planted.child_access]
    for key in planted.passive:
        passive = suspects[key]
        assert producer.rank < passive.rank and teacher.rank < passive.rank
        names = {f.name for f in passive.factors}
        assert not names & {"production_serial", "gps_cluster", "child_access", "watchlist"}

    factors = {f.name: f for f in producer.factors}
    serial = factors["production_serial"]
    assert serial.value == len(planted.production_sha256)
    devices = [e for e in serial.evidence if e.get("type") != "file"]
    assert [d["evidence"] for d in devices] == ["CAM-02"]
    assert devices[0]["serial"] == planted.camera_serial
    pictures = {e["sha256"] for e in serial.evidence if e.get("type") == "file"}
    assert pictures == set(planted.production_sha256)
    assert "CAM-02" in serial.explanation and planted.camera_serial in serial.explanation
    for e in serial.evidence:  # each picture traced to its file on a seized item
        if e["type"] == "file":
            assert e["evidence"] in ("CAM-02", "PC-02")
            assert e["provenance"][0] == {"type": "evidence", "path": e["evidence"]}
            assert e["provenance"][-1]["path"] == e["path"]
    cluster = factors["gps_cluster"]
    assert cluster.value == 1
    (where,) = cluster.evidence
    assert where["pictures"] == len(planted.production_sha256)
    lat, lon = where["centre"]
    assert _metres(lat, lon, *planted.gps_centre) < 100

    access = {f.name: f for f in teacher.factors}["child_access"]
    assert access.detail == "education"
    assert access.evidence[0]["occupation"] == "primary school teacher"
    assert access.evidence[0]["line"] == 4  # the teacher's row of the suspects file
    assert "primary school teacher" in access.explanation
    others = [k for k, r in suspects.items() if any(f.name == "child_access" for f in r.factors)]
    assert others == [planted.child_access]


def test_the_bridge_and_distributors_carry_their_roles(
    built: tuple[Case, CaseGraph], planted: PlantedNetwork
) -> None:
    from lanterne.network.priorities import rank

    case, graph = built
    numbers = _person_numbers(case)
    persons = {numbers[r.id]: r for r in rank(case, graph=graph) if r.kind == "person"}
    bridge = {f.name: f for f in persons[planted.bridge_e164].factors}
    assert bridge["bridging"].points == pytest.approx(bridge["bridging"].weight)
    distributor = max(planted.posted_known, key=lambda n: sum(planted.posted_known[n].values()))
    factors = persons[distributor].factors
    posted = {f.detail: f.value for f in factors if f.name == "known_posted"}
    assert {str(k): v for k, v in posted.items()} == planted.posted_known[distributor]
    assert "watchlist" in {f.name for f in factors}  # OH-003 names his number


# ---------------------------------------------------------------- exports and figures


def test_exports_load(
    built: tuple[Case, CaseGraph], tmp_path: Path, planted: PlantedNetwork
) -> None:
    from lanterne.network.export import export_network

    case, graph = built
    nodes, edges = graph.graph.number_of_nodes(), graph.graph.number_of_edges()
    graphml = export_network(case, "graphml", tmp_path / "case.graphml")
    back = nx.read_graphml(graphml)
    assert back.number_of_nodes() == nodes
    gexf = export_network(case, "gexf", tmp_path / "case.gexf")
    assert nx.read_gexf(gexf).number_of_nodes() == nodes
    folder = export_network(case, "neo4j", tmp_path / "neo4j")
    ids: set[str] = set()
    for path in sorted(folder.glob("nodes_*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            ids.update(row["id:ID"] for row in csv.DictReader(f))
    assert len(ids) == nodes
    relations = 0
    for path in sorted(folder.glob("rels_*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                assert row[":START_ID"] in ids and row[":END_ID"] in ids
                relations += 1
    assert relations >= edges
    summary = json.loads(export_network(case, "json", tmp_path / "case.json").read_text())
    assert isinstance(summary, dict) and summary


def test_operation_figures(built: tuple[Case, CaseGraph], planted: PlantedNetwork) -> None:
    from lanterne.network.figures import operation_figures

    case, _ = built
    figures = operation_figures(case)
    participants = figures["participants"]
    assert participants["persons"] == planted.persons
    assert participants["countries"] == len(planted.countries)
    assert participants["groups"] == len(planted.groups)
    suspects = figures["suspects"]
    assert suspects["identified"] == len(planted.suspects)
    assert suspects["case_country"] == planted.country
    assert suspects["by_region"] == planted.suspects_by_region
    on_record: dict[str, set[str]] = {}
    for watchlist, _, subject, who, _ in planted.watchlist_hits:
        if subject == "suspect":
            on_record.setdefault(watchlist, set()).add(who)
    assert figures["on_record"]["suspects"] == len(set().union(*on_record.values()))
    by_list = {w["watchlist"]: w["suspects"] for w in figures["on_record"]["by_watchlist"]}
    assert by_list == {name: len(keys) for name, keys in on_record.items()}
    assert figures["child_access"] == {"suspects": 1, "by_category": {"education": 1}}
    seized = {k: v for k, v in figures["seized"]["by_device"].items() if v["items"]}
    assert {k: v["items"] for k, v in seized.items()} == planted.items_by_type
    assert {k: v["bytes"] for k, v in seized.items()} == planted.bytes_by_type
    pictures = figures["media"]["pictures"]
    assert pictures["contents"] == planted.pictures
    assert pictures["known"]["contents"] == planted.known_pictures
    assert pictures["new"]["contents"] == planted.pictures - planted.known_pictures


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dlat, dlon = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = (
        math.sin(dlat / 2) ** 2
        + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(dlon / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(a))
