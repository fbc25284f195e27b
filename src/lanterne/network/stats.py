"""``lanterne network stats``: who is where, which groups, who posts known material, who runs
the groups, who bridges them, and how the network falls into communities.

Countries are those of persons' E.164 numbers (a person with numbers of two countries counts
in both; one without a valid number counts as ``unknown``). Group figures count persons (the
same man on two seized devices once). "Known material" is what a known-bad hash set matches,
counted by distinct content per category of each set's scheme.

Bridges are measured by betweenness centrality on the **core** person–group graph: every group,
and every person in two groups or more (:func:`lanterne.network.graph.in_group`); a person in
one group lies on no shortest path between others and cannot bridge. Brandes' algorithm runs
compiled (numba) on the graph's adjacency arrays: exact while it fits in :data:`WORK`, else
from as many sources as fit (at least :data:`MIN_PIVOTS`) drawn with a fixed seed (the same
case always gives the same figures), scaled like NetworkX's ``betweenness_centrality(k=…)``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import networkx as nx
import numba
import numpy as np
from sqlalchemy import Connection, case, distinct, func, select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.network.graph import CaseGraph, build_graph, cytoscape_elements, split_key

__all__ = [
    "MIN_PIVOTS",
    "WORK",
    "case_country",
    "communities",
    "cytoscape_elements",
    "network_stats",
    "person_betweenness",
]

WORK = 150_000_000
"""Betweenness is exact while sources × adjacency entries of the core graph stay within this
(about 3 s on a 2-core machine); beyond, as many sampled sources as fit in it."""
MIN_PIVOTS = 500
"""The fewest sources a sampled betweenness uses, however large the graph."""
SEED = 20240601
"""The seed of pivot sampling and of Louvain: the same case gives the same figures."""
TOP = 20


def network_stats(case: Case, graph: CaseGraph | None = None, *, top: int = TOP) -> dict[str, Any]:
    """The network's figures, JSON-ready (see the module's docstring for what counts)."""
    graph = graph if graph is not None else build_graph(case)
    g = graph.graph
    members = graph.group_members()
    groups_of: dict[str, list[str]] = defaultdict(list)
    for group, persons in members.items():
        for person in persons:
            groups_of[person].append(group)
    with case.store.engine.connect() as conn:
        groups = _groups(conn, graph)
        posters = _top_posters(conn, g, top)
    by_country = _persons_by_country(graph)
    country = case_country(case, graph)
    betweenness = person_betweenness(graph)
    bridges = sorted(
        ((pid, b) for pid, b in betweenness.items() if b > 0), key=lambda x: (-x[1], x[0])
    )[:top]
    return {
        "graph": {
            "nodes": g.number_of_nodes(),
            "edges": g.number_of_edges(),
            "nodes_by_kind": dict(sorted(Counter(k for _, k in g.nodes(data="kind")).items())),
        },
        "persons": len(graph.nodes_of("person")),
        "persons_by_country": by_country,
        "countries": sum(1 for code in by_country if code != "unknown"),
        "case_country": country,
        "suspects": _suspects(graph, country),
        "groups": groups,
        "group_overlaps": _overlaps(g, members, top),
        "top_posters": posters,
        "administrators": _administrators(graph, groups_of),
        "bridges": [
            {
                **_person(g, f"person:{pid}"),
                "betweenness": round(b, 6),
                "groups": [_title(g, x) for x in sorted(groups_of[f"person:{pid}"], key=_num)],
            }
            for pid, b in bridges
        ],
        "communities": communities(graph, top=top),
        "suspect_links": [
            {
                **link.to_json(),
                "a_key": graph.links.suspects[link.a].key,
                "b_key": graph.links.suspects[link.b].key,
            }
            for link in graph.suspect_links()
        ],
    }


# ------------------------------------------------------------------------ countries
def _persons_by_country(graph: CaseGraph) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for node in graph.nodes_of("person"):
        for code in graph.graph.nodes[node].get("countries") or ["unknown"]:
            counts[code] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def case_country(case: Case, graph: CaseGraph | None = None) -> str | None:
    """The case's country: ``[network] country`` in case.toml, else the most common country of
    the suspects (None when neither says)."""
    section = case.sections.get("network", {})
    configured = section.get("country") if isinstance(section, dict) else None
    if configured is not None:
        if not isinstance(configured, str) or len(configured) != 2 or not configured.isalpha():
            raise UserError(
                f"[network] country in case.toml must be an ISO 3166 two-letter code such as "
                f'"DE", not {configured!r}'
            )
        return configured.upper()
    if graph is not None:
        suspects = graph.links.suspects.values()
    else:
        from lanterne.network.subjects import load_links

        with case.store.engine.connect() as conn:
            suspects = load_links(conn).suspects.values()
    counts = Counter(s.country.upper() for s in suspects if s.country)
    if not counts:
        return None
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _suspects(graph: CaseGraph, country: str | None) -> dict[str, Any]:
    suspects = list(graph.links.suspects.values())
    home = [s for s in suspects if country and (s.country or "").upper() == country]
    regions = Counter(s.region or "unknown" for s in home)
    return {
        "total": len(suspects),
        "in_case_country": len(home),
        "by_region": dict(sorted(regions.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_country": dict(
            sorted(
                Counter((s.country or "unknown").upper() for s in suspects).items(),
                key=lambda kv: (-kv[1], kv[0]),
            )
        ),
    }


# --------------------------------------------------------------------------- groups
def _num(key: str) -> int:
    return int(split_key(key)[1])


def _title(g: nx.Graph, key: str) -> dict[str, Any]:
    return {"id": _num(key), "title": str(g.nodes[key]["label"])}


def _person(g: nx.Graph, key: str) -> dict[str, Any]:
    facts = g.nodes[key]
    return {
        "person": _num(key),
        "label": facts["label"],
        "e164": facts.get("e164"),
        "country": facts.get("country"),
        "suspects": facts.get("suspects", []),
    }


def _groups(conn: Connection, graph: CaseGraph) -> list[dict[str, Any]]:
    msg, at = schema.message, schema.attachment
    g = graph.graph
    messages: dict[int, int] = dict(
        conn.execute(
            select(msg.c.chat_group_id, func.count())
            .where(msg.c.chat_group_id.is_not(None))
            .group_by(msg.c.chat_group_id)
        ).all()
    )
    known = case((at.c.sha256.in_(_known_bad()), 1), else_=0)
    files = {
        gid: (n, int(k or 0))
        for gid, n, k in conn.execute(
            select(msg.c.chat_group_id, func.count(), func.sum(known))
            .select_from(at.join(msg, msg.c.id == at.c.message_id))
            .where(msg.c.chat_group_id.is_not(None))
            .group_by(msg.c.chat_group_id)
        )
    }
    roles: dict[str, Counter[str]] = defaultdict(Counter)
    for _, group, data in graph.edges_of("member"):
        roles[group][str(data["role"])] += 1
    for _, group, data in graph.edges_of("posted"):
        if "member" not in data["kinds"]:
            roles[group]["poster"] += 1
    out = []
    for key in graph.nodes_of("group"):
        gid = _num(key)
        n, k = files.get(gid, (0, 0))
        facts = g.nodes[key]
        out.append(
            {
                "id": gid,
                "key": facts.get("key"),
                "title": facts["label"],
                "members": facts["members"],
                "by_role": dict(sorted(roles[key].items())),
                "messages": int(messages.get(gid, 0)),
                "attachments": n,
                "known_attachments": k,
            }
        )
    out.sort(key=lambda d: (-d["members"], -d["messages"], d["id"]))
    return out


def _overlaps(g: nx.Graph, members: dict[str, dict[str, str]], top: int) -> list[dict[str, Any]]:
    """Pairs of groups sharing persons: how many, and the Jaccard index of their members."""
    shared: Counter[tuple[str, str]] = Counter()
    groups_of: dict[str, list[str]] = defaultdict(list)
    for group in sorted(members, key=_num):
        for person in members[group]:
            groups_of[person].append(group)
    for groups in groups_of.values():
        for i, a in enumerate(groups):
            for b in groups[i + 1 :]:
                shared[(a, b)] += 1
    best = sorted(
        shared.items(),
        key=lambda kv: (
            -kv[1],
            -_jaccard(members, kv[0][0], kv[0][1], kv[1]),
            _num(kv[0][0]),
            _num(kv[0][1]),
        ),
    )
    return [
        {
            "a": _title(g, a),
            "b": _title(g, b),
            "shared": n,
            "jaccard": round(_jaccard(members, a, b, n), 4),
        }
        for (a, b), n in best[:top]
    ]


def _jaccard(members: dict[str, dict[str, str]], a: str, b: str, shared: int) -> float:
    return shared / (len(members[a]) + len(members[b]) - shared)


def _known_bad() -> Any:
    m, hs = schema.match, schema.hashset
    return select(m.c.sha256).join(hs, hs.c.id == m.c.hashset_id).where(hs.c.role == "known-bad")


def _top_posters(conn: Connection, g: nx.Graph, top: int) -> dict[str, Any]:
    """Persons by the distinct known-bad contents they posted: overall, and per category."""
    at, msg, p = schema.attachment, schema.message, schema.participant
    m, e, hs = schema.match, schema.hash_entry, schema.hashset
    posted = (
        at.join(msg, msg.c.id == at.c.message_id)
        .join(p, p.c.id == msg.c.sender_id)
        .join(m, m.c.sha256 == at.c.sha256)
        .join(hs, hs.c.id == m.c.hashset_id)
    )
    overall = conn.execute(
        select(p.c.person_id, func.count(distinct(at.c.sha256)))
        .select_from(posted)
        .where(hs.c.role == "known-bad")
        .group_by(p.c.person_id)
    ).all()
    per_category: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for person, scheme, category, n in conn.execute(
        select(p.c.person_id, hs.c.scheme, e.c.category, func.count(distinct(at.c.sha256)))
        .select_from(posted.join(e, e.c.id == m.c.entry))
        .where(hs.c.role == "known-bad")
        .group_by(p.c.person_id, hs.c.scheme, e.c.category)
    ):
        per_category[(scheme or "?", category or "uncategorised")].append((person, n))

    def ranked(rows: Any) -> list[dict[str, Any]]:
        best = sorted(((int(pid), int(n)) for pid, n in rows), key=lambda x: (-x[1], x[0]))
        return [{**_person(g, f"person:{pid}"), "contents": n} for pid, n in best[:top]]

    return {
        "overall": ranked(overall),
        "by_category": [
            {"scheme": scheme, "category": category, "persons": ranked(rows)}
            for (scheme, category), rows in sorted(per_category.items())
        ],
    }


def _administrators(graph: CaseGraph, groups_of: dict[str, list[str]]) -> list[dict[str, Any]]:
    g = graph.graph
    admin_of: dict[str, list[str]] = defaultdict(list)
    for person, group, data in graph.edges_of("member"):
        if data["role"] == "admin":
            admin_of[person].append(group)
    out = [
        {
            **_person(g, person),
            "groups": [_title(g, x) for x in sorted(groups, key=_num)],
            "member_of": len(groups_of.get(person, [])),
        }
        for person, groups in admin_of.items()
    ]
    out.sort(key=lambda d: (-len(d["groups"]), d["person"]))
    return out


# ---------------------------------------------------------------------- communities
def communities(graph: CaseGraph, *, top: int = 10) -> dict[str, Any]:
    """Louvain communities (NetworkX, fixed seed) of the person–group graph: how many, their
    sizes, and for the largest their groups and best-connected persons.

    A person in one group only always ends in that group's community (moving them anywhere
    else lowers modularity), so such persons are folded into their group as a self-loop of
    that weight before Louvain runs (as Louvain's own aggregation step would fold them): the
    same modularity, on a graph of groups and multi-group persons only (a tenth of the nodes
    of an operation's network)."""
    groups_of: dict[str, list[str]] = defaultdict(list)
    for person, group, _ in graph.memberships():
        groups_of[person].append(group)
    if not groups_of:
        return {"count": 0, "sizes": [], "largest": []}
    folded: dict[str, list[str]] = defaultdict(list)
    w = nx.Graph()
    for person, groups in groups_of.items():
        if len(groups) == 1:
            folded[groups[0]].append(person)
        else:
            w.add_edges_from(((person, group) for group in groups), weight=1)
    for group, persons in folded.items():
        w.add_edge(group, group, weight=len(persons))
    found = nx.community.louvain_communities(w, weight="weight", seed=SEED)
    members = [set(c).union(*(folded.get(n, ()) for n in c)) for c in found]
    ordered = sorted(members, key=lambda c: (-len(c), min(c)))
    g = graph.graph
    size = Counter(group for _, group, _ in graph.memberships())
    largest = []
    for nodes in ordered[:top]:
        groups = sorted(
            (n for n in nodes if n.startswith("group:")), key=lambda n: (-size[n], _num(n))
        )
        persons = sorted(
            (n for n in nodes if n.startswith("person:")),
            key=lambda n: (-len(groups_of[n]), _num(n)),
        )
        largest.append(
            {
                "size": len(nodes),
                "persons": len(persons),
                "groups": [_title(g, n) for n in groups[:5]],
                "group_count": len(groups),
                "top_persons": [_person(g, n)["label"] for n in persons[:5]],
            }
        )
    return {"count": len(ordered), "sizes": [len(c) for c in ordered], "largest": largest}


# --------------------------------------------------------------------- betweenness
def core_graph(graph: CaseGraph) -> nx.Graph:
    """Every group, and the persons in two groups or more, with their person–group edges."""
    memberships = graph.memberships()
    groups = Counter(person for person, _, _ in memberships)
    core = nx.Graph()
    core.add_nodes_from(graph.nodes_of("group"))
    core.add_edges_from((p, group) for p, group, _ in memberships if groups[p] >= 2)
    return core


def person_betweenness(
    graph: CaseGraph, *, pivots: int | None = None, seed: int = SEED
) -> dict[int, float]:
    """Person id → normalised betweenness (0..1) on the core person–group graph, for the
    persons in it (every other person: 0). Exact when the graph is small enough
    (:data:`WORK`), else estimated from ``pivots`` sources (default: as many as :data:`WORK`
    allows) drawn with ``seed``; ``pivots`` forces sampling. Computed once per graph."""
    memo_key = ("person_betweenness", pivots, seed)
    if memo_key not in graph.memo:
        graph.memo[memo_key] = _betweenness(core_graph(graph), pivots, seed)
    return dict(graph.memo[memo_key])


def _betweenness(core: nx.Graph, pivots: int | None, seed: int) -> dict[int, float]:
    nodes = sorted(core, key=lambda k: (k.startswith("person:"), _num(k)))
    n = len(nodes)
    persons = [i for i, k in enumerate(nodes) if k.startswith("person:")]
    if n < 3 or not persons:
        return {_num(nodes[i]): 0.0 for i in persons}
    index = {k: i for i, k in enumerate(nodes)}
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for u, v in core.edges():
        a, b = index[u], index[v]
        neighbours[a].append(b)
        neighbours[b].append(a)
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(x) for x in neighbours])
    indices = np.fromiter((j for x in neighbours for j in x), dtype=np.int64, count=indptr[-1])
    k = pivots
    if k is None and n * max(1, int(indptr[-1])) > WORK:
        k = max(MIN_PIVOTS, WORK // max(1, int(indptr[-1])))
    if k is None or k >= n:
        raw = _brandes(indptr, indices, np.arange(n, dtype=np.int64))
        scale = np.full(n, 1.0 / ((n - 1) * (n - 2)))
    else:
        sources = np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
        raw = _brandes(indptr, indices, sources.astype(np.int64))
        # NetworkX's scaling of a k-source sample (endpoints excluded): a source cannot lie
        # on its own paths, so it is scaled by the k - 1 other sources
        scale = np.full(n, 1.0 / (k * (n - 2)))
        scale[sources] = 1.0 / ((k - 1) * (n - 2)) if k > 1 else 0.0
    values = raw * scale
    return {_num(nodes[i]): float(min(1.0, values[i])) for i in persons}


@numba.njit(cache=True, nogil=True)
def _brandes(indptr: Any, indices: Any, sources: Any) -> Any:  # pragma: no cover - compiled
    """Brandes' accumulation of shortest-path dependencies from each source (unweighted,
    undirected, adjacency in CSR arrays): the raw betweenness over ordered pairs."""
    n = indptr.shape[0] - 1
    bc = np.zeros(n)
    sigma = np.zeros(n)
    delta = np.zeros(n)
    dist = np.full(n, -1, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    for s in sources:
        sigma[s] = 1.0
        dist[s] = 0
        order[0] = s
        head, tail = 0, 1
        while head < tail:
            v = order[head]
            head += 1
            for j in range(indptr[v], indptr[v + 1]):
                w = indices[j]
                if dist[w] < 0:
                    dist[w] = dist[v] + 1
                    order[tail] = w
                    tail += 1
                if dist[w] == dist[v] + 1:
                    sigma[w] += sigma[v]
        for i in range(tail - 1, -1, -1):
            w = order[i]
            for j in range(indptr[w], indptr[w + 1]):
                v = indices[j]
                if dist[v] == dist[w] - 1:
                    delta[v] += sigma[v] / sigma[w] * (1.0 + delta[w])
            if w != s:
                bc[w] += delta[w]
        for i in range(tail):
            w = order[i]
            sigma[w] = 0.0
            delta[w] = 0.0
            dist[w] = -1
    return bc
