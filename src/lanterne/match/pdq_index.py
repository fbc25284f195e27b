"""Exact range search over PDQ hashes: every indexed hash within a Hamming distance of a query.

:class:`PdqIndex` answers exactly what comparing every query with every indexed hash would
(every pair at distance ≤ ``max_distance``, repeated hashes under each of their ids), about
100 times faster than FAISS's brute force ``IndexBinaryFlat`` on 10 M hashes, at 89 bytes per
hash (``benchmarks/bench_pdq.py``). Nothing is approximate.

**Scheme: multi-index hashing** (Norouzi, Punjani & Fleet, 2012). The 256 bits are cut into
``m`` contiguous slices of widths ``w_i``. For any radii ``t_i`` with
``sum(t_i + 1) ≥ r + 1``, two hashes within ``r`` bits are within ``t_i`` bits on at least one
slice ``i`` (else they would differ in ``sum(t_i + 1) > r`` bits): the generalised pigeonhole.
Each slice has a table of the rows sorted by its value; a query reads, on every slice, the
buckets of all values within ``t_i`` of its own, and compares each row found (a candidate) on
all 256 bits with POPCNT. A pair is kept only from the first slice, in slice order, within its
radius, so that a row found on several slices counts once, without a set of rows seen.

**Choosing m** (for ``r = 31``, ``n = 10 M``). Reading a bucket costs two cache misses (its
bounds, its first entries), a candidate one (its 32 bytes, at random); the memory is the hash
(32 B), the id (8 B), an int32 row table per slice and the bucket bounds. Measured (random
hashes, one thread of the 2-core EPYC VM, CPU time per query; FAISS needs 18-30 ms; the first
row estimated):

==========================  ===================  =========  ==========  =======  ========
slices × bits               radius × slices       buckets    candidates  B/hash   ms/query
==========================  ===================  =========  ==========  =======  ========
32 × 8                      0 (one slice equal)        32       1.25 M     164     ≈ 44
20 × 12-13                  1 × 12, 0 × 8             176     220,000     116       8.3
16 × 16                     1                         272      41,500     100       1.66
13 × 19-20                  2 × 6, 1 × 7            1,409      14,200      93       0.65
12 × 21-22                  2 × 8, 1 × 4            1,944       7,300      94       0.43
**11 × 23-24**              2 × 10, 1 × 1           2,342       2,900      89       0.32
10 × 25-26                  3 × 2, 2 × 8            4,980       1,500      84       0.57
==========================  ===================  =========  ==========  =======  ========

Narrow slices read few buckets but each holds ``n / 2**w`` rows, all candidates (8-bit
slices: an eighth of the set per query, worse than a scan); wide slices make few candidates
but the ball of radius ``t`` has ``C(w, ≤ t)`` values. The optimum is slices of about
``log2 n`` bits (the paper's ``m ≈ 256 / log2 n``): 11 at 10 M, 13 at 1 M, 10 at 100 M.
:func:`choose_slices` finds it from this cost model (:func:`plan`; fitted, and ranking the
measured rows above in order) within :data:`MEMORY_BUDGET` bytes per hash, and :func:`plan`
picks the radii per search (any ``max_distance``: the cheapest increments of one ``t_i``,
greedily; ``max_distance`` 0 probes one slice only). Where the plan costs more than a scan
(wide radii: from 59 bits at 10 M), :meth:`PdqIndex.search` scans instead, exactly too.

**Memory.** A 24-bit slice addressed in full needs ``2**24`` int32 bounds (64 MiB): 47 B a
hash over 11 slices at 10 M. So a bucket table addresses only the top ``b ≈ log2(n / 4)`` bits
of its slice (21 at 10 M: 8 MiB a slice, about 5 entries a bucket), and the slice's remaining
low bits are kept in the row table's entries, above the row number (an int32 entry holds a
24-bit row and up to 7 low bits), so that a bucket is filtered on them without reading any
hash. The rows themselves are kept in the order of the first slice, which then needs no row
table. At 10 M: 32 + 8 + 10 × 4 + 11 × 8 MiB / 10 M = 89 B a hash (FAISS: 32; the target was
≤ 128 all included, 4× FAISS's).

**Kernel.** Per query and slice, three phases: the bounds of all its buckets, then the buckets
(their entries filtered into a list of candidates without a branch on what is read), then the
candidates' hashes; each phase's reads are prefetched and independent, so their memory
latencies overlap (one after the other behind unpredictable branches, they cost three times
more). The compiled kernels (numba, ``nogil``) are serial and a thread pool shares the queries
among ``threads``: numba's ``prange`` would do the same, but a cold compile took 20 s rather
than 8, and its default ``workqueue`` layer is not safe for concurrent callers. Each query
gets 32 result slots; the rare query with more runs again into its exact place.

**Build.** Per slice, a stable LSD radix sort of ``value << 32 | row`` (13-bit digits, so that
the scatter's open lines stay in L2), slices sorted in parallel: 10 M hashes in 5-7 s on two
cores. :meth:`PdqIndex.to_arrays` / :meth:`PdqIndex.from_arrays` give and take plain numpy
arrays (``np.savez`` / ``np.load(allow_pickle=False)``: :meth:`PdqIndex.save`,
:meth:`PdqIndex.load`); loading checks every bound the kernels rely on.

**Bits.** Hashes are ``(n, 4)`` uint64 words or ``(n, 32)`` uint8, word ``k`` being hex
digits ``16k … 16k + 15`` of ThreatExchange's 64-hex text (the bytes of
:func:`lanterne.analyze.picture.pdq_hex`, i.e. ``np.packbits`` of ``pdqhash``'s vector):
:func:`hex_to_bits`, :func:`bits_to_hex`. Hamming distance ignores the order; the slices only
need to be the same for queries and index. Dihedral matching is the caller's: it searches the
eight variants of each picture at once.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numba
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numpy.typing import NDArray

__all__ = [
    "DEFAULT_MAX_DISTANCE",
    "MEMORY_BUDGET",
    "Matches",
    "PdqIndex",
    "as_words",
    "bits_to_bytes",
    "bits_to_hex",
    "bytes_to_bits",
    "choose_slices",
    "hex_to_bits",
    "slicing",
]

BITS = 256
WORDS = BITS // 64
HEX_CHARS = BITS // 4
DEFAULT_MAX_DISTANCE = 31
#: Bytes per indexed hash, everything counted, that :func:`choose_slices` keeps within when it
#: can (the requirement is 128 all included; the margin is for the search's own buffers).
MEMORY_BUDGET = 112
MIN_SLICES = 10  # at most 26 bits per slice
MAX_SLICES = 32  # 8-bit slices: with 32 of them a distance ≤ 31 needs one slice equal
FORMAT_VERSION = 1

# Relative costs per query, for planning (fitted to timings on a 2-core EPYC VM with 10 M
# random hashes, one thread; a unit is about 36 ns): reading a bucket (its bounds and its first
# line: two cache misses, prefetched), each entry of a bucket (sequential), a candidate (an
# indexed hash read at random, prefetched, and compared) and a row of a plain scan (sequential,
# shared by a block of queries: 2.5 ns).
PROBE_COST = 2.0
ENTRY_COST = 0.1
CANDIDATE_COST = 1.0
SCAN_ROW_COST = 0.07

_BATCH = 1 << 16  # queries per kernel call
_CAP = 32  # result slots per query in a first pass; a query with more runs again, sized
_MIN_CHUNK = 256  # queries per task of a thread at least
_SCAN_QUERY_BLOCK = 16  # queries the scan compares at once, against …
_SCAN_ROW_BLOCK = 4096  # … rows at a time (128 KiB: the block stays in L2)
_RADIX_BITS = 13  # digit of the build's radix sort: 8192 buckets, their write lines fit L2
_KEY_ROW_BITS = 31  # a result is packed as distance << 31 | row
_KEY_ROW_MASK = (1 << _KEY_ROW_BITS) - 1
_MAX_PROBES = 1 << 20  # buckets a query reads at most; beyond, the search scans


# --- hash conversions --------------------------------------------------------------------------


def hex_to_bits(hexes: Sequence[str]) -> NDArray[np.uint64]:
    """PDQ hashes as 64 hex characters (ThreatExchange's text) to an ``(n, 4)`` uint64 array.

    Word ``k`` of a row is ``int(text[16 * k : 16 * k + 16], 16)``: the first word holds the
    first 16 hex digits, so the bits keep the order of the text (and of ``pdqhash``'s vector,
    bit 255 first). Upper-case digits are accepted; anything else raises :class:`ValueError`.
    """
    n = len(hexes)
    raw = b""
    try:
        if all(len(h) == HEX_CHARS for h in hexes):
            raw = bytes.fromhex("".join(hexes))
    except (TypeError, ValueError):
        raw = b""
    if len(raw) != n * (BITS // 8):  # bytes.fromhex skips spaces: a count that falls short
        for i, h in enumerate(hexes):
            if not _is_pdq_hex(h):
                raise ValueError(f"hash {i} is not 64 hex characters: {h!r:.80}")
        raise ValueError("not 64 hex characters each")  # pragma: no cover - caught above
    return np.frombuffer(raw, dtype=">u8").reshape(n, WORDS).astype(np.uint64)


def _is_pdq_hex(h: object) -> bool:
    if not isinstance(h, str) or len(h) != HEX_CHARS:
        return False
    try:
        return len(bytes.fromhex(h)) == BITS // 8
    except ValueError:
        return False


def bits_to_hex(bits: NDArray[Any]) -> list[str]:
    """The 64-hex (lower-case) text of each hash of an ``(n, 4)`` uint64 or ``(n, 32)`` uint8
    array; the inverse of :func:`hex_to_bits`."""
    text = bits_to_bytes(bits).tobytes().hex()
    return [text[i : i + HEX_CHARS] for i in range(0, len(text), HEX_CHARS)]


def bytes_to_bits(data: NDArray[np.uint8]) -> NDArray[np.uint64]:
    """``(n, 32)`` uint8 (the bytes of the hex text, e.g. ``np.packbits`` of ``pdqhash``'s bit
    vectors) to ``(n, 4)`` uint64 words."""
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != BITS // 8:
        raise ValueError(f"expected uint8 of shape (n, 32), not {data.dtype} {data.shape}")
    return np.ascontiguousarray(data).view(">u8").astype(np.uint64)


def bits_to_bytes(bits: NDArray[Any]) -> NDArray[np.uint8]:
    """``(n, 4)`` uint64 words to ``(n, 32)`` uint8, the bytes of the hex text."""
    words = as_words(bits)
    return words.astype(">u8").view(np.uint8).reshape(len(words), BITS // 8)


def as_words(hashes: NDArray[Any]) -> NDArray[np.uint64]:
    """``(n, 4)`` uint64, C-contiguous, from ``(n, 4)`` uint64 or ``(n, 32)`` uint8 hashes."""
    arr = np.asarray(hashes)
    if arr.ndim == 2 and arr.dtype == np.uint8 and arr.shape[1] == BITS // 8:
        return bytes_to_bits(arr)
    if arr.ndim == 2 and arr.dtype == np.uint64 and arr.shape[1] == WORDS:
        return np.ascontiguousarray(arr)
    raise ValueError(
        f"PDQ hashes must be uint64 (n, 4) or uint8 (n, 32), not {arr.dtype} {arr.shape}"
    )


# --- slicing and planning ----------------------------------------------------------------------


def row_bits(n: int) -> int:
    """Bits a row number of an ``n``-hash index takes (at least 1)."""
    return max(1, (n - 1).bit_length())


def slicing(n: int, slices: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The slice widths (the 256 bits cut into ``slices`` contiguous slices, the wider first)
    and, per slice, how many of its top bits address its bucket table.

    A bucket table has ``2**bits + 1`` int32 bounds; bits are capped near ``log2(n / 4)``
    (about four entries a bucket, the table no bigger than the rows) and the slice's remaining
    low bits are kept in its row table's entries, above the row number, as long as they fit
    in the 31 bits of an int32 entry."""
    if not MIN_SLICES <= slices <= 64:
        raise ValueError(f"slices must be between {MIN_SLICES} and 64, not {slices}")
    base, extra = divmod(BITS, slices)
    widths = np.array([base + 1] * extra + [base] * (slices - extra), dtype=np.int64)
    cap = max(1, int(math.log2(max(n, 8) / 4)))
    spare = 31 - row_bits(n)
    bucket_bits = np.array([min(w, max(cap, w - spare)) for w in widths], dtype=np.int64)
    return widths, bucket_bits


def bytes_per_hash(n: int, widths: NDArray[np.int64], bucket_bits: NDArray[np.int64]) -> float:
    """Memory per indexed hash: hash and id, one int32 row table per slice but the first (the
    rows themselves are kept in its order) and the bucket bounds."""
    bounds = sum((1 << int(b)) + 1 for b in bucket_bits) * 4
    return BITS // 8 + 8 + 4 * (len(widths) - 1) + bounds / max(n, 1)


def plan(
    widths: NDArray[np.int64], bucket_bits: NDArray[np.int64], n: int, max_distance: int
) -> tuple[NDArray[np.int64], float]:
    """Per-slice search radii for an exact search within ``max_distance``, and their cost.

    Any radii ``t_i`` (``-1``: slice not searched) with ``sum(t_i + 1) >= max_distance + 1``
    are exact (pigeonhole: a pair within ``t_i`` on no slice differs in at least
    ``sum(t_i + 1)`` bits). Raising ``t_i`` to ``t`` adds ``C(b_i, t)`` buckets to read (``b_i``
    top bits; ``n / 2**b_i`` entries each) and ``C(w_i, t) * n / 2**w_i`` candidates; these
    increments grow with ``t`` (below ``w_i / 2``), so taking the cheapest one
    ``max_distance + 1`` times gives the cheapest radii.
    """
    ws = [int(w) for w in widths]
    bs = [int(b) for b in bucket_bits]
    radii = [-1] * len(ws)
    cost = 0.0

    def step(i: int) -> float:
        t = radii[i] + 1
        if t > ws[i]:
            return math.inf
        buckets = math.comb(bs[i], t) * (PROBE_COST + ENTRY_COST * n / 2.0 ** bs[i])
        return buckets + math.comb(ws[i], t) * CANDIDATE_COST * n / 2.0 ** ws[i]

    for _ in range(min(max_distance, BITS) + 1):
        best = min(range(len(ws)), key=step)
        c = step(best)
        if math.isinf(c):  # every slice enumerated in full
            return np.array(radii, dtype=np.int64), math.inf
        radii[best] += 1
        cost += c
    return np.array(radii, dtype=np.int64), cost


@functools.lru_cache(maxsize=64)
def _ball(bits: int, radius: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Every ``bits``-wide mask with at most ``radius`` ones (fewest first), and for each,
    ``radius`` minus its ones."""
    masks: list[int] = []
    left: list[int] = []
    for k in range(min(radius, bits) + 1):
        for ones in itertools.combinations(range(bits), k):
            masks.append(sum(1 << i for i in ones))
            left.append(radius - k)
    return tuple(masks), tuple(left)


def _probe_count(bucket_bits: NDArray[np.int64], radii: NDArray[np.int64]) -> int:
    return sum(
        sum(math.comb(int(b), k) for k in range(int(t) + 1))
        for b, t in zip(bucket_bits, radii, strict=True)
    )


def _probe_tables(
    bucket_bits: NDArray[np.int64], radii: NDArray[np.int64]
) -> tuple[NDArray[np.int64], ...]:
    """Per slice, where its bucket masks and low-bit budgets start, how many, and the masks
    and budgets of all slices concatenated."""
    base: list[int] = []
    count: list[int] = []
    masks: list[int] = []
    left: list[int] = []
    for b, t in zip(bucket_bits, radii, strict=True):
        base.append(len(masks))
        if t < 0:
            count.append(0)
            continue
        m, lft = _ball(int(b), int(t))
        count.append(len(m))
        masks.extend(m)
        left.extend(lft)
    return (
        np.array(base, dtype=np.int64),
        np.array(count, dtype=np.int64),
        np.array(masks, dtype=np.int64),
        np.array(left, dtype=np.int64),
    )


def choose_slices(n: int, budget: float = MEMORY_BUDGET) -> int:
    """How many slices to cut the hashes into for an index of ``n`` hashes: the cheapest plan
    for ``DEFAULT_MAX_DISTANCE`` within ``budget`` bytes per hash, or, when no slicing fits
    (tiny ``n``, where the bucket tables dominate), the one with the least memory."""
    best: tuple[bool, float, int] | None = None
    for m in range(MIN_SLICES, MAX_SLICES + 1):
        widths, bucket_bits = slicing(n, m)
        mem = bytes_per_hash(n, widths, bucket_bits)
        over = mem > budget
        cost = mem if over else plan(widths, bucket_bits, n, DEFAULT_MAX_DISTANCE)[1]
        if best is None or (over, cost, m) < best:
            best = (over, cost, m)
    assert best is not None
    return best[2]


# --- compiled kernels --------------------------------------------------------------------------


def _popcount_typer(typingctx: Any, x: Any) -> Any:
    """LLVM's ctpop: one POPCNT instruction on x86-64."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return x(x), codegen


_popcount: Any = intrinsic(_popcount_typer)


def _prefetch_typer(typingctx: Any, arr: Any, i: Any, j: Any) -> Any:
    """Ask for the cache line of ``arr[i]`` (1-D) or ``arr[i, j]`` (2-D), and go on (LLVM's
    prefetch: PREFETCHT0 on x86-64)."""
    if not isinstance(arr, types.Array) or arr.ndim not in (1, 2):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index = [
            context.cast(builder, args[k + 1], signature.args[k + 1], types.intp)
            for k in range(aryty.ndim)
        ]
        cg: Any = cgutils  # untyped
        ptr = cg.get_item_pointer(context, builder, aryty, ary, index, wraparound=False)
        i32 = ir.IntType(32)
        byte_ptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        fn = cg.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, keep in every cache level, data
        builder.call(fn, [builder.bitcast(ptr, byte_ptr), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, i, j), codegen


_prefetch: Any = intrinsic(_prefetch_typer)


@numba.njit(nogil=True, cache=True, inline="always")
def _slice_value(h: Any, r: Any, start: Any, width: Any) -> Any:
    """Bits ``start .. start + width`` of row ``r`` (bit 0: the lowest of word 0)."""
    word = start >> 6
    off = start & 63
    v = h[r, word] >> np.uint64(off)
    if off + width > 64:
        v |= h[r, word + 1] << np.uint64(64 - off)
    return np.int64(v & ((np.uint64(1) << np.uint64(width)) - np.uint64(1)))


@numba.njit(nogil=True, cache=True)
def _sort_slice(hashes: Any, start: Any, width: Any) -> Any:
    """``value << 32 | row`` for every row, in increasing order: a stable LSD radix sort, one
    pass per digit of at most 13 bits (so that the lines the scatter writes stay in L2), the
    digits' histograms all counted in the first pass."""
    n = hashes.shape[0]
    items = np.empty(n, dtype=np.uint64)
    passes = max(1, (width + _RADIX_BITS - 1) // _RADIX_BITS)
    digit = (width + passes - 1) // passes
    dmask = np.uint64((1 << digit) - 1)
    hist = np.zeros((passes, (1 << digit) + 1), dtype=np.int64)
    for r in range(n):
        key = np.uint64(_slice_value(hashes, r, start, width))
        items[r] = (key << np.uint64(32)) | np.uint64(r)
        for ps in range(passes):
            hist[ps, np.int64((key >> np.uint64(ps * digit)) & dmask) + 1] += 1
    other = np.empty_like(items)
    for ps in range(passes):
        h = hist[ps]
        for b in range(1 << digit):
            h[b + 1] += h[b]
        shift = np.uint64(32 + ps * digit)
        for i in range(n):
            item = items[i]
            d = np.int64((item >> shift) & dmask)
            pos = h[d]
            h[d] = pos + 1
            other[pos] = item
        items, other = other, items
    return items


@numba.njit(nogil=True, cache=True)
def _bucket_bounds(items: Any, low_bits: int, offsets: Any, base: int, bucket_bits: int) -> None:
    """``offsets[base + b]``: the first position of the sorted ``items`` whose value's top bits
    are ≥ ``b``."""
    n = items.shape[0]
    shift = np.uint64(32 + low_bits)
    p = 0
    for b in range((np.int64(1) << bucket_bits) + 1):
        while p < n and np.int64(items[p] >> shift) < b:
            p += 1
        offsets[base + b] = p


@numba.njit(nogil=True, cache=True)
def _first_slice(hashes: Any, start: int, width: int, bucket_bits: int, offsets: Any) -> Any:
    """The rows sorted by the first slice (the order the index keeps them in; as
    ``value << 32 | row``), and that slice's bucket bounds into ``offsets[: 2**bits + 1]``."""
    items = _sort_slice(hashes, start, width)
    _bucket_bounds(items, width - bucket_bits, offsets, 0, bucket_bits)
    return items


@numba.njit(nogil=True, cache=True)
def _take_rows(hashes: Any, ids: Any, order: Any, out_hashes: Any, out_ids: Any) -> None:
    """``out[i] = in[row]`` for hashes and ids, ``row`` the low half of ``order[i]`` (numpy's
    fancy indexing of 32-byte rows is several times slower)."""
    for i in range(order.shape[0]):
        r = np.int64(order[i] & np.uint64(0xFFFFFFFF))
        out_ids[i] = ids[r]
        for k in range(WORDS):
            out_hashes[i, k] = hashes[r, k]


@numba.njit(nogil=True, cache=True)
def _slice_table(
    hashes: Any,
    start: int,
    width: int,
    bucket_bits: int,
    entry_row_bits: int,
    offsets: Any,
    base: int,
    perm: Any,
) -> None:
    """A slice's bucket bounds, into ``offsets[base:]``, and its rows in order of value into
    ``perm`` as ``low bits << entry_row_bits | row``; the rows are already in the first
    slice's order."""
    items = _sort_slice(hashes, start, width)
    low_bits = width - bucket_bits
    _bucket_bounds(items, low_bits, offsets, base, bucket_bits)
    low_mask = np.uint64((1 << low_bits) - 1)
    for p in range(items.shape[0]):
        item = items[p]
        low = (item >> np.uint64(32)) & low_mask
        perm[p] = np.int64((low << np.uint64(entry_row_bits)) | (item & np.uint64(0xFFFFFFFF)))


@numba.njit(nogil=True, cache=True)
def _mih_search(
    queries: Any,
    qsel: Any,
    hashes: Any,
    perm: Any,
    offsets: Any,
    off_base: Any,
    starts: Any,
    widths: Any,
    bucket_bits: Any,
    entry_row_bits: int,
    masks: Any,
    radii: Any,
    flip_base: Any,
    flip_count: Any,
    flips: Any,
    budgets: Any,
    max_distance: int,
    out_start: Any,
    out_cap: Any,
    out_key: Any,
    counts: Any,
) -> None:
    """Multi-index search of the queries ``qsel``.

    For each slice with a radius ``t``, every bucket whose top bits are within ``t`` of the
    query's (the masks ``flips[flip_base[s]:][:flip_count[s]]``) is read, and its entries whose
    low bits are within what is left of ``t`` (``budgets``) are candidates; each is compared on
    all 256 bits and kept only if this is the first slice, in slice order, within its radius of
    the query, so that a row reached by several slices is kept once. Query ``j`` writes up to
    ``out_cap[j]`` keys (``distance << 31 | row``, sorted) from ``out_key[out_start[j]]``, and
    its full count to ``counts[j]``.

    Per slice, the bounds of all the buckets are read first, then the buckets, then the
    candidates' hashes, without a branch on what is read: the reads of a phase do not wait on
    each other and their memory latencies overlap (read one after the other behind
    unpredictable branches, they cost about three times more).
    """
    m = starts.shape[0]
    nq = qsel.shape[0]
    row_mask = (np.int64(1) << entry_row_bits) - 1
    max_probes = flip_count.max()
    los = np.empty(max_probes, dtype=np.int64)
    his = np.empty(max_probes, dtype=np.int64)
    cands = np.empty(8 * max_probes, dtype=np.int64)
    for j in range(nq):
        qi = qsel[j]
        q0 = queries[qi, 0]
        q1 = queries[qi, 1]
        q2 = queries[qi, 2]
        q3 = queries[qi, 3]
        base = out_start[j]
        cap = out_cap[j]
        cnt = 0
        for s in range(m):
            if radii[s] < 0:
                continue
            low_bits = widths[s] - bucket_bits[s]
            v = _slice_value(queries, qi, starts[s], widths[s])
            v_top = v >> low_bits
            v_low = np.uint64(v & ((np.int64(1) << low_bits) - 1))
            ob = off_base[s]
            fb = flip_base[s]
            probes = flip_count[s]
            for i in range(probes):
                top = ob + (v_top ^ flips[fb + i])
                los[i] = top
                _prefetch(offsets, top, 0)
            for i in range(probes):
                top = los[i]
                lo = offsets[top]
                hi = offsets[top + 1]
                los[i] = lo
                his[i] = hi
                if lo < hi:
                    if s == 0:
                        _prefetch(hashes, lo, 0)
                    else:
                        _prefetch(perm, s - 1, lo)
            total = 0
            for i in range(probes):
                total += his[i] - los[i]
            if total > cands.shape[0]:
                cands = np.empty(2 * total, dtype=np.int64)
            found = 0
            for i in range(probes):
                budget = budgets[fb + i]
                for p in range(los[i], his[i]):
                    if s == 0:
                        cands[found] = p
                        low = np.uint64(_slice_value(hashes, p, starts[0], low_bits))
                    else:
                        e = np.int64(perm[s - 1, p])
                        cands[found] = e & row_mask
                        low = np.uint64(e >> entry_row_bits)
                    found += np.int64(_popcount(low ^ v_low)) <= budget
            for i in range(found):
                _prefetch(hashes, cands[i], 0)
            for i in range(found):
                row = cands[i]
                x0 = q0 ^ hashes[row, 0]
                x1 = q1 ^ hashes[row, 1]
                x2 = q2 ^ hashes[row, 2]
                x3 = q3 ^ hashes[row, 3]
                d = np.int64(_popcount(x0) + _popcount(x1) + _popcount(x2) + _popcount(x3))
                if d > max_distance:
                    continue
                first = True
                for s2 in range(s):
                    t2 = radii[s2]
                    if t2 >= 0:
                        d2 = (
                            _popcount(x0 & masks[s2, 0])
                            + _popcount(x1 & masks[s2, 1])
                            + _popcount(x2 & masks[s2, 2])
                            + _popcount(x3 & masks[s2, 3])
                        )
                        if np.int64(d2) <= t2:
                            first = False
                            break
                if first:
                    if cnt < cap:
                        out_key[base + cnt] = (d << _KEY_ROW_BITS) | row
                    cnt += 1
        counts[j] = cnt
        if 1 < cnt <= cap:
            out_key[base : base + cnt].sort()


@numba.njit(nogil=True, cache=True)
def _scan_search(
    queries: Any,
    qsel: Any,
    hashes: Any,
    max_distance: int,
    out_start: Any,
    out_cap: Any,
    out_key: Any,
    counts: Any,
) -> None:
    """Brute force, same output as :func:`_mih_search`, where probing would cost more: blocks
    of queries against blocks of rows, so that each block of rows is read from cache."""
    n = hashes.shape[0]
    nq = qsel.shape[0]
    for lo in range(0, nq, _SCAN_QUERY_BLOCK):
        hi = min(lo + _SCAN_QUERY_BLOCK, nq)
        cnts = np.zeros(_SCAN_QUERY_BLOCK, dtype=np.int64)
        for r0 in range(0, n, _SCAN_ROW_BLOCK):
            r1 = min(r0 + _SCAN_ROW_BLOCK, n)
            for j in range(lo, hi):
                qi = qsel[j]
                q0 = queries[qi, 0]
                q1 = queries[qi, 1]
                q2 = queries[qi, 2]
                q3 = queries[qi, 3]
                base = out_start[j]
                cap = out_cap[j]
                cnt = cnts[j - lo]
                for row in range(r0, r1):
                    d = np.int64(
                        _popcount(q0 ^ hashes[row, 0])
                        + _popcount(q1 ^ hashes[row, 1])
                        + _popcount(q2 ^ hashes[row, 2])
                        + _popcount(q3 ^ hashes[row, 3])
                    )
                    if d <= max_distance:
                        if cnt < cap:
                            out_key[base + cnt] = (d << _KEY_ROW_BITS) | row
                        cnt += 1
                cnts[j - lo] = cnt
        for j in range(lo, hi):
            cnt = cnts[j - lo]
            counts[j] = cnt
            if 1 < cnt <= out_cap[j]:
                out_key[out_start[j] : out_start[j] + cnt].sort()


# --- the index ---------------------------------------------------------------------------------


class Matches(NamedTuple):
    """Every (query, indexed hash) pair within the distance: grouped by query in query order,
    then by increasing distance, then in an order fixed by the index."""

    query: NDArray[np.int64]  # position of the query in the array searched
    ids: NDArray[np.int64]  # the id given with the indexed hash
    distance: NDArray[np.int16]


def _empty_matches() -> Matches:
    return Matches(
        np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int16)
    )


def _bases(sizes: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)


class PdqIndex:
    """An exact Hamming range-search index of PDQ hashes with an int64 id each.

    Built once (:meth:`build`), searched many times (:meth:`search` only reads), kept as plain
    arrays (:meth:`to_arrays`, :meth:`save`).
    """

    __slots__ = (
        "_masks",
        "_off_base",
        "_starts",
        "bucket_bits",
        "hashes",
        "ids",
        "offsets",
        "perm",
        "widths",
    )

    def __init__(
        self,
        hashes: NDArray[np.uint64],
        ids: NDArray[np.int64],
        widths: NDArray[np.int64],
        bucket_bits: NDArray[np.int64],
        offsets: NDArray[np.int32],
        perm: NDArray[np.int32],
    ) -> None:
        """Use :meth:`build` or :meth:`from_arrays`: this trusts its arguments."""
        self.hashes = hashes  # rows in order of their first slice's value
        self.ids = ids
        self.widths = widths
        self.bucket_bits = bucket_bits
        self.offsets = offsets  # per slice, 2**bucket_bits + 1 bucket bounds; concatenated
        self.perm = perm  # (slices - 1, n): per slice, low bits << row_bits | row, by value
        self._starts = _bases(widths)
        self._off_base = _bases((np.int64(1) << bucket_bits) + 1)
        masks = np.zeros((len(widths), WORDS), dtype=np.uint64)
        for s, (start, width) in enumerate(zip(self._starts, widths, strict=True)):
            for bit in range(int(start), int(start + width)):
                masks[s, bit >> 6] |= np.uint64(1) << np.uint64(bit & 63)
        self._masks = masks

    # construction

    @classmethod
    def build(
        cls,
        hashes: NDArray[Any],
        ids: NDArray[Any],
        *,
        slices: int | None = None,
        threads: int | None = None,
    ) -> PdqIndex:
        """Index ``hashes`` (``(n, 4)`` uint64 or ``(n, 32)`` uint8) under ``ids`` (``n``
        integers; a hash may come several times, under the same id or not). ``slices``: how
        many slices (10 … 64) to cut the bits into; by default :func:`choose_slices` of ``n``.
        ``threads``: how many build slice tables at once (default: one per usable core). The
        index keeps its own copy of the hashes (in its own order)."""
        words = as_words(hashes)
        id_arr = np.asarray(ids)
        n = len(words)
        if id_arr.shape != (n,) or not np.issubdtype(id_arr.dtype, np.integer):
            raise ValueError(f"ids must be {n} integers, not {id_arr.dtype} {id_arr.shape}")
        if n > _KEY_ROW_MASK:
            raise ValueError(f"at most {_KEY_ROW_MASK} hashes per index, not {n}")
        widths, bucket_bits = slicing(n, choose_slices(n) if slices is None else slices)
        starts = _bases(widths)
        off_base = _bases((np.int64(1) << bucket_bits) + 1)
        offsets = np.empty(int(off_base[-1] + (1 << int(bucket_bits[-1])) + 1), dtype=np.int32)
        order = _first_slice(words, starts[0], widths[0], bucket_bits[0], offsets)
        kept = np.empty_like(words)
        kept_ids = np.empty(n, dtype=np.int64)
        perm = np.empty((len(widths) - 1, n), dtype=np.int32)
        threads = _thread_count(threads)
        step = max(1, -(-n // threads))
        with ThreadPoolExecutor(threads) as pool:
            jobs = [
                pool.submit(
                    _take_rows,
                    words,
                    id_arr.astype(np.int64, copy=False),
                    order[a : a + step],
                    kept[a : a + step],
                    kept_ids[a : a + step],
                )
                for a in range(0, n, step)
            ]
            for job in jobs:
                job.result()
            del order
            args = (kept, starts, widths, bucket_bits, row_bits(n), offsets, off_base, perm)
            jobs = [pool.submit(_slice_table, *_one_slice(s, *args)) for s in range(1, len(widths))]
            for job in jobs:
                job.result()
        return cls(kept, kept_ids, widths, bucket_bits, offsets, perm)

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """The index as plain numpy arrays (for ``np.savez``; :meth:`from_arrays` inverts)."""
        return {
            "version": np.array([FORMAT_VERSION], dtype=np.int64),
            "hashes": self.hashes,
            "ids": self.ids,
            "widths": self.widths,
            "bucket_bits": self.bucket_bits,
            "offsets": self.offsets,
            "perm": self.perm,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[Any]]) -> PdqIndex:
        """The index :meth:`to_arrays` gave. Types, shapes and every bound the compiled search
        relies on are checked: a damaged index raises :class:`ValueError` rather than let the
        search read outside its arrays."""
        try:
            version = np.asarray(arrays["version"])
            hashes = np.ascontiguousarray(arrays["hashes"])
            ids = np.ascontiguousarray(arrays["ids"])
            widths = np.ascontiguousarray(arrays["widths"])
            bucket_bits = np.ascontiguousarray(arrays["bucket_bits"])
            offsets = np.ascontiguousarray(arrays["offsets"])
            perm = np.ascontiguousarray(arrays["perm"])
        except KeyError as e:
            raise ValueError(f"not a PDQ index: no {e.args[0]!r} array") from e
        if version.shape != (1,) or int(version[0]) != FORMAT_VERSION:
            raise ValueError(f"PDQ index format {version!r}, expected [{FORMAT_VERSION}]")
        if hashes.dtype != np.uint64 or hashes.ndim != 2 or hashes.shape[1] != WORDS:
            raise ValueError(f"hashes: uint64 (n, 4) expected, not {hashes.dtype} {hashes.shape}")
        n = len(hashes)
        if ids.dtype != np.int64 or ids.shape != (n,):
            raise ValueError(f"ids: int64 ({n},) expected, not {ids.dtype} {ids.shape}")
        m = len(widths)
        if (
            widths.dtype != np.int64
            or widths.ndim != 1
            or not MIN_SLICES <= m <= 64
            or int(widths.sum()) != BITS
            or widths.min() < 1
            or widths.max() > 30
            or bucket_bits.dtype != np.int64
            or bucket_bits.shape != (m,)
            or np.any(bucket_bits < 0)
            or np.any(bucket_bits > widths)
            or np.any(widths - bucket_bits > 31 - row_bits(n))
        ):
            raise ValueError(f"not a slicing of the 256 bits: {widths!r}, {bucket_bits!r}")
        sizes = (np.int64(1) << bucket_bits) + 1
        if offsets.dtype != np.int32 or offsets.shape != (int(sizes.sum()),):
            raise ValueError(f"offsets: int32 ({int(sizes.sum())},) expected")
        if perm.dtype != np.int32 or perm.shape != (m - 1, n):
            raise ValueError(f"perm: int32 ({m - 1}, {n}) expected")
        for bounds in np.split(offsets, np.cumsum(sizes)[:-1]):
            if bounds[0] != 0 or bounds[-1] != n or np.any(bounds[1:] < bounds[:-1]):
                raise ValueError("offsets: bucket bounds out of order")
        if perm.size and (perm.min() < 0 or (perm & ((1 << row_bits(n)) - 1)).max() >= n):
            raise ValueError("perm: row out of range")
        return cls(hashes, ids, widths, bucket_bits, offsets, perm)

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_arrays` to ``path`` as an uncompressed ``.npz`` (no pickle)."""
        with Path(path).open("wb") as f:
            savez: Any = np.savez  # numpy's stub reads a keyword array as allow_pickle
            savez(f, **self.to_arrays())

    @classmethod
    def load(cls, path: str | Path) -> PdqIndex:
        """Read what :meth:`save` wrote (``allow_pickle=False``; the zip's CRCs are checked)."""
        with np.load(Path(path), allow_pickle=False) as z:
            return cls.from_arrays({name: z[name] for name in z.files})

    # figures

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def slices(self) -> int:
        return len(self.widths)

    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays."""
        return sum(
            a.nbytes
            for a in (
                self.hashes,
                self.ids,
                self.widths,
                self.bucket_bits,
                self.offsets,
                self.perm,
                self._starts,
                self._off_base,
                self._masks,
            )
        )

    # search

    def search(
        self,
        queries: NDArray[Any],
        max_distance: int = DEFAULT_MAX_DISTANCE,
        *,
        method: str = "auto",
        threads: int | None = None,
    ) -> Matches:
        """Every (query, indexed hash) pair at Hamming distance ≤ ``max_distance``: exactly the
        brute-force answer. ``queries``: ``(q, 4)`` uint64 or ``(q, 32)`` uint8, as many as
        wanted at once. ``method``: ``"index"``, ``"scan"`` (brute force) or ``"auto"``, the
        cheaper for this distance. ``threads``: how many threads share the queries (default:
        one per usable core); the compiled kernels run without the GIL, and any number of
        searches may run at once."""
        words = as_words(queries)
        max_distance = operator.index(max_distance)
        if max_distance < 0:
            raise ValueError(f"max_distance must be ≥ 0, not {max_distance}")
        if method not in ("auto", "index", "scan"):
            raise ValueError(f"method: 'auto', 'index' or 'scan', not {method!r}")
        n, nq = len(self), len(words)
        if n == 0 or nq == 0:
            return _empty_matches()
        radii, cost = plan(self.widths, self.bucket_bits, n, max_distance)
        scan = method == "scan" or (method == "auto" and cost >= n * SCAN_ROW_COST)
        if not scan and _probe_count(self.bucket_bits, radii) > _MAX_PROBES:
            scan = True  # whatever was asked: its tables would not be small
        counts = np.empty(nq, dtype=np.int64)
        keys = []
        run = _Run(self, words, max_distance, radii, scan, _thread_count(threads))
        with run:
            for lo in range(0, nq, _BATCH):
                keys.append(run.batch(lo, min(lo + _BATCH, nq), counts))
        key = np.concatenate(keys)
        return Matches(
            np.repeat(np.arange(nq, dtype=np.int64), counts),
            self.ids[key & _KEY_ROW_MASK],
            (key >> _KEY_ROW_BITS).astype(np.int16),
        )


def _one_slice(
    s: int,
    hashes: NDArray[np.uint64],
    starts: NDArray[np.int64],
    widths: NDArray[np.int64],
    bucket_bits: NDArray[np.int64],
    entry_row_bits: int,
    offsets: NDArray[np.int32],
    off_base: NDArray[np.int64],
    perm: NDArray[np.int32],
) -> tuple[Any, ...]:
    """The arguments of :func:`_slice_table` for slice ``s`` (≥ 1)."""
    return (
        hashes,
        starts[s],
        widths[s],
        bucket_bits[s],
        entry_row_bits,
        offsets,
        off_base[s],
        perm[s - 1],
    )


def _thread_count(threads: int | None) -> int:
    if threads is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)
    if threads < 1:
        raise ValueError(f"threads must be ≥ 1, not {threads}")
    return threads


class _Run:
    """One search: its plan, its threads, its batches of queries."""

    def __init__(
        self,
        index: PdqIndex,
        words: NDArray[np.uint64],
        max_distance: int,
        radii: NDArray[np.int64],
        scan: bool,
        threads: int,
    ) -> None:
        self.words = words
        self.threads = threads
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self.kernel: Any
        if scan:
            self.kernel = _scan_search
            self.before: tuple[Any, ...] = (words,)
            self.after: tuple[Any, ...] = (index.hashes, max_distance)
        else:
            self.kernel = _mih_search
            self.before = (words,)
            self.after = (
                index.hashes,
                index.perm,
                index.offsets,
                index._off_base,
                index._starts,
                index.widths,
                index.bucket_bits,
                row_bits(len(index)),
                index._masks,
                radii,
                *_probe_tables(index.bucket_bits, radii),
                max_distance,
            )

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def batch(self, lo: int, hi: int, counts: NDArray[np.int64]) -> NDArray[np.int64]:
        """Queries ``lo:hi``: their sorted keys; their counts into ``counts[lo:hi]``."""
        k = hi - lo
        qsel = np.arange(lo, hi, dtype=np.int64)
        buf = np.empty(k * _CAP, dtype=np.int64)
        slot_start = np.arange(k, dtype=np.int64) * _CAP
        slot_cap = np.full(k, _CAP, dtype=np.int64)
        cnt = counts[lo:hi]
        self.run(qsel, slot_start, slot_cap, buf, cnt)
        ends = np.cumsum(cnt)
        starts = ends - cnt
        out = np.empty(int(ends[-1]), dtype=np.int64)
        fits = cnt <= _CAP
        kept = np.arange(_CAP)[None, :] < np.where(fits, cnt, 0)[:, None]
        qs, slots = np.nonzero(kept)
        out[starts[qs] + slots] = buf.reshape(k, _CAP)[qs, slots]
        over = np.flatnonzero(~fits)
        if over.size:  # more matches than slots: these queries again, into their place
            again = np.empty(over.size, dtype=np.int64)
            self.run(qsel[over], starts[over], cnt[over], out, again)
            if not np.array_equal(again, cnt[over]):  # pragma: no cover - deterministic
                raise RuntimeError("PDQ search: counts differ between passes")
        return out

    def run(
        self,
        qsel: NDArray[np.int64],
        out_start: NDArray[np.int64],
        out_cap: NDArray[np.int64],
        out_key: NDArray[np.int64],
        counts: NDArray[np.int64],
    ) -> None:
        """The kernel over the queries ``qsel``, in chunks shared by the threads."""
        k = len(qsel)
        if self.pool is None or k <= _MIN_CHUNK:
            self.kernel(*self.before, qsel, *self.after, out_start, out_cap, out_key, counts)
            return
        step = max(_MIN_CHUNK, -(-k // (4 * self.threads)))

        def chunk(a: int) -> None:
            b = a + step
            self.kernel(
                *self.before,
                qsel[a:b],
                *self.after,
                out_start[a:b],
                out_cap[a:b],
                out_key,
                counts[a:b],
            )

        for _ in self.pool.map(chunk, range(0, k, step)):
            pass
