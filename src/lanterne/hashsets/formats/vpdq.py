"""vPDQ video hash lists: the frame hashes of listed videos, in the two forms Meta's tools write.

``vpdq`` — **the reference per-video text** (ThreatExchange ``vpdq/cpp``, ``vpdq-hash-video``;
``vpdq/cpp/vpdq/cpp/io/vpdqio.cpp``): one file is one video, one line per hashed frame,
``frameNumber,quality,pdqHex,timestampSeconds`` (the timestamp with three decimals)::

    0,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.000
    1,100,c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c,0.033

The entry is named after the file (its stem). Frame numbers must increase; blank lines are
skipped, fields after the fourth ignored (as the reference's loader does).

``vpdq-json`` — **python-threatexchange's serialised vPDQ** (``extensions/vpdq``): a video's
signal is a JSON list of compact features ``"pdqHex,quality,timestamp"``
(``VpdqCompactFeature``; ``vpdq_util.vpdq_to_json``), frames numbered by their place in the
list. Many videos per file, one of:

* signal lines, as ``threatexchange hash video`` prints them and its local-file exchange reads
  them: ``vpdq ["…,100,0.0", …]`` (the signal type may be left out), one video a line, unnamed;
* JSON lines of video objects (what :func:`CompactJson.write` writes):
  ``{"id": "17", "name": "clip.mp4", "category": "1", "vpdq": ["…,100,0.000", …]}`` — ``id``,
  ``name`` and ``category`` optional, ``vpdq`` a list or the signal as a JSON string, and an
  optional ``frames`` list of frame numbers when they are not 0, 1, 2 …;
* a JSON array of those objects (read as a stream);
* the legacy single-video object ``{"0": {"quality": 100, "hash": "…", "timestamp": 0.0}, …}``
  keyed by frame number (``hash`` as hex or as ``{"w": [16 words]}``, the C++ ``Hash256``),
  named after the file.

Timestamps are written with three decimals, as the reference does (``vpdq_util`` writes
``{:.3}``, three *significant* digits, which both readers accept). Quality is 0 to 100,
timestamps finite and not negative, hashes 64 hex digits: anything else is
:class:`MalformedHashSet` naming the line (or video).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import ijson

from lanterne.analyze.vpdq import FrameHash
from lanterne.hashsets.formats.text import BOM
from lanterne.hashsets.records import HashRecord, HashSetHeader, MalformedHashSet, clean_hex

__all__ = ["FORMATS", "CompactJson", "ReferenceText", "compact", "parse_compact"]

MAX_FRAMES = 1_000_000
"""Frames one listed video may have (every frame of a 9-hour video at 30 fps)."""
MAX_LINE = 128 << 20
"""Longest line read, in bytes (a video's signal is one line: ~75 bytes a frame)."""
_DIGITS = re.compile(r"[0-9]{1,10}")
_FLOAT = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
_REF_LINE = re.compile(
    rb"[ \t]*[0-9]{1,10}[ \t]*,[ \t]*[0-9]{1,3}[ \t]*,[ \t]*[0-9A-Fa-f]{64}[ \t]*,"
    rb"[ \t]*[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?[ \t]*(?:,[^\n]*)?\r?"
)
_SIGNAL_TYPES = ("vpdq", "video_vpdq")
_SIGNAL_LINE = re.compile(
    rb"(?:(?:vpdq|video_vpdq)[ \t]+)?\[\s*(?:\]|\"[0-9A-Fa-f]{64}\s*,)", re.IGNORECASE
)
_OBJECT_LINE = re.compile(rb'\{[^\n]{0,4096}?"vpdq"\s*:')
_ARRAY_DOC = re.compile(rb'\[\s*\{.{0,4096}?"vpdq"\s*:', re.DOTALL)
_LEGACY_DOC = re.compile(rb'\{\s*"[0-9]{1,10}"\s*:\s*\{\s*"(?:quality|hash|timestamp)"')


# --- shared ------------------------------------------------------------------------------------


def _quality(value: Any, where: str) -> int:
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise MalformedHashSet(where, f"quality {str(value)[:20]!r} is not a number from 0 to 100")
    return value


def _timestamp(value: Any, where: str) -> float:
    if isinstance(value, str):
        text = value.strip()
        if not _FLOAT.fullmatch(text):
            raise MalformedHashSet(where, f"timestamp {value[:30]!r} is not seconds")
        value = float(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedHashSet(where, f"timestamp {str(value)[:30]!r} is not seconds")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise MalformedHashSet(where, f"timestamp {seconds!r} is not a time in the video")
    return seconds


def _pdq(value: Any, where: str) -> str:
    if isinstance(value, dict) and isinstance(value.get("w"), list):  # C++ Hash256 words
        words = value["w"]
        if len(words) != 16 or not all(
            isinstance(w, int) and not isinstance(w, bool) and 0 <= w < 1 << 16 for w in words
        ):
            raise MalformedHashSet(where, "hash words are not 16 numbers from 0 to 65535")
        return "".join(f"{w:04x}" for w in reversed(words))
    pdq = clean_hex(value, "pdq", where)
    if pdq is None:
        raise MalformedHashSet(where, "no PDQ hash")
    return pdq


def _check_order(frames: list[FrameHash], where: str) -> None:
    if len(frames) > MAX_FRAMES:
        raise MalformedHashSet(where, f"more than {MAX_FRAMES:,} frames in one video")
    if len(frames) > 1 and frames[-1].frame <= frames[-2].frame:
        raise MalformedHashSet(
            where, f"frame {frames[-1].frame} after frame {frames[-2].frame}: frames must increase"
        )


def _lines(f: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(number, text) of each line of ``f``, BOM and line ending dropped, bounded."""
    n = 0
    while raw := f.readline(MAX_LINE + 1):
        n += 1
        if len(raw) > MAX_LINE:
            raise MalformedHashSet(f"line {n}", f"longer than {MAX_LINE >> 20} MiB")
        if n == 1:
            raw = raw.removeprefix(BOM)
        yield n, raw.decode("utf-8", "backslashreplace").rstrip("\r\n")


def _data_lines(head: bytes, cut: bool = False) -> list[bytes]:
    """The non-blank lines of a file's head; the last one, when the head cut it short, only
    if ``cut`` (for sniffing a line's start)."""
    lines = head.removeprefix(BOM).split(b"\n")
    if len(head) >= 64 * 1024 and not cut:
        lines = lines[:-1]
    return [line for line in lines if line.strip()]


def _seconds(t: float) -> str:
    return f"{t:.3f}"


# --- the reference per-video text --------------------------------------------------------------


def _reference_frame(text: str, where: str) -> FrameHash:
    parts = text.split(",")
    if len(parts) < 4:  # fields after the fourth are ignored, as the reference's loader does
        raise MalformedHashSet(
            where, f"{text[:80]!r} is not 'frameNumber,quality,pdqHex,timestampSeconds'"
        )
    frame, quality, pdq, timestamp = (p.strip() for p in parts[:4])
    if not _DIGITS.fullmatch(frame):
        raise MalformedHashSet(where, f"frame number {frame[:20]!r} is not a number")
    return FrameHash(
        frame=int(frame),
        timestamp=_timestamp(timestamp, where),
        pdq=_pdq(pdq, where),
        quality=_quality(quality, where),
    )


class ReferenceText:
    """``frameNumber,quality,pdqHex,timestampSeconds`` lines: one file, one video."""

    NAME = "vpdq"

    @staticmethod
    def sniff(head: bytes, path: Path) -> bool:
        """The first lines (up to 50) are all reference vPDQ frame lines."""
        data = _data_lines(head)[:50]
        return bool(data) and all(_REF_LINE.fullmatch(line) for line in data)

    @staticmethod
    def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
        """The file's one video, read whole here (errors are raised now, with their line)."""
        frames: list[FrameHash] = []
        first = last = 0
        with path.open("rb") as f:
            for n, text in _lines(f):
                if not text.strip():
                    continue
                frames.append(_reference_frame(text, f"line {n}"))
                _check_order(frames, f"line {n}")
                first, last = first or n, n
        if not frames:
            raise MalformedHashSet("line 1", "no frame hashes: an empty vPDQ file")
        record = HashRecord(where=f"lines {first}-{last}", name=path.stem, frames=tuple(frames))
        return HashSetHeader(ReferenceText.NAME), iter([record])

    @staticmethod
    def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
        """The frames of the one record given (a file holds one video; write one file per
        video): returns 1, or 0 when there is no record."""
        written = 0
        with path.open("w", encoding="ascii", newline="\n") as out:
            for r in records:
                if written:
                    raise ValueError("a vPDQ text file holds one video: write one file each")
                for fh in r.frames:
                    out.write(f"{fh.frame},{fh.quality},{fh.pdq},{_seconds(fh.timestamp)}\n")
                written = 1
        return written


# --- python-threatexchange's compact serialisation ---------------------------------------------


def compact(frames: Iterable[FrameHash]) -> list[str]:
    """``VpdqCompactFeature`` strings ``"pdqHex,quality,timestamp"`` of ``frames``."""
    return [f"{fh.pdq},{fh.quality},{_seconds(fh.timestamp)}" for fh in frames]


def parse_compact(features: Any, where: str, numbers: Any = None) -> tuple[FrameHash, ...]:
    """Frames from a signal (a list of compact strings, or that list as JSON text);
    ``numbers``: their frame numbers, else 0, 1, 2 …"""
    if isinstance(features, str):
        try:
            features = json.loads(features or "[]")
        except ValueError as exc:
            raise MalformedHashSet(where, f"the vPDQ signal is not JSON: {exc}") from None
    if not isinstance(features, list):
        raise MalformedHashSet(where, f"the vPDQ signal is {type(features).__name__}, not a list")
    if numbers is not None and (
        not isinstance(numbers, list)
        or len(numbers) != len(features)
        or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in numbers)
    ):
        raise MalformedHashSet(where, "frames is not one frame number per feature")
    frames: list[FrameHash] = []
    for i, feature in enumerate(features):
        if not isinstance(feature, str):
            raise MalformedHashSet(where, f"feature {i} is {type(feature).__name__}, not text")
        parts = feature.split(",")
        if len(parts) != 3:
            raise MalformedHashSet(
                where, f"feature {i} {feature[:80]!r} is not 'pdqHex,quality,timestamp'"
            )
        frames.append(
            FrameHash(
                frame=i if numbers is None else numbers[i],
                timestamp=_timestamp(parts[2], f"{where}, feature {i}"),
                pdq=_pdq(parts[0].strip(), f"{where}, feature {i}"),
                quality=_quality(parts[1], f"{where}, feature {i}"),
            )
        )
        _check_order(frames, f"{where}, feature {i}")
    return tuple(frames)


def _text_id(value: Any, key: str, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise MalformedHashSet(where, f"{key} is {type(value).__name__}, not text or a number")


def _video(obj: Any, where: str) -> HashRecord:
    """A record from a video object ``{"id", "name", "category", "vpdq", "frames"}``."""
    if not isinstance(obj, dict):
        raise MalformedHashSet(where, f"a video is {type(obj).__name__}, not an object")
    if "vpdq" not in obj:
        raise MalformedHashSet(where, "no vpdq signal")
    name = obj.get("name")
    if name is not None and not isinstance(name, str):
        raise MalformedHashSet(where, f"name is {type(name).__name__}, not text")
    return HashRecord(
        where=where,
        entry_id=_text_id(obj.get("id"), "id", where),
        name=name or None,
        category=_text_id(obj.get("category"), "category", where),
        frames=parse_compact(obj["vpdq"], where, obj.get("frames")),
    )


def _legacy(doc: Any, path: Path) -> HashRecord:
    """The one video of a legacy ``{frameNumber: {quality, hash, timestamp}}`` document."""
    if not isinstance(doc, dict):
        raise MalformedHashSet("byte 0", "not a JSON object")
    frames: list[FrameHash] = []
    for key, feature in doc.items():
        where = f"frame {key[:20]!r}"
        if not _DIGITS.fullmatch(key) or not isinstance(feature, dict):
            raise MalformedHashSet(where, "not a frame number and its {quality, hash, timestamp}")
        frames.append(
            FrameHash(
                frame=int(key),
                timestamp=_timestamp(feature.get("timestamp"), where),
                pdq=_pdq(feature.get("hash"), where),
                quality=_quality(feature.get("quality"), where),
            )
        )
        _check_order(frames, where)
    return HashRecord(where="document", name=path.stem, frames=tuple(frames))


def _form(head: bytes) -> str | None:
    """``lines`` (signal or object lines), ``array`` (a JSON array of video objects),
    ``legacy`` (one frame-keyed video object), or None."""
    body = head.removeprefix(BOM).lstrip()
    if _ARRAY_DOC.match(body):
        return "array"
    if _LEGACY_DOC.match(body):
        return "legacy"
    data = [line.lstrip() for line in _data_lines(head, cut=True)[:50]]
    if data and all(_SIGNAL_LINE.match(line) or _OBJECT_LINE.match(line) for line in data):
        return "lines"
    return None


class CompactJson:
    """python-threatexchange vPDQ signals, many videos a file (see the module's text)."""

    NAME = "vpdq-json"

    @staticmethod
    def sniff(head: bytes, path: Path) -> bool:
        """Signal lines, video-object lines, an array of video objects, or a legacy
        frame-keyed object."""
        return _form(head) is not None

    @staticmethod
    def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
        with path.open("rb") as f:
            head = f.read(64 * 1024)
        form = _form(head)
        if form == "legacy":
            if path.stat().st_size > MAX_LINE:
                raise MalformedHashSet("byte 0", "a single-video document over 128 MiB")
            try:
                doc = json.loads(path.read_bytes().removeprefix(BOM))
            except ValueError as exc:
                raise MalformedHashSet("byte 0", f"not JSON: {exc}") from None
            return HashSetHeader(CompactJson.NAME, extra={"form": form}), iter([_legacy(doc, path)])
        if form == "array":
            return HashSetHeader(CompactJson.NAME, extra={"form": form}), _array_records(path)
        records = _line_records(path)
        first = next(records, None)  # not vPDQ at all: say so now
        if first is None:
            raise MalformedHashSet("line 1", "no video signals")

        def chained() -> Iterator[HashRecord]:
            yield first
            yield from records

        return HashSetHeader(CompactJson.NAME, extra={"form": "lines"}), chained()

    @staticmethod
    def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
        """One JSON video object a line (every record: one without frames has an empty
        signal); returns how many."""
        n = 0
        with path.open("w", encoding="utf-8", newline="\n") as out:
            for r in records:
                obj: dict[str, Any] = {}
                if r.entry_id is not None:
                    obj["id"] = r.entry_id
                if r.name is not None:
                    obj["name"] = r.name
                if r.category is not None:
                    obj["category"] = r.category
                obj["vpdq"] = compact(r.frames)
                if any(fh.frame != i for i, fh in enumerate(r.frames)):
                    obj["frames"] = [fh.frame for fh in r.frames]
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
                n += 1
        return n


def _line_records(path: Path) -> Iterator[HashRecord]:
    with path.open("rb") as f:
        for n, text in _lines(f):
            body = text.strip()
            if not body:
                continue
            where = f"line {n}"
            if body.startswith("{"):
                try:
                    obj = json.loads(body)
                except ValueError as exc:
                    raise MalformedHashSet(where, f"not JSON: {exc}") from None
                yield _video(obj, where)
                continue
            kind, _, signal = body.partition(" ")
            if kind.lower() in _SIGNAL_TYPES:
                body = signal.strip()
            elif not body.startswith("["):
                raise MalformedHashSet(where, f"{body[:40]!r} is not a vPDQ signal line")
            yield HashRecord(where=where, frames=parse_compact(body, where))


def _array_records(path: Path) -> Iterator[HashRecord]:
    n = 0
    with path.open("rb") as f:
        if f.read(3) != BOM:
            f.seek(0)
        try:
            for item in ijson.items(f, "item", use_float=True):
                n += 1
                yield _video(item, f"video {n}")
        except ijson.JSONError as exc:
            detail = (str(exc).splitlines() or ["broken JSON"])[0].strip()
            where, at = f"video {n + 1}", f.tell()
            raise MalformedHashSet(where, f"broken JSON near byte {at}: {detail}") from None


FORMATS = [ReferenceText, CompactJson]
"""In sniffing order (the registry reads ``NAME``, ``sniff``, ``read``, ``write`` of each)."""
