"""Generic chat exports: the documented CSV / JSON Lines layout into the case's model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.hashsets.formats import by_name
from lanterne.hashsets.importer import import_hashset
from lanterne.hashsets.records import HashRecord, HashSetHeader
from lanterne.messaging.service import import_chats
from lanterne.report.chats import chats_summary
from lanterne.synth.chat_export import make_generic_export


def _warnings(case: Case) -> dict[str, list[str]]:
    w = schema.warning
    out: dict[str, list[str]] = {}
    with case.store.engine.connect() as conn:
        for reason, detail in conn.execute(select(w.c.reason, w.c.detail)):
            out.setdefault(reason, []).append(detail)
    return out


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_generic_export_imports_people_groups_messages_and_attachments(
    case: Case, tmp_path: Path, fmt: str
) -> None:
    planted = make_generic_export(tmp_path / "export", fmt)
    before = hashlib.sha256(planted.path.read_bytes()).hexdigest()
    results, _ = import_chats(case, "generic", planted.path, label="EXPORT-1")
    assert len(results) == 1 and not results[0].already
    assert results[0].counts["messages"] == planted.messages
    summary = chats_summary(case)
    assert summary["messages"] == planted.messages
    assert summary["persons"] == planted.persons
    assert summary["persons_by_country"] == planted.countries
    by_title = {g["title"]: g for g in summary["groups"]}
    assert {t: by_title[t]["members"] for t in planted.group_members} == planted.group_members
    harbour = next(g for g in summary["groups"] if g["title"] == "Harbour")
    assert harbour["key"] == f"signal-v2:{planted.signal_group_id.hex()}"
    states = summary["attachments"]["by_state"]
    assert states == {"ingested": 3, "referenced": 1, "missing": 2}
    warnings = _warnings(case)
    assert {"malformed-row", "attachment-missing", "path-traversal"} <= set(warnings)
    lines = sorted(int(d.split()[1].rstrip(":")) for d in warnings["malformed-row"])
    assert lines == planted.malformed_lines
    # attachments are contents of the case, and the one named by hash only is tied to it
    at = schema.attachment
    with case.store.engine.connect() as conn:
        held = set(conn.execute(select(at.c.sha256).where(at.c.sha256.is_not(None))).scalars())
        assert held == set(planted.attachment_sha256.values())
        # sender attribution: messages per phone number
        m, p, pi, i = (
            schema.message,
            schema.participant,
            schema.participant_identifier,
            schema.identifier,
        )
        rows = conn.execute(
            select(i.c.value, func.count(func.distinct(m.c.id)))
            .join(p, p.c.id == m.c.sender_id)
            .join(pi, pi.c.participant_id == p.c.id)
            .join(i, i.c.id == pi.c.identifier_id)
            .where(i.c.kind == "e164")
            .group_by(i.c.value)
        ).all()
        assert dict(rows) == planted.sender_counts
    assert hashlib.sha256(planted.path.read_bytes()).hexdigest() == before


def test_reimport_is_a_no_op_and_known_attachment_is_matched(case: Case, tmp_path: Path) -> None:
    planted = make_generic_export(tmp_path / "export")
    import_chats(case, "generic", planted.path)
    counts = {
        t.name: case.store.count(t) for t in (schema.message, schema.attachment, schema.person)
    }
    known = tmp_path / "known.sha256"
    by_name("sumfile").write(
        known,
        HashSetHeader("sumfile", name="k"),
        [HashRecord("1", sha256=planted.referenced_sha256)],
    )
    import_hashset(case, known, "known-bad", name="partner-list")
    results, _ = import_chats(case, "generic", planted.path)
    assert results[0].already
    assert counts == {
        t.name: case.store.count(t) for t in (schema.message, schema.attachment, schema.person)
    }
    summary = chats_summary(case)
    # the matched picture is attached twice: by path (Telegram) and by hash only (Signal)
    assert summary["attachments"]["known_bad"] == 2


def test_same_person_across_platforms_is_joined_with_its_reason(case: Case, tmp_path: Path) -> None:
    planted = make_generic_export(tmp_path / "export")
    import_chats(case, "generic", planted.path)
    p = schema.person
    with case.store.engine.connect() as conn:
        reasons = [r for r in conn.execute(select(p.c.reason)).scalars() if r != "[]"]
    assert any("identical e164" in r for r in reasons)
    assert case.store.count(schema.person) == planted.persons
    assert case.store.count(schema.participant) > planted.persons  # one account per platform


def test_missing_columns_are_named(case: Case, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("platform,body\nsignal,hello\n")
    with pytest.raises(UserError, match="conversation_id, timestamp"):
        import_chats(case, "generic", bad)
