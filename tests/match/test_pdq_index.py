"""The PDQ range-search index: exactly the brute-force answer, conversions, storage."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pdqhash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image

from lanterne.analyze.picture import pdq_hex
from lanterne.match.pdq_index import (
    PdqIndex,
    bits_to_bytes,
    bits_to_hex,
    bytes_per_hash,
    bytes_to_bits,
    choose_slices,
    hex_to_bits,
    plan,
    slicing,
)
from lanterne.synth.pictures import make_picture

U64 = np.uint64
Triples = list[tuple[int, int, int]]


def random_hashes(rng: np.random.Generator, n: int) -> NDArray[np.uint64]:
    return rng.integers(0, 2**64 - 1, size=(n, 4), dtype=U64, endpoint=True)


def flip(rng: np.random.Generator, hashes: NDArray[np.uint64], bits: list[int]) -> NDArray[Any]:
    """A copy of each hash with exactly ``bits[i]`` of its bits flipped."""
    out = hashes.copy()
    for i, k in enumerate(bits):
        for pos in rng.choice(256, size=k, replace=False):
            out[i, pos >> 6] ^= U64(1) << U64(pos & 63)
    return out


def oracle(
    hashes: NDArray[np.uint64], ids: NDArray[np.int64], queries: NDArray[np.uint64], r: int
) -> Triples:
    """Every (query, id, distance) within ``r``, by comparing every pair."""
    out: Triples = []
    for lo in range(0, len(queries) if len(hashes) else 0, 50):
        d = np.bitwise_count(queries[lo : lo + 50, None, :] ^ hashes[None, :, :]).sum(axis=2)
        qi, hi = np.nonzero(d <= r)
        out += zip((qi + lo).tolist(), ids[hi].tolist(), d[qi, hi].tolist(), strict=True)
    return sorted(out)


def found(index: PdqIndex, queries: NDArray[np.uint64], r: int, method: str = "auto") -> Triples:
    m = index.search(queries, r, method=method)
    assert m.query.dtype == np.int64 and m.ids.dtype == np.int64 and m.distance.dtype == np.int16
    assert len(m.query) == len(m.ids) == len(m.distance)
    # Grouped by query in order, then by distance.
    order = np.lexsort((m.distance, m.query))
    assert np.array_equal(order, np.arange(len(order)))
    return sorted(zip(m.query.tolist(), m.ids.tolist(), m.distance.tolist(), strict=True))


@st.composite
def planted(draw: st.DrawFn) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Random hashes, some of them repeated (other ids), and queries at chosen distances of
    indexed hashes (0 … 40 bits, many near 31/32) or random."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    n = draw(st.integers(0, 300))
    hashes = random_hashes(rng, n)
    ids = rng.integers(-(2**40), 2**40, size=n)
    if n:
        again = rng.integers(0, n, size=draw(st.integers(0, 10)))
        hashes = np.concatenate([hashes, hashes[again]])
        ids = np.concatenate([ids, rng.integers(0, 5, size=len(again))])
    near_distance = st.one_of(st.integers(0, 40), st.sampled_from([0, 1, 15, 16, 30, 31, 32, 33]))
    dists = draw(st.lists(near_distance, max_size=40)) if n else []
    near = flip(rng, hashes[rng.integers(0, len(hashes), size=len(dists))], dists)
    queries = np.concatenate([near, random_hashes(rng, draw(st.integers(0, 5)))])
    return hashes, ids, queries[rng.permutation(len(queries))]


@settings(max_examples=100, deadline=None)
@given(
    planted(),
    st.sampled_from([0, 1, 15, 31, 32, 63]),
    st.sampled_from([None, 10, 11, 12, 16, 24, 32, 64]),
    st.sampled_from(["index", "auto"]),
)
def test_exactly_the_brute_force_answer(
    data: tuple[NDArray[Any], NDArray[Any], NDArray[Any]],
    max_distance: int,
    slices: int | None,
    method: str,
) -> None:
    hashes, ids, queries = data
    index = PdqIndex.build(hashes, ids, slices=slices)
    assert found(index, queries, max_distance, method) == oracle(hashes, ids, queries, max_distance)


def test_clusters_at_the_default_slicing() -> None:
    """Tens of thousands of hashes in clusters of near-duplicates, as a hash list has them,
    with the slicing chosen for that size, on several threads, and a scan for a wide radius."""
    rng = np.random.default_rng(7)
    base = random_hashes(rng, 4000)
    variants = [flip(rng, base, rng.integers(1, 21, size=len(base)).tolist()) for _ in range(4)]
    hashes = np.concatenate([base, *variants])
    ids = np.arange(len(hashes), dtype=np.int64) * 3
    near = flip(rng, hashes[rng.integers(0, len(hashes), 500)], rng.integers(0, 41, 500).tolist())
    queries = np.concatenate([near, random_hashes(rng, 100)])
    index = PdqIndex.build(hashes, ids, threads=3)
    assert index.slices == choose_slices(len(hashes))
    expected = oracle(hashes, ids, queries, 31)
    assert len(expected) > 1000
    assert found(index, queries, 31) == expected
    one = index.search(queries, threads=1)
    with ThreadPoolExecutor(4) as pool:  # searches at once, each on several threads
        for m in pool.map(lambda t: index.search(queries, threads=t), [2, 3, 2, 5]):
            assert all(np.array_equal(a, b) for a, b in zip(m, one, strict=True))
    few = queries[::10]
    assert found(index, few, 48) == found(index, few, 48, "scan") == oracle(hashes, ids, few, 48)


def test_slicing_for_ten_million_hashes() -> None:
    """The slicing documented and benchmarked: 11 slices, 89 bytes a hash."""
    n = 10_000_000
    assert choose_slices(n) == 11
    widths, bucket_bits = slicing(n, 11)
    assert widths.tolist() == [24] * 3 + [23] * 8 and bucket_bits.tolist() == [21] * 11
    assert bytes_per_hash(n, widths, bucket_bits) < 90
    radii, _cost = plan(widths, bucket_bits, n, 31)
    assert radii.tolist() == [2] * 10 + [1]
    assert plan(widths, bucket_bits, n, 0)[0].tolist() == [0] + [-1] * 10


def test_repeated_hashes_keep_every_id_past_the_first_pass_slots() -> None:
    rng = np.random.default_rng(3)
    one = random_hashes(rng, 1)
    hashes = np.concatenate([random_hashes(rng, 500), np.repeat(one, 100, axis=0)])
    ids = np.concatenate([np.arange(500), np.full(100, 7)])
    queries = np.concatenate([one, flip(rng, one, [31]), flip(rng, one, [32]), one])
    for method in ("index", "scan"):
        index = PdqIndex.build(hashes, ids, slices=12)
        m = index.search(queries, method=method)
        assert np.bincount(m.query, minlength=4).tolist() == [100, 100, 0, 100]
        assert set(m.ids.tolist()) == {7}
        assert found(index, queries, 31, method) == oracle(hashes, ids, queries, 31)


def test_empty_index_and_empty_queries(tmp_path: Path) -> None:
    empty = PdqIndex.build(np.empty((0, 4), dtype=U64), np.empty(0, dtype=np.int64))
    queries = random_hashes(np.random.default_rng(1), 3)
    for index, q in ((empty, queries), (PdqIndex.build(queries, np.arange(3)), queries[:0])):
        m = index.search(q, 63)
        assert [len(a) for a in m] == [0, 0, 0]
        assert [a.dtype for a in m] == [np.int64, np.int64, np.int16]
    empty.save(tmp_path / "empty.npz")
    assert len(PdqIndex.load(tmp_path / "empty.npz")) == 0


def test_save_and_load_keep_the_answers(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    hashes = random_hashes(rng, 2000)
    ids = rng.integers(0, 2**62, size=2000)
    queries = flip(rng, hashes[:100], rng.integers(0, 41, 100).tolist())
    index = PdqIndex.build(hashes, ids, slices=11)
    path = tmp_path / "index.npz"
    index.save(path)
    with np.load(path, allow_pickle=False) as z:  # plain arrays, no pickle
        assert sorted(z.files) == sorted(index.to_arrays())
    again = PdqIndex.load(path)
    assert again.nbytes == index.nbytes
    for name, array in index.to_arrays().items():
        assert np.array_equal(again.to_arrays()[name], array), name
    assert found(again, queries, 31, "index") == oracle(hashes, ids, queries, 31)
    assert found(PdqIndex.from_arrays(index.to_arrays()), queries, 31) == found(index, queries, 31)


def test_damaged_arrays_are_refused() -> None:
    rng = np.random.default_rng(6)
    arrays = PdqIndex.build(random_hashes(rng, 300), np.arange(300), slices=12).to_arrays()

    def damaged(name: str, value: NDArray[Any]) -> dict[str, NDArray[Any]]:
        return {**arrays, name: value}

    perm = arrays["perm"].copy()
    perm[3, 17] = 300  # a row past the end
    offsets = arrays["offsets"].copy()
    offsets[5] = offsets[6] + 1  # bounds out of order
    for bad in (
        damaged("perm", perm),
        damaged("offsets", offsets),
        damaged("offsets", arrays["offsets"][:-1]),
        damaged("widths", arrays["widths"][::-1] + 1),
        damaged("ids", arrays["ids"][:-1]),
        damaged("hashes", arrays["hashes"].astype(np.int64)),
        damaged("version", np.array([99])),
        {k: v for k, v in arrays.items() if k != "perm"},
    ):
        with pytest.raises(ValueError):
            PdqIndex.from_arrays(bad)


def test_hex_and_bytes_round_trips() -> None:
    words = random_hashes(np.random.default_rng(8), 50)
    text = bits_to_hex(words)
    assert all(len(h) == 64 and h == h.lower() for h in text)
    assert text[0] == "".join(f"{int(w):016x}" for w in words[0])  # word 0: the first digits
    assert np.array_equal(hex_to_bits(text), words)
    assert np.array_equal(hex_to_bits([h.upper() for h in text]), words)
    assert np.array_equal(bytes_to_bits(bits_to_bytes(words)), words)
    assert bits_to_hex(bits_to_bytes(words)) == text
    assert hex_to_bits([]).shape == (0, 4)
    for bad in ("0" * 63, "0" * 65, "g" + "0" * 63, " " + "0" * 63, "00 " * 21 + "0"):
        with pytest.raises(ValueError):
            hex_to_bits([text[0], bad])


def test_bit_order_is_pdqhash_and_threatexchange() -> None:
    image = np.asarray(Image.open(io.BytesIO(make_picture(11))).convert("RGB"))
    vectors, _quality = pdqhash.compute_dihedral(image)
    text = [pdq_hex(v) for v in vectors]
    words = hex_to_bits(text)
    assert bits_to_hex(words) == text
    assert np.array_equal(bits_to_bytes(words), np.packbits(np.asarray(vectors, np.uint8), axis=1))
    # Distances between the eight dihedral hashes: the same from the index as from the vectors.
    index = PdqIndex.build(words, np.arange(8), slices=16)
    m = index.search(words, 256, method="index")
    vec = np.asarray(vectors, dtype=np.int64)
    assert len(m.query) == 64
    for q, i, d in zip(m.query, m.ids, m.distance, strict=True):
        assert d == np.count_nonzero(vec[q] != vec[i])


def test_inputs_are_checked() -> None:
    rng = np.random.default_rng(9)
    hashes = random_hashes(rng, 10)
    index = PdqIndex.build(bits_to_bytes(hashes), np.arange(10))  # uint8 (n, 32) too
    assert found(index, bits_to_bytes(hashes), 0) == [(i, i, 0) for i in range(10)]
    with pytest.raises(ValueError):
        index.search(hashes, -1)
    with pytest.raises(ValueError):
        index.search(hashes[:, :3])
    with pytest.raises(ValueError):
        index.search(hashes, method="faiss")
    with pytest.raises(ValueError):
        PdqIndex.build(hashes, np.arange(9))
    with pytest.raises(ValueError):
        PdqIndex.build(hashes.astype(np.int64), np.arange(10))
    with pytest.raises(ValueError):
        PdqIndex.build(hashes, np.arange(10), slices=9)
