"""Signal Desktop profiles: accounts, groups, memberships, messages and attachments.

A profile folder (``~/.config/Signal``, ``~/Library/Application Support/Signal``,
``%APPDATA%\\Signal``) holds ``config.json`` (the database key, see
:mod:`lanterne.messaging.signal_desktop_key`), ``sql/db.sqlite`` (SQLCipher 4, with its ``-wal``
and ``-shm``) and ``attachments.noindex/``.

The database is never opened where it lies: :func:`open_profile` copies ``db.sqlite`` and its
``-wal``/``-shm`` into a scratch folder first, since SQLite replays (and may checkpoint) the WAL
into the file it opens. The copy keeps the writes only the WAL holds.

Schema generations (``PRAGMA user_version``; the reader also looks at the actual columns):

* before 88: ``conversations.uuid``, ``messages.sourceUuid``; group lists in
  ``conversations.json`` name people by ``uuid`` (43–87) or ``conversationId`` (before 43);
  before 1270 ``messages.source`` has NUMERIC affinity, so E.164 numbers come back as integers
  without their ``+``.
* 88 and later: ``conversations.serviceId``, ``messages.sourceServiceId``; ``membersV2[].aci``,
  ``pendingMembersV2[].serviceId``, ``pendingAdminApprovalV2[].aci``,
  ``bannedMembersV2[].serviceId``; PNIs carry a ``PNI:`` prefix.
* 1270 and later: ``messages.timestamp``, ``received_at_ms``, ``serverTimestamp`` and a TEXT
  ``source`` (``received_at`` is a counter, not a time).
* 1360 and later: table ``message_attachments`` (one row per attachment, key
  ``messageId, editHistoryIndex, attachmentType, orderInMessage``; −1 is the current version of
  an edited message). Messages not yet migrated still carry ``json.attachments``: the table is
  read first, the JSON is the fall-back.

Group roles follow ``Member.Role`` of Signal's ``Groups.proto``: UNKNOWN = 0, DEFAULT = 1,
ADMINISTRATOR = 2; ``membersV2[].role`` 2 is an admin, anything else a member. The owner's own
ACI is the ``items`` row ``uuid_id`` (``"<ACI>.<device id>"``), the number ``number_id``.

Attachment files are ``attachments.noindex/<2 hex>/<64 hex>`` (the row's ``path``). Without a
``version`` (or below 2) the file is the plaintext. Version 2 is encrypted at rest: ``localKey``
is base64 of 64 bytes (AES-256 key ‖ HMAC-SHA256 key) and the file is IV (16) ‖ AES-256-CBC
ciphertext ‖ HMAC-SHA256 (32) over IV ‖ ciphertext. Signal pads the plaintext with zeros to a
size bucket before encrypting, so the recorded ``size`` cuts the decrypted bytes. This reader
verifies the MAC (streaming), checks the PKCS#7 padding from the last block alone (CBC lets one
block be decrypted with the previous one as IV), and keeps what it can prove, with a problem for
every disagreement: ``mac-mismatch`` (no opener), ``bad-padding`` and ``size-mismatch`` (opener
kept), ``attachment-missing``, ``path-traversal``, ``not-downloaded``, ``undecryptable``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import sqlcipher3  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lanterne.errors import CorruptData, NotMyFormat
from lanterne.messaging.records import (
    Account,
    Attachment,
    ChatDatabase,
    ChatWarning,
    Group,
    Member,
    Message,
    Record,
)
from lanterne.messaging.signal_desktop_key import (
    KEY_HELP,
    PASSWORD_HELP,
    MissingSecret,
    WrongSecret,
    desktop_key,
)

__all__ = [
    "APP",
    "MEMORY_LIMIT",
    "MissingSecret",
    "WrongSecret",
    "desktop_key",
    "open_profile",
]

APP = "signal-desktop"
MEMORY_LIMIT = 32 << 20
"""Decrypted attachments up to this size are handed out from memory, larger ones from a
temporary file in the scratch folder (deleted by the attachment's releaser)."""

V88_SERVICE_IDS = 88
V1270_NORMALIZED = 1270
V1360_ATTACHMENT_TABLE = 1360

ROLE_ADMINISTRATOR = 2
"""``Member.Role.ADMINISTRATOR`` in Signal's Groups.proto (UNKNOWN 0, DEFAULT 1)."""

_CHUNK = 1 << 20
_IV = 16
_MAC = 32
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_ATTACHMENT_KINDS = ("attachment", "long-message", "preview", "quote", "sticker", "contact")
_GROUP_LISTS = (
    ("membersV2", None),
    ("pendingMembersV2", "pending"),
    ("pendingAdminApprovalV2", "requesting"),
    ("bannedMembersV2", "banned"),
)
_GROUP_UPDATE_TYPES = frozenset({"group-v2-change", "group", "group-v1-migration"})


# --- opening -----------------------------------------------------------------------------------


def open_profile(profile: Path, key: str, workdir: Path) -> ChatDatabase:
    """The chat database of the Signal Desktop profile folder ``profile``.

    ``key`` is the 64-hex SQLCipher key (:func:`desktop_key`). ``sql/db.sqlite`` and its
    ``-wal``/``-shm`` are copied into a new folder under ``workdir`` and only the copy is opened;
    the profile is only ever read. Raises :class:`WrongSecret` when the key does not open the
    database, :class:`~lanterne.errors.NotMyFormat` when there is no ``sql/db.sqlite``.
    """
    db = profile / "sql" / "db.sqlite"
    if not db.is_file():
        raise NotMyFormat(f"{profile} holds no sql/db.sqlite: not a Signal Desktop profile")
    key = key.strip().lower()
    if not _HEX64.fullmatch(key):
        raise WrongSecret(f"the database key must be 64 hexadecimal characters; pass {KEY_HELP}")
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="signal-desktop-", dir=workdir))
    copy = scratch / "db.sqlite"
    for suffix in ("", "-wal", "-shm"):
        source = db.with_name(db.name + suffix)
        if source.is_file():
            shutil.copyfile(source, scratch / (copy.name + suffix))
    try:
        conn = _connect(copy, key)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    reader = _Reader(profile=profile, copy=copy, key=key, scratch=scratch, version=version)
    return ChatDatabase(app=APP, schema_version=version, records=reader.records)


def _connect(path: Path, key: str) -> Any:
    conn = sqlcipher3.connect(str(path))
    try:
        conn.execute(f"PRAGMA key = \"x'{key}'\"")  # key is checked to be 64 hex digits
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("PRAGMA query_only = 1")
    except sqlcipher3.DatabaseError as exc:
        conn.close()
        raise WrongSecret(
            f"the database key does not open sql/db.sqlite ({exc}): pass the right key with "
            f"{KEY_HELP}, or the safe-storage password with {PASSWORD_HELP}"
        ) from exc
    conn.row_factory = sqlcipher3.Row
    return conn


# --- small value helpers ----------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bytes | dict | list):
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _ms(value: Any) -> datetime | None:
    """Milliseconds since the epoch → aware UTC; None for absent or absurd values."""
    ms = _int(value)
    if ms is None or ms <= 0:
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    except OverflowError:
        return None


def _e164(value: Any) -> str | None:
    """``messages.source`` before 1270 has NUMERIC affinity: ``+4915…`` comes back 4915…"""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"+{value}"
    text = _text(value)
    if text and text.isdigit():
        return "+" + text
    return text


def _sha256(value: Any) -> str | None:
    text = _text(value)
    return text.lower() if text and _HEX64.fullmatch(text) else None


def _loads(value: Any) -> dict[str, Any] | None:
    if value is None:
        return {}
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _names(given: Any, family: Any) -> str | None:
    parts = [p for p in (_text(given), _text(family)) if p]
    return " ".join(parts) or None


def _group_key(group_id: str) -> str:
    """``signal-v2:<hex>`` for a 32-byte group id (groups v2), ``signal-v1:<hex>`` otherwise."""
    try:
        raw = base64.b64decode(group_id, validate=True)
    except (binascii.Error, ValueError):
        return f"signal-v1:{group_id.encode('utf-8').hex()}"
    return f"signal-v{2 if len(raw) == 32 else 1}:{raw.hex()}"


def _message_type(value: str | None) -> str:
    if value in ("incoming", "outgoing"):
        return value
    if value in _GROUP_UPDATE_TYPES:
        return "group-update"
    if value == "call-history":
        return "call"
    return "other"


def _row_dict(row: Any) -> dict[str, Any]:
    return dict(zip(row.keys(), row, strict=True))


def _columns(conn: Any, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


# --- the reader --------------------------------------------------------------------------------


@dataclass
class _Conversation:
    id: str
    type: str | None
    row: Mapping[str, Any]
    data: dict[str, Any]
    ref: str


@dataclass
class _Directory:
    """Every account seen so far and how to find it from an identifier."""

    accounts: list[Account] = field(default_factory=list)
    by_service_id: dict[str, str] = field(default_factory=dict)
    by_e164: dict[str, str] = field(default_factory=dict)
    by_conversation: dict[str, str] = field(default_factory=dict)

    def add(self, account: Account, conversation_id: str | None = None) -> str:
        self.accounts.append(account)
        for sid in (account.aci, account.pni):
            if sid:
                self.by_service_id.setdefault(_sid_key(sid), account.ref)
        if account.e164:
            self.by_e164.setdefault(account.e164, account.ref)
        if conversation_id:
            self.by_conversation[conversation_id] = account.ref
        return account.ref

    def find(self, ident: Any) -> str | None:
        text = _text(ident)
        if not text:
            return None
        return (
            self.by_service_id.get(_sid_key(text))
            or self.by_conversation.get(text)
            or self.by_e164.get(_e164(ident) or text)
        )

    def find_or_add(self, ident: Any) -> str | None:
        """The account ``ident`` names, creating one that holds only that identifier."""
        text = _text(ident)
        if not text:
            return None
        found = self.find(ident)
        if found:
            return found
        if text.upper().startswith("PNI:"):
            return self.add(Account(ref=f"service-id/{text}", pni=text))
        if text.startswith("+"):
            return self.add(Account(ref=f"e164/{text}", e164=text))
        return self.add(Account(ref=f"service-id/{text}", aci=text))


def _sid_key(sid: str) -> str:
    return sid.lower()


@dataclass
class _Reader:
    profile: Path
    copy: Path
    key: str
    scratch: Path
    version: int

    def records(self) -> Iterator[Record]:
        conn = _connect(self.copy, self.key)
        try:
            yield from self._records(conn)
        finally:
            conn.close()

    def _records(self, conn: Any) -> Iterator[Record]:
        warnings: list[ChatWarning] = []
        conversations = self._conversations(conn, warnings)
        directory = _Directory()
        owner_ref = self._accounts(conn, conversations, directory)
        groups, members = self._groups(conversations, directory, warnings)
        self._unknown_senders(conn, directory)
        yield from directory.accounts
        yield from groups
        yield from members
        yield from warnings
        yield from self._messages(conn, conversations, directory, owner_ref)

    # conversations and accounts

    def _conversations(self, conn: Any, warnings: list[ChatWarning]) -> dict[str, _Conversation]:
        out: dict[str, _Conversation] = {}
        for row in conn.execute("SELECT * FROM conversations ORDER BY rowid"):
            cid = _text(row["id"])
            if cid is None:
                continue
            ref = f"conversation/{cid}"
            data = _loads(row["json"])
            if data is None:
                warnings.append(ChatWarning(ref, "bad-json", "conversations.json is not JSON"))
                data = {}
            out[cid] = _Conversation(cid, _text(row["type"]), _row_dict(row), data, ref)
        return out

    def _owner(self, conn: Any) -> tuple[str | None, str | None, str | None]:
        """(ACI, E.164, PNI) of the profile owner, from the ``items`` table."""
        values: dict[str, str] = {}
        query = "SELECT id, json FROM items WHERE id IN ('uuid_id', 'number_id', 'pni')"
        for row in conn.execute(query):
            data = _loads(row["json"])
            value = _text(data.get("value")) if data else None
            if value:
                values[row["id"]] = value
        aci = values["uuid_id"].rsplit(".", 1)[0] if "uuid_id" in values else None
        e164 = values["number_id"].rsplit(".", 1)[0] if "number_id" in values else None
        return aci, e164, values.get("pni")

    def _accounts(
        self, conn: Any, conversations: dict[str, _Conversation], directory: _Directory
    ) -> str | None:
        owner_aci, owner_e164, owner_pni = self._owner(conn)
        owner_ref: str | None = None
        for conv in conversations.values():
            if conv.type != "private":
                continue
            row, data = conv.row, conv.data
            sid = _text(row.get("serviceId") or row.get("uuid")) or _text(
                data.get("serviceId") or data.get("uuid")
            )
            aci = pni = None
            if sid and sid.upper().startswith("PNI:"):
                pni = sid
            else:
                aci = sid
            pni = pni or _text(data.get("pni"))
            e164 = _e164(row.get("e164") or data.get("e164"))
            is_self = bool(
                (owner_aci and aci and _sid_key(aci) == _sid_key(owner_aci))
                or (not owner_aci and owner_e164 and e164 == owner_e164)
            )
            if is_self and owner_ref is not None:
                is_self = False  # a duplicate row for the owner: keep the first as the owner
            account = Account(
                ref=conv.ref,
                e164=e164,
                aci=aci,
                pni=pni,
                username=_text(data.get("username")),
                profile_name=_text(row.get("profileFullName"))
                or _names(
                    row.get("profileName") or data.get("profileName"),
                    row.get("profileFamilyName") or data.get("profileFamilyName"),
                ),
                contact_name=_text(row.get("name") or data.get("name")),
                is_self=is_self,
            )
            directory.add(account, conv.id)
            if is_self:
                owner_ref = conv.ref
        if owner_ref is None and (owner_aci or owner_e164):
            owner_ref = directory.add(
                Account(
                    ref="item/uuid_id" if owner_aci else "item/number_id",
                    e164=owner_e164,
                    aci=owner_aci,
                    pni=owner_pni,
                    is_self=True,
                )
            )
        return owner_ref

    # groups and members

    def _groups(
        self,
        conversations: dict[str, _Conversation],
        directory: _Directory,
        warnings: list[ChatWarning],
    ) -> tuple[list[Group], list[Member]]:
        groups: list[Group] = []
        members: list[Member] = []
        for conv in conversations.values():
            if conv.type != "group":
                continue
            row, data = conv.row, conv.data
            group_id = _text(row.get("groupId") or data.get("groupId"))
            key = _group_key(group_id) if group_id else f"{APP}:{conv.id}"
            groups.append(
                Group(ref=conv.ref, key=key, title=_text(row.get("name") or data.get("name")))
            )
            directory.by_conversation[conv.id] = conv.ref
            if isinstance(data.get("membersV2"), list):
                members += self._members_v2(conv, directory, warnings)
            else:
                members += self._members_v1(conv, directory, warnings)
        return groups, members

    def _members_v2(
        self, conv: _Conversation, directory: _Directory, warnings: list[ChatWarning]
    ) -> list[Member]:
        out: list[Member] = []
        for list_name, fixed_role in _GROUP_LISTS:
            entries = conv.data.get(list_name)
            if not isinstance(entries, list):
                continue
            for i, entry in enumerate(entries):
                ref = f"{conv.ref}/{list_name}/{i}"
                if not isinstance(entry, dict):
                    warnings.append(ChatWarning(ref, "bad-member", "not a JSON object"))
                    continue
                ident = entry.get("aci") or entry.get("serviceId") or entry.get("uuid")
                account_ref = directory.find_or_add(ident) or directory.find(
                    entry.get("conversationId")
                )
                if account_ref is None:
                    warnings.append(ChatWarning(ref, "unknown-member", json.dumps(entry)[:200]))
                    continue
                role = fixed_role or (
                    "admin" if _int(entry.get("role")) == ROLE_ADMINISTRATOR else "member"
                )
                out.append(Member(ref=ref, group_ref=conv.ref, account_ref=account_ref, role=role))
        return out

    def _members_v1(
        self, conv: _Conversation, directory: _Directory, warnings: list[ChatWarning]
    ) -> list[Member]:
        listed = conv.data.get("members")
        if not isinstance(listed, list):
            column = _text(conv.row.get("members"))
            listed = column.split() if column else []
        out: list[Member] = []
        for i, ident in enumerate(listed):
            ref = f"{conv.ref}/members/{i}"
            account_ref = directory.find(ident)
            number = _text(ident)
            if account_ref is None and number and number.lstrip("+").isdigit():
                account_ref = directory.find_or_add(_e164(number))  # before 20: E.164 numbers
            if account_ref is None:
                warnings.append(ChatWarning(ref, "unknown-member", str(ident)[:200]))
                continue
            out.append(Member(ref=ref, group_ref=conv.ref, account_ref=account_ref, role="member"))
        return out

    def _unknown_senders(self, conn: Any, directory: _Directory) -> None:
        """Accounts for senders that no conversation row describes (they must come before the
        messages)."""
        columns = _columns(conn, "messages")
        for column in ("sourceServiceId", "sourceUuid"):
            if column in columns:
                for (sid,) in conn.execute(
                    f"SELECT DISTINCT {column} FROM messages WHERE {column} IS NOT NULL "
                    "AND type IS NOT 'outgoing'"
                ):
                    directory.find_or_add(sid)
        for (sid,) in conn.execute(
            "SELECT DISTINCT json_extract(json, '$.groupV2Change.from') FROM messages "
            "WHERE type = 'group-v2-change' AND json_valid(json)"
        ):
            directory.find_or_add(sid)

    # messages

    def _messages(
        self,
        conn: Any,
        conversations: dict[str, _Conversation],
        directory: _Directory,
        owner_ref: str | None,
    ) -> Iterator[Message | ChatWarning]:
        columns = _columns(conn, "messages")
        wanted = (
            "id", "json", "conversationId", "type", "body", "sent_at", "timestamp",
            "received_at_ms", "source", "sourceServiceId", "sourceUuid",
        )  # fmt: skip
        select = ", ".join(c for c in wanted if c in columns)
        attachment_table = "message_attachments" in {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        cursor = conn.cursor()
        cursor.execute(f"SELECT {select} FROM messages ORDER BY rowid")
        for row in cursor:
            row = _row_dict(row)
            mid = _text(row.get("id"))
            if mid is None:
                continue
            ref = f"message/{mid}"
            data = _loads(row.get("json"))
            if data is None:
                yield ChatWarning(ref, "bad-json", "messages.json is not JSON")
                data = {}
            raw_type = _text(row.get("type")) or _text(data.get("type"))
            kind = _message_type(raw_type)
            conv = conversations.get(_text(row.get("conversationId")) or "")
            if conv is None:
                yield ChatWarning(ref, "unknown-conversation", str(row.get("conversationId")))
            group_ref = conv.ref if conv and conv.type == "group" else None
            peer_ref = conv.ref if conv and conv.type == "private" else None
            if peer_ref is not None and peer_ref == owner_ref:
                peer_ref = None  # "Note to Self"
            sender = self._sender(row, data, kind, directory, owner_ref, peer_ref)
            body = row.get("body") if "body" in row else data.get("body")
            message = Message(
                ref=ref,
                sent_at=_ms(row.get("sent_at"))
                or _ms(data.get("sent_at"))
                or _ms(row.get("timestamp")),
                group_ref=group_ref,
                peer_ref=peer_ref,
                sender_ref=sender,
                received_at=_ms(row.get("received_at_ms")) or _ms(data.get("received_at_ms")),
                body=_text(body) if body is not None else None,
                type=kind,
            )
            metas = self._attachment_rows(conn, mid) if attachment_table else []
            if not metas:
                metas = _json_attachments(data)
            for attachment_kind, n, meta in metas:
                message.attachments.append(self._attachment(f"{ref}/{attachment_kind}/{n}", meta))
            yield message

    def _sender(
        self,
        row: Mapping[str, Any],
        data: Mapping[str, Any],
        kind: str,
        directory: _Directory,
        owner_ref: str | None,
        peer_ref: str | None,
    ) -> str | None:
        if kind == "outgoing":
            return owner_ref
        for ident in (
            row.get("sourceServiceId"),
            row.get("sourceUuid"),
            data.get("sourceServiceId"),
            data.get("sourceUuid"),
        ):
            found = directory.find(ident)
            if found:
                return found
        for number in (row.get("source"), data.get("source")):
            found = directory.by_e164.get(_e164(number) or "")
            if found:
                return found
        change = data.get("groupV2Change")
        if isinstance(change, dict):
            found = directory.find(change.get("from"))
            if found:
                return found
        if kind == "incoming":
            return peer_ref
        return None

    # attachments

    def _attachment_rows(self, conn: Any, message_id: str) -> list[tuple[str, int, dict[str, Any]]]:
        rows = conn.execute(
            "SELECT * FROM message_attachments WHERE messageId = ? AND editHistoryIndex = -1",
            (message_id,),
        ).fetchall()
        out: list[tuple[str, int, dict[str, Any]]] = []
        for row in rows:
            meta = _row_dict(row)
            kind = _text(meta.get("attachmentType")) or "attachment"
            if kind != "attachment" and not meta.get("path"):
                continue
            out.append((kind, _int(meta.get("orderInMessage")) or 0, meta))
        order = {k: i for i, k in enumerate(_ATTACHMENT_KINDS)}
        out.sort(key=lambda item: (order.get(item[0], len(order)), item[0], item[1]))
        return out

    def _attachment(self, ref: str, meta: Mapping[str, Any]) -> Attachment:
        recorded = _int(meta.get("size"))
        common: dict[str, Any] = {
            "content_type": _text(meta.get("contentType")),
            "file_name": _text(meta.get("fileName")),
            "declared_sha256": _sha256(meta.get("plaintextHash")),
        }
        path = _text(meta.get("path"))
        if path is None:
            return Attachment(
                ref, None, size=recorded, problem=("not-downloaded", "no path"), **common
            )
        full = self._resolve(path)
        if full is None:
            return Attachment(
                ref,
                None,
                size=recorded,
                problem=("path-traversal", f"path {path!r} leads outside attachments.noindex"),
                **common,
            )
        if not full.is_file():
            return Attachment(
                ref,
                None,
                size=recorded,
                problem=("attachment-missing", f"attachments.noindex/{path} is not in the profile"),
                **common,
            )
        version = _int(meta.get("version"))
        if version is not None and version >= 2:
            return _encrypted_attachment(ref, full, meta, recorded, self.scratch, common)
        actual = full.stat().st_size
        problem = None
        if recorded is not None and recorded != actual:
            problem = ("size-mismatch", f"recorded size {recorded}, file has {actual} bytes")
        return Attachment(ref, lambda: full.open("rb"), size=actual, problem=problem, **common)

    def _resolve(self, path: str) -> Path | None:
        """The file ``path`` names under ``attachments.noindex``, None when it would leave it."""
        rel = path.replace("\\", "/")
        if (
            "\x00" in rel
            or rel.startswith("/")
            or re.match(r"^[A-Za-z]:", rel)
            or ".." in rel.split("/")
        ):
            return None
        root = self.profile / "attachments.noindex"
        full = root / rel
        try:
            if not full.resolve().is_relative_to(root.resolve()):
                return None  # a symbolic link out of the folder
        except (OSError, RuntimeError):
            return None
        return full


def _json_attachments(data: Mapping[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    """Attachments as ``messages.json`` describes them (before 1360, and messages the
    ``message_attachments`` table does not hold)."""
    out: list[tuple[str, int, dict[str, Any]]] = []

    def add(kind: str, n: int, meta: Any, always: bool = False) -> None:
        if isinstance(meta, dict) and (always or meta.get("path")):
            out.append((kind, n, meta))

    attachments = data.get("attachments")
    for i, meta in enumerate(attachments if isinstance(attachments, list) else []):
        add("attachment", i, meta, always=True)
    add("long-message", 0, data.get("bodyAttachment"))
    previews = data.get("preview")
    for i, preview in enumerate(previews if isinstance(previews, list) else []):
        if isinstance(preview, dict):
            add("preview", i, preview.get("image"))
    quote = data.get("quote")
    quoted = quote.get("attachments") if isinstance(quote, dict) else None
    for i, item in enumerate(quoted if isinstance(quoted, list) else []):
        if isinstance(item, dict):
            add("quote", i, item.get("thumbnail"))
    sticker = data.get("sticker")
    if isinstance(sticker, dict):
        add("sticker", 0, sticker.get("data"))
    contacts = data.get("contact")
    for i, contact in enumerate(contacts if isinstance(contacts, list) else []):
        avatar = contact.get("avatar") if isinstance(contact, dict) else None
        if isinstance(avatar, dict):
            add("contact", i, avatar.get("avatar"))
    return out


# --- encrypted attachment files ----------------------------------------------------------------


def _encrypted_attachment(
    ref: str,
    full: Path,
    meta: Mapping[str, Any],
    recorded: int | None,
    scratch: Path,
    common: dict[str, Any],
) -> Attachment:
    local_key = _text(meta.get("localKey"))
    try:
        keys = base64.b64decode(local_key or "", validate=True)
    except (binascii.Error, ValueError):
        keys = b""
    if len(keys) != 64:
        return Attachment(
            ref,
            None,
            size=recorded,
            problem=("undecryptable", "localKey is not base64 of 64 bytes"),
            **common,
        )
    file_size = full.stat().st_size
    if file_size < _IV + _MAC or not _mac_ok(full, keys[32:], file_size):
        return Attachment(
            ref,
            None,
            size=recorded,
            problem=("mac-mismatch", f"the HMAC-SHA256 of {full.name} does not check"),
            **common,
        )
    cipher_length = file_size - _IV - _MAC
    if cipher_length == 0 or cipher_length % 16:
        return Attachment(
            ref,
            None,
            size=recorded,
            problem=("undecryptable", f"{cipher_length} bytes of ciphertext: not whole blocks"),
            **common,
        )
    pad = _padding(full, keys[:32], file_size)
    problems: list[tuple[str, str]] = []
    plain_length = cipher_length - pad if pad else cipher_length
    if not pad:
        problems.append(("bad-padding", "the PKCS#7 padding is not valid; kept as decrypted"))
    length = plain_length
    if recorded is not None and recorded < plain_length:
        length = recorded  # Signal pads to a size bucket: the recorded size cuts it
    elif recorded is not None and recorded > plain_length:
        problems.append(
            ("size-mismatch", f"recorded size {recorded}, decrypted plaintext {plain_length} bytes")
        )
    problem = None
    if problems:
        problem = (problems[0][0], "; ".join(detail for _, detail in problems))
    spool = _Decrypted(full, keys, file_size, length, scratch)
    return Attachment(
        ref, spool.open, size=length, problem=problem, releaser=spool.release, **common
    )


def _mac_ok(path: Path, mac_key: bytes, file_size: int) -> bool:
    h = hmac.new(mac_key, digestmod=hashlib.sha256)
    with path.open("rb") as f:
        remaining = file_size - _MAC
        while remaining > 0:
            chunk = f.read(min(_CHUNK, remaining))
            if not chunk:
                return False
            h.update(chunk)
            remaining -= len(chunk)
        tag = f.read(_MAC)
    return hmac.compare_digest(h.digest(), tag)


def _padding(path: Path, aes_key: bytes, file_size: int) -> int:
    """The PKCS#7 pad length of the last block (0 when invalid). The block before the last one
    (the IV for a single block) sits just before it in the file: CBC decrypts it alone."""
    with path.open("rb") as f:
        f.seek(file_size - _MAC - 32)
        previous_and_last = f.read(32)
    d = Cipher(algorithms.AES(aes_key), modes.CBC(previous_and_last[:16])).decryptor()
    block = d.update(previous_and_last[16:]) + d.finalize()
    pad = block[-1]
    return pad if 1 <= pad <= 16 and block[-pad:] == bytes([pad]) * pad else 0


class _Decrypted:
    """Opener and releaser of one version-2 attachment: decrypts afresh into memory, or once
    into a temporary file when larger than :data:`MEMORY_LIMIT`. The MAC is checked again
    while decrypting, so a file changed since it was verified raises ``CorruptData``."""

    def __init__(self, path: Path, keys: bytes, file_size: int, length: int, scratch: Path):
        self.path = path
        self.keys = keys
        self.file_size = file_size
        self.length = length
        self.scratch = scratch
        self.temp: Path | None = None

    def open(self) -> BinaryIO:
        if self.length <= MEMORY_LIMIT:
            buffer = io.BytesIO()
            self._decrypt_into(buffer)
            buffer.seek(0)
            return buffer
        if self.temp is None or not self.temp.exists():
            fd, name = tempfile.mkstemp(prefix="attachment-", dir=self.scratch)
            try:
                with os.fdopen(fd, "wb") as out:
                    self._decrypt_into(out)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise
            self.temp = Path(name)
        return self.temp.open("rb")

    def release(self) -> None:
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
            self.temp = None

    def _decrypt_into(self, out: BinaryIO) -> None:
        aes_key, mac_key = self.keys[:32], self.keys[32:]
        h = hmac.new(mac_key, digestmod=hashlib.sha256)
        left = self.length
        with self.path.open("rb") as f:
            iv = f.read(_IV)
            h.update(iv)
            decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).decryptor()
            remaining = self.file_size - _IV - _MAC
            while remaining > 0:
                chunk = f.read(min(_CHUNK, remaining))
                if not chunk:
                    raise CorruptData("truncated", f"{self.path.name} shrank while being read")
                remaining -= len(chunk)
                h.update(chunk)
                plain = decryptor.update(chunk)
                if left > 0:
                    out.write(plain[:left])
                    left -= min(left, len(plain))
            decryptor.finalize()
            tag = f.read(_MAC)
        if not hmac.compare_digest(h.digest(), tag):
            raise CorruptData("mac-mismatch", f"{self.path.name} changed since it was verified")
