"""What a chat reader hands to the importer: accounts, groups, memberships, messages.

A reader yields, in this order, every :class:`Account`, then every :class:`Group`, then every
:class:`Member`, then every :class:`Message` (with its attachments), and :class:`ChatWarning`
anywhere. ``ref`` is the record's place in its database (``recipient/12``,
``conversation/<uuid>``, ``message/4711``, ``message/4711/attachment/0``): the importer appends
it to the database's provenance chain, so every row traces back to one row of one database on
one seized item. References between records use these refs.

Values are as the source has them, only decoded: the importer normalises identifiers (E.164 with
``phonenumbers``) and merges persons.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

ROLES = ("admin", "member", "pending", "requesting", "banned", "former")
"""Membership roles: ``pending`` invited but not joined, ``requesting`` asked to join,
``former`` seen posting in the group but not among its current members."""


@dataclass(frozen=True, slots=True)
class Account:
    """One participant as one database records it (a Signal recipient or conversation)."""

    ref: str
    e164: str | None = None
    """Phone number as stored (``+4915…``); normalised by the importer."""
    aci: str | None = None
    """Signal account identity (a UUID)."""
    pni: str | None = None
    """Signal phone-number identity (a UUID, with or without the ``PNI:`` prefix)."""
    username: str | None = None
    profile_name: str | None = None
    """The name the person gave themselves (Signal profile name)."""
    contact_name: str | None = None
    """The name the device owner gave them (address book, nickname)."""
    is_self: bool = False
    """The owner of the device or profile."""
    other_ids: tuple[tuple[str, str], ...] = ()
    """Further (kind, value) identifiers, e.g. a generic export's ``("telegram-id", "12345")``;
    a kind ending in ``-id`` is a platform's account id and as strong as an ACI."""


@dataclass(frozen=True, slots=True)
class Group:
    ref: str
    key: str
    """Identity of the group across devices: ``signal-v2:<hex of the 32-byte id>``,
    ``signal-v1:<hex>``, or ``<platform>:<conversation id>`` for generic exports."""
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Member:
    ref: str
    group_ref: str
    account_ref: str
    role: str
    """One of :data:`ROLES`."""
    joined_at: datetime | None = None


@dataclass(slots=True)
class Attachment:
    ref: str
    opener: Callable[[], BinaryIO] | None
    """A fresh seekable stream of the plaintext bytes (None: nothing to read, see
    ``problem``). Bounded memory: large attachments are spooled to a temporary file."""
    size: int | None = None
    content_type: str | None = None
    file_name: str | None = None
    declared_sha256: str | None = None
    """The plaintext SHA-256 the database claims (hex): cross-checked, never trusted."""
    declared_md5: str | None = None
    problem: tuple[str, str] | None = None
    """(reason code, detail) when the bytes cannot be had or proven: ``attachment-missing``,
    ``mac-mismatch``, ``undecryptable``, ``size-mismatch`` … (with an opener: kept, but warned)."""
    releaser: Callable[[], None] | None = field(default=None, repr=False)


@dataclass(slots=True)
class Message:
    ref: str
    sent_at: datetime | None
    """UTC, timezone-aware."""
    group_ref: str | None = None
    """The group it was posted in; None for a one-to-one conversation."""
    peer_ref: str | None = None
    """For a one-to-one conversation: the other party (not the device owner)."""
    sender_ref: str | None = None
    """The account that wrote it (the device owner for outgoing messages)."""
    received_at: datetime | None = None
    body: str | None = None
    type: str = "incoming"
    """``incoming``, ``outgoing``, ``group-update``, ``call``, ``other`` …"""
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ChatWarning:
    ref: str
    reason: str
    detail: str = ""


Record = Account | Group | Member | Message | ChatWarning


@dataclass(frozen=True, slots=True)
class ChatDatabase:
    """What a reader found: its records and what describes the database."""

    app: str
    """``signal-desktop``, ``signal-android``, or the platform of a generic export."""
    schema_version: int | None
    records: Callable[[], Iterator[Record]]
    """Yields the records (may be called once)."""
