"""Acquisition metadata of Expert Witness (EWF, ``.E01``) images, and verification of any image.

:func:`read_acquisition` reads what the acquiring examiner's tool stored in an EWF image: its
segment files, the media size, the MD5 and SHA-1 computed at acquisition, and the case headers
(case and evidence numbers, examiner, dates, tool). Before libewf opens the image, the segment
set is checked: a gap in the segment files (``.E01``, ``.E02``, ``.E04`` …), a set whose last
file ends in a ``next`` section (later segments missing) or a segment file cut short are each
reported as :class:`~lanterne.errors.CorruptData` naming the file to copy again, because libewf
itself opens such sets without complaint and fails only when the missing data is read.

:func:`verify_media` reads all the media once, hashing MD5, SHA-1 and SHA-256 in the same pass
(:func:`lanterne.analyze.digest.digest_stream`, which moves MD5 to a second core), and compares
with the hashes stored at acquisition. EWF images are read through ``pyewf``; every other image
dfVFS can open as storage media (raw, split raw ``.001``, QCOW2, VMDK, VHD/VHDX) through dfVFS,
and report ``no-stored-hash`` since those formats keep no acquisition hash. Damaged input never
raises out of :func:`verify_media`: it becomes the outcome ``unreadable`` or ``mismatch``, with a
sentence saying what happened and what to do.

libewf facts this module relies on (libewf-python 20260924, images written by ewfacquire
20140813):

* A chunk whose stored checksum (Adler-32, or the zlib stream's own for compressed chunks) does
  not match is read back as zeros, without an error; libewf only records the sectors in its
  checksum-error list. The Python binding does not expose that list, so :class:`_Libewf` calls
  ``libewf_handle_get_checksum_error`` through ctypes on the binding's own handle; where that is
  not possible the changed digests still give ``mismatch``.
* A single segment file cut short opens (the media size comes from its ``volume`` section) but
  has lost its tables and ``hash`` section: no stored hash, and not even the first chunk reads.
* ``pyewf.glob`` stops at the first missing segment file, and libewf opens the prefix it got;
  reading fails at the first chunk of the missing segment.
"""

from __future__ import annotations

import ctypes
import functools
import re
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

import pyewf

from lanterne.analyze.digest import Digests, digest_stream
from lanterne.errors import CorruptData, NotMyFormat, UserError
from lanterne.progress import NoProgress, Progress

__all__ = [
    "READ_SIZE",
    "Acquisition",
    "Verification",
    "is_ewf",
    "read_acquisition",
    "verify_media",
]

READ_SIZE = 8 << 20
"""Bytes asked of the image per read: large, so that libewf decompresses many chunks per call."""

_SIGNATURES = (
    b"EVF\x09\x0d\x0a\xff\x00",  # EWF1 disk image (.E01, .s01)
    b"LVF\x09\x0d\x0a\xff\x00",  # EWF1 logical evidence (.L01)
    b"EVF2\x0d\x0a\x81\x00",  # EWF2 disk image (.Ex01)
    b"LEF2\x0d\x0a\x81\x00",  # EWF2 logical evidence (.Lx01)
)
_EWF1_SIGNATURES = _SIGNATURES[:2]
_EWF_NAME = re.compile(r"\.(?:[A-Za-z](?:\d\d|[A-Za-z]{2})|[EeLl][Xx]\d\d)$")
"""Segment file extensions: ``.E01`` … ``.E99``, ``.EAA`` …, ``.s01``, ``.L01``, ``.Ex01``."""
_FIRST_SEGMENT_NAME = re.compile(r"\.(?:[els]|[el]x)01$", re.IGNORECASE)

_SECTION = struct.Struct("<16sQQ40sI")
"""An EWF1 section descriptor: type, offset of the next descriptor, size, padding, Adler-32."""
_EWF1_HEADER_SIZE = 13  # signature, 1, segment number (u16), 0

# The errors libyal bindings and dfVFS raise for unreadable or damaged input.
_BACKEND_ERRORS: tuple[type[Exception], ...] = (OSError, RuntimeError, ValueError)
try:  # dfVFS' own error base, imported lazily elsewhere; absent dfVFS only loses this entry
    from dfvfs.lib import errors as _dfvfs_errors

    _BACKEND_ERRORS += (_dfvfs_errors.Error,)
except ImportError:  # pragma: no cover - dfVFS is a dependency
    pass


@dataclass(frozen=True, slots=True)
class Acquisition:
    """What an EWF image says about its acquisition."""

    format: str
    """``"ewf"``."""
    segments: list[str]
    """Absolute paths of the segment files, in order."""
    media_size: int
    stored_md5: str | None
    """MD5 of the media computed at acquisition (lowercase hex), ``None`` when not stored."""
    stored_sha1: str | None
    headers: dict[str, str]
    """Header values libewf returned non-empty: ``case_number``, ``evidence_number``,
    ``examiner_name``, ``description``, ``notes``, ``acquiry_date``, ``system_date``,
    ``acquiry_software``, ``acquiry_software_version``, ``acquiry_operating_system``, ``model``,
    ``serial_number`` …"""
    stored_sha256: str | None = None
    """Stored only by some tools and formats (EWF2)."""
    bytes_per_sector: int = 512

    def to_json(self) -> dict[str, object]:
        """A plain JSON-able dict, to store in the case."""
        return {
            "format": self.format,
            "segments": list(self.segments),
            "media_size": self.media_size,
            "bytes_per_sector": self.bytes_per_sector,
            "stored_md5": self.stored_md5,
            "stored_sha1": self.stored_sha1,
            "stored_sha256": self.stored_sha256,
            "headers": dict(self.headers),
        }


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of reading an image's media through and comparing its digests."""

    outcome: str
    """``match``, ``mismatch``, ``no-stored-hash`` or ``unreadable``."""
    md5: str | None
    """Computed over the whole media; ``None`` when the media could not be read to its end."""
    sha1: str | None
    sha256: str | None
    stored_md5: str | None
    stored_sha1: str | None
    bytes_read: int
    """Bytes of media read and hashed: the media size, or where reading stopped."""
    checksum_errors: list[tuple[int, int]]
    """``(offset, size)`` byte ranges whose chunks failed their checksum (libewf reads them as
    zeros)."""
    detail: str
    """A sentence for the examiner: what matched or what differed, and what to do."""
    image_format: str = "raw"
    """``ewf``, or dfVFS' name of the image type (``qcow``, ``vmdk``, ``vhdi``, ``raw``)."""
    media_size: int | None = None
    checksum_errors_checked: bool = False
    """Whether libewf's checksum-error list could be read (EWF only)."""
    stored_sha256: str | None = None

    def to_json(self) -> dict[str, object]:
        """A plain JSON-able dict, to store in the case."""
        return {
            "outcome": self.outcome,
            "image_format": self.image_format,
            "media_size": self.media_size,
            "bytes_read": self.bytes_read,
            "md5": self.md5,
            "sha1": self.sha1,
            "sha256": self.sha256,
            "stored_md5": self.stored_md5,
            "stored_sha1": self.stored_sha1,
            "stored_sha256": self.stored_sha256,
            "checksum_errors": [list(r) for r in self.checksum_errors],
            "checksum_errors_checked": self.checksum_errors_checked,
            "detail": self.detail,
        }


# --- signature and segment set ------------------------------------------------------------


def _signature(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(8)
    except OSError:
        return b""


def is_ewf(path: Path) -> bool:
    """Whether ``path`` starts with an EWF segment file signature (reads 8 bytes)."""
    return _signature(path) in _SIGNATURES


def _segment_number(path: Path) -> int | None:
    """The segment number a segment file's header gives (1 for the first)."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if len(head) < 16:
        return None
    if head[:8] in _EWF1_SIGNATURES:
        return int.from_bytes(head[9:11], "little")
    return int.from_bytes(head[12:16], "little")  # EWF2: after versions and compression method


def _segment_name(first: Path, number: int) -> str | None:
    """The file name of segment ``number`` of the set starting with ``first`` (libewf's naming:
    ``E01`` … ``E99``, then ``EAA`` … ``EZZ``, ``FAA`` …; ``Ex01`` … ``Ex99``)."""
    ext = first.suffix[1:]
    if len(ext) == 4:  # EWF2
        return f"{first.stem}.{ext[:2]}{number:02d}" if number <= 99 else None
    if len(ext) != 3:
        return None
    letter = ext[0]
    if number <= 99:
        return f"{first.stem}.{letter}{number:02d}"
    k = number - 100
    a = "A" if letter.isupper() else "a"
    lead = chr(ord(letter) + k // 676)
    if not lead.isalpha():
        return None
    return f"{first.stem}.{lead}{chr(ord(a) + k // 26 % 26)}{chr(ord(a) + k % 26)}"


def _siblings(first: Path) -> Iterator[Path]:
    """Files next to ``first`` named like segment files of its set, with an EWF signature."""
    for p in first.parent.iterdir():
        if p.stem == first.stem and _EWF_NAME.search(p.name) and p.is_file() and is_ewf(p):
            yield p


def _first_segment(path: Path) -> Path:
    """The first segment file of the set ``path`` belongs to (``path`` when it is the first):
    the sibling whose header says segment 1, whatever the naming scheme reached."""
    number = _segment_number(path)
    if number in (None, 1):
        return path
    for sibling in sorted(_siblings(path)):
        if _segment_number(sibling) == 1:
            return sibling
    name = _segment_name(path, 1) if path.suffix[2:].isdigit() else None
    raise CorruptData(
        "missing-segment",
        f"{path.name} is segment {number} of an EWF image, but the first segment file "
        f"({name or 'the .E01'}) is not next to it in {path.parent}: copy every segment file "
        "of the image into one folder and open the first.",
    )


def _glob(first: Path) -> list[Path]:
    try:
        names = pyewf.glob(str(first))
    except _BACKEND_ERRORS as exc:
        raise CorruptData(
            "corrupt", f"libewf cannot list the segment files of {first}: {_short(exc)}"
        ) from exc
    return [Path(n).absolute() for n in names]


def _check_no_gap(first: Path, segments: list[Path]) -> None:
    """Raise when segment files exist beyond the first missing one (``pyewf.glob`` stops there)."""
    found = {p.name for p in segments}
    strays = sorted(p.name for p in _siblings(first) if p.name not in found)
    if strays:
        missing = _segment_name(first, len(segments) + 1) or f"segment {len(segments) + 1}"
        raise CorruptData(
            "missing-segment",
            f"segment file {missing} is missing from {first.parent}: libewf found "
            f"{_name_range(segments)} but also {', '.join(strays)}. Copy {missing} from the "
            "original evidence copy next to the others and open the image again.",
        )


def _name_range(segments: list[Path]) -> str:
    if len(segments) == 1:
        return segments[0].name
    return f"{segments[0].name} to {segments[-1].name} ({len(segments)} files)"


@dataclass(frozen=True, slots=True)
class _Chain:
    """Where an EWF1 segment file's section chain ends."""

    last: bytes
    """The type of the last section reached (``done``, ``next`` when whole)."""
    reason: str | None = None
    """``truncated`` or ``corrupt`` when the chain breaks, with ``problem`` saying how."""
    problem: str = ""


def _walk_sections(path: Path) -> _Chain:
    """Follow an EWF1 segment file's section descriptors (76 bytes each) to its last."""
    size = path.stat().st_size
    offset = _EWF1_HEADER_SIZE
    kind = b""
    with path.open("rb") as f:
        for _ in range(size // _SECTION.size + 1):
            f.seek(offset)
            raw = f.read(_SECTION.size)
            if len(raw) < _SECTION.size:
                where = f"the section after '{_s(kind)}'" if kind else "its first section"
                return _Chain(kind, "truncated", f"it ends inside the descriptor of {where}")
            kind_raw, nxt, _length, _pad, checksum = _SECTION.unpack(raw)
            kind = kind_raw.rstrip(b"\0")
            if zlib.adler32(raw[:-4]) != checksum:
                problem = f"the section descriptor at byte {offset} fails its checksum"
                return _Chain(kind, "corrupt", problem)
            if kind in (b"done", b"next"):
                return _Chain(kind)
            if nxt > size:
                problem = (
                    f"its '{_s(kind)}' section continues to byte {nxt} but the file has only "
                    f"{size} bytes"
                )
                return _Chain(kind, "truncated", problem)
            if nxt <= offset:
                return _Chain(kind, "corrupt", f"the section chain loops back at byte {offset}")
            offset = nxt
    return _Chain(kind, "corrupt", "the section chain does not end")  # pragma: no cover


def _s(kind: bytes) -> str:
    return kind.decode("ascii", "replace") or "header"


def _check_sections(first: Path, segments: list[Path]) -> None:
    """Raise when an EWF1 segment file is cut short or damaged, or the set ends before ``done``."""
    for number, path in enumerate(segments, start=1):
        if _signature(path) not in _EWF1_SIGNATURES:
            continue  # EWF2 keeps its chain backwards: left to libewf
        if (claimed := _segment_number(path)) != number:
            raise CorruptData(
                "corrupt",
                f"{path.name} says it is segment {claimed}, but its name makes it segment "
                f"{number}: a segment file of another image or a renamed copy. Restore the "
                "original segment files.",
            )
        chain = _walk_sections(path)
        if chain.reason is not None:
            state = "damaged" if chain.reason == "corrupt" else "incomplete"
            raise CorruptData(
                chain.reason,
                f"segment file {path} is {state}: {chain.problem}. Copy it again from the "
                "original evidence copy and compare its size with the original.",
            )
        if chain.last == b"next" and number == len(segments):
            missing = _segment_name(first, number + 1) or f"segment {number + 1}"
            raise CorruptData(
                "missing-segment",
                f"the EWF image continues after {path.name} but segment file {missing} is "
                f"missing from {first.parent} (found {_name_range(segments)}). Copy the "
                "remaining segment files next to the others and open the image again.",
            )


# --- opening with pyewf -------------------------------------------------------------------


def _hex(value: object, length: int) -> str | None:
    """A stored hash as lowercase hex; ``None`` when absent, malformed or all zeros (written by
    tools that did not compute it)."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if len(text) != length or not re.fullmatch(r"[0-9a-f]+", text) or not text.strip("0"):
        return None
    return text


def _headers(handle: Any) -> dict[str, str]:
    values = handle.get_header_values() or {}
    return {str(k): str(v).strip() for k, v in values.items() if v is not None and str(v).strip()}


@contextmanager
def _opened(path: Path) -> Iterator[tuple[Any, Acquisition]]:
    """The open pyewf handle of the image ``path`` belongs to, and its metadata."""
    if not path.is_file():
        raise UserError(f"{path} is not a file: give the path of the image's first segment (.E01)")
    if not is_ewf(path):
        raise NotMyFormat(f"{path} has no EWF signature")
    try:
        first = _first_segment(path.absolute())
        segments = _glob(first)
        _check_no_gap(first, segments)
        _check_sections(first, segments)
    except OSError as exc:  # a failing disk, a permission
        raise CorruptData(
            "corrupt", f"cannot read the segment files next to {path}: {_short(exc)}"
        ) from exc
    handle = pyewf.handle()
    try:
        handle.open([str(p) for p in segments])
    except _BACKEND_ERRORS as exc:
        raise CorruptData(
            "corrupt",
            f"libewf cannot open the EWF image {_name_range(segments)} in {first.parent}: "
            f"{_short(exc)}. Copy the segment files again from the original evidence copy.",
        ) from exc
    try:
        yield handle, _acquisition(handle, segments)
    finally:
        handle.close()


def _libewf_complaint(handle: Any, acq: Acquisition) -> str:
    """libewf's own verdict on the segment set (it checks table checksums and the ``done``
    section, EWF2 included): a sentence when it finds them corrupted, else ``""``."""
    native = _Libewf.attach(handle)
    if native is None or not native.segment_files_corrupted():
        return ""
    return (
        f"libewf reports the segment files {_name_range([Path(s) for s in acq.segments])} as "
        "corrupted (an incomplete set, or damaged chunk tables)."
    )


def _acquisition(handle: Any, segments: list[Path]) -> Acquisition:
    hashes = {str(k).upper(): v for k, v in (handle.get_hash_values() or {}).items()}
    return Acquisition(
        format="ewf",
        segments=[str(p) for p in segments],
        media_size=int(handle.get_media_size()),
        stored_md5=_hex(hashes.get("MD5"), 32),
        stored_sha1=_hex(hashes.get("SHA1"), 40),
        headers=_headers(handle),
        stored_sha256=_hex(hashes.get("SHA256"), 64),
        bytes_per_sector=int(handle.get_bytes_per_sector() or 512),
    )


def read_acquisition(path: Path) -> Acquisition:
    """The acquisition metadata of the EWF image ``path`` (any of its segment files).

    Raises :class:`CorruptData` (``missing-segment``, ``truncated``, ``corrupt``) when the image
    cannot be opened whole, :class:`NotMyFormat` for a file without an EWF signature and
    :class:`UserError` for a path that is not a file.
    """
    with _opened(path) as (handle, acquisition):
        if complaint := _libewf_complaint(handle, acquisition):
            raise CorruptData(
                "corrupt", f"{complaint} Copy them again from the original evidence copy."
            )
        return acquisition


def _short(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line. libyal bindings chain the binding's sentence, then
    the innermost cause, then every caller: the first two sentences say what went wrong."""
    text = " ".join(str(exc).split())
    sentences = text.split(". ")
    if len(sentences) > 2:
        text = ". ".join(sentences[:2]).rstrip(".") + "."
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- libewf functions the Python binding does not wrap --------------------------------------


_u32p = ctypes.POINTER(ctypes.c_uint32)
_u64p = ctypes.POINTER(ctypes.c_uint64)
_errp = ctypes.POINTER(ctypes.c_void_p)


@functools.cache
def _libewf() -> ctypes.CDLL | None:
    """libewf as linked into the pyewf extension (its C symbols are exported), typed."""
    try:
        lib = ctypes.CDLL(pyewf.__file__)
        signatures: dict[str, list[Any]] = {
            "libewf_handle_get_media_size": [ctypes.c_void_p, _u64p, _errp],
            "libewf_handle_get_number_of_checksum_errors": [ctypes.c_void_p, _u32p, _errp],
            "libewf_handle_get_checksum_error": [
                ctypes.c_void_p,
                ctypes.c_uint32,
                _u64p,
                _u64p,
                _errp,
            ],
            "libewf_handle_segment_files_corrupted": [ctypes.c_void_p, _errp],
        }
        for name, argtypes in signatures.items():
            function = getattr(lib, name)
            function.argtypes = argtypes
            function.restype = ctypes.c_int
        lib.libewf_error_free.argtypes = [_errp]
        lib.libewf_error_free.restype = None
    except (OSError, AttributeError, TypeError):
        return None
    return lib


_KNOWN_LAYOUTS = frozenset({"20260924"})
"""pyewf versions whose ``pyewf.handle`` layout was checked (tests/evidence/disk/test_ewf.py
asserts the checksum-error ranges, so a new version is added here once they pass on it)."""


class _Libewf:
    """Calls into libewf on an open ``pyewf.handle``, for what the binding does not expose.

    A ``pyewf.handle`` object is the CPython object header followed by the ``libewf_handle_t``
    pointer (and, in recent bindings, a file IO pool pointer). :meth:`attach` checks that
    layout, and that libewf called on the pointer reports the media size the binding reports,
    before anything else is called; otherwise it returns ``None`` and callers do without.
    """

    def __init__(self, lib: ctypes.CDLL, handle: Any, pointer: int) -> None:
        self._lib = lib
        self._handle = handle  # keeps the libewf handle alive while this object is used
        self._pointer = ctypes.c_void_p(pointer)

    @classmethod
    def attach(cls, handle: Any) -> _Libewf | None:
        if pyewf.get_version() not in _KNOWN_LAYOUTS:
            return None  # a binding whose object layout was not checked: never guess
        lib = _libewf()
        if lib is None or sys.implementation.name != "cpython":
            return None
        head, word = object.__basicsize__, ctypes.sizeof(ctypes.c_void_p)
        if type(handle).__basicsize__ not in (head + word, head + 2 * word):
            return None
        pointer = ctypes.c_void_p.from_address(id(handle) + head).value
        if not pointer:
            return None
        native = cls(lib, handle, pointer)
        size = ctypes.c_uint64()
        if not native._call("libewf_handle_get_media_size", ctypes.byref(size)):
            return None
        return native if size.value == handle.get_media_size() else None

    def _call(self, name: str, *args: Any) -> bool:
        error = ctypes.c_void_p()
        result = int(getattr(self._lib, name)(self._pointer, *args, ctypes.byref(error)))
        if error.value:
            self._lib.libewf_error_free(ctypes.byref(error))
        return result == 1

    def segment_files_corrupted(self) -> bool:
        """Whether libewf found the set incomplete (no ``done`` section) or a file damaged."""
        return self._call("libewf_handle_segment_files_corrupted")

    def checksum_errors(self) -> list[tuple[int, int]] | None:
        """``(first sector, number of sectors)`` of each range that failed its checksum so far."""
        count = ctypes.c_uint32()
        if not self._call("libewf_handle_get_number_of_checksum_errors", ctypes.byref(count)):
            return None
        ranges = []
        for index in range(count.value):
            start, length = ctypes.c_uint64(), ctypes.c_uint64()
            found = self._call(
                "libewf_handle_get_checksum_error",
                ctypes.c_uint32(index),
                ctypes.byref(start),
                ctypes.byref(length),
            )
            if not found:
                return None
            ranges.append((start.value, length.value))
        return ranges


# --- reading and hashing ----------------------------------------------------------------------


@dataclass(slots=True)
class _Media:
    """Random-access reading of an image's media."""

    size: int
    read_at: Callable[[int, int], bytes]
    """``(offset, size)`` to bytes; raises one of :data:`_BACKEND_ERRORS` on damage."""
    step: int = 64 * 1024
    """Granularity at which to find the first unreadable byte after a failed read."""


class _ReadFailure(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"read failed at {offset}: {reason}")
        self.offset = offset
        self.reason = reason


@dataclass(slots=True)
class _BlockReader:
    """A stream for :func:`digest_stream`: serves its buffers from :data:`READ_SIZE` reads of the
    media, reports progress per read, and turns a failed read into :class:`_ReadFailure`."""

    media: _Media
    progress: Progress
    offset: int = 0
    _block: memoryview = field(default_factory=lambda: memoryview(b""))
    _pos: int = 0

    def readinto(self, view: memoryview) -> int:
        if self._pos >= len(self._block) and not self._next_block():
            return 0
        n = min(len(view), len(self._block) - self._pos)
        view[:n] = self._block[self._pos : self._pos + n]
        self._pos += n
        return n

    def _next_block(self) -> bool:
        want = min(READ_SIZE, self.media.size - self.offset)
        if want <= 0:
            return False
        try:
            data = self.media.read_at(self.offset, want)
        except _BACKEND_ERRORS as exc:
            raise _ReadFailure(self.offset, _short(exc)) from exc
        if not data:
            raise _ReadFailure(self.offset, "the image ends before its stated media size")
        self._block, self._pos = memoryview(data)[:want], 0
        self.offset += len(self._block)
        self.progress.advance(nbytes=len(self._block))
        return True


def _first_unreadable(media: _Media, failure: _ReadFailure) -> tuple[int, str]:
    """Narrow a failed large read down to the first unreadable ``media.step``, and its reason."""
    end = min(media.size, failure.offset + READ_SIZE)
    for offset in range(failure.offset, end, media.step):
        try:
            if not media.read_at(offset, min(media.step, end - offset)):
                return offset, failure.reason
        except _BACKEND_ERRORS as exc:
            return offset, _short(exc)
    return failure.offset, failure.reason


def _digest_media(media: _Media, progress: Progress, task: str) -> tuple[Digests | None, int, str]:
    """Digests of the whole media, bytes read, and why reading stopped (``""`` when it did not)."""
    progress.start(task, media.size)
    try:
        reader = _BlockReader(media, progress)
        # digest_stream needs only readinto: the cast names the protocol it accepts.
        result = digest_stream(cast(BinaryIO, reader))
    except _ReadFailure as failure:
        offset, reason = _first_unreadable(media, failure)
        return None, offset, reason
    finally:
        progress.finish()
    return result.digests, result.digests.size, ""


# --- verdicts ---------------------------------------------------------------------------------

_COPY_AGAIN = (
    "Do not rely on this copy: copy the image again from the original evidence copy, verify "
    "the new copy, and record both results."
)


def _unreadable(image_format: str, detail: str, **known: Any) -> Verification:
    return Verification(
        outcome="unreadable",
        md5=None,
        sha1=None,
        sha256=None,
        stored_md5=known.pop("stored_md5", None),
        stored_sha1=known.pop("stored_sha1", None),
        bytes_read=known.pop("bytes_read", 0),
        checksum_errors=known.pop("checksum_errors", []),
        detail=detail,
        image_format=image_format,
        **known,
    )


def _differences(digests: Digests, acq: Acquisition) -> tuple[list[str], list[str]]:
    """Names of the stored hashes that agree, and sentences for those that differ."""
    agree, differ = [], []
    for name, stored, computed in (
        ("MD5", acq.stored_md5, digests.md5),
        ("SHA-1", acq.stored_sha1, digests.sha1),
        ("SHA-256", acq.stored_sha256, digests.sha256),
    ):
        if stored is None:
            continue
        if stored == computed:
            agree.append(name)
        else:
            differ.append(f"the media's {name} is {computed} but {stored} was stored")
    return agree, differ


def _ranges_text(ranges: list[tuple[int, int]], sector: int) -> str:
    shown = [
        f"bytes {o}-{o + n - 1} (sectors {o // sector}-{(o + n) // sector - 1})"
        for o, n in ranges[:5]
    ]
    more = f" and {len(ranges) - 5} more" if len(ranges) > 5 else ""
    return ", ".join(shown) + more


def _ewf_verdict(
    digests: Digests, acq: Acquisition, errors: list[tuple[int, int]], checked: bool
) -> tuple[str, str]:
    agree, differ = _differences(digests, acq)
    size = f"{digests.size:,} bytes of media"
    if errors:
        sentence = (
            f"{len(errors)} chunk range(s) failed their stored checksum: "
            f"{_ranges_text(errors, acq.bytes_per_sector)}; libewf reads them as zeros. "
        )
        if differ:
            sentence += "Because of them " + "; ".join(differ) + ". "
        return "mismatch", sentence + "The image was damaged after acquisition. " + _COPY_AGAIN
    if differ:
        also = f" ({', '.join(agree)} agrees)" if agree else ""
        unchecked = "" if checked else " (libewf's chunk checksum errors could not be read)"
        return "mismatch", (
            f"Over the {size}, " + "; ".join(differ) + f"{also}{unchecked}. The media differs "
            "from what was acquired. " + _COPY_AGAIN
        )
    if not agree:
        return "no-stored-hash", (
            f"The EWF image stores no acquisition hash to compare with; the digests computed "
            f"over the {size} are the reference from now on: record them in the case."
        )
    return "match", (
        f"{' and '.join(agree)} computed over the {size} equal the hashes stored at "
        "acquisition: the image is intact."
    )


# --- EWF and other images -----------------------------------------------------------------------


def _verify_ewf(path: Path, progress: Progress) -> Verification:
    try:
        with _opened(path) as (handle, acq):
            media = _Media(acq.media_size, _pyewf_reader(handle), int(handle.get_chunk_size()))
            digests, read, reason = _digest_media(media, progress, f"Verifying {path.name}")
            native = _Libewf.attach(handle)
            sectors = native.checksum_errors() if native is not None else None
            complaint = _libewf_complaint(handle, acq) if digests is None else ""
    except CorruptData as exc:
        return _unreadable("ewf", f"The EWF image cannot be read whole: {exc.detail}")
    bps = acq.bytes_per_sector
    errors = [(s * bps, n * bps) for s, n in sectors or []]
    known: dict[str, Any] = {
        "stored_md5": acq.stored_md5,
        "stored_sha1": acq.stored_sha1,
        "stored_sha256": acq.stored_sha256,
        "bytes_read": read,
        "checksum_errors": errors,
        "media_size": acq.media_size,
        "checksum_errors_checked": sectors is not None,
    }
    if digests is None:
        return _unreadable(
            "ewf",
            f"Reading the EWF media ({_name_range([Path(s) for s in acq.segments])}) failed at "
            f"byte {read:,} of {acq.media_size:,} (sector {read // bps}): {reason}. "
            + (f"{complaint} " if complaint else "")
            + _COPY_AGAIN,
            **known,
        )
    outcome, detail = _ewf_verdict(digests, acq, errors, sectors is not None)
    return Verification(
        outcome=outcome,
        md5=digests.md5,
        sha1=digests.sha1,
        sha256=digests.sha256,
        detail=detail,
        image_format="ewf",
        **known,
    )


def _pyewf_reader(handle: Any) -> Callable[[int, int], bytes]:
    def read_at(offset: int, size: int) -> bytes:
        return bytes(handle.read_buffer_at_offset(size, offset))

    return read_at


@contextmanager
def _dfvfs_media(path: Path) -> Iterator[tuple[str, _Media]]:
    """The media of a storage media image dfVFS recognises (or of the plain file), and dfVFS'
    name of its image type. All dfVFS objects live in a private resolver context, emptied at the
    end so that file handles close."""
    from dfvfs.helpers import source_scanner
    from dfvfs.lib import definitions
    from dfvfs.path import factory
    from dfvfs.resolver import context, resolver

    ctx = context.Context()
    try:
        os_spec = factory.Factory.NewPathSpec(
            definitions.TYPE_INDICATOR_OS, location=str(path.absolute())
        )
        scanner = source_scanner.SourceScanner(resolver_context=ctx)
        image_spec = scanner.ScanForStorageMediaImage(os_spec)
        spec = image_spec if image_spec is not None else os_spec
        file_object = resolver.Resolver.OpenFileObject(spec, resolver_context=ctx)

        def read_at(offset: int, size: int) -> bytes:
            file_object.seek(offset)
            return bytes(file_object.read(size))

        kind = "raw" if image_spec is None else str(image_spec.type_indicator).lower()
        yield kind, _Media(int(file_object.get_size()), read_at)
    finally:
        ctx.Empty()


_LABELS = {"raw": "raw", "qcow": "QCOW", "vhdi": "VHD/VHDX", "vmdk": "VMDK"}
"""How dfVFS' image types are named to the examiner."""


def _verify_other(path: Path, progress: Progress) -> Verification:
    kind = "raw"
    try:
        with _dfvfs_media(path) as (kind, media):
            size = media.size
            digests, read, reason = _digest_media(media, progress, f"Verifying {path.name}")
    except _BACKEND_ERRORS as exc:
        return _unreadable(
            kind,
            f"dfVFS cannot open {path.name} as a storage media image: {_short(exc)}. Check that "
            "the image is complete (compare its size with the original) and of a supported "
            "format (raw, split raw, EWF, QCOW2, VMDK, VHD/VHDX).",
        )
    label = f"{_LABELS.get(kind, kind.upper())} image"
    if digests is None:
        return _unreadable(
            kind,
            f"Reading the {label} {path.name} failed at byte {read:,} of {size:,}: "
            f"{reason}. " + _COPY_AGAIN,
            bytes_read=read,
            media_size=size,
        )
    return Verification(
        outcome="no-stored-hash",
        md5=digests.md5,
        sha1=digests.sha1,
        sha256=digests.sha256,
        stored_md5=None,
        stored_sha1=None,
        bytes_read=read,
        checksum_errors=[],
        detail=(
            f"A {label} keeps no acquisition hash, so nothing was compared: compare these "
            f"digests of its {read:,} bytes of media with the ones written down at acquisition, "
            "and record them in the case as the reference."
        ),
        image_format=kind,
        media_size=size,
    )


def verify_media(path: Path, progress: Progress | None = None) -> Verification:
    """Read the media of the image ``path`` once, hash it, and compare with the stored hashes.

    EWF images (by signature) are compared with their stored MD5 and SHA-1 (and SHA-256 where
    stored); chunks failing their checksum make the outcome ``mismatch``. Other images give
    ``no-stored-hash`` with the digests. Damaged images give ``unreadable`` or ``mismatch``; only
    a path that is not a file raises (:class:`UserError`).
    """
    progress = progress if progress is not None else NoProgress()
    if not path.is_file():
        raise UserError(f"{path} is not a file: give the path of the image (its first segment)")
    if is_ewf(path):
        return _verify_ewf(path, progress)
    if _FIRST_SEGMENT_NAME.search(path.name):
        return _unreadable(
            "ewf",
            f"{path.name} is named like the first segment of an EWF image but does not start "
            "with the EWF signature: its beginning is damaged or it is another kind of file. "
            + _COPY_AGAIN,
        )
    return _verify_other(path, progress)
