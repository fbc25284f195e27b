"""Who is who: suspects, the chat persons that are them, and the items seized from them.

A suspect's **items** are the evidence items their file names (``suspect_evidence``, by label,
so an item registered later links too) and the items registered with ``--suspect`` set to the
suspect's id. A suspect's **persons** are the chat persons that carry one of the suspect's
known identifiers, and the account owner (``is_self``) of every chat database read from one of
their items. Every link keeps the reason it was made, for the examiner and the prosecutor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from lanterne.case import schema


@dataclass(frozen=True, slots=True)
class Suspect:
    id: int
    key: str
    name: str | None
    birth_date: str | None
    birth_year: int | None
    occupation: str | None
    region: str | None
    country: str | None

    @property
    def display(self) -> str:
        return f"{self.key} {self.name}" if self.name else self.key


@dataclass
class SuspectLinks:
    suspects: dict[int, Suspect] = field(default_factory=dict)
    persons: dict[int, dict[int, list[str]]] = field(default_factory=dict)
    """Suspect id → {person id → reasons the person is the suspect}."""
    evidence: dict[int, dict[int, str]] = field(default_factory=dict)
    """Suspect id → {evidence id → label} of the items seized from them."""

    def suspects_of_person(self) -> dict[int, set[int]]:
        out: dict[int, set[int]] = {}
        for suspect, persons in self.persons.items():
            for person in persons:
                out.setdefault(person, set()).add(suspect)
        return out

    def suspect_of_evidence(self) -> dict[int, int]:
        """Evidence id → the suspect it was seized from (the lowest id if several claim it)."""
        out: dict[int, int] = {}
        for suspect in sorted(self.evidence):
            for item in self.evidence[suspect]:
                out.setdefault(item, suspect)
        return out

    def _link(self, suspect: int, person: int, reason: str) -> None:
        reasons = self.persons.setdefault(suspect, {}).setdefault(person, [])
        if reason not in reasons:
            reasons.append(reason)


def load_links(conn: Connection) -> SuspectLinks:
    """Every suspect with their persons and items, read from the case store."""
    s, ev = schema.suspect, schema.evidence
    links = SuspectLinks()
    for row in conn.execute(select(s).order_by(s.c.id)):
        m = row._mapping
        links.suspects[m["id"]] = Suspect(
            m["id"],
            m["key"],
            m["name"],
            m["birth_date"],
            m["birth_year"],
            m["occupation"],
            m["region"],
            m["country"],
        )
        links.persons[m["id"]] = {}
        links.evidence[m["id"]] = {}
    if not links.suspects:
        return links
    by_key = {sus.key: sid for sid, sus in links.suspects.items()}

    se = schema.suspect_evidence
    for sid, eid, label in conn.execute(
        select(se.c.suspect_id, ev.c.id, ev.c.label).join(ev, ev.c.label == se.c.label)
    ):
        links.evidence[sid][eid] = label
    for eid, label, owner in conn.execute(
        select(ev.c.id, ev.c.label, ev.c.suspect).where(ev.c.suspect.is_not(None))
    ):
        if owner in by_key:
            links.evidence[by_key[owner]][eid] = label

    si, pi, p, ident = (
        schema.suspect_identifier,
        schema.participant_identifier,
        schema.participant,
        schema.identifier,
    )
    rows = conn.execute(
        select(si.c.suspect_id, p.c.person_id, ident.c.kind, ident.c.value)
        .join(pi, pi.c.identifier_id == si.c.identifier_id)
        .join(p, p.c.id == pi.c.participant_id)
        .join(ident, ident.c.id == si.c.identifier_id)
        .distinct()
    )
    for sid, person, kind, value in rows:
        links._link(sid, person, f"{kind} {value} is among the suspect's known identifiers")

    owner_of = links.suspect_of_evidence()
    labels = {eid: label for items in links.evidence.values() for eid, label in items.items()}
    if owner_of:
        owners = conn.execute(
            select(p.c.evidence_id, p.c.person_id)
            .where(p.c.is_self.is_(True), p.c.evidence_id.in_(sorted(owner_of)))
            .distinct()
        )
        for eid, person in owners:
            for sid, items in links.evidence.items():
                if eid in items:
                    links._link(sid, person, f"owner of the chat database on {labels[eid]}")
    return links
