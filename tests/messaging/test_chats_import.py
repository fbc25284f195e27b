"""``chats import`` end to end: Signal Desktop profiles given by path or found in an item,
their attachments hashed and matched, persons and groups across devices."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.evidence.registry import add_evidence
from lanterne.hashsets.formats import by_name
from lanterne.hashsets.importer import import_hashset
from lanterne.hashsets.records import HashRecord, HashSetHeader
from lanterne.ingest.pipeline import Ingestor
from lanterne.messaging.service import Secrets, import_chats
from lanterne.report.chats import chats_summary
from lanterne.synth.signal_desktop import make_desktop_profile


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _roles(case: Case) -> dict[str, dict[str, str]]:
    ms, g, p, pi, i = (
        schema.membership,
        schema.chat_group,
        schema.participant,
        schema.participant_identifier,
        schema.identifier,
    )
    out: dict[str, dict[str, str]] = {}
    with case.store.engine.connect() as conn:
        rows = conn.execute(
            select(g.c.key, i.c.value, ms.c.role)
            .join(g, g.c.id == ms.c.chat_group_id)
            .join(p, p.c.id == ms.c.participant_id)
            .join(pi, pi.c.participant_id == p.c.id)
            .join(i, i.c.id == pi.c.identifier_id)
            .where(i.c.kind == "aci", ms.c.role != "former")
        )
        for key, aci, role in rows:
            out.setdefault(key, {})[aci] = role
    return out


def test_desktop_profile_by_path(case: Case, tmp_path: Path) -> None:
    planted = make_desktop_profile(tmp_path / "Signal", key_form="linux-v11", password="s3cret")
    before = _tree_digest(planted.profile)
    with pytest.raises(UserError, match="--password"):
        import_chats(case, "signal-desktop", planted.profile, label="PC-07")
    results, _ = import_chats(
        case, "signal-desktop", planted.profile, secrets=Secrets(password="s3cret")
    )
    r = results[0]
    assert (r.app, r.schema_version, r.already) == ("signal-desktop", planted.schema, False)
    assert r.counts["messages"] == planted.messages
    assert r.counts["accounts"] == planted.accounts
    assert _roles(case) == planted.groups
    summary = chats_summary(case)
    assert summary["messages"] == planted.messages
    at = schema.attachment
    with case.store.engine.connect() as conn:
        got = dict(
            conn.execute(select(at.c.path, at.c.sha256).where(at.c.state == "ingested")).all()
        )
    expected = {ref: sha for ref, sha in planted.attachments.items() if sha}
    assert {p.rsplit("!/", 1)[1]: s for p, s in got.items()} == expected
    assert _tree_digest(planted.profile) == before  # the evidence is only read
    again, _ = import_chats(
        case, "signal-desktop", planted.profile, secrets=Secrets(password="s3cret")
    )
    assert again[0].already


def test_desktop_profile_found_in_a_zipped_item(case: Case, tmp_path: Path) -> None:
    planted = make_desktop_profile(tmp_path / "p" / "Signal", key_form="plain")
    seized = tmp_path / "seized"
    seized.mkdir()
    with zipfile.ZipFile(seized / "home.zip", "w") as z:
        for f in planted.profile.rglob("*"):
            if f.is_file():
                arc = "user/.config/Signal/" + str(f.relative_to(planted.profile))
                z.write(f, arc)
    ev = add_evidence(case, seized, "LAPTOP-2")
    Ingestor(case, workers=2).run()
    known_ref, known_sha = next((r, s) for r, s in planted.attachments.items() if s)
    sums = tmp_path / "known.sha256"
    by_name("sumfile").write(
        sums, HashSetHeader("sumfile", name="k"), [HashRecord("1", sha256=known_sha)]
    )
    import_hashset(case, sums, "known-bad", name="partner")
    results, matched = import_chats(case, "signal-desktop", evidence="LAPTOP-2")
    assert matched >= 1
    assert results[0].counts["messages"] == planted.messages
    summary = chats_summary(case)
    assert summary["attachments"]["known_bad"] >= 1
    at = schema.attachment
    with case.store.engine.connect() as conn:
        path = conn.execute(select(at.c.path).where(at.c.sha256 == known_sha)).scalars().first()
    assert path == f"home.zip!/user/.config/Signal/sql/db.sqlite!/{known_ref}"
    assert ev.label == summary["sources"][0]["evidence"]


def test_nothing_found_in_an_item_says_so(case: Case, tmp_path: Path) -> None:
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "a.txt").write_text("nothing here")
    add_evidence(case, seized, "USB-1")
    with pytest.raises(UserError, match="not ingested yet"):
        import_chats(case, "signal-desktop", evidence="USB-1")


def test_android_backup_and_a_second_device_share_the_group(case: Case, tmp_path: Path) -> None:
    from lanterne.synth.signal_android import make_signal_backup

    planted = make_signal_backup(tmp_path / "phone", recipients=30, groups=3, messages=200)
    assert planted.path is not None and planted.passphrase is not None
    before = hashlib.sha256(planted.path.read_bytes()).hexdigest()
    with pytest.raises(UserError, match="passphrase"):
        import_chats(case, "signal-android-backup", planted.path, label="PHONE-01")
    with pytest.raises(UserError, match="does not open"):
        import_chats(
            case,
            "signal-android-backup",
            planted.path,
            secrets=Secrets(passphrase="1" * 30),
        )
    results, _ = import_chats(
        case,
        "signal-android-backup",
        planted.path,
        secrets=Secrets(passphrase=planted.passphrase),
    )
    counts = results[0].counts
    assert counts["messages"] == planted.messages
    assert counts["accounts"] == planted.persons
    assert hashlib.sha256(planted.path.read_bytes()).hexdigest() == before
    at = schema.attachment
    with case.store.engine.connect() as conn:
        got = dict(
            conn.execute(select(at.c.path, at.c.sha256).where(at.c.sha256.is_not(None))).all()
        )
    assert {p.rsplit("!/", 1)[1]: s for p, s in got.items()} == planted.attachments
    # the same group seen in a partner's export of another device: one group, two items
    group_id, key = next(iter(planted.group_keys.items()))
    export = tmp_path / "partner" / "export.jsonl"
    export.parent.mkdir()
    row = {
        "platform": "signal",
        "conversation_id": key.split(":")[1],
        "timestamp": 1700000000,
        "sender_phone": planted.owner_e164,
        "body": "seen elsewhere",
    }
    export.write_text(json.dumps(row) + "\n")
    import_chats(case, "generic", export, label="PARTNER-2")
    summary = chats_summary(case)
    shared = next(g for g in summary["groups"] if g["key"] == key)
    assert shared["items"] == 2
    assert shared["title"] == planted.group_titles[group_id]
    owner = schema.participant
    with case.store.engine.connect() as conn:
        persons = set(
            conn.execute(select(owner.c.person_id).where(owner.c.is_self.is_(True))).scalars()
        )
    assert len(persons) == 1  # the owner's number joins the two accounts into one person
