"""Archive timestamps, Unix seconds or Windows FILETIME, as aware UTC times (None if absurd)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def utc(ts: float | None) -> datetime | None:
    try:
        return None if not ts else datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def filetime(ft: int | None) -> datetime | None:
    try:
        return None if not ft else _FILETIME_EPOCH + timedelta(microseconds=int(ft) // 10)
    except OverflowError:
        return None
