"""Benchmark: the case graph, network statistics and priorities of an operation-size network.

Usage::

    python benchmarks/bench_network.py                 # 16,000 participants, 300 groups,
                                                       # 2,000,000 messages, 500 suspects
    python benchmarks/bench_network.py --participants 3000 --groups 60 --messages 200000 \
        --suspects 100 --peer-timeout 60             # a quick try
    python benchmarks/bench_network.py --keep /scratch/net   # populate once, keep the case …
    python benchmarks/bench_network.py --case /scratch/net   # … and measure it again

A SQLite case is populated directly with bulk inserts (``CaseStore.insert_rows``), as the
importers would leave it: persons with E.164 numbers in ``--countries`` countries (skewed),
``--groups`` Signal groups of skewed sizes (a few persons in several groups, admins in each),
``--messages`` messages on one seized phone (heavy-tailed posters, 2 % with a picture drawn from
a pool of which some are known), 49 more suspect phones seeing some groups, ``--suspects``
suspects with identifiers, items (computers, phones, storage, cameras) and files (known, new,
camera pictures with serial and GPS), a known-bad hash set with categories and two watchlists
with hits. Population is timed apart and excluded.

Then, in a child process (its own peak RSS read with ``getrusage``): ``build_graph``,
``network_stats`` and ``rank`` are timed; target < 60 s and < 4 GiB together. The peer, in the
same run: NetworkX's exact ``betweenness_centrality`` on the core person–group graph that
``person_betweenness`` measures (groups and persons in two groups or more) and on the full
person–group graph, each in a child capped at ``--peer-timeout`` seconds; printed beside ours
with the ratio and how many of the top-20 bridges agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import phonenumbers

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.synth.network import COUNTRIES, country_allocation, group_sizes, unique_numbers

NOW = datetime(2025, 6, 1, tzinfo=UTC)
T0 = datetime(2024, 1, 1, tzinfo=UTC)
CHUNK = 50_000
REGIONS = (
    "Baden-Württemberg", "Bayern", "Berlin", "Brandenburg", "Bremen", "Hamburg", "Hessen",
    "Mecklenburg-Vorpommern", "Niedersachsen", "Nordrhein-Westfalen", "Rheinland-Pfalz",
    "Saarland", "Sachsen", "Sachsen-Anhalt", "Schleswig-Holstein", "Thüringen",
)  # fmt: skip
OCCUPATIONS = (
    "electrician", "accountant", "bus driver", "software developer", "chef", "plumber",
    "warehouse worker", "student", "nurse", "retired", "primary school teacher",
    "football coach", "kindergarten teacher",
)  # fmt: skip
DEVICES = (("computer", "Tuxbook", "TB-14"), ("phone", "Fauxphone", "FP-7"),
           ("storage", "Stickware", "SW-64"), ("camera", "Synthcam", "SC-200"))  # fmt: skip


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _located(label: str, evidence_id: int, *steps: tuple[str, str]) -> tuple[int, str, str, str]:
    """(evidence_id, provenance_key, provenance, path) of a place on an item."""
    chain = [{"type": "evidence", "path": label}] + [{"type": k, "path": p} for k, p in steps]
    text = json.dumps(chain, separators=(",", ":"))
    return evidence_id, _sha(text), text, "!/".join(p for _, p in steps)


LOCATED = ("evidence_id", "provenance_key", "provenance", "path")


class Populator:
    """Writes the synthetic operation into the case store, table by table, in bulk."""

    def __init__(self, case: Case, args: argparse.Namespace) -> None:
        self.case, self.store, self.args = case, case.store, args
        self.rng = random.Random(args.seed)
        self.counts: dict[str, int] = {}

    def insert(self, table: Any, columns: Sequence[str], rows: Iterator[Sequence[Any]]) -> None:
        """Rows in chunks (bounded memory), each chunk one transaction."""
        n = 0
        batch: list[Sequence[Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= CHUNK:
                self._write(table, columns, batch)
                n += len(batch)
                batch = []
        self._write(table, columns, batch)
        n += len(batch)
        self.counts[table.name] = self.counts.get(table.name, 0) + n

    def _write(self, table: Any, columns: Sequence[str], rows: list[Sequence[Any]]) -> None:
        if rows:
            with self.store.engine.begin() as conn:
                self.store.insert_rows(conn, table, columns, rows)

    # ---------------------------------------------------------------- the run
    def run(self) -> dict[str, int]:
        self.persons()
        self.groups()
        self.suspects_and_items()
        self.sources()
        self.memberships()
        self.contents()
        self.messages()
        self.files()
        self.watchlists()
        return self.counts

    def persons(self) -> None:
        a = self.args
        regions = list(COUNTRIES[: a.countries])
        numbers = unique_numbers(country_allocation(a.participants, regions, skew=1.1))
        self.e164 = [n for r in regions for n in numbers[r]]
        self.rng.shuffle(self.e164)
        self.country = [
            phonenumbers.region_code_for_number(phonenumbers.parse(n, None)) or ""
            for n in self.e164
        ]
        self.insert(
            schema.person,
            ("id", "name", "reason", "created_at"),
            ((i + 1, f"Person {i + 1:05d}", "[]", NOW) for i in range(a.participants)),
        )
        self.insert(
            schema.identifier,
            ("id", "kind", "value", "country", "calling_code"),
            (
                (i + 1, "e164", n, c, phonenumbers.parse(n, None).country_code)
                for i, (n, c) in enumerate(zip(self.e164, self.country, strict=True))
            ),
        )

    def groups(self) -> None:
        """Group sizes skewed; most persons in one group, some in several (the bridges)."""
        a = self.args
        rng = self.rng
        self.titles = [f"Group {g:03d}" for g in range(a.groups)]
        self.insert(
            schema.chat_group,
            ("id", "app", "key", "title"),
            (
                (g + 1, "signal", f"signal-v2:{_sha(f'group {g}')}", t)
                for g, t in enumerate(self.titles)
            ),
        )
        sizes = group_sizes(a.participants, a.groups, skew=1.0)
        order = list(range(a.participants))
        rng.shuffle(order)
        self.members: list[dict[int, str]] = [{} for _ in range(a.groups)]
        at = 0
        for g, size in enumerate(sizes):
            for p in order[at : at + size]:
                self.members[g][p] = "member"
            at += size
        weights = [1.0 / (g + 1) for g in range(a.groups)]
        extra = int(a.participants * a.multi_group_share)
        for p in rng.sample(range(a.participants), extra):
            for g in rng.choices(range(a.groups), weights, k=rng.randint(1, 4)):
                self.members[g].setdefault(p, "member")
        for g in range(a.groups):
            for p in rng.sample(sorted(self.members[g]), min(len(self.members[g]), 3)):
                self.members[g][p] = "admin"

    def suspects_and_items(self) -> None:
        a = self.args
        rng = self.rng
        self.suspect_person = rng.sample(range(a.participants), int(a.suspects * 0.8))
        rows, items, links = [], [], []
        self.items: list[tuple[int, str, int, str]] = []  # id, label, suspect index, type
        for s in range(a.suspects):
            key = f"S-{s + 1:04d}"
            occupation = rng.choice(OCCUPATIONS)
            born = f"{1960 + s % 40}-0{1 + s % 9}-1{s % 10}"
            region = rng.choice(REGIONS)
            rows.append((s + 1, key, f"Suspect {s + 1:04d}", born, 1960 + s % 40, occupation,
                         region, "DE", "suspects.csv", s + 2, "bench", NOW))  # fmt: skip
            kinds = ["phone"] + rng.sample(["computer", "storage", "storage", "camera"], 2)
            for kind in kinds:
                eid = len(self.items) + 1
                label = f"{kind.upper()}-{eid:05d}"
                self.items.append((eid, label, s, kind))
                dev = next(d for d in DEVICES if d[0] == kind)
                serial = f"SER-{eid:06d}" if kind == "camera" else None
                items.append((eid, label, "folder", f"/seized/{label}", key, 10**9 + eid,
                              "bench", NOW, "done", kind, dev[1], dev[2], serial))  # fmt: skip
            if s < len(self.suspect_person):
                links.append((s + 1, self.suspect_person[s] + 1))
        self.insert(
            schema.suspect,
            ("id", "key", "name", "birth_date", "birth_year", "occupation", "region", "country",
             "source", "line", "imported_by", "imported_at"),
            iter(rows),
        )  # fmt: skip
        self.insert(
            schema.evidence,
            ("id", "label", "kind", "location", "suspect", "size", "registered_by",
             "registered_at", "status", "device_type", "device_make", "device_model",
             "device_serial"),
            iter(items),
        )  # fmt: skip
        self.insert(schema.suspect_identifier, ("suspect_id", "identifier_id"), iter(links))

    def sources(self) -> None:
        """The phone of suspect 1 sees every group (and holds every message); 49 more phones
        each see the groups of their owner."""
        phones = [i for i in self.items if i[3] == "phone"][:50]
        self.sources_: list[tuple[int, int, str, list[int]]] = []  # id, evidence, label, groups
        groups_of: dict[int, list[int]] = {}
        for g, members in enumerate(self.members):
            for p in members:
                groups_of.setdefault(p, []).append(g)
        rows = []
        for n, (eid, label, s, _) in enumerate(phones):
            if n == 0:
                seen = list(range(self.args.groups))
            else:
                person = self.suspect_person[s] if s < len(self.suspect_person) else None
                seen = groups_of.get(person, [0]) if person is not None else [0]
            sid = n + 1
            self.sources_.append((sid, eid, label, seen))
            rows.append((*_located(label, eid, ("file", "signal.db")), "signal-android",
                         "done", "bench", NOW))  # fmt: skip
        self.insert(
            schema.chat_source,
            (*LOCATED, "app", "status", "imported_by", "imported_at"),
            iter(rows),
        )

    def memberships(self) -> None:
        """Participants, their identifiers, groups seen and memberships of every source."""
        participant_rows: list[tuple[Any, ...]] = []
        ident_rows: list[tuple[int, int]] = []
        seen_rows: list[tuple[Any, ...]] = []
        member_rows: list[tuple[Any, ...]] = []
        self.participant: dict[tuple[int, int], int] = {}  # (source, person) -> participant id
        pid = 0
        item_suspect = {eid: s for eid, _, s, _ in self.items}
        for sid, eid, label, seen in self.sources_:
            persons = sorted({p for g in seen for p in self.members[g]})
            s = item_suspect[eid]
            owner = self.suspect_person[s] if s < len(self.suspect_person) else None
            if owner is not None and owner not in persons:
                persons.append(owner)
            for p in persons:
                pid += 1
                self.participant[(sid, p)] = pid
                participant_rows.append((pid, *_located(label, eid, ("file", "signal.db"),
                                         ("signal", f"recipient/{p}")), sid, p + 1,
                                         f"Person {p + 1:05d}", p == owner))  # fmt: skip
                ident_rows.append((pid, p + 1))
            for g in seen:
                where = _located(label, eid, ("file", "signal.db"), ("signal", f"group/{g}"))
                seen_rows.append((*where, sid, g + 1, self.titles[g]))
                for p, role in self.members[g].items():
                    member_rows.append((*_located(label, eid, ("file", "signal.db"),
                                        ("signal", f"group/{g}/member/{p}")), sid, g + 1,
                                        self.participant[(sid, p)], role))  # fmt: skip
        self.insert(
            schema.participant,
            ("id", *LOCATED, "source_id", "person_id", "name", "is_self"),
            iter(participant_rows),
        )
        self.insert(
            schema.participant_identifier, ("participant_id", "identifier_id"), iter(ident_rows)
        )
        self.insert(
            schema.chat_group_seen,
            (*LOCATED, "source_id", "chat_group_id", "title"),
            iter(seen_rows),
        )
        self.insert(
            schema.membership,
            (*LOCATED, "source_id", "chat_group_id", "participant_id", "role"),
            iter(member_rows),
        )

    def contents(self) -> None:
        """Attachment pictures (some known) and the items' files' contents, a known-bad set."""
        a = self.args
        rng = self.rng
        self.attach_pool = [_sha(f"attachment {i}") for i in range(a.attachment_contents)]
        self.known = self.attach_pool[: a.known] + [_sha(f"held known {i}") for i in range(a.known)]
        self.item_pool = [_sha(f"item file {i}") for i in range(a.suspects * a.files_per_suspect)]
        rows: list[tuple[Any, ...]] = []
        for sha in self.attach_pool + self.known[a.known :]:
            rows.append((sha, sha[:32], sha[:40], 150_000, "image/jpeg", "picture", NOW,
                         None, None, None, None, None))  # fmt: skip
        cameras = {eid: f"SER-{eid:06d}" for eid, _, _, kind in self.items if kind == "camera"}
        self.camera_of = list(cameras.items())
        for i, sha in enumerate(self.item_pool):
            if i % 5 == 0:  # a camera picture: serial of a seized camera, GPS near a place
                eid, serial = self.camera_of[i % len(self.camera_of)]
                lat = 48.0 + (eid % 50) * 0.05 + rng.uniform(-0.001, 0.001)
                lon = 11.0 + (eid % 37) * 0.05 + rng.uniform(-0.001, 0.001)
                rows.append((sha, sha[:32], sha[:40], 2_000_000, "image/jpeg", "picture", NOW,
                             "Synthcam", "SC-200", serial, lat, lon))  # fmt: skip
            elif i % 7 == 0:
                rows.append((sha, sha[:32], sha[:40], 30_000_000, "video/mp4", "video", NOW,
                             None, None, None, None, None))  # fmt: skip
            elif i % 3 == 0:
                rows.append((sha, sha[:32], sha[:40], 20_000, "text/plain", "text", NOW,
                             None, None, None, None, None))  # fmt: skip
            else:
                rows.append((sha, sha[:32], sha[:40], 400_000, "image/jpeg", "picture", NOW,
                             None, None, None, None, None))  # fmt: skip
        self.insert(
            schema.content,
            ("sha256", "md5", "sha1", "size", "mime", "kind", "analyzed_at", "camera_make",
             "camera_model", "camera_serial", "gps_lat", "gps_lon"),
            iter(rows),
        )  # fmt: skip
        self.insert(
            schema.hashset,
            ("id", "name", "role", "scheme", "format", "source", "source_sha256", "entries",
             "imported_by", "imported_at"),
            iter([(1, "known-bad", "known-bad", "vics-us", "vics", "known.json", "0" * 64,
                   len(self.known), "bench", NOW)]),
        )  # fmt: skip
        self.insert(
            schema.hash_entry,
            ("id", "hashset_id", "md5", "sha256", "category", "location"),
            ((i + 1, 1, sha[:32], sha, str(1 + i % 3), f"record {i + 1}")
             for i, sha in enumerate(self.known)),
        )  # fmt: skip
        self.insert(
            schema.match,
            ("sha256", "hashset_id", "entry", "method", "distance", "variant", "matched_at"),
            ((sha, 1, i + 1, "md5", 0, "", NOW) for i, sha in enumerate(self.known)),
        )

    def messages(self) -> None:
        """Every message on the first phone; posters heavy-tailed; 2 % carry a picture."""
        a = self.args
        rng = self.rng
        sid, eid, label, _ = self.sources_[0]
        slots: list[tuple[int, int]] = []  # (group, participant) weighted by activity
        weights: list[float] = []
        for g, members in enumerate(self.members):
            for p in members:
                slots.append((g, self.participant[(sid, p)]))
                weights.append(rng.paretovariate(1.2))
        posters = rng.choices(slots, weights, k=a.messages)
        prefix = json.dumps(
            [{"type": "evidence", "path": label}, {"type": "file", "path": "signal.db"}],
            separators=(",", ":"),
        )[:-1]
        attach_weights = [1.0 / (i + 1) ** 0.8 for i in range(len(self.attach_pool))]
        attached: list[tuple[Any, ...]] = []

        def rows() -> Iterator[tuple[Any, ...]]:
            for n, (g, participant) in enumerate(posters):
                text = f'{prefix},{{"type":"signal","path":"message/{n}"}}]'
                when = T0 + timedelta(seconds=n * 7)
                if rng.random() < a.attachment_share:
                    sha = rng.choices(self.attach_pool, attach_weights)[0]
                    attached.append((n + 1, sha))
                yield (n + 1, eid, _sha(text), text, f"signal.db!/message/{n}", sid, g + 1,
                       participant, when, "incoming", "hello")  # fmt: skip

        self.insert(
            schema.message,
            ("id", *LOCATED, "source_id", "chat_group_id", "sender_id", "sent_at", "type", "body"),
            rows(),
        )

        def attachment_rows() -> Iterator[tuple[Any, ...]]:
            for mid, sha in attached:
                text = f'{prefix},{{"type":"signal","path":"message/{mid - 1}/attachment/0"}}]'
                yield (eid, _sha(text), text, f"signal.db!/message/{mid - 1}/attachment/0", sid,
                       mid, sha, "image/jpeg", 150_000, "ingested")  # fmt: skip

        self.insert(
            schema.attachment,
            (*LOCATED, "source_id", "message_id", "sha256", "content_type", "size", "state"),
            attachment_rows(),
        )

    def files(self) -> None:
        """Each suspect's items hold their share of the item contents, some known pictures
        (shared between suspects) and, on cameras and computers, the camera pictures."""
        a = self.args
        rng = self.rng
        per_suspect: dict[int, list[tuple[int, str]]] = {}
        for eid, label, s, _ in self.items:
            per_suspect.setdefault(s, []).append((eid, label))
        held_known = self.known[a.known :]

        def rows() -> Iterator[tuple[Any, ...]]:
            for s in range(a.suspects):
                mine = self.item_pool[s * a.files_per_suspect : (s + 1) * a.files_per_suspect]
                extra = rng.sample(held_known, rng.randint(0, 5)) if rng.random() < 0.3 else []
                for n, sha in enumerate(mine + extra):
                    eid, label = per_suspect[s][n % len(per_suspect[s])]
                    path = f"Users/x/Pictures/{n:05d}.jpg"
                    yield (*_located(label, eid, ("folder", path)), f"{n:05d}.jpg", 400_000,
                           sha, "done")  # fmt: skip

        self.insert(
            schema.file,
            (*LOCATED, "name", "size", "sha256", "state"),
            rows(),
        )

    def watchlists(self) -> None:
        """An offence-history file and a register extract; suspects on record in each."""
        a = self.args
        rng = self.rng
        self.insert(
            schema.watchlist,
            ("id", "name", "source", "source_sha256", "entries", "imported_by", "imported_at"),
            iter([(1, "offence-history", "oh.csv", "1" * 64, 1000, "bench", NOW),
                  (2, "register", "reg.csv", "2" * 64, 300, "bench", NOW)]),
        )  # fmt: skip
        entries = [(i + 1, 1 if i < 1000 else 2, f"R-{i:05d}", f"Record {i}", None, "{}", i + 2)
                   for i in range(1300)]  # fmt: skip
        self.insert(
            schema.watchlist_entry,
            ("id", "watchlist_id", "key", "name", "birth_date", "record", "line"),
            iter(entries),
        )
        on_record = rng.sample(range(a.suspects), max(1, a.suspects * 36 // 95))
        register = on_record[: max(1, a.suspects * 7 // 95)]
        hits = [(i + 1, "suspect", s + 1, "name+birth_date", f"Suspect {s + 1:04d}", NOW)
                for i, s in enumerate(on_record)]  # fmt: skip
        hits += [(1001 + i, "suspect", s + 1, "name+birth_date", f"Suspect {s + 1:04d}", NOW)
                 for i, s in enumerate(register)]  # fmt: skip
        self.insert(
            schema.watchlist_hit,
            ("entry_id", "subject", "subject_id", "field", "value", "matched_at"),
            iter(hits),
        )


# ---------------------------------------------------------------- children


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def analyse(case_dir: Path) -> dict[str, Any]:
    """The measured steps (run in a child process)."""
    from lanterne.network.graph import build_graph
    from lanterne.network.priorities import rank
    from lanterne.network.stats import network_stats, person_betweenness

    case = Case.open(case_dir)
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(step: str, run: Any) -> Any:
        wall, used = time.perf_counter(), time.process_time()
        result = run()
        times[step] = time.perf_counter() - wall
        cpu[step] = time.process_time() - used
        return result

    graph = timed("build_graph", lambda: build_graph(case))
    stats = timed("network_stats", lambda: network_stats(case, graph))
    ranked = timed("rank", lambda: rank(case, graph=graph))
    peak = _peak()
    fresh = build_graph(case)  # betweenness alone, on a graph that has not memoised it
    t = time.perf_counter()
    scores = person_betweenness(fresh)
    between = time.perf_counter() - t
    top = sorted(scores, key=lambda p: (-scores[p], p))[:20]
    case.close()
    return {
        "times": times,
        "cpu": cpu,
        "peak": peak,
        "betweenness": between,
        "top20": top,
        "nodes": graph.graph.number_of_nodes(),
        "edges": graph.graph.number_of_edges(),
        "ranked": len(ranked),
        "bridges": len(stats["bridges"]),
        "suspect_links": len(stats["suspect_links"]),
    }


def peer(case_dir: Path, which: str) -> dict[str, Any]:
    """NetworkX exact betweenness on the core or the full person–group graph (a child)."""
    import networkx as nx

    from lanterne.network.graph import build_graph
    from lanterne.network.stats import core_graph

    case = Case.open(case_dir)
    graph = build_graph(case)
    g = core_graph(graph) if which == "core" else graph.person_group_graph()
    case.close()
    print("ready", flush=True)  # the parent's time cap starts now
    t = time.perf_counter()
    scores = nx.betweenness_centrality(g, normalized=True)
    wall = time.perf_counter() - t
    persons = {int(k.split(":")[1]): v for k, v in scores.items() if k.startswith("person:")}
    top = sorted(persons, key=lambda p: (-persons[p], p))[:20]
    return {
        "seconds": wall,
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "top20": top,
        "scores": {str(p): persons[p] for p in top},
    }


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, stdout=subprocess.PIPE, text=True
    )
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def measure(case_dir: Path, args: argparse.Namespace) -> None:
    """Our steps in one child, then the peers, each in its own; prints the table."""
    load = os.getloadavg()[0]
    ours = _child(["--analyse", str(case_dir)])
    total = sum(ours["times"].values())
    print(
        f"graph: {ours['nodes']:,} nodes, {ours['edges']:,} edges; {ours['ranked']:,} "
        f"subjects ranked, {ours['suspect_links']:,} suspect links"
    )
    print(f"{'step':<34} {'wall s':>9} {'CPU s':>9}")
    for step, secs in ours["times"].items():
        print(f"{step:<34} {secs:9.1f} {ours['cpu'][step]:9.1f}")
    peak = ours["peak"] / 2**30
    met = "met" if total < 60 and peak < 4 else "MISSED"
    print(f"{'total':<34} {total:9.1f} {sum(ours['cpu'].values()):9.1f}   peak RSS {peak:.2f} GiB "
          f"(target < 60 s and < 4 GiB: {met})")  # fmt: skip
    print(f"(load average before: {load:.1f} on {os.cpu_count()} cores: CPU seconds are about what "
          "the wall clock shows on an idle machine)")  # fmt: skip
    print(f"{'person_betweenness (in stats)':<34} {ours['betweenness']:9.2f}")
    if args.no_peer:
        return
    for which, title in (("core", "core person–group graph"),
                         ("full", "full person–group graph")):  # fmt: skip
        found = _peer_child(case_dir, which, args.peer_timeout)
        name = f"networkx exact, {title}"
        if found is None:
            print(f"{name}: did not finish in {args.peer_timeout:.0f} s "
                  f"(> {args.peer_timeout / ours['betweenness']:.0f}x ours)")  # fmt: skip
            continue
        agree = len(set(found["top20"]) & set(ours["top20"]))
        print(f"{name} ({found['nodes']:,} nodes, {found['edges']:,} edges): "
              f"{found['seconds']:.1f} s, {found['seconds'] / ours['betweenness']:.1f}x "
              f"ours; top-20 bridges agreeing: {agree}/20")  # fmt: skip


def _peer_child(case_dir: Path, which: str, timeout: float) -> dict[str, Any] | None:
    """The peer in a child, its betweenness capped at ``timeout`` seconds (None: killed)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--peer", str(case_dir), "--peer-graph", which],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready": the graph is built
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--participants", type=int, default=16_000)
    ap.add_argument("--countries", type=int, default=130)
    ap.add_argument("--groups", type=int, default=300)
    ap.add_argument("--messages", type=int, default=2_000_000)
    ap.add_argument("--suspects", type=int, default=500)
    ap.add_argument("--files-per-suspect", type=int, default=200)
    ap.add_argument("--attachment-share", type=float, default=0.02)
    ap.add_argument("--attachment-contents", type=int, default=12_000)
    ap.add_argument("--known", type=int, default=1_500)
    ap.add_argument("--multi-group-share", type=float, default=0.12,
                    help="share of persons also in 1-4 other groups")  # fmt: skip
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--peer-timeout", type=float, default=300.0)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: tmp)")
    ap.add_argument("--keep", type=Path, help="populate the case in this new folder and keep it")
    ap.add_argument("--case", type=Path, help="measure a case populated earlier with --keep")
    ap.add_argument("--analyse", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--peer", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--peer-graph", default="core", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.analyse:
        print(json.dumps(analyse(args.analyse)))
        return 0
    if args.peer:
        print(json.dumps(peer(args.peer, args.peer_graph)))
        return 0
    if args.countries > len(COUNTRIES):
        ap.error(f"--countries: at most {len(COUNTRIES)}")

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        case_dir = args.case or args.keep or Path(tmp) / "case"
        if args.case is None:
            t = time.perf_counter()
            case = Case.init(case_dir, "Network benchmark")
            counts = Populator(case, args).run()
            case.close()
            db_size = (case_dir / "case.db").stat().st_size
            print(
                f"populated in {time.perf_counter() - t:.0f} s (excluded): "
                + ", ".join(f"{k} {v:,}" for k, v in counts.items())
                + f"; case database {db_size / 1e9:.2f} GB",
                flush=True,
            )
        measure(case_dir, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
