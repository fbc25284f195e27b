"""Picture carving: JPEG, PNG and GIF pictures found by their structure in raw disk bytes.

Unallocated space, slack and damaged volumes hold pictures that no file system entry names any
more. :func:`carve` scans byte ranges of a volume (its ``regions``) for the signatures that start
a picture, then follows the picture's own structure from there to its last byte:

* **JPEG** (``FF D8 FF``): marker segments, each with its two-byte length (APPn, DQT, DHT,
  SOFn, DRI, COM …), skipped by that length, so that an EXIF thumbnail inside APP1 is part of
  its picture and never a picture of its own. At least one SOFn (with a length that matches its
  component count) must come before a SOS. After each SOS the entropy-coded data runs to the
  next ``FF`` followed by a byte other than ``00`` (stuffing), ``D0``–``D7`` (restart markers)
  and ``FF`` (fill): ``D9`` (EOI) ends the picture, any other marker is parsed as a segment
  (a progressive JPEG puts DHT and further SOS segments between its scans).
* **PNG** (``89 50 4E 47 0D 0A 1A 0A``): chunks (big-endian length, four ASCII letters, data,
  CRC-32 of type and data, checked with :func:`zlib.crc32`); the first chunk is a 13-byte IHDR,
  at least one IDAT follows, and the picture ends after IEND.
* **GIF** (``GIF87a``/``GIF89a``): the logical screen descriptor and its global colour table,
  then extensions (``21``, label, sub-blocks) and images (``2C``, descriptor, local colour
  table, LZW minimum code size, sub-blocks) up to the trailer ``3B``; at least one image.

A candidate whose structure breaks (a bad marker, length, chunk type or CRC), whose bytes run
out (a picture cut short by the end of the volume, or overwritten by something else), or that
would be larger than ``max_size`` is rejected: only complete pictures are carved, and random
bytes carve nothing (each format needs several consistent lengths, or CRCs, to pass).

A picture must start inside a region; its bytes may run past the region's end and are read
through ``read_at``. Once a picture is carved, the scan resumes after its last byte. Regions
are read ``chunk`` bytes at a time (with a few bytes of overlap so that a signature across two
chunks is found), and a picture being followed holds at most ``max_size`` bytes, so memory stays
bounded whatever the size of the regions. Signatures are found with compiled regular
expressions that start with a literal (C-speed search), entropy-coded data is skipped the same
way: empty (zeroed) space scans at several hundred MB/s.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

__all__ = ["KINDS", "CarveStats", "Carved", "carve"]

ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, length)``: the bytes there; fewer (or none) past the end of the volume."""

KINDS: Final = ("jpeg", "png", "gif")
"""What :func:`carve` finds, as :attr:`Carved.kind` names it."""

# Each signature is a regular expression that starts with a literal, which the ``re`` engine
# searches for with its fast literal scan (an alternation of the three would not, and runs
# several times slower on empty space).
_SIGNATURES: Final = (
    ("jpeg", re.compile(rb"\xff\xd8\xff")),
    ("png", re.compile(rb"\x89PNG\r\n\x1a\n")),
    ("gif", re.compile(rb"GIF8[79]a")),
)
_OVERLAP: Final = 7
"""Bytes read past each chunk: the longest signature less one."""

# JPEG markers (ITU-T T.81, table B.1).
_SOI, _EOI, _SOS, _DRI, _TEM = 0xD8, 0xD9, 0xDA, 0xDD, 0x01
_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # not DHT, JPG, DAC
_RST_FIRST, _RST_LAST = 0xD0, 0xD7
_MAX_FILL: Final = 64
"""Fill bytes (``FF``) allowed before a marker; erased flash is a sea of ``FF``."""
_ENTROPY_END: Final = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
"""In entropy-coded data: the ``FF`` of the next marker that is not a restart marker."""

_PNG_HEADER: Final = 8
_PNG_MAX_CHUNK: Final = 0x7FFF_FFFF

_GIF_SCREEN_END: Final = 13
"""Signature (6 bytes) and logical screen descriptor (7 bytes)."""
_GIF_EXTENSION, _GIF_IMAGE, _GIF_TRAILER = 0x21, 0x2C, 0x3B
_GIF_IMAGE_DESCRIPTOR: Final = 10
"""Separator, left, top, width, height (two bytes each) and flags."""


@dataclass(frozen=True, slots=True)
class Carved:
    """One complete picture found in the scanned bytes."""

    offset: int
    """Byte offset of the picture's first byte in the scanned address space."""
    kind: str
    """``"jpeg"``, ``"png"`` or ``"gif"``."""
    data: bytes = field(repr=False)
    """The complete picture, from its signature to its last byte (EOI, IEND chunk, trailer)."""


@dataclass(slots=True)
class CarveStats:
    """What a :func:`carve` run did; updated while it runs, final once it ends."""

    bytes_scanned: int = 0
    """Region bytes done (searched for signatures, or covered by a carved picture)."""
    candidates: int = 0
    """Signatures found at a place where a picture could start."""
    hits: int = 0
    """Pictures carved."""
    hits_by_kind: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    """Candidates that were not complete pictures (all reasons, including the two below)."""
    truncated: int = 0
    """Rejected because the bytes ran out (end of the volume) before the picture's end."""
    too_large: int = 0
    """Rejected because the picture's structure ran past ``max_size``."""
    stopped_at_max_hits: bool = False
    """The scan stopped early at ``max_hits`` pictures; later pictures were not looked for."""


class _Reject(Exception):
    """A candidate is not a complete picture."""

    def __init__(self, reason: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason


class _Span:
    """The bytes of one candidate picture, from its first byte, read on demand.

    It starts on the chunk the scan already holds (no copy) and, when the structure asks for
    bytes past it, copies what it has into a buffer that grows through ``read_at``, ``step``
    bytes at a time, never past ``limit`` bytes. Positions are relative to the picture's start.
    """

    __slots__ = ("_base", "_buf", "_limit", "_origin", "_read_at", "_step")

    def __init__(
        self, read_at: ReadAt, origin: int, buf: bytes, base: int, limit: int, step: int
    ) -> None:
        self._read_at = read_at
        self._origin = origin
        self._buf: bytes | bytearray = buf
        self._base = base
        self._limit = limit
        self._step = step

    @property
    def available(self) -> int:
        """How many bytes are held (never counting any past ``limit``)."""
        return min(len(self._buf) - self._base, self._limit)

    def need(self, n: int) -> None:
        """Hold the first ``n`` bytes, or reject (too large, or truncated)."""
        if n > self._limit:
            raise _Reject("too_large")
        if n > len(self._buf) - self._base:
            self._grow(n)

    def _grow(self, n: int) -> None:
        if not isinstance(self._buf, bytearray):
            with memoryview(self._buf) as view, view[self._base :] as tail:
                self._buf = bytearray(tail)
            self._base = 0
        buf = self._buf
        while len(buf) < n:
            have = len(buf)
            more = self._read_at(
                self._origin + have, min(max(n - have, self._step), self._limit - have)
            )
            if not more:
                raise _Reject("truncated")
            buf += more

    def u8(self, i: int) -> int:
        self.need(i + 1)
        return self._buf[self._base + i]

    def u16be(self, i: int) -> int:
        self.need(i + 2)
        at = self._base + i
        return int.from_bytes(self._buf[at : at + 2], "big")

    def u16le(self, i: int) -> int:
        self.need(i + 2)
        at = self._base + i
        return int.from_bytes(self._buf[at : at + 2], "little")

    def u32be(self, i: int) -> int:
        self.need(i + 4)
        at = self._base + i
        return int.from_bytes(self._buf[at : at + 4], "big")

    def take(self, i: int, j: int) -> bytes:
        """Bytes ``i`` to ``j`` (exclusive)."""
        self.need(j)
        return bytes(self._buf[self._base + i : self._base + j])

    def crc32(self, i: int, j: int) -> int:
        """CRC-32 of bytes ``i`` to ``j`` (exclusive), without copying them."""
        self.need(j)
        with memoryview(self._buf) as view, view[self._base + i : self._base + j] as part:
            return zlib.crc32(part)

    def search(self, pattern: re.Pattern[bytes], i: int) -> int | None:
        """Where ``pattern`` first matches at or after ``i`` in the bytes held; None if not."""
        found = pattern.search(self._buf, self._base + i, self._base + self.available)
        return None if found is None else found.start() - self._base


# --- JPEG -----------------------------------------------------------------------------------


def _jpeg_length(span: _Span) -> int:
    """Length of the JPEG starting the span (SOI to EOI inclusive)."""
    at = 2  # the FF after SOI, which the signature guarantees
    seen_sof = seen_sos = False
    while True:
        at, marker = _jpeg_marker(span, at)
        if marker == _EOI:
            if not seen_sos:
                raise _Reject()
            return at + 1
        if marker == _TEM:
            at += 1
            continue
        if not 0xC0 <= marker <= 0xFE or _RST_FIRST <= marker <= _SOI:
            raise _Reject()
        end = at + 1 + span.u16be(at + 1)
        if end < at + 3:
            raise _Reject()
        span.need(end)
        if marker in _SOF:
            _jpeg_check_sof(span, at, end)
            seen_sof = True
        elif marker == _DRI and end - at != 5:
            raise _Reject()
        elif marker == _SOS:
            if not seen_sof:
                raise _Reject()
            _jpeg_check_sos(span, at, end)
            seen_sos = True
            end = _jpeg_scan_end(span, end)
        at = end


def _jpeg_marker(span: _Span, at: int) -> tuple[int, int]:
    """The marker whose ``FF`` is at ``at``: the position of the marker byte, and the byte."""
    if span.u8(at) != 0xFF:
        raise _Reject()
    at += 1
    first = at
    while (marker := span.u8(at)) == 0xFF:
        at += 1
        if at - first > _MAX_FILL:
            raise _Reject()
    return at, marker


def _jpeg_check_sof(span: _Span, at: int, end: int) -> None:
    """A frame header: precision, height, width (not 0), 1–4 components of 3 bytes each."""
    components = span.u8(at + 8)
    if not 1 <= components <= 4 or end - at != 9 + 3 * components or span.u16be(at + 6) == 0:
        raise _Reject()


def _jpeg_check_sos(span: _Span, at: int, end: int) -> None:
    """A scan header: 1–4 components of 2 bytes each, then 3 bytes of spectral selection."""
    components = span.u8(at + 3)
    if not 1 <= components <= 4 or end - at != 7 + 2 * components:
        raise _Reject()


def _jpeg_scan_end(span: _Span, at: int) -> int:
    """Where the entropy-coded data starting at ``at`` ends: the ``FF`` of the next marker."""
    while True:
        found = span.search(_ENTROPY_END, at)
        if found is not None:
            return found
        at = max(at, span.available - 1)  # an FF last may pair with the next byte
        span.need(span.available + 1)


# --- PNG ------------------------------------------------------------------------------------


def _png_length(span: _Span) -> int:
    """Length of the PNG starting the span (signature to the end of IEND's CRC)."""
    at = _PNG_HEADER
    seen_idat = False
    while True:
        size = span.u32be(at)
        kind = span.take(at + 4, at + 8)
        if size > _PNG_MAX_CHUNK or not kind.isalpha():
            raise _Reject()
        if at == _PNG_HEADER and (kind != b"IHDR" or size != 13):
            raise _Reject()
        data_end = at + 8 + size
        if span.u32be(data_end) != span.crc32(at + 4, data_end):
            raise _Reject()
        at = data_end + 4
        if kind == b"IDAT":
            seen_idat = True
        elif kind == b"IEND":
            if not seen_idat:
                raise _Reject()
            return at


# --- GIF ------------------------------------------------------------------------------------


def _gif_length(span: _Span) -> int:
    """Length of the GIF starting the span (signature to the trailer inclusive)."""
    at = _GIF_SCREEN_END + _gif_colour_table(span.u8(_GIF_SCREEN_END - 3))
    images = 0
    while True:
        block = span.u8(at)
        if block == _GIF_TRAILER:
            if not images:
                raise _Reject()
            return at + 1
        if block == _GIF_EXTENSION:
            at = _gif_sub_blocks(span, at + 2)  # after the label
        elif block == _GIF_IMAGE:
            at += _GIF_IMAGE_DESCRIPTOR + _gif_colour_table(span.u8(at + 9))
            if not 1 <= span.u8(at) <= 12:  # LZW minimum code size
                raise _Reject()
            at = _gif_sub_blocks(span, at + 1)
            images += 1
        else:
            raise _Reject()


def _gif_colour_table(flags: int) -> int:
    """Size of the colour table that a screen or image descriptor's ``flags`` announce."""
    return 3 << ((flags & 0x07) + 1) if flags & 0x80 else 0


def _gif_sub_blocks(span: _Span, at: int) -> int:
    """Where the data sub-blocks starting at ``at`` end (after their 0 terminator)."""
    while size := span.u8(at):
        at += 1 + size
    return at + 1


_LENGTH: Final[dict[str, Callable[[_Span], int]]] = {
    "jpeg": _jpeg_length,
    "png": _png_length,
    "gif": _gif_length,
}


# --- Scan -----------------------------------------------------------------------------------


class _Candidates:
    """Signatures in one chunk, in order, each kind searched only as far as needed."""

    __slots__ = ("_buf", "_end", "_next")

    def __init__(self, buf: bytes, end: int) -> None:
        self._buf = buf
        self._end = end
        self._next = [-1] * len(_SIGNATURES)  # next match of each kind; -1: search again

    def first(self, at: int) -> tuple[int, str] | None:
        """The first signature starting in ``[at, end)``: its position and kind."""
        best: tuple[int, str] | None = None
        for k, (kind, pattern) in enumerate(_SIGNATURES):
            found = self._next[k]
            if 0 <= found < at or found == -1:
                match = pattern.search(self._buf, at)
                found = match.start() if match is not None and match.start() < self._end else -2
                self._next[k] = found  # -2: none left in this chunk
            if found >= 0 and (best is None or found < best[0]):
                best = (found, kind)
        return best


def carve(
    read_at: ReadAt,
    regions: Iterable[tuple[int, int]],
    *,
    max_size: int = 32 << 20,
    max_hits: int = 100_000,
    chunk: int = 4 << 20,
    stats: CarveStats | None = None,
) -> Iterator[Carved]:
    """The complete pictures that start inside ``regions``, in ascending offset order.

    ``read_at(offset, length)`` reads the scanned address space (a volume, a disk image), giving
    fewer bytes at its end; ``regions`` are ``[start, end)`` ranges, ascending and not
    overlapping (a range, or part of one, before the end of what was already scanned or carved
    is skipped). A picture must start in a region and may end past it; it is carved only when
    its structure is complete (see the module's description) and at most ``max_size`` bytes
    long. The scan stops after ``max_hits`` pictures. ``chunk`` is how many bytes are read at a
    time. ``stats``, when given, is updated as the scan goes. Errors from ``read_at`` propagate.
    """
    if max_size < 1 or chunk < 1:
        raise ValueError(f"max_size and chunk must be positive, not {max_size} and {chunk}")
    stats = CarveStats() if stats is None else stats
    if max_hits < 1:
        stats.stopped_at_max_hits = True
        return
    done = 0  # everything before this offset is scanned, or inside a carved picture
    for start, end in regions:
        pos = max(start, done)
        while pos < end:
            want = min(chunk, end - pos)
            buf = read_at(pos, want + _OVERLAP)
            length = min(want, len(buf))
            if length <= 0:
                break  # the volume ends before the region does
            resume = pos + length
            if _blank(buf):  # never-written space: a memory compare, not a signature search
                stats.bytes_scanned += min(resume, end) - pos
                pos = resume
                continue
            for picture in _carve_chunk(read_at, pos, buf, length, max_size, chunk, stats):
                picture_end = picture.offset + len(picture.data)
                resume = max(resume, picture_end)
                stats.hits += 1
                stats.hits_by_kind[picture.kind] = stats.hits_by_kind.get(picture.kind, 0) + 1
                yield picture
                if stats.hits >= max_hits:
                    stats.bytes_scanned += min(picture_end, end) - pos
                    stats.stopped_at_max_hits = True
                    return
            stats.bytes_scanned += min(resume, end) - pos
            pos = resume
        done = max(done, pos, end)


def _blank(buf: bytes) -> bool:
    """Whether ``buf`` is all zero bytes (the bulk of the free space of most drives)."""
    return not buf or (buf[0] == 0 and buf[-1] == 0 and buf == _zeros(len(buf)))


@functools.lru_cache(maxsize=4)
def _zeros(n: int) -> bytes:
    return bytes(n)


def _carve_chunk(
    read_at: ReadAt,
    pos: int,
    buf: bytes,
    length: int,
    max_size: int,
    step: int,
    stats: CarveStats,
) -> Iterator[Carved]:
    """The pictures starting in ``buf[:length]`` (read at ``pos``), the first ones first."""
    candidates = _Candidates(buf, length)
    at = 0
    while (found := candidates.first(at)) is not None:
        at, kind = found
        stats.candidates += 1
        span = _Span(read_at, pos + at, buf, at, max_size, step)
        try:
            size = _LENGTH[kind](span)
        except _Reject as reject:
            stats.rejected += 1
            if reject.reason == "truncated":
                stats.truncated += 1
            elif reject.reason == "too_large":
                stats.too_large += 1
            at += 1
            continue
        yield Carved(pos + at, kind, span.take(0, size))
        at += size
