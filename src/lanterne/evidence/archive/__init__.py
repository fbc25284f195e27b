"""Containers: the members of zip, tar and 7z archives and of gzip, bzip2 and xz streams.

The pipeline identifies a container by signature and calls :func:`open_container`, then calls
it again on members that are containers themselves (it, not this package, limits the depth).
Each layer adds one provenance step (``zip:img/1.jpg``); a ``.tar.gz`` is two layers, gzip then
tar, as in dfVFS.

Every member is decompressed once, in one streaming pass that counts bytes against the limits,
into a spool: memory up to ``limits.spool_in_memory``, beyond that a temporary file in the
spool folder the pipeline gives (the case's ``tmp/``: nothing is ever written beside evidence,
and nothing is ever extracted *by name*, so hostile member names cannot escape anywhere).

A spool has one owner at a time: this walk until it yields the member's :class:`Entry`, then
the consumer, who calls ``entry.release()``. Closing the walk early frees what it still owns.

Hostile or damaged members become :class:`EntryWarning` (stage ``archive``) with the member's
provenance and the walk goes on; an archive that cannot be opened at all raises
:class:`~lanterne.errors.CorruptData`. Reason codes: see :data:`REASONS`.

The modules: :mod:`.walk` (one container's walk, and the member loop zip and tar share),
:mod:`.spool` (members' bytes and who owns them), :mod:`.limits` (when a member is a bomb),
:mod:`.damage` (which failures mean damaged data), :mod:`.times`, then one module a format:
:mod:`.zip`, :mod:`.tar`, :mod:`.sevenzip`, :mod:`.stream` (gzip, bzip2, xz).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

from lanterne.config import Limits
from lanterne.evidence.archive.sevenzip import walk_7z
from lanterne.evidence.archive.stream import walk_stream
from lanterne.evidence.archive.tar import walk_tar
from lanterne.evidence.archive.walk import Walk
from lanterne.evidence.archive.zip import walk_zip
from lanterne.evidence.base import Entry, Item

__all__ = ["CONTAINERS", "REASONS", "open_container"]

CONTAINERS = ("zip", "tar", "7z", "gzip", "bzip2", "xz")
REASONS = (
    "path-traversal", "name-not-utf8", "encrypted", "archive-bomb", "too-many-members",
    "corrupt", "truncated", "unreadable", "unsupported-method", "link", "not-regular-file",
)  # fmt: skip
"""Stable reason codes of the warnings (and CorruptData) this package produces."""

_WALKERS: dict[str, Callable[[Walk], Iterator[Item]]] = {
    "zip": walk_zip,
    "tar": walk_tar,
    "7z": walk_7z,
    "gzip": walk_stream,
    "bzip2": walk_stream,
    "xz": walk_stream,
}


def open_container(
    entry: Entry, container: str, limits: Limits, spool_dir: Path
) -> Generator[Item, None, None]:
    """The members of ``entry`` (a ``container`` of one of :data:`CONTAINERS`), in directory order.

    Raises ``ValueError`` at once for an unknown container; iterating raises ``CorruptData``
    when the container cannot be opened at all (not really that format, truncated directory,
    encrypted 7z header).
    """
    walker = _WALKERS.get(container)
    if walker is None:
        raise ValueError(f"unknown container {container!r}; expected one of {CONTAINERS}")
    return _guarded(walker, Walk(entry, container, limits, spool_dir))


def _guarded(walker: Callable[[Walk], Iterator[Item]], walk: Walk) -> Generator[Item, None, None]:
    try:
        yield from walker(walk)
    finally:  # closed early, failed or done: free the spools not handed over
        walk.spools.release_all()
