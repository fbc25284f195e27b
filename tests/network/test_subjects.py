"""Who is who: a suspect's items and the chat persons that are them, with the reasons."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert

from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.evidence.registry import Device, add_evidence, set_device
from lanterne.messaging.identity import Ident, identifier_ids
from lanterne.network.subjects import load_links


def _suspect(conn: object, key: str, line: int) -> int:
    result = conn.execute(  # type: ignore[attr-defined]
        insert(schema.suspect).values(
            key=key,
            name=f"Name {key}",
            source="suspects.csv",
            line=line,
            imported_by="test",
            imported_at=utcnow(),
        )
    )
    return int(result.inserted_primary_key[0])


def test_items_and_persons_of_suspects(case: Case, tmp_path: Path) -> None:
    for label in ("PHONE-1", "PC-2", "USB-3"):
        (tmp_path / label).mkdir()
    phone = add_evidence(case, tmp_path / "PHONE-1", "PHONE-1", device=Device("phone"))
    pc = add_evidence(case, tmp_path / "PC-2", "PC-2", suspect="S-2")
    usb = add_evidence(case, tmp_path / "USB-3", "USB-3")
    camera = set_device(case, "USB-3", Device("storage", "Canon", "EOS", "123"))
    assert (camera.device_type, camera.device_serial, phone.device_type) == (
        "storage",
        "123",
        "phone",
    )
    now = utcnow()
    with case.store.engine.begin() as conn:
        s1, s2 = _suspect(conn, "S-1", 2), _suspect(conn, "S-2", 3)
        conn.execute(
            insert(schema.suspect_evidence),
            [
                {"suspect_id": s1, "label": "PHONE-1"},
                {"suspect_id": s1, "label": "USB-3"},
                {"suspect_id": s2, "label": "LATER-9"},
            ],
        )
        ids = identifier_ids(conn, [Ident("e164", "+4915100000001", "DE", 49)])
        conn.execute(
            insert(schema.suspect_identifier).values(
                suspect_id=s1, identifier_id=next(iter(ids.values()))
            )
        )
        persons = [
            conn.execute(insert(schema.person).values(created_at=now)).inserted_primary_key[0]
            for _ in range(3)
        ]
        src = conn.execute(
            insert(schema.chat_source).values(
                evidence_id=pc.id,
                provenance_key="k",
                provenance="[]",
                path="db",
                app="generic",
                status="done",
                imported_by="t",
                imported_at=now,
            )
        ).inserted_primary_key[0]
        parts = []
        for n, (person, is_self) in enumerate(zip(persons, (False, True, False), strict=True)):
            parts.append(
                conn.execute(
                    insert(schema.participant).values(
                        evidence_id=pc.id,
                        provenance_key=f"p{n}",
                        provenance="[]",
                        path="db",
                        source_id=src,
                        person_id=person,
                        is_self=is_self,
                    )
                ).inserted_primary_key[0]
            )
        conn.execute(
            insert(schema.participant_identifier).values(
                participant_id=parts[0], identifier_id=next(iter(ids.values()))
            )
        )
    with case.store.engine.connect() as conn:
        links = load_links(conn)
    assert links.evidence == {s1: {phone.id: "PHONE-1", usb.id: "USB-3"}, s2: {pc.id: "PC-2"}}
    assert links.persons[s1] == {
        persons[0]: ["e164 +4915100000001 is among the suspect's known identifiers"]
    }
    assert links.persons[s2] == {persons[1]: ["owner of the chat database on PC-2"]}
    assert links.suspects_of_person() == {persons[0]: {s1}, persons[1]: {s2}}
    assert links.suspect_of_evidence()[usb.id] == s1
