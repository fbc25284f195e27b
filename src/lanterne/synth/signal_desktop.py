"""Synthetic Signal Desktop profiles: encrypted database, WAL, attachments, key forms.

:func:`make_desktop_profile` writes a profile folder as Signal Desktop leaves it on disk, with
invented people only (names from short lists of common given and family names, phone numbers
built from the ``phonenumbers`` example numbers of many countries, or fiction ranges where a
country has one) and benign pictures from :func:`lanterne.synth.pictures.make_picture`:

* ``config.json`` with the database key in one of :data:`KEY_FORMS`: ``plain`` (``"key"``),
  ``linux-v11`` (OSCrypt v11 under a secret-service password), ``linux-v10`` (v10 under the
  fixed password ``peanuts``), ``macos-v10`` (v10, 1003 PBKDF2 iterations, keychain password) or
  ``windows-gcm`` (v10 AES-256-GCM under a random 32-byte key, plus a ``Local State`` whose
  ``os_crypt.encrypted_key`` is a *placeholder* ``DPAPI`` blob: the unwrapped key, which an
  examiner would get from DPAPI, is returned in :attr:`PlantedProfile.windows_key`).
* ``sql/db.sqlite`` encrypted with SQLCipher (``sqlcipher3``), raw key, with the tables
  ``conversations``, ``messages``, ``items`` (and ``message_attachments`` from 1360) as the
  migrations of Signal-Desktop (``ts/sql/migrations``) leave them at ``schema``: a
  representative subset of columns with their real names and declared types, including the
  quirks (``STRING`` columns with NUMERIC affinity before 1270, so ``messages.source`` holds
  the number without ``+``; ``uuid`` → ``serviceId`` at 88; ``received_at_ms`` and a TEXT
  ``source`` from 1270; the STRICT attachment table from 1360).
* ``sql/db.sqlite-wal`` holding the last ``wal_messages`` messages: the database is built in a
  staging folder with ``wal_autocheckpoint = 0``, checkpointed once before those writes, and its
  three files copied while the connection is still open (as on a seized running machine).
* ``attachments.noindex/<2 hex>/<64 hex>`` files: version 2 (encrypted at rest: IV ‖
  AES-256-CBC(PKCS#7) of the plaintext zero-padded to Signal's size bucket ‖ HMAC-SHA256) and
  old-style plaintext ones; with ``quirks`` also rows with a path-traversal path, a missing file,
  no path, invalid PKCS#7 padding and a recorded size larger than the plaintext.

Everything is drawn from ``seed``: the same arguments give the same profile.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import random
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
import sqlcipher3  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lanterne.messaging.signal_desktop_key import (
    LINUX_ITERATIONS,
    MACOS_ITERATIONS,
    chromium_cbc_encrypt,
)
from lanterne.synth.pictures import make_picture

__all__ = ["KEY_FORMS", "SCHEMAS", "PlantedProfile", "make_desktop_profile"]

KEY_FORMS = ("plain", "linux-v11", "linux-v10", "macos-v10", "windows-gcm")
SCHEMAS = (85, 1000, 1270, 1360)
"""Real ``user_version`` values, one per generation the reader tells apart: before 88
(``uuid``), 88+ (``serviceId``), 1270+ (``received_at_ms``), 1360+ (``message_attachments``)."""

_REGIONS = (
    "DE", "FR", "GB", "US", "NL", "BR", "IN", "JP", "ZA", "MX", "SE", "PL",
    "ES", "IT", "CH", "AT", "PT", "KE", "NG", "AR", "CA", "AU",
)  # fmt: skip
_GIVEN = (
    "Alma", "Bruno", "Chiara", "Dario", "Elin", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Kaia", "Lior", "Mara", "Nils", "Oona", "Pavel", "Rosa", "Sami", "Tilda", "Umar",
)  # fmt: skip
_FAMILY = (
    "Verdier", "Lindqvist", "Moretti", "Okafor", "Brandt", "Sato", "Novak", "Almeida",
    "Fischer", "Rossi", "Kowalski", "Dubois", "Jansen", "Silva", "Mehta", "Nakamura",
)  # fmt: skip
_BODIES = (
    "Are we still on for lunch on {day}?",
    "The bakery on the corner opens at {hour} tomorrow.",
    "I left the umbrella at your place, no rush.",
    "Photos from the hike on {day} are attached.",
    "Can you bring the board game tonight?",
    "Train is running {mins} minutes late, sorry!",
    "Happy birthday! Cake at {hour}?",
    "The library closes early on {day}.",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_BASE_MS = 1_709_280_000_000  # 2024-03-01T08:00:00Z

ROLE_DEFAULT = 1
ROLE_ADMINISTRATOR = 2


@dataclass
class PlantedProfile:
    """What :func:`make_desktop_profile` wrote, for tests to compare a reader with.

    Identities are ACIs (UUID strings as stored). ``attachments`` maps every attachment ref the
    reader should report (``message/<id>/attachment/<n>``) to the SHA-256 of the plaintext it
    should deliver, or None when nothing can be delivered; ``problems`` maps refs to the problem
    code expected.
    """

    profile: Path
    schema: int
    key_form: str
    key_hex: str
    password: str | None
    windows_key: bytes | None
    owner_aci: str
    owner_e164: str
    owner_conversation: bool
    accounts: int
    """Account records expected: private conversations, plus the owner when it has no
    conversation row, plus people only seen as group members or senders."""
    contacts: dict[str, str] = field(default_factory=dict)
    """ACI → E.164 of the contacts (private conversations other than the owner's)."""
    groups: dict[str, dict[str, str]] = field(default_factory=dict)
    """Group key (``signal-v2:<hex>`` / ``signal-v1:<hex>``) → {ACI: role}."""
    group_titles: dict[str, str] = field(default_factory=dict)
    messages: int = 0
    message_ids: list[str] = field(default_factory=list)
    wal_message_ids: list[str] = field(default_factory=list)
    """Messages written after the last checkpoint: only the WAL holds them."""
    senders: dict[str, int] = field(default_factory=dict)
    """Sender ACI (the owner's for outgoing messages) → number of messages."""
    types: dict[str, int] = field(default_factory=dict)
    """Message type as the reader reports it → count."""
    attachments: dict[str, str | None] = field(default_factory=dict)
    attachment_files: dict[str, Path] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    regions: set[str] = field(default_factory=set)


@dataclass
class _Person:
    conv_id: str
    aci: str
    e164: str | None
    region: str | None
    given: str
    family: str
    contact_name: str | None = None
    username: str | None = None
    pni: str | None = None


@dataclass
class _Chat:
    conv_id: str
    kind: str  # "private", "group-v2", "group-v1"
    peer: _Person | None = None
    group_id: bytes = b""
    title: str = ""
    senders: list[str] = field(default_factory=list)  # ACIs who post in it
    admins: list[str] = field(default_factory=list)


@dataclass
class _File:
    kind: str  # "encrypted", "plain", "traversal", "missing", "no-path", "bad-padding", "size"
    plaintext: bytes
    content_type: str
    file_name: str | None
    path: str | None = None
    size: int = 0
    local_key: str | None = None
    version: int | None = None


def make_desktop_profile(
    out_dir: Path,
    *,
    seed: int = 0,
    schema: int = 1360,
    key_form: str = "plain",
    password: str | None = None,
    accounts: int = 6,
    groups: int = 2,
    v1_groups: int = 0,
    messages: int = 30,
    attachments: int = 5,
    plain_attachments: int = 1,
    encrypted_attachments: bool = True,
    wal_messages: int = 4,
    owner_conversation: bool = True,
    quirks: bool = False,
) -> PlantedProfile:
    """Writes ``out_dir/Signal``, a Signal Desktop profile, and says what it holds.

    ``accounts`` contacts (private conversations) besides the owner, ``groups`` v2 groups (each
    with the owner and contacts as members and admins, one member known only by ACI, one
    invitee, one join request and one ban), ``v1_groups`` legacy groups, ``messages`` messages
    (one group-update per v2 group among them), ``attachments`` readable attachment files
    (``plain_attachments`` of them old-style plaintext, all of them when
    ``encrypted_attachments`` is false). ``password`` is the safe-storage password for the
    ``linux-v11`` and ``macos-v10`` forms (an invented one when None).
    """
    if key_form not in KEY_FORMS:
        raise ValueError(f"key_form must be one of {', '.join(KEY_FORMS)}, not {key_form!r}")
    if schema < 43:
        raise ValueError("schemas before 43 (group members by conversation id) are not written")
    if messages < groups + 1:
        raise ValueError("need at least one message per v2 group and one more")
    rng = random.Random(seed)
    profile = out_dir / "Signal"
    (profile / "sql").mkdir(parents=True, exist_ok=True)
    (profile / "attachments.noindex").mkdir(exist_ok=True)

    key = rng.randbytes(32)
    if key_form in ("linux-v11", "macos-v10") and password is None:
        password = f"Synthetic-Safe-Storage-{seed}"
    if key_form in ("plain", "linux-v10", "windows-gcm"):
        password = None
    windows_key = _write_config(profile, key, key_form, password, rng)

    owner = _person(rng, 0)
    owner_device = 2  # a linked Desktop: the phone is device 1
    contacts = [_person(rng, i + 1) for i in range(accounts)]
    planted = PlantedProfile(
        profile=profile,
        schema=schema,
        key_form=key_form,
        key_hex=key.hex(),
        password=password,
        windows_key=windows_key,
        owner_aci=owner.aci,
        owner_e164=owner.e164 or "",
        owner_conversation=owner_conversation,
        accounts=accounts + 1,
        contacts={c.aci: c.e164 or "" for c in contacts},
        regions={p.region for p in [owner, *contacts] if p.region},
    )

    chats: list[_Chat] = [_Chat(c.conv_id, "private", peer=c, senders=[c.aci]) for c in contacts]
    group_rows: list[dict[str, Any]] = []
    for g in range(groups):
        chat, row = _group_v2(rng, g, owner, contacts, schema, planted)
        chats.append(chat)
        group_rows.append(row)
    for g in range(v1_groups):
        chat, row = _group_v1(rng, g, contacts, planted)
        chats.append(chat)
        group_rows.append(row)

    people = {p.aci: p for p in [owner, *contacts]}
    plan = _plan_messages(rng, chats, owner, messages, planted)
    files = _plan_files(rng, seed, plan, attachments, plain_attachments, encrypted_attachments)
    if quirks:
        files += _quirk_files(rng, seed, plan)
    for msg_index, f in files:
        _write_file(profile, f, rng)
        n = len(plan[msg_index].setdefault("files", []))
        ref = f"message/{plan[msg_index]['id']}/attachment/{n}"
        expected = hashlib.sha256(f.plaintext).hexdigest()
        planted.attachments[ref] = (
            None if f.kind in ("traversal", "missing", "no-path") else expected
        )
        if f.path and f.kind not in ("traversal", "missing"):
            planted.attachment_files[ref] = profile / "attachments.noindex" / f.path
        code = {
            "traversal": "path-traversal",
            "missing": "attachment-missing",
            "no-path": "not-downloaded",
            "bad-padding": "bad-padding",
            "size": "size-mismatch",
        }.get(f.kind)
        if code:
            planted.problems[ref] = code
        plan[msg_index]["files"].append((n, f))

    wal_from = len(plan) - min(wal_messages, len(plan))
    planted.wal_message_ids = [m["id"] for m in plan[wal_from:]]
    _write_database(
        profile / "sql" / "db.sqlite",
        key,
        schema,
        owner,
        owner_device,
        owner_conversation,
        contacts,
        group_rows,
        people,
        plan,
        wal_from,
        legacy_json_message=_first_with_files(plan),
    )
    return planted


# --- people, groups, messages ------------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _phone(rng: random.Random, region: str) -> str:
    """An invented mobile number valid for ``region``: a fiction range where the country has one
    (US/CA 555-01xx, AU 0491 570 xxx), else the library's example number with new last digits."""
    fmt = phonenumbers.PhoneNumberFormat.E164
    if region in ("US", "CA"):
        return f"+1201555{rng.randrange(100, 200):04d}"
    if region == "AU":
        return f"+6149157{rng.choice(('0006', '0156', '0157', '0158', '0159', '0110'))}"
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        raise ValueError(f"phonenumbers has no example mobile number for {region}")
    national = str(example.national_number)
    for _ in range(50):
        candidate = national[:-3] + f"{rng.randrange(1000):03d}"
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, fmt)
    return phonenumbers.format_number(example, fmt)


def _person(rng: random.Random, index: int) -> _Person:
    region = _REGIONS[index % len(_REGIONS)]
    given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
    return _Person(
        conv_id=_uuid(rng),
        aci=_uuid(rng),
        e164=_phone(rng, region),
        region=region,
        given=given,
        family=family,
        contact_name=f"{given} {family[0]}." if index % 2 else None,
        username=f"{given.lower()}.{rng.randrange(10, 99)}" if index % 3 == 1 else None,
        pni=_uuid(rng) if index % 2 == 0 else None,
    )


def _group_v2(
    rng: random.Random,
    g: int,
    owner: _Person,
    contacts: list[_Person],
    schema: int,
    planted: PlantedProfile,
) -> tuple[_Chat, dict[str, Any]]:
    """A v2 group: owner (admin) and three contacts as members (the first an admin), one member
    known only by ACI, a contact invited, a stranger asking to join, a stranger banned."""
    n = len(contacts)
    chosen = [contacts[(g * 2 + k) % n] for k in range(min(3, n))] if n else []
    chosen = list({c.aci: c for c in chosen}.values())
    invitee = contacts[(g * 2 + 3) % n] if n > 3 else None
    if invitee is not None and invitee in chosen:
        invitee = None
    stranger, requester, banned = _uuid(rng), _uuid(rng), _uuid(rng)
    group_id = rng.randbytes(32)
    title = f"{rng.choice(_DAYS)} {rng.choice(('book club', 'climbing', 'choir', 'garden'))} {g}"
    members = [(owner.aci, ROLE_ADMINISTRATOR)]
    members += [
        (c.aci, ROLE_ADMINISTRATOR if k == 0 else ROLE_DEFAULT) for k, c in enumerate(chosen)
    ]
    members.append((stranger, ROLE_DEFAULT))
    modern = schema >= 88
    member_key = "aci" if modern else "uuid"
    sid_key = "serviceId" if modern else "uuid"
    data: dict[str, Any] = {
        "membersV2": [
            {member_key: aci, "role": role, "joinedAtVersion": i}
            for i, (aci, role) in enumerate(members)
        ],
        "pendingMembersV2": [
            {sid_key: invitee.aci, "addedByUserId": owner.aci, "timestamp": _BASE_MS, "role": 1}
        ]
        if invitee
        else [],
        "pendingAdminApprovalV2": [{member_key: requester, "timestamp": _BASE_MS}],
        "bannedMembersV2": [{sid_key: banned, "timestamp": _BASE_MS}],
        "groupVersion": 2,
        "revision": len(members),
    }
    key = f"signal-v2:{group_id.hex()}"
    roles = {aci: "admin" if role == ROLE_ADMINISTRATOR else "member" for aci, role in members}
    if invitee:
        roles[invitee.aci] = "pending"
    roles[requester] = "requesting"
    roles[banned] = "banned"
    planted.groups[key] = roles
    planted.group_titles[key] = title
    planted.accounts += 3  # stranger, requester, banned: known by ACI only
    chat = _Chat(
        conv_id=_uuid(rng),
        kind="group-v2",
        group_id=group_id,
        title=title,
        senders=[owner.aci, *(c.aci for c in chosen), stranger],
        admins=[owner.aci, *(c.aci for c in chosen[:1])],
    )
    return chat, {"chat": chat, "data": data, "members": [aci for aci, _ in members]}


def _group_v1(
    rng: random.Random, g: int, contacts: list[_Person], planted: PlantedProfile
) -> tuple[_Chat, dict[str, Any]]:
    """A legacy group: a 16-byte id, members listed by conversation id."""
    chosen = list({c.aci: c for c in contacts[g : g + 3]}.values())
    group_id = rng.randbytes(16)
    title = f"Old {rng.choice(('neighbours', 'class of 2009', 'five-a-side'))} {g}"
    key = f"signal-v1:{group_id.hex()}"
    planted.groups[key] = {c.aci: "member" for c in chosen}
    planted.group_titles[key] = title
    chat = _Chat(
        conv_id=_uuid(rng),
        kind="group-v1",
        group_id=group_id,
        title=title,
        senders=[c.aci for c in chosen],
    )
    data = {"members": [c.conv_id for c in chosen]}
    return chat, {"chat": chat, "data": data, "members": [c.conv_id for c in chosen]}


def _body(rng: random.Random) -> str:
    return rng.choice(_BODIES).format(
        day=rng.choice(_DAYS), hour=f"{rng.randrange(7, 20)}:00", mins=rng.randrange(3, 25)
    )


def _plan_messages(
    rng: random.Random,
    chats: list[_Chat],
    owner: _Person,
    count: int,
    planted: PlantedProfile,
) -> list[dict[str, Any]]:
    plan: list[dict[str, Any]] = []
    v2 = [c for c in chats if c.kind == "group-v2"]
    for chat in v2:  # one group update each, made by an admin
        plan.append({"chat": chat, "type": "group-v2-change", "sender": chat.admins[-1]})
    turn = 0
    while chats and len(plan) < count:
        chat = chats[turn % len(chats)]
        turn += 1
        pool = chat.senders + [owner.aci] if chat.kind != "group-v2" else chat.senders
        sender = pool[rng.randrange(len(pool))]
        kind = "outgoing" if sender == owner.aci else "incoming"
        plan.append({"chat": chat, "type": kind, "sender": sender, "body": _body(rng)})
    reported = {"group-v2-change": "group-update"}
    for i, m in enumerate(plan):
        m["id"] = _uuid(rng)
        m["sent_at"] = _BASE_MS + i * 420_000 + rng.randrange(60_000)
        m["received_at_ms"] = m["sent_at"] + rng.randrange(200, 5000)
        planted.message_ids.append(m["id"])
        planted.senders[m["sender"]] = planted.senders.get(m["sender"], 0) + 1
        t = reported.get(m["type"], m["type"])
        planted.types[t] = planted.types.get(t, 0) + 1
    planted.messages = len(plan)
    return plan


def _picture(rng: random.Random, seed: int) -> tuple[bytes, str, str | None]:
    fmt = rng.choice(("JPEG", "PNG"))
    data = make_picture(seed, (rng.randrange(48, 160), rng.randrange(48, 160)), fmt)
    content_type = "image/jpeg" if fmt == "JPEG" else "image/png"
    name = f"IMG_{seed:05d}.{'jpg' if fmt == 'JPEG' else 'png'}" if seed % 2 else None
    return data, content_type, name


def _carriers(plan: list[dict[str, Any]]) -> list[int]:
    return [i for i, m in enumerate(plan) if m["type"] != "group-v2-change"]


def _plan_files(
    rng: random.Random,
    seed: int,
    plan: list[dict[str, Any]],
    count: int,
    plain: int,
    encrypted: bool,
) -> list[tuple[int, _File]]:
    """Readable attachments: the last message (in the WAL) carries one, the others are spread
    over the messages (the first carrier gets two when there are more than messages)."""
    carriers = _carriers(plan)
    if not carriers or count <= 0:
        return []
    step = max(1, len(carriers) // max(1, count))
    slots = [carriers[-1]] + [carriers[(i * step) % len(carriers)] for i in range(count - 1)]
    out = []
    for k, slot in enumerate(slots):
        data, content_type, name = _picture(rng, seed * 1000 + k)
        kind = "encrypted" if encrypted and k >= plain else "plain"
        out.append((slot, _File(kind, data, content_type, name)))
    return out


def _quirk_files(
    rng: random.Random, seed: int, plan: list[dict[str, Any]]
) -> list[tuple[int, _File]]:
    carriers = _carriers(plan)
    out = []
    for k, kind in enumerate(("traversal", "missing", "no-path", "bad-padding", "size")):
        index = carriers[(k + 1) % len(carriers)]
        data, content_type, name = _picture(rng, seed * 1000 + 500 + k)
        out.append((index, _File(kind, data, content_type, name)))
    return out


def _bucket(size: int) -> int:
    """Signal's attachment size bucket (``getAttachmentSizeBucket``)."""
    return max(541, math.floor(1.05 ** math.ceil(math.log(max(size, 1)) / math.log(1.05))))


def _encrypt_v2(body: bytes, keys: bytes, iv: bytes, pkcs7: bool = True) -> bytes:
    if pkcs7:
        pad = 16 - len(body) % 16
        body += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(keys[:32]), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(body) + enc.finalize()
    mac = hmac.new(keys[32:], iv + ciphertext, hashlib.sha256).digest()
    return iv + ciphertext + mac


def _write_file(profile: Path, f: _File, rng: random.Random) -> None:
    name = rng.randbytes(32).hex()
    f.path = f"{name[:2]}/{name}"
    f.size = len(f.plaintext)
    if f.kind == "no-path":
        f.path = None
        return
    if f.kind == "traversal":
        f.path = "../config.json"
        return
    if f.kind == "missing":
        return
    target = profile / "attachments.noindex" / f.path
    target.parent.mkdir(parents=True, exist_ok=True)
    if f.kind == "plain":
        target.write_bytes(f.plaintext)
        return
    keys, iv = rng.randbytes(64), rng.randbytes(16)
    f.local_key = base64.b64encode(keys).decode("ascii")
    f.version = 2
    if f.kind == "bad-padding":
        body = f.plaintext + bytes(-len(f.plaintext) % 16 or 16)  # ends in 0x00: not PKCS#7
        target.write_bytes(_encrypt_v2(body, keys, iv, pkcs7=False))
    elif f.kind == "size":
        target.write_bytes(_encrypt_v2(f.plaintext, keys, iv))
        f.size = len(f.plaintext) + 100  # the row claims more than the file holds
    else:
        padded = f.plaintext + bytes(_bucket(len(f.plaintext)) - len(f.plaintext))
        target.write_bytes(_encrypt_v2(padded, keys, iv))


def _first_with_files(plan: list[dict[str, Any]]) -> str | None:
    return next((m["id"] for m in plan if m.get("files")), None)


# --- config.json -------------------------------------------------------------------------------


def _write_config(
    profile: Path, key: bytes, form: str, password: str | None, rng: random.Random
) -> bytes | None:
    key_text = key.hex().encode("ascii")
    config: dict[str, Any] = {"mediaPermissions": True}
    windows_key = None
    if form == "plain":
        config["key"] = key.hex()
    elif form == "linux-v11":
        blob = chromium_cbc_encrypt(key_text, password or "", LINUX_ITERATIONS, b"v11")
        config.update(encryptedKey=blob.hex(), safeStorageBackend="gnome_libsecret")
    elif form == "linux-v10":
        blob = chromium_cbc_encrypt(key_text, "peanuts", LINUX_ITERATIONS, b"v10")
        config.update(encryptedKey=blob.hex(), safeStorageBackend="basic_text")
    elif form == "macos-v10":
        blob = chromium_cbc_encrypt(key_text, password or "", MACOS_ITERATIONS, b"v10")
        config["encryptedKey"] = blob.hex()
    else:  # windows-gcm
        windows_key = rng.randbytes(32)
        nonce = rng.randbytes(12)
        blob = b"v10" + nonce + AESGCM(windows_key).encrypt(nonce, key_text, None)
        config["encryptedKey"] = blob.hex()
        placeholder = b"DPAPI" + rng.randbytes(178)  # not a real DPAPI blob: nothing unwraps it
        state = {"os_crypt": {"encrypted_key": base64.b64encode(placeholder).decode("ascii")}}
        (profile / "Local State").write_text(json.dumps(state), encoding="utf-8")
    (profile / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return windows_key


# --- the database ------------------------------------------------------------------------------


def _ddl(schema: int) -> str:
    """CREATE statements as the migrations leave the tables at ``schema`` (a subset of the
    columns, with their real names and declared types)."""
    sid = "serviceId" if schema >= 88 else "uuid"
    source_sid = "sourceServiceId" if schema >= 88 else "sourceUuid"
    old_source = "" if schema >= 1270 else "\n  source STRING,"
    normalized = (
        ",\n  timestamp INTEGER,\n  received_at_ms INTEGER,"
        "\n  unidentifiedDeliveryReceived INTEGER,\n  serverTimestamp INTEGER,\n  source TEXT"
        if schema >= 1270
        else ""
    )
    ddl = f"""
CREATE TABLE conversations(
  id STRING PRIMARY KEY ASC,
  json TEXT,
  active_at INTEGER,
  type STRING,
  members TEXT,
  name TEXT,
  profileName TEXT,
  profileFamilyName TEXT,
  profileFullName TEXT,
  e164 TEXT,
  {sid} TEXT,
  groupId TEXT,
  profileLastFetchedAt INTEGER
);
CREATE INDEX conversations_e164 ON conversations(e164);
CREATE INDEX conversations_{sid} ON conversations({sid});
CREATE INDEX conversations_groupId ON conversations(groupId);
CREATE TABLE items(
  id STRING PRIMARY KEY ASC,
  json TEXT
);
CREATE TABLE messages(
  rowid INTEGER PRIMARY KEY ASC,
  id STRING UNIQUE,
  json TEXT,
  readStatus INTEGER,
  expires_at INTEGER,
  sent_at INTEGER,
  schemaVersion INTEGER,
  conversationId STRING,
  received_at INTEGER,{old_source}
  hasAttachments INTEGER,
  hasFileAttachments INTEGER,
  hasVisualMediaAttachments INTEGER,
  expireTimer INTEGER,
  expirationStartTimestamp INTEGER,
  type STRING,
  body TEXT,
  isErased INTEGER,
  isViewOnce INTEGER,
  {source_sid} TEXT,
  serverGuid STRING NULL,
  sourceDevice INTEGER,
  storyId STRING,
  isStory INTEGER
    GENERATED ALWAYS AS (type IS 'story'){normalized}
);
CREATE INDEX messages_id ON messages (id ASC);
CREATE INDEX messages_conversation ON messages (conversationId, received_at);
CREATE INDEX messages_{source_sid} on messages({source_sid});
"""
    if schema >= 1360:
        ddl += """
CREATE TABLE message_attachments (
  messageId TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  editHistoryIndex INTEGER NOT NULL,
  attachmentType TEXT NOT NULL,
  orderInMessage INTEGER NOT NULL,
  conversationId TEXT NOT NULL,
  sentAt INTEGER NOT NULL,
  clientUuid TEXT,
  size INTEGER NOT NULL,
  contentType TEXT NOT NULL,
  path TEXT,
  plaintextHash TEXT,
  localKey TEXT,
  caption TEXT,
  fileName TEXT,
  height INTEGER,
  width INTEGER,
  digest TEXT,
  key TEXT,
  iv TEXT,
  version INTEGER,
  pending INTEGER,
  error INTEGER,
  PRIMARY KEY (messageId, editHistoryIndex, attachmentType, orderInMessage)
) STRICT;
"""
    return ddl


def _write_database(
    target: Path,
    key: bytes,
    schema: int,
    owner: _Person,
    owner_device: int,
    owner_conversation: bool,
    contacts: list[_Person],
    group_rows: list[dict[str, Any]],
    people: dict[str, _Person],
    plan: list[dict[str, Any]],
    wal_from: int,
    legacy_json_message: str | None,
) -> None:
    stage = Path(tempfile.mkdtemp(prefix=".stage-", dir=target.parent))
    db = stage / target.name
    conn = sqlcipher3.connect(str(db))
    try:
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.executescript(_ddl(schema))
        conn.execute(f"PRAGMA user_version = {int(schema)}")
        _insert_items(conn, schema, owner, owner_device)
        privates = [*contacts, owner] if owner_conversation else list(contacts)
        for person in privates:
            _insert_private(conn, schema, person)
        for row in group_rows:
            _insert_group(conn, schema, row)
        for i, m in enumerate(plan[:wal_from]):
            _insert_message(conn, schema, i, m, owner, owner_device, people, legacy_json_message)
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for i, m in enumerate(plan[wal_from:], start=wal_from):
            _insert_message(conn, schema, i, m, owner, owner_device, people, legacy_json_message)
        conn.commit()
        for suffix in ("", "-wal", "-shm"):  # copied while open: the WAL is not checkpointed
            part = db.with_name(db.name + suffix)
            if part.exists():
                shutil.copyfile(part, target.with_name(target.name + suffix))
    finally:
        conn.close()
        shutil.rmtree(stage, ignore_errors=True)


def _insert(conn: Any, table: str, values: dict[str, Any]) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values()))


def _insert_items(conn: Any, schema: int, owner: _Person, device: int) -> None:
    items = {
        "uuid_id": f"{owner.aci}.{device}",
        "number_id": f"{owner.e164}.{device}",
        "pni": (f"PNI:{owner.pni}" if schema >= 88 else owner.pni) if owner.pni else None,
        "device_name": "Synthetic Desktop",
    }
    for item_id, value in items.items():
        if value is not None:
            _insert(
                conn, "items", {"id": item_id, "json": json.dumps({"id": item_id, "value": value})}
            )


def _insert_private(conn: Any, schema: int, p: _Person) -> None:
    sid = "serviceId" if schema >= 88 else "uuid"
    pni = (f"PNI:{p.pni}" if schema >= 88 else p.pni) if p.pni else None
    data: dict[str, Any] = {
        "id": p.conv_id,
        "type": "private",
        "e164": p.e164,
        sid: p.aci,
        "profileName": p.given,
        "profileFamilyName": p.family,
        "version": 2,
        "unreadCount": 0,
    }
    if pni:
        data["pni"] = pni
    if p.contact_name:
        data["name"] = p.contact_name
    if p.username:
        data["username"] = p.username
    _insert(
        conn,
        "conversations",
        {
            "id": p.conv_id,
            "json": json.dumps(data),
            "active_at": _BASE_MS,
            "type": "private",
            "members": None,
            "name": p.contact_name,
            "profileName": p.given,
            "profileFamilyName": p.family,
            "profileFullName": f"{p.given} {p.family}",
            "e164": p.e164,
            sid: p.aci,
            "groupId": None,
            "profileLastFetchedAt": _BASE_MS,
        },
    )


def _insert_group(conn: Any, schema: int, row: dict[str, Any]) -> None:
    chat: _Chat = row["chat"]
    group_id = base64.b64encode(chat.group_id).decode("ascii")
    data = {"id": chat.conv_id, "type": "group", "groupId": group_id, "name": chat.title}
    data.update(row["data"])
    _insert(
        conn,
        "conversations",
        {
            "id": chat.conv_id,
            "json": json.dumps(data),
            "active_at": _BASE_MS,
            "type": "group",
            "members": " ".join(row["members"]),
            "name": chat.title,
            "groupId": group_id,
        },
    )


def _insert_message(
    conn: Any,
    schema: int,
    index: int,
    m: dict[str, Any],
    owner: _Person,
    owner_device: int,
    people: dict[str, _Person],
    legacy_json_message: str | None,
) -> None:
    chat: _Chat = m["chat"]
    sender = people.get(m["sender"])
    source_sid = "sourceServiceId" if schema >= 88 else "sourceUuid"
    files: list[tuple[int, _File]] = m.get("files", [])
    in_table = schema >= 1360 and m["id"] != legacy_json_message
    data: dict[str, Any] = {
        "id": m["id"],
        "conversationId": chat.conv_id,
        "type": m["type"],
        "sent_at": m["sent_at"],
        "timestamp": m["sent_at"],
        "received_at": 1_700_000_000_000 + index,  # a counter, not a time
        "received_at_ms": m["received_at_ms"],
        "schemaVersion": 10,
    }
    row: dict[str, Any] = {
        "id": m["id"],
        "readStatus": 0,
        "sent_at": m["sent_at"],
        "schemaVersion": 10,
        "conversationId": chat.conv_id,
        "received_at": data["received_at"],
        "hasAttachments": 1 if files else 0,
        "hasFileAttachments": 0,
        "hasVisualMediaAttachments": 1 if files else 0,
        "type": m["type"],
        "isErased": 0,
        "isViewOnce": 0,
    }
    if m["type"] == "group-v2-change":
        data["groupV2Change"] = {
            "from": m["sender"],
            "details": [{"type": "title", "newTitle": chat.title}],
        }
    else:
        data["body"] = row["body"] = m["body"]
        e164 = owner.e164 if m["type"] == "outgoing" else (sender.e164 if sender else None)
        if e164:
            data["source"] = row["source"] = e164  # NUMERIC affinity before 1270: "+" lost
        data[source_sid] = row[source_sid] = m["sender"]
        data["sourceDevice"] = row["sourceDevice"] = owner_device if m["type"] == "outgoing" else 1
    if schema >= 1270:
        row.update(
            timestamp=m["sent_at"],
            received_at_ms=m["received_at_ms"],
            serverTimestamp=m["sent_at"] + 150,
            unidentifiedDeliveryReceived=1,
        )
    if files and not in_table:
        data["attachments"] = [_attachment_json(f) for _, f in sorted(files, key=lambda x: x[0])]
    row["json"] = json.dumps(data)
    _insert(conn, "messages", row)
    if files and in_table:
        for n, f in files:
            _insert(
                conn,
                "message_attachments",
                {
                    "messageId": m["id"],
                    "editHistoryIndex": -1,
                    "attachmentType": "attachment",
                    "orderInMessage": n,
                    "conversationId": chat.conv_id,
                    "sentAt": m["sent_at"],
                    "size": f.size,
                    "contentType": f.content_type,
                    "path": f.path,
                    "plaintextHash": hashlib.sha256(f.plaintext).hexdigest(),
                    "localKey": f.local_key,
                    "fileName": f.file_name,
                    "version": f.version,
                    "pending": 0,
                },
            )


def _attachment_json(f: _File) -> dict[str, Any]:
    data: dict[str, Any] = {
        "contentType": f.content_type,
        "size": f.size,
        "plaintextHash": hashlib.sha256(f.plaintext).hexdigest(),
    }
    for name, value in (
        ("path", f.path),
        ("fileName", f.file_name),
        ("localKey", f.local_key),
        ("version", f.version),
    ):
        if value is not None:
            data[name] = value
    return data
