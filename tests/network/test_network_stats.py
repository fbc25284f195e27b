"""Network statistics on the tiny case of test_graph, and betweenness against NetworkX."""

from __future__ import annotations

import json
import random

import networkx as nx
import pytest
from test_graph import make_tiny_network

from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.network.graph import CaseGraph, build_graph
from lanterne.network.stats import (
    case_country,
    communities,
    core_graph,
    network_stats,
    person_betweenness,
)
from lanterne.network.subjects import SuspectLinks


def test_figures_of_the_tiny_case(case: Case) -> None:
    t = make_tiny_network(case)
    stats = network_stats(case)
    json.dumps(stats)  # JSON-ready
    assert stats["persons"] == 8
    assert stats["persons_by_country"] == {"DE": 2, "FR": 2, "NL": 2, "GB": 1, "unknown": 1}
    assert stats["countries"] == 4
    assert stats["case_country"] == "DE"  # most suspects are German
    assert stats["suspects"] == {
        "total": 4,
        "in_case_country": 3,
        "by_region": {"Bayern": 1, "Berlin": 1, "unknown": 1},
        "by_country": {"DE": 3, "FR": 1},
    }
    g1, g2, g3 = (t.groups[g] for g in ("G1", "G2", "G3"))
    assert [
        (g["id"], g["members"], g["by_role"], g["messages"], g["attachments"])
        for g in stats["groups"]
    ] == [
        (g1, 4, {"admin": 1, "former": 1, "member": 2}, 3, 1),
        (g2, 3, {"member": 3}, 1, 1),
        (g3, 2, {"member": 2, "pending": 1}, 0, 0),
    ]
    assert [g["known_attachments"] for g in stats["groups"]] == [1, 1, 0]
    assert [
        (o["a"]["id"], o["b"]["id"], o["shared"], o["jaccard"]) for o in stats["group_overlaps"]
    ] == [(g1, g2, 2, 0.4), (g2, g3, 1, 0.25), (g1, g3, 1, 0.2)]
    p1, p2, p3 = (t.persons[p] for p in ("P1", "P2", "P3"))
    posters = stats["top_posters"]
    assert [(x["person"], x["contents"]) for x in posters["overall"]] == [(p1, 1), (p2, 1)]
    assert [
        (c["scheme"], c["category"], [x["person"] for x in c["persons"]])
        for c in posters["by_category"]
    ] == [("vics-us", "1", [p2]), ("vics-us", "2", [p1])]
    assert posters["overall"][1]["suspects"] == ["S-2"]
    admins = stats["administrators"]
    assert [(a["person"], [g["id"] for g in a["groups"]], a["member_of"]) for a in admins] == [
        (p1, [g1], 2)
    ]
    bridges = stats["bridges"]
    assert [(b["person"], b["betweenness"]) for b in bridges] == [
        (p3, round(7 / 12, 6)),
        (p1, round(1 / 12, 6)),
    ]
    assert [g["title"] for g in bridges[0]["groups"]] == ["Group G1", "Group G2", "Group G3"]
    assert bridges[0]["country"] == "FR" and bridges[0]["label"] == "Name P3"
    assert stats["communities"]["count"] >= 1
    assert sum(stats["communities"]["sizes"]) == 3 + 6  # groups and the persons in them
    assert len(stats["suspect_links"]) == 7
    first = stats["suspect_links"][0]
    assert (first["a_key"], first["b_key"], first["kind"]) == ("S-1", "S-2", "same-content")
    assert stats["graph"]["nodes_by_kind"]["person"] == 8


def test_case_country_from_case_toml(case: Case) -> None:
    make_tiny_network(case)
    case.sections["network"] = {"country": "fr"}
    assert case_country(case) == "FR"
    stats = network_stats(case)
    assert stats["suspects"]["by_region"] == {"Bretagne": 1}
    case.sections["network"] = {"country": "France"}
    with pytest.raises(UserError, match="two-letter"):
        case_country(case)


def test_the_bridge_ranks_first_and_louvain_is_deterministic(case: Case) -> None:
    t = make_tiny_network(case)
    cg = build_graph(case)
    found = person_betweenness(cg)
    assert max(found, key=lambda p: found[p]) == t.persons["P3"]
    assert set(found) == {t.persons["P1"], t.persons["P3"]}  # the others are in one group
    reference = nx.betweenness_centrality(core_graph(cg))
    assert found[t.persons["P3"]] == pytest.approx(reference[f"person:{t.persons['P3']}"])
    again = build_graph(case)
    assert communities(cg) == communities(again)


def _random_network(persons: int, groups: int, seed: int) -> CaseGraph:
    """An in-memory person–group graph with skewed group sizes (no store needed)."""
    rng = random.Random(seed)
    g = nx.Graph()
    g.add_nodes_from((f"group:{i}", {"kind": "group", "label": f"g{i}"}) for i in range(groups))
    weights = [1 / (i + 1) for i in range(groups)]
    for p in range(persons):
        g.add_node(f"person:{p}", kind="person", label=f"p{p}")
        k = 1 if rng.random() < 0.6 else rng.choice((2, 2, 3))
        for group in set(rng.choices(range(groups), weights=weights, k=k)):
            g.add_edge(
                f"person:{p}", f"group:{group}", kind="member", kinds=("member",), role="member"
            )
    return CaseGraph(g, SuspectLinks())


def test_betweenness_equals_networkx_and_sampling_is_stable() -> None:
    cg = _random_network(400, 12, seed=3)
    exact = person_betweenness(cg)
    reference = nx.betweenness_centrality(core_graph(cg))
    persons = {int(k.split(":")[1]): v for k, v in reference.items() if k.startswith("person:")}
    assert exact.keys() == persons.keys()
    assert max(abs(exact[p] - persons[p]) for p in persons) < 1e-12
    sampled = person_betweenness(cg, pivots=60)
    assert sampled == person_betweenness(cg, pivots=60)  # fixed seed: the same figures
    assert sampled != exact
    top = max(exact, key=lambda p: exact[p])
    assert max(sampled, key=lambda p: sampled[p]) == top
    assert all(0.0 <= v <= 1.0 for v in sampled.values())


def test_an_empty_case_has_empty_figures(case: Case) -> None:
    stats = network_stats(case)
    assert stats["persons"] == 0 and stats["bridges"] == [] and stats["groups"] == []
    assert stats["communities"] == {"count": 0, "sizes": [], "largest": []}
    assert stats["case_country"] is None
