"""Video matching by frame hashes (vPDQ against listed videos, frames against listed pictures),
near-duplicate video groups, and the matched segments in the VICS export.

All data is synthetic: frame hashes are random 256-bit numbers from seeded generators, their
copies the same numbers with chosen bits flipped; contents are rows with invented digests.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, select

from lanterne.analyze.vpdq import FrameHash
from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.hashsets.formats import by_name
from lanterne.hashsets.formats.vpdq import CompactJson
from lanterne.hashsets.importer import import_hashset
from lanterne.hashsets.matching import match_exact, match_figures
from lanterne.hashsets.records import HashRecord, HashSetHeader
from lanterne.match.groups import build_groups
from lanterne.match.video import build_video_groups, match_videos, merge_segments
from lanterne.report.vics_export import export_vics

Frame = tuple[float, float, str, int]
"""(timestamp, until, pdq, quality) of a case video's frame."""
HEADER = HashSetHeader("test", name="synthetic")


def rand_pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def flip(pdq: str, bits: int, rng: random.Random) -> str:
    """``pdq`` with exactly ``bits`` bits flipped: at that Hamming distance from it."""
    value = int(pdq, 16)
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return f"{value:064x}"


def seq(hashes: Sequence[str], start: float = 0.0, quality: int = 90) -> list[Frame]:
    """One frame a second from ``start``."""
    return [(start + i, start + i, h, quality) for i, h in enumerate(hashes)]


def _digest(kind: str, name: str) -> str:
    return hashlib.new(kind, f"synthetic content {name}".encode()).hexdigest()


def add_video(
    case: Case,
    name: str,
    frames: Sequence[Frame],
    *,
    hashed: int | None = None,
    duration: float | None = None,
    when: Any = None,
    file: bool = False,
) -> str:
    """A video content (with its frame rows, and a file row when ``file``); its SHA-256."""
    sha = _digest("sha256", name)
    with case.store.engine.begin() as conn:
        conn.execute(
            insert(schema.content).values(
                sha256=sha,
                md5=_digest("md5", name),
                sha1=_digest("sha1", name),
                size=1000,
                mime="video/mp4",
                kind="video",
                frames_hashed=len(frames) if hashed is None else hashed,
                duration=duration if duration is not None else (frames[-1][1] if frames else 0),
                analyzed_at=when or utcnow(),
            )
        )
        if frames:
            conn.execute(
                insert(schema.video_frame),
                [
                    {"sha256": sha, "frame": i, "timestamp": t, "until": u, "pdq": p, "quality": q}
                    for i, (t, u, p, q) in enumerate(frames)
                ],
            )
        if file:
            evidence = conn.execute(select(schema.evidence.c.id)).scalar()
            if evidence is None:
                evidence = conn.execute(
                    insert(schema.evidence).values(
                        label="PC-01",
                        kind="folder",
                        location="/synthetic",
                        registered_by="test",
                        registered_at=utcnow(),
                    )
                ).inserted_primary_key[0]
            conn.execute(
                insert(schema.file).values(
                    evidence_id=evidence,
                    provenance_key=sha,
                    provenance="[]",
                    path=f"/synthetic/{name}.mp4",
                    name=f"{name}.mp4",
                    size=1000,
                    sha256=sha,
                    state="done",
                )
            )
    return sha


def list_videos(
    case: Case, tmp_path: Path, videos: dict[str, Sequence[str]], name: str = "videos", **kw: Any
) -> None:
    """Import listed videos (one frame a second, quality 100) as a vpdq-json set."""
    records = [
        HashRecord(
            "",
            entry_id=entry,
            name=entry,
            category="1",
            frames=tuple(FrameHash(i, float(i), h, 100) for i, h in enumerate(hashes)),
        )
        for entry, hashes in videos.items()
    ]
    path = tmp_path / f"{name}.jsonl"
    CompactJson.write(path, HEADER, records)
    import_hashset(case, path, kw.pop("role", "known-bad"), name=name, scheme="vics-us", **kw)


def matches(case: Case, method: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(content SHA-256, entry id) → the match's figures."""
    m, e = schema.match, schema.hash_entry
    query = select(
        m.c.sha256,
        e.c.entry_id,
        e.c.name,
        m.c.method,
        m.c.distance,
        m.c.query_share,
        m.c.target_share,
        m.c.segments,
    ).join(e, e.c.id == m.c.entry)
    if method is not None:
        query = query.where(m.c.method == method)
    return {
        (r.sha256, r.entry_id or r.name): {
            "method": r.method,
            "distance": r.distance,
            "query": r.query_share,
            "target": r.target_share,
            "segments": json.loads(r.segments) if r.segments else None,
        }
        for r in case.store.rows(query)
    }


def set_limits(case: Case, **limits: Any) -> Case:
    """The case reopened with these ``[limits]`` (instead of those a previous call set)."""
    config = case.root / "case.toml"
    marker = "# limits set by the test\n"
    text = config.read_text().split(marker)[0]
    assert text.rstrip().endswith("[limits]")
    text += marker + "".join(f"{k} = {json.dumps(v)}\n" for k, v in limits.items())
    config.write_text(text)
    return Case.open(case.root)


# ------------------------------------------------------------------ case videos vs listed videos


@pytest.fixture
def listed(case: Case, tmp_path: Path) -> tuple[Case, dict[str, str]]:
    """A listed video L (20 frames) and case videos made from it, each at a known distance."""
    rng = random.Random(1)
    L = [rand_pdq(rng) for _ in range(20)]
    other = [rand_pdq(rng) for _ in range(40)]
    f = lambda h, k: flip(h, k, rng)  # noqa: E731
    shas = {
        # a re-encode: every frame 5 bits off
        "copy": add_video(case, "copy", seq([f(h, 5) for h in L])),
        # a trim: L's frames 5-14, 3 bits off, from 0 s
        "trim": add_video(case, "trim", seq([f(h, 3) for h in L[5:15]])),
        # half of L, half other footage: 50 % < 80 %
        "half": add_video(case, "half", seq([f(h, 2) for h in L[:10]] + other[:10])),
        # two foreign frames inserted: 20 of 22 frames = 90.9 %, two segments
        "insert": add_video(
            case, "insert", seq([f(h, 2) for h in L[:8]] + other[10:12] + [f(h, 2) for h in L[8:]])
        ),
        # a dark (low quality) frame instead of L10, the last frame standing 6 s longer
        "dark": add_video(
            case,
            "dark",
            [
                *seq([f(h, 4) for h in L[:10]]),
                (10.0, 10.0, other[12], 10),
                *seq([f(h, 4) for h in L[11:19]], start=11.0),
                (19.0, 25.0, f(L[19], 4), 90),
            ],
        ),
        # each of L's first 10 frames twice (the same hash): counted once
        "twice": add_video(case, "twice", seq([h for h in L[:10] for _ in range(2)])),
        "unrelated": add_video(case, "unrelated", seq(other[20:40])),
    }
    list_videos(case, tmp_path, {"L": L, "Other": [rand_pdq(rng) for _ in range(10)]})
    return case, shas


def test_vpdq_shares_distances_and_segments(listed: tuple[Case, dict[str, str]]) -> None:
    case, sha = listed
    assert match_exact(case) == 5
    got = matches(case)
    assert set(got) == {(sha[n], "L") for n in ("copy", "trim", "insert", "dark", "twice")}
    expect = {
        "copy": (5, 100.0, 100.0, [[0.0, 19.0]]),
        "trim": (3, 100.0, 50.0, [[0.0, 9.0]]),
        "insert": (2, 90.909, 100.0, [[0.0, 7.0], [10.0, 21.0]]),
        "dark": (4, 100.0, 95.0, [[0.0, 25.0]]),
        "twice": (0, 100.0, 50.0, [[0.0, 19.0]]),
    }
    for name, (distance, query, target, segments) in expect.items():
        m = got[(sha[name], "L")]
        assert m["method"] == "vpdq"
        assert (m["distance"], m["query"], m["target"], m["segments"]) == (
            distance,
            pytest.approx(query, abs=1e-3),
            pytest.approx(target, abs=1e-3),
            segments,
        ), name


def test_vpdq_thresholds_from_the_case_limits(listed: tuple[Case, dict[str, str]]) -> None:
    case, sha = listed
    with set_limits(case, vpdq_target_share=60.0, vpdq_query_share=95.0) as strict:
        match_exact(strict)
        assert {k[0] for k in matches(strict)} == {sha["copy"], sha["dark"]}
    with set_limits(case, pdq_max_distance=3) as near:  # "copy" and "dark" are farther now
        assert match_videos(near) == 0  # incremental: no video is new to the set
        # everything again: trim (3 bits), insert (2) and twice (0) now reach 80 %, and the
        # matches made under the other limits stay
        assert match_videos(near, all_videos=True) == 3
        assert {k[0] for k in matches(near)} == {
            sha[n] for n in ("copy", "dark", "trim", "insert", "twice")
        }


def test_incremental_and_idempotent(listed: tuple[Case, dict[str, str]], tmp_path: Path) -> None:
    case, sha = listed
    assert match_exact(case) == 5
    assert match_exact(case) == 0
    assert match_videos(case) == 0  # the same pairs: recorded once
    rng = random.Random(1)
    L = [rand_pdq(rng) for _ in range(20)]  # the listed video again (same seed)
    later = add_video(case, "later", seq([flip(h, 1, rng) for h in L[2:18]]))
    assert match_exact(case) == 1
    assert matches(case)[(later, "L")]["target"] == pytest.approx(80.0)
    # a set imported now is matched against every video, old ones included: only "twice"
    # (L's first 10 frames) has 80 % of its frames in it; the others have at most 10 of 16
    list_videos(case, tmp_path, {"L again": L[:10]}, name="second")
    assert match_exact(case) == 1
    assert [k[0] for k in matches(case) if k[1] == "L again"] == [sha["twice"]]


def test_many_videos_at_once(case: Case, tmp_path: Path) -> None:
    """Hundreds of videos against many listed ones: the same answer as pair by pair."""
    rng = random.Random(7)
    listed = {f"V{i}": [rand_pdq(rng) for _ in range(rng.randint(5, 30))] for i in range(60)}
    truth: dict[str, str] = {}
    for i in range(300):
        frames: list[str]
        if i % 3 == 0:  # a copy of a listed video, maybe trimmed, maybe with foreign frames
            entry = f"V{rng.randrange(60)}"
            src = listed[entry]
            lo = rng.randrange(len(src) // 3)
            frames = [flip(h, rng.randint(0, 12), rng) for h in src[lo:]]
            foreign = rng.choice([0, 0, 1, len(frames)])
            frames += [rand_pdq(rng) for _ in range(foreign)]
            if foreign * 100 <= 20 * len(frames):  # still ≥ 80 % its own
                truth[add_video(case, f"v{i}", seq(frames))] = entry
                continue
        else:
            frames = [rand_pdq(rng) for _ in range(rng.randint(1, 40))]
        add_video(case, f"v{i}", seq(frames))
    list_videos(case, tmp_path, listed)
    match_exact(case)
    assert {sha: entry for sha, entry in matches(case, "vpdq")} == truth


def _brute_shares(
    query: Sequence[Frame], target: Sequence[str], r: int, min_quality: int
) -> tuple[float, float, int] | None:
    """The reference's rule pair by pair (``vpdq_brute_matcher``): quality filter, dedupe,
    the share of each side's frames with a partner within ``r`` on the other; and the lower
    median of the matched query frames' closest distances."""
    q = list(dict.fromkeys(h for _, _, h, quality in query if quality >= min_quality))
    t = list(dict.fromkeys(target))  # listed frames: quality 100
    if not q or not t:
        return None

    def distance(a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()

    closest = sorted(d for d in (min(distance(a, b) for b in t) for a in q) if d <= r)
    t_hit = sum(any(distance(b, a) <= r for a in q) for b in t)
    median = closest[(len(closest) - 1) // 2] if closest else -1
    return len(closest) * 100 / len(q), t_hit * 100 / len(t), median


def test_same_answer_as_the_reference_rule(case: Case, tmp_path: Path) -> None:
    """Frames near the distance limit and the quality floor: every (video, listed video) pair
    gets the shares of the reference's brute-force rule, pruned search or not."""
    rng = random.Random(11)
    listed = {f"E{i}": [rand_pdq(rng) for _ in range(rng.randint(3, 12))] for i in range(12)}
    pool = [h for hashes in listed.values() for h in hashes]
    videos: dict[str, list[Frame]] = {}
    for i in range(80):
        base = rng.choice(list(listed.values()))
        hashes = []
        for _ in range(rng.randint(1, 15)):
            pick = rng.random()
            if pick < 0.6:  # near a frame of one listed video, around the distance limit
                hashes.append(flip(rng.choice(base), rng.randint(20, 40), rng))
            elif pick < 0.8:  # near a frame of any listed video
                hashes.append(flip(rng.choice(pool), rng.randint(0, 40), rng))
            else:
                hashes.append(rand_pdq(rng))
        frames = [
            (float(j), float(j), h, rng.choice([100, 60, 50, 49])) for j, h in enumerate(hashes)
        ]
        frames += frames[: rng.randint(0, 2)]  # repeated hashes (later frames)
        frames = [(float(j), float(j), h, q) for j, (_, _, h, q) in enumerate(frames)]
        videos[add_video(case, f"v{i}", frames)] = frames
    list_videos(case, tmp_path, listed)
    with set_limits(case, vpdq_query_share=50.0, vpdq_target_share=10.0) as loose:
        match_exact(loose)
        got = {
            k: (m["query"], m["target"], m["distance"]) for k, m in matches(loose, "vpdq").items()
        }
    want = {}
    for sha, frames in videos.items():
        for entry, hashes in listed.items():
            shares = _brute_shares(frames, hashes, 31, 50)
            if shares is not None and shares[0] >= 50.0 and shares[1] >= 10.0:
                want[(sha, entry)] = shares
    assert 10 < len(want) < 80 * 12 / 2  # some match, not all
    assert got.keys() == want.keys()
    for key, (query, target, median) in want.items():
        assert got[key] == (pytest.approx(query, abs=1e-3), pytest.approx(target, abs=1e-3), median)


# ------------------------------------------------------------------ frames vs listed pictures


def test_frames_against_listed_pictures(case: Case, tmp_path: Path) -> None:
    rng = random.Random(3)
    picture, dull, plain = rand_pdq(rng), rand_pdq(rng), rand_pdq(rng)
    frames = seq([rand_pdq(rng) for _ in range(12)])
    frames[2] = (2.0, 2.0, flip(picture, 3, rng), 90)
    frames[3] = (3.0, 3.5, flip(picture, 5, rng), 90)
    frames[8] = (8.0, 8.0, picture, 90)
    frames[10] = (10.0, 10.0, dull, 90)
    frames[11] = (11.0, 11.0, flip(plain, 2, rng), 30)  # a frame below the quality floor
    video = add_video(case, "with-stills", frames)
    add_video(case, "without", seq([rand_pdq(rng) for _ in range(5)]))
    lines = [
        HashRecord("", pdq=picture, pdq_quality=90, name="the picture"),
        HashRecord("", pdq=dull, pdq_quality=20, name="too flat to match"),
        HashRecord("", pdq=plain, name="no quality given"),
    ]
    path = tmp_path / "pictures.txt"
    by_name("pdq").write(path, HEADER, lines)
    import_hashset(case, path, "known-bad", name="pictures")
    assert match_exact(case) == 1
    assert matches(case) == {
        (video, "the picture"): {
            "method": "pdq-frame",
            "distance": 0,
            "query": pytest.approx(100 * 3 / 11, abs=1e-3),  # 3 of its 11 quality frames
            "target": 100.0,
            "segments": [[2.0, 3.5], [8.0, 8.0]],
        }
    }


def test_merge_segments_bridges_unjudged_frames() -> None:
    t = np.arange(8, dtype=np.float64)
    until = t.copy()
    until[3] = 3.9
    matched = np.array([1, 1, 0, 1, 0, 1, 1, 0], dtype=bool)
    judged = np.array([1, 1, 1, 1, 0, 1, 1, 1], dtype=bool)  # frame 4 is too dark to judge
    assert merge_segments(t, until, matched, judged) == [[0.0, 1.0], [3.0, 6.0]]
    assert merge_segments(t, until, np.zeros(8, bool), judged) == []


# ------------------------------------------------------------------ groups


def _groups(case: Case) -> dict[str, tuple[str, bool]]:
    g = schema.pdq_group
    return {r.sha256: (r.group_sha256, r.representative) for r in case.store.rows(select(g))}


def test_video_groups(case: Case) -> None:
    rng = random.Random(5)
    X = [rand_pdq(rng) for _ in range(30)]
    Y = [rand_pdq(rng) for _ in range(30)]
    f = lambda hs, k: [flip(h, k, rng) for h in hs]  # noqa: E731
    v = {
        "X": add_video(case, "X", seq(X), hashed=40, duration=30.0),
        "reencoded": add_video(case, "reencoded", seq(f(X, 8)), duration=30.0),
        "trimmed": add_video(case, "trimmed", seq(f(X[:20], 6))),  # 2/3 of X
        "logo": add_video(case, "logo", seq(f(X, 14)), duration=31.0),
        "clip": add_video(case, "clip", seq(f(X[:10], 2))),  # 1/3 of X: not a near-duplicate
        "Y": add_video(case, "Y", seq(Y)),
        "Y-grey": add_video(case, "Y-grey", seq(f(Y, 4))),
        # half X, half Y: linked to neither, and does not join X's and Y's groups
        "compilation": add_video(case, "compilation", seq(f(X[:15], 3) + f(Y[15:], 3))),
        "other": add_video(case, "other", seq([rand_pdq(rng) for _ in range(10)])),
        "dark": add_video(case, "dark", seq([rand_pdq(rng) for _ in range(5)], quality=10)),
    }
    # a picture group, which video grouping leaves alone
    with case.store.engine.begin() as conn:
        pic = rand_pdq(rng)
        for i, h in enumerate((pic, flip(pic, 4, rng))):
            conn.execute(
                insert(schema.content).values(
                    sha256=_digest("sha256", f"pic{i}"),
                    md5=_digest("md5", f"pic{i}"),
                    sha1=_digest("sha1", f"pic{i}"),
                    size=10,
                    mime="image/jpeg",
                    kind="picture",
                    pdq=h,
                    pdq_quality=90,
                    width=10 * (i + 1),
                    height=10,
                    analyzed_at=utcnow(),
                )
            )
    result = build_groups(case)
    assert (result.pictures, result.groups, result.grouped, result.largest) == (2, 1, 2, 2)
    assert (result.videos, result.video_groups, result.videos_grouped) == (9, 5, 6)
    assert result.largest_video_group == 4
    got = _groups(case)
    group = {n: got[s][0] for n, s in v.items() if s in got}
    assert "dark" not in group
    assert group["X"] == group["reencoded"] == group["trimmed"] == group["logo"] == v["X"]
    assert group["Y"] == group["Y-grey"]
    assert len({group[n] for n in ("X", "Y", "clip", "compilation", "other")}) == 5
    assert got[v["X"]][1] and not got[v["logo"]][1]  # most frames hashed
    picture_rows = {s: g for s, g in got.items() if s not in v.values()}
    assert len(picture_rows) == 2

    figures = match_figures(case)
    assert (figures["near_duplicate_groups"], figures["pictures_in_groups"]) == (1, 2)
    assert (figures["video_groups"], figures["videos_in_groups"]) == (2, 6)

    again = build_video_groups(case)  # replaces video groups only
    assert (again.videos, again.groups, again.grouped, again.largest) == (9, 5, 6, 4)
    assert _groups(case) == got


# ------------------------------------------------------------------ VICS export


def test_vics_export_writes_the_matched_segments(case: Case, tmp_path: Path) -> None:
    rng = random.Random(9)
    L = [rand_pdq(rng) for _ in range(10)]
    picture = rand_pdq(rng)
    near_l = [flip(h, 2, rng) for h in L[:9]]
    frames = seq([*near_l[:4], flip(picture, 1, rng), *near_l[5:]])  # 8 of 9 frames from L
    video = add_video(case, "suspect", frames, file=True, when=utcnow() - timedelta(hours=1))
    add_video(case, "unmatched", seq([rand_pdq(rng)]), file=True)
    list_videos(case, tmp_path, {"L": L})
    path = tmp_path / "pictures.txt"
    by_name("pdq").write(path, HEADER, [HashRecord("", pdq=picture, pdq_quality=100)])
    import_hashset(case, path, "alert", name="pictures")
    assert match_exact(case) == 2
    out = tmp_path / "export.json"
    export_vics(case, out, scheme="vics-us")
    doc = json.loads(out.read_text())
    media = {m["MD5"].lower(): m for c in doc["value"] for m in c["Media"]}
    exported = media[_digest("md5", "suspect")]
    assert exported["Category"] == 1
    assert exported["Segments"] == [  # L's two ranges and the picture's
        {"SegmentIndex": 0, "Start": 0.0, "End": 3.0, "Category": 1},
        {"SegmentIndex": 1, "Start": 4.0, "End": 4.0, "Category": 1},
        {"SegmentIndex": 2, "Start": 5.0, "End": 8.0, "Category": 1},
    ]
    assert "Segments" not in media[_digest("md5", "unmatched")]
    _, records = by_name("vics").read(out)
    back = {r.md5: r for r in records}
    assert back[_digest("md5", "suspect")].extra["Segments"] == exported["Segments"]
    assert video in {r.sha256 for r in back.values()}
