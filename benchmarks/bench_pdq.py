"""Benchmark: exact PDQ range search, our multi-index against FAISS's brute force.

Usage::

    python benchmarks/bench_pdq.py                          # 10 M indexed, 100 k queries, 2 threads
    python benchmarks/bench_pdq.py --indexed 1000000 --queries 20000 --data random
    python benchmarks/bench_pdq.py --faiss-sample 500 --max-distance 31 --threads 2

What is measured, per kind of data (``--data``, both by default), on the same hashes for both:

* ours: :class:`lanterne.match.pdq_index.PdqIndex` (exact multi-index, compiled kernels):
  build time, memory per indexed hash (everything the index holds: hash, id, tables), and
  :meth:`~lanterne.match.pdq_index.PdqIndex.search` of all the queries at once (distance
  ≤ ``--max-distance``);
* FAISS: ``IndexBinaryFlat(256)``, the exact brute force examiners' tools build on, its
  ``add`` time, its memory (the 32-byte codes; the ids would be another 8 B in an
  ``IndexBinaryIDMap``) and ``range_search(queries, max_distance + 1)`` (FAISS's binary range
  search keeps distances *strictly below* the radius). At 18-30 ms a query for 10 M hashes,
  all 100 k queries would take half an hour, so FAISS is timed on a random sample of
  ``--faiss-sample`` queries (all of them when fewer) and its time per query scaled: said so
  in the output.

Both use ``--threads`` threads. Wall and CPU time are printed (CPU time is steadier on a shared
VM, where a neighbour can take a core away); with ``--repeat``, rounds interleave the two and
the best is kept. Our answer on the sampled queries is checked against FAISS's: the sets of
(query, indexed row, distance) must be identical.

Data:

* ``realistic``: clusters of near-duplicates as in a hash list: ``indexed / 10`` random base
  hashes, each with 9 variants at 1–20 flipped bits (uniform); queries half near (an indexed
  hash with 0–40 bits flipped, uniform), half random;
* ``random``: uniformly random indexed hashes and queries.

Targets (the issue): ours ≥ 10× FAISS's queries per second, at ≤ 4× its memory (128 B/hash).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import faiss
import numba
import numpy as np
from numpy.typing import NDArray

from lanterne.match.pdq_index import PdqIndex, bits_to_bytes, plan, row_bits

U64 = np.uint64


@numba.njit(nogil=True, cache=True)
def _flipped(src: Any, rows: Any, counts: Any, seed: int) -> Any:
    """``src[rows[i]]`` with exactly ``counts[i]`` distinct bits flipped (uniformly chosen)."""
    np.random.seed(seed)
    out = np.empty((rows.shape[0], 4), dtype=np.uint64)
    mask = np.zeros(4, dtype=np.uint64)
    for i in range(rows.shape[0]):
        mask[:] = 0
        done = 0
        while done < counts[i]:
            b = np.random.randint(0, 256)
            bit = np.uint64(1) << np.uint64(b & 63)
            if mask[b >> 6] & bit:
                continue
            mask[b >> 6] |= bit
            done += 1
        for k in range(4):
            out[i, k] = src[rows[i], k] ^ mask[k]
    return out


def make_data(
    kind: str, indexed: int, queries: int, seed: int
) -> tuple[NDArray[np.uint64], NDArray[np.uint64], str]:
    """Indexed hashes, queries, and a line saying what they are."""
    rng = np.random.default_rng(seed)

    def uniform(n: int) -> NDArray[np.uint64]:
        return rng.integers(0, 2**64 - 1, size=(n, 4), dtype=U64, endpoint=True)

    if kind == "random":
        return uniform(indexed), uniform(queries), f"{indexed:,} random hashes"
    bases = -(-indexed // 10)
    base = uniform(bases)
    variants = _flipped(
        base,
        np.repeat(np.arange(bases), 9),
        rng.integers(1, 21, size=9 * bases),
        int(rng.integers(2**31)),
    )
    hashes = np.concatenate([base, variants])[:indexed]
    hashes = hashes[rng.permutation(len(hashes))]
    near = queries // 2
    q = np.concatenate(
        [
            _flipped(
                hashes,
                rng.integers(0, len(hashes), size=near),
                rng.integers(0, 41, size=near),
                int(rng.integers(2**31)),
            ),
            uniform(queries - near),
        ]
    )
    what = (
        f"{bases:,} base hashes with 9 variants each at 1-20 bits = {indexed:,} hashes; "
        f"queries {near:,} near (0-40 bits from an indexed hash), {queries - near:,} random"
    )
    return hashes, q[rng.permutation(len(q))], what


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    c0 = time.process_time()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def pairs_faiss(lims: NDArray[Any], dist: NDArray[Any], labels: NDArray[Any]) -> set[Any]:
    qs = np.repeat(np.arange(len(lims) - 1), np.diff(lims.astype(np.int64)))
    return set(zip(qs.tolist(), labels.tolist(), dist.astype(np.int64).tolist(), strict=True))


def bench(kind: str, args: argparse.Namespace) -> bool:
    hashes, queries, what = make_data(kind, args.indexed, args.queries, args.seed)
    n, nq, r = len(hashes), len(queries), args.max_distance
    print(f"\n== {kind}: {what}")
    print(f"   max distance {r}, {args.threads} threads")

    index, build_s, _ = timed(lambda: PdqIndex.build(hashes, np.arange(n), threads=args.threads))
    radii, _cost = plan(index.widths, index.bucket_bits, n, r)
    print(
        f"   ours: {index.slices} slices of {sorted(set(index.widths.tolist()), reverse=True)} "
        f"bits, buckets on {sorted(set(index.bucket_bits.tolist()), reverse=True)} top bits, "
        f"radii {radii.tolist()}; rows {row_bits(n)} bits"
    )
    flat = faiss.IndexBinaryFlat(256)
    _, faiss_build_s, _ = timed(lambda: flat.add(bits_to_bytes(hashes)))

    rng = np.random.default_rng(args.seed + 1)
    sample = np.sort(rng.choice(nq, size=min(args.faiss_sample, nq), replace=False))
    sample_codes = bits_to_bytes(queries[sample])
    best = {"ours": (np.inf, np.inf), "faiss": (np.inf, np.inf)}
    found: Any = None
    faiss_out: Any = None
    for _ in range(args.repeat):
        found, wall, cpu = timed(lambda: index.search(queries, r, threads=args.threads))
        best["ours"] = min(best["ours"], (wall, cpu))
        faiss_out, wall, cpu = timed(lambda: flat.range_search(sample_codes, r + 1))
        best["faiss"] = min(best["faiss"], (wall, cpu))

    ours_ms = 1e3 * best["ours"][0] / nq
    faiss_ms = 1e3 * best["faiss"][0] / len(sample)
    ours_cpu = 1e3 * best["ours"][1] / nq
    faiss_cpu = 1e3 * best["faiss"][1] / len(sample)
    ours_bph = index.nbytes / n
    faiss_bph = flat.ntotal * flat.code_size / n
    scaled = "" if len(sample) == nq else f"  (on {len(sample):,} sampled queries, scaled)"
    print(
        f"   {'':24s}{'build s':>9s}{'B/hash':>9s}{'queries/s':>12s}{'ms/query':>10s}"
        f"{'CPU ms/q':>10s}{'pairs':>12s}"
    )
    print(
        f"   {'lanterne PdqIndex':24s}{build_s:9.2f}{ours_bph:9.1f}{1e3 / ours_ms:12,.0f}"
        f"{ours_ms:10.4f}{ours_cpu:10.4f}{len(found.query):12,}"
    )
    sampled_pairs = int(faiss_out[0][-1])
    print(
        f"   {'FAISS IndexBinaryFlat':24s}{faiss_build_s:9.2f}{faiss_bph:9.1f}"
        f"{1e3 / faiss_ms:12,.0f}{faiss_ms:10.4f}{faiss_cpu:10.4f}{sampled_pairs:12,}{scaled}"
    )
    print(
        f"   speed: ours / FAISS = {faiss_ms / ours_ms:,.1f}x wall, "
        f"{faiss_cpu / ours_cpu:,.1f}x CPU   (target >= 10x)"
    )
    print(f"   memory: ours / FAISS = {ours_bph / faiss_bph:.2f}x   (target <= 4x, 128 B/hash)")
    print(
        f"   all {nq:,} queries: ours {best['ours'][0]:.1f} s; "
        f"FAISS about {faiss_ms * nq / 1e3:,.0f} s"
    )

    in_sample = np.isin(found.query, sample)
    position = np.searchsorted(sample, found.query[in_sample])
    ours_pairs = set(
        zip(
            position.tolist(),
            found.ids[in_sample].tolist(),
            found.distance[in_sample].astype(np.int64).tolist(),
            strict=True,
        )
    )
    theirs = pairs_faiss(*faiss_out)
    same = ours_pairs == theirs and int(in_sample.sum()) == len(theirs)
    print(
        f"   check on the {len(sample):,} sampled queries: "
        + (
            f"pair sets identical ({len(theirs):,} pairs)"
            if same
            else f"MISMATCH: ours {len(ours_pairs):,}, FAISS {len(theirs):,}, "
            f"{len(ours_pairs - theirs):,} only ours, {len(theirs - ours_pairs):,} only FAISS"
        )
    )
    return same


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--indexed", type=int, default=10_000_000, help="hashes indexed (10 M)")
    ap.add_argument("--queries", type=int, default=100_000, help="queries searched (100 k)")
    ap.add_argument("--threads", type=int, default=2, help="threads, ours and FAISS's (2)")
    ap.add_argument("--max-distance", type=int, default=31, help="Hamming radius, ≤ (31)")
    ap.add_argument(
        "--faiss-sample", type=int, default=2000, help="queries FAISS is timed on (2000)"
    )
    ap.add_argument(
        "--data", choices=("both", "realistic", "random"), default="both", help="data (both)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="interleaved rounds; best kept (1)")
    ap.add_argument("--seed", type=int, default=20240607)
    args = ap.parse_args()

    faiss.omp_set_num_threads(args.threads)
    warm = np.random.default_rng(0).integers(0, 2**63, size=(300, 4), dtype=U64)
    PdqIndex.build(warm, np.arange(300), slices=11).search(warm, method="index")  # compile
    print(
        f"PDQ range search: {args.indexed:,} indexed, {args.queries:,} queries, "
        f"FAISS {faiss.__version__}, numba {numba.__version__}"
    )
    kinds = ("realistic", "random") if args.data == "both" else (args.data,)
    ok = [bench(kind, args) for kind in kinds]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    raise SystemExit(main())
