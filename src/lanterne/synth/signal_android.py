"""Synthetic Signal Android databases and on-device backups (``signal-….backup``), all benign.

Three layers:

* :func:`make_signal_android_db` writes an SQLite database with the app's own DDL (``recipient``,
  ``groups``, ``group_membership``, ``thread``, ``message``, ``attachment``, their indexes, the
  ``message_fts`` full-text table and its triggers), the ``CREATE TABLE`` statements copied from
  Signal-Android's public source (``RecipientTable.kt``, ``GroupTable.kt``, ``ThreadTable.kt``,
  ``MessageTable.kt``, ``AttachmentTable.kt``; the columns of one recent release, with the Kotlin
  constants substituted), filled with invented people, groups and chatter;
* :func:`write_backup` turns any such database into a backup file exactly as the app's exporter
  (``FullBackupExporter`` / ``BackupFrameOutputStream``) does: the plaintext header frame, the
  ``DatabaseVersion`` frame, every ``CREATE`` statement of ``sqlite_master``, one ``INSERT INTO t
  VALUES (?, …)`` frame per row with its parameters, an ``Attachment`` frame and the encrypted
  blob after each attachment row that has data, ``KeyValue`` frames, ``Avatar`` frames with their
  blobs, and the ``end`` frame (frame format: ``lanterne.messaging.signal_backup``);
* :func:`make_signal_backup` does both and returns what was planted (:class:`Planted`), for tests
  and benchmarks to check a reader against.

Everything is invented: names are built from syllables, phone numbers are the ``phonenumbers``
example mobile number of a region with its last digits varied (and checked valid), identifiers are
seeded random UUIDs, attachments are :func:`lanterne.synth.pictures.make_picture` drawings, and
bodies are small talk. The same seed always gives the same database and the same backup bytes.
It scales: a million messages, 16,000 recipients and 300 groups take a minute and a half and bounded
memory (rows are written with ``executemany`` from generators, frames are streamed).
"""

from __future__ import annotations

import base64
import hashlib
import random
import sqlite3
import struct
import uuid
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import phonenumbers
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lanterne.messaging import protowire as pw
from lanterne.messaging.signal_backup import derive_keys, passphrase_digits
from lanterne.synth.pictures import make_picture

__all__ = [
    "DATABASE_VERSION",
    "Planted",
    "make_passphrase",
    "make_signal_android_db",
    "make_signal_backup",
    "write_backup",
]

DATABASE_VERSION = 270
"""``PRAGMA user_version`` written into the synthetic database (and so the backup's
``DatabaseVersion``): a representative value for the 2024–2025 schema the DDL below copies (the
``message`` table with ``from_recipient_id``/``to_recipient_id`` exists from 185, ``attachment``
from 215, ``recipient.e164``/``aci`` from 201/200)."""

GROUP_V2_PREFIX = "__signal_group__v2__!"
GROUP_V1_PREFIX = "__textsecure_group__!"

# RecipientTable.RecipientType ids.
RECIPIENT_INDIVIDUAL = 0
RECIPIENT_GV1 = 2
RECIPIENT_GV2 = 3

# MessageTypes: base types (type & 0x1F) and the bits a Signal message carries.
BASE_INBOX = 20
BASE_SENT = 23
PUSH_MESSAGE_BIT = 0x200000
SECURE_MESSAGE_BIT = 0x800000
INCOMING_TYPE = BASE_INBOX | PUSH_MESSAGE_BIT | SECURE_MESSAGE_BIT
OUTGOING_TYPE = BASE_SENT | PUSH_MESSAGE_BIT | SECURE_MESSAGE_BIT

# DecryptedGroup / DecryptedMember field numbers and Member.Role values
# (storage-service ``DecryptedGroups.proto``).
ROLE_DEFAULT = 1
ROLE_ADMINISTRATOR = 2

# --- the app's DDL ---------------------------------------------------------------------------

RECIPIENT_DDL = """
      CREATE TABLE recipient (
        _id INTEGER PRIMARY KEY AUTOINCREMENT,
        type INTEGER DEFAULT 0,
        e164 TEXT UNIQUE DEFAULT NULL,
        aci TEXT UNIQUE DEFAULT NULL,
        pni TEXT UNIQUE DEFAULT NULL CHECK (pni LIKE 'PNI:%'),
        username TEXT UNIQUE DEFAULT NULL,
        email TEXT UNIQUE DEFAULT NULL,
        group_id TEXT UNIQUE DEFAULT NULL,
        distribution_list_id INTEGER DEFAULT NULL,
        call_link_room_id TEXT DEFAULT NULL,
        registered INTEGER DEFAULT 0,
        unregistered_timestamp INTEGER DEFAULT 0,
        blocked INTEGER DEFAULT 0,
        hidden INTEGER DEFAULT 0,
        profile_key TEXT DEFAULT NULL,
        profile_key_credential TEXT DEFAULT NULL,
        profile_sharing INTEGER DEFAULT 0,
        profile_given_name TEXT DEFAULT NULL,
        profile_family_name TEXT DEFAULT NULL,
        profile_joined_name TEXT DEFAULT NULL,
        profile_avatar TEXT DEFAULT NULL,
        last_profile_fetch INTEGER DEFAULT 0,
        system_given_name TEXT DEFAULT NULL,
        system_family_name TEXT DEFAULT NULL,
        system_joined_name TEXT DEFAULT NULL,
        system_nickname TEXT DEFAULT NULL,
        system_photo_uri TEXT DEFAULT NULL,
        system_phone_label TEXT DEFAULT NULL,
        system_phone_type INTEGER DEFAULT -1,
        system_contact_uri TEXT DEFAULT NULL,
        system_info_pending INTEGER DEFAULT 0,
        notification_channel TEXT DEFAULT NULL,
        message_ringtone TEXT DEFAULT NULL,
        message_vibrate INTEGER DEFAULT 0,
        call_ringtone TEXT DEFAULT NULL,
        call_vibrate INTEGER DEFAULT 0,
        mute_until INTEGER DEFAULT 0,
        message_expiration_time INTEGER DEFAULT 0,
        sealed_sender_mode INTEGER DEFAULT 0,
        storage_service_id TEXT UNIQUE DEFAULT NULL,
        storage_service_proto TEXT DEFAULT NULL,
        mention_setting INTEGER DEFAULT 0,
        capabilities INTEGER DEFAULT 0,
        last_session_reset BLOB DEFAULT NULL,
        wallpaper BLOB DEFAULT NULL,
        wallpaper_uri TEXT DEFAULT NULL,
        about TEXT DEFAULT NULL,
        about_emoji TEXT DEFAULT NULL,
        extras BLOB DEFAULT NULL,
        groups_in_common INTEGER DEFAULT 0,
        avatar_color TEXT DEFAULT NULL,
        chat_colors BLOB DEFAULT NULL,
        custom_chat_colors_id INTEGER DEFAULT 0,
        badges BLOB DEFAULT NULL,
        needs_pni_signature INTEGER DEFAULT 0,
        reporting_token BLOB DEFAULT NULL,
        phone_number_sharing INTEGER DEFAULT 0,
        phone_number_discoverable INTEGER DEFAULT 0,
        pni_signature_verified INTEGER DEFAULT 0,
        nickname_given_name TEXT DEFAULT NULL,
        nickname_family_name TEXT DEFAULT NULL,
        nickname_joined_name TEXT DEFAULT NULL,
        note TEXT DEFAULT NULL,
        message_expiration_time_version INTEGER DEFAULT 1 NOT NULL,
        key_transparency_data BLOB DEFAULT NULL,
        call_notification_setting INTEGER DEFAULT 0,
        reply_notification_setting INTEGER DEFAULT 0
      )
      """

GROUPS_DDL = """
      CREATE TABLE groups (
        _id INTEGER PRIMARY KEY,
        group_id TEXT NOT NULL UNIQUE,
        recipient_id INTEGER NOT NULL UNIQUE REFERENCES recipient (_id) ON DELETE CASCADE,
        title TEXT DEFAULT NULL,
        avatar_id INTEGER DEFAULT 0,
        avatar_key BLOB DEFAULT NULL,
        avatar_content_type TEXT DEFAULT NULL,
        avatar_digest BLOB DEFAULT NULL,
        timestamp INTEGER DEFAULT 0,
        active INTEGER DEFAULT 1,
        mms INTEGER DEFAULT 0,
        master_key BLOB DEFAULT NULL,
        revision BLOB DEFAULT NULL,
        decrypted_group BLOB DEFAULT NULL,
        expected_v2_id TEXT UNIQUE DEFAULT NULL,
        unmigrated_v1_members TEXT DEFAULT NULL,
        distribution_id TEXT UNIQUE DEFAULT NULL,
        show_as_story_state INTEGER DEFAULT 0,
        last_force_update_timestamp INTEGER DEFAULT 0,
        group_send_endorsements_expiration INTEGER DEFAULT 0,
        terminated_by INTEGER DEFAULT 0,
        verified_name_hash BLOB DEFAULT NULL
      )
    """

GROUP_MEMBERSHIP_DDL = """
        CREATE TABLE group_membership (
            _id INTEGER PRIMARY KEY,
            group_id TEXT NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
            recipient_id INTEGER NOT NULL REFERENCES recipient (_id) ON DELETE CASCADE,
            endorsement BLOB DEFAULT NULL,
            UNIQUE(group_id, recipient_id)
        )
      """

THREAD_DDL = """
      CREATE TABLE thread (
        _id INTEGER PRIMARY KEY AUTOINCREMENT,
        date INTEGER DEFAULT 0,
        meaningful_messages INTEGER DEFAULT 0,
        recipient_id INTEGER NOT NULL UNIQUE REFERENCES recipient (_id) ON DELETE CASCADE,
        read INTEGER DEFAULT 1,
        type INTEGER DEFAULT 0,
        error INTEGER DEFAULT 0,
        snippet TEXT,
        snippet_type INTEGER DEFAULT 0,
        snippet_uri TEXT DEFAULT NULL,
        snippet_content_type TEXT DEFAULT NULL,
        snippet_extras TEXT DEFAULT NULL,
        unread_count INTEGER DEFAULT 0,
        archived INTEGER DEFAULT 0,
        status INTEGER DEFAULT 0,
        has_delivery_receipt INTEGER DEFAULT 0,
        has_read_receipt INTEGER DEFAULT 0,
        expires_in INTEGER DEFAULT 0,
        last_seen INTEGER DEFAULT 0,
        has_sent INTEGER DEFAULT 0,
        last_scrolled INTEGER DEFAULT 0,
        pinned INTEGER DEFAULT 0,
        unread_self_mention_count INTEGER DEFAULT 0,
        active INTEGER DEFAULT 0,
        snippet_message_extras BLOB DEFAULT NULL
      )
    """

MESSAGE_DDL = """
      CREATE TABLE message (
        _id INTEGER PRIMARY KEY AUTOINCREMENT,
        date_sent INTEGER NOT NULL,
        date_received INTEGER NOT NULL,
        date_server INTEGER DEFAULT -1,
        thread_id INTEGER NOT NULL REFERENCES thread (_id) ON DELETE CASCADE,
        from_recipient_id INTEGER NOT NULL REFERENCES recipient (_id) ON DELETE CASCADE,
        from_device_id INTEGER,
        to_recipient_id INTEGER NOT NULL REFERENCES recipient (_id) ON DELETE CASCADE,
        type INTEGER NOT NULL,
        body TEXT,
        read INTEGER DEFAULT 0,
        ct_l TEXT,
        exp INTEGER,
        m_type INTEGER,
        m_size INTEGER,
        st INTEGER,
        tr_id TEXT,
        subscription_id INTEGER DEFAULT -1,
        receipt_timestamp INTEGER DEFAULT -1,
        has_delivery_receipt INTEGER DEFAULT 0,
        has_read_receipt INTEGER DEFAULT 0,
        viewed INTEGER DEFAULT 0,
        mismatched_identities TEXT DEFAULT NULL,
        network_failures TEXT DEFAULT NULL,
        expires_in INTEGER DEFAULT 0,
        expire_started INTEGER DEFAULT 0,
        notified INTEGER DEFAULT 0,
        quote_id INTEGER DEFAULT 0,
        quote_author INTEGER DEFAULT 0,
        quote_body TEXT DEFAULT NULL,
        quote_missing INTEGER DEFAULT 0,
        quote_mentions BLOB DEFAULT NULL,
        quote_type INTEGER DEFAULT 0,
        shared_contacts TEXT DEFAULT NULL,
        unidentified INTEGER DEFAULT 0,
        link_previews TEXT DEFAULT NULL,
        view_once INTEGER DEFAULT 0,
        reactions_unread INTEGER DEFAULT 0,
        reactions_last_seen INTEGER DEFAULT -1,
        remote_deleted INTEGER DEFAULT 0,
        mentions_self INTEGER DEFAULT 0,
        notified_timestamp INTEGER DEFAULT 0,
        server_guid TEXT DEFAULT NULL,
        message_ranges BLOB DEFAULT NULL,
        story_type INTEGER DEFAULT 0,
        parent_story_id INTEGER DEFAULT 0,
        export_state BLOB DEFAULT NULL,
        exported INTEGER DEFAULT 0,
        scheduled_date INTEGER DEFAULT -1,
        latest_revision_id INTEGER DEFAULT NULL REFERENCES message (_id) ON DELETE CASCADE,
        original_message_id INTEGER DEFAULT NULL REFERENCES message (_id) ON DELETE CASCADE,
        revision_number INTEGER DEFAULT 0,
        message_extras BLOB DEFAULT NULL,
        expire_timer_version INTEGER DEFAULT 1 NOT NULL
      )
    """

ATTACHMENT_DDL = """
      CREATE TABLE attachment (
        _id INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id INTEGER,
        content_type TEXT,
        remote_key TEXT,
        remote_location TEXT,
        remote_digest BLOB,
        remote_incremental_digest BLOB,
        remote_incremental_digest_chunk_size INTEGER DEFAULT 0,
        cdn_number INTEGER DEFAULT 0,
        transfer_state INTEGER,
        transfer_file TEXT DEFAULT NULL,
        data_file TEXT,
        data_size INTEGER,
        data_random BLOB,
        file_name TEXT,
        fast_preflight_id TEXT,
        voice_note INTEGER DEFAULT 0,
        borderless INTEGER DEFAULT 0,
        video_gif INTEGER DEFAULT 0,
        quote INTEGER DEFAULT 0,
        width INTEGER DEFAULT 0,
        height INTEGER DEFAULT 0,
        caption TEXT DEFAULT NULL,
        sticker_pack_id TEXT DEFAULT NULL,
        sticker_pack_key DEFAULT NULL,
        sticker_id INTEGER DEFAULT -1,
        sticker_emoji STRING DEFAULT NULL,
        blur_hash TEXT DEFAULT NULL,
        transform_properties TEXT DEFAULT NULL,
        display_order INTEGER DEFAULT 0,
        upload_timestamp INTEGER DEFAULT 0,
        data_hash_start TEXT DEFAULT NULL,
        data_hash_end TEXT DEFAULT NULL,
        archive_cdn INTEGER DEFAULT NULL,
        archive_transfer_state INTEGER DEFAULT 0,
        thumbnail_file TEXT DEFAULT NULL,
        thumbnail_random BLOB DEFAULT NULL,
        thumbnail_restore_state INTEGER DEFAULT 0,
        attachment_uuid TEXT DEFAULT NULL,
        offload_restored_at INTEGER DEFAULT 0,
        quote_target_content_type TEXT DEFAULT NULL,
        archive_thumbnail_transfer_state INTEGER DEFAULT 0
      )
      """

INDEXES_DDL = (
    "CREATE INDEX IF NOT EXISTS recipient_type_index ON recipient (type);",
    "CREATE INDEX IF NOT EXISTS recipient_aci_profile_key_index ON recipient (aci, profile_key)"
    " WHERE aci NOT NULL AND profile_key NOT NULL",
    "CREATE INDEX IF NOT EXISTS group_membership_recipient_id ON group_membership (recipient_id)",
    "CREATE INDEX IF NOT EXISTS thread_recipient_id_index ON thread (recipient_id);",
    "CREATE INDEX IF NOT EXISTS archived_count_index ON thread (archived, meaningful_messages);",
    "CREATE INDEX IF NOT EXISTS thread_pinned_index ON thread (pinned);",
    "CREATE INDEX IF NOT EXISTS message_read_and_notified_and_thread_id_index"
    " ON message (read, notified, thread_id)",
    "CREATE INDEX IF NOT EXISTS message_type_index ON message (type)",
    "CREATE INDEX IF NOT EXISTS message_date_sent_from_to_thread_index"
    " ON message (date_sent, from_recipient_id, to_recipient_id, thread_id)",
    "CREATE INDEX IF NOT EXISTS message_date_server_index ON message (date_server)",
    "CREATE INDEX IF NOT EXISTS message_from_recipient_id_index ON message (from_recipient_id)",
    "CREATE INDEX IF NOT EXISTS message_to_recipient_id_index ON message (to_recipient_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS message_unique_sent_from_thread"
    " ON message (date_sent, from_recipient_id, thread_id)",
    "CREATE INDEX IF NOT EXISTS attachment_message_id_index ON attachment (message_id);",
    "CREATE INDEX IF NOT EXISTS attachment_transfer_state_index ON attachment (transfer_state);",
    "CREATE INDEX IF NOT EXISTS attachment_data_hash_end_remote_key_index"
    " ON attachment (data_hash_end, remote_key);",
)

# SearchTable: the full-text index of message bodies and the triggers that feed it.
FTS_DDL = (
    "CREATE VIRTUAL TABLE message_fts USING fts5(body, thread_id UNINDEXED,"
    " content=message, content_rowid=_id)",
)
FTS_TRIGGERS_DDL = (
    "CREATE TRIGGER message_ai AFTER INSERT ON message BEGIN\n"
    "  INSERT INTO message_fts(rowid, body, thread_id)"
    " VALUES (new._id, new.body, new.thread_id);\nEND;",
    "CREATE TRIGGER message_ad AFTER DELETE ON message BEGIN\n"
    "  INSERT INTO message_fts(message_fts, rowid, body, thread_id)"
    " VALUES('delete', old._id, old.body, old.thread_id);\nEND;",
)

# --- invented content ------------------------------------------------------------------------

_SYLLABLES = (
    "ka", "lo", "mi", "ra", "ven", "sel", "to", "na", "bri", "dor", "el", "fa", "gui", "har",
    "is", "jo", "kel", "lun", "mor", "nes", "ol", "pra", "qui", "ros", "sa", "tul", "ul", "vi",
    "wen", "xa", "yor", "zel",
)  # fmt: skip
_WORDS = (
    "see you at the market", "the bus is late again", "bring the blue umbrella",
    "lunch on friday?", "the garden looks lovely", "happy birthday!", "call me after work",
    "the cake recipe worked", "meeting moved to three", "don't forget the bread",
    "what a view from the hill", "the cat found a sunny spot", "good luck with the exam",
    "thanks for the help", "the train leaves at nine", "soup tonight",
)  # fmt: skip
_REGIONS = (
    "DE", "FR", "NL", "BE", "ES", "IT", "PT", "GB", "IE", "PL", "CZ", "AT", "CH", "SE", "NO",
    "DK", "FI", "US", "CA", "BR", "AR", "MX", "IN", "JP", "KR", "AU", "NZ", "ZA", "NG", "KE",
    "MA", "TR", "GR", "RO", "HU", "UA", "EG", "ID", "PH", "TH",
)  # fmt: skip


def _name(rng: random.Random) -> str:
    word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
    return word.capitalize()


def _phone_numbers(rng: random.Random, count: int) -> Iterator[tuple[str, str]]:
    """``count`` distinct valid (E.164, region) pairs spread over :data:`_REGIONS`: each region's
    example mobile number with its last five digits drawn at random."""
    examples = {}
    for region in _REGIONS:
        ex = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if ex is not None:
            examples[region] = ex
    regions = sorted(examples)
    seen: set[str] = set()
    made = 0
    while made < count:
        region = regions[made % len(regions)] if made < len(regions) else rng.choice(regions)
        ex = examples[region]
        national = str(ex.national_number)
        keep = max(len(national) - 5, 1)
        for _ in range(50):
            tail = "".join(str(rng.randrange(10)) for _ in range(len(national) - keep))
            candidate = phonenumbers.PhoneNumber(
                country_code=ex.country_code, national_number=int(national[:keep] + tail)
            )
            e164 = phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
            if e164 not in seen and phonenumbers.is_valid_number(candidate):
                seen.add(e164)
                made += 1
                yield e164, region
                break


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def make_passphrase(seed: int) -> str:
    """30 random digits as the app shows them: six groups of five separated by spaces."""
    rng = random.Random(f"passphrase-{seed}")
    digits = "".join(str(rng.randrange(10)) for _ in range(30))
    return " ".join(digits[i : i + 5] for i in range(0, 30, 5))


# --- what was planted ------------------------------------------------------------------------


@dataclass
class Planted:
    """What :func:`make_signal_android_db` / :func:`make_signal_backup` put in, to check a reader.

    Recipient, group, message and attachment numbers are the database's ``_id`` values.
    """

    db_path: Path
    owner_id: int
    """``recipient._id`` of the device owner."""
    owner_aci: str
    owner_e164: str
    persons: int
    """Person recipients, the owner included (the readers' Account records)."""
    group_keys: dict[int, str]
    """``groups._id`` → ``signal-v2:<hex>`` / ``signal-v1:<hex>``."""
    group_titles: dict[int, str]
    members: dict[int, frozenset[int]]
    """``groups._id`` → recipient ids of ``group_membership`` (full members, owner included)."""
    admins: dict[int, frozenset[int]]
    """``groups._id`` → members with the administrator role in ``decrypted_group``."""
    pending: dict[int, frozenset[int]]
    """``groups._id`` → invited (pending) recipients, only in ``decrypted_group``."""
    messages: int
    outgoing: int
    senders: array[int]
    """Sender recipient id of message ``_id`` n at index n − 1 (the owner for outgoing)."""
    group_of_thread: dict[int, int]
    """``thread._id`` → ``groups._id`` for group conversations."""
    peer_of_thread: dict[int, int]
    """``thread._id`` → recipient id for one-to-one conversations."""
    thread_of_message: array[int]
    """``thread_id`` of message ``_id`` n at index n − 1."""
    attachments: dict[str, str] = field(default_factory=dict)
    """``message/<mid>/attachment/<aid>`` → SHA-256 (hex) of the plaintext, for rows with data."""
    missing: list[str] = field(default_factory=list)
    """Refs of attachment rows without data (no blob in the backup)."""
    regions: frozenset[str] = frozenset()
    """Regions of the invented phone numbers."""
    blobs: dict[tuple[int, int], bytes] = field(default_factory=dict, repr=False)
    """(attachment ``_id``, 0) → plaintext: the ``blobs`` argument of :func:`write_backup`."""
    key_values: dict[str, str | int | bool | bytes] = field(default_factory=dict)
    """KeyValue entries the backup carries (``account.aci`` …)."""
    # set by make_signal_backup
    path: Path | None = None
    passphrase: str | None = None
    version: int | None = None

    @property
    def groups(self) -> int:
        return len(self.group_keys)

    @property
    def member_rows(self) -> int:
        return sum(len(m) for m in self.members.values())


# --- the database ----------------------------------------------------------------------------


def _decrypted_group(
    title: str, revision: int, members: list[tuple[bytes, int]], pending: list[tuple[bytes, bytes]]
) -> bytes:
    """A ``DecryptedGroup``: title = 2, revision = 6, members = 7 (``DecryptedMember { aciBytes =
    1, role = 2, joinedAtRevision = 5 }``), pendingMembers = 8 (``DecryptedPendingMember {
    serviceIdBytes = 1, role = 2, addedByAci = 3 }``)."""
    out = [pw.field_bytes(2, title.encode()), pw.field_varint(6, revision)]
    for aci, role in members:
        member = pw.field_bytes(1, aci) + pw.field_varint(2, role) + pw.field_varint(5, 0)
        out.append(pw.field_bytes(7, member))
    for service_id, added_by in pending:
        entry = pw.field_bytes(1, service_id) + pw.field_varint(2, ROLE_DEFAULT)
        out.append(pw.field_bytes(8, entry + pw.field_bytes(3, added_by)))
    return b"".join(out)


def make_signal_android_db(
    db_path: Path,
    *,
    seed: int = 1,
    recipients: int = 40,
    groups: int = 4,
    messages: int = 400,
    attachments: int = 8,
    missing_attachments: int = 0,
    legacy_groups: int = 0,
    direct_threads: int | None = None,
    distinct_pictures: int = 200,
    picture_size: tuple[int, int] = (160, 120),
    outgoing_share: float = 0.3,
) -> Planted:
    """Writes ``db_path``, a Signal Android message database, and returns what it holds.

    ``recipients`` persons (the owner among them) with invented E.164 numbers from some forty
    regions, ACIs, PNIs, profile names and for some a contact name and a username; ``groups``
    v2 groups (and ``legacy_groups`` v1 groups) of 3 to 40 members, the owner in each, with a
    ``decrypted_group`` naming a few admins and an invitee; one thread per group and
    ``direct_threads`` one-to-one threads (default: up to 200); ``messages`` messages spread over
    the threads, ``outgoing_share`` of them sent by the owner; ``attachments`` pictures attached
    to distinct random messages (``distinct_pictures`` different drawings, reused beyond that)
    whose bytes are returned in :attr:`Planted.blobs`, and ``missing_attachments`` more rows
    whose data was never downloaded.
    """
    rng = random.Random(seed)
    persons = max(recipients, 2)
    if groups + legacy_groups == 0 and direct_threads == 0:
        raise ValueError("a database needs at least one thread")
    db_path.unlink(missing_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    for ddl in (
        RECIPIENT_DDL, GROUPS_DDL, GROUP_MEMBERSHIP_DDL, THREAD_DDL, MESSAGE_DDL, ATTACHMENT_DDL,
    ):  # fmt: skip
        conn.execute(ddl)
    for ddl in INDEXES_DDL:
        if "message_unique_sent_from_thread" not in ddl:
            conn.execute(ddl)

    # persons: recipient ids 1..persons, the owner somewhere among them
    owner_id = rng.randrange(1, persons + 1)
    phones = list(_phone_numbers(rng, persons))
    acis: dict[int, uuid.UUID] = {}
    person_rows = []
    for rid in range(1, persons + 1):
        e164, _region = phones[rid - 1]
        aci = _uuid(rng)
        acis[rid] = aci
        given, family = _name(rng), _name(rng)
        contact = f"{_name(rng)} {_name(rng)}" if rng.random() < 0.4 else None
        username = f"{given.lower()}{rid}.{rng.randrange(10, 99)}" if rng.random() < 0.2 else None
        person_rows.append((
            rid, RECIPIENT_INDIVIDUAL, e164, str(aci), f"PNI:{_uuid(rng)}", username, 1,
            base64.b64encode(rng.randbytes(32)).decode(), 1, given, family,
            f"{given} {family}", contact, contact,
        ))  # fmt: skip
    conn.executemany(
        "INSERT INTO recipient (_id, type, e164, aci, pni, username, registered, profile_key,"
        " profile_sharing, profile_given_name, profile_family_name, profile_joined_name,"
        " system_joined_name, system_nickname) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        person_rows,
    )
    del person_rows
    others = [rid for rid in range(1, persons + 1) if rid != owner_id]

    # groups: a recipient row each, then the groups row, membership and decrypted_group
    group_keys: dict[int, str] = {}
    group_titles: dict[int, str] = {}
    members: dict[int, frozenset[int]] = {}
    admins: dict[int, frozenset[int]] = {}
    pending: dict[int, frozenset[int]] = {}
    group_recipient: dict[int, int] = {}
    next_rid = persons + 1
    for gid in range(1, groups + legacy_groups + 1):
        v2 = gid <= groups
        raw = rng.randbytes(32 if v2 else 16)
        group_id = (GROUP_V2_PREFIX if v2 else GROUP_V1_PREFIX) + raw.hex()
        title = f"{_name(rng)} {rng.choice(('club', 'friends', 'family', 'team', 'choir'))}"
        size = min(len(others), rng.randint(2, 39))
        chosen = sorted(rng.sample(others, size))
        full = frozenset([owner_id, *chosen])
        admin = frozenset([owner_id if rng.random() < 0.5 else chosen[0], chosen[-1]])
        rest = [r for r in others if r not in full]
        invited = (
            frozenset(rng.sample(rest, min(len(rest), rng.randint(0, 2)))) if v2 else frozenset()
        )
        conn.execute(
            "INSERT INTO recipient (_id, type, group_id, profile_sharing) VALUES (?,?,?,1)",
            (next_rid, RECIPIENT_GV2 if v2 else RECIPIENT_GV1, group_id),
        )
        decrypted = None
        master_key = None
        if v2:
            master_key = rng.randbytes(32)
            decrypted = _decrypted_group(
                title,
                rng.randint(1, 30),
                [
                    (acis[r].bytes, ROLE_ADMINISTRATOR if r in admin else ROLE_DEFAULT)
                    for r in sorted(full)
                ],
                [(acis[r].bytes, acis[owner_id].bytes) for r in sorted(invited)],
            )
        conn.execute(
            "INSERT INTO groups (_id, group_id, recipient_id, title, timestamp, active,"
            " master_key, revision, decrypted_group) VALUES (?,?,?,?,?,1,?,?,?)",
            (gid, group_id, next_rid, title, 1_600_000_000_000 + gid, master_key, 1, decrypted),
        )
        conn.executemany(
            "INSERT INTO group_membership (group_id, recipient_id) VALUES (?,?)",
            [(group_id, r) for r in sorted(full)],
        )
        group_keys[gid] = f"signal-{'v2' if v2 else 'v1'}:{raw.hex()}"
        group_titles[gid] = title
        members[gid] = full
        admins[gid] = admin if v2 else frozenset()
        pending[gid] = invited
        group_recipient[gid] = next_rid
        next_rid += 1

    # threads: groups first, then one-to-one conversations
    n_direct = min(len(others), 200) if direct_threads is None else min(direct_threads, len(others))
    group_of_thread: dict[int, int] = {}
    peer_of_thread: dict[int, int] = {}
    thread_rows = []
    tid = 0
    for gid, rid in group_recipient.items():
        tid += 1
        group_of_thread[tid] = gid
        thread_rows.append((tid, rid))
    for rid in sorted(rng.sample(others, n_direct)):
        tid += 1
        peer_of_thread[tid] = rid
        thread_rows.append((tid, rid))
    conn.executemany(
        "INSERT INTO thread (_id, recipient_id, meaningful_messages, active) VALUES (?,?,1,1)",
        thread_rows,
    )
    thread_ids = [t for t, _ in thread_rows]
    weights = [4.0 if t in group_of_thread else 1.0 for t in thread_ids]
    member_lists = {gid: sorted(m - {owner_id}) for gid, m in members.items()}

    # messages, streamed
    senders = array("i")
    thread_of_message = array("i")
    outgoing = 0
    t0 = 1_700_000_000_000 + rng.randrange(10**9)
    picks = rng.choices(thread_ids, weights=weights, k=messages) if messages else []

    def message_rows() -> Iterator[tuple[object, ...]]:
        nonlocal outgoing
        now = t0
        rand = rng.random
        for mid in range(1, messages + 1):
            tid = picks[mid - 1]
            now += 1 + int(rand() * 60_000)
            gid = group_of_thread.get(tid)
            to_rid = group_recipient[gid] if gid is not None else peer_of_thread[tid]
            if rand() < outgoing_share:
                sender, mtype, to = owner_id, OUTGOING_TYPE, to_rid
                outgoing += 1
            else:
                if gid is not None:
                    mlist = member_lists[gid]
                    sender = mlist[int(rand() * len(mlist))]
                else:
                    sender = to_rid
                mtype, to = INCOMING_TYPE, owner_id
            senders.append(sender)
            thread_of_message.append(tid)
            body = _WORDS[int(rand() * len(_WORDS))]
            yield (
                mid, now, now + int(rand() * 5000), now + 300, tid, sender, 1, to, mtype, body, 1,
            )  # fmt: skip

    conn.executemany(
        "INSERT INTO message (_id, date_sent, date_received, date_server, thread_id,"
        " from_recipient_id, from_device_id, to_recipient_id, type, body, read)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        message_rows(),
    )
    conn.execute(INDEXES_DDL[12])  # the unique index, built once the rows are in

    # attachments
    planted_attachments: dict[str, str] = {}
    missing: list[str] = []
    blobs: dict[tuple[int, int], bytes] = {}
    n_att = min(attachments + missing_attachments, messages)
    with_att = sorted(rng.sample(range(1, messages + 1), n_att)) if n_att else []
    missing_set = set(rng.sample(with_att, min(missing_attachments, len(with_att))))
    pictures: dict[int, tuple[bytes, str]] = {}
    att_rows: list[tuple[object, ...]] = []
    for aid, mid in enumerate(with_att, start=1):
        ref = f"message/{mid}/attachment/{aid}"
        k = (aid - 1) % max(distinct_pictures, 1)
        if k not in pictures:
            fmt = "PNG" if k % 5 == 4 else "JPEG"
            pictures[k] = (make_picture(seed * 100_003 + k, picture_size, fmt), fmt)
        data, fmt = pictures[k]
        ctype = "image/png" if fmt == "PNG" else "image/jpeg"
        digest = hashlib.sha256(data).digest()
        name = f"IMG_{20240101 + aid % 28}_{aid:06d}.{fmt.lower().replace('jpeg', 'jpg')}"
        if mid in missing_set:
            missing.append(ref)
            att_rows.append((
                aid, mid, ctype, base64.b64encode(rng.randbytes(64)).decode(),
                f"{rng.getrandbits(64):016x}", rng.randbytes(32), 2, None, len(data), None,
                None, picture_size[0], picture_size[1], None, None, 0,
            ))  # fmt: skip
            continue
        planted_attachments[ref] = digest.hex()
        blobs[(aid, 0)] = data
        hash_b64 = base64.b64encode(digest).decode()
        att_rows.append((
            aid, mid, ctype, base64.b64encode(rng.randbytes(64)).decode(),
            f"{rng.getrandbits(64):016x}", rng.randbytes(32), 0,
            f"/data/user/0/org.thoughtcrime.securesms/app_parts/part{rng.getrandbits(60)}.mms",
            len(data), rng.randbytes(32), name if rng.random() < 0.5 else None,
            picture_size[0], picture_size[1], hash_b64, hash_b64, t0,
        ))  # fmt: skip
    conn.executemany(
        "INSERT INTO attachment (_id, message_id, content_type, remote_key, remote_location,"
        " remote_digest, transfer_state, data_file, data_size, data_random, file_name, width,"
        " height, data_hash_start, data_hash_end, upload_timestamp)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        att_rows,
    )
    for ddl in (*FTS_DDL, *FTS_TRIGGERS_DDL):
        conn.execute(ddl)
    conn.execute(f"PRAGMA user_version = {DATABASE_VERSION}")
    conn.execute("COMMIT")
    conn.close()

    owner_aci = str(acis[owner_id])
    return Planted(
        db_path=db_path,
        owner_id=owner_id,
        owner_aci=owner_aci,
        owner_e164=phones[owner_id - 1][0],
        persons=persons,
        group_keys=group_keys,
        group_titles=group_titles,
        members=members,
        admins=admins,
        pending=pending,
        messages=messages,
        outgoing=outgoing,
        senders=senders,
        group_of_thread=group_of_thread,
        peer_of_thread=peer_of_thread,
        thread_of_message=thread_of_message,
        attachments=planted_attachments,
        missing=missing,
        regions=frozenset(region for _, region in phones),
        blobs=blobs,
        key_values={
            "account.aci": owner_aci,
            "account.e164": phones[owner_id - 1][0],
            "account.registered": True,
        },
    )


# --- the backup writer -----------------------------------------------------------------------

_NULL_PARAM = b"\x12\x02\x28\x01"  # SqlParameter { nullparameter = true }


def _int_param(value: int) -> bytes:
    inner = b"\x10" + pw.varint(value & 0xFFFF_FFFF_FFFF_FFFF)
    return b"\x12" + pw.varint(len(inner)) + inner


_SMALL_INT_PARAMS = {i: _int_param(i) for i in range(-1, 256)}


def _param(value: object) -> bytes:
    """One ``SqlParameter`` (field 2 of ``SqlStatement``) for a value read from SQLite."""
    if value is None:
        return _NULL_PARAM
    if isinstance(value, int):
        cached = _SMALL_INT_PARAMS.get(value)
        return cached if cached is not None else _int_param(value)
    if isinstance(value, str):
        inner = pw.field_bytes(1, value.encode("utf-8"))
    elif isinstance(value, bytes):
        inner = pw.field_bytes(4, value)
    elif isinstance(value, float):
        inner = pw.field_double(3, value)
    else:
        raise TypeError(f"cannot write a {type(value).__name__} parameter")
    return b"\x12" + pw.varint(len(inner)) + inner


class _FrameWriter:
    """Writes frames as ``BackupFrameOutputStream`` does (see the reader's module docstring)."""

    def __init__(
        self, out: BinaryIO, passphrase: str, version: int, salt: bytes, iv: bytes
    ) -> None:
        if version not in (0, 1):
            raise ValueError(f"backup version {version}: the app writes 0 or 1")
        self.out = out
        self.version = version
        self.cipher_key, self.mac_key = derive_keys(passphrase_digits(passphrase), salt)
        self.aes = algorithms.AES(self.cipher_key)
        self.iv_tail = iv[4:]
        self.counter = int.from_bytes(iv[:4], "big")
        header = pw.field_bytes(1, iv) + pw.field_bytes(2, salt)
        if version:
            header += pw.field_varint(3, version)
        frame = pw.field_bytes(1, header)
        out.write(len(frame).to_bytes(4, "big") + frame)
        self.ipad = hashlib.sha256(bytes(b ^ 0x36 for b in self.mac_key.ljust(64, b"\0")))
        self.opad = hashlib.sha256(bytes(b ^ 0x5C for b in self.mac_key.ljust(64, b"\0")))

    def _mac(self, *parts: bytes) -> bytes:
        inner = self.ipad.copy()
        for part in parts:
            inner.update(part)
        outer = self.opad.copy()
        outer.update(inner.digest())
        return outer.digest()[:10]

    def _next_iv(self) -> bytes:
        iv = self.counter.to_bytes(4, "big") + self.iv_tail
        self.counter = (self.counter + 1) & 0xFFFFFFFF
        return iv

    def frame(self, body: bytes) -> None:
        """One ``BackupFrame`` (its encoded fields), encrypted and MACed."""
        enc = Cipher(self.aes, modes.CTR(self._next_iv())).encryptor()
        length = (len(body) + 10).to_bytes(4, "big")
        if self.version:
            enc_length = enc.update(length)
            ct = enc.update(body)
            self.out.write(enc_length + ct + self._mac(enc_length, ct))
        else:
            ct = enc.update(body)
            self.out.write(length + ct + self._mac(ct))

    def blob(self, data: bytes) -> None:
        """An attachment/avatar/sticker payload: its own counter, MAC over IV ‖ ciphertext."""
        iv = self._next_iv()
        ct = Cipher(self.aes, modes.CTR(iv)).encryptor().update(data)
        self.out.write(ct + self._mac(iv, ct))

    def statement(self, head: bytes, params: Iterable[object] = ()) -> None:
        """A statement frame; ``head`` is the encoded statement field (see :func:`_head`)."""
        msg = head + b"".join(map(_param, params))
        self.frame(b"\x12" + pw.varint(len(msg)) + msg)


def _head(sql: str) -> bytes:
    return pw.field_bytes(1, sql.encode("utf-8"))


def _key_value(key: str, value: str | int | bool | bytes | float) -> bytes:
    """``KeyValue { key = 1, blobValue = 2, booleanValue = 3, floatValue = 4, integerValue = 5,
    longValue = 6, stringValue = 7 }``."""
    body = pw.field_bytes(1, key.encode())
    if isinstance(value, bool):
        body += pw.field_bool(3, value)
    elif isinstance(value, int):
        body += pw.field_varint(6, value)
    elif isinstance(value, bytes):
        body += pw.field_bytes(2, value)
    elif isinstance(value, float):
        body += pw.field_fixed32(4, int.from_bytes(struct.pack("<f", value), "little"))
    else:
        body += pw.field_bytes(7, value.encode())
    return pw.field_bytes(9, body)


def write_backup(
    db_path: Path,
    out_path: Path,
    passphrase: str,
    blobs: Mapping[tuple[int, int], bytes] | None = None,
    *,
    version: int = 1,
    key_values: Mapping[str, str | int | bool | bytes] | None = None,
    avatars: Mapping[str, bytes] | None = None,
    seed: int = 1,
) -> Path:
    """Writes ``out_path``, the backup of the database ``db_path`` under ``passphrase``.

    ``blobs`` maps (attachment row id, attachment unique id — 0 when the table has no
    ``unique_id`` column, as today) to the plaintext written after that row's ``Attachment``
    frame; rows without an entry get no frame, as the exporter skips attachments without data.
    ``key_values`` become ``KeyValue`` frames, ``avatars`` (recipient id → picture bytes)
    ``Avatar`` frames with their blobs. The salt and IV come from ``seed``, so the same inputs
    give the same bytes. ``version`` 1 encrypts frame lengths (the app since 2023), 0 does not.
    """
    blobs = blobs or {}
    rng = random.Random(f"backup-{seed}")
    salt, iv = rng.randbytes(32), rng.randbytes(16)
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        with out_path.open("wb") as out:
            w = _FrameWriter(out, passphrase, version, salt, iv)
            user_version = src.execute("PRAGMA user_version").fetchone()[0]
            w.frame(pw.field_bytes(5, pw.field_varint(1, user_version)))
            tables: list[str] = []
            virtual: list[str] = []
            for sql, name, kind in src.execute("SELECT sql, name, type FROM sqlite_master"):
                if sql is None:
                    continue
                if any(name != v and name.startswith(v + "_") for v in virtual):
                    continue  # shadow tables of a full-text index: the exporter leaves them out
                if sql.upper().startswith("CREATE VIRTUAL TABLE"):
                    virtual.append(name)
                elif kind == "table":
                    tables.append(name)
                w.statement(_head(sql))
            for table in tables:
                if table.startswith("sqlite_"):
                    continue
                cur = src.execute(f'SELECT * FROM "{table}"')
                columns = [d[0] for d in cur.description]
                head = _head(f"INSERT INTO {table} VALUES ({','.join('?' * len(columns))})")
                blob_cols = None
                if table in ("attachment", "part"):
                    blob_cols = (
                        columns.index("_id"),
                        columns.index("unique_id") if "unique_id" in columns else None,
                    )
                for row in cur:
                    w.statement(head, row)
                    if blob_cols is not None:
                        row_id = row[blob_cols[0]]
                        unique_id = row[blob_cols[1]] if blob_cols[1] is not None else 0
                        data = blobs.get((row_id, unique_id))
                        if data:
                            att = pw.field_varint(1, row_id)
                            if unique_id:
                                att += pw.field_varint(2, unique_id)
                            att += pw.field_varint(3, len(data))
                            w.frame(pw.field_bytes(4, att))
                            w.blob(data)
            for key, value in (key_values or {}).items():
                w.frame(_key_value(key, value))
            for recipient_id, data in (avatars or {}).items():
                avatar = pw.field_varint(2, len(data)) + pw.field_bytes(3, recipient_id.encode())
                w.frame(pw.field_bytes(7, avatar))
                w.blob(data)
            w.frame(pw.field_bool(6, True))
    finally:
        src.close()
    return out_path


def make_signal_backup(
    out_dir: Path,
    *,
    seed: int = 1,
    recipients: int = 40,
    groups: int = 4,
    messages: int = 400,
    attachments: int = 8,
    missing_attachments: int = 0,
    legacy_groups: int = 0,
    passphrase: str | None = None,
    version: int = 1,
    avatars: int = 1,
    name: str = "signal-2024-05-17-21-04-33.backup",
    **db_options: object,
) -> Planted:
    """A database (kept as ``out_dir/signal-source.db``) and its backup ``out_dir/name``.

    ``passphrase`` defaults to :func:`make_passphrase` of the seed; ``avatars`` recipients get a
    profile picture in the backup. Other keywords go to :func:`make_signal_android_db`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    planted = make_signal_android_db(
        out_dir / "signal-source.db",
        seed=seed,
        recipients=recipients,
        groups=groups,
        messages=messages,
        attachments=attachments,
        missing_attachments=missing_attachments,
        legacy_groups=legacy_groups,
        **db_options,  # type: ignore[arg-type]
    )
    passphrase = passphrase if passphrase is not None else make_passphrase(seed)
    avatar_blobs = {
        str(rid): make_picture(seed * 7 + rid, (96, 96), "JPEG")
        for rid in range(1, min(avatars, planted.persons) + 1)
    }
    path = write_backup(
        planted.db_path,
        out_dir / name,
        passphrase,
        planted.blobs,
        version=version,
        key_values=planted.key_values,
        avatars=avatar_blobs,
        seed=seed,
    )
    planted.path = path
    planted.passphrase = passphrase
    planted.version = version
    return planted
