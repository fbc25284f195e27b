"""Figures remembered between requests: grid totals and the dashboard.

Counting the new material of a case of 200,000 pictures reads every picture's row; the grid
shows the total on every page. So a figure is remembered per database and key, and used again
while the case's *version* is unchanged: the latest categorisation, undo, flag and resolution
(each audited: undo and resolution update rows, their audit entries tell), the latest match,
hash set, file, attachment and evidence item. Near-duplicate groups rebuilt leave no such
trace, so nothing is remembered longer than :data:`TTL` seconds. The version is one query of
index look-ups.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from lanterne.case import schema
from lanterne.review import audit

TTL = 60.0
"""Seconds a figure is remembered at most."""


class _Counts:
    """Remembered figures, per database: key → (version, when, value)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_engine: weakref.WeakKeyDictionary[
            Engine, dict[tuple[Any, ...], tuple[Any, float, Any]]
        ] = weakref.WeakKeyDictionary()
        self.computing: dict[tuple[int, tuple[Any, ...]], threading.Lock] = {}
        """One lock per figure being computed: requests that find it stale at once wait for
        one computation instead of each running it."""


_counts = _Counts()


def _version(conn: Connection) -> tuple[Any, ...]:
    """What changes whenever a grid total may: a review change or a reveal (each is audited:
    undo and resolve update rows, so their audit entries count), new matches, sets, files,
    items."""
    a = schema.audit
    changes = [
        select(func.max(a.c.id)).where(a.c.action == action).scalar_subquery()
        for action in (audit.CATEGORISE, audit.UNDO, audit.FLAG, audit.RESOLVE, audit.REVEAL)
    ]
    tables = (
        schema.review_decision,
        schema.review_flag,
        schema.match,
        schema.hashset,
        schema.file,
        schema.attachment,
        schema.evidence,
    )
    changes += [select(func.max(t.c.id)).scalar_subquery() for t in tables]
    return tuple(conn.execute(select(*changes)).one())


def remembered_count(conn: Connection, key: tuple[Any, ...], query: Any) -> int:
    """The count ``query`` gives, remembered under ``key``."""
    return int(remembered(conn, key, lambda: conn.execute(query).scalar_one()))


def remembered(conn: Connection, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """``compute()``, remembered per database under ``key`` while :func:`_version` holds and
    for at most :data:`TTL` seconds; computed once however many requests ask at the same time."""
    version = _version(conn)

    def fresh() -> tuple[bool, Any]:
        with _counts.lock:
            hit = _counts.by_engine.setdefault(conn.engine, {}).get(key)
        if hit is not None and hit[0] == version and time.monotonic() - hit[1] < TTL:
            return True, hit[2]
        return False, None

    found, value = fresh()
    if found:
        return value
    with _counts.lock:
        computing = _counts.computing.setdefault((id(conn.engine), key), threading.Lock())
    with computing:
        found, value = fresh()  # computed by the request this one waited for
        if found:
            return value
        value = compute()
        with _counts.lock:
            cache = _counts.by_engine.setdefault(conn.engine, {})
            if len(cache) > 256:
                cache.clear()
                _counts.computing.clear()
            cache[key] = (version, time.monotonic(), value)
    return value


def forget_counts() -> None:
    """Drop every remembered total (tests; after changing groups)."""
    with _counts.lock:
        _counts.by_engine.clear()
