"""Hostile and broken inputs, each with the warning an ingest must record for it.

Principle 6 of the design: a corrupt, truncated, encrypted or hostile input (bombs, path
traversal, link loops, odd names) costs one warning row, never the run. Tests prove it against
these files, so each case lists where the warning lands (``location``: the display path from the
folder, layers joined with ``!/``), the pipeline stage and the stable reason code:

* ``walk`` (the folder source): ``symlink``, ``not-regular-file``, ``unreadable``,
  ``name-not-utf8``;
* ``archive`` (:mod:`lanterne.evidence.archive` and the pipeline's depth limit):
  ``path-traversal``, ``name-not-utf8``, ``encrypted``, ``archive-bomb``, ``link``,
  ``not-regular-file``, ``corrupt``, ``truncated``, ``archive-depth``;
* ``picture``: the picture reader's :class:`~lanterne.errors.CorruptData` reason
  (``truncated``, ``corrupt``, ``decompression-bomb``).

Every case is small on disk. The zip bomb is a 128 MiB member deflated to ~130 kB, written
without ever holding the 128 MiB: its declared size trips the default ratio limit
(> ``archive_ratio_min_size`` 64 MiB and > 200× its compressed size) before any inflating.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from lanterne.config import Limits
from lanterne.provenance import LAYER_SEPARATOR, decode_name
from lanterne.synth import archives
from lanterne.synth.pictures import make_picture

__all__ = ["ExpectedFile", "ExpectedWarning", "HostileSet", "write_hostile", "write_hostile_set"]

BOMB_SIZE = 128 << 20
"""Expanded size of the zip bomb's member."""
DEPTH = 20
"""Archives nested inside one another in the depth bomb."""


@dataclass(frozen=True, slots=True)
class ExpectedWarning:
    location: str
    """Display path from the item's root (``a/b.zip!/c.jpg``)."""
    stage: str
    reason: str


@dataclass(frozen=True, slots=True)
class ExpectedFile:
    """One file occurrence an ingest must record (a ``file`` row)."""

    location: str
    sha256: str
    size: int
    kind: str
    """What the bytes are, as :func:`lanterne.analyze.filetype.identify` names it: picture,
    video, archive, compressed, text, document or empty."""


@dataclass
class HostileSet:
    warnings: list[ExpectedWarning] = field(default_factory=list)
    files: list[ExpectedFile] = field(default_factory=list)

    def file(self, location: str, data: bytes, kind: str) -> None:
        self.files.append(ExpectedFile(location, hashlib.sha256(data).hexdigest(), len(data), kind))

    def warn(self, location: str, stage: str, reason: str) -> None:
        self.warnings.append(ExpectedWarning(location, stage, reason))


def write_hostile(folder: Path, *, seed: int = 0) -> list[ExpectedWarning]:
    """Writes the hostile cases into ``folder``; returns the warnings an ingest must record."""
    return write_hostile_set(folder, seed=seed).warnings


def write_hostile_set(folder: Path, *, seed: int = 0, limits: Limits | None = None) -> HostileSet:
    """Writes the hostile cases; returns the warnings and every file occurrence an ingest with
    ``limits`` (default :class:`Limits`) must record. Cases the platform cannot make (a FIFO on
    Windows, non-UTF-8 names on macOS) are left out, with their warnings."""
    limits = limits or Limits()
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = HostileSet()

    def put(name: str, data: bytes, kind: str) -> bytes:
        (folder / name).write_bytes(data)
        out.file(name, data, kind)
        return data

    # Pictures the decoder must refuse.
    jpeg = make_picture(seed, (320, 240), "JPEG")
    put("truncated.jpg", jpeg[: len(jpeg) // 2], "picture")
    out.warn("truncated.jpg", "picture", "truncated")
    noise = bytes(b % 0xFF for b in rng.randbytes(4096))  # no 0xFF: no JPEG marker follows
    put("corrupt.jpg", jpeg[:20] + noise, "picture")
    out.warn("corrupt.jpg", "picture", "corrupt")
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", 320, 240, 8, 2, 0, 0, 0))
    put("corrupt.png", b"\x89PNG\r\n\x1a\n" + header + noise, "picture")
    out.warn("corrupt.png", "picture", "corrupt")
    put("bomb.png", bomb_png(60_000, 60_000), "picture")
    out.warn("bomb.png", "picture", "decompression-bomb")
    put("empty.jpg", b"", "empty")
    put("empty.txt", b"", "empty")

    # Archives.
    put("bomb.zip", zip_bomb(), "archive")
    out.warn("bomb.zip!/zeros.bin", "archive", "archive-bomb")
    put("overlap.zip", overlapping_zip(4), "archive")
    for i in range(4):
        out.warn(f"overlap.zip!/part-{i}.bin", "archive", "archive-bomb")
    _depth_bomb(folder, out, limits)
    escapes = {"../../escape.txt": b"escaped?\n", "/abs/evil.txt": b"absolute\n", "ok.txt": b"ok\n"}
    for name, data in (
        ("traversal.zip", archives.zip_bytes(escapes)),
        ("traversal.tar", archives.tar_bytes(escapes)),
    ):
        put(name, data, "archive")
        for member, content in escapes.items():
            out.file(f"{name}!/{member}", content, "text")
            if member != "ok.txt":
                out.warn(f"{name}!/{member}", "archive", "path-traversal")
    put(
        "secret.zip",
        archives.encrypted_zip_bytes({"diary.txt": b"x\n"}, b"pw", seed=seed),
        "archive",
    )
    out.warn("secret.zip!/diary.txt", "archive", "encrypted")
    put(
        "secret.7z",
        archives.sevenzip_bytes({"notes.txt": b"x\n"}, password="pw", seed=seed),
        "archive",
    )
    out.warn("secret.7z!/notes.txt", "archive", "encrypted")
    sealed = archives.sevenzip_bytes(
        {"n.txt": b"x\n"}, password="pw", encrypt_header=True, seed=seed
    )
    put("sealed.7z", sealed, "archive")
    out.warn("sealed.7z", "archive", "encrypted")
    raw_name = b"r\xe9sum\xe9.txt"  # Latin-1, not UTF-8, no UTF-8 flag
    put("names.zip", archives.zip_bytes({raw_name: b"cv\n"}), "archive")
    out.file(f"names.zip!/{decode_name(raw_name)[0]}", b"cv\n", "text")
    out.warn(f"names.zip!/{decode_name(raw_name)[0]}", "archive", "name-not-utf8")
    links = archives.tar_bytes(
        {"readme.txt": b"hi\n"}, symlinks={"shortcut": "/etc"}, fifos=["pipe"]
    )
    put("links.tar", links, "archive")
    out.file("links.tar!/readme.txt", b"hi\n", "text")
    out.warn("links.tar!/shortcut", "archive", "link")
    out.warn("links.tar!/pipe", "archive", "not-regular-file")
    whole = archives.zip_bytes({"a.txt": b"a\n", "b.txt": b"b\n"})
    put("cut.zip", whole[: whole.index(b"PK\x01\x02")], "archive")  # central directory lost
    out.warn("cut.zip", "archive", "truncated")
    crc = bytearray(archives.zip_bytes({"data.bin": b"\x00" * 64, "ok.txt": b"fine\n"}))
    crc[30 + len("data.bin") + 9 + 2] ^= 0xFF  # flip a bit of data.bin's deflated bytes
    put("crc.zip", bytes(crc), "archive")
    out.file("crc.zip!/ok.txt", b"fine\n", "text")
    out.warn("crc.zip!/data.bin", "archive", "corrupt")
    tgz = archives.tar_bytes({"x.txt": rng.randbytes(20_000)}, compression="gz")
    put("cut.tar.gz", tgz[: len(tgz) // 2], "compressed")
    out.warn("cut.tar.gz!/cut.tar", "archive", "truncated")

    _folder_cases(folder, out)
    return out


def _folder_cases(folder: Path, out: HostileSet) -> None:
    """What only a file system can hold: links, a FIFO, names that are not UTF-8."""
    loop = folder / "loop"
    loop.mkdir(exist_ok=True)
    os.symlink("..", loop / "up")
    out.warn("loop/up", "walk", "symlink")
    os.symlink("nowhere/missing.jpg", folder / "dangling.jpg")
    out.warn("dangling.jpg", "walk", "symlink")
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe")
        out.warn("pipe", "walk", "not-regular-file")
    base = os.fsencode(folder)
    try:
        with open(base + b"/caf\xe9.txt", "wb") as f:
            f.write(b"latin-1 name\n")
        os.mkdir(base + b"/dossier-\xff")
        with open(base + b"/dossier-\xff/note.txt", "wb") as f:
            f.write(b"inside\n")
    except OSError:  # a file system that only takes UTF-8 names
        return
    out.file(decode_name(b"caf\xe9.txt")[0], b"latin-1 name\n", "text")
    out.warn(decode_name(b"caf\xe9.txt")[0], "walk", "name-not-utf8")
    out.file(decode_name(b"dossier-\xff")[0] + "/note.txt", b"inside\n", "text")
    out.warn(decode_name(b"dossier-\xff")[0], "walk", "name-not-utf8")


def _depth_bomb(folder: Path, out: HostileSet, limits: Limits) -> None:
    """``depth.zip``: zips nested :data:`DEPTH` deep. The archive at depth
    ``archive_max_depth`` is recorded but not opened (``archive-depth``)."""
    layers = [b"bottom\n"]
    for level in range(DEPTH - 1, -1, -1):
        inner = f"level-{level + 1}.zip" if level + 1 < DEPTH else "bottom.txt"
        layers.insert(0, archives.zip_bytes({inner: layers[0]}))
    (folder / "depth.zip").write_bytes(layers[0])
    location = "depth.zip"
    for level, data in enumerate(layers):
        if level > 0:
            name = f"level-{level}.zip" if level < DEPTH else "bottom.txt"
            location += LAYER_SEPARATOR + name
        out.file(location, data, "archive" if level < DEPTH else "text")
        if level == limits.archive_max_depth:
            out.warn(location, "archive", "archive-depth")
            return


# ---------------------------------------------------------------- hand-made zips and PNGs
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_DOS_TIME, _DOS_DATE = (9 << 11) | (26 << 5), (44 << 9) | (3 << 5) | 14  # 2024-03-14 09:26


def _zip(local: bytes, data: bytes, entries: list[tuple[bytes, int, int, int]]) -> bytes:
    """One local record (``local`` name, ``data`` deflated) then a central directory of
    ``entries`` (name, crc, expanded size, offset): all may point at the same data."""
    head = _LOCAL.pack(b"PK\x03\x04", 20, 0, 8, _DOS_TIME, _DOS_DATE,
                       entries[0][1], len(data), entries[0][2], len(local), 0)  # fmt: skip
    body = head + local + data
    directory = b""
    for name, crc, size, offset in entries:
        fields = (20, 20, 0, 8, _DOS_TIME, _DOS_DATE, crc, len(data), size, len(name))
        directory += _CENTRAL.pack(b"PK\x01\x02", *fields, 0, 0, 0, 0, 0, offset) + name
    n = len(entries)
    return body + directory + _END.pack(b"PK\x05\x06", 0, 0, n, n, len(directory), len(body), 0)


def _zeros_deflated(size: int) -> tuple[bytes, int]:
    """``size`` zero bytes deflated, and their CRC-32, without holding them: after a sync
    flush the compressor's state repeats, so one MiB's output block stands for every MiB."""
    mib = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(mib) + c.flush(zlib.Z_SYNC_FLUSH)
    steady = c.compress(mib) + c.flush(zlib.Z_SYNC_FLUSH)
    crc = 0
    for _ in range(size >> 20):
        crc = zlib.crc32(mib, crc)
    return first + steady * ((size >> 20) - 1) + c.flush(), crc


def zip_bomb(size: int = BOMB_SIZE) -> bytes:
    """A zip whose one member, ``zeros.bin``, expands ~1000× to ``size`` (whole MiB)."""
    data, crc = _zeros_deflated(size)
    return _zip(b"zeros.bin", data, [(b"zeros.bin", crc, size, 0)])


def overlapping_zip(members: int, size: int = 8 << 20) -> bytes:
    """The overlapping-entries bomb: ``members`` directory entries (``part-<i>.bin``) sharing
    one compressed kernel, so the archive expands to ``members × size``."""
    data, crc = _zeros_deflated(size)
    entries = [(f"part-{i}.bin".encode(), crc, size, 0) for i in range(members)]
    return _zip(b"part-0.bin", data, entries)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int, height: int) -> bytes:
    """A valid-looking PNG declaring ``width × height`` RGB pixels with almost no data: a
    decoder that believes the header allocates gigabytes (never allocated here)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * min(width, 64)))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )
