"""The hash-chained audit log: appending, reading, and catching every kind of tampering."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.commands.review import audit_app
from lanterne.review import audit


def _log(case: Case, n: int = 4) -> list[audit.AuditEntry]:
    audit.keep_witness(case)
    actions = [audit.LOGIN, audit.REVEAL, audit.CATEGORISE, audit.EXPORT, audit.LOGOUT]
    out = []
    for i in range(n):
        out.append(
            audit.record(
                case.store, "alice", actions[i % len(actions)], f"{i:064x}", {"n": i, "é": "ü"}
            )
        )
    return out


def _verify(case: Case) -> audit.AuditReport:
    return audit.verify(case.store, audit.witness_path(case))


def test_entries_chain_and_verify(case: Case) -> None:
    written = _log(case)
    assert written[0].prev == audit.GENESIS
    assert [e.prev for e in written[1:]] == [e.hash for e in written[:-1]]
    assert len({e.hash for e in written}) == 4
    report = _verify(case)
    assert (report.ok, report.entries, report.problems, report.notes) == (True, 4, [], [])
    assert (report.head, report.head_id) == (written[-1].hash, written[-1].id)
    assert audit.read_witness(audit.witness_path(case)) == (written[-1].id, written[-1].hash)

    newest = audit.entries(case.store, limit=2)
    assert [e.id for e in newest] == [written[3].id, written[2].id]
    assert newest[0].detail == {"n": 3, "é": "ü"}
    assert [e.id for e in audit.entries(case.store, action=audit.REVEAL)] == [written[1].id]
    assert audit.count_entries(case.store, user="alice") == 4
    assert audit.count_entries(case.store, target=f"{2:064x}") == 1
    assert [e.id for e in audit.iter_entries(case.store)] == [e.id for e in written]


def test_an_edited_entry_is_found(case: Case) -> None:
    written = _log(case)
    a = schema.audit
    with case.store.engine.begin() as conn:
        conn.execute(update(a).where(a.c.id == written[1].id).values(user="mallory"))
    report = _verify(case)
    assert not report.ok and report.first_bad == written[1].id
    assert f"entry {written[1].id} was edited" in report.problems[0]


def test_an_edited_entry_with_its_hash_recomputed_breaks_the_next_link(case: Case) -> None:
    written = _log(case)
    e = written[1]
    forged = audit.entry_hash(e.prev, e.id, e.at, "mallory", e.action, e.target, '{"n":1}')
    a = schema.audit
    with case.store.engine.begin() as conn:
        conn.execute(
            update(a).where(a.c.id == e.id).values(user="mallory", detail='{"n":1}', hash=forged)
        )
    report = _verify(case)
    assert not report.ok and report.first_bad == written[2].id
    assert "does not follow" in report.problems[0]


def test_a_deleted_middle_entry_is_found(case: Case) -> None:
    written = _log(case)
    a = schema.audit
    with case.store.engine.begin() as conn:
        conn.execute(delete(a).where(a.c.id == written[1].id))
    report = _verify(case)
    assert not report.ok and report.first_bad == written[2].id
    assert report.entries == 3


def test_a_deleted_last_entry_is_found_by_the_witness(case: Case) -> None:
    written = _log(case)
    a = schema.audit
    with case.store.engine.begin() as conn:
        conn.execute(delete(a).where(a.c.id == written[-1].id))
    assert audit.verify(case.store).ok  # the chain alone cannot tell
    report = _verify(case)
    assert not report.ok
    assert "deleted at the end" in report.problems[0]


def test_swapped_entries_are_found(case: Case) -> None:
    written = _log(case)
    a = schema.audit
    first, second = written[1], written[2]
    with case.store.engine.begin() as conn:
        conn.execute(update(a).where(a.c.id == first.id).values(id=-1))
        conn.execute(update(a).where(a.c.id == second.id).values(id=first.id))
        conn.execute(update(a).where(a.c.id == -1).values(id=second.id))
    report = _verify(case)
    assert not report.ok and report.first_bad == first.id


def test_a_rewritten_tail_is_found_by_the_witness(case: Case) -> None:
    """Someone with write access deletes the last entries and appends forged ones that chain
    correctly: only the witness can tell."""
    written = _log(case)
    a = schema.audit
    with case.store.engine.begin() as conn:
        conn.execute(delete(a).where(a.c.id >= written[2].id))
    # appended without the witness (another process): the chain is sound again
    case.close()
    again = Case.open(case.root)
    try:
        with again.store.engine.begin() as conn:
            audit.append(conn, "mallory", audit.LOGIN)
            audit.append(conn, "mallory", audit.LOGOUT)
        assert audit.verify(again.store).ok
        report = audit.verify(again.store, audit.witness_path(again))
        assert not report.ok
        assert report.problems[0].startswith(f"entry {written[3].id}")
    finally:
        again.close()


def test_witness_missing_or_behind_is_a_note_not_a_failure(case: Case) -> None:
    with case.store.engine.begin() as conn:  # no witness kept
        audit.append(conn, "alice", audit.LOGIN)
    report = _verify(case)
    assert report.ok and "no witness file" in report.notes[0]
    written = _log(case, 2)  # keeps the witness from now on
    case.close()
    with Case.open(case.root) as other:  # a process that does not keep it
        audit.record(other.store, "bob", audit.LOGIN)
        report = audit.verify(other.store, audit.witness_path(other))
    assert report.ok and "1 entries after" in report.notes[0]
    assert report.head_id is not None and report.head_id > written[-1].id


def test_a_rolled_back_append_leaves_no_entry_and_no_witness_change(case: Case) -> None:
    written = _log(case, 2)
    with pytest.raises(RuntimeError), case.store.engine.begin() as conn:
        audit.append(conn, "alice", audit.REVEAL, "x")
        raise RuntimeError("the audited change failed")
    assert audit.read_witness(audit.witness_path(case)) == (written[-1].id, written[-1].hash)
    audit.record(case.store, "alice", audit.LOGOUT)
    report = _verify(case)
    assert report.ok and report.entries == 3


def test_concurrent_appends_keep_one_chain(case: Case) -> None:
    audit.keep_witness(case)
    errors: list[BaseException] = []

    def work(who: str) -> None:
        try:
            for i in range(8):
                audit.record(case.store, who, audit.REVEAL, f"{who}-{i}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"user{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = _verify(case)
    assert report.ok, report.problems
    assert report.entries == 32
    assert audit.read_witness(audit.witness_path(case)) == (report.head_id, report.head)


def test_audit_commands_verify_and_show(case: Case, tmp_path: Path) -> None:
    written = _log(case, 3)
    runner = CliRunner()
    result = runner.invoke(audit_app, ["verify", str(case.root)])
    assert result.exit_code == 0, result.output
    assert "3 entries" in result.output and written[-1].hash in result.output
    shown = runner.invoke(audit_app, ["show", str(case.root), "--json", "--limit", "2"])
    assert shown.exit_code == 0
    data = json.loads(shown.output)
    assert [d["id"] for d in data] == [written[2].id, written[1].id]
    assert "reveal" in runner.invoke(audit_app, ["show", str(case.root)]).output

    a = schema.audit
    with case.store.engine.begin() as conn:
        conn.execute(update(a).where(a.c.id == written[1].id).values(target="elsewhere"))
    result = runner.invoke(audit_app, ["verify", str(case.root)])
    assert result.exit_code == 1
    assert f"at entry {written[1].id}" in result.output
    with case.store.engine.connect() as conn:
        assert conn.execute(select(a.c.target).where(a.c.id == written[1].id)).scalar() == (
            "elsewhere"
        )
