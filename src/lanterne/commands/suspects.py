"""``lanterne suspects …`` and ``lanterne watchlist …``: import the investigators' suspects and
records to check them against, and show the hits (a thin shell over
:mod:`lanterne.network.suspects` and :mod:`lanterne.network.watchlist`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lanterne.commands.common import CaseArg, console, fail, open_case, out
from lanterne.errors import LanterneError
from lanterne.network.tabular import ImportReport

suspects_app = typer.Typer(help="Import and list the suspects of the case.", no_args_is_help=True)
watchlist_app = typer.Typer(
    help="Import records to check people against (offence histories, register extracts) and "
    "list their hits.",
    no_args_is_help=True,
)

FileArg = Annotated[Path, typer.Argument(help="The CSV or JSON Lines file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@suspects_app.command("import")
def suspects_import(case: CaseArg, path: FileArg, as_json: JsonOpt = False) -> None:
    """Import a suspects file: one suspect a row with the fields id (required), name,
    birth_date (YYYY-MM-DD) or birth_year, occupation, region, address, country (ISO-2;
    default: the country set in the network section of case.toml), identifiers (phone
    numbers and kind:value, separated by ; or |), evidence (item labels, separated by ;),
    notes. Malformed rows are listed and skipped; importing the same file again changes
    nothing."""
    from lanterne.network.suspects import import_suspects

    with open_case(case) as c:
        try:
            report = import_suspects(c, path)
        except LanterneError as exc:
            fail(exc)
    _show_report(report, "suspects", as_json)


@suspects_app.command("list")
def suspects_list(case: CaseArg, as_json: JsonOpt = False) -> None:
    """The suspects with their identifiers, items, chat persons and watchlist hits."""
    from lanterne.network.suspects import list_suspects

    with open_case(case) as c:
        try:
            rows = list_suspects(c)
        except LanterneError as exc:
            fail(exc)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(
        "id",
        "name",
        "born",
        "occupation",
        "region",
        "identifiers",
        "items",
        "persons",
        "hits",
        title=f"{len(rows):,} suspects",
    )
    for s in rows:
        _add_row(
            table,
            s["key"],
            s["name"] or "",
            s["birth_date"] or (str(s["birth_year"]) if s["birth_year"] else ""),
            s["occupation"] or "",
            ", ".join(x for x in (s["region"], s["country"]) if x),
            "\n".join(s["identifiers"]),
            "\n".join(
                i["label"] + ("" if i["registered"] else " (not registered)") for i in s["items"]
            ),
            ", ".join(str(p["person"]) for p in s["persons"]),
            "\n".join(
                f"{h['watchlist']} {h['entry']}: {h['field']} ({h['via']})" for h in s["hits"]
            ),
        )
    out.print(table)


@watchlist_app.command("import")
def watchlist_import(
    case: CaseArg,
    path: FileArg,
    name: Annotated[
        str, typer.Option(help="The watchlist's name, e.g. 'offence history 2026-05'.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Import (or refresh) a watchlist: one record a row with the fields record_id, name,
    birth_date (YYYY-MM-DD) or birth_year, identifiers, country; any other column is kept with
    the record. Then match suspects (identifiers; name with birth date or year) and chat
    persons (identifiers only) against every watchlist."""
    from lanterne.network.watchlist import import_watchlist

    with open_case(case) as c:
        try:
            report = import_watchlist(c, path, name)
        except LanterneError as exc:
            fail(exc)
    _show_report(report, "records", as_json)


@watchlist_app.command("list")
def watchlist_list(case: CaseArg, as_json: JsonOpt = False) -> None:
    """The imported watchlists."""
    from lanterne.network.watchlist import list_watchlists

    with open_case(case) as c:
        rows = list_watchlists(c)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("name", "entries", "hits", "imported", "source", title="Watchlists")
    for w in rows:
        _add_row(
            table,
            w["name"],
            f"{w['entries']:,}",
            f"{w['hits']:,}",
            f"{w['imported_at']} by {w['imported_by']}",
            w["source"],
        )
    out.print(table)


@watchlist_app.command("hits")
def watchlist_hits(case: CaseArg, as_json: JsonOpt = False) -> None:
    """Which record matches which suspect or chat person, and on what."""
    from lanterne.network.watchlist import list_hits

    with open_case(case) as c:
        rows = list_hits(c)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(
        "watchlist",
        "record",
        "line",
        "subject",
        "matched on",
        "value",
        title=f"{len(rows):,} watchlist hits",
    )
    for h in rows:
        _add_row(
            table,
            h["watchlist"],
            h["entry_name"] or h["entry"],
            str(h["entry_line"]),
            h["subject_label"],
            h["field"],
            h["value"],
        )
    out.print(table)


def _add_row(table: Table, *cells: str) -> None:
    """A row of data: shown as written (a name like ``[bold]`` is not markup)."""
    table.add_row(*(Text(cell) for cell in cells))


def _show_report(report: ImportReport, what: str, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(report.to_json()))
    else:
        _print_report(report, what)


def _print_report(report: ImportReport, what: str) -> None:
    console.print(
        f"{report.accepted:,} {what} read from {report.source}: {report.added:,} added, "
        f"{report.updated:,} updated, {report.unchanged:,} unchanged"
        + (f", {report.removed:,} removed" if report.removed else "")
    )
    detail: list[str] = [f"{report.identifiers:,} identifiers"]
    if report.evidence_labels:
        detail.append(f"{report.evidence_labels:,} item labels")
    console.print(", ".join(detail) + f"; {report.hits:,} new watchlist hits")
    if report.unknown_evidence:
        console.print("items not registered (yet): " + escape(", ".join(report.unknown_evidence)))
    if report.numbers_as_written:
        console.print(
            f"[yellow]{len(report.numbers_as_written):,} numbers are not valid international "
            "numbers[/] and match only as written (a national number needs a country column "
            "or \\[network] country in case.toml): "
            + escape(", ".join(report.numbers_as_written[:10]))
            + (" …" if len(report.numbers_as_written) > 10 else "")
        )
    if report.ignored_fields:
        console.print("[yellow]fields ignored:[/] " + escape(", ".join(report.ignored_fields)))
    if report.rejected:
        table = Table("line", "reason", title=f"{len(report.rejected):,} rows rejected")
        for line, reason in report.rejected:
            _add_row(table, str(line), reason)
        console.print(table)
        console.print(
            f"[bold yellow]{len(report.rejected):,} of {report.rows:,} rows rejected[/]: "
            "correct them and import the file again"
        )
