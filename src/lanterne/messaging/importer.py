"""Writing one chat database into the case store.

Every record becomes a row located like a file: the evidence item, and the provenance chain of
the database file with the record's place in it appended (``…!/sql/db.sqlite!/message/4711``).
Rows are unique by that location, so an interrupted import run again adds what is missing and
nothing twice; a database imported to its end is recorded as done and not read again.

Attachments with bytes go through the ingest pipeline as files of the same item (digests, type,
PDQ, thumbnails, matching), their provenance pointing at their message; their content is then
tied to the attachment row and the hash the database declared is checked against it.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, select, update

from lanterne import provenance as prov
from lanterne.case import schema
from lanterne.case.store import EvidenceRecord, utcnow
from lanterne.case.workspace import Case
from lanterne.evidence.base import Entry, EntryWarning
from lanterne.ingest.pipeline import Ingestor
from lanterne.ingest.rows import located, warning_row
from lanterne.messaging.identity import assign_persons, display_name, identifier_ids, identifiers
from lanterne.messaging.records import (
    Account,
    Attachment,
    ChatDatabase,
    ChatWarning,
    Group,
    Member,
    Message,
)
from lanterne.progress import NoProgress, Progress
from lanterne.provenance import Provenance, Step

BATCH = 20_000
LOCATED = ("evidence_id", "provenance_key", "provenance", "path")
"""The location columns, in the order :meth:`_Run.located` gives them."""
MESSAGE_COLUMNS = (
    *LOCATED,
    "source_id",
    "chat_group_id",
    "peer_id",
    "sender_id",
    "sent_at",
    "received_at",
    "type",
    "body",
)
UNPROVEN = ("mac-mismatch", "undecryptable")
"""Attachment problems that leave bytes which cannot be proven: they are not ingested."""


@dataclass
class ChatImport:
    """What an import wrote (or, for a database imported before, found)."""

    source_id: int
    app: str
    schema_version: int | None
    already: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def import_chat_database(
    case: Case,
    ev: EvidenceRecord,
    db_chain: Provenance,
    db: ChatDatabase,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ChatImport:
    """Import the records of ``db`` (found at ``db_chain`` in item ``ev``) into the case."""
    run = _Run(case, ev, db_chain, db, progress or NoProgress(), workers)
    return run.go()


class _Run:
    def __init__(
        self,
        case: Case,
        ev: EvidenceRecord,
        chain: Provenance,
        db: ChatDatabase,
        progress: Progress,
        workers: int | None,
    ) -> None:
        self.case, self.store, self.ev, self.chain, self.db = case, case.store, ev, chain, db
        self.step_kind = db.app
        self.progress = progress
        self.workers = workers
        self.participants: dict[str, int] = {}
        self.groups: dict[str, int] = {}
        self.members: dict[tuple[str, str], str] = {}  # (group ref, account ref) -> ref
        self.seen: dict[tuple[str, str], list[datetime]] = {}  # (group, sender) -> first, last
        self.entries: list[Entry] = []
        self.counts = dict.fromkeys(
            ("accounts", "groups", "memberships", "messages", "attachments", "warnings"), 0
        )
        self.warned_refs: set[str] = set()
        self.warning_rows: list[dict[str, Any]] = []
        self.chain_json = prov.to_json(chain)
        self.chain_path = prov.display_path(chain)
        self.kind_json = _dumps(self.step_kind)

    # ------------------------------------------------------------------ helpers
    def located(self, ref: str) -> dict[str, Any]:
        """The location columns of the record at ``ref`` (the chain's JSON is built from the
        database's, once serialised: this runs for every message)."""
        if _PLAIN.fullmatch(ref):  # needs no escaping: as json.dumps would write it
            text = f'{self.chain_json[:-1]},{{"type":{self.kind_json},"path":"{ref}"}}]'
        else:
            text = f"{self.chain_json[:-1]},{_dumps({'type': self.step_kind, 'path': ref})}]"
        return {
            "evidence_id": self.ev.id,
            "provenance_key": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "provenance": text,
            "path": f"{self.chain_path}{prov.LAYER_SEPARATOR}{ref}",
        }

    def warn(self, ref: str, reason: str, detail: str = "") -> None:
        """Record a warning on the record at ``ref`` (written with the next batch)."""
        chain = (*self.chain, Step(self.step_kind, ref))
        self.warning_rows.append(
            warning_row(self.ev.id, EntryWarning(chain, "chat", reason, detail))
        )
        self.counts["warnings"] += 1

    def ids_by_key(self, conn: Connection, table: Any, keys: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in range(0, len(keys), 500):
            rows = conn.execute(
                select(table.c.provenance_key, table.c.id).where(
                    table.c.evidence_id == self.ev.id,
                    table.c.provenance_key.in_(keys[i : i + 500]),
                )
            )
            out.update({k: v for k, v in rows})
        return out

    # ------------------------------------------------------------------- driver
    def go(self) -> ChatImport:
        cs = schema.chat_source
        here = located(self.ev.id, self.chain)
        with self.store.engine.begin() as conn:
            row = conn.execute(
                select(cs.c.id, cs.c.status, cs.c.counts).where(
                    cs.c.evidence_id == self.ev.id, cs.c.provenance_key == here["provenance_key"]
                )
            ).first()
            if row is not None and row.status == "done":
                return ChatImport(
                    row.id, self.db.app, self.db.schema_version, True, json.loads(row.counts)
                )
            if row is None:
                values = {
                    **here,
                    "app": self.db.app,
                    "schema_version": self.db.schema_version,
                    "status": "importing",
                    "imported_by": getpass.getuser(),
                    "imported_at": utcnow(),
                }
                inserted = conn.execute(cs.insert().values(**values)).inserted_primary_key
                assert inserted is not None
                self.source_id: int = inserted[0]
            else:
                self.source_id = row.id
        self.progress.start(f"importing {self.db.app} {here['path']}")
        try:
            self.read_records()
        finally:
            self.progress.finish()
        self.ingest_attachments()
        self.finish_memberships()
        with self.store.engine.begin() as conn:
            conn.execute(
                update(cs)
                .where(cs.c.id == self.source_id)
                .values(status="done", counts=json.dumps(self.counts), finished_at=utcnow())
            )
        return ChatImport(self.source_id, self.db.app, self.db.schema_version, False, self.counts)

    def read_records(self) -> None:
        accounts: list[Account] = []
        groups: list[Group] = []
        members: list[Member] = []
        messages: list[Message] = []
        warnings: list[ChatWarning] = []
        stage = 0  # 0 accounts, 1 groups, 2 members, 3 messages
        for record in self.db.records():
            if isinstance(record, ChatWarning):
                warnings.append(record)
                continue
            order = _ORDER[type(record)]
            if order > stage:  # the previous kind is complete: write it
                if stage <= 0 < order:
                    self.write_accounts(accounts)
                if stage <= 1 < order:
                    self.write_groups(groups)
                if stage <= 2 < order:
                    self.write_members(members)
                stage = order
            if isinstance(record, Account):
                accounts.append(record)
            elif isinstance(record, Group):
                groups.append(record)
            elif isinstance(record, Member):
                members.append(record)
            else:
                assert isinstance(record, Message)
                messages.append(record)
                if len(messages) >= BATCH:
                    self.write_messages(messages, warnings)
                    messages, warnings = [], []
        if stage <= 0:
            self.write_accounts(accounts)
        if stage <= 1:
            self.write_groups(groups)
        if stage <= 2:
            self.write_members(members)
        self.write_messages(messages, warnings)

    # ------------------------------------------------------------------ accounts
    def write_accounts(self, accounts: list[Account]) -> None:
        p, pi = schema.participant, schema.participant_identifier
        self.counts["accounts"] = len(accounts)
        with self.store.engine.begin() as conn:
            located = [self.located(a.ref) for a in accounts]
            have = self.ids_by_key(conn, p, [loc["provenance_key"] for loc in located])
            idents = [identifiers(a) for a in accounts]
            ids = identifier_ids(conn, {i for group in idents for i in group})
            new = [n for n, loc in enumerate(located) if loc["provenance_key"] not in have]
            persons = assign_persons(
                conn, [(accounts[n], idents[n], located[n]["path"]) for n in new], ids
            )
            rows = []
            for n, person in zip(new, persons, strict=True):
                a = accounts[n]
                rows.append(
                    {
                        **located[n],
                        "source_id": self.source_id,
                        "person_id": person,
                        "name": display_name(a, idents[n]),
                        "profile_name": a.profile_name,
                        "contact_name": a.contact_name,
                        "is_self": a.is_self,
                    }
                )
            self.store.insert_ignore(conn, p, rows)
            have = self.ids_by_key(conn, p, [loc["provenance_key"] for loc in located])
            links = [
                {"participant_id": have[located[n]["provenance_key"]], "identifier_id": ids[i]}
                for n in new
                for i in idents[n]
            ]
            self.store.insert_ignore(conn, pi, links)
        for a, loc in zip(accounts, located, strict=True):
            self.participants[a.ref] = have[loc["provenance_key"]]

    # -------------------------------------------------------------------- groups
    def write_groups(self, groups: list[Group]) -> None:
        g, seen = schema.chat_group, schema.chat_group_seen
        self.counts["groups"] = len(groups)
        with self.store.engine.begin() as conn:
            keys = list(dict.fromkeys(gr.key for gr in groups))
            rows = [
                {"app": _app_of(gr.key), "key": gr.key, "title": gr.title}
                for gr in {gr.key: gr for gr in groups}.values()
            ]
            self.store.insert_ignore(conn, g, rows)
            group_ids: dict[str, int] = {}
            for i in range(0, len(keys), 500):
                group_ids.update(
                    conn.execute(
                        select(g.c.key, g.c.id).where(g.c.key.in_(keys[i : i + 500]))
                    ).all()
                )
            for gr in groups:  # a title seen now replaces a missing one
                if gr.title:
                    conn.execute(
                        update(g)
                        .where(g.c.id == group_ids[gr.key], g.c.title.is_(None))
                        .values(title=gr.title)
                    )
            self.store.insert_ignore(
                conn,
                seen,
                [
                    {
                        **self.located(gr.ref),
                        "source_id": self.source_id,
                        "chat_group_id": group_ids[gr.key],
                        "title": gr.title,
                    }
                    for gr in groups
                ],
            )
        self.groups = {gr.ref: group_ids[gr.key] for gr in groups}

    # ------------------------------------------------------------------- members
    def write_members(self, members: list[Member]) -> None:
        rows = []
        with self.store.engine.begin() as conn:
            for m in members:
                group, person = self.groups.get(m.group_ref), self.participants.get(m.account_ref)
                if group is None or person is None:
                    self.warn(
                        m.ref,
                        "dangling-reference",
                        f"membership of {m.account_ref} in {m.group_ref}: not in the database",
                    )
                    continue
                self.members[(m.group_ref, m.account_ref)] = m.ref
                rows.append(
                    {
                        **self.located(m.ref),
                        "source_id": self.source_id,
                        "chat_group_id": group,
                        "participant_id": person,
                        "role": m.role,
                        "joined_at": m.joined_at,
                    }
                )
            self.store.insert_ignore(conn, schema.membership, rows)
            self.store.insert_ignore(conn, schema.warning, self.warning_rows)
            self.warning_rows = []
        self.counts["memberships"] += len(rows)

    # ------------------------------------------------------------------ messages
    def write_messages(self, messages: list[Message], warnings: list[ChatWarning]) -> None:
        """Write a batch of messages with their attachments and warnings, in one transaction.

        (Handing the inserts to a writer thread was measured slower: the driver binds each
        row's parameters holding the GIL, so the threads mostly took turns.)"""
        if not messages and not warnings:
            return
        for w in warnings:
            self.warn(w.ref, w.reason, w.detail)
        rows = [self.message_row(msg) for msg in messages]
        files = [
            (row[1], self.attachment_row(a))
            for msg, row in zip(messages, rows, strict=True)
            for a in msg.attachments
        ]
        pending, self.warning_rows = self.warning_rows, []
        self.commit_messages(rows, files, pending)
        self.counts["messages"] += len(rows)
        self.counts["attachments"] += len(files)
        self.progress.advance(files=len(rows))

    def commit_messages(
        self,
        rows: list[tuple[Any, ...]],
        files: list[tuple[str, dict[str, Any]]],
        warnings: list[dict[str, Any]],
    ) -> None:
        """One batch of messages, their attachments and warnings."""
        with self.store.engine.begin() as conn:
            self.store.insert_rows(conn, schema.message, MESSAGE_COLUMNS, rows)
            if files:
                ids = self.ids_by_key(conn, schema.message, list({key for key, _ in files}))
                for key, row in files:
                    row["message_id"] = ids[key]
                self.store.insert_ignore(conn, schema.attachment, [row for _, row in files])
            self.store.insert_ignore(conn, schema.warning, warnings)

    def message_row(self, msg: Message) -> tuple[Any, ...]:
        """The message's values in :data:`MESSAGE_COLUMNS` order."""
        group = self.groups.get(msg.group_ref) if msg.group_ref else None
        sender = self.account(msg.ref, msg.sender_ref)
        if msg.group_ref and sender is not None and msg.sent_at is not None:
            span = self.seen.setdefault((msg.group_ref, msg.sender_ref or ""), [msg.sent_at] * 2)
            span[0], span[1] = min(span[0], msg.sent_at), max(span[1], msg.sent_at)
        if msg.group_ref and group is None:
            self.warn(msg.ref, "dangling-reference", f"group {msg.group_ref} unknown")
        return (
            *self.located(msg.ref).values(),
            self.source_id,
            group,
            self.account(msg.ref, msg.peer_ref),
            sender,
            msg.sent_at,
            msg.received_at,
            msg.type[:16],
            msg.body,
        )

    def account(self, ref: str, account_ref: str | None) -> int | None:
        if account_ref is None:
            return None
        found = self.participants.get(account_ref)
        if found is None and account_ref not in self.warned_refs:
            self.warned_refs.add(account_ref)
            self.warn(ref, "dangling-reference", f"account {account_ref} unknown")
        return found

    def attachment_row(self, a: Attachment) -> dict[str, Any]:
        """The attachment's row (its ``message_id`` is set once its message is written)."""
        if a.problem is not None:
            self.warn(a.ref, *a.problem)
        if a.opener is not None:
            state = "pending"
            chain = (*self.chain, Step(self.step_kind, a.ref))
            name = a.file_name or a.ref.rsplit("/", 1)[-1]
            self.entries.append(Entry(chain, name, a.size, a.opener, releaser=a.releaser))
        elif a.problem is not None:
            state = "unproven" if a.problem[0] in UNPROVEN else "missing"
        else:
            state = "referenced" if a.declared_sha256 or a.declared_md5 else "missing"
        return {
            **self.located(a.ref),
            "source_id": self.source_id,
            "content_type": (a.content_type or None) and a.content_type[:128],
            "file_name": a.file_name,
            "size": a.size,
            "declared_sha256": a.declared_sha256,
            "declared_md5": a.declared_md5,
            "state": state,
        }

    # ---------------------------------------------------------------- attachments
    def ingest_attachments(self) -> None:
        """Read every attachment through the pipeline, then tie contents to attachments."""
        if self.entries:
            ingestor = Ingestor(self.case, self.workers, self.progress)
            entries: Iterator[Entry] = iter(self.entries)
            ingestor.ingest_entries(self.ev, entries, f"attachments of {self.chain[-1].path}")
            self.entries = []
        at, f, c = schema.attachment, schema.file, schema.content
        with self.store.engine.begin() as conn:
            found = (
                select(f.c.sha256)
                .where(
                    f.c.evidence_id == at.c.evidence_id,
                    f.c.provenance_key == at.c.provenance_key,
                )
                .scalar_subquery()
            )
            conn.execute(
                update(at)
                .where(at.c.source_id == self.source_id, at.c.state == "pending")
                .values(sha256=found, state="ingested")
            )
            for column in (c.c.sha256, c.c.md5):  # named by hash only: a content the case holds
                declared = at.c.declared_sha256 if column is c.c.sha256 else at.c.declared_md5
                held = select(c.c.sha256).where(column == declared).limit(1).scalar_subquery()
                conn.execute(
                    update(at)
                    .where(
                        at.c.source_id == self.source_id,
                        at.c.state == "referenced",
                        at.c.sha256.is_(None),
                        declared.is_not(None),
                    )
                    .values(sha256=held)
                )
            mismatched = conn.execute(
                select(at.c.provenance, at.c.declared_sha256, at.c.sha256).where(
                    at.c.source_id == self.source_id,
                    at.c.state == "ingested",
                    at.c.declared_sha256.is_not(None),
                    at.c.sha256 != at.c.declared_sha256,
                )
            ).all()
            for text, declared, actual in mismatched:
                chain = prov.from_json(text)
                detail = f"the database declares SHA-256 {declared}; the bytes hash to {actual}"
                w = EntryWarning(chain, "chat", "hash-mismatch", detail)
                self.store.insert_ignore(conn, schema.warning, [warning_row(self.ev.id, w)])
                self.counts["warnings"] += 1

    # --------------------------------------------------------------- memberships
    def finish_memberships(self) -> None:
        """First and last post of each member; posters not (any more) among the members are
        recorded as ``former`` members of the group."""
        ms = schema.membership
        updates, former = [], []
        with self.store.engine.begin() as conn:
            known = {ref for ref in self.members.values()}
            keys = {ref: self.located(ref)["provenance_key"] for ref in known}
            ids = self.ids_by_key(conn, ms, list(keys.values()))
            for (group_ref, sender_ref), (first, last) in self.seen.items():
                ref = self.members.get((group_ref, sender_ref))
                if ref is not None and keys.get(ref) in ids:
                    updates.append({"b_id": ids[keys[ref]], "b_first": first, "b_last": last})
                elif sender_ref in self.participants and group_ref in self.groups:
                    former.append(
                        {
                            **self.located(f"{group_ref}/poster/{sender_ref}"),
                            "source_id": self.source_id,
                            "chat_group_id": self.groups[group_ref],
                            "participant_id": self.participants[sender_ref],
                            "role": "former",
                            "first_seen": first,
                            "last_seen": last,
                        }
                    )
            if updates:
                conn.execute(
                    update(ms)
                    .where(ms.c.id == bindparam("b_id"))
                    .values(first_seen=bindparam("b_first"), last_seen=bindparam("b_last")),
                    updates,
                )
            self.store.insert_ignore(conn, ms, former)
        self.counts["memberships"] += len(former)


_ORDER: dict[type, int] = {Account: 0, Group: 1, Member: 2, Message: 3}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_PLAIN = re.compile(r"[A-Za-z0-9/._:+-]*")


def _app_of(key: str) -> str:
    prefix = key.split(":", 1)[0]
    return "signal" if prefix.startswith("signal-") else prefix


def source_counts(case: Case, source_id: int) -> dict[str, int]:
    """Rows a chat source has in the store, by table (for reports and checks)."""
    out = {}
    for name, table in (
        ("participants", schema.participant),
        ("memberships", schema.membership),
        ("messages", schema.message),
        ("attachments", schema.attachment),
    ):
        out[name] = case.store.count(table, and_(table.c.source_id == source_id))
    with case.store.engine.connect() as conn:
        out["groups"] = conn.execute(
            select(func.count(func.distinct(schema.chat_group_seen.c.chat_group_id))).where(
                schema.chat_group_seen.c.source_id == source_id
            )
        ).scalar_one()
    return out
