"""Video facts from the container alone: duration, size, codec, frame rate, rotation.

A case holds ~150,000 videos; what the examiner needs from each at ingest is what the
container says about it, not its frames. FFmpeg (through PyAV) opens the file and reads the
stream headers (``avformat_find_stream_info`` may decode a few packets to learn the codec
parameters, never the whole video), under a time limit so a hostile file cannot hold a worker.

Two facts FFmpeg does not give cheaply at container level are read from the ISO base media
file format (MP4/MOV/3GP: phones) boxes directly, skipping over the media data:

* **rotation**: phones record portrait video as landscape frames plus a display matrix in the
  track header (``tkhd``); PyAV only exposes it on decoded frames. ``rotation`` is the
  clockwise turn a player applies (iPhone portrait: 90), as the old FFmpeg ``rotate`` tag was.
* **truncation**: a box that claims to run past the end of the file. A cut MP4 whose index
  (``moov``) sits at the end cannot be opened at all (``truncated``); one with the index first
  still gives its facts, marked ``truncated=True``.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import av.error

from lanterne.config import Limits
from lanterne.errors import CorruptData

__all__ = ["VideoFacts", "probe_video"]

# Boxes whose payload is itself a list of boxes, on the path moov/trak/tkhd.
_TKHD_PATH = (b"moov", b"trak", b"tkhd")
_MAX_BOXES = 100_000  # per level; a hostile file of tiny boxes must not loop for long
_ISO_BRANDS_AT = 4  # "ftyp" is the first box's type in every ISO BMFF file


@dataclass(frozen=True, slots=True)
class VideoFacts:
    """What a video's container says about it (first video stream)."""

    container: str
    """FFmpeg's demuxer name, e.g. ``mov,mp4,m4a,3gp,3g2,mj2``, ``matroska,webm``, ``avi``."""
    duration: float | None
    """Seconds, from the container header (else the video stream's)."""
    width: int | None
    height: int | None
    """Coded frame size, before rotation; None without a video stream."""
    codec: str | None
    """FFmpeg codec name: ``h264``, ``hevc``, ``mpeg4``, ``vp9`` …"""
    fps: float | None
    rotation: int | None
    """Clockwise degrees to show the frames upright (MP4/MOV display matrix); None when the
    container has no such field."""
    truncated: bool = False
    """The file ends before its boxes do (MP4/MOV): the facts are those of the header."""
    audio_codec: str | None = None
    """FFmpeg codec name of the first audio stream (None: no sound)."""
    created: str | None = None
    """Creation time the container records (``creation_time``; phones write it), as given."""


def probe_video(source: Path | BinaryIO, limits: Limits) -> VideoFacts:
    """Container-level facts of the video at ``source``, read-only and time-bounded.

    ``source`` is a path or a seekable binary stream (an archive member); a stream is read
    from its start and left open.

    Raises :class:`CorruptData` with reason ``truncated`` (an MP4/MOV cut before its index),
    ``timeout`` (FFmpeg did not finish within ``limits.video_probe_seconds``) or ``corrupt``
    (FFmpeg cannot make a video of it).
    """
    iso = _iso_layout(source)
    budget = limits.video_probe_seconds
    try:
        if isinstance(source, Path):
            container = av.open(str(source), mode="r", timeout=(budget, budget))
        else:
            source.seek(0)
            container = av.open(source, mode="r", timeout=(budget, budget))
    except av.error.ExitError as e:  # the interrupt callback fired: time is up
        raise CorruptData("timeout", f"no answer within {budget:g} s: {e}") from e
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise  # a problem of the path, not of the data
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
        if iso is not None and iso.truncated:
            raise CorruptData("truncated", f"file ends inside a box: {e}") from e
        raise CorruptData("corrupt", str(e)) from e
    with container:
        duration = container.duration / av.time_base if container.duration else None
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        created = (container.metadata.get("creation_time") or "")[:40] or None
        streams = container.streams.video
        if not streams:
            return VideoFacts(
                container.format.name, duration, None, None, None, None, None,
                truncated=bool(iso and iso.truncated), audio_codec=audio, created=created,
            )  # fmt: skip
        stream = streams[0]
        codec = stream.codec_context
        if duration is None and stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        rate = stream.average_rate or stream.guessed_rate
        return VideoFacts(
            container=container.format.name,
            duration=duration,
            width=codec.width or None,
            height=codec.height or None,
            codec=codec.name,
            fps=float(rate) if rate else None,
            rotation=iso.rotation if iso is not None else None,
            truncated=bool(iso and iso.truncated),
            audio_codec=audio,
            created=created,
        )


@dataclass(frozen=True, slots=True)
class _IsoLayout:
    truncated: bool
    rotation: int | None


def _iso_layout(source: Path | BinaryIO) -> _IsoLayout | None:
    """Truncation and video rotation of an ISO BMFF file; None for other containers."""
    try:
        if isinstance(source, Path):
            with source.open("rb") as f:
                return _iso_layout_of(f)
        return _iso_layout_of(source)
    except OSError:
        return None


def _iso_layout_of(f: BinaryIO) -> _IsoLayout | None:
    f.seek(0)
    head = f.read(12)
    if head[_ISO_BRANDS_AT : _ISO_BRANDS_AT + 4] != b"ftyp":
        return None
    size = f.seek(0, os.SEEK_END)
    truncated, rotation = _walk(f, 0, size, 0, size)
    return _IsoLayout(truncated, rotation)


def _walk(f: BinaryIO, start: int, end: int, depth: int, file_size: int) -> tuple[bool, int | None]:
    """Box headers from ``start`` to ``end``; follows moov/trak down to the video tkhd."""
    truncated, rotation = False, None
    offset = start
    for _ in range(_MAX_BOXES):
        if offset + 8 > end:
            truncated = truncated or (offset < end and end == file_size)
            break
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8:
            return True, rotation
        size, kind = struct.unpack(">I4s", header[:8])
        body = offset + 8
        if size == 1:  # 64-bit size follows
            if len(header) < 16:
                return True, rotation
            (size,) = struct.unpack(">Q", header[8:16])
            body = offset + 16
        elif size == 0:  # runs to the end of the file
            size = file_size - offset
        if size < body - offset:
            return truncated, rotation  # nonsense size: stop reading, FFmpeg will judge
        box_end = offset + size
        if box_end > file_size:
            truncated = True
        if depth < len(_TKHD_PATH) and kind == _TKHD_PATH[depth]:
            if kind == b"tkhd":
                found = _tkhd_rotation(f, body, min(box_end, file_size))
                if found is not None and rotation is None:
                    rotation = found
            else:
                inner_truncated, inner = _walk(
                    f, body, min(box_end, file_size), depth + 1, file_size
                )
                truncated = truncated or inner_truncated
                rotation = rotation if rotation is not None else inner
        if box_end >= end:
            break
        offset = box_end
    return truncated, rotation


def _tkhd_rotation(f: BinaryIO, body: int, end: int) -> int | None:
    """Rotation of a video track header; None for tracks without a picture (audio)."""
    f.seek(body)
    data = f.read(min(end - body, 104))
    if len(data) < 4:
        return None
    version = data[0]
    matrix_at = 40 if version == 0 else 52  # after the times, ids and reserved fields
    if len(data) < matrix_at + 44:
        return None
    a, b, _u, c, d, _v, _x, _y, _w = struct.unpack(">9i", data[matrix_at : matrix_at + 36])
    width, height = struct.unpack(">II", data[matrix_at + 36 : matrix_at + 44])
    if width == 0 or height == 0 or (a == b == 0) or (c == d == 0):
        return None
    return round(math.degrees(math.atan2(b, a))) % 360
