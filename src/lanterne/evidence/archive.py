"""Containers: the members of zip, tar and 7z archives and of gzip, bzip2 and xz streams.

The pipeline identifies a container by signature and calls :func:`open_container`, then calls
it again on members that are containers themselves (it, not this module, limits the depth).
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
"""

from __future__ import annotations

import bz2
import gzip
import io
import itertools
import lzma
import os
import re
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import py7zr
from py7zr.exceptions import ArchiveError, PasswordRequired
from py7zr.io import Py7zIO, WriterFactory

from lanterne.config import Limits
from lanterne.errors import CorruptData
from lanterne.evidence.base import Entry, EntryWarning, Item, path_opener
from lanterne.provenance import Provenance, Step, decode_name

__all__ = ["CONTAINERS", "REASONS", "open_container"]

CONTAINERS = ("zip", "tar", "7z", "gzip", "bzip2", "xz")
REASONS = (
    "path-traversal", "name-not-utf8", "encrypted", "archive-bomb", "too-many-members",
    "corrupt", "truncated", "unreadable", "unsupported-method", "link", "not-regular-file",
)  # fmt: skip
"""Stable reason codes of the warnings (and CorruptData) this module produces."""

STAGE = "archive"
_CHUNK = 1 << 20
_MEMORY_BUDGET = 4
"""Members held in memory by one walk (a 7z solid block) stay under this × spool_in_memory."""
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
# Parsers fed hostile bytes fail in many ways; all of them mean "this data is damaged".
_DAMAGE: tuple[type[BaseException], ...] = (
    ArchiveError, zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError,
    OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, struct.error,
    NotImplementedError, RuntimeError, MemoryError, OverflowError,
)  # fmt: skip


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
    return _guarded(walker, _Walk(entry, container, limits, spool_dir))


def _guarded(walker: Callable[[_Walk], Iterator[Item]], walk: _Walk) -> Generator[Item, None, None]:
    try:
        yield from walker(walk)
    finally:  # closed early, failed or done: free the spools not handed over
        for spool in list(walk.owned):
            spool.release()


class _Walk:
    """The state of one container's walk: where it is, its limits, counts and spools."""

    def __init__(self, entry: Entry, kind: str, limits: Limits, spool_dir: Path) -> None:
        self.entry, self.kind, self.limits, self.spool_dir = entry, kind, limits, spool_dir
        self.owned: set[_Spool] = set()
        self.memory = self.members = self.total = 0

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

    def too_big(
        self, size: int, compressed: int | None, total: int, expanded: int | None = None
    ) -> tuple[str, bool] | None:
        """Why a member of ``size`` bytes (``total`` for the archive so far; ``expanded`` out of
        ``compressed`` for the ratio, default ``size``) is a bomb, and whether the whole archive
        stops there; None when within the limits."""
        lim = self.limits
        expanded = size if expanded is None else expanded
        if total > lim.archive_max_total_size:
            return (
                f"members expand past archive_max_total_size ({lim.archive_max_total_size})",
                True,
            )
        if size > lim.archive_max_member_size:
            return f"expands past archive_max_member_size ({lim.archive_max_member_size})", False
        ratio = lim.archive_max_ratio
        if compressed is not None and lim.archive_ratio_min_size < expanded > ratio * compressed:
            return f"expands over {ratio:g}× its {compressed} compressed bytes", False
        return None

    def entry_for(
        self, prov: Provenance, name: str, spool: _Spool, mtime: datetime | None = None,
        atime: datetime | None = None, ctime: datetime | None = None,
        crtime: datetime | None = None,
    ) -> Entry:  # fmt: skip
        """Hands ``spool`` over to the consumer inside a member's :class:`Entry`."""
        self.owned.discard(spool)
        return Entry(prov, name, spool.size, spool.open, mtime, atime, ctime, crtime,
                     local_path=spool.path, releaser=spool.release)  # fmt: skip


class _Spool:
    """One member's bytes, written once: in memory, or past the limit in a temporary file."""

    def __init__(self, walk: _Walk) -> None:
        self._walk = walk
        self._memory: io.BytesIO | None = io.BytesIO()
        self._file: BinaryIO | None = None
        self._data: bytes | None = None
        self.path: Path | None = None
        self.size = 0
        self.released = False
        walk.owned.add(self)

    def write(self, chunk: bytes | bytearray) -> None:
        walk, n = self._walk, len(chunk)
        if self._memory is not None:
            limit = walk.limits.spool_in_memory
            if self.size + n <= limit and walk.memory + n <= _MEMORY_BUDGET * limit:
                self._memory.write(chunk)
                walk.memory += n
                self.size += n
                return
            fd, name = tempfile.mkstemp(prefix="member-", suffix=".spool", dir=walk.spool_dir)
            self.path, self._file = Path(name), os.fdopen(fd, "wb")
            self._file.write(self._memory.getbuffer())
            walk.memory -= self.size
            self._memory = None
        assert self._file is not None
        self._file.write(chunk)
        self.size += n

    def finish(self) -> _Spool:
        if self._memory is not None:
            self._data, self._memory = self._memory.getvalue(), None
        if self._file is not None:
            self._file.close()
        return self

    def open(self) -> BinaryIO:
        if self.released:
            raise ValueError("archive member already released")
        if self.path is not None:
            return open(self.path, "rb")
        return io.BytesIO(self._data or b"")

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self._walk.owned.discard(self)
        if self.path is None:
            self._walk.memory -= self.size
        else:
            if self._file is not None:
                self._file.close()
            self.path.unlink(missing_ok=True)
        self._data = self._memory = None


def _damage(exc: BaseException) -> str:
    """The reason code for an exception raised while reading damaged data."""
    text = str(exc).lower()
    if "overlapped entries" in text:
        return "archive-bomb"
    if isinstance(exc, EOFError) or any(
        k in text for k in ("truncat", "unexpected end", "ended before", "exceeds the archive size")
    ):
        return "truncated"
    if isinstance(exc, NotImplementedError) or "unsupported" in text:
        return "unsupported-method"
    if type(exc) is OSError and exc.errno is not None:  # a real I/O error, not a codec's
        return "unreadable"
    return "corrupt"


def _extract(
    walk: _Walk, read: Callable[[int], bytes], compressed: int | None
) -> tuple[_Spool | None, str, str, bool]:
    """Streams one member of ``compressed`` bytes (None: not compressed) into a spool under
    the limits: (spool, reason, detail, stop the whole archive)."""
    spool = _Spool(walk)
    while True:
        try:
            chunk = read(_CHUNK)
        except _DAMAGE as exc:
            spool.release()
            return None, _damage(exc), f"{type(exc).__name__}: {exc}", False
        if not chunk:
            return spool.finish(), "", "", False
        walk.total += len(chunk)
        bomb = walk.too_big(spool.size + len(chunk), compressed, walk.total)
        if bomb is not None:
            spool.release()
            return None, "archive-bomb", f"extraction stopped: {bomb[0]}", bomb[1]
        spool.write(chunk)  # an OSError here is the case folder's, not the evidence's: raise


@contextmanager
def _random_access(walk: _Walk) -> Iterator[BinaryIO]:
    """A seekable stream of the container (spooled first if its source cannot seek)."""
    entry = walk.entry
    stream = path_opener(entry.local_path)() if entry.local_path else entry.open()
    with stream:
        if stream.seekable():
            yield stream
            return
        copy = _Spool(walk)
        while chunk := stream.read(_CHUNK):
            copy.write(chunk)
    try:
        with copy.finish().open() as seekable:
            yield seekable
    finally:
        copy.release()


def _utc(ts: float | None) -> datetime | None:
    try:
        return None if not ts else datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _filetime(ft: int | None) -> datetime | None:
    try:
        return None if not ft else _FILETIME_EPOCH + timedelta(microseconds=int(ft) // 10)
    except OverflowError:
        return None


# ------------------------------------------------------------------------------------ zip
def _zip_times(info: zipfile.ZipInfo) -> dict[str, datetime | None]:
    """NTFS times, else Unix extended-timestamp times (both UTC), else the DOS time: the
    zipping machine's wall-clock time in a zone the archive does not record, labelled UTC
    (the case store keeps aware times; a report must not read more into it)."""
    try:
        dos: datetime | None = datetime(*info.date_time, tzinfo=UTC)
    except ValueError:
        dos = None
    found: dict[str, datetime | None] = {"mtime": dos}
    extra, pos = info.extra, 0
    while pos + 4 <= len(extra):
        hid, size = struct.unpack_from("<HH", extra, pos)
        data, pos = extra[pos + 4 : pos + 4 + size], pos + 4 + size
        if hid == 0x000A and len(data) >= 32 and data[4:6] == b"\x01\x00":
            m, a, c = struct.unpack_from("<QQQ", data, 8)
            return {"mtime": _filetime(m), "atime": _filetime(a), "crtime": _filetime(c)}
        if hid == 0x5455 and data:
            stamps = iter(struct.unpack_from(f"<{(len(data) - 1) // 4}i", data, 1))
            for bit, key in ((1, "mtime"), (2, "atime"), (4, "crtime")):
                if data[0] & bit:
                    found[key] = _utc(next(stamps, None))
    return found


def _overlapping(infos: list[zipfile.ZipInfo], raw_names: list[bytes]) -> set[int]:
    """Members whose data runs into another's local header: the overlapping-entries bomb
    (many directory entries sharing one compressed kernel), caught before inflating it."""
    order = sorted(range(len(infos)), key=lambda i: infos[i].header_offset)
    bad: set[int] = set()
    for a, b in itertools.pairwise(order):
        end = infos[a].header_offset + 30 + len(raw_names[a]) + infos[a].compress_size
        if end > infos[b].header_offset:
            bad |= {a, b}
    return bad


def _walk_zip(walk: _Walk) -> Iterator[Item]:
    with _random_access(walk) as stream:
        try:
            archive = zipfile.ZipFile(stream)
        except _DAMAGE as exc:
            stream.seek(0)
            local_header = stream.read(4) == b"PK\x03\x04"  # members but no directory: cut short
            raise CorruptData("truncated" if local_header else "corrupt",
                              f"cannot read the zip directory: {exc}") from exc  # fmt: skip
        with archive:
            infos = archive.infolist()
            raws = [
                i.orig_filename.encode("utf-8" if i.flag_bits & 0x800 else "cp437") for i in infos
            ]
            overlaps = _overlapping(infos, raws)
            for index, info in enumerate(infos):
                prov, base, warns = walk.member(raws[index], windows=True)
                if (stop := walk.counted(prov)) is not None:
                    yield stop
                    return
                # Unix type bits, when the zipper wrote them (many write permissions only).
                fmt = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
                if info.is_dir() or fmt == stat.S_IFDIR:
                    continue
                yield from warns
                if fmt not in (0, stat.S_IFREG):
                    reason = "link" if fmt == stat.S_IFLNK else "not-regular-file"
                    yield EntryWarning(prov, STAGE, reason, f"unix type {fmt:o}; not read")
                    continue
                if info.flag_bits & 0x1:
                    yield EntryWarning(prov, STAGE, "encrypted", "no password: not read")
                    continue
                if index in overlaps:
                    yield EntryWarning(prov, STAGE, "archive-bomb", "data overlaps another member")
                    continue
                bomb = walk.too_big(info.file_size, info.compress_size, walk.total + info.file_size)
                if bomb is not None:  # zipfile never yields more than the declared size
                    yield EntryWarning(prov, STAGE, "archive-bomb", f"declared size {bomb[0]}")
                    if bomb[1]:
                        return
                    continue
                try:
                    member = archive.open(info)
                except _DAMAGE as exc:
                    yield EntryWarning(prov, STAGE, _damage(exc), str(exc))
                    continue
                with member:
                    spool, reason, detail, stop_all = _extract(
                        walk, member.read, info.compress_size
                    )
                if spool is None:
                    yield EntryWarning(prov, STAGE, reason, detail)
                    if stop_all:
                        return
                    continue
                yield walk.entry_for(prov, base, spool, **_zip_times(info))


# ------------------------------------------------------------------------------------ tar
def _walk_tar(walk: _Walk) -> Iterator[Item]:
    """Streaming (``r|``): works on any stream, reads it once front to back."""
    with walk.entry.open() as stream:
        try:
            archive = tarfile.open(  # noqa: SIM115 (closed by the with below)
                fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape"
            )
        except _DAMAGE as exc:
            raise CorruptData(_damage(exc), f"cannot read the tar stream: {exc}") from exc
        with archive:
            while True:
                try:
                    info = archive.next()
                except _DAMAGE as exc:
                    after = f"tar stream unreadable after {walk.members} members: {exc}"
                    yield EntryWarning(walk.entry.provenance, STAGE, _damage(exc), after)
                    return
                if info is None:
                    return
                name = info.name.encode("utf-8", "surrogateescape")
                prov, base, warns = walk.member(name, windows=False)
                if (stop := walk.counted(prov)) is not None:
                    yield stop
                    return
                if info.isdir():
                    continue
                yield from warns
                if info.issym() or info.islnk():
                    yield EntryWarning(prov, STAGE, "link", f"not followed: -> {info.linkname}")
                    continue
                if not info.isreg():
                    yield EntryWarning(prov, STAGE, "not-regular-file", f"tar type {info.type!r}")
                    continue
                bomb = walk.too_big(info.size, None, walk.total + info.size)
                if bomb is not None:
                    yield EntryWarning(prov, STAGE, "archive-bomb", f"declared size {bomb[0]}")
                    if bomb[1]:
                        return
                    continue
                member = archive.extractfile(info)
                assert member is not None  # a regular file always has data
                with member:
                    spool, reason, detail, stop_all = _extract(walk, member.read, None)
                if spool is None:
                    yield EntryWarning(prov, STAGE, reason, detail)
                    if stop_all or reason in ("truncated", "corrupt"):
                        return  # a stream cannot be resynchronised
                    continue
                atime, ctime = _pax_time(info, "atime"), _pax_time(info, "ctime")
                yield walk.entry_for(prov, base, spool, _utc(info.mtime), atime, ctime)


def _pax_time(info: tarfile.TarInfo, key: str) -> datetime | None:
    try:
        return _utc(float(info.pax_headers[key]))
    except (KeyError, ValueError):
        return None


# ----------------------------------------------------------------------- gzip, bzip2, xz
_STREAMS: dict[str, tuple[bytes, dict[str, str]]] = {
    "gzip": (b"\x1f\x8b", {".gz": "", ".tgz": ".tar", ".gzip": "", ".z": ""}),
    "bzip2": (b"BZh", {".bz2": "", ".bz": "", ".tbz2": ".tar", ".tbz": ".tar"}),
    "xz": (b"\xfd7zXZ\x00", {".xz": "", ".txz": ".tar"}),
}


def _decompressed(kind: str, source: BinaryIO) -> io.BufferedIOBase:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=source, mode="rb")
    return bz2.BZ2File(source) if kind == "bzip2" else lzma.LZMAFile(source)


def _walk_stream(walk: _Walk) -> Iterator[Item]:
    """A compressed stream holds one member named after the container, less its suffix."""
    magic, suffixes = _STREAMS[walk.kind]
    name = walk.entry.name
    for suffix, replacement in suffixes.items():
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)] + replacement
            break
    with _random_access(walk) as stream:  # seekable: to check the magic, then measure
        head = stream.read(len(magic))
        if head != magic:
            raise CorruptData("corrupt", f"not a {walk.kind} stream (starts {head.hex()})")
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        with _decompressed(walk.kind, stream) as opened:
            spool, reason, detail, _ = _extract(walk, opened.read, size)
            mtime = _utc(opened.mtime) if isinstance(opened, gzip.GzipFile) else None
    prov, base, warns = walk.member(name.encode(), windows=False)
    yield from warns
    walk.members += 1
    if spool is None:
        yield EntryWarning(prov, STAGE, reason, detail)
    else:
        yield walk.entry_for(prov, base, spool, mtime=mtime)


# ------------------------------------------------------------------------------------- 7z
class _Product(Py7zIO):
    """Receives one 7z member's bytes from py7zr's single pass; ``done`` once its CRC held."""

    def __init__(self, spool: _Spool) -> None:
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
    def __init__(self, walk: _Walk) -> None:
        self.walk = walk
        self.products: dict[int, _Product] = {}

    def create(self, filename: str) -> _Product:
        product = _Product(_Spool(self.walk))
        self.products[int(filename)] = product  # members are renamed to their index
        return product


_Decoded = dict[int, tuple[_Spool | None, str, str]]


def _extract_folder(archive: py7zr.SevenZipFile, walk: _Walk, targets: list[int]) -> _Decoded:
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
            outcomes[i] = (product.spool, "", "")
            continue
        if product is not None:
            product.spool.release()
        why = f"{type(error).__name__}: {error}" if error else "not produced by the decoder"
        outcomes[i] = (None, _damage(error) if error else "corrupt", f"not extracted: {why}")
    return outcomes


_7Z_TIMES = (("mtime", "lastwritetime"), ("atime", "lastaccesstime"), ("crtime", "creationtime"))


def _walk_7z(walk: _Walk) -> Iterator[Item]:
    with _random_access(walk) as stream:
        try:
            archive = py7zr.SevenZipFile(stream, mode="r")
        except PasswordRequired as exc:
            raise CorruptData("encrypted", "7z header encrypted; no password") from exc
        except _DAMAGE as exc:
            raise CorruptData(_damage(exc), f"cannot read the 7z header: {exc}") from exc
        with archive:
            yield from _members_7z(walk, archive)


def _members_7z(walk: _Walk, archive: py7zr.SevenZipFile) -> Iterator[Item]:
    """Plans every member from the header (declared sizes bound what py7zr decodes), then
    yields them in order, decoding each folder once when its first member is reached."""
    files = list(archive.files)
    names = [str(f.filename) for f in files]
    for i, f in enumerate(files):  # unique, harmless names: the factory maps them back
        f.file_properties()["filename"] = str(i)
    locked = bool(archive.needs_password())
    plan: list[tuple[int, Provenance, str, list[Item], str]] = []  # index, prov, base, …, action
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
            plan.append((i, prov, base, [stop], ""))
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
            bomb = walk.too_big(f.uncompressed, packed[fid], declared_total, folder_out[fid])
            if fid in doomed or bomb is not None:  # later members of a block decode through it
                why = bomb[0] if bomb else "follows a bomb in the same solid block"
                warns.append(EntryWarning(prov, STAGE, "archive-bomb", f"declared size {why}"))
                doomed.add(fid)
                plan.append((i, prov, base, warns, ""))
                if bomb is not None and bomb[1]:
                    break
                continue
            wanted.setdefault(fid, []).append(i)
        plan.append((i, prov, base, warns, action))
    decoded: _Decoded = {}
    for i, prov, base, warns, action in plan:
        yield from warns
        f = files[i]
        props = f.file_properties()
        times = {
            k: _filetime(v if isinstance(v := props.get(p), int) else None) for k, p in _7Z_TIMES
        }
        if action == "empty":
            yield walk.entry_for(prov, base, _Spool(walk).finish(), **times)
        elif action == "extract":
            if i not in decoded:
                decoded.update(_extract_folder(archive, walk, wanted[id(f.folder)]))
            spool, reason, detail = decoded.pop(i)
            if spool is None:
                yield EntryWarning(prov, STAGE, reason, detail)
            else:
                walk.total += spool.size
                yield walk.entry_for(prov, base, spool, **times)


_WALKERS: dict[str, Callable[[_Walk], Iterator[Item]]] = {
    "zip": _walk_zip,
    "tar": _walk_tar,
    "7z": _walk_7z,
    "gzip": _walk_stream,
    "bzip2": _walk_stream,
    "xz": _walk_stream,
}
