"""When a member is an archive bomb: its size, the archive's total and the expansion ratio.

The same test serves twice: on the sizes a directory declares, before anything is read, and on
the bytes actually decompressed, chunk by chunk, since a declaration may lie.
"""

from __future__ import annotations

from typing import NamedTuple

from lanterne.config import Limits


class Bomb(NamedTuple):
    """Why a member breaks the limits."""

    why: str
    stops_walk: bool
    """The archive's total is spent: no later member is read either."""


def too_big(
    limits: Limits, size: int, compressed: int | None, total: int, expanded: int | None = None
) -> Bomb | None:
    """Why a member of ``size`` bytes (``total`` for the archive so far; ``expanded`` out of
    ``compressed`` for the ratio, default ``size``) is a bomb; None when within the limits."""
    expanded = size if expanded is None else expanded
    if total > limits.archive_max_total_size:
        why = f"members expand past archive_max_total_size ({limits.archive_max_total_size})"
        return Bomb(why, True)
    if size > limits.archive_max_member_size:
        why = f"expands past archive_max_member_size ({limits.archive_max_member_size})"
        return Bomb(why, False)
    ratio = limits.archive_max_ratio
    if compressed is not None and limits.archive_ratio_min_size < expanded > ratio * compressed:
        return Bomb(f"expands over {ratio:g}× its {compressed} compressed bytes", False)
    return None
