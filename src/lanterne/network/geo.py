"""Places where pictures were taken: clusters of GPS positions, for production indicators.

Several new pictures taken within a few hundred metres of one another (a home, a holiday
flat, a club house) tell where new material may have been produced. The clustering is small
and explainable on purpose: a cluster is a **centre picture and every other picture within
``radius_m`` of it**, so the sentence "5 new pictures taken within 250 m of 48.13712,
11.57538" is literally true of every member.

Greedy and deterministic: the picture with the most not-yet-clustered neighbours within the
radius becomes a centre (ties: the smaller key), it and those neighbours form a cluster, and
this repeats while a centre still gathers ``min_size`` pictures. Neighbours are found by a
sweep over pictures sorted by latitude (only those within the radius in latitude are measured),
with the haversine distance in NumPy: no geo library is needed.

Positions that cannot be real are ignored: out of range, not finite, or exactly (0, 0) — the
"null island" that broken EXIF writers put when they have no fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), in metres."""

_METRES_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_M / 180.0

FULL_MATRIX = 2048
"""Up to this many points, every distance is computed at once (a 32 MiB matrix at most)."""


@dataclass(frozen=True, slots=True)
class GeoCluster:
    """Pictures taken within ``radius_m`` of a centre picture."""

    centre: str
    """The key (SHA-256) of the centre picture."""
    lat: float
    lon: float
    """The centre picture's position (degrees)."""
    members: tuple[str, ...]
    """Keys of every picture of the cluster, the centre included, sorted."""
    max_distance_m: float
    """The farthest member's distance from the centre (metres)."""


def haversine_m(
    lat1: float | npt.ArrayLike,
    lon1: float | npt.ArrayLike,
    lat2: float | npt.ArrayLike,
    lon2: float | npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """Great-circle distances in metres between positions given in degrees (broadcasting)."""
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dlat = p2 - p1
    dlon = np.radians(np.asarray(lon2, float)) - np.radians(np.asarray(lon1, float))
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), np.float64)


def plausible(lat: float | None, lon: float | None) -> bool:
    """Whether a position can be a real GPS fix (finite, in range, not exactly 0, 0)."""
    if lat is None or lon is None:
        return False
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return False
    return not (lat == 0.0 and lon == 0.0)


def gps_clusters(
    points: Iterable[tuple[str, float | None, float | None]],
    *,
    radius_m: float = 250.0,
    min_size: int = 3,
) -> list[GeoCluster]:
    """Clusters of at least ``min_size`` pictures within ``radius_m`` of a centre picture.

    ``points`` are ``(key, lat, lon)``; a key seen twice keeps its first position, implausible
    positions are skipped. Clusters come largest first (ties: by centre key)."""
    if radius_m <= 0:
        raise ValueError(f"radius_m must be positive, not {radius_m!r}")
    if min_size < 1:
        raise ValueError(f"min_size must be at least 1, not {min_size!r}")
    seen: dict[str, tuple[float, float]] = {}
    for key, y, x in points:
        if key not in seen and plausible(y, x):
            assert y is not None and x is not None
            seen[key] = (float(y), float(x))
    if len(seen) < min_size:
        return []
    keys = sorted(seen)
    lat = np.array([seen[k][0] for k in keys], dtype=np.float64)
    lon = np.array([seen[k][1] for k in keys], dtype=np.float64)
    neighbours = _neighbours(lat, lon, radius_m)
    free = np.ones(len(keys), dtype=bool)
    # free neighbours of each point, itself included (distances are symmetric, so removing
    # a point takes one from the count of each of its own neighbours)
    counts = np.array([len(n) for n in neighbours], dtype=np.int64)
    clusters: list[GeoCluster] = []
    while True:
        best = int(np.argmax(np.where(free, counts, -1)))  # ties: the smaller key
        if not free[best] or counts[best] < min_size:
            break
        members = neighbours[best][free[neighbours[best]]]
        free[members] = False
        np.subtract.at(counts, np.concatenate([neighbours[m] for m in members.tolist()]), 1)
        distances = haversine_m(lat[best], lon[best], lat[members], lon[members])
        clusters.append(
            GeoCluster(
                centre=keys[best],
                lat=float(lat[best]),
                lon=float(lon[best]),
                members=tuple(sorted(keys[j] for j in members.tolist())),
                max_distance_m=float(distances.max()),
            )
        )
    clusters.sort(key=lambda c: (-len(c.members), c.centre))
    return clusters


def _neighbours(
    lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64], radius_m: float
) -> list[npt.NDArray[np.intp]]:
    """For each point, the indexes of every point within ``radius_m`` of it (itself included):
    all pairs at once for a few thousand points, else a sweep over sorted latitudes that
    measures only the points within the radius in latitude."""
    if len(lat) <= FULL_MATRIX:
        near = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :]) <= radius_m
        return [np.flatnonzero(row) for row in near]
    order = np.argsort(lat, kind="stable")
    sorted_lat = lat[order]
    window = 1.001 * radius_m / _METRES_PER_DEGREE_LAT  # the distance decides, not the window
    lo = np.searchsorted(sorted_lat, lat - window, side="left")
    hi = np.searchsorted(sorted_lat, lat + window, side="right")
    out: list[npt.NDArray[np.intp]] = []
    for i in range(len(lat)):
        candidates = order[lo[i] : hi[i]]
        d = haversine_m(lat[i], lon[i], lat[candidates], lon[candidates])
        out.append(np.sort(candidates[d <= radius_m]))
    return out
