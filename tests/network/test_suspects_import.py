"""Suspects files (CSV / JSON Lines) into the case: normalised, validated, idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.commands.suspects import suspects_app, watchlist_app
from lanterne.errors import UserError
from lanterne.messaging.identity import Ident
from lanterne.network.suspects import import_suspects, list_suspects
from lanterne.network.tabular import Row, TableFile, identifier

HEADER = "Suspect ID;Name;DOB;YOB;Occupation;Region;Phones;Evidence;Notes"
ROWS = [
    "S-001;Anna  Beispiel;1984-02-29;;teacher;Bavaria;"
    '030 12345678|username:@Anna.B;"PHONE-01;PC-01";',
    "S-002;Bernd Muster;;1979;bus driver;Saxony;+33 6 12 34 56 78;;",
    "S-003;Clara;1990-13-01;;;;;;",  # line 4: no such date
    ";No Id;;;;;;;",  # line 5: no id
    "S-001;Anna again;;;;;;;",  # line 6: id already on line 2
    "S-004;Carl;;;;;icq:1234;;",  # line 7: unknown identifier kind
    "S-005;Dora;;1850;;;;;",  # line 8: year out of range
    "S-006;Emil;x;y;z",  # line 9: 5 fields where the header has 9
    "S-007;Frieda;;;;;0151 23456789;;seen at the harbour",
]
BAD_LINES = [4, 5, 6, 7, 8, 9]


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\ufeff" + "\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _set_country(case: Case, country: str) -> Case:
    """Reopen the case with ``[network] country`` set in its case.toml."""
    toml = case.root / "case.toml"
    toml.write_text(toml.read_text() + f'\n[network]\ncountry = "{country}"\n')
    return Case.open(case.root)


def _identifiers(case: Case) -> dict[str, set[tuple[str, str, str | None]]]:
    s, si, i = schema.suspect, schema.suspect_identifier, schema.identifier
    out: dict[str, set[tuple[str, str, str | None]]] = {}
    with case.store.engine.connect() as conn:
        for key, kind, value, country in conn.execute(
            select(s.c.key, i.c.kind, i.c.value, i.c.country)
            .join(si, si.c.suspect_id == s.c.id)
            .join(i, i.c.id == si.c.identifier_id)
        ):
            out.setdefault(key, set()).add((kind, value, country))
    return out


def test_import_normalises_rejects_bad_rows_and_is_idempotent(case: Case, tmp_path: Path) -> None:
    c = _set_country(case, "de")
    try:
        c.store.add_evidence(label="PHONE-01", kind="folder", location="/x", registered_by="t")
        path = _write(tmp_path / "suspects.csv", HEADER, ROWS)
        report = import_suspects(c, path)
        assert (report.rows, report.added, report.updated, report.unchanged) == (9, 3, 0, 0)
        assert [line for line, _ in report.rejected] == BAD_LINES
        reasons = dict(report.rejected)
        assert "not a date" in reasons[4]
        assert "no id" in reasons[5]
        assert "already on line 2" in reasons[6]
        assert "unknown identifier kind 'icq'" in reasons[7]
        assert "out of range" in reasons[8]
        assert "5 fields where the header has 9" in reasons[9]
        assert report.identifiers == 4 and report.evidence_labels == 2
        assert report.unknown_evidence == ["PC-01"]
        # national numbers read as the case's country's, international ones as written
        assert _identifiers(c) == {
            "S-001": {("e164", "+493012345678", "DE"), ("username", "anna.b", None)},
            "S-002": {("e164", "+33612345678", "FR")},
            "S-007": {("e164", "+4915123456789", "DE")},
        }
        listed = {s["key"]: s for s in list_suspects(c)}
        anna = listed["S-001"]
        assert anna["name"] == "Anna Beispiel"
        assert (anna["birth_date"], anna["birth_year"], anna["country"]) == (
            "1984-02-29",
            1984,
            "DE",
        )
        assert anna["items"] == [
            {"label": "PC-01", "registered": False},
            {"label": "PHONE-01", "registered": True},
        ]
        assert (anna["source"], anna["line"]) == (str(path.absolute()), 2)
        assert listed["S-002"]["birth_year"] == 1979 and listed["S-002"]["birth_date"] is None
        assert listed["S-007"]["notes"] == "seen at the harbour"

        again = import_suspects(c, path)
        assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
        assert again.rejected == report.rejected
        assert c.store.count(schema.suspect) == 3
        assert c.store.count(schema.suspect_identifier) == 4
        assert c.store.count(schema.suspect_evidence) == 2
    finally:
        c.close()


def test_changed_row_updates_the_suspect_and_replaces_its_links(case: Case, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "suspects.csv",
        "id,name,birth_year,occupation,country,identifiers,evidence",
        [
            "S-1,Jan Kowal,1970,baker,PL,+48 512 345 678;username:jk,PC-1;USB-2",
            "S-2,Ola Nowak,1980,nurse,PL,+48 513 345 678,",
        ],
    )
    import_suspects(case, path)
    _write(
        path,
        "id,name,birth_year,occupation,country,identifiers,evidence",
        [
            "S-1,Jan Kowal,1970,swimming coach,PL,601 234 567,PC-1",
            "S-2,Ola Nowak,1980,nurse,PL,+48 513 345 678,",
        ],
    )
    report = import_suspects(case, path)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    listed = {s["key"]: s for s in list_suspects(case)}
    assert listed["S-1"]["occupation"] == "swimming coach"
    assert listed["S-1"]["identifiers"] == ["e164:+48601234567"]
    assert [i["label"] for i in listed["S-1"]["items"]] == ["PC-1"]
    assert listed["S-2"]["identifiers"] == ["e164:+48513345678"]


def test_jsonl_rows_with_lists_numbers_and_a_broken_line(case: Case, tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "suspect_id": "J-1",
                "name": "Lea Roux",
                "birth_year": 1991,
                "country": "FR",
                "phones": ["06 12 34 56 78", "aci:6F1C8A3E-2B4D-4A7B-9C1D-0E2F3A4B5C6D"],
                "evidence": ["PHONE-9"],
            }
        ),
        "{not json",
        "",
        json.dumps(["a list"]),
        json.dumps({"id": "J-2", "country": "UK"}),
        json.dumps({"id": "J-3", "name": "Noé Petit", "Date of Birth": "1988-07-14", "team": "x"}),
    ]
    path = tmp_path / "suspects.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_suspects(case, path)
    assert report.added == 2
    assert [line for line, _ in report.rejected] == [2, 4, 5]
    assert "GB" in dict(report.rejected)[5]
    assert report.ignored_fields == ["team"]
    listed = {s["key"]: s for s in list_suspects(case)}
    assert listed["J-1"]["identifiers"] == [
        "aci:6f1c8a3e-2b4d-4a7b-9c1d-0e2f3a4b5c6d",
        "e164:+33612345678",
    ]
    assert listed["J-3"]["birth_date"] == "1988-07-14"


def test_identifier_forms() -> None:
    assert identifier("0049 30 12345678", "DE").value == "+493012345678"
    assert identifier("tel:030 12345678", "DE").value == "+493012345678"
    assert identifier("+49 30 1", "DE").kind == "phone"  # invalid: kept as written
    assert identifier("whatsapp-id:4930123", None).kind == "whatsapp-id"
    assert identifier("my-app-id: A1", None) == Ident("my-app-id", "A1")
    assert identifier("username:@Anna.B", None) == Ident("username", "anna.b")
    with pytest.raises(ValueError, match="not a phone number"):
        identifier("john.doe", "DE")
    with pytest.raises(ValueError, match="not a UUID"):
        identifier("aci:nope", "DE")


def test_file_level_problems_are_user_errors(case: Case, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        import_suspects(case, tmp_path / "missing.csv")
    no_id = _write(tmp_path / "no_id.csv", "name,occupation", ["A,B"])
    with pytest.raises(UserError, match="no id column"):
        import_suspects(case, no_id)
    twice = _write(tmp_path / "twice.csv", "id,suspect_id", ["A,B"])
    with pytest.raises(UserError, match="more than once"):
        import_suspects(case, twice)


def test_table_rows_tab_delimited_bad_utf8_and_broken_quotes(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(
        b'id\tname\nT-1\tA\nT-2\t\xff\xfe\n\nT-3\t"multi\nline"\nT-4\tD\nT-5\t"x"y\nT-6\tF\n'
    )
    rows = list(TableFile(path))
    assert [(r.line, r.fields if isinstance(r, Row) else r.reason) for r in rows] == [
        (2, {"id": "T-1", "name": "A"}),
        (3, "not valid UTF-8 (save the file as UTF-8)"),
        (5, {"id": "T-3", "name": "multi\nline"}),
        (7, {"id": "T-4", "name": "D"}),
        (8, "not readable as CSV: '\t' expected after '\"'"),
        (9, {"id": "T-6", "name": "F"}),
    ]


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(suspects_app, name="suspects")
    app.add_typer(watchlist_app, name="watchlist")
    return app


def test_cli_imports_lists_and_fails_on_a_missing_file(case: Case, tmp_path: Path) -> None:
    path = _write(tmp_path / "suspects.csv", HEADER, ROWS)
    runner = CliRunner()
    app = _cli()
    result = runner.invoke(app, ["suspects", "import", str(case.root), str(path)])
    assert result.exit_code == 0, result.output
    assert "3 suspects read" in result.output and "6 of 9 rows rejected" in result.output
    result = runner.invoke(app, ["suspects", "import", str(case.root), str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["unchanged"] == 3 and [r["line"] for r in data["rejected"]] == BAD_LINES
    # without a country, national numbers can only be kept as written, and the report says so
    assert data["numbers_as_written"] == ["0151 23456789", "030 12345678"]
    result = runner.invoke(app, ["suspects", "list", str(case.root), "--json"])
    assert [s["key"] for s in json.loads(result.stdout)] == ["S-001", "S-002", "S-007"]
    result = runner.invoke(app, ["suspects", "list", str(case.root)])
    assert result.exit_code == 0 and "S-007" in result.output
    result = runner.invoke(app, ["suspects", "import", str(case.root), str(tmp_path / "no.csv")])
    assert result.exit_code == 2 and "does not exist" in " ".join(result.output.split())
