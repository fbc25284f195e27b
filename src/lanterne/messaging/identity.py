"""Identifiers and persons: one person, several accounts, seen on several seized items.

An account is seen as an E.164 number, a Signal ACI and PNI, a username and profile names.
Identifiers are normalised (numbers to E.164 with ``phonenumbers``, with their country), and
participants are joined into one person **only** when they share a strong identifier
(:data:`lanterne.case.schema.STRONG_IDENTIFIERS`, or a platform's ``…-id``); a name, however
alike, never joins anyone. Every join is recorded with its reason on the person.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import Connection, delete, insert, select, update

from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.messaging.records import Account


@dataclass(frozen=True, slots=True)
class Ident:
    kind: str
    value: str
    country: str | None = None
    calling_code: int | None = None

    @property
    def strong(self) -> bool:
        return self.kind in schema.STRONG_IDENTIFIERS or self.kind.endswith("-id")

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"


def phone(raw: str, region: str | None = None) -> Ident:
    """A phone number as E.164 with its country when it is a valid number, else as written.
    A number without ``+`` is read as national in ``region`` when that makes a valid number,
    else as international without its ``+``."""
    text = raw.strip()
    number = _valid(text, region) if region and not text.startswith("+") else None
    number = number or _valid(text if text.startswith("+") else "+" + text, None)
    if number is None:
        return Ident("phone", text)
    found = phonenumbers.region_code_for_number(number)
    return Ident(
        "e164",
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        found if found and found != "001" else None,
        number.country_code,
    )


def _valid(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _service_id(kind: str, raw: str) -> Ident:
    text = raw.strip()
    if text.upper().startswith(kind.upper() + ":"):
        text = text[len(kind) + 1 :]
    try:
        return Ident(kind, str(uuid.UUID(text)))
    except ValueError:
        return Ident(kind, text.lower())


def identifiers(account: Account) -> list[Ident]:
    """The normalised identifiers of an account (strong ones first)."""
    out: list[Ident] = []
    if account.e164:
        out.append(phone(account.e164))
    if account.aci:
        out.append(_service_id("aci", account.aci))
    if account.pni:
        out.append(_service_id("pni", account.pni))
    out.extend(Ident(kind, value.strip()) for kind, value in account.other_ids if value.strip())
    if account.username:
        out.append(Ident("username", account.username.strip().lower()))
    unique = list(dict.fromkeys(i for i in out if i.value))
    return sorted(unique, key=lambda i: not i.strong)


def display_name(account: Account, ids: Sequence[Ident]) -> str | None:
    for name in (account.profile_name, account.contact_name):
        if name and name.strip():
            return name.strip()
    return str(ids[0].value) if ids else None


def _chunks(items: Sequence[object], size: int = 500) -> Iterable[Sequence[object]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def identifier_ids(conn: Connection, idents: Iterable[Ident]) -> dict[Ident, int]:
    """Ids of these identifiers, inserting the new ones."""
    t = schema.identifier
    wanted = {(i.kind, i.value): i for i in idents}
    found = _existing_identifiers(conn, list(wanted))
    fresh = [i for k, i in wanted.items() if k not in found]
    if fresh:
        conn.execute(
            insert(t),
            [
                {
                    "kind": i.kind,
                    "value": i.value,
                    "country": i.country,
                    "calling_code": i.calling_code,
                }
                for i in fresh
            ],
        )
        found.update(_existing_identifiers(conn, [(i.kind, i.value) for i in fresh]))
    return {i: found[k] for k, i in wanted.items()}


def _existing_identifiers(
    conn: Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    t = schema.identifier
    by_kind: dict[str, list[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, []).append(value)
    found: dict[tuple[str, str], int] = {}
    for kind, values in by_kind.items():
        for chunk in _chunks(values):
            rows = conn.execute(
                select(t.c.value, t.c.id).where(t.c.kind == kind, t.c.value.in_(chunk))
            )
            found.update({(kind, v): i for v, i in rows})
    return found


def persons_of(conn: Connection, identifier_ids: Iterable[int]) -> dict[int, set[int]]:
    """For each identifier, the persons whose participants already carry it."""
    p, pi = schema.participant, schema.participant_identifier
    out: dict[int, set[int]] = {}
    for chunk in _chunks(sorted(set(identifier_ids))):
        rows = conn.execute(
            select(pi.c.identifier_id, p.c.person_id)
            .join(p, p.c.id == pi.c.participant_id)
            .where(pi.c.identifier_id.in_(chunk))
            .distinct()
        )
        for ident, person in rows:
            out.setdefault(ident, set()).add(person)
    return out


_Node = tuple[str, Any]
"""A node of the joining: ("a", account index), ("i", identifier) or ("p", person id)."""


class _Union:
    def __init__(self) -> None:
        self.parent: dict[_Node, _Node] = {}

    def find(self, x: _Node) -> _Node:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: _Node, b: _Node) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def assign_persons(
    conn: Connection,
    accounts: Sequence[tuple[Account, list[Ident], str]],
    ids: dict[Ident, int],
) -> list[int]:
    """The person of each new participant (account, its identifiers, where it was seen).

    Participants sharing a strong identifier, with each other or with participants already in
    the case, become one person; persons that a new participant proves identical are merged
    into the oldest, and every join is recorded on the person with its reason.
    """
    known = persons_of(conn, (ids[i] for _, idents, _ in accounts for i in idents if i.strong))
    uf = _Union()
    first_seen: dict[Ident, str] = {}
    reasons: dict[_Node, list[str]] = {}
    for n, (_, idents, where) in enumerate(accounts):
        node = ("a", n)
        uf.find(node)
        for ident in idents:
            if not ident.strong:
                continue
            uf.union(("i", ident), node)
            for person in known.get(ids[ident], ()):
                uf.union(("p", person), node)
            if ident in first_seen or ids[ident] in known:
                reasons.setdefault(node, []).append(f"identical {ident} ({where})")
            else:
                first_seen[ident] = where
    components: dict[_Node, list[int]] = {}
    for n in range(len(accounts)):
        components.setdefault(uf.find(("a", n)), []).append(n)
    existing: dict[_Node, set[int]] = {}
    for node in list(uf.parent):
        if node[0] == "p":
            existing.setdefault(uf.find(node), set()).add(node[1])
    result = [0] * len(accounts)
    now = utcnow()
    fresh: list[tuple[list[int], dict[str, Any]]] = []
    for root, members in components.items():
        persons = sorted(existing.get(root, ()))
        notes = [r for n in members for r in reasons.get(("a", n), [])]
        if not persons:
            account, idents, _ = accounts[members[0]]
            row = {
                "name": display_name(account, idents),
                "reason": json.dumps(notes, ensure_ascii=False),
                "created_at": now,
            }
            fresh.append((members, row))
            continue
        keep = persons[0]
        if len(persons) > 1:
            notes.append(f"merged persons {', '.join(map(str, persons[1:]))} into {keep}")
            _merge(conn, keep, persons[1:])
        if notes:
            _add_reasons(conn, keep, notes)
        for n in members:
            result[n] = keep
    if fresh:  # one statement for all new persons, their ids in order
        pt = schema.person
        stmt = insert(pt).returning(pt.c.id, sort_by_parameter_order=True)
        new_ids = conn.execute(stmt, [row for _, row in fresh]).scalars().all()
        for (members, _), person in zip(fresh, new_ids, strict=True):
            for n in members:
                result[n] = person
    return result


def _merge(conn: Connection, keep: int, others: list[int]) -> None:
    pt, p = schema.person, schema.participant
    old = conn.execute(select(pt.c.reason).where(pt.c.id.in_(others))).scalars()
    carried = [r for text in old for r in json.loads(text or "[]")]
    conn.execute(update(p).where(p.c.person_id.in_(others)).values(person_id=keep))
    conn.execute(delete(pt).where(pt.c.id.in_(others)))
    _add_reasons(conn, keep, carried)


def _add_reasons(conn: Connection, person: int, notes: list[str]) -> None:
    pt = schema.person
    text = conn.execute(select(pt.c.reason).where(pt.c.id == person)).scalar_one()
    merged = list(dict.fromkeys([*json.loads(text or "[]"), *notes]))
    conn.execute(
        update(pt).where(pt.c.id == person).values(reason=json.dumps(merged, ensure_ascii=False))
    )
