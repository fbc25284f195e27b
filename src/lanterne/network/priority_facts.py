"""The facts behind the priority score, read from the case store in a few aggregated queries.

Per chat person: messages with attachments per group, known-bad contents posted, groups
administered, watchlist hits (and betweenness when a graph is given). Per seized item of a
suspect: known-bad contents held and new pictures and videos with their camera facts. Each
fact keeps the id of its first row (file, message, membership) so that the evidence of the
subjects finally shown can be read back (:func:`resolve_evidence`) without reading it for the
thousands of others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from lanterne.case import schema
from lanterne.network.priority_config import PriorityConfig

if TYPE_CHECKING:
    from lanterne.network.graph import CaseGraph


@dataclass(slots=True)
class NewContent:
    kind: str
    make: str | None
    model: str | None
    serial: str | None
    lat: float | None
    lon: float | None
    file_id: int


@dataclass(slots=True)
class SubjectFacts:
    """What is known of one subject, before weighting."""

    held: dict[str, int] = field(default_factory=dict)  # sha256 -> first file id
    posted: dict[str, int] = field(default_factory=dict)  # sha256 -> first message id
    new: dict[str, NewContent] = field(default_factory=dict)
    posts: dict[int | None, list[int]] = field(default_factory=dict)  # group -> [n, first msg]
    admin: dict[int, int] = field(default_factory=dict)  # group -> membership id
    bridging: tuple[float, int] | None = None  # (betweenness, person id)
    hits: list[dict[str, Any]] = field(default_factory=list)

    def absorb(self, other: SubjectFacts) -> None:
        """Add a linked person's chat facts to a suspect's."""
        for sha, mid in other.posted.items():
            self.posted[sha] = min(mid, self.posted.get(sha, mid))
        for group, (n, first) in other.posts.items():
            mine = self.posts.setdefault(group, [0, first])
            mine[0] += n
            mine[1] = min(mine[1], first)
        for group, mid in other.admin.items():
            self.admin[group] = min(mid, self.admin.get(group, mid))
        if other.bridging and (not self.bridging or other.bridging > self.bridging):
            self.bridging = other.bridging
        self.hits.extend(other.hits)


@dataclass(slots=True)
class KnownCategory:
    label: str
    scheme: str | None
    weight: float


def known_bad() -> Any:
    m, hs = schema.match, schema.hashset
    return select(m.c.sha256).join(hs, hs.c.id == m.c.hashset_id).where(hs.c.role == "known-bad")


def known_categories(conn: Connection, config: PriorityConfig) -> dict[str, KnownCategory]:
    """Each known-bad content's category: of the categories its sets give it, the one weighing
    most (so a content counts once, under its gravest category)."""
    m, e, hs = schema.match, schema.hash_entry, schema.hashset
    out: dict[str, KnownCategory] = {}
    rows = conn.execute(
        select(m.c.sha256, hs.c.scheme, e.c.category)
        .select_from(m.join(e, e.c.id == m.c.entry).join(hs, hs.c.id == m.c.hashset_id))
        .where(hs.c.role == "known-bad")
        .distinct()
    )
    for sha, scheme, category in rows:
        label = category if category is not None else "uncategorised"
        weight = config.category_weight(scheme, label)
        old = out.get(sha)
        if old is None or (-weight, label) < (-old.weight, old.label):
            out[sha] = KnownCategory(label, scheme, weight)
    return out


def person_facts(conn: Connection, graph: CaseGraph | None) -> dict[int, SubjectFacts]:
    """Chat facts of every person who posted, administers a group, bridges or is on record."""
    msg, at, p, mb = schema.message, schema.attachment, schema.participant, schema.membership
    facts: dict[int, SubjectFacts] = {}

    def of(person: int) -> SubjectFacts:
        return facts.setdefault(person, SubjectFacts())

    for person, group, n, first in conn.execute(
        select(p.c.person_id, msg.c.chat_group_id, func.count(), func.min(msg.c.id))
        .join(p, p.c.id == msg.c.sender_id)
        .where(msg.c.id.in_(select(at.c.message_id)))
        .group_by(p.c.person_id, msg.c.chat_group_id)
    ):
        of(person).posts[group] = [int(n), int(first)]
    for person, sha, first in conn.execute(
        select(p.c.person_id, at.c.sha256, func.min(msg.c.id))
        .select_from(at.join(msg, msg.c.id == at.c.message_id))
        .join(p, p.c.id == msg.c.sender_id)
        .where(at.c.sha256.in_(known_bad()))
        .group_by(p.c.person_id, at.c.sha256)
    ):
        of(person).posted[sha] = int(first)
    for person, group, first in conn.execute(
        select(p.c.person_id, mb.c.chat_group_id, func.min(mb.c.id))
        .join(p, p.c.id == mb.c.participant_id)
        .where(mb.c.role == "admin")
        .group_by(p.c.person_id, mb.c.chat_group_id)
    ):
        of(person).admin[group] = int(first)
    if graph is not None:
        from lanterne.network.stats import person_betweenness

        for person, b in person_betweenness(graph).items():
            if b > 0:
                of(person).bridging = (float(b), person)
    return facts


def watchlist_hits(conn: Connection) -> list[dict[str, Any]]:
    h, e, w = schema.watchlist_hit, schema.watchlist_entry, schema.watchlist
    rows = conn.execute(
        select(h.c.subject, h.c.subject_id, h.c.field, h.c.value, w.c.name, e.c.line, e.c.key)
        .join(e, e.c.id == h.c.entry_id)
        .join(w, w.c.id == e.c.watchlist_id)
        .order_by(w.c.name, e.c.line, h.c.field, h.c.id)
    )
    return [
        {
            "type": "watchlist_hit",
            "subject": r.subject,
            "subject_id": r.subject_id,
            "watchlist": r.name,
            "line": r.line,
            "record": r.key,
            "field": r.field,
            "value": r.value,
        }
        for r in rows
    ]


def item_facts(conn: Connection, items: list[int]) -> dict[int, SubjectFacts]:
    """Known and new contents on each seized item of a suspect."""
    f, c, m, hs = schema.file, schema.content, schema.match, schema.hashset
    facts: dict[int, SubjectFacts] = {}
    for start in range(0, len(items), 500):
        chunk = items[start : start + 500]
        for eid, sha, first in conn.execute(
            select(f.c.evidence_id, f.c.sha256, func.min(f.c.id))
            .where(f.c.evidence_id.in_(chunk), f.c.sha256.in_(known_bad()))
            .group_by(f.c.evidence_id, f.c.sha256)
        ):
            facts.setdefault(eid, SubjectFacts()).held[sha] = int(first)
        listed = (
            select(m.c.sha256)
            .join(hs, hs.c.id == m.c.hashset_id)
            .where(hs.c.role.in_(("known-bad", "known-good")))
        )
        cols = (c.c.kind, c.c.camera_make, c.c.camera_model, c.c.camera_serial)
        for r in conn.execute(
            select(f.c.evidence_id, c.c.sha256, *cols, c.c.gps_lat, c.c.gps_lon, func.min(f.c.id))
            .join(c, c.c.sha256 == f.c.sha256)
            .where(
                f.c.evidence_id.in_(chunk),
                c.c.kind.in_(("picture", "video")),
                c.c.sha256.not_in(listed),
            )
            .group_by(f.c.evidence_id, c.c.sha256)
        ):
            facts.setdefault(r[0], SubjectFacts()).new[r[1]] = NewContent(*r[2:])
    return facts


def devices(conn: Connection, items: list[int]) -> dict[int, dict[str, Any]]:
    """Seized devices among these items with a make, model or serial, as evidence dicts."""
    ev = schema.evidence
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(items), 500):
        for r in conn.execute(
            select(ev.c.id, ev.c.label, ev.c.device_type, ev.c.device_make, ev.c.device_model)
            .add_columns(ev.c.device_serial)
            .where(ev.c.id.in_(items[start : start + 500]))
            .where((ev.c.device_serial.is_not(None)) | (ev.c.device_model.is_not(None)))
        ):
            out[r.id] = {
                "type": "device",
                "evidence": r.label,
                "device_type": r.device_type,
                "make": r.device_make,
                "model": r.device_model,
                "serial": r.device_serial,
            }
    return out


def describe_persons(conn: Connection, ids: Iterable[int]) -> dict[int, tuple[str, str | None]]:
    """Person id → (name and E.164 number, the number's country) to show; the smallest number
    when a person has several, ``person <id>`` when they have no name."""
    p, pi, i, person = (
        schema.participant,
        schema.participant_identifier,
        schema.identifier,
        schema.person,
    )
    out: dict[int, tuple[str, str | None]] = {}
    for chunk in _chunks(ids):
        names = dict(
            conn.execute(select(person.c.id, person.c.name).where(person.c.id.in_(chunk))).all()
        )
        numbers: dict[int, tuple[str, str | None]] = {}
        for pid, value, country in conn.execute(
            select(p.c.person_id, i.c.value, i.c.country)
            .join(pi, pi.c.participant_id == p.c.id)
            .join(i, i.c.id == pi.c.identifier_id)
            .where(i.c.kind == "e164", p.c.person_id.in_(chunk))
            .distinct()
        ):
            if pid not in numbers or value < numbers[pid][0]:
                numbers[pid] = (value, country)
        for pid in chunk:
            number, country = numbers.get(pid, (None, None))
            shown = " ".join(x for x in (names.get(pid) or f"person {pid}", number) if x)
            out[pid] = (shown, country)
    return out


def resolve_evidence(conn: Connection, evidence: list[dict[str, Any]]) -> None:
    """Replace the row ids kept in evidence entries (keys ``_file``, ``_message``,
    ``_first_message``, ``_membership``, ``_group``, ``_groups_of``) by what a person reads:
    item label, path and provenance chain of a file; group, item, path and time of a message."""
    wanted: dict[str, set[int]] = {k: set() for k in ("_file", "_msg", "_membership", "_of")}
    for d in evidence:
        for key, ref in (
            ("_file", "_file"),
            ("_message", "_msg"),
            ("_first_message", "_msg"),
            ("_membership", "_membership"),
            ("_groups_of", "_of"),
        ):
            if key in d:
                wanted[ref].add(d[key])
    ev, f, msg, mb = schema.evidence, schema.file, schema.message, schema.membership
    files: dict[int, dict[str, Any]] = {}
    messages: dict[int, Any] = {}
    members: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(wanted["_file"]):
        for r in conn.execute(
            select(f.c.id, ev.c.label, f.c.path, f.c.provenance, f.c.deleted)
            .join(ev, ev.c.id == f.c.evidence_id)
            .where(f.c.id.in_(chunk))
        ):
            files[r.id] = {
                "evidence": r.label,
                "path": r.path,
                "deleted": bool(r.deleted),
                "provenance": json.loads(r.provenance),
            }
    group_ids: set[int | None] = {d["_group"] for d in evidence if "_group" in d}
    for chunk in _chunks(wanted["_msg"]):
        for r in conn.execute(
            select(msg.c.id, ev.c.label, msg.c.path, msg.c.sent_at, msg.c.chat_group_id)
            .join(ev, ev.c.id == msg.c.evidence_id)
            .where(msg.c.id.in_(chunk))
        ):
            messages[r.id] = r
            group_ids.add(r.chat_group_id)
    for chunk in _chunks(wanted["_membership"]):
        for mid, label, path in conn.execute(
            select(mb.c.id, ev.c.label, mb.c.path)
            .join(ev, ev.c.id == mb.c.evidence_id)
            .where(mb.c.id.in_(chunk))
        ):
            members[mid] = {"evidence": label, "path": path}
    groups_of: dict[int, set[int]] = {}
    p = schema.participant
    for chunk in _chunks(wanted["_of"]):
        for person, group in conn.execute(
            select(p.c.person_id, mb.c.chat_group_id)
            .join(p, p.c.id == mb.c.participant_id)
            .where(p.c.person_id.in_(chunk))
            .distinct()
        ):
            groups_of.setdefault(person, set()).add(group)
            group_ids.add(group)
    names = _group_names(conn, {g for g in group_ids if g is not None})

    def where(message_id: int) -> dict[str, Any]:
        r = messages[message_id]
        return {
            "evidence": r.label,
            "path": r.path,
            "sent_at": r.sent_at.isoformat() if r.sent_at else None,
            "group": names.get(r.chat_group_id, "direct messages"),
        }

    for d in evidence:
        if "_file" in d:
            d.update(files.get(d.pop("_file"), {}))
        if "_message" in d:
            d.update(where(d.pop("_message")))
        if "_first_message" in d:
            d["first_message"] = where(d.pop("_first_message"))
        if "_membership" in d:
            d.update(members.get(d.pop("_membership"), {}))
        if "_group" in d:
            d["group"] = names.get(d.pop("_group"), "direct messages")
        if "_groups_of" in d:
            d["groups"] = sorted(names[g] for g in groups_of.get(d.pop("_groups_of"), ()))


def _group_names(conn: Connection, ids: set[int]) -> dict[int | None, str]:
    """Group id → its title (or its key when it has none)."""
    g = schema.chat_group
    out: dict[int | None, str] = {}
    for chunk in _chunks(ids):
        for gid, title, key in conn.execute(
            select(g.c.id, g.c.title, g.c.key).where(g.c.id.in_(chunk))
        ):
            out[gid] = title or key
    return out


def _chunks(ids: Iterable[int], size: int = 500) -> Iterable[list[int]]:
    values = sorted(ids)
    for start in range(0, len(values), size):
        yield values[start : start + size]
