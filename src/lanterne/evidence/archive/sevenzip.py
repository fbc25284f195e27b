"""7z: the header lists every member; a folder (a solid block) decodes in one pass for all its
members, so the members are planned before any is read."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from typing import Any, NamedTuple

import py7zr
from py7zr.exceptions import PasswordRequired
from py7zr.io import Py7zIO, WriterFactory

from lanterne.errors import CorruptData
from lanterne.evidence.archive.damage import DAMAGE, cannot_open, damage_reason
from lanterne.evidence.archive.limits import too_big
from lanterne.evidence.archive.spool import Spool, random_access
from lanterne.evidence.archive.times import filetime
from lanterne.evidence.archive.walk import STAGE, Unread, Walk
from lanterne.evidence.base import EntryWarning, Item
from lanterne.provenance import Provenance

_TIMES = (("mtime", "lastwritetime"), ("atime", "lastaccesstime"), ("crtime", "creationtime"))


class _Product(Py7zIO):
    """Receives one 7z member's bytes from py7zr's single pass; ``done`` once its CRC held."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.done = False
        self.failure: OSError | None = None

    def write(self, s: bytes | bytearray) -> int:
        try:
            self.spool.write(s)
        except OSError as exc:  # the case folder's problem: must not pass for damaged data
            self.failure = exc
            raise
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.spool.size

    def close(self) -> None:  # py7zr calls it only after the member decoded and checked
        self.spool.finish()
        self.done = True


class _Factory(WriterFactory):
    def __init__(self, walk: Walk) -> None:
        self.walk = walk
        self.products: dict[int, _Product] = {}

    def create(self, filename: str) -> _Product:
        product = _Product(Spool(self.walk.spools))
        self.products[int(filename)] = product  # members are renamed to their index
        return product


_Decoded = dict[int, Spool | Unread]


def _extract_folder(archive: py7zr.SevenZipFile, walk: Walk, targets: list[int]) -> _Decoded:
    """Decodes one 7z folder (a solid block) once, for all its wanted members."""
    factory = _Factory(walk)
    error: Exception | None = None
    archive.reset()
    try:
        archive.extract(targets=[str(i) for i in targets], factory=factory)
    except Exception as exc:  # hostile input can make the decoder raise anything
        failures = [p.failure for p in factory.products.values() if p.failure is not None]
        if failures:
            raise failures[0] from exc
        error = exc
    outcomes: _Decoded = {}
    for i in targets:
        product = factory.products.get(i)
        if product is not None and product.done:
            outcomes[i] = product.spool
            continue
        if product is not None:
            product.spool.release()
        why = f"{type(error).__name__}: {error}" if error else "not produced by the decoder"
        outcomes[i] = Unread(damage_reason(error) if error else "corrupt", f"not extracted: {why}")
    return outcomes


def walk_7z(walk: Walk) -> Iterator[Item]:
    with random_access(walk.entry, walk.spools) as stream:
        try:
            archive = py7zr.SevenZipFile(stream, mode="r")
        except PasswordRequired as exc:
            raise CorruptData("encrypted", "7z header encrypted; no password") from exc
        except DAMAGE as exc:
            raise cannot_open(exc, "7z header") from exc
        with archive:
            yield from _members(walk, archive)


class _Planned(NamedTuple):
    number: int
    """The member's place in the header."""
    prov: Provenance
    base: str
    warns: list[Item]
    action: str
    """``extract``, ``empty`` (no data to decode), or empty: nothing but the warnings."""


def _members(walk: Walk, archive: py7zr.SevenZipFile) -> Iterator[Item]:
    """Plans every member from the header (declared sizes bound what py7zr decodes), then
    yields them in order, decoding each folder once when its first member is reached."""
    files = list(archive.files)
    names = [str(f.filename) for f in files]
    for i, f in enumerate(files):  # unique, harmless names: the factory maps them back
        f.file_properties()["filename"] = str(i)
    plan, wanted = _plan(walk, files, names, locked=bool(archive.needs_password()))
    decoded: _Decoded = {}
    for i, prov, base, warns, action in plan:
        yield from warns
        f = files[i]
        props = f.file_properties()
        times = {k: filetime(v if isinstance(v := props.get(p), int) else None) for k, p in _TIMES}
        if action == "empty":
            yield walk.entry_for(prov, base, Spool(walk.spools).finish(), **times)
        elif action == "extract":
            if i not in decoded:
                decoded.update(_extract_folder(archive, walk, wanted[id(f.folder)]))
            outcome = decoded.pop(i)
            if isinstance(outcome, Unread):
                yield outcome.warning(prov)
            else:
                walk.total += outcome.size
                yield walk.entry_for(prov, base, outcome, **times)


def _plan(
    walk: Walk, files: list[Any], names: list[str], locked: bool
) -> tuple[list[_Planned], dict[int, list[int]]]:
    """What to do with each member, and the members to decode from each folder (by id)."""
    plan: list[_Planned] = []
    wanted: dict[int, list[int]] = {}
    packed: dict[int, int] = {}  # folder → compressed size (given on its first member only)
    for f in files:
        packed[id(f.folder)] = packed.get(id(f.folder), 0) + (f.compressed or 0)
    folder_out: dict[int, int] = {}
    doomed: set[int] = set()
    declared_total = 0
    for i, f in enumerate(files):
        prov, base, warns = walk.member(names[i].encode(), windows=True)
        if (stop := walk.counted(prov)) is not None:
            plan.append(_Planned(i, prov, base, [stop], ""))
            break
        fmt = f.st_fmt
        if f.is_directory and not f.is_junction:
            continue
        action = "extract"
        if f.is_symlink or f.is_junction:
            warns.append(EntryWarning(prov, STAGE, "link", "symbolic link not followed"))
            action = ""
        elif f.is_socket or (fmt is not None and not stat.S_ISREG(fmt)):
            warns.append(EntryWarning(prov, STAGE, "not-regular-file", f"file type {fmt}"))
            action = ""
        elif f.emptystream:
            action = "empty"
        elif locked:
            warns.append(EntryWarning(prov, STAGE, "encrypted", "no password: not read"))
            action = ""
        else:
            fid = id(f.folder)
            folder_out[fid] = folder_out.get(fid, 0) + f.uncompressed
            declared_total += f.uncompressed
            bomb = too_big(
                walk.limits, f.uncompressed, packed[fid], declared_total, folder_out[fid]
            )
            if fid in doomed or bomb is not None:  # later members of a block decode through it
                why = bomb.why if bomb else "follows a bomb in the same solid block"
                warns.append(EntryWarning(prov, STAGE, "archive-bomb", f"declared size {why}"))
                doomed.add(fid)
                plan.append(_Planned(i, prov, base, warns, ""))
                if bomb is not None and bomb.stops_walk:
                    break
                continue
            wanted.setdefault(fid, []).append(i)
        plan.append(_Planned(i, prov, base, warns, action))
    return plan, wanted
