"""``lanterne network export``: the case graph for Gephi, Neo4j and other tools.

- ``graphml`` and ``gexf``: one file (NetworkX's writers) that Gephi, yEd or Cytoscape open.
  Attributes are scalars there: lists become ``; ``-joined text, times ISO 8601 text.
- ``neo4j``: a folder of CSV files for ``neo4j-admin database import full``: one
  ``nodes_<Label>.csv`` per node kind (``id:ID``, typed properties, ``:LABEL``) and one
  ``rels_<TYPE>.csv`` per relation (``:START_ID``, ``:END_ID``, ``:TYPE``, properties), and
  ``neo4j-admin-import.txt`` with the command line that loads them. A merged edge of the graph
  (a member who also posted) becomes one relationship per relation (``MEMBER_OF``,
  ``POSTED_IN``), each with its own properties.
- ``json``: the network statistics, the operation's figures and, where the prioritisation is
  installed, the ranked suspects and persons with their explanations.
"""

from __future__ import annotations

import csv
import json
import shlex
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import networkx as nx

from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.network.graph import EDGE_ATTRS, EDGE_KINDS, CaseGraph, build_graph, ordered

FORMATS = ("graphml", "gexf", "neo4j", "json")
NEO4J_LABELS = {
    "person": "Person",
    "identifier": "Identifier",
    "group": "Group",
    "suspect": "Suspect",
    "item": "Item",
    "content": "Content",
}
NEO4J_TYPES = {
    "member": "MEMBER_OF",
    "posted": "POSTED_IN",
    "shared": "SHARED",
    "messaged": "MESSAGED",
    "has_identifier": "HAS_IDENTIFIER",
    "possesses": "POSSESSES",
    "owns": "OWNS",
    "is": "IS",
    "same-content": "SAME_CONTENT",
    "same-group": "SAME_GROUP",
    "contact": "CONTACT",
}
ARRAY_DELIMITER = ";"


def export_network(case: Case, fmt: str, out: Path, *, graph: CaseGraph | None = None) -> Path:
    """Write the case's network as ``fmt`` to ``out`` (a file; a folder for ``neo4j``) and
    return what was written. ``graph`` spares building it again."""
    if fmt not in FORMATS:
        raise UserError(
            f"unknown network export format {fmt!r}; choose one of {', '.join(FORMATS)}"
        )
    if fmt == "neo4j":
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UserError(f"{out} is not an empty folder; the Neo4j export needs a new folder")
        out.mkdir(parents=True, exist_ok=True)
    else:
        if out.is_dir():
            raise UserError(f"{out} is a folder; give the file to write, e.g. {out}/network.{fmt}")
        out.parent.mkdir(parents=True, exist_ok=True)
    graph = graph if graph is not None else build_graph(case)
    if fmt == "graphml":
        nx.write_graphml(flat_graph(graph), out)
    elif fmt == "gexf":
        nx.write_gexf(flat_graph(graph), out)
    elif fmt == "neo4j":
        write_neo4j(graph, out)
    else:
        out.write_text(
            json.dumps(network_summary(case, graph), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
    return out


# --------------------------------------------------------------- GraphML and GEXF
def _text(value: Any) -> Any:
    """A value every graph format takes: text, a number or a boolean."""
    if isinstance(value, list | tuple | set | frozenset):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _uniform(items: list[dict[str, Any]]) -> None:
    """Give each attribute one type across all items (GraphML and GEXF declare one per key):
    integers mixed with floats become floats, anything mixed with text becomes text."""
    types: dict[str, set[type]] = defaultdict(set)
    for data in items:
        for k, v in data.items():
            types[k].add(type(v))
    for k, seen in types.items():
        if len(seen) < 2:
            continue
        cast: type = float if seen <= {int, float} else str
        for data in items:
            if k in data:
                data[k] = cast(data[k])


def flat_graph(graph: CaseGraph) -> nx.Graph:
    """A copy of the graph whose attributes are all scalars of one type per name."""
    nodes = [(n, {k: _text(v) for k, v in d.items()}) for n, d in graph.graph.nodes(data=True)]
    edges = [
        (*ordered(graph.graph, u, v), {k: _text(val) for k, val in d.items()})
        for u, v, d in graph.graph.edges(data=True)
    ]
    _uniform([d for _, d in nodes])
    _uniform([d for _, _, d in edges])
    flat = nx.Graph()
    flat.add_nodes_from(nodes)
    flat.add_edges_from(edges)
    return flat


# ------------------------------------------------------------------------- Neo4j
def _neo4j_type(values: Iterable[Any]) -> str:
    seen = {type(v) for v in values if v is not None}
    if seen and seen <= {bool}:
        return "boolean"
    if seen and seen <= {int}:
        return "long"
    if seen and seen <= {int, float}:
        return "double"
    if seen and seen <= {list, tuple}:
        return "string[]"
    return "string"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ARRAY_DELIMITER.join(_clean(str(v)).replace(ARRAY_DELIMITER, ",") for v in value)
    return _clean(str(_text(value)))


def _clean(text: str) -> str:
    """One line of text (the import reads one record per line)."""
    return " ".join(text.splitlines())


def _write_csv(path: Path, header: list[str], rows: Iterable[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_neo4j(graph: CaseGraph, folder: Path) -> list[Path]:
    """The node and relationship CSV files and the import command, in ``folder``."""
    g = graph.graph
    written: list[Path] = []
    by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for node, data in g.nodes(data=True):
        by_kind[data["kind"]].append((node, data))
    for kind, nodes in by_kind.items():
        props = sorted({k for _, d in nodes for k in d} - {"kind", "label"})
        header = ["id:ID", "label:string"]
        header += [f"{p}:{_neo4j_type(d.get(p) for _, d in nodes)}" for p in props]
        header.append(":LABEL")
        path = folder / f"nodes_{NEO4J_LABELS[kind]}.csv"
        _write_csv(
            path,
            header,
            (
                [node, _cell(d.get("label")), *(_cell(d.get(p)) for p in props), NEO4J_LABELS[kind]]
                for node, d in nodes
            ),
        )
        written.append(path)
    rels: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
    for u, v, data in g.edges(data=True):
        start, end = ordered(g, u, v)
        for kind in data["kinds"]:
            rels[kind].append((start, end, data))
    for kind in (k for k in EDGE_KINDS if k in rels):
        props = list(EDGE_ATTRS[kind])
        edges = rels[kind]
        header = [":START_ID", ":END_ID", ":TYPE"]
        header += [f"{p}:{_neo4j_type(d.get(p) for _, _, d in edges)}" for p in props]
        path = folder / f"rels_{NEO4J_TYPES[kind]}.csv"
        _write_csv(
            path,
            header,
            (
                [start, end, NEO4J_TYPES[kind], *(_cell(d.get(p)) for p in props)]
                for start, end, d in edges
            ),
        )
        written.append(path)
    lines = ["neo4j-admin database import full --overwrite-destination --id-type=string"]
    lines.append(f"--array-delimiter={shlex.quote(ARRAY_DELIMITER)}")
    lines += [f"--nodes={_arg(p)}" for p in written if p.name.startswith("nodes_")]
    lines += [f"--relationships={_arg(p)}" for p in written if p.name.startswith("rels_")]
    lines.append("neo4j")
    (folder / "neo4j-admin-import.txt").write_text(
        "# Load this network into the (stopped) Neo4j 5 database 'neo4j', replacing it:\n"
        + " \\\n  ".join(lines)
        + "\n",
        encoding="utf-8",
    )
    return written


def _arg(path: Path) -> str:
    return shlex.quote(str(path.resolve()))


# -------------------------------------------------------------------------- JSON
def network_summary(case: Case, graph: CaseGraph) -> dict[str, Any]:
    """Statistics, figures and (when available) priorities, JSON-ready."""
    from lanterne.network.figures import operation_figures
    from lanterne.network.stats import network_stats

    summary: dict[str, Any] = {
        "case": case.name,
        "exported_at": utcnow().isoformat(timespec="seconds"),
        "stats": network_stats(case, graph),
        "figures": operation_figures(case),
        "priorities": None,
    }
    try:
        from lanterne.network.priorities import rank
    except ImportError:  # the prioritisation is not installed in this build
        return summary
    summary["priorities"] = [r.to_json() for r in rank(case, graph=graph)]
    return summary
