"""Benign archives for tests, the demo and benchmarks: zip, tar (plain, gzip, bzip2, xz), 7z and
single compressed streams, written from a mapping of member name → bytes, and nested.

Why code and not committed files: fixtures are generated where they are used (house style).
Everything is deterministic: fixed member times (``when``), fixed compression settings, and for
the encrypted archives a salt drawn from ``seed`` instead of the system's random source, so an
operation built twice has the same SHA-256 everywhere. Names may be ``bytes`` to write member
names that are not valid UTF-8 (a zip member without the UTF-8 flag, a raw tar name).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import struct
import tarfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import py7zr
import py7zr.compressor
from py7zr.helpers import ArchiveTimestamp

__all__ = [
    "KINDS",
    "WHEN",
    "Members",
    "archive_bytes",
    "compress",
    "encrypted_zip_bytes",
    "kind_of",
    "nest",
    "sevenzip_bytes",
    "tar_bytes",
    "write_archive",
    "zip_bytes",
]

Members = Mapping[str, bytes] | Mapping[bytes, bytes] | Mapping[str | bytes, bytes]
"""Member name → bytes; a ``bytes`` name is written as those exact bytes."""
WHEN = datetime(2024, 3, 14, 9, 26, 52, tzinfo=UTC)
"""Default member time (an even second: DOS times keep two-second steps)."""

KINDS = ("zip", "7z", "tar", "tar.gz", "tgz", "tar.bz2", "tar.xz", "gz", "bz2", "xz")
"""Archive kinds by file suffix; ``tar.gz`` (and ``tgz``) are a tar inside a gzip stream."""

_CODECS = ("gz", "bz2", "xz")


def kind_of(name: str) -> str | None:
    """The archive kind a file name's suffix says, or None."""
    lower = name.lower()
    return next((k for k in sorted(KINDS, key=len, reverse=True) if lower.endswith("." + k)), None)


def _text(name: str | bytes) -> str:
    """A name as tarfile/py7zr want it: bytes that are not UTF-8 ride as surrogate escapes."""
    return name if isinstance(name, str) else name.decode("utf-8", "surrogateescape")


class _RawNameInfo(zipfile.ZipInfo):
    """A zip member whose name bytes are written as given, without the UTF-8 flag (bit 11), as
    old zippers and Windows' own do; readers decode such names as cp437 by the standard."""

    __slots__ = ("raw_name",)

    def __init__(self, raw_name: bytes, date_time: tuple[int, int, int, int, int, int]) -> None:
        super().__init__(raw_name.decode("cp437"), date_time)
        self.raw_name = raw_name

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # zipfile's hook
        return self.raw_name, self.flag_bits & ~0x800


def _zip_info(name: str | bytes, when: datetime, unix_time: bool) -> zipfile.ZipInfo:
    stamp = when.astimezone(UTC).replace(tzinfo=None).timetuple()[:6]
    info = _RawNameInfo(name, stamp) if isinstance(name, bytes) else zipfile.ZipInfo(name, stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
    info.create_system = 3
    if unix_time:  # Info-ZIP's extended timestamp: the UTC time that DOS times lack
        info.extra = struct.pack("<HHBi", 0x5455, 5, 1, int(when.timestamp()))
    return info


def zip_bytes(members: Members, *, when: datetime = WHEN, unix_time: bool = True) -> bytes:
    """A deflated zip of ``members`` in the mapping's order.

    Member times are the DOS time of ``when`` in UTC plus, unless ``unix_time`` is false, the
    extended-timestamp field carrying ``when`` exactly (to the second)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(_zip_info(name, when, unix_time), data)
    return buf.getvalue()


@contextmanager
def _seeded_salts(seed: int) -> Iterator[None]:
    """py7zr and pyzipper draw salts and IVs from the system's random source; synthetic test
    archives must be reproducible, so while one is written they come from ``seed`` instead.
    (Fine for benign test data, never to protect anything; not thread-safe: it swaps module
    attributes for the duration.)"""
    rng = random.Random(seed)

    def draw(n: int) -> bytes:
        return rng.randbytes(n)

    class _Source:
        @staticmethod
        def new() -> _Source:
            return _Source()

        @staticmethod
        def read(n: int) -> bytes:
            return draw(n)

    try:
        import pyzipper  # a test dependency: only synth code imports it

        aes: Any = pyzipper.zipfile_aes
    except ImportError:
        aes = _Source  # a stand-in that nothing reads
    codec = py7zr.compressor
    saved = (getattr(codec, "get_random_bytes"), aes.Random)  # noqa: B009 (not exported)
    setattr(codec, "get_random_bytes", draw)  # noqa: B010
    aes.Random = _Source
    try:
        yield
    finally:
        setattr(codec, "get_random_bytes", saved[0])  # noqa: B010
        aes.Random = saved[1]


def encrypted_zip_bytes(members: Mapping[str, bytes], password: bytes, *, seed: int = 0) -> bytes:
    """A WinZip-AES-256 encrypted zip (needs the test extra's ``pyzipper``)."""
    try:
        import pyzipper
    except ImportError as exc:  # pragma: no cover - the message is the point
        raise ImportError("encrypted zips need pyzipper: pip install 'lanterne[test]'") from exc
    buf = io.BytesIO()
    with (
        _seeded_salts(seed),
        pyzipper.AESZipFile(
            buf, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
        ) as archive,
    ):
        archive.setpassword(password)
        for name, data in members.items():
            info = archive.zipinfo_cls(filename=name, date_time=WHEN.timetuple()[:6])
            info.compress_type = pyzipper.ZIP_DEFLATED
            archive.writestr(info, data)
    return buf.getvalue()


def tar_bytes(
    members: Members,
    *,
    when: datetime = WHEN,
    compression: str = "",
    symlinks: Mapping[str, str] | None = None,
    fifos: Sequence[str] = (),
) -> bytes:
    """A POSIX (pax) tar of ``members``, with directory entries for their folders, then the
    given symbolic links (name → target) and FIFOs; ``compression`` is "", gz, bz2 or xz."""
    buf = io.BytesIO()
    stamp = when.timestamp()
    mtime = int(stamp) if stamp.is_integer() else stamp  # a fraction needs a pax record

    def info(name: str, kind: bytes, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.size, ti.mtime, ti.mode = kind, size, mtime, mode
        return ti

    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8",
        errors="surrogateescape",
    ) as archive:  # fmt: skip
        folders: set[str] = set()
        for raw, data in members.items():
            name = _text(raw)
            parts = name.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                folder = "/".join(parts[:depth])
                if folder and folder not in folders and folder not in ("..", "."):
                    folders.add(folder)
                    archive.addfile(info(folder, tarfile.DIRTYPE, mode=0o755))
            archive.addfile(info(name, tarfile.REGTYPE, len(data)), io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            link = info(name, tarfile.SYMTYPE, mode=0o777)
            link.linkname = target
            archive.addfile(link)
        for name in fifos:
            archive.addfile(info(name, tarfile.FIFOTYPE))
    return compress(buf.getvalue(), compression, when=when) if compression else buf.getvalue()


def compress(data: bytes, codec: str, *, when: datetime = WHEN) -> bytes:
    """One gz, bz2 or xz stream of ``data`` (gzip records ``when`` as its MTIME)."""
    if codec == "gz":
        return gzip.compress(data, compresslevel=6, mtime=int(when.timestamp()))
    if codec == "bz2":
        return bz2.compress(data, 9)
    if codec == "xz":
        return lzma.compress(data, preset=6)
    raise ValueError(f"unknown codec {codec!r}; expected one of {_CODECS}")


def sevenzip_bytes(
    members: Members,
    *,
    when: datetime = WHEN,
    solid: bool = True,
    password: str | None = None,
    encrypt_header: bool = False,
    seed: int = 0,
) -> bytes:
    """A 7z of ``members``: one solid LZMA2 block, or one block per member (``solid=False``).

    Names are stored as given, even those py7zr refuses to write (``../x``: hostile tests need
    them); with ``password`` the content is AES-encrypted, and with ``encrypt_header`` the list
    of members too."""
    buf = io.BytesIO()
    stamp = ArchiveTimestamp.from_datetime(when.timestamp())
    items = list(members.items())
    groups = [items] if solid else [[item] for item in items]
    with _seeded_salts(seed):
        for n, group in enumerate(groups or [[]]):
            with py7zr.SevenZipFile(buf, "a" if n else "w", password=password) as archive:
                if encrypt_header:
                    archive.set_encrypted_header(True)
                for name, data in group:
                    archive.writestr(data, "placeholder")
                    info: dict[str, Any] = archive.header.files_info.files[-1]
                    info["filename"] = _text(name)
                    for key in ("creationtime", "lastwritetime", "lastaccesstime"):
                        info[key] = stamp
            buf.seek(0)
    return buf.getvalue()


def archive_bytes(kind: str, members: Members, *, when: datetime = WHEN) -> bytes:
    """An archive of one of :data:`KINDS`; a single stream (gz, bz2, xz) takes one member."""
    if kind == "zip":
        return zip_bytes(members, when=when)
    if kind == "7z":
        return sevenzip_bytes(members, when=when)
    if kind in ("tar", "tar.gz", "tgz", "tar.bz2", "tar.xz"):
        codec = {"tar": "", "tgz": "gz"}.get(kind, kind.removeprefix("tar."))
        return tar_bytes(members, when=when, compression=codec)
    if kind in _CODECS:
        if len(members) != 1:
            raise ValueError(f"a {kind} stream holds exactly one member, not {len(members)}")
        return compress(next(iter(members.values())), kind, when=when)
    raise ValueError(f"unknown archive kind {kind!r}; expected one of {KINDS}")


def write_archive(path: Path, members: Members, *, when: datetime = WHEN) -> Path:
    """Writes an archive of the kind ``path``'s suffix names (``.zip``, ``.tar.gz`` …)."""
    kind = kind_of(path.name)
    if kind is None:
        raise ValueError(f"{path.name}: the suffix names no archive kind of {KINDS}")
    path.write_bytes(archive_bytes(kind, members, when=when))
    return path


def nest(members: Members, layers: Sequence[str], *, when: datetime = WHEN) -> bytes:
    """Archives inside archives: ``layers`` outermost first; the archive at depth ``i`` (1 is
    inside the outermost) is the single member ``level-<i>.<kind>`` of its parent, and the
    innermost holds ``members``. ``nest(m, ["zip", "tar.gz", "7z"])``: a zip holding
    ``level-1.tar.gz`` holding ``level-2.7z`` holding ``m``."""
    if not layers:
        raise ValueError("nest needs at least one layer")
    data = archive_bytes(layers[-1], members, when=when)
    for depth in range(len(layers) - 1, 0, -1):
        data = archive_bytes(layers[depth - 1], {f"level-{depth}.{layers[depth]}": data}, when=when)
    return data
