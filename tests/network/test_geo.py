"""GPS clusters of pictures: exact members, centres, and the positions that are ignored."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lanterne.network.geo import EARTH_RADIUS_M, gps_clusters, haversine_m, plausible

# one degree of latitude, and a metre in degrees of latitude
DEGREE_M = math.pi * EARTH_RADIUS_M / 180.0
M = 1 / DEGREE_M


def north(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat + metres * M, lon


def east(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat, lon + metres * M / math.cos(math.radians(lat))


def test_haversine_known_distances() -> None:
    assert float(haversine_m(48.0, 11.0, 49.0, 11.0)) == pytest.approx(DEGREE_M)
    assert float(haversine_m(0.0, 0.0, 0.0, 90.0)) == pytest.approx(DEGREE_M * 90)
    d = haversine_m(48.0, 11.0, np.array([48.0, *north(48.0, 11.0, 100)[:1]]), [11.0, 11.0])
    assert d.tolist() == pytest.approx([0.0, 100.0])
    # symmetric to the last bit: clustering relies on it
    a, b = (48.137, 11.575), (48.1381, 11.5771)
    assert float(haversine_m(*a, *b)) == float(haversine_m(*b, *a))


def test_two_clusters_with_exact_members_and_centres() -> None:
    home = (48.137154, 11.576124)
    flat = (52.520008, 13.404954)
    points = [
        ("h-centre", *home),
        ("h-north-200", *north(*home, 200)),
        ("h-east-240", *east(*home, 240)),
        ("h-south-100", *north(*home, -100)),
        ("h-far-600", *north(*home, 600)),  # 400 m from the nearest: alone
        ("f-a", *flat),
        ("f-b", *east(*flat, 50)),
        ("f-c", *east(*flat, 120)),
        ("lonely", 40.0, -3.7),
    ]
    clusters = gps_clusters(points, radius_m=250, min_size=3)
    assert [c.members for c in clusters] == [
        ("h-centre", "h-east-240", "h-north-200", "h-south-100"),
        ("f-a", "f-b", "f-c"),
    ]
    assert [c.centre for c in clusters] == ["h-centre", "f-a"]  # f-a, f-b, f-c tie: first key
    assert (clusters[0].lat, clusters[0].lon) == home
    assert clusters[0].max_distance_m == pytest.approx(240, abs=0.01)
    assert clusters[1].max_distance_m == pytest.approx(120, abs=0.01)


def test_min_size_and_radius_decide() -> None:
    base = (45.0, 7.0)
    points = [("a", *base), ("b", *north(*base, 300)), ("c", *north(*base, -300))]
    assert gps_clusters(points, radius_m=250, min_size=3) == []
    (only,) = gps_clusters(points, radius_m=310, min_size=3)
    assert (only.centre, only.members) == ("a", ("a", "b", "c"))
    assert [c.members for c in gps_clusters(points, radius_m=250, min_size=1)] == [
        ("a",),
        ("b",),
        ("c",),
    ]


def test_a_chain_is_split_not_merged() -> None:
    """Pictures every 200 m along a road: no picture is within 250 m of more than its two
    neighbours, so the clusters are consecutive triples, never one long chain."""
    base = (50.0, 8.0)
    points = [(f"p{i}", *north(*base, 200 * i)) for i in range(7)]
    clusters = gps_clusters(points, radius_m=250, min_size=3)
    assert [c.members for c in clusters] == [("p0", "p1", "p2"), ("p3", "p4", "p5")]
    for c in clusters:
        assert c.max_distance_m <= 250


def test_implausible_positions_and_duplicates_are_ignored() -> None:
    base = (-33.8688, 151.2093)
    points = [
        ("a", *base),
        ("a", 10.0, 10.0),  # the same key again: its first position stands
        ("b", *east(*base, 10)),
        ("null-island", 0.0, 0.0),
        ("nan", float("nan"), 151.2),
        ("out-of-range", 95.0, 151.2),
        ("missing", None, None),
        ("c", *east(*base, -10)),
    ]
    (only,) = gps_clusters(points, radius_m=250, min_size=3)
    assert only.members == ("a", "b", "c")
    assert not plausible(0.0, 0.0) and not plausible(None, 1.0) and plausible(0.0, 1.0)


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="radius_m"):
        gps_clusters([], radius_m=0)
    with pytest.raises(ValueError, match="min_size"):
        gps_clusters([], min_size=0)


def test_sweep_and_full_matrix_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many points are measured by a latitude sweep instead of all pairs: same clusters."""
    rng = np.random.default_rng(7)
    centres = [(48.1, 11.5), (48.1, 11.51), (-12.0, -77.0)]
    points = [
        (f"{c}-{i:03d}", lat + dy * M, lon + dx * M)
        for c, (lat, lon) in enumerate(centres)
        for i, (dy, dx) in enumerate(rng.normal(0, 150, size=(60, 2)))
    ]
    full = gps_clusters(points, radius_m=250, min_size=3)
    monkeypatch.setattr("lanterne.network.geo.FULL_MATRIX", 0)
    assert gps_clusters(points, radius_m=250, min_size=3) == full
    assert sum(len(c.members) for c in full) >= 150
    for c in full:
        assert c.max_distance_m <= 250
