"""Signal Android backups: synthetic backups (v0 and v1) restored and read back as records."""

from __future__ import annotations

import hashlib
import hmac
import io
import sqlite3
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import phonenumbers
import pytest

from lanterne.errors import CorruptData, NotMyFormat, UserError
from lanterne.messaging import protowire as pw
from lanterne.messaging import signal_backup as sb
from lanterne.messaging.records import Account, Attachment, ChatWarning, Group, Member, Message
from lanterne.messaging.signal_backup import (
    DB_NAME,
    SignalBackup,
    WrongPassphrase,
    derive_keys,
    open_backup,
    passphrase_digits,
)
from lanterne.synth.signal_android import Planted, make_signal_backup


def small_backup(folder: Path, seed: int, version: int, extras: int) -> Planted:
    """30 people, 4 groups (+ ``extras`` v1 group), 600 messages, 6 pictures (+ ``extras`` × 2
    attachment rows without data)."""
    return make_signal_backup(
        folder, seed=seed, recipients=30, groups=4, messages=600, attachments=6,
        missing_attachments=2 * extras, legacy_groups=extras, version=version,
    )  # fmt: skip


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    return small_backup(tmp_path_factory.mktemp("v1"), seed=11, version=1, extras=1)


@pytest.fixture(scope="module")
def planted_v0(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    return small_backup(tmp_path_factory.mktemp("v0"), seed=12, version=0, extras=0)


def restore(planted: Planted, workdir: Path, path: Path | None = None) -> SignalBackup:
    assert planted.passphrase is not None and planted.path is not None
    return open_backup(path or planted.path, planted.passphrase, workdir)


def by_type(backup: SignalBackup) -> dict[type, list[object]]:
    out: dict[type, list[object]] = {}
    for record in backup.database.records():
        out.setdefault(type(record), []).append(record)
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_everything(planted: Planted, backup: SignalBackup) -> None:
    """Every planted fact comes back."""
    recs = by_type(backup)
    accounts = recs[Account]
    assert len(accounts) == planted.persons
    selves = [a for a in accounts if isinstance(a, Account) and a.is_self]
    assert [a.ref for a in selves] == [f"recipient/{planted.owner_id}"]
    assert selves[0].aci == planted.owner_aci and selves[0].e164 == planted.owner_e164
    for a in accounts:
        assert isinstance(a, Account) and a.e164 and a.aci and a.pni and a.profile_name
        assert phonenumbers.is_valid_number(phonenumbers.parse(a.e164))

    groups = {g.ref: g for g in recs[Group] if isinstance(g, Group)}
    assert {ref: g.key for ref, g in groups.items()} == {
        f"group/{gid}": key for gid, key in planted.group_keys.items()
    }
    assert {ref: g.title for ref, g in groups.items()} == {
        f"group/{gid}": t for gid, t in planted.group_titles.items()
    }

    roles: dict[tuple[str, str], str] = {}
    for m in recs[Member]:
        assert isinstance(m, Member)
        assert m.ref == f"{m.group_ref}/member/{m.account_ref.split('/')[1]}"
        roles[(m.group_ref, m.account_ref)] = m.role
    expected: dict[tuple[str, str], str] = {}
    for gid, members in planted.members.items():
        for rid in members:
            role = "admin" if rid in planted.admins[gid] else "member"
            expected[(f"group/{gid}", f"recipient/{rid}")] = role
        for rid in planted.pending[gid]:
            expected[(f"group/{gid}", f"recipient/{rid}")] = "pending"
    assert roles == expected

    messages = [m for m in recs[Message] if isinstance(m, Message)]
    assert [m.ref for m in messages] == [f"message/{i}" for i in range(1, planted.messages + 1)]
    outgoing = 0
    for m in messages:
        i = int(m.ref.split("/")[1])
        assert m.sender_ref == f"recipient/{planted.senders[i - 1]}"
        tid = planted.thread_of_message[i - 1]
        if tid in planted.group_of_thread:
            assert m.group_ref == f"group/{planted.group_of_thread[tid]}" and m.peer_ref is None
        else:
            assert m.peer_ref == f"recipient/{planted.peer_of_thread[tid]}" and m.group_ref is None
        assert m.sent_at is not None and m.sent_at.tzinfo is not None and m.body
        assert m.received_at is not None and m.received_at >= m.sent_at
        outgoing += m.type == "outgoing"
        assert m.type in ("incoming", "outgoing")
        assert (m.type == "outgoing") == (m.sender_ref == f"recipient/{planted.owner_id}")
    assert outgoing == planted.outgoing

    attachments = [a for m in messages for a in m.attachments]
    assert len(attachments) == len(planted.attachments) + len(planted.missing)
    for att in attachments:
        if att.ref in planted.missing:
            assert att.opener is None and att.problem is not None
            assert att.problem[0] == "attachment-missing"
            continue
        assert att.problem is None and att.opener is not None
        data = att.opener().read()
        assert hashlib.sha256(data).hexdigest() == planted.attachments[att.ref]
        assert att.declared_sha256 == planted.attachments[att.ref]
        assert att.size == len(data) and att.content_type in ("image/jpeg", "image/png")
        assert data[:2] == b"\xff\xd8" or data[:4] == b"\x89PNG"
    assert ChatWarning not in recs


def test_v1_backup_gives_back_everything_planted(planted: Planted, tmp_path: Path) -> None:
    backup = restore(planted, tmp_path)
    assert backup.backup_version == 1 and backup.complete and backup.warnings == []
    assert backup.database_version == 270 and backup.db_path == tmp_path / DB_NAME
    assert len(planted.regions) >= 25  # invented numbers from many countries
    check_everything(planted, backup)


def test_v0_backup_gives_back_everything_planted(planted_v0: Planted, tmp_path: Path) -> None:
    backup = restore(planted_v0, tmp_path)
    assert backup.backup_version == 0 and backup.complete
    check_everything(planted_v0, backup)


def test_restored_tables_equal_the_source_database(planted: Planted, tmp_path: Path) -> None:
    """Row for row and type for type, what the phone had (uint64 → int64 included)."""
    backup = restore(planted, tmp_path)
    src = sqlite3.connect(planted.db_path)
    out = sqlite3.connect(backup.db_path)
    tables = [
        name
        for (name,) in src.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name NOT LIKE 'message_fts%'"
        )
    ]
    assert {"recipient", "groups", "group_membership", "thread", "message", "attachment"} <= set(
        tables
    )
    for table in tables:
        query = f"SELECT *, {', '.join('typeof(' + c[1] + ')' for c in src.execute(f'PRAGMA table_info({table})'))} FROM {table} ORDER BY rowid"  # noqa: E501
        assert src.execute(query).fetchall() == out.execute(query).fetchall(), table
    assert out.execute("SELECT COUNT(*) FROM message WHERE date_server = -1").fetchone() == (0,)
    assert (
        src.execute("SELECT * FROM sqlite_sequence").fetchall()
        == out.execute("SELECT * FROM sqlite_sequence").fetchall()
    )
    skipped = dict(
        out.execute("SELECT reason, COUNT(*) FROM lanterne_skipped_statement GROUP BY 1")
    )
    assert skipped["index"] >= 10 and skipped["trigger"] == 2 and skipped["virtual-table"] == 1
    assert backup.create_app_indexes() == skipped["index"]
    kinds = Counter(b.kind for b in backup.blobs())
    assert kinds == {"attachment": len(planted.attachments), "avatar": 1}
    avatar = backup.blobs("avatar")[0]
    assert avatar.name == "1" and backup.open_blob(avatar).read()[:2] == b"\xff\xd8"


def test_source_file_is_left_byte_identical(planted: Planted, tmp_path: Path) -> None:
    assert planted.path is not None
    before = sha256(planted.path)
    mtime = planted.path.stat().st_mtime_ns
    backup = restore(planted, tmp_path)
    for record in backup.database.records():
        if isinstance(record, Message):
            for att in record.attachments:
                if att.opener:
                    att.opener().read()
    assert sha256(planted.path) == before and planted.path.stat().st_mtime_ns == mtime


def test_wrong_passphrase_is_told_at_the_first_frame(
    planted: Planted, planted_v0: Planted, tmp_path: Path
) -> None:
    for p in (planted, planted_v0):
        assert p.passphrase is not None and p.path is not None
        wrong = p.passphrase[:-1] + ("1" if p.passphrase[-1] != "1" else "2")
        with pytest.raises(WrongPassphrase, match=r"does not open .*\.backup: check the 30 digits"):
            open_backup(p.path, wrong, tmp_path)
        assert issubclass(WrongPassphrase, UserError)
    assert planted.passphrase is not None and planted.path is not None
    with pytest.raises(WrongPassphrase, match=r"\(it has 29\)"):
        open_backup(planted.path, planted.passphrase[:-1], tmp_path)
    assert not (tmp_path / DB_NAME).exists()


def test_passphrase_keeps_digits_only(planted: Planted, tmp_path: Path) -> None:
    assert planted.passphrase is not None and planted.path is not None
    digits = passphrase_digits(planted.passphrase).decode()
    assert len(digits) == 30
    dashed = "-".join(digits[i : i + 5] for i in range(0, 30, 5))
    assert open_backup(planted.path, dashed, tmp_path).complete


def test_truncated_file_keeps_what_is_complete(planted: Planted, tmp_path: Path) -> None:
    assert planted.path is not None
    data = planted.path.read_bytes()
    cut = tmp_path / "cut.backup"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    backup = restore(planted, tmp_path / "work", cut)
    assert not backup.complete
    assert [w.reason for w in backup.warnings] == ["truncated"]
    assert "cut off" in backup.warnings[0].detail
    recs = by_type(backup)
    assert recs[ChatWarning] == backup.warnings
    messages = [m for m in recs.get(Message, []) if isinstance(m, Message)]
    assert 0 < len(messages) < planted.messages
    assert len(recs[Account]) == planted.persons
    for m in messages:  # what was restored is right
        i = int(m.ref.split("/")[1])
        assert m.sender_ref == f"recipient/{planted.senders[i - 1]}"
    # cut exactly at a frame boundary: no end frame
    frames = backup.frames
    assert frames > 0


def test_file_ending_before_the_end_frame(planted: Planted, tmp_path: Path) -> None:
    assert planted.path is not None
    data = planted.path.read_bytes()
    cut = tmp_path / "noend.backup"
    cut.write_bytes(data[:-16])  # the end frame: 4 + 2 + 10 bytes
    backup = restore(planted, tmp_path / "work", cut)
    assert [w.reason for w in backup.warnings] == ["truncated"]
    assert "without an end frame" in backup.warnings[0].detail
    assert len([r for r in backup.database.records() if isinstance(r, Message)]) == planted.messages


def test_damaged_frame_stops_the_restore_there(planted: Planted, tmp_path: Path) -> None:
    assert planted.path is not None
    data = bytearray(planted.path.read_bytes())
    at = len(data) // 2
    data[at] ^= 0x40
    bad = tmp_path / "bad.backup"
    bad.write_bytes(bytes(data))
    backup = restore(planted, tmp_path / "work", bad)
    assert backup.warnings[0].reason in ("mac-mismatch", "corrupt-frame")
    assert "frame" in backup.warnings[0].detail and not backup.complete
    n = len([r for r in backup.database.records() if isinstance(r, Message)])
    assert 0 < n < planted.messages


def test_corrupted_attachment_is_flagged_and_the_rest_goes_on(
    planted: Planted, tmp_path: Path
) -> None:
    assert planted.path is not None
    first = restore(planted, tmp_path / "first")
    blob = first.blobs("attachment")[1]
    data = bytearray(planted.path.read_bytes())
    data[blob.offset + blob.length // 2] ^= 0x01
    bad = tmp_path / "blob.backup"
    bad.write_bytes(bytes(data))
    backup = restore(planted, tmp_path / "work", bad)
    assert [w.reason for w in backup.warnings] == ["mac-mismatch"]
    atts = {
        a.ref: a for r in backup.database.records() if isinstance(r, Message) for a in r.attachments
    }
    damaged = [a for a in atts.values() if a.problem and a.problem[0] == "mac-mismatch"]
    assert len(damaged) == 1 and damaged[0].opener is None
    assert damaged[0].ref.endswith(f"/attachment/{blob.row_id}")
    fine = [a for a in atts.values() if a.problem is None]
    assert len(fine) == len(planted.attachments) - 1
    for a in fine:
        assert a.opener is not None
        assert hashlib.sha256(a.opener().read()).hexdigest() == planted.attachments[a.ref]
    with pytest.raises(CorruptData, match="mac-mismatch"):
        backup.open_blob(backup.blobs("attachment")[1])


def test_large_attachments_are_spooled_and_released(
    planted: Planted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sb, "IN_MEMORY_LIMIT", 1000)
    backup = restore(planted, tmp_path)
    att: Attachment | None = None
    for r in backup.database.records():
        if isinstance(r, Message):
            att = next((a for a in r.attachments if a.opener), att)
    assert att is not None and att.opener is not None and att.releaser is not None
    stream = att.opener()
    assert not isinstance(stream, io.BytesIO)
    assert hashlib.sha256(stream.read()).hexdigest() == planted.attachments[att.ref]
    stream.seek(0)
    assert len(stream.read(10)) == 10
    stream.close()
    assert list(tmp_path.glob("signal-attachment-*"))
    att.releaser()
    assert not list(tmp_path.glob("signal-attachment-*"))


def test_progress_counts_every_byte(planted: Planted, tmp_path: Path) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.total: int | None = None
            self.done = 0
            self.finished = False

        def start(self, task: str, total_bytes: int | None = None) -> None:
            self.total = total_bytes

        def advance(self, files: int = 0, nbytes: int = 0, total_bytes: int | None = None) -> None:
            self.done += nbytes

        def finish(self) -> None:
            self.finished = True

    assert planted.path is not None and planted.passphrase is not None
    rec = Recorder()
    open_backup(planted.path, planted.passphrase, tmp_path, rec)
    size = planted.path.stat().st_size
    assert rec.total == size and rec.done == size and rec.finished


def test_not_a_backup_and_unknown_versions(tmp_path: Path) -> None:
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"SQLite format 3\x00" + bytes(100))
    with pytest.raises(NotMyFormat):
        open_backup(junk, "1" * 30, tmp_path)
    header = pw.field_bytes(1, bytes(16)) + pw.field_bytes(2, bytes(32)) + pw.field_varint(3, 2)
    frame = pw.field_bytes(1, header)
    v2 = tmp_path / "v2.backup"
    v2.write_bytes(len(frame).to_bytes(4, "big") + frame + bytes(64))
    with pytest.raises(CorruptData, match="unsupported-version"):
        open_backup(v2, "1" * 30, tmp_path)


def test_key_derivation_follows_the_specification() -> None:
    """An independent reading of SIGNAL.md §2: 250,000 SHA-512 rounds, RFC 5869 HKDF."""
    salt = bytes(range(32))
    digits = passphrase_digits("01234 56789 01234 56789 01234 56789")
    digest = hashlib.sha512()
    digest.update(salt)
    h = digits
    for _ in range(250_000):
        digest.update(h)
        digest.update(digits)
        h = digest.digest()
        digest = hashlib.sha512()
    prk = hmac.new(b"\0" * 32, h[:32], hashlib.sha256).digest()
    t1 = hmac.new(prk, b"Backup Export\x01", hashlib.sha256).digest()
    t2 = hmac.new(prk, t1 + b"Backup Export\x02", hashlib.sha256).digest()
    assert derive_keys(digits, salt) == (t1, t2)


# --- the wire codec --------------------------------------------------------------------------


def _param(value: object) -> bytes:
    if value is None:
        inner = pw.field_bool(5, True)
    elif isinstance(value, int):
        inner = pw.field_varint(2, value)
    elif isinstance(value, float):
        inner = pw.field_double(3, value)
    elif isinstance(value, str):
        inner = pw.field_bytes(1, value.encode())
    else:
        assert isinstance(value, bytes)
        inner = pw.field_bytes(4, value)
    return pw.field_bytes(2, inner)


VALUES: list[object] = [
    0, 1, 127, 128, 300, -1, -2, 2**63 - 1, -(2**63), 1_700_000_000_123, None, "", "é" * 100,
    "x" * 300, b"", b"\x00\xff" * 200, 1.5, -0.0, float("inf"), "żółw 🐢",
]  # fmt: skip


def test_protowire_round_trips() -> None:
    msg = (
        pw.field_varint(1, 150)
        + pw.field_bytes(2, b"abc")
        + pw.field_double(3, 2.5)
        + pw.field_fixed32(4, 7)
        + pw.field_varint(1, 2**64 - 1)
    )
    fields = pw.decode(msg)
    assert fields[1] == [150, 2**64 - 1] and fields[2] == [b"abc"]
    assert struct.unpack("<d", fields[3][0])[0] == 2.5  # type: ignore[arg-type]
    assert fields[4] == [(7).to_bytes(4, "little")]
    assert pw.to_int64(2**64 - 1) == -1
    with pytest.raises(pw.WireError):
        pw.decode(msg[:-1])
    with pytest.raises(pw.WireError):
        pw.decode(b"\x12\x05ab")


def test_sql_parameters_and_the_compiled_batch_agree() -> None:
    stmt = b"INSERT INTO t VALUES (" + b",".join([b"?"] * len(VALUES)) + b")"
    body = pw.field_bytes(1, stmt) + b"".join(_param(v) for v in VALUES)
    decoded = pw.sql_parameters(body, 0, len(body))
    assert decoded == VALUES
    assert [type(v) for v in decoded] == [type(v) for v in VALUES]
    assert pw.statement_text(body, 0, len(body)) == stmt
    frames = [pw.field_bytes(2, body)] * 3 + [pw.field_bytes(2, pw.field_bytes(1, b"CREATE"))]
    pt = np.frombuffer(b"".join(frames), np.uint8)
    offsets = np.cumsum([0] + [len(f) for f in frames]).astype(np.int64)
    kinds, values, starts, ends, first, ts, te, ok, same = pw.statement_batch(pt, offsets, 4)
    assert ok.tolist() == [1, 1, 1, 1] and same.tolist() == [0, 1, 1, 0]
    assert first.tolist() == [0, len(VALUES), 2 * len(VALUES), 3 * len(VALUES), 3 * len(VALUES)]
    raw = pt.tobytes()
    assert raw[ts[3] : te[3]] == b"CREATE"
    rows = sb._rows_of(kinds, values, starts, ends, raw, len(VALUES))
    assert rows == [VALUES] * 3


def test_older_schema_sms_mms_part(tmp_path: Path) -> None:
    """Before version 174: ``sms`` and ``mms`` tables, ``part`` attachments with ``unique_id``,
    ``recipient.phone``/``uuid``, ``groups.members``, ``thread.thread_recipient_id``."""
    from lanterne.synth.pictures import make_picture
    from lanterne.synth.signal_android import make_passphrase, write_backup

    db = tmp_path / "old.db"
    owner = "5f1b6c39-2a7e-4c51-9d0e-1b2c3d4e5f60"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE recipient (_id INTEGER PRIMARY KEY AUTOINCREMENT,
          uuid TEXT UNIQUE DEFAULT NULL, phone TEXT UNIQUE DEFAULT NULL,
          group_id TEXT UNIQUE DEFAULT NULL, group_type INTEGER DEFAULT 0,
          signal_profile_name TEXT DEFAULT NULL, profile_family_name TEXT DEFAULT NULL,
          profile_joined_name TEXT DEFAULT NULL, system_display_name TEXT DEFAULT NULL);
        CREATE TABLE groups (_id INTEGER PRIMARY KEY, group_id TEXT, recipient_id INTEGER,
          title TEXT, members TEXT, active INTEGER DEFAULT 1);
        CREATE TABLE thread (_id INTEGER PRIMARY KEY AUTOINCREMENT, date INTEGER DEFAULT 0,
          thread_recipient_id INTEGER);
        CREATE TABLE sms (_id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id INTEGER, address INTEGER,
          date INTEGER, date_sent INTEGER, type INTEGER, body TEXT);
        CREATE TABLE mms (_id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id INTEGER, date INTEGER,
          date_received INTEGER, msg_box INTEGER, address INTEGER, body TEXT);
        CREATE TABLE part (_id INTEGER PRIMARY KEY, mid INTEGER, ct TEXT, data_size INTEGER,
          file_name TEXT, unique_id INTEGER NOT NULL, _data TEXT);
        PRAGMA user_version = 150;
        """
    )
    conn.executemany(
        "INSERT INTO recipient (_id, uuid, phone, signal_profile_name, system_display_name)"
        " VALUES (?,?,?,?,?)",
        [
            (1, owner, "+33612345678", "Ilo", None),
            (2, "0a1b2c3d-0000-4000-8000-000000000002", "+4915123456789", "Tamsen", "Tam"),
            (3, None, "+5511961234567", None, None),
        ],
    )
    gid = "__signal_group__v2__!" + "ab" * 32
    conn.execute("INSERT INTO recipient (_id, group_id, group_type) VALUES (4, ?, 3)", (gid,))
    conn.execute("INSERT INTO groups VALUES (1, ?, 4, 'Choir', '1,2,3', 1)", (gid,))
    conn.executemany("INSERT INTO thread (_id, thread_recipient_id) VALUES (?,?)", [(1, 2), (2, 4)])
    conn.executemany(
        "INSERT INTO sms VALUES (?,?,?,?,?,?,?)",
        [
            (1, 1, 2, 1_600_000_001_000, 1_600_000_000_000, 10485780, "hello"),
            (2, 1, 2, 1_600_000_003_000, 1_600_000_002_000, 10485783, "hi back"),  # outgoing
        ],
    )
    conn.executemany(
        "INSERT INTO mms VALUES (?,?,?,?,?,?,?)",
        [(1, 2, 1_600_000_004_000, 1_600_000_005_000, 10485780, 3, "a picture")],
    )
    picture = make_picture(5, (64, 48), "JPEG")
    conn.execute("INSERT INTO part VALUES (7, 1, 'image/jpeg', ?, NULL, 1600000004123, '/p')",
                 (len(picture),))  # fmt: skip
    conn.commit()
    conn.close()
    out = write_backup(
        db, tmp_path / "old.backup", make_passphrase(3), {(7, 1_600_000_004_123): picture},
        version=0, key_values={"account.aci": owner},
    )  # fmt: skip
    backup = open_backup(out, make_passphrase(3), tmp_path / "work")
    assert backup.complete and backup.database_version == 150
    recs = list(backup.database.records())
    accounts = [r for r in recs if isinstance(r, Account)]
    assert [(a.ref, a.e164, a.is_self) for a in accounts] == [
        ("recipient/1", "+33612345678", True),
        ("recipient/2", "+4915123456789", False),
        ("recipient/3", "+5511961234567", False),
    ]
    assert accounts[1].aci is not None and accounts[1].contact_name == "Tam"
    assert [g.key for g in recs if isinstance(g, Group)] == ["signal-v2:" + "ab" * 32]
    assert [m.account_ref for m in recs if isinstance(m, Member)] == [
        "recipient/1", "recipient/2", "recipient/3",
    ]  # fmt: skip
    msgs = [m for m in recs if isinstance(m, Message)]
    assert [(m.ref, m.sender_ref, m.peer_ref, m.group_ref, m.type) for m in msgs] == [
        ("sms/1", "recipient/2", "recipient/2", None, "incoming"),
        ("sms/2", "recipient/1", "recipient/2", None, "outgoing"),
        ("mms/1", "recipient/3", None, "group/1", "incoming"),
    ]
    assert msgs[2].sent_at is not None and msgs[2].sent_at.timestamp() == 1_600_000_004
    (att,) = msgs[2].attachments
    assert att.ref == "mms/1/attachment/7" and att.opener is not None
    assert att.opener().read() == picture
