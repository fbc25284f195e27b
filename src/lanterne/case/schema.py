"""The case store's tables (SQLAlchemy Core), for SQLite and PostgreSQL alike.

This module describes the current schema for queries; the migrations in
:mod:`lanterne.case.migrations` create and evolve it, in order, on every store.
Hex digests are lowercase; times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out (SQLite itself keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: times in the case store are aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

evidence = Table(
    "evidence",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("label", String(200), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("location", Text, nullable=False),
    Column("suspect", Text),
    Column("size", BigInteger),
    Column("sha256", String(64)),
    Column("registered_by", Text, nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False, server_default="registered"),
    Column("ingest_started_at", UtcDateTime()),
    Column("ingest_finished_at", UtcDateTime()),
    Column("format", String(32)),
    Column("details", Text),
    Column("unlock", Text),
    Column("device_type", String(16)),
    Column("device_make", Text),
    Column("device_model", Text),
    Column("device_serial", Text),
)
"""``format``: the disk image's format (ewf, raw, vmdk …); ``details``: JSON of what the item
says of itself (EWF acquisition headers and stored hashes, phone platform); ``unlock``: the
password or recovery key the examiner supplied for its encrypted volumes (never printed)."""

verification = Table(
    "verification",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("evidence_id", Integer, ForeignKey("evidence.id"), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("md5", String(32)),
    Column("sha1", String(40)),
    Column("sha256", String(64)),
    Column("stored_md5", String(32)),
    Column("stored_sha1", String(40)),
    Column("bytes_read", BigInteger, nullable=False),
    Column("checksum_errors", Text, nullable=False, server_default="[]"),
    Column("detail", Text, nullable=False, server_default=""),
    Column("verified_by", Text, nullable=False),
    Column("verified_at", UtcDateTime(), nullable=False),
    Index("ix_verification_evidence", "evidence_id"),
)
"""Every media-hash verification of an item, kept (a history, not a flag)."""

content = Table(
    "content",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("md5", String(32), nullable=False),
    Column("sha1", String(40), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mime", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("format", String(32)),
    Column("width", Integer),
    Column("height", Integer),
    Column("duration", Float),
    Column("codec", String(64)),
    Column("fps", Float),
    Column("rotation", Integer),
    Column("audio_codec", String(64)),
    Column("created", String(40)),
    Column("frames_hashed", Integer),
    Column("pdq", String(64)),
    Column("pdq_quality", Integer),
    Column("pdq_dihedral", Text),
    Column("camera_make", Text),
    Column("camera_model", Text),
    Column("camera_serial", Text),
    Column("lens", Text),
    Column("taken_at", String(40)),
    Column("gps_lat", Float),
    Column("gps_lon", Float),
    Column("orientation", Integer),
    Column("thumbnail", Boolean, nullable=False, server_default=false()),
    Column("error", String(64)),
    Column("analyzed_at", UtcDateTime(), nullable=False),
    Index("ix_content_md5", "md5"),
    Index("ix_content_sha1", "sha1"),
    Index("ix_content_kind", "kind"),
)


def _located() -> list[Column[Any]]:
    """Columns of every row that stands for a place in the evidence: the item, the provenance
    chain (JSON), its fixed-size key (unique per item) and the path a person reads."""
    return [
        Column("id", Integer, primary_key=True),
        Column("evidence_id", Integer, ForeignKey("evidence.id"), nullable=False),
        Column("provenance_key", String(64), nullable=False),
        Column("provenance", Text, nullable=False),
        Column("path", Text, nullable=False),
    ]


file = Table(
    "file",
    metadata,
    *_located(),
    Column("name", Text, nullable=False),
    Column("size", BigInteger),
    Column("sha256", String(64), ForeignKey("content.sha256")),
    Column("mtime", UtcDateTime()),
    Column("atime", UtcDateTime()),
    Column("ctime", UtcDateTime()),
    Column("crtime", UtcDateTime()),
    Column("deleted", Boolean, nullable=False, server_default=false()),
    Column("carved", Boolean, nullable=False, server_default=false()),
    Column("extension_mismatch", Boolean, nullable=False, server_default=false()),
    Column("container", String(16)),
    Column("state", String(16), nullable=False),
    UniqueConstraint("evidence_id", "provenance_key", name="uq_file_occurrence"),
    Index("ix_file_sha256", "sha256"),
)

warning = Table(
    "warning",
    metadata,
    *_located(),
    Column("stage", String(32), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("evidence_id", "provenance_key", "stage", "reason", name="uq_warning"),
)

app_data = Table(
    "app_data",
    metadata,
    *_located(),
    Column("app", String(64), nullable=False),
    Column("marker", Text, nullable=False),
    UniqueConstraint("evidence_id", "provenance_key", "app", name="uq_app_data"),
)
"""Known application data found in an item (Signal's database, a messenger's folder): where it
is, so that importers find it without searching again. The provenance is the marker file's."""

hashset = Table(
    "hashset",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("scheme", String(32)),
    Column("format", String(32), nullable=False),
    Column("version", String(32)),
    Column("source", Text, nullable=False),
    Column("source_sha256", String(64), nullable=False),
    Column("entries", BigInteger, nullable=False),
    Column("details", Text),
    Column("imported_by", Text, nullable=False),
    Column("imported_at", UtcDateTime(), nullable=False),
    Column("matched_until", UtcDateTime()),
)
"""An imported hash set. ``role``: known-bad, known-good or alert; ``scheme``: the category
scheme its categories belong to (never mapped to another by number); ``matched_until``: contents
analysed up to then have been matched against it (matching is incremental)."""

hash_entry = Table(
    "hash_entry",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("hashset_id", Integer, ForeignKey("hashset.id"), nullable=False),
    Column("md5", String(32)),
    Column("sha1", String(40)),
    Column("sha256", String(64)),
    Column("pdq", String(64)),
    Column("pdq_quality", Integer),
    Column("category", String(32)),
    Column("entry_id", Text),
    Column("name", Text),
    Column("size", BigInteger),
    Column("extra", Text),
    Column("location", Text, nullable=False),
    Index("ix_hash_entry_md5", "md5"),
    Index("ix_hash_entry_sha1", "sha1"),
    Index("ix_hash_entry_sha256", "sha256"),
    Index("ix_hash_entry_set", "hashset_id"),
)
"""One entry of a hash set, as the source gives it (``location``: line or record in the file)."""

match = Table(
    "match",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), ForeignKey("content.sha256"), nullable=False),
    Column("hashset_id", Integer, ForeignKey("hashset.id"), nullable=False),
    Column("entry", Integer, ForeignKey("hash_entry.id"), nullable=False),
    Column("method", String(16), nullable=False),
    Column("distance", Integer, nullable=False, server_default="0"),
    Column("variant", String(16), nullable=False, server_default=""),
    Column("query_share", Float),
    Column("target_share", Float),
    Column("segments", Text),
    Column("matched_at", UtcDateTime(), nullable=False),
    UniqueConstraint("sha256", "entry", "method", "variant", name="uq_match"),
    Index("ix_match_set", "hashset_id"),
)
"""A content matching a hash-set entry: ``method`` md5/sha1/sha256 (distance 0), pdq (with
its Hamming distance and the dihedral ``variant`` of the content's hash that matched), vpdq (a
video matching a listed video: ``query_share`` and ``target_share`` are the percentages of the
case video's and the listed video's frames that found a partner; ``distance`` the median of
those partners' distances) or pdq-frame (a listed still picture found in a video's frames).
``segments``: for videos, JSON ``[[start, end], …]`` seconds of the case video that matched."""

video_frame = Table(
    "video_frame",
    metadata,
    Column("sha256", String(64), ForeignKey("content.sha256"), primary_key=True),
    Column("frame", Integer, primary_key=True),
    Column("timestamp", Float, nullable=False),
    Column("until", Float, nullable=False),
    Column("pdq", String(64), nullable=False),
    Column("quality", Integer, nullable=False),
)
"""vPDQ frame hashes of a video: the sampled ``frame`` (number) at ``timestamp`` seconds, its
PDQ and quality; consecutive near-identical samples are collapsed into the first, which then
stands ``until`` the last one's time."""

hash_entry_frame = Table(
    "hash_entry_frame",
    metadata,
    Column("entry", Integer, ForeignKey("hash_entry.id"), primary_key=True),
    Column("frame", Integer, primary_key=True),
    Column("timestamp", Float, nullable=False),
    Column("pdq", String(64), nullable=False),
    Column("quality", Integer, nullable=False),
)
"""The frame hashes of a listed video (an entry of a vPDQ hash list)."""

pdq_group = Table(
    "pdq_group",
    metadata,
    Column("sha256", String(64), ForeignKey("content.sha256"), primary_key=True),
    Column("group_sha256", String(64), nullable=False),
    Column("representative", Boolean, nullable=False),
    Index("ix_pdq_group_group", "group_sha256"),
)
"""Near-duplicate groups of the case's pictures: each picture, and the group it belongs to
(named by its representative's SHA-256)."""

# file.state values
STATE_DONE = "done"
"""Recorded completely (for a container: every member recorded too)."""
STATE_OPEN = "open"
"""A container whose members are still being walked; a resumed ingest walks it again."""
STATE_UNREAD = "unread"
"""Listed by its layer but its bytes could not be read (see its warning)."""

# ------------------------------------------------------------------ messaging
chat_source = Table(
    "chat_source",
    metadata,
    *_located(),
    Column("app", String(32), nullable=False),
    Column("schema_version", Integer),
    Column("status", String(16), nullable=False),
    Column("counts", Text),
    Column("imported_by", Text, nullable=False),
    Column("imported_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    UniqueConstraint("evidence_id", "provenance_key", name="uq_chat_source"),
)
"""One imported chat database (a Signal Desktop ``db.sqlite``, an Android backup, a generic
export), located by its file's provenance; ``status`` ``importing`` or ``done`` (re-importing a
done source is a no-op); ``counts``: JSON of what it gave."""

person = Table(
    "person",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text),
    Column("reason", Text, nullable=False, server_default="[]"),
    Column("created_at", UtcDateTime(), nullable=False),
)
"""A person: the participants (accounts seen in chat databases) that share a strong identifier
(E.164, ACI, PNI). ``reason``: JSON list of why participants were joined into this person."""

identifier = Table(
    "identifier",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("value", String(200), nullable=False),
    Column("country", String(2)),
    Column("calling_code", Integer),
    UniqueConstraint("kind", "value", name="uq_identifier"),
)
"""A normalised identifier: ``e164`` (``+4915…``, with its ISO country and calling code),
``phone`` (a number that is not valid E.164, as written), ``aci``, ``pni``, ``username``, or a
generic export's ``<platform>-id``."""

STRONG_IDENTIFIERS = ("e164", "aci", "pni")
"""Identifier kinds that name one account: participants sharing one are the same person."""

participant = Table(
    "participant",
    metadata,
    *_located(),
    Column("source_id", Integer, ForeignKey("chat_source.id"), nullable=False),
    Column("person_id", Integer, ForeignKey("person.id"), nullable=False),
    Column("name", Text),
    Column("profile_name", Text),
    Column("contact_name", Text),
    Column("is_self", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("evidence_id", "provenance_key", name="uq_participant"),
    Index("ix_participant_person", "person_id"),
    Index("ix_participant_source", "source_id"),
)
"""An account as one chat database records it (a Signal recipient or conversation)."""

participant_identifier = Table(
    "participant_identifier",
    metadata,
    Column("participant_id", Integer, ForeignKey("participant.id"), primary_key=True),
    Column("identifier_id", Integer, ForeignKey("identifier.id"), primary_key=True),
    Index("ix_participant_identifier_identifier", "identifier_id"),
)

chat_group = Table(
    "chat_group",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("app", String(32), nullable=False),
    Column("key", String(200), nullable=False, unique=True),
    Column("title", Text),
)
"""A chat group across devices: ``key`` is its identity (``signal-v2:<hex of its 32-byte
id>``), so the same Signal group seized on a phone and on a computer is one row."""

chat_group_seen = Table(
    "chat_group_seen",
    metadata,
    *_located(),
    Column("source_id", Integer, ForeignKey("chat_source.id"), nullable=False),
    Column("chat_group_id", Integer, ForeignKey("chat_group.id"), nullable=False),
    Column("title", Text),
    UniqueConstraint("evidence_id", "provenance_key", name="uq_chat_group_seen"),
    Index("ix_chat_group_seen_group", "chat_group_id"),
)
"""Where a group was seen (which database, which row) and its title there."""

membership = Table(
    "membership",
    metadata,
    *_located(),
    Column("source_id", Integer, ForeignKey("chat_source.id"), nullable=False),
    Column("chat_group_id", Integer, ForeignKey("chat_group.id"), nullable=False),
    Column("participant_id", Integer, ForeignKey("participant.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("joined_at", UtcDateTime()),
    Column("first_seen", UtcDateTime()),
    Column("last_seen", UtcDateTime()),
    UniqueConstraint("evidence_id", "provenance_key", name="uq_membership"),
    Index("ix_membership_group", "chat_group_id"),
    Index("ix_membership_participant", "participant_id"),
)
"""A participant in a group as one database records it: role (admin, member, pending,
requesting, banned, former) and the first and last message they posted there."""

message = Table(
    "message",
    metadata,
    *_located(),
    Column("source_id", Integer, ForeignKey("chat_source.id"), nullable=False),
    Column("chat_group_id", Integer, ForeignKey("chat_group.id")),
    Column("peer_id", Integer, ForeignKey("participant.id")),
    Column("sender_id", Integer, ForeignKey("participant.id")),
    Column("sent_at", UtcDateTime()),
    Column("received_at", UtcDateTime()),
    Column("type", String(16), nullable=False),
    Column("body", Text),
    UniqueConstraint("evidence_id", "provenance_key", name="uq_message"),
    Index("ix_message_group_sender", "chat_group_id", "sender_id"),
    Index("ix_message_sender", "sender_id"),
    Index("ix_message_peer", "peer_id"),
)
"""A message: in a group (``chat_group_id``) or a one-to-one conversation with ``peer_id``."""

attachment = Table(
    "attachment",
    metadata,
    *_located(),
    Column("source_id", Integer, ForeignKey("chat_source.id"), nullable=False),
    Column("message_id", Integer, ForeignKey("message.id"), nullable=False),
    Column("sha256", String(64), ForeignKey("content.sha256")),
    Column("content_type", String(128)),
    Column("file_name", Text),
    Column("size", BigInteger),
    Column("declared_sha256", String(64)),
    Column("declared_md5", String(32)),
    Column("state", String(16), nullable=False),
    UniqueConstraint("evidence_id", "provenance_key", name="uq_attachment"),
    Index("ix_attachment_message", "message_id"),
    Index("ix_attachment_sha256", "sha256"),
)
"""An attachment of a message and the content it holds (its file row shares its provenance).
``state``: ``pending`` (not yet read), ``ingested``, ``missing`` (no bytes to be had),
``unproven`` (bytes that fail their MAC: not ingested), ``referenced`` (a generic export that
names the content by hash only)."""

# ------------------------------------------------------------------ suspects and records
suspect = Table(
    "suspect",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(100), nullable=False, unique=True),
    Column("name", Text),
    Column("birth_date", String(10)),
    Column("birth_year", Integer),
    Column("occupation", Text),
    Column("region", Text),
    Column("address", Text),
    Column("country", String(2)),
    Column("notes", Text),
    Column("source", Text, nullable=False),
    Column("line", Integer, nullable=False),
    Column("imported_by", Text, nullable=False),
    Column("imported_at", UtcDateTime(), nullable=False),
)
"""A suspect as the investigators' file describes them; ``key`` is the file's suspect id, and
``source``/``line`` tell which file and line last wrote the row."""

suspect_identifier = Table(
    "suspect_identifier",
    metadata,
    Column("suspect_id", Integer, ForeignKey("suspect.id"), primary_key=True),
    Column("identifier_id", Integer, ForeignKey("identifier.id"), primary_key=True),
    Index("ix_suspect_identifier_identifier", "identifier_id"),
)
"""A suspect's known identifiers (normalised like chat identifiers, so they join persons)."""

suspect_evidence = Table(
    "suspect_evidence",
    metadata,
    Column("suspect_id", Integer, ForeignKey("suspect.id"), primary_key=True),
    Column("label", String(200), primary_key=True),
)
"""Evidence items seized from a suspect, by label (an item registered later links too)."""

watchlist = Table(
    "watchlist",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("source", Text, nullable=False),
    Column("source_sha256", String(64), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("imported_by", Text, nullable=False),
    Column("imported_at", UtcDateTime(), nullable=False),
)
"""A list of records to check people against (an offence-history file, a sex-offender register
extract)."""

watchlist_entry = Table(
    "watchlist_entry",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("watchlist_id", Integer, ForeignKey("watchlist.id"), nullable=False),
    Column("key", String(64), nullable=False),
    Column("name", Text),
    Column("birth_date", String(10)),
    Column("record", Text, nullable=False),
    Column("line", Integer, nullable=False),
    UniqueConstraint("watchlist_id", "key", name="uq_watchlist_entry"),
)
"""One record of a watchlist: ``key`` its record id (or the SHA-256 of its normalised fields),
``record`` the whole row as JSON."""

watchlist_entry_identifier = Table(
    "watchlist_entry_identifier",
    metadata,
    Column("entry_id", Integer, ForeignKey("watchlist_entry.id"), primary_key=True),
    Column("identifier_id", Integer, ForeignKey("identifier.id"), primary_key=True),
    Index("ix_watchlist_entry_identifier_identifier", "identifier_id"),
)

watchlist_hit = Table(
    "watchlist_hit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_id", Integer, ForeignKey("watchlist_entry.id"), nullable=False),
    Column("subject", String(16), nullable=False),
    Column("subject_id", Integer, nullable=False),
    Column("field", String(32), nullable=False),
    Column("value", Text, nullable=False),
    Column("matched_at", UtcDateTime(), nullable=False),
    UniqueConstraint("entry_id", "subject", "subject_id", "field", name="uq_watchlist_hit"),
    Index("ix_watchlist_hit_subject", "subject", "subject_id"),
)
"""A watchlist record matching a ``suspect`` or a ``person``, with the field that matched
(``e164``, ``aci``, ``name+birth_date`` …) and the matched value."""

# ------------------------------------------------------------------ review, users, audit
app_user = Table(
    "app_user",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("settings", Text, nullable=False, server_default="{}"),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcDateTime(), nullable=False),
)
"""A person who may open the case on the web: ``role`` examiner, reviewer, supervisor or
auditor; ``password_hash`` argon2id; ``settings`` JSON of their preferences."""

web_session = Table(
    "web_session",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("app_user.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)
"""A signed-in session, by the SHA-256 of its cookie token (the token itself is never stored)."""

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("user", String(100), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", Text, nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default="{}"),
    Column("prev", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Index("ix_audit_target", "target", "action"),
    Index("ix_audit_action", "action", "id"),
)
"""Append-only, hash-chained log of reveals, categorisations, exports and logins: ``hash`` is
the SHA-256 of the previous entry's hash and this entry's canonical fields."""

review_decision = Table(
    "review_decision",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), ForeignKey("content.sha256"), nullable=False),
    Column("category", String(32), nullable=False),
    Column("scheme", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("origin", String(64), nullable=False),
    Column("batch", String(36), nullable=False),
    Column("user", String(100), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("undone_by", String(100)),
    Column("undone_at", UtcDateTime()),
    Index("ix_review_decision_sha256", "sha256"),
    Index("ix_review_decision_batch", "batch"),
)
"""A reviewer's categorisation of a content: ``source`` ``review`` (the item looked at) or
``propagated`` (a near duplicate or exact duplicate of ``origin``); one decision and what it
propagated share ``batch``, which undo reverses as one. The current category of a content is
its latest decision not undone."""

review_flag = Table(
    "review_flag",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), ForeignKey("content.sha256"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("user", String(100), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("resolved_by", String(100)),
    Column("resolved_at", UtcDateTime()),
    Column("resolution", Text),
    Index("ix_review_flag_sha256", "sha256"),
)
"""A flag on a content, e.g. ``second-opinion`` asked by a reviewer for a supervisor."""

# indexes the review grid needs on tables of the case (created by migration 0007)
Index("ix_content_kind_sha256", content.c.kind, content.c.sha256)
"""The grid's order: one kind after the other, by SHA-256, read along the index."""
Index(
    "ix_pdq_group_member", pdq_group.c.sha256, pdq_group.c.representative, pdq_group.c.group_sha256
)
"""Whether a content is its group's representative, without reading the row."""
