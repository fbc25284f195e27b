"""Network exports (GraphML, GEXF, Neo4j CSV, JSON), the operation's figures and the
``lanterne network`` commands, on the tiny case of test_graph."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import networkx as nx
import pytest
import typer
from test_graph import make_tiny_network, sha
from typer.testing import CliRunner

from lanterne.case.workspace import Case
from lanterne.commands.network import network_app
from lanterne.errors import UserError
from lanterne.network.export import export_network
from lanterne.network.figures import operation_figures
from lanterne.network.graph import build_graph, node_key


def test_graphml_and_gexf_read_back_with_the_same_counts(case: Case, tmp_path: Path) -> None:
    t = make_tiny_network(case)
    graph = build_graph(case)
    g = graph.graph
    for fmt, read in (("graphml", nx.read_graphml), ("gexf", nx.read_gexf)):
        path = export_network(case, fmt, tmp_path / "out" / f"net.{fmt}", graph=graph)
        back = read(path)
        assert (back.number_of_nodes(), back.number_of_edges()) == (43 - 11, 43), fmt
        p2 = node_key("person", t.persons["P2"])
        g1 = node_key("group", t.groups["G1"])
        assert back.nodes[p2]["kind"] == "person"
        assert back.nodes[p2]["country"] == "DE"
        assert back.edges[p2, g1]["kinds"] == "member; posted"
        assert back.edges[p2, g1]["messages"] == 3
        k1 = back.nodes[node_key("content", sha("k1"))]
        assert k1["known"] is True and k1["categories"] == "vics-us:1"
        pc2 = back.nodes[node_key("item", t.evidence["PC-2"])]
        assert pc2["size"] == 1_000_000_000_000  # a 64-bit integer survives
    assert g.number_of_nodes() == 32


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_neo4j_csv_files_load_as_a_whole(case: Case, tmp_path: Path) -> None:
    t = make_tiny_network(case)
    folder = export_network(case, "neo4j", tmp_path / "neo4j")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "neo4j-admin-import.txt",
        "nodes_Content.csv",
        "nodes_Group.csv",
        "nodes_Identifier.csv",
        "nodes_Item.csv",
        "nodes_Person.csv",
        "nodes_Suspect.csv",
        "rels_CONTACT.csv",
        "rels_HAS_IDENTIFIER.csv",
        "rels_IS.csv",
        "rels_MEMBER_OF.csv",
        "rels_MESSAGED.csv",
        "rels_OWNS.csv",
        "rels_POSSESSES.csv",
        "rels_POSTED_IN.csv",
        "rels_SAME_CONTENT.csv",
        "rels_SAME_GROUP.csv",
        "rels_SHARED.csv",
    ]
    ids: set[str] = set()
    for path in folder.glob("nodes_*.csv"):
        header, rows = _read(path)
        assert header[0] == "id:ID" and header[-1] == ":LABEL"
        assert all(len(r) == len(header) for r in rows)
        assert {r[-1] for r in rows} == {path.stem.removeprefix("nodes_")}
        ids.update(r[0] for r in rows)
    assert len(ids) == 32
    header, rows = _read(folder / "nodes_Person.csv")
    assert "countries:string[]" in header and "participants:long" in header
    header, rows = _read(folder / "nodes_Item.csv")
    assert "size:long" in header
    counts = {}
    for path in folder.glob("rels_*.csv"):
        header, rows = _read(path)
        assert header[:3] == [":START_ID", ":END_ID", ":TYPE"]
        assert all(len(r) == len(header) for r in rows)
        assert all(r[0] in ids and r[1] in ids for r in rows)  # every endpoint is a node
        counts[path.stem.removeprefix("rels_")] = len(rows)
    assert counts == {
        "HAS_IDENTIFIER": 10,
        "MEMBER_OF": 10,
        "POSTED_IN": 2,
        "SHARED": 2,
        "MESSAGED": 2,
        "POSSESSES": 9,
        "OWNS": 4,
        "IS": 3,
        "SAME_CONTENT": 2,
        "SAME_GROUP": 3,
        "CONTACT": 2,
    }
    header, rows = _read(folder / "rels_IS.csv")
    assert header == [":START_ID", ":END_ID", ":TYPE", "reasons:string[]"]
    s2, p2 = node_key("suspect", t.suspects["S-2"]), node_key("person", t.persons["P2"])
    row = next(r for r in rows if r[:2] == [s2, p2])  # a suspect IS a person
    assert row[3].split(";")[1] == "owner of the chat database on PC-2"
    header, rows = _read(folder / "rels_POSTED_IN.csv")
    assert header[3:] == ["messages:long", "attachments:long", "known_attachments:long"]
    command = (folder / "neo4j-admin-import.txt").read_text()
    assert "neo4j-admin database import full" in command
    assert f"--nodes={(folder / 'nodes_Person.csv').resolve()}" in command
    assert f"--relationships={(folder / 'rels_IS.csv').resolve()}" in command
    with pytest.raises(UserError, match="empty folder"):
        export_network(case, "neo4j", folder)


def test_json_summary_and_refusals(case: Case, tmp_path: Path) -> None:
    make_tiny_network(case)
    path = export_network(case, "json", tmp_path / "network.json")
    summary = json.loads(path.read_text())
    assert summary["stats"]["persons"] == 8
    assert summary["figures"]["seized"]["items"] == 5
    ranked = summary["priorities"]
    assert ranked is None or {r["id"] for r in ranked if r["kind"] == "suspect"} == {1, 2, 3, 4}
    with pytest.raises(UserError, match="unknown network export format"):
        export_network(case, "dot", tmp_path / "x.dot")
    with pytest.raises(UserError, match="is a folder"):
        export_network(case, "graphml", tmp_path)


def test_operation_figures(case: Case) -> None:
    make_tiny_network(case)
    figures = operation_figures(case)
    json.dumps(figures)
    assert figures["participants"] == {
        "persons": 8,
        "accounts": 10,
        "countries": 4,
        "groups": 3,
        "messages": 7,
    }
    assert figures["suspects"] == {
        "identified": 4,
        "case_country": "DE",
        "in_case_country": 3,
        "by_region": {"Bayern": 1, "Berlin": 1, "unknown": 1},
    }
    assert figures["on_record"] == {
        "suspects": 2,
        "by_watchlist": [
            {"watchlist": "Offences", "entries": 2, "suspects": 2, "persons": 0},
            {"watchlist": "Register", "entries": 2, "suspects": 1, "persons": 1},
        ],
    }
    assert figures["child_access"] in (None, {"suspects": 1, "by_category": {"education": 1}})
    assert figures["seized"] == {
        "items": 5,
        "bytes": 1_612_000_000_000,
        "by_device": {
            "computer": {"items": 2, "bytes": 1_500_000_000_000},
            "storage": {"items": 1, "bytes": 16_000_000_000},
            "phone": {"items": 1, "bytes": 64_000_000_000},
            "camera": {"items": 1, "bytes": 32_000_000_000},
            "other": {"items": 0, "bytes": 0},
        },
    }
    assert figures["media"] == {
        "pictures": {
            "contents": 4,
            "occurrences": 9,
            "known": {"contents": 2, "occurrences": 6},
            "new": {"contents": 1, "occurrences": 2},
        },
        "videos": {
            "contents": 1,
            "occurrences": 2,
            "known": {"contents": 0, "occurrences": 0},
            "new": {"contents": 1, "occurrences": 2},
        },
    }


def test_network_commands(case: Case, tmp_path: Path) -> None:
    make_tiny_network(case)
    case.close()
    app = typer.Typer()
    app.add_typer(network_app, name="network")
    runner = CliRunner()
    where = str(case.root)
    result = runner.invoke(app, ["network", "stats", where])
    assert result.exit_code == 0, result.output
    assert "Bridges between groups" in result.output and "Name P3" in result.output
    result = runner.invoke(app, ["network", "stats", where, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["countries"] == 4
    result = runner.invoke(app, ["network", "figures", where])
    assert result.exit_code == 0, result.output
    assert "8 participants (10 accounts) in 4 countries" in result.output
    assert "5 items seized (2 computer, 1 storage, 1 phone, 1 camera), 1.6 TB" in result.output
    result = runner.invoke(app, ["network", "figures", where, "--json"])
    assert json.loads(result.output)["media"]["videos"]["contents"] == 1
    out = tmp_path / "g.gexf"
    result = runner.invoke(app, ["network", "export", where, "--format", "gexf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert nx.read_gexf(out).number_of_nodes() == 32
    result = runner.invoke(app, ["network", "export", where, "--format", "gexf", "-o", where])
    assert result.exit_code == 2 and "is a folder" in " ".join(result.output.split())
