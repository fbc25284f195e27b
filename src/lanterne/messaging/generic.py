"""Generic chat exports: any messenger's data, from any tool, into the same model.

One message per CSV row (UTF-8, header line) or JSON Lines object, with these fields:

============================  ==========================================================
``platform``                  required: ``signal``, ``whatsapp``, ``telegram`` … (lowercase)
``conversation_id``           required: the chat's id on that platform
``conversation_name``         the chat's title
``conversation_type``         ``group`` (default) or ``direct``
``message_id``                the message's id (default: its line number)
``timestamp``                 required: ISO 8601 (``2025-03-01T12:00:00+01:00``; without an
                              offset: UTC) or seconds / milliseconds since 1970 (UTC)
``sender_phone``              the sender's number (international form, ``+`` optional)
``sender_id``                 the sender's account id on the platform (an ACI for Signal)
``sender_username``           the sender's username
``sender_name``               the name shown for the sender
``sender_role``               the sender's role in the group when the export says it:
                              ``admin`` or ``member`` (default)
``direction``                 ``incoming`` (default) or ``outgoing`` (sent by the device owner)
``body``                      the text
``attachment_path``           a file beside the export (relative to its folder)
``attachment_sha256``         or the attachment's SHA-256 …
``attachment_md5``            … or MD5, when the export names it by hash only
``attachment_name``           its file name; ``attachment_type``: its MIME type
============================  ==========================================================

At least one ``sender_*`` field is needed. Senders in a group conversation are its members
(role ``member``, or ``admin`` when a row says so); for a Signal group whose
``conversation_id`` is the 32-byte group id (hex or base64) the group is recognised as the
same group as on seized phones and computers.
A row that breaks these rules is skipped with a warning naming its line; the rest is read.
"""

from __future__ import annotations

import base64
import binascii
import csv
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lanterne.errors import UserError
from lanterne.evidence.base import path_opener
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

REQUIRED = ("platform", "conversation_id", "timestamp")
FIELDS = (
    *REQUIRED,
    "conversation_name",
    "conversation_type",
    "message_id",
    "sender_phone",
    "sender_id",
    "sender_username",
    "sender_name",
    "sender_role",
    "direction",
    "body",
    "attachment_path",
    "attachment_sha256",
    "attachment_md5",
    "attachment_name",
    "attachment_type",
)
_SENDER = ("sender_phone", "sender_id", "sender_username", "sender_name")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


def open_export(path: Path) -> ChatDatabase:
    """A generic export (``.csv``, or ``.jsonl``/``.json``: one object per line)."""
    if not path.is_file():
        raise UserError(f"{path} is not a file; give the CSV or JSON Lines export")
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        raise UserError(f"{path} holds no messages")
    _, row = first
    if isinstance(row, dict):
        missing = [f for f in REQUIRED if f not in row]
        if missing:
            raise UserError(
                f"{path} lacks the column(s) {', '.join(missing)}; "
                f"the layout is described by `lanterne chats import --help`"
            )
    return ChatDatabase("generic", None, lambda: _records(path))


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) for every message; a row that cannot be parsed is its error text."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
            reader = csv.DictReader(f)
            for row in reader:
                yield reader.line_num, {k: v for k, v in row.items() if k is not None}
        return
    with path.open(encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, f"not JSON: {exc.msg}"
                continue
            yield n, obj if isinstance(obj, dict) else "not a JSON object"


def _text(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _timestamp(raw: str) -> datetime:
    try:
        number = float(raw)
    except ValueError:
        when = datetime.fromisoformat(raw)
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if number > 1e11:  # milliseconds
        number /= 1000
    return datetime.fromtimestamp(number, UTC)


def _group_key(platform: str, conversation: str) -> str:
    if platform == "signal":
        raw: bytes | None = None
        if _HEX64.match(conversation):
            raw = bytes.fromhex(conversation)
        else:
            try:
                raw = base64.b64decode(conversation, validate=True)
            except (binascii.Error, ValueError):
                raw = None
        if raw is not None and len(raw) == 32:
            return f"signal-v2:{raw.hex()}"
    return f"{platform}:{conversation}"


class _Parsed:
    __slots__ = ("conversation", "direct", "line", "platform", "role", "row", "sender", "when")

    def __init__(self, line: int, row: dict[str, Any]) -> None:
        self.line, self.row = line, row
        missing = [f for f in REQUIRED if not _text(row, f)]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        self.platform = str(_text(row, "platform")).lower()
        self.conversation = str(_text(row, "conversation_id"))
        try:
            self.when = _timestamp(str(_text(row, "timestamp")))
        except (ValueError, OverflowError, OSError) as exc:
            raise ValueError(f"timestamp {row.get('timestamp')!r} is not a time: {exc}") from None
        if not any(_text(row, f) for f in _SENDER):
            raise ValueError(f"no sender: give one of {', '.join(_SENDER)}")
        kind = (_text(row, "conversation_type") or "group").lower()
        if kind not in ("group", "direct"):
            raise ValueError(f"conversation_type {kind!r}: group or direct")
        self.direct = kind == "direct"
        self.role = str(_text(row, "sender_role") or "member").lower()
        if self.role not in ("admin", "member"):
            raise ValueError(f"sender_role {self.role!r}: admin or member")
        self.sender = _sender_key(self.platform, row)

    @property
    def group_ref(self) -> str:
        return f"conversation/{self.platform}/{self.conversation}"

    @property
    def outgoing(self) -> bool:
        return (_text(self.row, "direction") or "").lower() == "outgoing"


def _sender_key(platform: str, row: dict[str, Any]) -> str:
    for field in ("sender_id", "sender_phone", "sender_username", "sender_name"):
        value = _text(row, field)
        if value:
            return f"sender/{platform}/{field.removeprefix('sender_')}/{value}"
    raise AssertionError("checked by _Parsed")


def _account(platform: str, ref: str, row: dict[str, Any], is_self: bool) -> Account:
    sender_id = _text(row, "sender_id")
    aci = sender_id if platform == "signal" and sender_id else None
    other = ((f"{platform}-id", sender_id),) if sender_id and not aci else ()
    return Account(
        ref,
        e164=_text(row, "sender_phone"),
        aci=aci,
        username=_text(row, "sender_username"),
        profile_name=_text(row, "sender_name"),
        is_self=is_self,
        other_ids=other,
    )


def _parsed(path: Path) -> Iterator[_Parsed | ChatWarning]:
    for line, row in _rows(path):
        if isinstance(row, str):
            yield ChatWarning(f"line/{line}", "malformed-row", f"line {line}: {row}")
            continue
        try:
            yield _Parsed(line, row)
        except ValueError as exc:
            yield ChatWarning(f"line/{line}", "malformed-row", f"line {line}: {exc}")


def _records(path: Path) -> Iterator[Record]:
    """Two passes: who and which groups (records must come first), then the messages."""
    accounts: dict[str, Account] = {}
    groups: dict[str, Group] = {}
    members: dict[tuple[str, str], Member] = {}
    peers: dict[str, str] = {}
    for p in _parsed(path):
        if isinstance(p, ChatWarning):
            continue
        if p.sender not in accounts:
            accounts[p.sender] = _account(p.platform, p.sender, p.row, p.outgoing)
        if p.direct:
            if not p.outgoing:
                peers.setdefault(p.group_ref, p.sender)
            continue
        title = _text(p.row, "conversation_name")
        if p.group_ref not in groups or (title and not groups[p.group_ref].title):
            groups[p.group_ref] = Group(p.group_ref, _group_key(p.platform, p.conversation), title)
        key = (p.group_ref, p.sender)
        if key not in members or (p.role == "admin" and members[key].role != "admin"):
            members[key] = Member(f"{p.group_ref}/member/{p.sender}", p.group_ref, p.sender, p.role)
    yield from accounts.values()
    yield from groups.values()
    yield from members.values()
    base = path.parent.resolve()
    for p in _parsed(path):
        if isinstance(p, ChatWarning):
            yield p
            continue
        ref = f"message/{_text(p.row, 'message_id') or f'line-{p.line}'}"
        yield Message(
            ref,
            p.when,
            group_ref=None if p.direct else p.group_ref,
            peer_ref=peers.get(p.group_ref) if p.direct else None,
            sender_ref=p.sender,
            body=_text(p.row, "body"),
            type="outgoing" if p.outgoing else "incoming",
            attachments=_attachments(base, f"{ref}/attachment/0", p.row),
        )


def _attachments(base: Path, ref: str, row: dict[str, Any]) -> list[Attachment]:
    rel = _text(row, "attachment_path")
    sha256 = (_text(row, "attachment_sha256") or "").lower()
    md5 = (_text(row, "attachment_md5") or "").lower()
    sha256_ok, md5_ok = bool(_HEX64.match(sha256)), bool(_HEX32.match(md5))
    if not rel and not sha256_ok and not md5_ok:
        return []
    attachment = Attachment(
        ref,
        None,
        content_type=_text(row, "attachment_type"),
        file_name=_text(row, "attachment_name") or (Path(rel).name if rel else None),
        declared_sha256=sha256 if sha256_ok else None,
        declared_md5=md5 if md5_ok else None,
    )
    if rel:
        target = (base / rel).resolve()
        if base not in target.parents:
            attachment.problem = ("path-traversal", f"{rel!r} points outside {base}")
        elif not target.is_file():
            attachment.problem = ("attachment-missing", f"{rel!r} is not beside the export")
        else:
            attachment.opener = path_opener(target)
            attachment.size = target.stat().st_size
    return [attachment]
