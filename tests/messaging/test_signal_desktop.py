"""Signal Desktop reader against synthetic profiles (lanterne.synth.signal_desktop)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import phonenumbers
import pytest
import sqlcipher3

from lanterne.messaging import signal_desktop
from lanterne.messaging.records import (
    Account,
    Attachment,
    ChatDatabase,
    ChatWarning,
    Group,
    Member,
    Message,
)
from lanterne.messaging.signal_desktop import (
    MissingSecret,
    WrongSecret,
    desktop_key,
    open_profile,
)
from lanterne.synth.signal_desktop import KEY_FORMS, SCHEMAS, PlantedProfile, make_desktop_profile


@dataclass
class Read:
    accounts: dict[str, Account] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    warnings: list[ChatWarning] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    @property
    def attachments(self) -> dict[str, Attachment]:
        return {a.ref: a for m in self.messages for a in m.attachments}

    def identity(self, account_ref: str) -> str:
        account = self.accounts[account_ref]
        return account.aci or account.pni or account.e164 or account.ref


def read(db: ChatDatabase) -> Read:
    out = Read()
    for record in db.records():
        out.order.append(type(record).__name__)
        if isinstance(record, Account):
            out.accounts[record.ref] = record
        elif isinstance(record, Group):
            out.groups[record.ref] = record
        elif isinstance(record, Member):
            out.members.append(record)
        elif isinstance(record, Message):
            out.messages.append(record)
        else:
            out.warnings.append(record)
    return out


def sha256(attachment: Attachment) -> str:
    assert attachment.opener is not None
    with attachment.opener() as stream:
        return hashlib.sha256(stream.read()).hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module", params=SCHEMAS)
def generation(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One profile per schema generation, read once."""
    base = tmp_path_factory.mktemp(f"signal-{request.param}")
    planted = make_desktop_profile(
        base / "seized", seed=request.param, schema=request.param, quirks=True, v1_groups=1
    )
    before = tree_hashes(planted.profile)
    db = open_profile(planted.profile, planted.key_hex, base / "work")
    result = read(db)
    shas = {ref: sha256(a) for ref, a in result.attachments.items() if a.opener}
    return planted, db, result, shas, before


# --- the key -----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", KEY_FORMS)
def test_each_key_form_gives_the_key(tmp_path: Path, form: str) -> None:
    planted = make_desktop_profile(tmp_path, key_form=form, messages=4, attachments=0, groups=1)
    if form == "windows-gcm":
        assert planted.windows_key is not None
        assert (planted.profile / "Local State").is_file()
        assert desktop_key(planted.profile, key_hex=planted.windows_key.hex()) == planted.key_hex
        raw = tmp_path / "dpapi.bin"
        raw.write_bytes(planted.windows_key)
        assert desktop_key(planted.profile, key_file=raw) == planted.key_hex
        text = tmp_path / "dpapi.txt"
        text.write_text(planted.windows_key.hex() + "\n")
        assert desktop_key(planted.profile, key_file=text) == planted.key_hex
    else:
        got = desktop_key(planted.profile, password=planted.password)
        assert got == planted.key_hex
    config = json.loads((planted.profile / "config.json").read_text())
    assert ("key" in config) == (form == "plain")
    if form.startswith("linux"):
        assert "safeStorageBackend" in config


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ("linux-v11", ("--password", "secret-service", "KWallet")),
        ("macos-v10", ("--password", "Signal Safe Storage", "keychain")),
        ("windows-gcm", ("--key", "--key-file", "DPAPI", "Local State")),
    ],
)
def test_missing_secret_says_which(tmp_path: Path, form: str, words: tuple[str, ...]) -> None:
    planted = make_desktop_profile(tmp_path, key_form=form, messages=4, attachments=0, groups=1)
    with pytest.raises(MissingSecret) as caught:
        desktop_key(planted.profile)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize(
    ("form", "supplied", "words"),
    [
        ("linux-v11", {"password": "not the password"}, ("--password", "v11")),
        ("macos-v10", {"password": "not the password"}, ("--password", "macOS")),
        ("windows-gcm", {"key_hex": "ab" * 32}, ("--key", "DPAPI")),
    ],
)
def test_wrong_secret_says_which(
    tmp_path: Path, form: str, supplied: dict[str, str], words: tuple[str, ...]
) -> None:
    planted = make_desktop_profile(tmp_path, key_form=form, messages=4, attachments=0, groups=1)
    with pytest.raises(WrongSecret) as caught:
        desktop_key(planted.profile, **supplied)  # type: ignore[arg-type]
    for word in words:
        assert word in str(caught.value)


def test_supplied_database_key_wins(tmp_path: Path) -> None:
    planted = make_desktop_profile(tmp_path, key_form="macos-v10", messages=4, attachments=0)
    # no keychain password, but the examiner knows the database key itself
    assert desktop_key(planted.profile, key_hex=planted.key_hex.upper()) == planted.key_hex
    assert desktop_key(planted.profile, key_hex=f"x'{planted.key_hex}'") == planted.key_hex
    # a wrong --key does not stop the right password from working
    got = desktop_key(planted.profile, key_hex="00" * 32, password=planted.password)
    assert got == planted.key_hex
    with pytest.raises(WrongSecret, match="64 hexadecimal"):
        desktop_key(planted.profile, key_hex="1234")
    # a wrong --key and no password: both are named
    with pytest.raises(MissingSecret, match=r"--key does not open .*--password"):
        desktop_key(planted.profile, key_hex="00" * 32)


def test_config_key_that_does_not_open_the_database(tmp_path: Path) -> None:
    planted = make_desktop_profile(tmp_path, messages=4, attachments=0)
    (planted.profile / "config.json").write_text(json.dumps({"key": "cd" * 32}))
    with pytest.raises(WrongSecret, match="--key"):
        desktop_key(planted.profile)
    assert desktop_key(planted.profile, key_hex=planted.key_hex) == planted.key_hex


def test_wrong_key_does_not_open(tmp_path: Path) -> None:
    planted = make_desktop_profile(tmp_path, messages=4, attachments=0)
    with pytest.raises(WrongSecret, match="does not open"):
        open_profile(planted.profile, "ef" * 32, tmp_path / "work")


# --- schema generations ------------------------------------------------------------------------


def test_records_come_in_order(generation) -> None:
    _, db, result, _, _ = generation
    kinds = [k for k in result.order if k != "ChatWarning"]
    rank = {"Account": 0, "Group": 1, "Member": 2, "Message": 3}
    assert kinds == sorted(kinds, key=rank.__getitem__)
    assert db.app == "signal-desktop"
    assert result.warnings == []


def test_counts(generation) -> None:
    planted, db, result, _, _ = generation
    assert db.schema_version == planted.schema
    assert len(result.accounts) == planted.accounts
    assert len(result.groups) == len(planted.groups)
    assert len(result.messages) == planted.messages
    assert len(result.members) == sum(len(m) for m in planted.groups.values())
    assert len(result.attachments) == len(planted.attachments)
    assert Counter(m.type for m in result.messages) == Counter(planted.types)


def test_accounts(generation) -> None:
    planted, _, result, _, _ = generation
    owners = [a for a in result.accounts.values() if a.is_self]
    assert len(owners) == 1
    assert owners[0].aci == planted.owner_aci
    assert owners[0].e164 == planted.owner_e164
    by_aci = {a.aci: a for a in result.accounts.values() if a.aci}
    for aci, e164 in planted.contacts.items():
        account = by_aci[aci]
        assert account.e164 == e164
        assert account.profile_name
        assert phonenumbers.is_valid_number(phonenumbers.parse(e164))
    assert any(a.contact_name for a in result.accounts.values())
    assert any(a.username for a in result.accounts.values())
    assert any(a.pni for a in result.accounts.values())
    countries = {
        phonenumbers.region_code_for_number(phonenumbers.parse(a.e164))
        for a in result.accounts.values()
        if a.e164
    }
    assert len(countries) >= 5


def test_groups_members_and_roles(generation) -> None:
    planted, _, result, _, _ = generation
    by_key = {g.key: g for g in result.groups.values()}
    assert set(by_key) == set(planted.groups)
    for key, expected in planted.groups.items():
        group = by_key[key]
        assert group.title == planted.group_titles[key]
        got = {
            result.identity(m.account_ref): m.role
            for m in result.members
            if m.group_ref == group.ref
        }
        assert got == expected
    roles = Counter(m.role for m in result.members)
    assert {"admin", "member", "pending", "requesting", "banned"} <= set(roles)


def test_senders_and_times(generation) -> None:
    planted, _, result, _, _ = generation
    senders = Counter(result.identity(m.sender_ref) for m in result.messages if m.sender_ref)
    assert senders == Counter(planted.senders)
    owner = next(a.ref for a in result.accounts.values() if a.is_self)
    for m in result.messages:
        assert m.sent_at is not None and m.sent_at.tzinfo == UTC
        assert m.received_at is not None and m.received_at >= m.sent_at
        if m.type == "outgoing":
            assert m.sender_ref == owner
        assert (m.group_ref is None) != (m.peer_ref is None)
        if m.type in ("incoming", "outgoing"):
            assert m.body
    assert [m.ref for m in result.messages] == [f"message/{i}" for i in planted.message_ids]


def test_messages_only_in_the_wal_are_read(generation, tmp_path: Path) -> None:
    planted, _, result, _, _ = generation
    assert planted.wal_message_ids
    wal = planted.profile / "sql" / "db.sqlite-wal"
    assert wal.stat().st_size > 0
    # the main file alone lacks them: they really are only in the WAL
    alone = tmp_path / "db.sqlite"
    shutil.copyfile(planted.profile / "sql" / "db.sqlite", alone)
    conn = sqlcipher3.connect(str(alone))
    conn.execute(f"PRAGMA key = \"x'{planted.key_hex}'\"")
    count = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    conn.close()
    assert count == planted.messages - len(planted.wal_message_ids)
    read_ids = {m.ref.removeprefix("message/") for m in result.messages}
    assert set(planted.wal_message_ids) <= read_ids
    last = result.messages[-1]
    assert last.ref == f"message/{planted.wal_message_ids[-1]}" and last.attachments


def test_attachments_decrypt_to_the_planted_pictures(generation) -> None:
    planted, _, result, shas, _ = generation
    readable = {ref: sha for ref, sha in planted.attachments.items() if sha}
    assert shas == readable
    problems = {ref: a.problem[0] for ref, a in result.attachments.items() if a.problem}
    assert problems == planted.problems
    for ref, attachment in result.attachments.items():
        if planted.problems.get(ref) in ("path-traversal", "attachment-missing", "not-downloaded"):
            assert attachment.opener is None
        else:
            assert attachment.declared_sha256 == planted.attachments[ref]
            assert attachment.content_type in ("image/jpeg", "image/png")
    # an opener gives a fresh seekable stream every time
    ref, attachment = next((r, a) for r, a in result.attachments.items() if a.opener)
    assert attachment.opener is not None
    with attachment.opener() as one, attachment.opener() as two:
        one.read()
        assert one.seek(0) == 0 and hashlib.sha256(two.read()).hexdigest() == shas[ref]


def test_source_profile_is_untouched(generation) -> None:
    planted, _, _, _, before = generation
    assert tree_hashes(planted.profile) == before


# --- damaged and hostile attachments -----------------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> PlantedProfile:
    return make_desktop_profile(tmp_path / "seized", seed=7, messages=10, attachments=4)


def test_tampered_encrypted_attachment(small: PlantedProfile, tmp_path: Path) -> None:
    db = open_profile(small.profile, small.key_hex, tmp_path / "work0")
    versions = {
        ref: a for ref, a in read(db).attachments.items() if a.releaser is not None
    }  # encrypted ones have a releaser
    ref = next(iter(versions))
    path = small.attachment_files[ref]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x80
    path.write_bytes(bytes(data))
    attachment = read(open_profile(small.profile, small.key_hex, tmp_path / "work")).attachments[
        ref
    ]
    assert attachment.problem is not None and attachment.problem[0] == "mac-mismatch"
    assert attachment.opener is None


def test_missing_attachment(small: PlantedProfile, tmp_path: Path) -> None:
    ref, path = next(iter(small.attachment_files.items()))
    path.unlink()
    attachment = read(open_profile(small.profile, small.key_hex, tmp_path / "work")).attachments[
        ref
    ]
    assert attachment.problem is not None and attachment.problem[0] == "attachment-missing"
    assert attachment.opener is None


def test_path_traversal_and_symlink_escape(tmp_path: Path) -> None:
    planted = make_desktop_profile(tmp_path / "seized", messages=8, attachments=2, quirks=True)
    result = read(open_profile(planted.profile, planted.key_hex, tmp_path / "work"))
    traversal = [r for r, code in planted.problems.items() if code == "path-traversal"]
    assert traversal
    for ref in traversal:
        attachment = result.attachments[ref]
        assert attachment.problem is not None and attachment.problem[0] == "path-traversal"
        assert attachment.opener is None
    # a symbolic link inside attachments.noindex pointing out of it is refused too
    ref, path = next(iter(planted.attachment_files.items()))
    outside = tmp_path / "outside.bin"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)
    again = read(open_profile(planted.profile, planted.key_hex, tmp_path / "work2"))
    problem = again.attachments[ref].problem
    assert problem is not None and problem[0] == "path-traversal"


def test_large_attachments_spool_to_a_temporary_file(
    small: PlantedProfile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signal_desktop, "MEMORY_LIMIT", 100)
    work = tmp_path / "work"
    result = read(open_profile(small.profile, small.key_hex, work))
    attachment = next(a for a in result.attachments.values() if a.releaser is not None)
    assert attachment.opener is not None and attachment.releaser is not None
    with attachment.opener() as stream:
        name = Path(stream.name)  # type: ignore[attr-defined]
        assert work in name.parents
        digest = hashlib.sha256(stream.read()).hexdigest()
    assert digest == small.attachments[attachment.ref]
    attachment.releaser()
    assert not name.exists()


def test_owner_without_conversation_row(tmp_path: Path) -> None:
    planted = make_desktop_profile(tmp_path, owner_conversation=False, messages=8, attachments=1)
    result = read(open_profile(planted.profile, planted.key_hex, tmp_path / "work"))
    owners = [a for a in result.accounts.values() if a.is_self]
    assert len(owners) == 1
    assert owners[0].ref == "item/uuid_id"
    assert (owners[0].aci, owners[0].e164) == (planted.owner_aci, planted.owner_e164)
    assert len(result.accounts) == planted.accounts
    outgoing = [m for m in result.messages if m.type == "outgoing"]
    assert outgoing and all(m.sender_ref == "item/uuid_id" for m in outgoing)


def test_not_a_profile(tmp_path: Path) -> None:
    from lanterne.errors import NotMyFormat

    with pytest.raises(NotMyFormat):
        open_profile(tmp_path, "00" * 32, tmp_path / "work")
