"""Video matching by vPDQ frame hashes, and near-duplicate groups of the case's videos.

**Case videos against listed videos** (method ``vpdq``) follows the match rule of Meta's
reference (ThreatExchange ``python-threatexchange/threatexchange/extensions/vpdq``:
``vpdq_brute_matcher.py``, ``vpdq_index.py``, ``vpdq_util.py``; ``vpdq/cpp/.../matchTwoHash.cpp``):

* frames below ``pdq_min_quality`` are dropped on both sides (``quality_filter``: kept when
  ``quality >= tolerance``), and a video's frames with the very same hash count once
  (``dedupe``);
* a frame *has a partner* in the other video when some frame there is within
  ``pdq_max_distance`` bits (``<=``, as the Python reference; the C++ ``matchTwoHash`` uses
  ``<``);
* the **query share** is the percentage of the case video's (distinct, quality) frames that
  have a partner in the listed video, the **target share** the percentage of the listed video's
  frames with a partner in the case video;
* it is a match when the query share ``>= vpdq_query_share`` (80) and the target share
  ``>= vpdq_target_share`` (0: a clip of a listed video matches), and at least one frame
  matched.

The match records both shares, ``distance`` (the median — the lower one for an even count —
over the case video's matched frames of their closest partner's distance) and ``segments``.

**Case videos against listed pictures** (method ``pdq-frame``): every quality frame of the case
videos is searched among the PDQ entries of every set (quality-gated as for pictures); a
picture within ``pdq_max_distance`` of a frame matches the video, with the best distance,
``query_share`` the percentage of the video's frames that show it and ``target_share`` 100 (a
picture is a one-frame listed video).

**Segments** are the case video's time ranges that matched, JSON ``[[start, end], …]`` in
seconds: a ``video_frame`` row stands from its ``timestamp`` to its ``until``; consecutive
matched frames (in frame order, low-quality frames between two matched ones bridged: they
cannot be judged) make one range.

**Speed.** Listed frames (or pictures) go into a :class:`PdqIndex` (an exact range search); the
case's frame hashes are searched once each, however many videos share them, and everything
after the search is numpy over the pairs found. For ``vpdq`` the search is pruned, exactly: a
video of ``n`` frames needing ``k`` matched frames must have one among any ``n - k + 1`` of
them, so those are searched first and only the videos with a hit there are searched in full.

**Groups.** Two videos are linked when *each* has more than :data:`GROUP_SHARE` percent of its
(distinct, quality) frames within ``pdq_max_distance`` of a frame of the other: re-encodes,
resizes, crops, logos, greyscale keep their frames close and join; a trim joins while it keeps
more than half of the longer video; a compilation does not merge two unrelated videos it
contains (more than half of it cannot be both). A group is a connected component; its
representative has the most frames hashed, then the longest duration, then the smallest SHA-256.
Video groups live in ``pdq_group`` beside the picture groups, each replaced on its own.

Incremental matching is :func:`lanterne.hashsets.matching.match_exact`'s: it calls
:func:`match_video_sets` for the videos analysed since each set's ``matched_until``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.config import Limits
from lanterne.hashsets.entries import pdq_entries
from lanterne.match.pdq_index import PdqIndex, hex_to_bits

__all__ = [
    "GROUP_SHARE",
    "METHOD_FRAME",
    "METHOD_VIDEO",
    "VideoGroupsResult",
    "build_video_groups",
    "match_video_sets",
    "match_videos",
    "merge_segments",
]

METHOD_VIDEO = "vpdq"
METHOD_FRAME = "pdq-frame"
GROUP_SHARE = 50.0
"""Two videos are near-duplicates when each has more than this percentage of its frames near
a frame of the other."""
_BATCH = 5000
I64 = NDArray[np.int64]


# --- frames as arrays ------------------------------------------------------------------------


@dataclass(slots=True)
class _Hashes:
    """Frames of several owners (videos, entries) with their distinct hashes numbered.

    ``owner_count`` owners; ``bits`` the distinct hashes; ``member_owner``/``member_hash`` each
    (owner, hash) once, sorted by owner then hash; ``per_owner`` how many distinct hashes each
    owner has; ``by_hash_*`` the owners of each hash (CSR)."""

    owner_count: int
    bits: NDArray[np.uint64]
    member_owner: I64
    member_hash: I64
    per_owner: I64
    by_hash_start: I64
    by_hash_count: I64
    by_hash_owner: I64

    @classmethod
    def build(
        cls, owner_count: int, owners: Sequence[int] | I64, hexes: Sequence[str]
    ) -> tuple[_Hashes, I64]:
        """The hashes, and the number of each of ``hexes`` (owned by ``owners``)."""
        codes: dict[str, int] = {}
        hashes = np.array([codes.setdefault(h, len(codes)) for h in hexes], dtype=np.int64)
        bits = hex_to_bits(list(codes)) if codes else np.zeros((0, 4), dtype=np.uint64)
        nh = len(codes)
        owner = np.asarray(owners, dtype=np.int64)
        key = _distinct(owner * max(nh, 1) + hashes)
        member_owner, member_hash = key // max(nh, 1), key % max(nh, 1)
        per_owner = np.bincount(member_owner, minlength=owner_count).astype(np.int64)
        start, count, members = _csr(member_hash, member_owner, nh)
        found = cls(owner_count, bits, member_owner, member_hash, per_owner, start, count, members)
        return found, hashes

    def owners_of(self, hashes: I64) -> tuple[I64, I64]:
        """(index into ``hashes``, owner) for every owner of each hash."""
        return _expand(hashes, self.by_hash_start, self.by_hash_count, self.by_hash_owner)

    def sample(self, size: I64) -> I64:
        """The first ``size[o]`` distinct hashes of each owner ``o``, together (distinct)."""
        starts = np.cumsum(self.per_owner) - self.per_owner
        rank = np.arange(len(self.member_owner)) - starts[self.member_owner]
        return _distinct(self.member_hash[rank < size[self.member_owner]])

    def hashes_of(self, owners: NDArray[np.bool_]) -> I64:
        """The distinct hashes of the owners flagged."""
        return _distinct(self.member_hash[owners[self.member_owner]])


def _distinct(a: I64) -> I64:
    """The distinct values of ``a``, sorted (a plain sort: numpy's ``unique`` hashes, slower
    on millions of values)."""
    return _runs(np.sort(a))[0]


def _runs(ordered: I64) -> tuple[I64, I64, I64]:
    """Distinct values of a sorted array, where each run starts and how long it is."""
    if not len(ordered):
        empty = np.zeros(0, dtype=np.int64)
        return ordered, empty, empty
    start = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    count = np.diff(np.append(start, len(ordered)))
    return ordered[start], start.astype(np.int64), count.astype(np.int64)


def _counts(a: I64) -> tuple[I64, I64]:
    """Distinct values of ``a`` (sorted) and how often each occurs."""
    keys, _, count = _runs(np.sort(a))
    return keys, count


def _csr(item: I64, owner: I64, n_items: int) -> tuple[I64, I64, I64]:
    """For each item 0 … n_items - 1: where its owners start, how many, and the owners."""
    order = np.argsort(item, kind="stable")
    count = np.bincount(item, minlength=n_items).astype(np.int64)
    return np.cumsum(count) - count, count, owner[order]


def _expand(keys: I64, start: I64, count: I64, members: I64) -> tuple[I64, I64]:
    """Each ``keys[i]``'s members: (i, member) pairs."""
    reps = count[keys]
    total = int(reps.sum())
    src = np.repeat(np.arange(len(keys), dtype=np.int64), reps)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps)
    return src, members[start[keys][src] + offsets]


def _need(n: I64, share: float, strict: bool) -> I64:
    """The fewest matched of ``n`` frames reaching ``share`` percent (``count * 100 / n``
    ``>=`` share, ``>`` when strict), at least 1; ``n + 1`` when none does."""
    safe = np.maximum(n, 1).astype(np.float64)
    k = np.maximum(np.floor(share * safe / 100.0).astype(np.int64) - 1, 1)
    for _ in range(4):
        pct = k * 100.0 / safe
        short = (pct <= share) if strict else (pct < share)
        if not short.any():
            break
        k = np.where(short, k + 1, k)
    pct = k * 100.0 / safe
    reached = (pct > share) if strict else (pct >= share)
    return np.where(reached & (k <= n), k, n + 1)


@dataclass(slots=True)
class _CaseVideos:
    """The case videos' frames: every row (for segments) and their quality hashes."""

    sha256: list[str]
    row_start: I64
    """Where each video's rows start (rows in frame order; ``row_start[-1]`` = row count)."""
    timestamp: NDArray[np.float64]
    until: NDArray[np.float64]
    row_hash: I64
    """Each row's distinct-hash number, -1 below the quality floor."""
    hashes: _Hashes


def _case_videos(conn: Connection, limits: Limits, since: datetime | None) -> _CaseVideos | None:
    """The frames of the case's videos analysed after ``since`` (all when None)."""
    vf, c = schema.video_frame, schema.content
    query = (
        select(vf.c.sha256, vf.c.timestamp, vf.c.until, vf.c.pdq, vf.c.quality)
        .join(c, c.c.sha256 == vf.c.sha256)
        .order_by(vf.c.sha256, vf.c.frame)
    )
    if since is not None:
        query = query.where(c.c.analyzed_at > since)
    rows = conn.execute(query).all()
    if not rows:
        return None
    return _arrange(rows, limits.pdq_min_quality)


def _arrange(rows: Sequence[Any], min_quality: int) -> _CaseVideos:
    """Rows (sha256, timestamp, until, pdq, quality) sorted by video and frame, as arrays."""
    sha, timestamp, until, pdq, quality = zip(*rows, strict=True)
    names = list(dict.fromkeys(sha))
    number = {name: i for i, name in enumerate(names)}
    video = np.array([number[s] for s in sha], dtype=np.int64)
    kept = np.flatnonzero(np.array(quality, dtype=np.int64) >= min_quality)
    hexes = np.array(pdq, dtype=object)[kept].tolist()
    hashes, codes = _Hashes.build(len(names), video[kept], hexes)
    row_hash = np.full(len(rows), -1, dtype=np.int64)
    row_hash[kept] = codes
    row_start = np.searchsorted(video, np.arange(len(names) + 1)).astype(np.int64)
    return _CaseVideos(
        names,
        row_start,
        np.array(timestamp, dtype=np.float64),
        np.array(until, dtype=np.float64),
        row_hash,
        hashes,
    )


# --- segments --------------------------------------------------------------------------------


def merge_segments(
    timestamp: NDArray[np.float64],
    until: NDArray[np.float64],
    matched: NDArray[np.bool_],
    judged: NDArray[np.bool_],
) -> list[list[float]]:
    """Time ranges of the matched rows of one video (rows in frame order): runs of matched
    rows among the ``judged`` ones (quality frames), each ``[timestamp of its first, until of
    its last]``; rows not judged between two matched ones do not break a run."""
    idx = np.flatnonzero(judged)
    hit = matched[idx]
    if not hit.any():
        return []
    edges = np.diff(np.concatenate(([False], hit, [False])).astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [
        [round(float(timestamp[idx[s]]), 3), round(float(max(until[idx[e]], timestamp[idx[e]])), 3)]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


def _segments(videos: _CaseVideos, v: int, matched_hashes: I64) -> list[list[float]]:
    lo, hi = int(videos.row_start[v]), int(videos.row_start[v + 1])
    row_hash = videos.row_hash[lo:hi]
    judged = row_hash >= 0
    matched = judged & np.isin(row_hash, matched_hashes)
    return merge_segments(videos.timestamp[lo:hi], videos.until[lo:hi], matched, judged)


# --- matching --------------------------------------------------------------------------------


def match_videos(case: Case, *, all_videos: bool = False) -> int:
    """Match the case's videos against every set's listed videos and pictures; returns the
    new matches. Each set is matched against the videos analysed since its ``matched_until``
    (against all of them when ``all_videos``: after changing the limits, say), which this
    leaves as it is: :func:`~lanterne.hashsets.matching.match_exact` moves it, and runs this
    matching too."""
    m, hs = schema.match, schema.hashset
    now = utcnow()
    with case.store.engine.begin() as conn:
        before = conn.execute(select(func.count()).select_from(m)).scalar_one()
        by_since: dict[Any, list[int]] = {}
        for set_id, since in conn.execute(select(hs.c.id, hs.c.matched_until)):
            by_since.setdefault(None if all_videos else since, []).append(set_id)
        for since, ids in by_since.items():
            match_video_sets(conn, case.limits, ids, since, now)
        after = conn.execute(select(func.count()).select_from(m)).scalar_one()
    return int(after - before)


def match_video_sets(
    conn: Connection, limits: Limits, set_ids: list[int], since: datetime | None, now: datetime
) -> None:
    """Record the ``vpdq`` and ``pdq-frame`` matches of the videos analysed after ``since``
    (all when None) against the entries of these sets (insert-ignore: a pair already recorded
    stays as it is)."""
    e, ef = schema.hash_entry, schema.hash_entry_frame
    in_sets = e.c.hashset_id.in_(set_ids)
    has_videos = conn.execute(
        select(ef.c.entry).join(e, e.c.id == ef.c.entry).where(in_sets).limit(1)
    ).first()
    has_pictures = conn.execute(
        select(e.c.id).where(in_sets, e.c.pdq.is_not(None)).limit(1)
    ).first()
    if has_videos is None and has_pictures is None:
        return
    videos = _case_videos(conn, limits, since)
    if videos is None or not len(videos.hashes.bits):
        return
    listed = _listed_videos(conn, limits, set_ids) if has_videos is not None else None
    pictures = _listed_pictures(conn, limits, set_ids) if has_pictures is not None else None
    rows: list[dict[str, Any]] = []
    if listed is not None:
        rows += _match_listed_videos(videos, *listed, limits, now)
    if pictures is not None:
        rows += _match_listed_pictures(videos, *pictures, limits, now)
    if rows:
        stmt = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(schema.match)
        for start in range(0, len(rows), _BATCH):
            conn.execute(stmt.on_conflict_do_nothing(), rows[start : start + _BATCH])


def _listed_videos(
    conn: Connection, limits: Limits, set_ids: list[int]
) -> tuple[_Hashes, I64, I64] | None:
    """The listed videos' quality frames: their hashes by entry, entry ids, entry sets."""
    e, ef = schema.hash_entry, schema.hash_entry_frame
    rows = conn.execute(
        select(ef.c.entry, e.c.hashset_id, ef.c.pdq)
        .join(e, e.c.id == ef.c.entry)
        .where(e.c.hashset_id.in_(set_ids), ef.c.quality >= limits.pdq_min_quality)
    ).all()
    if not rows:
        return None
    entry, hashset, pdq = zip(*rows, strict=True)
    entries = np.array(entry, dtype=np.int64)
    ids = _distinct(entries)
    owner = np.searchsorted(ids, entries)
    sets = np.zeros(len(ids), dtype=np.int64)
    sets[owner] = hashset
    return _Hashes.build(len(ids), owner, pdq)[0], ids, sets


def _listed_pictures(
    conn: Connection, limits: Limits, set_ids: list[int]
) -> tuple[NDArray[np.uint64], I64, I64] | None:
    """The PDQ entries of these sets (quality-gated as for pictures): bits, ids, sets."""
    rows = pdq_entries(conn, limits, set_ids)
    if not rows:
        return None
    ids, sets, pdq = zip(*rows, strict=True)
    return hex_to_bits(pdq), np.array(ids, dtype=np.int64), np.array(sets, dtype=np.int64)


def _search(index: PdqIndex, bits: NDArray[np.uint64], which: I64, r: int) -> tuple[I64, I64, I64]:
    """(query hash number, indexed id, distance) of every pair within ``r`` of the hashes
    ``which``."""
    if not len(which):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    found = index.search(bits[which], r)
    return which[found.query], found.ids.astype(np.int64), found.distance.astype(np.int64)


Validity = Callable[[I64, I64, I64], NDArray[np.bool_]]
"""``valid(pair, owner, ids)``: whether each pair found (``pair`` indexes the search's pairs,
``ids`` their indexed ids) counts as a hit for ``owner``, an owner of its query hash."""


def _pruned_search(
    hashes: _Hashes, index: PdqIndex, need: I64, r: int, valid: Validity | None = None
) -> tuple[I64, I64, I64]:
    """Every pair (query hash, indexed id, distance) within ``r`` of all the hashes of each
    owner that could have ``need`` hashes with a hit: its first ``n - need + 1`` hashes are
    searched (one of them has a hit, else fewer than ``need`` can), then every hash of the
    owners with a ``valid`` hit there (any hit when ``valid`` is None). Pairs of other owners'
    hashes may come too (a hash is searched for all its owners at once)."""
    size = np.where(need <= hashes.per_owner, hashes.per_owner - need + 1, 0)
    first = hashes.sample(size)
    q, ids, d = _search(index, hashes.bits, first, r)
    hit_pair, owner = hashes.owners_of(q)
    ok = np.ones(len(hit_pair), dtype=np.bool_) if valid is None else valid(hit_pair, owner, ids)
    candidate = np.zeros(hashes.owner_count, dtype=np.bool_)
    candidate[owner[ok]] = True
    candidate &= size > 0
    searched = np.zeros(len(hashes.bits), dtype=np.bool_)
    searched[first] = True
    rest = hashes.hashes_of(candidate)
    rest = rest[~searched[rest]]
    q2, ids2, d2 = _search(index, hashes.bits, rest, r)
    return np.concatenate([q, q2]), np.concatenate([ids, ids2]), np.concatenate([d, d2])


def _group_first(key: I64, value: I64) -> tuple[I64, I64]:
    """Distinct keys and the smallest value of each."""
    order = np.lexsort((value, key))
    key, value = key[order], value[order]
    first = np.concatenate(([True], key[1:] != key[:-1])) if len(key) else np.zeros(0, bool)
    return key[first], value[first]


def _median_low(key: I64, value: I64) -> tuple[I64, I64]:
    """Distinct keys and the lower median of the values of each."""
    order = np.lexsort((value, key))
    key, value = key[order], value[order]
    keys, start, count = _runs(key)
    return keys, value[start + (count - 1) // 2]


def _match_listed_videos(
    videos: _CaseVideos,
    listed: _Hashes,
    entry_ids: I64,
    entry_sets: I64,
    limits: Limits,
    now: datetime,
) -> list[dict[str, Any]]:
    """``vpdq`` match rows: case videos against the listed videos."""
    r = limits.pdq_max_distance
    index = PdqIndex.build(listed.bits, np.arange(len(listed.bits), dtype=np.int64))
    need = _need(videos.hashes.per_owner, limits.vpdq_query_share, strict=False)
    q, lh, d = _pruned_search(videos.hashes, index, need, r)
    if not len(q):
        return []
    ne, nl = listed.owner_count, max(len(listed.bits), 1)
    # query side: each (case hash, entry) once, with its closest partner
    pair, entry = listed.owners_of(lh)
    qe_key, qe_dist = _group_first(q[pair] * ne + entry, d[pair])
    qe_hash, qe_entry = qe_key // ne, qe_key % ne
    src, video = videos.hashes.owners_of(qe_hash)
    ve_key = video * ne + qe_entry[src]
    keys, query_count = _counts(ve_key)
    _, median = _median_low(ve_key, qe_dist[src])
    # target side: each (case video, listed hash) once, then its entries
    src, video = videos.hashes.owners_of(q)
    vl = _distinct(video * nl + lh[src])
    src, entry = listed.owners_of(vl % nl)
    tkeys, target_count = _counts((vl // nl)[src] * ne + entry)
    target = np.zeros(len(keys), dtype=np.int64)
    target[np.searchsorted(keys, tkeys)] = target_count  # same (video, entry) pairs
    v, e = keys // ne, keys % ne
    query_share = query_count * 100.0 / videos.hashes.per_owner[v]
    target_share = target * 100.0 / listed.per_owner[e]
    hit = (query_share >= limits.vpdq_query_share) & (target_share >= limits.vpdq_target_share)
    if not hit.any():
        return []
    by_entry = np.lexsort((qe_hash, qe_entry))
    entry_start = np.searchsorted(qe_entry[by_entry], np.arange(ne + 1))
    rows = []
    for i in np.flatnonzero(hit).tolist():
        vi, ei = int(v[i]), int(e[i])
        matched = qe_hash[by_entry[entry_start[ei] : entry_start[ei + 1]]]
        rows.append(
            {
                "sha256": videos.sha256[vi],
                "hashset_id": int(entry_sets[ei]),
                "entry": int(entry_ids[ei]),
                "method": METHOD_VIDEO,
                "distance": int(median[i]),
                "variant": "",
                "query_share": round(float(query_share[i]), 3),
                "target_share": round(float(target_share[i]), 3),
                "segments": json.dumps(_segments(videos, vi, matched)),
                "matched_at": now,
            }
        )
    return rows


def _match_listed_pictures(
    videos: _CaseVideos,
    bits: NDArray[np.uint64],
    entry_ids: I64,
    entry_sets: I64,
    limits: Limits,
    now: datetime,
) -> list[dict[str, Any]]:
    """``pdq-frame`` match rows: listed pictures seen in frames of the case videos."""
    index = PdqIndex.build(bits, np.arange(len(bits), dtype=np.int64))
    hashes = videos.hashes
    q, p, d = _search(index, hashes.bits, np.arange(len(hashes.bits)), limits.pdq_max_distance)
    if not len(q):
        return []
    npic = len(bits)
    src, video = hashes.owners_of(q)
    key = video * npic + p[src]
    order = np.lexsort((q[src], key))
    key, qs, ds = key[order], q[src][order], d[src][order]
    keys, start, count = _runs(key)
    rows = []
    for k, s, c in zip(keys.tolist(), start.tolist(), count.tolist(), strict=True):
        vi, pi = divmod(k, npic)
        matched = _distinct(qs[s : s + c])
        rows.append(
            {
                "sha256": videos.sha256[vi],
                "hashset_id": int(entry_sets[pi]),
                "entry": int(entry_ids[pi]),
                "method": METHOD_FRAME,
                "distance": int(ds[s : s + c].min()),
                "variant": "",
                "query_share": round(len(matched) * 100.0 / int(hashes.per_owner[vi]), 3),
                "target_share": 100.0,
                "segments": json.dumps(_segments(videos, vi, matched)),
                "matched_at": now,
            }
        )
    return rows


# --- groups ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VideoGroupsResult:
    videos: int
    """Videos with at least one quality frame hash (the ones grouped)."""
    groups: int
    grouped: int
    """Videos in a group of two or more."""
    largest: int


def build_video_groups(case: Case) -> VideoGroupsResult:
    """Group the case's videos by their frames and store the groups in ``pdq_group``
    (replacing the previous video groups; picture groups are left as they are)."""
    limits = case.limits
    vf, c, g = schema.video_frame, schema.content, schema.pdq_group
    with case.store.engine.connect() as conn:
        rows = conn.execute(
            select(vf.c.sha256, vf.c.timestamp, vf.c.until, vf.c.pdq, vf.c.quality)
            .join(c, c.c.sha256 == vf.c.sha256)
            .where(c.c.kind == "video", vf.c.quality >= limits.pdq_min_quality)
            .order_by(vf.c.sha256, vf.c.frame)
        ).all()
        facts = {
            r.sha256: (r.frames_hashed, r.duration)
            for r in conn.execute(
                select(c.c.sha256, c.c.frames_hashed, c.c.duration).where(c.c.kind == "video")
            )
        }
    parent = np.zeros(0, dtype=np.int64)
    names: list[str] = []
    if rows:
        videos = _arrange(rows, limits.pdq_min_quality)
        names = videos.sha256
        parent = np.arange(len(names), dtype=np.int64)
        for a, b in _links(videos.hashes, limits.pdq_max_distance).tolist():
            _union(parent, a, b)
    roots = np.array([_find(parent, i) for i in range(len(names))], dtype=np.int64)
    best: dict[int, int] = {}
    for i, name in enumerate(names):
        root = int(roots[i])
        j = best.get(root)
        if j is None or _rank(name, facts) < _rank(names[j], facts):
            best[root] = i
    values = [
        {
            "sha256": name,
            "group_sha256": names[best[int(roots[i])]],
            "representative": best[int(roots[i])] == i,
        }
        for i, name in enumerate(names)
    ]
    with case.store.engine.begin() as conn:
        conn.execute(delete(g).where(g.c.sha256.in_(select(c.c.sha256).where(c.c.kind == "video"))))
        for start in range(0, len(values), _BATCH):
            conn.execute(insert(g), values[start : start + _BATCH])
    sizes = np.bincount(roots, minlength=len(names))
    sizes = sizes[sizes > 0]
    return VideoGroupsResult(
        videos=len(names),
        groups=len(sizes),
        grouped=int(sizes[sizes > 1].sum()) if names else 0,
        largest=int(sizes.max()) if names else 0,
    )


def _links(hashes: _Hashes, r: int) -> NDArray[np.int64]:
    """(a, b) pairs, a < b, of videos each with more than :data:`GROUP_SHARE` percent of its
    distinct frame hashes within ``r`` of a hash of the other."""
    n = hashes.owner_count
    index = PdqIndex.build(hashes.bits, np.arange(len(hashes.bits), dtype=np.int64))
    need = _need(hashes.per_owner, GROUP_SHARE, strict=True)

    def other_video(pair: I64, owner: I64, ids: I64) -> NDArray[np.bool_]:
        # a hit counts when the partner hash belongs to a video other than the querying one
        solo = hashes.by_hash_count[ids[pair]] == 1
        only = hashes.by_hash_owner[hashes.by_hash_start[ids[pair]]]
        return np.asarray(~solo | (only != owner), dtype=np.bool_)

    q, u, _ = _pruned_search(hashes, index, need, r, other_video)
    if not len(q):
        return np.zeros((0, 2), dtype=np.int64)
    src, b = hashes.owners_of(u)  # (q, b): hash q has a partner in video b
    qb = _distinct(q[src] * n + b)
    src, a = hashes.owners_of(qb // n)
    b = (qb % n)[src]
    keep = a != b
    keys, count = _counts(a[keep] * n + b[keep])
    a, b = keys // n, keys % n
    share = count * 100.0 / hashes.per_owner[a]
    back = np.searchsorted(keys, b * n + a)
    back = np.minimum(back, len(keys) - 1)
    mutual = (keys[back] == b * n + a) & (share > GROUP_SHARE) & (share[back] > GROUP_SHARE)
    pairs = np.stack([a[mutual], b[mutual]], axis=1)
    return pairs[pairs[:, 0] < pairs[:, 1]]


def _rank(name: str, facts: dict[str, tuple[int | None, float | None]]) -> tuple[int, float, str]:
    """Sort key of a group's representative: most frames hashed, longest, smallest SHA-256."""
    frames, duration = facts.get(name, (None, None))
    return -(frames or 0), -(duration or 0.0), name


def _find(parent: NDArray[np.int64], i: int) -> int:
    root = i
    while parent[root] != root:
        root = int(parent[root])
    while parent[i] != root:
        parent[i], i = root, int(parent[i])
    return root


def _union(parent: NDArray[np.int64], a: int, b: int) -> None:
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)
