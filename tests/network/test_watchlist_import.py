"""Watchlists (offence histories, register extracts): import, and hits on suspects and chat
persons with the field that matched."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from sqlalchemy import select
from typer.testing import CliRunner

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.commands.suspects import suspects_app, watchlist_app
from lanterne.messaging.service import import_chats
from lanterne.network.suspects import import_suspects, list_suspects
from lanterne.network.watchlist import (
    import_watchlist,
    list_hits,
    list_watchlists,
    match_watchlists,
    normalise_name,
)

SUSPECTS = """id,name,birth_date,birth_year,country,identifiers
S-001,Anna Beispiel,1984-02-29,,DE,030 12345678
S-002,Bernd Muster,,1979,DE,
S-008,José  Álvarez,1975-05-05,,ES,
S-009,Greta Lind,1990-01-01,,DE,
"""

CHATS = """platform,conversation_id,conversation_name,timestamp,sender_phone,sender_name,body
whatsapp,grp-1,Test group,2025-01-01T10:00:00Z,+49 30 12345679,Hans,hello
whatsapp,grp-1,Test group,2025-01-01T10:01:00Z,+4915123456780,Greta Lind,hi
"""

WATCHLIST = [
    "record_id,name,dob,phones,offence,register",
    "R-1,,,+49 30 12345678,possession,",  # the phone of suspect S-001
    "R-2,Somebody Else,,030 12345679,distribution,",  # national number: chat person Hans
    'R-3,"ALVAREZ, Jose",1975-05-05,,,',  # S-008 by name and birth date
    "R-4,Bernd Muster,1979-07-01,,,sex-offender register",  # S-002 knows only the year
    "R-5,Greta Lind,1990-01-01,,,",  # suspect S-009 by name+date; never the chat person
    "R-6,Anna Beispiel,1984-03-01,,,",  # another birth date: no hit
    "R-7,Someone,1984-02-30,,,",  # line 8: no such date
    "R-8,,,,,",  # line 9: nothing to match on
    "R-1,Again,,,,",  # line 10: record id already on line 2
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _setup(case: Case, tmp_path: Path) -> dict[str, int]:
    """Suspects and a small chat export; returns suspect keys and person names to their ids."""
    (tmp_path / "suspects.csv").write_text(SUSPECTS, encoding="utf-8")
    import_suspects(case, tmp_path / "suspects.csv")
    (tmp_path / "chats.csv").write_text(CHATS, encoding="utf-8")
    import_chats(case, "generic", tmp_path / "chats.csv", label="EXPORT-1")
    with case.store.engine.begin() as conn:
        match_watchlists(conn)
        ids = {k: i for k, i in conn.execute(select(schema.suspect.c.key, schema.suspect.c.id))}
        ids.update(
            {n: i for i, n in conn.execute(select(schema.person.c.id, schema.person.c.name))}
        )
    return ids


def _hits(case: Case) -> set[tuple[str, str, int, str, str]]:
    return {
        (h["entry"], h["subject"], h["subject_id"], h["field"], h["value"]) for h in list_hits(case)
    }


def _network(case: Case, country: str) -> Case:
    toml = case.root / "case.toml"
    toml.write_text(toml.read_text() + f'\n[network]\ncountry = "{country}"\n')
    return Case.open(case.root)


def test_hits_by_identifier_and_by_name_with_birth_date(case: Case, tmp_path: Path) -> None:
    c = _network(case, "DE")
    try:
        ids = _setup(c, tmp_path)
        path = _write(tmp_path / "register.csv", WATCHLIST)
        report = import_watchlist(c, path, "offence history")
        assert (report.rows, report.added, report.unchanged) == (9, 6, 0)
        assert [line for line, _ in report.rejected] == [8, 9, 10]
        reasons = dict(report.rejected)
        assert "not a date" in reasons[8]
        assert "nothing to match on" in reasons[9]
        assert "already on line 2" in reasons[10]
        expected = {
            ("R-1", "suspect", ids["S-001"], "e164", "+493012345678"),
            ("R-2", "person", ids["Hans"], "e164", "+493012345679"),
            ("R-3", "suspect", ids["S-008"], "name+birth_date", "ALVAREZ, Jose, 1975-05-05"),
            ("R-4", "suspect", ids["S-002"], "name+birth_year", "Bernd Muster, 1979"),
            ("R-5", "suspect", ids["S-009"], "name+birth_date", "Greta Lind, 1990-01-01"),
        }
        assert _hits(c) == expected and report.hits == 5
        # a chat person named like a record is never a hit: names alone never match persons
        assert not any(h[1] == "person" and h[2] == ids["Greta Lind"] for h in _hits(c))
        hit = next(h for h in list_hits(c) if h["entry"] == "R-4")
        assert hit["record"]["register"] == "sex-offender register"
        assert hit["subject_label"] == "suspect S-002 (Bernd Muster)"
        assert hit["entry_line"] == 5

        # never duplicated: matching again, re-importing the list or the suspects adds nothing
        with c.store.engine.begin() as conn:
            assert match_watchlists(conn) == 0
        again = import_watchlist(c, path, "offence history")
        assert (again.added, again.updated, again.unchanged, again.hits) == (0, 0, 6, 0)
        assert import_suspects(c, tmp_path / "suspects.csv").hits == 0
        assert c.store.count(schema.watchlist_hit) == 5
        assert _hits(c) == expected
        [listed] = list_watchlists(c)
        assert (listed["name"], listed["entries"], listed["hits"]) == ("offence history", 6, 5)
        by_key = {s["key"]: s for s in list_suspects(c)}
        assert [h["entry"] for h in by_key["S-001"]["hits"]] == ["R-1"]
    finally:
        c.close()


def test_a_newer_file_updates_removes_and_keeps_rejected_records(
    case: Case, tmp_path: Path
) -> None:
    c = _network(case, "DE")
    try:
        ids = _setup(c, tmp_path)
        path = _write(tmp_path / "register.csv", WATCHLIST)
        import_watchlist(c, path, "offence history")
        newer = [line for line in WATCHLIST if not line.startswith(("R-2,", "R-6,", "R-5,"))] + [
            "R-6,Anna Beispiel,1984-02-29,,,",  # corrected birth date: now a hit
            "R-5,Greta Lind,1990-02-31,,,",  # now malformed: the stored record stays
        ]
        report = import_watchlist(c, _write(path, newer), "offence history")
        assert (report.added, report.updated, report.unchanged, report.removed) == (0, 3, 1, 1)
        assert report.hits == 1
        hits = _hits(c)
        assert (
            "R-6",
            "suspect",
            ids["S-001"],
            "name+birth_date",
            "Anna Beispiel, 1984-02-29",
        ) in hits
        assert not any(h[0] == "R-2" for h in hits)
        assert any(h[0] == "R-5" for h in hits)
        assert c.store.count(schema.watchlist_entry) == 5
    finally:
        c.close()


def test_records_without_id_are_keyed_by_content(case: Case, tmp_path: Path) -> None:
    _setup(case, tmp_path)
    record = {"name": "Anna Beispiel", "birth_year": 1984, "offence": {"code": "X-1", "year": 2015}}
    lines = [
        json.dumps(record),
        json.dumps(record),  # the same record twice
        json.dumps({"name": "Beispiel Anna", "yob": "1984", "identifiers": ["+493012345678"]}),
    ]
    path = _write(tmp_path / "history.jsonl", lines)
    report = import_watchlist(case, path, "history")
    assert report.added == 2 and report.rejected == [(2, "the same record as line 1")]
    hits = list_hits(case)
    assert {(h["entry_line"], h["field"]) for h in hits} == {
        (1, "name+birth_year"),
        (3, "name+birth_year"),
        (3, "e164"),
    }
    first = next(h for h in hits if h["entry_line"] == 1)
    assert len(first["entry"]) == 64
    assert json.loads(first["record"]["offence"]) == {"code": "X-1", "year": 2015}
    again = import_watchlist(case, path, "history")
    assert (again.added, again.unchanged, again.hits) == (0, 2, 0)


def test_name_normalisation() -> None:
    assert normalise_name("José  Álvarez") == normalise_name("ALVAREZ, Jose")
    assert normalise_name("Jørgen Strauß") == normalise_name("jorgen STRAUSS")
    assert normalise_name("Seán O'Brien") == "obrien sean"
    assert normalise_name("Anna Beispiel") != normalise_name("Anna Beispiel-Muster")


def test_cli_watchlist_import_list_and_hits(case: Case, tmp_path: Path) -> None:
    _setup(case, tmp_path)
    app = typer.Typer()
    app.add_typer(suspects_app, name="suspects")
    app.add_typer(watchlist_app, name="watchlist")
    runner = CliRunner()
    path = _write(tmp_path / "register.csv", WATCHLIST)
    root = str(case.root)
    result = runner.invoke(app, ["watchlist", "import", root, str(path), "--name", "register"])
    assert result.exit_code == 0, result.output
    assert "3 of 9 rows rejected" in result.output
    result = runner.invoke(app, ["watchlist", "hits", root, "--json"])
    assert result.exit_code == 0, result.output
    assert {h["entry"] for h in json.loads(result.stdout)} == {"R-1", "R-3", "R-4", "R-5"}
    result = runner.invoke(app, ["watchlist", "list", root])
    assert result.exit_code == 0 and "register" in result.output
    result = runner.invoke(app, ["watchlist", "hits", root])
    assert result.exit_code == 0 and "4 watchlist hits" in result.output
    result = runner.invoke(app, ["watchlist", "import", root, str(tmp_path), "--name", "x"])
    assert result.exit_code == 2 and "is not a file" in " ".join(result.output.split())
