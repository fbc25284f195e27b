"""``lanterne network …``: statistics, exports and the operation's figures (a thin shell over
:mod:`lanterne.network.stats`, :mod:`lanterne.network.export` and
:mod:`lanterne.network.figures`)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lanterne.commands.common import CaseArg, console, fail, open_case, out
from lanterne.errors import LanterneError

network_app = typer.Typer(
    help="The case's network: who is where, groups, bridges, communities; exports for Gephi "
    "and Neo4j; the operation's figures.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class ExportFormat(StrEnum):
    graphml = "graphml"
    gexf = "gexf"
    neo4j = "neo4j"
    json = "json"


def _bar(n: int, most: int, width: int = 30) -> str:
    return "█" * max(1, round(width * n / most)) if most and n else ""


def _who(p: dict[str, Any]) -> str:
    suspects = f" [bold]({', '.join(p['suspects'])})[/]" if p.get("suspects") else ""
    return f"{p['label']}{suspects}"


@network_app.command("stats")
def stats_cmd(
    case: CaseArg,
    as_json: JsonOpt = False,
    top: Annotated[int, typer.Option(help="Rows per table.")] = 20,
) -> None:
    """Persons by country, groups, overlaps, top posters, admins, bridges, communities."""
    from lanterne.network.stats import network_stats

    with open_case(case) as c:
        try:
            data = network_stats(c, top=top)
        except LanterneError as exc:
            fail(exc)
    if as_json:
        out.print_json(json.dumps(data))
        return
    g = data["graph"]
    out.print(
        f"[bold]{data['persons']:,} persons[/] in {data['countries']:,} countries; "
        f"{len(data['groups']):,} groups; graph of {g['nodes']:,} nodes and {g['edges']:,} edges"
    )
    countries = list(data["persons_by_country"].items())
    table = Table("country", "persons", "", title="Persons by country (of their numbers)")
    most = max((n for _, n in countries), default=0)
    for code, n in countries[:top]:
        table.add_row(code, f"{n:,}", _bar(n, most))
    out.print(table)
    s = data["suspects"]
    if s["total"]:
        regions = ", ".join(f"{r} {n}" for r, n in s["by_region"].items())
        out.print(
            f"suspects: {s['total']:,}; in {data['case_country'] or '?'}: "
            f"{s['in_case_country']:,}" + (f" ({regions})" if regions else "")
        )
    table = Table("group", "members", "by role", "messages", "attachments", "known", title="Groups")
    for grp in data["groups"][:top]:
        roles = ", ".join(f"{r} {n}" for r, n in grp["by_role"].items())
        table.add_row(
            grp["title"],
            f"{grp['members']:,}",
            roles,
            f"{grp['messages']:,}",
            f"{grp['attachments']:,}",
            f"{grp['known_attachments']:,}",
        )
    out.print(table)
    if data["group_overlaps"]:
        table = Table("group", "group", "shared members", "Jaccard", title="Group overlaps")
        for o in data["group_overlaps"]:
            table.add_row(o["a"]["title"], o["b"]["title"], f"{o['shared']:,}", f"{o['jaccard']}")
        out.print(table)
    posters = data["top_posters"]
    if posters["overall"]:
        table = Table(
            "person", "country", "known contents posted", title="Top posters of known material"
        )
        for p in posters["overall"]:
            table.add_row(_who(p), p["country"] or "", f"{p['contents']:,}")
        out.print(table)
        for cat in posters["by_category"]:
            shown = ", ".join(f"{_who(p)} {p['contents']}" for p in cat["persons"][:5])
            out.print(f"  category {cat['category']} ({cat['scheme']}): {shown}")
    if data["administrators"]:
        table = Table("administrator", "country", "groups administered", title="Administrators")
        for a in data["administrators"][:top]:
            table.add_row(_who(a), a["country"] or "", ", ".join(x["title"] for x in a["groups"]))
        out.print(table)
    if data["bridges"]:
        table = Table("person", "country", "betweenness", "groups", title="Bridges between groups")
        for b in data["bridges"]:
            groups = ", ".join(x["title"] for x in b["groups"][:6])
            more = len(b["groups"]) - 6
            table.add_row(
                _who(b),
                b["country"] or "",
                f"{b['betweenness']:.4f}",
                groups + (f" … +{more}" if more > 0 else ""),
            )
        out.print(table)
    com = data["communities"]
    if com["count"]:
        table = Table("size", "persons", "groups", "main groups", title="Communities (Louvain)")
        for x in com["largest"]:
            table.add_row(
                f"{x['size']:,}",
                f"{x['persons']:,}",
                f"{x['group_count']:,}",
                ", ".join(grp["title"] for grp in x["groups"]),
            )
        out.print(f"{com['count']:,} communities")
        out.print(table)
    for link in data["suspect_links"][:top]:
        out.print(
            f"suspects {link['a_key']} – {link['b_key']} {link['kind']}: {link['explanation']}"
        )


@network_app.command("export")
def export_cmd(
    case: CaseArg,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="The format to write.")],
    output: Annotated[
        Path,
        typer.Option("--out", "-o", help="The file to write (a new folder for neo4j)."),
    ],
) -> None:
    """The network as GraphML or GEXF (Gephi), Neo4j import CSV files, or a JSON summary."""
    from lanterne.network.export import export_network

    with open_case(case) as c:
        try:
            written = export_network(c, fmt.value, output)
        except LanterneError as exc:
            fail(exc)
    console.print(f"network written to {written}")
    if fmt is ExportFormat.neo4j:
        console.print(f"load it with the command in {written / 'neo4j-admin-import.txt'}")


@network_app.command("figures")
def figures_cmd(case: CaseArg, as_json: JsonOpt = False) -> None:
    """Participants and countries, suspects by region and on record, items seized, media."""
    from lanterne.network.figures import operation_figures

    with open_case(case) as c:
        try:
            data = operation_figures(c)
        except LanterneError as exc:
            fail(exc)
    if as_json:
        out.print_json(json.dumps(data))
        return
    for line in figure_lines(data):
        out.print(line)


def _tb(n: int) -> str:
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,} bytes"


def figure_lines(data: dict[str, Any]) -> list[str]:
    """The figures as a short block of sentences."""
    p, s, seized, media = data["participants"], data["suspects"], data["seized"], data["media"]
    lines = [
        f"{p['persons']:,} participants ({p['accounts']:,} accounts) in {p['countries']:,} "
        f"countries, {p['groups']:,} groups, {p['messages']:,} messages",
        f"{s['identified']:,} suspects identified, {s['in_case_country']:,} in "
        f"{s['case_country'] or '(no case country)'}",
    ]
    if s["by_region"]:
        lines.append("  by region: " + ", ".join(f"{r} {n}" for r, n in s["by_region"].items()))
    rec = data["on_record"]
    lines.append(f"{rec['suspects']:,} suspects already on record")
    for w in rec["by_watchlist"]:
        lines.append(
            f"  {w['watchlist']}: {w['suspects']:,} suspects, {w['persons']:,} chat persons "
            f"({w['entries']:,} records)"
        )
    child = data["child_access"]
    if child is not None:
        cats = ", ".join(f"{k} {n}" for k, n in child["by_category"].items())
        lines.append(
            f"{child['suspects']:,} suspects with an occupation giving access to children"
            + (f" ({cats})" if cats else "")
        )
    devices = ", ".join(
        f"{d['items']:,} {name}" for name, d in seized["by_device"].items() if d["items"]
    )
    lines.append(f"{seized['items']:,} items seized ({devices or 'none'}), {_tb(seized['bytes'])}")
    for name in ("pictures", "videos"):
        m = media[name]
        lines.append(
            f"{m['contents']:,} {name} ({m['occurrences']:,} files): {m['known']['contents']:,} "
            f"known, {m['new']['contents']:,} new"
        )
    return lines
