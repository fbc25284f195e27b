"""The map of allocated data that tells deleted-and-overwritten files and carving gaps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lanterne.evidence.disk.tsk import Coverage


def test_merge_overlap_and_gaps() -> None:
    c = Coverage()
    for start, end in [(100, 200), (150, 300), (500, 600), (0, 10), (600, 650), (700, 700)]:
        c.add(start, end)
    c.freeze()
    assert list(c.gaps(1000)) == [(10, 100), (300, 500), (650, 1000)]
    assert c.overlaps(250, 260)
    assert c.overlaps(299, 400)
    assert not c.overlaps(300, 500)
    assert not c.overlaps(650, 700)
    assert c.overlaps(0, 1)


def test_freeze_again_merges_later_ranges() -> None:
    c = Coverage()
    c.add(0, 10)
    c.freeze()
    c.add(20, 30)
    c.add(5, 12)
    c.freeze()
    assert list(c.gaps(40)) == [(12, 20), (30, 40)]


def test_empty_map_is_one_gap() -> None:
    c = Coverage()
    c.freeze()
    assert list(c.gaps(4096)) == [(0, 4096)]
    assert not c.overlaps(0, 4096)


@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 300)), max_size=40))
def test_gaps_are_exactly_the_uncovered_bytes(runs: list[tuple[int, int]]) -> None:
    size = 2500
    c = Coverage()
    covered = set()
    for start, length in runs:
        c.add(start, start + length)
        covered.update(range(start, start + length))
    c.freeze()
    gap_bytes = {b for s, e in c.gaps(size) for b in range(s, e)}
    assert gap_bytes == set(range(size)) - covered
    for start, _ in runs[:5]:
        assert c.overlaps(start, start + 1)
