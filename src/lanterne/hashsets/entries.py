"""Hash-set entries as the matchers read them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, or_, select

from lanterne.case import schema
from lanterne.config import Limits


def pdq_entries(conn: Connection, limits: Limits, set_ids: list[int]) -> Sequence[Any]:
    """The PDQ entries of these sets that are matched on (``id``, ``hashset_id``, ``pdq``):
    quality-gated as the case's pictures are (an entry without a quality is taken)."""
    e = schema.hash_entry
    return conn.execute(
        select(e.c.id, e.c.hashset_id, e.c.pdq).where(
            e.c.hashset_id.in_(set_ids),
            e.c.pdq.is_not(None),
            or_(e.c.pdq_quality.is_(None), e.c.pdq_quality >= limits.pdq_min_quality),
        )
    ).all()
