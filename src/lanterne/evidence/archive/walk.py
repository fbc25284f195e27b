"""One container's walk: its place and counts, members' names, and reading a member's bytes.

Zip and tar list their members one by one, each with a declared size, and read each member
alone: both go through :func:`read_members`, which holds every check in one order. A 7z solid
block and a compressed stream read differently and use the pieces (:meth:`Walk.member`,
:func:`extract`) directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, NamedTuple

from lanterne.config import Limits
from lanterne.evidence.archive.damage import DAMAGE, damage_reason
from lanterne.evidence.archive.limits import too_big
from lanterne.evidence.archive.spool import CHUNK, Spool, SpoolKeeper
from lanterne.evidence.base import Entry, EntryWarning, Item
from lanterne.provenance import Provenance, Step, decode_name

STAGE = "archive"


class Unread(NamedTuple):
    """Why a member is not read: a reason code of ``REASONS``, its detail, and whether the
    walk ends there too."""

    reason: str
    detail: str
    stops_walk: bool = False

    def warning(self, prov: Provenance) -> EntryWarning:
        return EntryWarning(prov, STAGE, self.reason, self.detail)


class Walk:
    """The state of one container's walk: where it is, its limits, counts and spools."""

    def __init__(self, entry: Entry, kind: str, limits: Limits, spool_dir: Path) -> None:
        self.entry, self.kind, self.limits = entry, kind, limits
        self.spools = SpoolKeeper(limits.spool_in_memory, spool_dir)
        self.members = self.total = 0

    def member(self, name: bytes, windows: bool) -> tuple[Provenance, str, list[Item]]:
        """A member's provenance, base name, and the warnings its name alone deserves.

        Judged on the name's bytes (its text may hold ``\\xNN`` escapes); ``windows``: the
        format may use backslashes and drive letters (zip, 7z)."""
        text, raw = decode_name(name)
        prov = (*self.entry.provenance, Step(self.kind, text, raw))
        warns: list[Item] = []
        if raw is not None:
            warns.append(EntryWarning(prov, STAGE, "name-not-utf8", f"raw name bytes {raw}"))
        parts = re.split(rb"[/\\]" if windows else rb"/", name)
        drive = windows and re.match(rb"[A-Za-z]:", name) is not None
        if name.startswith(b"/") or drive or (windows and name.startswith(b"\\")) or b".." in parts:
            warns.append(EntryWarning(prov, STAGE, "path-traversal",
                                      "name points outside the archive; bytes read, never "
                                      "extracted by name"))  # fmt: skip
        base = next((decode_name(p)[0] for p in reversed(parts) if p), text)
        return prov, base, warns

    def counted(self, prov: Provenance) -> EntryWarning | None:
        """Counts one member; past the limit, the warning that ends the walk."""
        self.members += 1
        if self.members <= self.limits.archive_max_members:
            return None
        return EntryWarning(prov, STAGE, "too-many-members",
                            f"members from this one on skipped (limit archive_max_members "
                            f"{self.limits.archive_max_members})")  # fmt: skip

    def entry_for(
        self, prov: Provenance, name: str, spool: Spool, mtime: datetime | None = None,
        atime: datetime | None = None, ctime: datetime | None = None,
        crtime: datetime | None = None,
    ) -> Entry:  # fmt: skip
        """Hands ``spool`` over to the consumer inside a member's :class:`Entry`."""
        self.spools.hand_over(spool)
        return Entry(prov, name, spool.size, spool.open, mtime, atime, ctime, crtime,
                     local_path=spool.path, releaser=spool.release)  # fmt: skip


def extract(walk: Walk, read: Callable[[int], bytes], compressed: int | None) -> Spool | Unread:
    """Streams one member of ``compressed`` bytes (None: not compressed) into a spool under
    the limits, or says why it stopped."""
    spool = Spool(walk.spools)
    while True:
        try:
            chunk = read(CHUNK)
        except DAMAGE as exc:
            spool.release()
            return Unread(damage_reason(exc), f"{type(exc).__name__}: {exc}")
        if not chunk:
            return spool.finish()
        walk.total += len(chunk)
        bomb = too_big(walk.limits, spool.size + len(chunk), compressed, walk.total)
        if bomb is not None:
            spool.release()
            return Unread("archive-bomb", f"extraction stopped: {bomb.why}", bomb.stops_walk)
        spool.write(chunk)  # an OSError here is the case folder's, not the evidence's: raise


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """One member as its archive's directory or header describes it, before it is read."""

    name: bytes
    data: Callable[[], IO[bytes]]
    """Opens the member's decompressed bytes."""
    directory: bool
    refusal: Unread | None
    """Why it is not read whatever its size (a link, encrypted …); None: read it."""
    size: int
    """Declared (uncompressed) size."""
    compressed: int | None
    """Compressed size for the ratio limit; None: not known apart."""
    times: Mapping[str, datetime | None]


def read_members(
    walk: Walk, listing: Iterable[MemberInfo | EntryWarning], *, windows: bool, resumable: bool
) -> Iterator[Item]:
    """The members of ``listing`` (warnings pass through), each checked and read in turn.

    ``windows``: see :meth:`Walk.member`; ``resumable``: the format can go on to the next
    member after a truncated or corrupt one (a directory can; a stream cannot be
    resynchronised)."""
    for info in listing:
        if isinstance(info, EntryWarning):
            yield info
            continue
        prov, base, warns = walk.member(info.name, windows)
        if (stop := walk.counted(prov)) is not None:
            yield stop
            return
        if info.directory:
            continue
        yield from warns
        if info.refusal is not None:
            yield info.refusal.warning(prov)
            continue
        bomb = too_big(walk.limits, info.size, info.compressed, walk.total + info.size)
        if bomb is not None:  # the readers never yield more than the declared size
            yield EntryWarning(prov, STAGE, "archive-bomb", f"declared size {bomb.why}")
            if bomb.stops_walk:
                return
            continue
        try:
            data = info.data()
        except DAMAGE as exc:
            outcome: Spool | Unread = Unread(damage_reason(exc), str(exc))
        else:
            with data:
                outcome = extract(walk, data.read, info.compressed)
        if isinstance(outcome, Unread):
            yield outcome.warning(prov)
            stuck = not resumable and outcome.reason in ("truncated", "corrupt")
            if outcome.stops_walk or stuck:
                return
            continue
        yield walk.entry_for(prov, base, outcome, **info.times)
