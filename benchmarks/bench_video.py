"""Benchmark: vPDQ frame hashing against Meta's reference ``vpdq``; matching frame hashes.

Usage::

    python benchmarks/bench_video.py                       # 3-minute videos, cached in a temp dir
    python benchmarks/bench_video.py --dir ~/.cache/lanterne-videos --repeat 2
    python benchmarks/bench_video.py --small               # 20 s videos: a quick run
    python benchmarks/bench_video.py --part matching       # only the matching part

**Part 1: hashing.** Synthetic H.264 videos (:func:`lanterne.synth.videos.write_motion_video`:
textured scenes, camera pan, moving shapes; made once and kept in ``--dir``), in two
encodings per size, because what can be skipped depends on the encoding:

* ``desktop``: libx264 ``veryfast`` defaults: B-frames (3, pyramid), keyframes at scene cuts
  and at most every 250 frames;
* ``phone``: a keyframe every second, no B-frames (as Android's and iOS's encoders write);
  at 29.97 fps (NTSC) for 1080p, where the reference's step of ``int(29.97)`` = 29 frames
  drifts against the 30-frame GOPs.

Each is hashed at one hash per second (``--seconds-per-hash``) by
:func:`lanterne.analyze.vpdq.hash_frames` and by the reference (``vpdq.computeHash``, the
Python binding of the C++ hasher, default full-resolution frames), both with ``--threads``
threads (1: the per-core comparison). Printed per video: duration, wall and CPU time of each,
the real-time factor per core (seconds of video per CPU second), the speed ratio (reference
time / ours) in wall and CPU time, the frames each decoded, and agreement: whether both chose
the same frames, and the median, 90th percentile and maximum Hamming distance between our
hash and the reference's for each frame. Times are the best of ``--repeat`` runs, alternating.
Without the reference (``pip install vpdq``), only ours is timed.

Targets (the issue): ≥ 3× the reference's speed, median distance ≤ 10.

Measured (``python benchmarks/bench_video.py``; 2-core VM shared with other jobs, so CPU time
is the steadier figure; reference vpdq 0.2.5 on Debian's FFmpeg 5.1, ours on PyAV 18.1's
FFmpeg 8), 3-minute videos, 1 hash/s, one thread each::

    video                         ours CPU s  ref. CPU s  CPU ratio  wall ratio  bits med/p90/max
    720p30 desktop (B, GOP 8 s)          5.3        16.5       3.1x        2.2x        2 / 4 / 6
    720p30 phone (1 s GOP, no B)         3.6        16.7       4.6x        3.4x        2 / 4 / 8
    1080p30 desktop                     12.0        41.0       3.4x        2.4x        2 / 4 / 8
    1080p29.97 phone                    16.3        34.0       2.1x        2.1x        2 / 4 / 8

Same frames as the reference in every case. On three videos the reference's wall time was
below its CPU time (its decoder, opened with FFmpeg's automatic thread count, used part of the
second core), hence the lower wall ratios. At 29.97 fps the target is missed: the reference's
29-frame step drifts one frame a second through the 30-frame GOPs, so 55 % of the frames must
still be decoded.

**Part 2: matching.** The frame hashes of ``--videos`` videos (``--frames`` each: a random
hash per video drifting a few bits from frame to frame, as a scene does) searched against
``--indexed`` hashes of a hash list with :class:`lanterne.match.pdq_index.PdqIndex`, all at
once, within distance 31. 1 % of the videos get frames planted 0-24 bits from listed hashes;
the search must find every one. Printed: build and search time, frame hashes per second.
Measured: 10,000 videos × 60 against 1,000,000 listed hashes in 36.5 s on one thread (16,000
frame hashes/s; build 0.2 s), all 500 planted frames found.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from lanterne.analyze.vpdq import VideoHashes, hash_frames
from lanterne.match.pdq_index import PdqIndex
from lanterne.synth.videos import write_motion_video

U64 = np.uint64
MAX_DISTANCE = 31


@dataclass(frozen=True)
class Profile:
    name: str
    size: tuple[int, int]
    fps: Fraction
    gop: int | None
    bframes: int | None

    def path(self, folder: Path, seconds: float) -> Path:
        w, h = self.size
        fps = f"{float(self.fps):.2f}".rstrip("0").rstrip(".")
        return folder / f"{self.name}-{w}x{h}-{fps}fps-{seconds:g}s-v1.mp4"


PROFILES = (
    Profile("desktop", (1280, 720), Fraction(30), None, None),
    Profile("phone", (1280, 720), Fraction(30), 30, 0),
    Profile("desktop", (1920, 1080), Fraction(30), None, None),
    Profile("phone", (1920, 1080), Fraction(30000, 1001), 30, 0),
)


def video(profile: Profile, folder: Path, seconds: float, seed: int) -> Path:
    path = profile.path(folder, seconds)
    if not path.exists():
        print(f"   making {path.name} …", flush=True)
        t0 = time.perf_counter()
        partial = path.with_suffix(".part")
        write_motion_video(
            partial,
            seed,
            seconds,
            profile.size,
            profile.fps,
            gop=profile.gop,
            bframes=profile.bframes,
            threads=0,
        )
        partial.rename(path)
        print(f"   made in {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    c0 = time.process_time()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def reference() -> Any:
    try:
        import vpdq  # type: ignore[import-not-found]
    except ImportError:
        return None
    return vpdq


def bench_video(path: Path, args: argparse.Namespace, ref: Any) -> bool:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context
        frames = stream.frames
        keyframes = sum(1 for e in stream.index_entries if e.is_keyframe)
        what = f"{codec.width}x{codec.height} {codec.name}, {frames} frames, {keyframes} keyframes"
    mine: VideoHashes | None = None
    theirs: list[Any] = []
    best = {"ours": (np.inf, np.inf), "ref": (np.inf, np.inf)}
    for _ in range(args.repeat):
        mine, wall, cpu = timed(
            lambda: hash_frames(
                path,
                seconds_per_hash=args.seconds_per_hash,
                threads=args.threads,
                budget_seconds=3600,
            )
        )
        best["ours"] = min(best["ours"], (wall, cpu))
        if ref is not None:
            theirs, wall, cpu = timed(
                lambda: ref.computeHash(
                    str(path), seconds_per_hash=args.seconds_per_hash, thread_count=args.threads
                )
            )
            best["ref"] = min(best["ref"], (wall, cpu))
    assert mine is not None
    duration = mine.duration or 0.0
    ours_wall, ours_cpu = best["ours"]
    print(f"\n== {path.name}: {duration:.0f} s, {what}")
    print(f"   {'':22s}{'wall s':>9s}{'CPU s':>9s}{'x real time/core':>18s}{'decoded':>9s}")
    print(
        f"   {'lanterne hash_frames':22s}{ours_wall:9.2f}{ours_cpu:9.2f}"
        f"{duration / ours_cpu:18.1f}{mine.decoded_frames:9d}   ({mine.mode})"
    )
    if ref is None:
        print("   reference vpdq not installed: pip install vpdq (needs FFmpeg's dev packages)")
        return True
    ref_wall, ref_cpu = best["ref"]
    print(
        f"   {'reference vpdq':22s}{ref_wall:9.2f}{ref_cpu:9.2f}"
        f"{duration / ref_cpu:18.1f}{frames:9d}"
    )
    mine_by = {f.frame: f for f in mine.frames}
    common = [t for t in theirs if t.frame_number in mine_by]
    d = sorted(distance(mine_by[t.frame_number].pdq, t.hex) for t in common)
    same = len(common) == len(theirs) == len(mine.frames)
    median = statistics.median(d) if d else float("nan")
    p90 = d[int(0.9 * (len(d) - 1))] if d else float("nan")
    print(
        f"   speed: ours / reference = {ref_wall / ours_wall:.1f}x wall, "
        f"{ref_cpu / ours_cpu:.1f}x CPU   (target >= 3x)"
    )
    print(
        f"   agreement: {len(mine.frames)} hashes, reference {len(theirs)}, "
        + ("same frames" if same else f"{len(common)} frames in common")
        + f"; distance median {median:g}, p90 {p90:g}, max {max(d, default=0)}"
        f"   (target median <= 10)"
    )
    return same and median <= 10


# --- part 2: matching --------------------------------------------------------------------


def flip_bits(words: NDArray[np.uint64], counts: NDArray[np.int64], rng: Any) -> None:
    """Flip exactly ``counts[i]`` distinct random bits of row ``i``, in place."""
    for i in np.nonzero(counts)[0]:
        for bit in rng.choice(256, size=int(counts[i]), replace=False):
            words[i, bit >> 6] ^= U64(1) << U64(bit & 63)


def bench_matching(args: argparse.Namespace) -> bool:
    rng = np.random.default_rng(args.seed)
    n, videos, per = args.indexed, args.videos, args.frames
    print(
        f"\n== matching {videos:,} videos x {per} frame hashes = {videos * per:,} queries "
        f"against {n:,} listed hashes, distance <= {MAX_DISTANCE}, {args.threads} thread(s)"
    )
    listed = rng.integers(0, 2**64 - 1, size=(n, 4), dtype=U64, endpoint=True)
    # A video: a random hash, each frame 0-12 bits from the video's base (a scene moving).
    base = rng.integers(0, 2**64 - 1, size=(videos, 4), dtype=U64, endpoint=True)
    queries = np.repeat(base, per, axis=0)
    for lo in range(0, len(queries), 1 << 16):  # in blocks: 256 floats a row
        chunk = queries[lo : lo + (1 << 16)]
        rate = rng.integers(0, 13, len(chunk)) / 256
        drift = rng.random(size=(len(chunk), 256)) < rate[:, None]
        chunk ^= np.packbits(drift, axis=1).view(">u8").astype(U64)
    # 1 % of the videos show listed pictures in 5 of their frames, 0-24 bits away.
    planted_videos = rng.choice(videos, size=max(1, videos // 100), replace=False)
    rows = (planted_videos[:, None] * per + rng.choice(per, size=5)[None, :]).ravel()
    targets = rng.integers(0, n, size=len(rows))
    planted = listed[targets].copy()
    flip_bits(planted, rng.integers(0, 25, size=len(rows)), rng)
    queries[rows] = planted

    index, build_s, _ = timed(lambda: PdqIndex.build(listed, np.arange(n), threads=args.threads))
    found, search_s, search_cpu = timed(
        lambda: index.search(queries, MAX_DISTANCE, threads=args.threads)
    )
    hits = set(zip(found.query.tolist(), found.ids.tolist(), strict=True))
    recalled = sum((int(r), int(t)) in hits for r, t in zip(rows, targets, strict=True))
    matched_videos = len(np.unique(found.query // per))
    print(f"   index build {build_s:.1f} s ({index.nbytes / n:.0f} B/hash)")
    print(
        f"   search {search_s:.1f} s wall, {search_cpu:.1f} s CPU: "
        f"{len(queries) / search_s:,.0f} frame hashes/s, {videos / search_s:,.0f} videos/s"
    )
    print(
        f"   {len(found.query):,} pairs; {matched_videos:,} videos with a match; "
        f"planted {recalled}/{len(rows)} found"
    )
    return recalled == len(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dir", type=Path, help="where videos are made and kept (a temp dir)")
    ap.add_argument("--small", action="store_true", help="20 s videos, 1,000 videos matched")
    ap.add_argument("--seconds", type=float, help="video length (180; --small: 20)")
    ap.add_argument("--seconds-per-hash", type=float, default=1.0, help="(1.0)")
    ap.add_argument("--threads", type=int, default=1, help="threads, ours and the reference's")
    ap.add_argument("--repeat", type=int, default=1, help="interleaved runs; best kept (1)")
    ap.add_argument("--part", choices=("all", "hashing", "matching"), default="all")
    ap.add_argument("--indexed", type=int, default=1_000_000, help="listed hashes (1 M)")
    ap.add_argument("--videos", type=int, help="videos matched (10,000; --small: 1,000)")
    ap.add_argument("--frames", type=int, default=60, help="frame hashes per video (60)")
    ap.add_argument("--seed", type=int, default=20240607)
    args = ap.parse_args()
    seconds = args.seconds or (20.0 if args.small else 180.0)
    args.videos = args.videos or (1_000 if args.small else 10_000)

    ok = True
    if args.part in ("all", "hashing"):
        ref = reference()
        print(
            f"vPDQ hashing, {args.seconds_per_hash:g} s per hash, {args.threads} thread(s); "
            f"PyAV {av.__version__} (FFmpeg {av.library_versions['libavcodec']}); reference "
            + ("vpdq " + getattr(ref, "__version__", "installed") if ref else "absent")
        )
        with tempfile.TemporaryDirectory() as temp:
            folder = args.dir or Path(temp)
            folder.mkdir(parents=True, exist_ok=True)
            warm = video(Profile("warm", (64, 48), Fraction(10), None, None), folder, 2.0, 0)
            hash_frames(warm)  # load the compiled kernels
            for k, profile in enumerate(PROFILES):
                ok &= bench_video(video(profile, folder, seconds, k + 1), args, ref)
    if args.part in ("all", "matching"):
        warm_hashes = np.random.default_rng(0).integers(0, 2**63, size=(300, 4), dtype=U64)
        PdqIndex.build(warm_hashes, np.arange(300)).search(warm_hashes)  # compile
        ok &= bench_matching(args)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
