"""``lanterne priorities``: who to act on first, with the factors of each score (a thin shell
over :func:`lanterne.network.priorities.rank`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lanterne.case.workspace import Case
from lanterne.commands.common import CaseArg, console, fail, open_case, out
from lanterne.errors import LanterneError

if TYPE_CHECKING:
    from lanterne.network.graph import CaseGraph
    from lanterne.network.priorities import Ranked

EVIDENCE_LINES = 3
"""Evidence lines printed per factor by ``--explain`` (``--json`` gives all that are kept)."""


def priorities(
    case: CaseArg,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON: every factor.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="How many to show (0: all).")] = 50,
    suspects_only: Annotated[
        bool, typer.Option("--suspects-only", help="Rank suspects only, not chat persons.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Print each factor with its points and evidence.")
    ] = False,
    graph: Annotated[
        bool,
        typer.Option(
            "--graph/--no-graph",
            help="Build the case graph to score bridging between groups (slower on big cases).",
        ),
    ] = True,
) -> None:
    """Rank suspects and chat persons by a transparent score: known material held and posted
    by category, new pictures and videos, production indicators (camera serial or model of a
    seized device, GPS clusters), distribution role (posting, admin, bridging), watchlist hits
    and occupations giving access to children. Weights: the priorities section of case.toml
    (see docs/priorities.md)."""
    from lanterne.network.priorities import PriorityConfig, rank

    with open_case(case) as c:
        try:
            config = PriorityConfig.from_case(c)
            case_graph = _graph(c) if graph else None
            ranked = rank(c, graph=case_graph, limit=limit or None, suspects_only=suspects_only)
        except LanterneError as exc:
            fail(exc)
    if json_out:
        data = {"weights": config.to_json(), "ranked": [r.to_json() for r in ranked]}
        out.print_json(json.dumps(data))
        return
    if explain:
        for r in ranked:
            _print_explained(r)
        return
    print_ranked(ranked)


def _graph(case: Case) -> CaseGraph:
    """The case graph, for the bridging factor."""
    from lanterne.network.graph import build_graph

    with console.status("building the case graph"):
        return build_graph(case)


def _subject(r: Ranked) -> str:
    where = ", ".join(x for x in (r.region, r.country) if x)
    return f"{r.kind} {r.display}" + (f" ({where})" if where else "")


def print_ranked(ranked: list[Ranked]) -> None:
    table = Table("rank", "subject", "score", "top factors", title="Priorities")
    for r in ranked:
        top = ", ".join(
            f"{f.name}{f'[{f.detail}]' if f.detail else ''} {f.points:.1f}" for f in r.factors[:3]
        )
        more = f" (+{len(r.factors) - 3})" if len(r.factors) > 3 else ""
        table.add_row(str(r.rank), _subject(r), f"{r.score:.1f}", top + more)
    out.print(table)


def _print_explained(r: Ranked) -> None:
    out.print(f"[bold]{r.rank}. {_subject(r)}[/]: score {r.score:.1f}")
    if r.items:
        out.print(f"   items: {', '.join(r.items)}")
    for person, reasons in r.persons.items():
        out.print(f"   person {person}: {'; '.join(reasons)}")
    if not r.factors:
        out.print("   no factor")
    for f in r.factors:
        out.print(f"   [cyan]{f.points:6.1f}[/] {f.name}: {f.explanation}", highlight=False)
        for d in f.evidence[:EVIDENCE_LINES]:
            out.print(f"            {evidence_line(d)}", highlight=False, markup=False)
        hidden = f.evidence_total - min(len(f.evidence), EVIDENCE_LINES)
        if hidden > 0:
            out.print(f"            … {hidden} more (--json lists {len(f.evidence)})")


def evidence_line(d: dict[str, Any]) -> str:
    """One line a person reads for one piece of evidence."""
    kind = d.get("type")
    if kind == "file":
        deleted = " (deleted)" if d.get("deleted") else ""
        return f"{d.get('evidence')}: {d.get('path')}{deleted} sha256 {d['sha256'][:16]}…"
    if kind == "message":
        return f"{d.get('group')}: {d.get('evidence')}: {d.get('path')} at {d.get('sent_at')}"
    if kind == "posts":
        first = d.get("first_message") or {}
        return (
            f"{d.get('group')}: {d['messages']} messages, first at {first.get('sent_at')} "
            f"({first.get('evidence')}: {first.get('path')})"
        )
    if kind == "membership":
        return f"{d.get('role')} of {d.get('group')} ({d.get('evidence')}: {d.get('path')})"
    if kind == "device":
        facts = " ".join(str(d[k]) for k in ("make", "model") if d.get(k))
        serial = f" serial {d['serial']}" if d.get("serial") else ""
        return f"seized device {d['evidence']}: {facts}{serial}"
    if kind == "gps_cluster":
        lat, lon = d["centre"]
        return (
            f"{d['pictures']} pictures within {d['radius_m']:g} m of {lat}, {lon} "
            f"(centre: {d.get('evidence')}: {d.get('path')})"
        )
    if kind == "watchlist_hit":
        return f"{d['watchlist']} line {d['line']}: {d['field']} {d['value']}"
    if kind == "suspect_record":
        return f"{Path(d['source']).name} line {d['line']}: occupation {d['occupation']!r}"
    if kind == "groups":
        return "groups: " + ", ".join(d.get("groups", []))
    return json.dumps(d, ensure_ascii=False)
