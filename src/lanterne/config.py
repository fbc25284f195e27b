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
