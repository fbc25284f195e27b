"""Near-duplicate groups: the case's pictures joined by PDQ, one look per group.

Two pictures are linked when their PDQ hashes (quality-gated) differ in at most the case's
``pdq_max_distance`` bits — or, with ``pdq_dihedral``, when any turn or mirror of one is that
close to the other. A group is a connected component of those links (a chain of small edits
stays one group). Its representative is the member a reviewer should see: the best PDQ
quality, then the most pixels, then the smallest SHA-256 (stable). Groups are recomputed whole
(the exact index makes that seconds for a case's pictures) and stored in ``pdq_group``.

Videos are grouped by their frames in the same pass
(:func:`lanterne.match.video.build_video_groups`), in the same table; each kind replaces only its
own groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, insert, select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.match.pdq_index import PdqIndex, hex_to_bits
from lanterne.match.video import build_video_groups


@dataclass(frozen=True, slots=True)
class GroupsResult:
    pictures: int
    groups: int
    grouped: int
    """Pictures in a group of two or more."""
    largest: int
    videos: int = 0
    """Videos with frame hashes of quality (the ones grouped)."""
    video_groups: int = 0
    videos_grouped: int = 0
    """Videos in a group of two or more."""
    largest_video_group: int = 0


def build_groups(case: Case) -> GroupsResult:
    """Group the case's pictures, then its videos, and store the groups (replacing the
    previous ones)."""
    limits = case.limits
    c = schema.content
    with case.store.engine.connect() as conn:
        rows = conn.execute(
            select(c.c.sha256, c.c.pdq, c.c.pdq_dihedral, c.c.pdq_quality, c.c.width, c.c.height)
            .where(
                c.c.pdq.is_not(None),
                c.c.pdq_quality >= limits.pdq_min_quality,
                c.c.kind != "video",  # videos are grouped by their frames
            )
            .order_by(c.c.sha256)
        ).all()
    n = len(rows)
    parent = np.arange(n, dtype=np.int64)
    if n:
        index = PdqIndex.build(hex_to_bits([r.pdq for r in rows]), np.arange(n, dtype=np.int64))
        queries, owners = [], []
        for i, r in enumerate(rows):
            variants = [r.pdq]
            if limits.pdq_dihedral and r.pdq_dihedral:
                variants += r.pdq_dihedral.split(",")
            queries += variants
            owners += [i] * len(variants)
        found = index.search(hex_to_bits(queries), limits.pdq_max_distance)
        owner = np.asarray(owners, dtype=np.int64)[found.query]
        _union_all(parent, owner, found.ids)
    roots = np.array([_find(parent, i) for i in range(n)], dtype=np.int64)
    best: dict[int, int] = {}
    for i, r in enumerate(rows):
        root = int(roots[i])
        j = best.get(root)
        if j is None or _rank(r) > _rank(rows[j]):
            best[root] = i
    g = schema.pdq_group
    values = [
        {
            "sha256": r.sha256,
            "group_sha256": rows[best[int(roots[i])]].sha256,
            "representative": best[int(roots[i])] == i,
        }
        for i, r in enumerate(rows)
    ]
    videos = select(c.c.sha256).where(c.c.kind == "video")
    with case.store.engine.begin() as conn:
        conn.execute(delete(g).where(g.c.sha256.not_in(videos)))
        for start in range(0, len(values), 5000):
            conn.execute(insert(g), values[start : start + 5000])
    sizes = np.bincount(np.unique(roots, return_inverse=True)[1]) if n else np.zeros(0, int)
    v = build_video_groups(case)
    return GroupsResult(
        pictures=n,
        groups=len(sizes),
        grouped=int(sizes[sizes > 1].sum()) if n else 0,
        largest=int(sizes.max()) if n else 0,
        videos=v.videos,
        video_groups=v.groups,
        videos_grouped=v.grouped,
        largest_video_group=v.largest,
    )


def _rank(r: object) -> tuple[int, int, str]:
    quality = getattr(r, "pdq_quality", 0) or 0
    pixels = (getattr(r, "width", 0) or 0) * (getattr(r, "height", 0) or 0)
    return quality, pixels, "".join(chr(255 - ord(ch)) for ch in getattr(r, "sha256", ""))


def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = int(parent[root])
    while parent[i] != root:  # path compression
        parent[i], i = root, int(parent[i])
    return root


def _union_all(parent: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = _find(parent, x), _find(parent, y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
