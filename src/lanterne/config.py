"""Limits and tunables, read from a case's ``case.toml`` (section ``[limits]``).

Every limit guards against hostile or absurd input; each has a safe default, and a value
reached is recorded as a warning on the item that reached it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class Limits:
    # Archives
    archive_max_depth: int = 12
    """Archives nested deeper than this are recorded but not opened."""
    archive_max_ratio: float = 200.0
    """Expanded/compressed ratio above which an archive member is treated as a bomb."""
    archive_ratio_min_size: int = 64 * MiB
    """The ratio check applies only once a member has expanded past this size."""
    archive_max_member_size: int = 16 * GiB
    """A single member larger than this once expanded is not extracted."""
    archive_max_total_size: int = 64 * GiB
    """An archive whose members expand past this in total stops being extracted."""
    archive_max_members: int = 1_000_000
    """Members beyond this count in one archive are skipped with a warning."""
    spool_in_memory: int = 32 * MiB
    """Archive members up to this size are held in memory; larger ones spool to the case's tmp/."""
    # Pictures
    picture_max_pixels: int = 200_000_000
    """Pictures declaring more pixels than this are decompression bombs: not decoded."""
    picture_max_bytes: int = 512 * MiB
    """Pictures larger than this on disk are identified but not decoded."""
    thumbnail_size: int = 256
    """Longest side of the WebP thumbnail kept in the case folder."""
    pdq_decode_size: int = 512
    """Pictures are decoded reduced to about this size before PDQ (DCT scaling for JPEG)."""
    # Ingest
    batch_rows: int = 2000
    """Rows written per transaction at most (a crash loses at most the batch in flight)."""
    batch_seconds: float = 2.0
    """A batch is written at least this often, however small."""
    # Disk images
    carve: bool = True
    """Carve pictures (JPEG, PNG, GIF) from the unallocated space and slack of file systems."""
    carve_max_size: int = 32 * MiB
    """A carved picture larger than this is not recovered."""
    carve_max_hits: int = 100_000
    """Carving a file system stops after this many pictures (a warning says so)."""
    carve_max_scan: int = 16 * 1024 * GiB
    """Bytes of unallocated space scanned per file system at most."""
    # Matching
    pdq_max_distance: int = 31
    """Pictures whose PDQ hashes differ in at most this many bits match."""
    pdq_min_quality: int = 50
    """PDQ hashes below this quality (flat pictures) are not matched on, on either side."""
    pdq_dihedral: bool = False
    """Also match the pictures turned and mirrored (the 8 dihedral variants)."""
    # Videos
    video_probe_seconds: float = 10.0
    """Time budget to read a video's container facts."""
    video_frames: bool = True
    """Hash the frames of every video (vPDQ) and make its contact sheet at ingest."""
    video_seconds_per_hash: float = 1.0
    """One frame hash per this many seconds of video (vPDQ's usual rate)."""
    video_hash_seconds: float = 120.0
    """Time budget to hash one video's frames and draw its contact sheet; past it the video
    keeps the frames hashed so far and gets a ``timeout`` warning."""
    video_max_pixels: int = 8192 * 8192
    """Frames larger than this are not decoded (a hostile header claiming an absurd size)."""
    vpdq_query_share: float = 80.0
    """A case video matches a listed video when at least this percentage of its (quality)
    frames has a partner within ``pdq_max_distance`` in the listed video …"""
    vpdq_target_share: float = 0.0
    """… and at least this percentage of the listed video's frames has one in the case video
    (0: a clip of a listed video matches; raise it to ask for the whole video)."""

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Limits:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            from lanterne.errors import UserError

            raise UserError(f"unknown setting(s) in [limits]: {', '.join(unknown)}")
        defaults = cls()
        return cls(**{k: type(getattr(defaults, k))(v) for k, v in values.items()})

    def to_mapping(self) -> dict[str, Any]:
        return asdict(self)
