"""The case graph: who was where, posted what, holds what, and is whom.

Nodes (keys ``person:<id>``, ``identifier:<id>``, ``group:<id>``, ``suspect:<id>``,
``item:<evidence id>``, ``content:<sha256>``) carry a ``kind``, a readable ``label`` and their
facts. Edges carry ``kind`` (the first of ``kinds``) and ``kinds`` (every relation joining the
pair, in :data:`EDGE_KINDS` order) with the facts of each relation as flat attributes
(:data:`EDGE_ATTRS` says which belong to which), so one undirected edge per pair serves the
analytics while the exports can split the relations again:

=================  =====================  ===================================================
edge kind          joins                  facts
=================  =====================  ===================================================
``member``         person – group         ``role`` (strongest across devices), first/last seen
``posted``         person – group         messages, attachments, known (known-bad) attachments
``shared``         person – content       attachments of that content the person posted
``messaged``       person – person        direct messages between them
``has_identifier`` person/suspect – ident
``possesses``      item – content         files holding it on the item, of them deleted
``owns``           suspect – item
``is``             suspect – person       the reasons (``lanterne.network.subjects``)
``same-content``   suspect – suspect      contents found on both suspects' items
``same-group``     suspect – suspect      groups both suspects' persons are in
``contact``        suspect – suspect      where one appears in the other's chats; messages
=================  =====================  ===================================================

Only contents worth following become nodes: pictures, videos and contents a known-bad or alert
set matches, found on an item or posted as an attachment, never the thousands of system files
of a disk image (contents only a known-good set matches are left out). Messages are never
nodes: they are counted in SQL (``GROUP BY``), so millions of them cost one pass each query.
The graph is rebuilt from the store each time (fast enough; nothing to keep in step).
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import networkx as nx
from sqlalchemy import (
    Connection,
    Select,
    and_,
    case,
    func,
    or_,
    select,
)

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.network.subjects import SuspectLinks, load_links

NODE_KINDS = ("person", "identifier", "group", "suspect", "item", "content")
DIRECTION = ("suspect", "person", "item", "group", "identifier", "content")
"""Which end a relation starts from: the end whose kind comes first here (a suspect owns an
item and is a person; a person is a member of a group, an item possesses a content)."""
EDGE_KINDS = (
    "member",
    "posted",
    "shared",
    "messaged",
    "has_identifier",
    "possesses",
    "owns",
    "is",
    "same-content",
    "same-group",
    "contact",
)
EDGE_ATTRS: dict[str, tuple[str, ...]] = {
    "member": ("role", "first_seen", "last_seen"),
    "posted": ("messages", "attachments", "known_attachments"),
    "shared": ("attachments",),
    "messaged": ("messages",),
    "has_identifier": (),
    "possesses": ("files", "deleted"),
    "owns": (),
    "is": ("reasons",),
    "same-content": ("same_content", "same_content_known", "same_content_sha256"),
    "same-group": ("same_group", "same_groups"),
    "contact": ("contact_items", "contact_names", "contact_participants", "direct_messages"),
}
"""The attributes each edge kind contributes to a merged edge (their names never collide)."""

SUSPECT_LINK_KINDS = ("same-content", "same-group", "contact")
MEDIA_KINDS = ("picture", "video")
ROLE_ORDER = ("admin", "member", "former", "banned", "pending", "requesting")
"""Membership roles, strongest first: a person listed with two roles (on two devices) keeps
the first of these."""
IN_GROUP_ROLES = ("admin", "member", "former")
"""Roles that put a person in a group for the analytics (with posting there): pending and
requesting members never were in, banned ones were thrown out before anyone saw them post."""
EVIDENCE_SHOWN = 10
"""How many SHA-256 a same-content link lists as its evidence (the count says how many)."""


def node_key(kind: str, ident: int | str) -> str:
    """The graph key of a node: ``person:12``, ``content:<sha256>`` …"""
    return f"{kind}:{ident}"


def split_key(key: str) -> tuple[str, str]:
    """``("person", "12")`` from ``person:12``."""
    kind, _, ident = key.partition(":")
    return kind, ident


@dataclass(frozen=True, slots=True)
class SuspectLink:
    """Two suspects linked by what the case holds, with the evidence of the link.

    ``evidence`` (JSON-ready) for ``same-content``: ``contents`` (how many), ``known`` (of them
    matched by a known-bad set), ``sha256`` (the first few, known ones first); for
    ``same-group``: ``groups`` (``{"id", "title"}`` each); for ``contact``: ``items`` (labels of
    the other suspect's items whose chat databases list this suspect's persons),
    ``contact_names`` (the names those databases saved them under, with the item),
    ``participants`` (how many such entries) and ``direct_messages`` exchanged."""

    a: int
    b: int
    kind: str
    count: int
    explanation: str
    evidence: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "kind": self.kind,
            "count": self.count,
            "explanation": self.explanation,
            "evidence": self.evidence,
        }


@dataclass
class CaseGraph:
    """The case graph (an undirected :class:`networkx.Graph`) and the who-is-who it was built
    with. Treat the graph as read-only: the indexes and results in :attr:`memo` are computed
    from it once."""

    graph: nx.Graph
    links: SuspectLinks
    _suspect_links: list[SuspectLink] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)
    """Results computed from the graph (betweenness …), kept so that statistics and
    priorities computed from one graph share them."""

    def suspect_links(self) -> list[SuspectLink]:
        """Every derived link between two suspects, by pair then kind."""
        return list(self._suspect_links)

    def nodes_of(self, kind: str) -> list[str]:
        """The keys of the nodes of one kind, in graph order."""
        if ("nodes", kind) not in self.memo:
            self.memo[("nodes", kind)] = [n for n, k in self.graph.nodes(data="kind") if k == kind]
        return list(self.memo[("nodes", kind)])

    def edges_of(self, kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """The edges carrying one relation, from their start (:data:`DIRECTION`) to their
        end."""
        if "edges" not in self.memo:
            index: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
            for u, v, data in self.graph.edges(data=True):
                start, end = ordered(self.graph, u, v)
                for k in data["kinds"]:
                    index[k].append((start, end, data))
            self.memo["edges"] = dict(index)
        yield from self.memo["edges"].get(kind, [])

    def memberships(self) -> list[tuple[str, str, str]]:
        """``(person, group, role)`` of every person in a group (:func:`in_group`; role
        ``poster`` for one who posted there without a membership on record)."""
        if "memberships" not in self.memo:
            found = {}
            for kind in ("member", "posted"):
                for person, group, data in self.edges_of(kind):
                    if in_group(data):
                        found[(person, group)] = str(data.get("role", "poster"))
            self.memo["memberships"] = [(p, g, role) for (p, g), role in found.items()]
        return list(self.memo["memberships"])

    def group_members(self) -> dict[str, dict[str, str]]:
        """Group key → {person key → role} of the persons in it (:meth:`memberships`)."""
        out: dict[str, dict[str, str]] = {group: {} for group in self.nodes_of("group")}
        for person, group, role in self.memberships():
            out[group][person] = role
        return out

    def person_group_graph(self) -> nx.Graph:
        """Every group and the persons in them (:meth:`memberships`), nothing else."""
        g = nx.Graph()
        g.add_nodes_from(self.nodes_of("group"))
        g.add_edges_from((p, grp) for p, grp, _ in self.memberships())
        return g


def in_group(data: dict[str, Any]) -> bool:
    """Whether a person–group edge puts the person in the group: a role of
    :data:`IN_GROUP_ROLES`, or messages posted there."""
    kinds = data["kinds"]
    return ("member" in kinds and data.get("role") in IN_GROUP_ROLES) or (
        "posted" in kinds and int(data.get("messages", 0)) > 0
    )


def ordered(g: nx.Graph, u: str, v: str) -> tuple[str, str]:
    """The ends of an edge as (start, end) by :data:`DIRECTION`."""
    ku, kv = g.nodes[u]["kind"], g.nodes[v]["kind"]
    if DIRECTION.index(ku) > DIRECTION.index(kv):
        return v, u
    return u, v


# ------------------------------------------------------------------------------- build
def build_graph(case: Case) -> CaseGraph:
    """Build the case graph from the store (every count aggregated in SQL).

    The cyclic garbage collector is paused meanwhile: the graph is hundreds of thousands of
    small dicts that live on, and collections triggered by their allocation would scan them
    again and again (a fifth of the time) to free nothing."""
    paused = gc.isenabled()
    gc.disable()
    try:
        with case.store.engine.connect() as conn:
            return _Builder(conn).build()
    finally:
        if paused:
            gc.enable()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _facts(**values: Any) -> dict[str, Any]:
    """Node or edge facts without the unknown ones (exports hold no nulls)."""
    return {k: v for k, v in values.items() if v is not None}


def _hashset_matches(*roles: str) -> Select[Any]:
    """The SHA-256 of contents that a set of one of these roles matches."""
    m, hs = schema.match, schema.hashset
    return select(m.c.sha256).join(hs, hs.c.id == m.c.hashset_id).where(hs.c.role.in_(roles))


def eligible_contents(column: Any) -> Any:
    """A condition on a joined ``content`` row (``column`` its SHA-256): pictures, videos and
    whatever a known-bad or alert set matches, unless only a known-good set knows it."""
    c = schema.content
    return and_(
        or_(c.c.kind.in_(MEDIA_KINDS), column.in_(_hashset_matches("known-bad", "alert"))),
        or_(
            column.not_in(_hashset_matches("known-good")),
            column.in_(_hashset_matches("known-bad")),
        ),
    )


def messages_per_group_and_sender(conn: Connection) -> Iterator[tuple[int, int, int]]:
    """``(group id, sender id, messages)`` of group messages, counted in SQL from the index on
    (chat_group_id, sender_id) alone."""
    msg = schema.message
    group, sender = msg.c.chat_group_id, msg.c.sender_id
    yield from conn.execute(
        select(group, sender, func.count())
        .where(group.is_not(None), sender.is_not(None))
        .group_by(group, sender)
    ).all()


_SINGLE = {kind: (kind,) for kind in EDGE_KINDS}


class _Builder:
    """One pass of queries over the store, then the graph in bulk."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.g = nx.Graph()
        self.edges: dict[tuple[str, str], dict[str, Any]] = {}  # relations that merge
        self.plain: list[tuple[str, str, dict[str, Any]]] = []  # one relation per pair
        self.person_of: dict[int, int] = {}
        self.self_person: dict[int, int] = {}  # chat source → its owner's person
        self.persons: dict[int, dict[str, Any]] = {}
        self.idents: dict[int, tuple[str, str, str | None]] = {}
        self.messaged: dict[tuple[int, int], int] = {}
        self.labels: dict[int, str] = {}
        self.contents: set[str] = set()
        self.holders: dict[str, list[int]] = defaultdict(list)
        self.known: set[str] = set()
        self.links = load_links(conn)

    def build(self) -> CaseGraph:
        self._persons()
        self._identifiers()
        self._groups()
        self._memberships()
        self._posts()
        self._direct_messages()
        self._items()
        self._contents()
        self._content_nodes()
        self._suspects()
        links = self._suspect_links()
        self.g.add_edges_from(self.plain)
        self.g.add_edges_from((u, v, data) for (u, v), data in self.edges.items())
        self._group_sizes()
        return CaseGraph(self.g, self.links, links)

    def _group_sizes(self) -> None:
        """Each group's ``members`` (persons in it, :func:`in_group`) and ``admins``."""
        nodes = self.g.nodes
        for group in (n for n, k in nodes(data="kind") if k == "group"):
            nodes[group].update(members=0, admins=0)
        for (u, v), data in self.edges.items():
            if in_group(data):
                group = v if v.startswith("group:") else u
                nodes[group]["members"] += 1
                nodes[group]["admins"] += data.get("role") == "admin"

    def _rows(self, query: Any) -> Sequence[Any]:
        """All rows of a query at once (fetching row by row costs more than the query)."""
        return self.conn.execute(query).all()

    def _add(self, u: str, v: str, kind: str, **values: Any) -> None:
        """Add an edge of a relation that no other relation shares a pair with."""
        self.plain.append((u, v, {"kind": kind, "kinds": _SINGLE[kind], **values}))

    def _edge(self, u: str, v: str, kind: str, **values: Any) -> dict[str, Any]:
        """Add (or merge into the pair's edge) one relation and its facts: a person's
        membership and posts in a group, and the links between two suspects."""
        pair = (u, v) if u <= v else (v, u)
        data = self.edges.get(pair)
        if data is None:
            data = self.edges[pair] = {"kind": kind, "kinds": (kind,)}
        elif kind not in data["kinds"]:
            kinds = sorted((*data["kinds"], kind), key=EDGE_KINDS.index)
            data["kinds"], data["kind"] = tuple(kinds), kinds[0]
        data.update(_facts(**values))
        return data

    # ------------------------------------------------------------------ chats
    def _persons(self) -> None:
        p, per = schema.participant, schema.person
        participants: dict[int, int] = defaultdict(int)
        for pid, person, source, is_self in self._rows(
            select(p.c.id, p.c.person_id, p.c.source_id, p.c.is_self)
        ):
            self.person_of[pid] = person
            participants[person] += 1
            if is_self:
                self.self_person.setdefault(source, person)
        for pid, name in self._rows(select(per.c.id, per.c.name).order_by(per.c.id)):
            self.persons[pid] = _facts(
                kind="person", name=name, participants=participants.get(pid, 0)
            )

    def _identifiers(self) -> None:
        i, pi, p, si = (
            schema.identifier,
            schema.participant_identifier,
            schema.participant,
            schema.suspect_identifier,
        )
        used = or_(i.c.id.in_(select(pi.c.identifier_id)), i.c.id.in_(select(si.c.identifier_id)))
        nodes = []
        for iid, kind, value, country in self._rows(
            select(i.c.id, i.c.kind, i.c.value, i.c.country).where(used).order_by(i.c.id)
        ):
            self.idents[iid] = (kind, value, country)
            nodes.append(
                (
                    node_key("identifier", iid),
                    _facts(
                        kind="identifier",
                        label=f"{kind} {value}",
                        ident_kind=kind,
                        value=value,
                        country=country,
                    ),
                )
            )
        countries: dict[int, list[str]] = defaultdict(list)
        numbers: dict[int, list[str]] = defaultdict(list)
        for person, iid in self._rows(
            select(p.c.person_id, pi.c.identifier_id)
            .join(pi, pi.c.participant_id == p.c.id)
            .distinct()
            .order_by(p.c.person_id, pi.c.identifier_id)
        ):
            kind, value, country = self.idents[iid]
            self._add(node_key("person", person), node_key("identifier", iid), "has_identifier")
            if kind == "e164":
                numbers[person].append(value)
                if country and country not in countries[person]:
                    countries[person].append(country)
        person_nodes = []
        for pid, facts in self.persons.items():
            facts["countries"] = countries.get(pid, [])
            if countries.get(pid):
                facts["country"] = countries[pid][0]
            if numbers.get(pid):
                facts["e164"] = numbers[pid][0]
            facts["label"] = facts.get("name") or facts.get("e164") or f"person {pid}"
            person_nodes.append((node_key("person", pid), facts))
        self.g.add_nodes_from(person_nodes)
        self.g.add_nodes_from(nodes)

    def _groups(self) -> None:
        g = schema.chat_group
        self.g.add_nodes_from(
            (
                node_key("group", gid),
                _facts(kind="group", label=title or key, title=title, key=key, app=app),
            )
            for gid, key, app, title in self._rows(
                select(g.c.id, g.c.key, g.c.app, g.c.title).order_by(g.c.id)
            )
        )

    def _memberships(self) -> None:
        ms, p = schema.membership, schema.participant
        rows = self.conn.execute(
            select(
                p.c.person_id,
                ms.c.chat_group_id,
                ms.c.role,
                func.min(ms.c.first_seen),
                func.max(ms.c.last_seen),
            )
            .join(p, p.c.id == ms.c.participant_id)
            .group_by(p.c.person_id, ms.c.chat_group_id, ms.c.role)
        ).all()
        best: dict[tuple[int, int], dict[str, Any]] = {}
        for person, group, role, first, last in rows:
            seen = best.get((person, group))
            rank = ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)
            if seen is None:
                best[(person, group)] = seen = {"rank": rank, "role": role}
            elif rank < seen["rank"]:
                seen.update(rank=rank, role=role)
            if first is not None and (seen.get("first") is None or first < seen["first"]):
                seen["first"] = first
            if last is not None and (seen.get("last") is None or last > seen["last"]):
                seen["last"] = last
        for (person, group), seen in sorted(best.items()):
            self._edge(
                node_key("person", person),
                node_key("group", group),
                "member",
                role=seen["role"],
                first_seen=_iso(seen.get("first")),
                last_seen=_iso(seen.get("last")),
            )

    def _posts(self) -> None:
        msg, at, c = schema.message, schema.attachment, schema.content
        in_group = and_(msg.c.chat_group_id.is_not(None), msg.c.sender_id.is_not(None))
        posted: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
        for gid, pid, n in messages_per_group_and_sender(self.conn):
            posted[(self.person_of[pid], gid)][0] += n
        known = case((at.c.sha256.in_(_hashset_matches("known-bad")), 1), else_=0)
        for sender, group, n, k in self._rows(
            select(msg.c.sender_id, msg.c.chat_group_id, func.count(), func.sum(known))
            .select_from(at.join(msg, msg.c.id == at.c.message_id))
            .where(in_group)
            .group_by(msg.c.sender_id, msg.c.chat_group_id)
        ):
            counts = posted[(self.person_of[sender], group)]
            counts[1] += n
            counts[2] += int(k or 0)
        for (person, group), (n, files, k) in sorted(posted.items()):
            self._edge(
                node_key("person", person),
                node_key("group", group),
                "posted",
                messages=n,
                attachments=files,
                known_attachments=k,
            )
        shared: dict[tuple[int, str], int] = defaultdict(int)
        for sender, sha256, n in self._rows(
            select(msg.c.sender_id, at.c.sha256, func.count())
            .select_from(
                at.join(msg, msg.c.id == at.c.message_id).join(c, c.c.sha256 == at.c.sha256)
            )
            .where(msg.c.sender_id.is_not(None), eligible_contents(at.c.sha256))
            .group_by(msg.c.sender_id, at.c.sha256)
        ):
            shared[(self.person_of[sender], sha256)] += n
        for (person, sha256), n in sorted(shared.items()):
            self.contents.add(sha256)
            self._add(
                node_key("person", person), node_key("content", sha256), "shared", attachments=n
            )

    def _direct_messages(self) -> None:
        """Person pairs of one-to-one conversations: the peer and the database's owner (or,
        where no owner is known, the sender when it is not the peer)."""
        msg = schema.message
        pairs: dict[tuple[int, int], int] = defaultdict(int)
        for source, peer, sender, n in self._rows(
            select(msg.c.source_id, msg.c.peer_id, msg.c.sender_id, func.count())
            .where(msg.c.peer_id.is_not(None))
            .group_by(msg.c.source_id, msg.c.peer_id, msg.c.sender_id)
        ):
            other = self.person_of[peer]
            me = self.self_person.get(source)
            if me is None and sender is not None and sender != peer:
                me = self.person_of[sender]
            if me is None or me == other:
                continue
            pairs[(min(me, other), max(me, other))] += n
        self.messaged = dict(pairs)
        for (a, b), n in sorted(pairs.items()):
            self._add(node_key("person", a), node_key("person", b), "messaged", messages=n)

    # ---------------------------------------------------------------- evidence
    def _items(self) -> None:
        ev = schema.evidence
        nodes = []
        for r in self._rows(select(ev).order_by(ev.c.id)):
            self.labels[r.id] = r.label
            nodes.append(
                (
                    node_key("item", r.id),
                    _facts(
                        kind="item",
                        label=r.label,
                        evidence_kind=r.kind,
                        suspect=r.suspect,
                        size=r.size,
                        device_type=r.device_type,
                        device_make=r.device_make,
                        device_model=r.device_model,
                        device_serial=r.device_serial,
                    ),
                )
            )
        self.g.add_nodes_from(nodes)

    def _contents(self) -> None:
        f, c = schema.file, schema.content
        deleted = func.sum(case((f.c.deleted.is_(True), 1), else_=0))
        for eid, sha256, n, gone in self._rows(
            select(f.c.evidence_id, f.c.sha256, func.count(), deleted)
            .select_from(f.join(c, c.c.sha256 == f.c.sha256))
            .where(eligible_contents(f.c.sha256))
            .group_by(f.c.evidence_id, f.c.sha256)
            .order_by(f.c.evidence_id, f.c.sha256)
        ):
            self.contents.add(sha256)
            self.holders[sha256].append(eid)
            self._add(
                node_key("item", eid),
                node_key("content", sha256),
                "possesses",
                files=n,
                deleted=int(gone or 0),
            )

    def _content_nodes(self) -> None:
        """The contents met on items and in posts, with their facts and known categories."""
        c, m, e, hs = schema.content, schema.match, schema.hash_entry, schema.hashset
        categories: dict[str, list[str]] = defaultdict(list)
        for sha256, scheme, category in self._rows(
            select(m.c.sha256, hs.c.scheme, e.c.category)
            .select_from(m.join(e, e.c.id == m.c.entry).join(hs, hs.c.id == m.c.hashset_id))
            .where(hs.c.role == "known-bad")
            .distinct()
            .order_by(m.c.sha256, hs.c.scheme, e.c.category)
        ):
            self.known.add(sha256)
            label = f"{scheme or '?'}:{category or 'uncategorised'}"
            if label not in categories[sha256]:
                categories[sha256].append(label)
        alerts = set(self.conn.execute(_hashset_matches("alert").distinct()).scalars())
        nodes = []
        for sha256, kind, size, make, model, serial in self._rows(
            select(
                c.c.sha256,
                c.c.kind,
                c.c.size,
                c.c.camera_make,
                c.c.camera_model,
                c.c.camera_serial,
            ).where(eligible_contents(c.c.sha256))
        ):
            if sha256 not in self.contents:
                continue
            facts = {
                "kind": "content",
                "label": f"{kind} {sha256[:12]}",
                "sha256": sha256,
                "content_kind": kind,
                "size": size,
                "known": sha256 in self.known,
                "categories": categories.get(sha256, []),
                "alert": sha256 in alerts,
            }
            if make or model or serial:
                facts.update(_facts(camera_make=make, camera_model=model, camera_serial=serial))
            nodes.append((node_key("content", sha256), facts))
        self.g.add_nodes_from(nodes)

    # ---------------------------------------------------------------- suspects
    def _suspects(self) -> None:
        links = self.links
        self.g.add_nodes_from(
            (
                node_key("suspect", s.id),
                _facts(
                    kind="suspect",
                    label=s.display,
                    key=s.key,
                    name=s.name,
                    region=s.region,
                    country=s.country,
                    occupation=s.occupation,
                    birth_year=s.birth_year,
                ),
            )
            for s in links.suspects.values()
        )
        for person, suspects in sorted(links.suspects_of_person().items()):
            self.g.nodes[node_key("person", person)]["suspects"] = sorted(
                links.suspects[s].key for s in suspects
            )
        for sid in sorted(links.suspects):
            for eid in sorted(links.evidence.get(sid, {})):
                self._add(node_key("suspect", sid), node_key("item", eid), "owns")
            for person, reasons in sorted(links.persons.get(sid, {}).items()):
                self._add(
                    node_key("suspect", sid), node_key("person", person), "is", reasons=reasons
                )
        si = schema.suspect_identifier
        for sid, iid in self._rows(
            select(si.c.suspect_id, si.c.identifier_id).order_by(si.c.suspect_id)
        ):
            self._add(node_key("suspect", sid), node_key("identifier", iid), "has_identifier")

    def _suspect_links(self) -> list[SuspectLink]:
        found = [*self._same_content(), *self._same_group(), *self._contacts()]
        found.sort(key=lambda x: (x.a, x.b, SUSPECT_LINK_KINDS.index(x.kind)))
        for link in found:
            attrs: dict[str, Any]
            if link.kind == "same-content":
                attrs = {
                    "same_content": link.count,
                    "same_content_known": link.evidence["known"],
                    "same_content_sha256": link.evidence["sha256"],
                }
            elif link.kind == "same-group":
                attrs = {
                    "same_group": link.count,
                    "same_groups": [g["title"] for g in link.evidence["groups"]],
                }
            else:
                attrs = {
                    "contact_items": link.evidence["items"],
                    "contact_names": link.evidence["contact_names"],
                    "contact_participants": link.evidence["participants"],
                    "direct_messages": link.evidence["direct_messages"],
                }
            self._edge(node_key("suspect", link.a), node_key("suspect", link.b), link.kind, **attrs)
        return found

    def _same_content(self) -> Iterator[SuspectLink]:
        owner = self.links.suspect_of_evidence()
        shared: dict[tuple[int, int], list[str]] = defaultdict(list)
        for sha256, items in self.holders.items():
            suspects = sorted({owner[i] for i in items if i in owner})
            for a, b in _pairs(suspects):
                shared[(a, b)].append(sha256)
        for (a, b), hashes in sorted(shared.items()):
            known = [h for h in hashes if h in self.known]
            shown = sorted(known) + sorted(h for h in hashes if h not in self.known)
            yield SuspectLink(
                a,
                b,
                "same-content",
                len(hashes),
                f"{len(hashes)} picture(s)/video(s) found on both suspects' items"
                f" ({len(known)} known)",
                {"contents": len(hashes), "known": len(known), "sha256": shown[:EVIDENCE_SHOWN]},
            )

    def _same_group(self) -> Iterator[SuspectLink]:
        of_person = self.links.suspects_of_person()
        in_groups: dict[str, set[int]] = defaultdict(set)
        for (u, v), data in self.edges.items():
            if not in_group(data):
                continue
            person, group = (u, v) if u.startswith("person:") else (v, u)
            for sid in of_person.get(int(split_key(person)[1]), ()):
                in_groups[group].add(sid)
        common: dict[tuple[int, int], list[str]] = defaultdict(list)
        for group, suspects in in_groups.items():
            for a, b in _pairs(sorted(suspects)):
                common[(a, b)].append(group)
        for (a, b), groups in sorted(common.items()):
            listed: list[dict[str, Any]] = [
                {"id": int(split_key(g)[1]), "title": str(self.g.nodes[g]["label"])}
                for g in sorted(groups, key=lambda k: int(split_key(k)[1]))
            ]
            yield SuspectLink(
                a,
                b,
                "same-group",
                len(listed),
                f"both in {len(listed)} group(s): " + ", ".join(g["title"] for g in listed),
                {"groups": listed},
            )

    def _contacts(self) -> Iterator[SuspectLink]:
        """Suspect A's persons among the (non-owner) participants of a chat database on
        suspect B's item (with the names B's device saved them under, the strongest sign of
        a contact), or direct messages between their persons."""
        of_person = self.links.suspects_of_person()
        owner = self.links.suspect_of_evidence()
        p = schema.participant
        seen: dict[tuple[int, int], dict[str, Any]] = {}

        def entry(a: int, b: int) -> dict[str, Any]:
            return seen.setdefault(
                (min(a, b), max(a, b)),
                {"items": set(), "names": set(), "participants": 0, "messages": 0},
            )

        if owner and of_person:
            for eid, person, saved, n in self._rows(
                select(p.c.evidence_id, p.c.person_id, p.c.contact_name, func.count())
                .where(p.c.is_self.is_(False), p.c.evidence_id.in_(sorted(owner)))
                .group_by(p.c.evidence_id, p.c.person_id, p.c.contact_name)
            ):
                holder = owner[eid]
                for sid in of_person.get(person, ()):
                    if sid != holder:
                        e = entry(sid, holder)
                        e["items"].add(self.labels[eid])
                        e["participants"] += n
                        if saved:
                            e["names"].add(f"{saved} ({self.labels[eid]})")
        for (pa, pb), n in self.messaged.items():
            for sa in of_person.get(pa, ()):
                for sb in of_person.get(pb, ()):
                    if sa != sb:
                        entry(sa, sb)["messages"] += n
        for (a, b), e in sorted(seen.items()):
            items, names = sorted(e["items"]), sorted(e["names"])
            parts = []
            if items:
                parts.append("listed in the chats on " + ", ".join(items))
            if names:
                parts.append("saved as contact " + ", ".join(names))
            if e["messages"]:
                parts.append(f"{e['messages']} direct message(s) exchanged")
            yield SuspectLink(
                a,
                b,
                "contact",
                e["participants"] + e["messages"],
                "; ".join(parts),
                {
                    "items": items,
                    "contact_names": names,
                    "participants": e["participants"],
                    "direct_messages": e["messages"],
                },
            )


def _pairs(ids: list[int]) -> Iterable[tuple[int, int]]:
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            yield a, b


# ------------------------------------------------------------------------- web view
def cytoscape_elements(
    graph: CaseGraph, center: str, radius: int = 2, limit: int = 300
) -> list[dict[str, Any]]:
    """The neighbourhood of one node as Cytoscape.js elements (``{"group": "nodes"|"edges",
    "data": {…}}``): nodes breadth-first up to ``radius`` hops, at most ``limit`` of them
    (nearer first; within a ring, the most connected first), and the edges among them."""
    g = graph.graph
    if center not in g:
        raise UserError(f"no node {center!r} in the case graph (keys look like person:12)")
    chosen = {center: 0}
    ring = [center]
    for depth in range(1, radius + 1):
        candidates = {n for node in ring for n in g.adj[node] if n not in chosen}
        ring = sorted(candidates, key=lambda n: (-g.degree(n), n))[: max(0, limit - len(chosen))]
        chosen.update((n, depth) for n in ring)
        if len(chosen) >= limit or not ring:
            break
    elements: list[dict[str, Any]] = []
    for node, depth in chosen.items():
        data = {k: _scalar(v) for k, v in g.nodes[node].items()}
        data.update(id=node, depth=depth, degree=g.degree(node))
        elements.append({"group": "nodes", "data": data})
    for u, v, edata in g.subgraph(chosen).edges(data=True):
        a, b = ordered(g, u, v)
        data = {k: _scalar(val) for k, val in edata.items()}
        data.update(id=f"{a}|{b}", source=a, target=b)
        elements.append({"group": "edges", "data": data})
    return elements


def _scalar(value: Any) -> Any:
    """A JSON- and export-ready value: lists and tuples become ``; ``-joined text."""
    if isinstance(value, list | tuple | set | frozenset):
        return "; ".join(str(v) for v in value)
    return value
