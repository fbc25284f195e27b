"""Who to act on first: a transparent, configurable score for suspects and chat persons.

Every suspect is ranked, and every chat person who is not (yet) linked to a suspect. A
suspect's score counts what their seized items hold and what the chat persons that are them
(:func:`lanterne.network.subjects.load_links`) did in chats. The score is a plain sum of
**factors**; each factor says what was counted, the weight applied, the points it gave and
the evidence behind it (item and file path with its provenance chain, group and message,
watchlist record and field), so a rank can be explained to a prosecutor line by line.

Counted facts use ``points = weight × log2(1 + count)``: the first pieces of evidence weigh
most, a thousand more do not drown every other factor, and the numbers stay checkable by hand
(1 → 1 × weight, 3 → 2 ×, 7 → 3 ×). Roles use flat weights (per group, per watchlist, per GPS
cluster, capped). The weights live in ``[priorities]`` of ``case.toml``; ``docs/priorities.md``
documents every key and the defaults below.

Everything is aggregated in SQL (GROUP BY per person, item and content): the facts of a case
of 16,000 persons and 2,000,000 messages are a few tens of thousands of rows. Evidence details
(paths, provenance, message locations) are read only for the subjects returned.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.network.geo import gps_clusters
from lanterne.network.priority_config import (
    DEFAULT_CATEGORY_WEIGHTS,
    DEFAULT_CHILD_ACCESS,
    PriorityConfig,
    child_access_category,
    child_access_match,
)
from lanterne.network.priority_facts import (
    KnownCategory,
    SubjectFacts,
    describe_persons,
    devices,
    item_facts,
    known_categories,
    person_facts,
    resolve_evidence,
    watchlist_hits,
)
from lanterne.network.subjects import SuspectLinks, load_links

if TYPE_CHECKING:
    from lanterne.network.graph import CaseGraph

__all__ = [
    "DEFAULT_CATEGORY_WEIGHTS",
    "DEFAULT_CHILD_ACCESS",
    "EVIDENCE_SHOWN",
    "Factor",
    "PriorityConfig",
    "Ranked",
    "child_access_category",
    "child_access_match",
    "rank",
]

EVIDENCE_SHOWN = 10
"""Evidence entries kept per factor (the factor's value counts them all)."""


# ------------------------------------------------------------------ results
@dataclass(slots=True)
class Factor:
    """One reason for a score: ``points`` = what ``weight`` makes of ``value``."""

    name: str
    value: float
    weight: float
    points: float
    explanation: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    detail: str | None = None
    """What this row of the factor is about when a factor has several (a category, a
    watchlist)."""
    evidence_total: int = 0
    """How many pieces of evidence there are; ``evidence`` shows the first few."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "detail": self.detail,
            "value": self.value,
            "weight": self.weight,
            "points": round(self.points, 3),
            "explanation": self.explanation,
            "evidence_total": self.evidence_total,
            "evidence": self.evidence,
        }


@dataclass(slots=True)
class Ranked:
    """A ranked suspect or chat person, with the factors of their score."""

    rank: int
    kind: str
    """``suspect`` or ``person``."""
    id: int
    display: str
    country: str | None
    region: str | None
    score: float
    factors: list[Factor]
    persons: dict[int, list[str]] = field(default_factory=dict)
    """For a suspect: the chat persons that are them, with the reasons."""
    items: list[str] = field(default_factory=list)
    """For a suspect: the labels of the items seized from them."""

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "kind": self.kind,
            "id": self.id,
            "display": self.display,
            "country": self.country,
            "region": self.region,
            "score": round(self.score, 3),
            "persons": [{"person": p, "reasons": r} for p, r in self.persons.items()],
            "items": self.items,
            "factors": [f.to_json() for f in self.factors],
        }


# ------------------------------------------------------------------ factors
def _many(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _log_factor(
    name: str,
    n: int,
    weight: float,
    what: str,
    evidence: list[dict[str, Any]],
    detail: str | None = None,
) -> Factor:
    points = weight * math.log2(1 + n)
    return Factor(
        name,
        n,
        weight,
        points,
        f"{what}: {weight:g} × log2(1 + {n}) = {points:.1f}",
        evidence[:EVIDENCE_SHOWN],
        detail,
        len(evidence),
    )


def _flat_factor(
    name: str,
    n: int,
    weight: float,
    cap: int,
    what: str,
    evidence: list[dict[str, Any]],
    detail: str | None = None,
) -> Factor:
    counted = min(n, cap)
    points = weight * counted
    capped = f" (at most {cap} counted)" if n > cap else ""
    return Factor(
        name,
        n,
        weight,
        points,
        f"{what}: {weight:g} × {counted}{capped} = {points:.1f}",
        evidence[:EVIDENCE_SHOWN],
        detail,
        len(evidence),
    )


def _category_factors(
    name: str,
    found: Mapping[str, int],
    known: Mapping[str, KnownCategory],
    scale: float,
    what: str,
    ref: str,
) -> list[Factor]:
    """One factor per category of the known contents in ``found`` (sha256 → first row id)."""
    by_label: dict[str, list[str]] = {}
    for sha in sorted(found):
        if sha in known:
            by_label.setdefault(known[sha].label, []).append(sha)
    out = []
    for label, shas in by_label.items():
        k = known[shas[0]]
        typ = "file" if ref == "_file" else "message"
        evidence = [{"type": typ, "sha256": s, "category": label, ref: found[s]} for s in shas]
        scheme = f" ({k.scheme})" if k.scheme else ""
        counted = _many(len(shas), "distinct known-bad content")
        text = f"{counted} of category {label}{scheme} {what}"
        out.append(_log_factor(name, len(shas), scale * k.weight, text, evidence, label))
    return out


def _norm(text: str | None) -> str:
    return " ".join(text.split()).casefold() if text else ""


@lru_cache(maxsize=4096)
def _camera(make: str | None, model: str | None, serial: str | None) -> tuple[str, str, str]:
    """Camera facts as compared: make without case; model without case and without its
    make's name in front (EXIF often repeats it); serial without case and spaces."""
    mk, m = _norm(make), _norm(model)
    if mk and m.startswith(mk + " "):
        m = m[len(mk) :].strip()
    return mk, m, "".join(_norm(serial).split())


def _same_model(pic: tuple[str, str, str], device: tuple[str, str, str]) -> bool:
    """Same make (when both say) and model, and not two different cameras (both serials known
    and, since the serial did not match, different)."""
    if not pic[1] or pic[1] != device[1]:
        return False
    if pic[0] and device[0] and pic[0] != device[0]:
        return False
    return not (pic[2] and device[2])


def _production_factors(
    facts: SubjectFacts, devices: list[dict[str, Any]], config: PriorityConfig
) -> list[Factor]:
    """New pictures taken with a seized device (by serial, else by make and model), and GPS
    clusters of new pictures."""
    pictures = {sha: n for sha, n in sorted(facts.new.items()) if n.kind == "picture"}
    cameras = [_camera(d["make"], d["model"], d["serial"]) for d in devices]
    serials = {cam[2]: d for cam, d in zip(cameras, devices, strict=True) if cam[2]}
    by_serial: dict[str, list[str]] = {}
    by_model: dict[int, list[str]] = {}
    for sha, pic in pictures.items() if devices else ():
        if not (pic.serial or pic.model):
            continue
        cam = _camera(pic.make, pic.model, pic.serial)
        if cam[2] in serials:
            by_serial.setdefault(cam[2], []).append(sha)
            continue
        for i, device in enumerate(cameras):
            if _same_model(cam, device):
                by_model.setdefault(i, []).append(sha)
                break
    out: list[Factor] = []

    def pics(groups: Iterable[list[str]]) -> list[dict[str, Any]]:
        shas = sorted(s for group in groups for s in group)
        return [{"type": "file", "sha256": s, "_file": pictures[s].file_id} for s in shas]

    if by_serial:
        found = [serials[s] for s in sorted(by_serial)]
        labels = ", ".join(f"{d['evidence']} (serial {d['serial']})" for d in found)
        n = sum(len(g) for g in by_serial.values())
        text = f"{_many(n, 'new picture')} with the serial number of a device seized from them: "
        text += labels
        evidence = found + pics(by_serial.values())
        out.append(_log_factor("production_serial", n, config.production_serial, text, evidence))
    if by_model:
        found = [devices[i] for i in sorted(by_model)]
        names = ", ".join(f"{d['evidence']} ({d['make'] or ''} {d['model']})" for d in found)
        n = sum(len(g) for g in by_model.values())
        text = f"{_many(n, 'new picture')} taken with the make and model of a device seized from "
        text += "them: "
        evidence = found + pics(by_model.values())
        out.append(
            _log_factor("production_model", n, config.production_model, text + names, evidence)
        )
    clusters = gps_clusters(
        ((sha, p.lat, p.lon) for sha, p in pictures.items()),
        radius_m=config.gps_cluster_radius_m,
        min_size=config.gps_cluster_min,
    )
    if clusters:
        evidence = [
            {
                "type": "gps_cluster",
                "centre": [round(c.lat, 6), round(c.lon, 6)],
                "radius_m": config.gps_cluster_radius_m,
                "pictures": len(c.members),
                "sha256": list(c.members[:EVIDENCE_SHOWN]),
                "centre_sha256": c.centre,
                "_file": pictures[c.centre].file_id,
            }
            for c in clusters
        ]
        text = (
            f"{_many(len(clusters), 'place')} where at least {config.gps_cluster_min} new "
            f"pictures were taken within {config.gps_cluster_radius_m:g} m of a centre picture"
        )
        out.append(
            _flat_factor(
                "gps_cluster",
                len(clusters),
                config.gps_cluster,
                config.gps_cluster_max,
                text,
                evidence,
            )
        )
    return out


def _new_factors(facts: SubjectFacts, config: PriorityConfig) -> list[Factor]:
    out = []
    for kind, weight in (("picture", config.new_picture), ("video", config.new_video)):
        shas = sorted(s for s, n in facts.new.items() if n.kind == kind)
        if shas:
            evidence = [{"type": "file", "sha256": s, "_file": facts.new[s].file_id} for s in shas]
            text = f"{_many(len(shas), 'new ' + kind)} (in no known-bad or known-good set)"
            text += " on their items"
            out.append(_log_factor(f"new_{kind}s", len(shas), weight, text, evidence))
    return out


def _chat_factors(
    facts: SubjectFacts,
    known: Mapping[str, KnownCategory],
    config: PriorityConfig,
    top_bridge: float,
) -> list[Factor]:
    out = _category_factors(
        "known_posted", facts.posted, known, config.known_posted, "posted in chats", "_message"
    )
    if facts.posts:
        groups = sorted(facts.posts.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
        n = sum(count for count, _ in facts.posts.values())
        evidence = [
            {"type": "posts", "_group": g, "messages": count, "_first_message": first}
            for g, (count, first) in groups
        ]
        in_groups = sum(1 for g in facts.posts if g is not None)
        direct = " and direct chats" if None in facts.posts else ""
        text = (
            f"{_many(n, 'message')} with attachments posted in {_many(in_groups, 'group')}{direct}"
        )
        out.append(_log_factor("posts", n, config.posts, text, evidence))
    if facts.admin:
        evidence = [
            {"type": "membership", "role": "admin", "_group": g, "_membership": m}
            for g, m in sorted(facts.admin.items())
        ]
        text = f"administrator of {_many(len(facts.admin), 'group')}"
        out.append(
            _flat_factor(
                "admin", len(facts.admin), config.admin, config.admin_max_groups, text, evidence
            )
        )
    if facts.bridging and top_bridge > 0:
        b, person = facts.bridging
        points = config.bridging * b / top_bridge
        text = (
            f"betweenness {b:.4f} between the groups they are in (the case's highest: "
            f"{top_bridge:.4f}): {config.bridging:g} × {b:.4f} / {top_bridge:.4f} = {points:.1f}"
        )
        evidence = [{"type": "groups", "person": person, "_groups_of": person}]
        out.append(
            Factor("bridging", round(b, 6), config.bridging, points, text, evidence, None, 1)
        )
    return out


def _watchlist_factors(hits: list[dict[str, Any]], config: PriorityConfig) -> list[Factor]:
    """Per watchlist, a flat weight: ``watchlist`` for a match by identifier or name and birth
    date, ``watchlist_weak`` when the only matches are by name and birth year."""
    by_list: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[Any, ...]] = set()
    for hit in hits:
        key = (hit["watchlist"], hit["record"], hit["field"], hit["value"])
        if key not in seen:
            seen.add(key)
            by_list.setdefault(hit["watchlist"], []).append(hit)
    out = []
    for name in sorted(by_list):
        found = by_list[name]
        strong = any(h["field"] != "name+birth_year" for h in found)
        how = "; ".join(f"{h['field']} {h['value']} (line {h['line']})" for h in found[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        factor = "watchlist" if strong else "watchlist_weak"
        weight = config.watchlist if strong else config.watchlist_weak
        weak = "" if strong else " by name and birth year only"
        text = f"on record in watchlist {name!r}{weak}: {how}{more}: {weight:g} points"
        out.append(
            Factor(
                factor, len(found), weight, weight, text, found[:EVIDENCE_SHOWN], name, len(found)
            )
        )
    return out


def _child_access_factor(
    occupation: str | None, config: PriorityConfig, source: tuple[str, int]
) -> list[Factor]:
    found = child_access_match(occupation, config)
    if found is None:
        return []
    category, keyword = found
    text = (
        f"occupation {occupation!r} gives access to children ({category}: "
        f"{keyword!r}): {config.child_access:g} points"
    )
    evidence = [
        {
            "type": "suspect_record",
            "source": source[0],
            "line": source[1],
            "occupation": occupation,
            "category": category,
            "keyword": keyword,
        }
    ]
    return [
        Factor(
            "child_access", 1, config.child_access, config.child_access, text, evidence, category, 1
        )
    ]


# ------------------------------------------------------------------ ranking
def rank(
    case: Case,
    *,
    graph: CaseGraph | None = None,
    limit: int | None = None,
    suspects_only: bool = False,
) -> list[Ranked]:
    """Every suspect and every chat person not linked to a suspect, by score (highest first;
    ties: suspects first, then by id). Bridging counts only when ``graph`` is given."""
    config = PriorityConfig.from_case(case)
    with case.store.engine.connect() as conn:
        links = load_links(conn)
        known = known_categories(conn, config)
        persons = person_facts(conn, graph)
        suspect_hits: dict[int, list[dict[str, Any]]] = {}
        for hit in watchlist_hits(conn):
            if hit["subject"] == "person":
                persons.setdefault(hit["subject_id"], SubjectFacts()).hits.append(hit)
            else:
                suspect_hits.setdefault(hit["subject_id"], []).append(hit)
        top_bridge = max((f.bridging[0] for f in persons.values() if f.bridging), default=0.0)
        ranked = _rank_suspects(conn, links, known, persons, suspect_hits, config, top_bridge)
        if not suspects_only:
            linked = links.suspects_of_person()
            for pid in conn.execute(select(schema.person.c.id)).scalars():
                if pid in linked:
                    continue
                facts = persons.get(pid)
                factors = (
                    _chat_factors(facts, known, config, top_bridge)
                    + _watchlist_factors(facts.hits, config)
                    if facts
                    else []
                )
                ranked.append(_ranked("person", pid, factors, f"person {pid}", None, None))
        ranked.sort(key=lambda r: (-r.score, r.kind != "suspect", r.id))
        if limit is not None:
            ranked = ranked[: max(limit, 0)]
        for n, r in enumerate(ranked, 1):
            r.rank = n
        shown = describe_persons(conn, [r.id for r in ranked if r.kind == "person"])
        for r in ranked:
            if r.kind == "person":
                r.display, r.country = shown[r.id]
        resolve_evidence(conn, [d for r in ranked for f in r.factors for d in f.evidence])
    return ranked


def _rank_suspects(
    conn: Connection,
    links: SuspectLinks,
    known: Mapping[str, KnownCategory],
    persons: Mapping[int, SubjectFacts],
    hits: Mapping[int, list[dict[str, Any]]],
    config: PriorityConfig,
    top_bridge: float,
) -> list[Ranked]:
    items = sorted({e for evidence in links.evidence.values() for e in evidence})
    on_items = item_facts(conn, items)
    seized_devices = devices(conn, items)
    s = schema.suspect
    sources = {r.id: (r.source, r.line) for r in conn.execute(select(s.c.id, s.c.source, s.c.line))}
    out = []
    for sid, suspect in links.suspects.items():
        facts = SubjectFacts(hits=list(hits.get(sid, [])))
        for eid in sorted(links.evidence[sid]):
            item = on_items.get(eid)
            if item is None:
                continue
            for sha, fid in item.held.items():
                facts.held[sha] = min(fid, facts.held.get(sha, fid))
            for sha, new in item.new.items():
                if sha not in facts.new or new.file_id < facts.new[sha].file_id:
                    facts.new[sha] = new
        for pid in sorted(links.persons[sid]):
            if pid in persons:
                facts.absorb(persons[pid])
        seized = [seized_devices[e] for e in sorted(links.evidence[sid]) if e in seized_devices]
        factors = (
            _category_factors(
                "known_held", facts.held, known, config.known_held, "on their seized items", "_file"
            )
            + _new_factors(facts, config)
            + _production_factors(facts, seized, config)
            + _chat_factors(facts, known, config, top_bridge)
            + _watchlist_factors(facts.hits, config)
            + _child_access_factor(suspect.occupation, config, sources[sid])
        )
        r = _ranked("suspect", sid, factors, suspect.display, suspect.country, suspect.region)
        r.persons = {p: list(reasons) for p, reasons in sorted(links.persons[sid].items())}
        r.items = sorted(links.evidence[sid].values())
        out.append(r)
    return out


def _ranked(
    kind: str,
    subject: int,
    factors: list[Factor],
    display: str,
    country: str | None,
    region: str | None,
) -> Ranked:
    kept = [f for f in factors if f.points > 0]
    kept.sort(key=lambda f: (-f.points, f.name, f.detail or ""))
    score = math.fsum(f.points for f in kept)
    return Ranked(0, kind, subject, display, country, region, score, kept)
