"""vPDQ frame hashes of videos, compatible with Meta's reference, at a fraction of its cost.

vPDQ (ThreatExchange ``vpdq/``) is PDQ applied to video frames: one PDQ hash every
``seconds_per_hash`` of video, each with its frame number, PDQ quality and time. Hotlines
exchange hash lists made by the reference (``vpdq-hash-video``, the ``vpdq`` Python package), so
ours must pick the same frames and give the same hashes, in the same text.

**What the reference does** (``cpp/vpdq/cpp/hashing/filehasher.cpp``, ``ffmpegwrapper.cpp``,
``hasher.h``, ``io/vpdqio.cpp``; version 0.2.5), and what we do:

* *Frame rate*: the first video stream's ``avg_frame_rate``, else ``r_frame_rate`` (PyAV:
  ``average_rate``, ``base_rate``). Same.
* *Which frames*: it decodes every frame and counts them as the decoder returns them
  (presentation order; ``frame_num - 1``); frame ``n`` is hashed when
  ``n % int(seconds_per_hash * fps) == 0`` (the step truncated, at least 1: at 29.97 fps and 1 s
  it is 29 frames, not 30). Its time is ``float(n) / float(fps)`` in single precision, written
  with 3 decimals: ``frameNumber,quality,pdqHex,timestamp`` per line (:func:`write_vpdq_lines`).
  We number frames the same way, by their rank in presentation order, but without decoding them
  all (below).
* *Pixels*: ``sws_scale`` with ``SWS_AREA`` to RGB24 at the coded size (the Python binding's
  default ``downsample_width/height = 0``), then PDQ on the full-size frame: luma
  ``0.299 R + 0.587 G + 0.114 B`` in float, a Jarosz (two box passes each way) blur whose window
  depends on the size, sampling at 64×64 centres, DCT to 16×16, bits above the median. Display
  rotation is ignored (the stored frame is hashed). *Quality* is PDQ's gradient measure of the
  64×64 image (0-100).
* *Hex*: ``Hash256::format``: words ``w[15] … w[0]``, ``%04hx``, bit ``k`` in word ``k >> 4``:
  the same text as :func:`lanterne.analyze.picture.pdq_hex` of ``pdqhash``'s vector.

**Where the time goes, and what we do instead.** Measured on a 30 s 1080p30 H.264 (x264
veryfast: B-frames, GOPs of 4 s) on one core: the reference takes 6-7 s of CPU, 4.6 s to decode
the 900 frames and ~2.5 s for the 30 full-size RGB conversions and PDQs (~80 ms each).

1. *PDQ from the Y plane, exactly.* The swscale conversion uses the BT.601 matrix whatever the
   stream says, and with PDQ's BT.601 luma weights its luma is the Y plane rescaled:
   ``255/219 (Y - 16)`` (limited range; Y itself for full range, ``yuvj*`` or frames tagged
   full range, which FFmpeg 5 decoders output as ``yuvj*``) up to RGB rounding and clipping
   of saturated colours. PDQ's blur-and-sample is linear, so we apply it directly to the Y
   plane as two banded matrices (64 × height and 64 × width, built once per size from the
   reference's own window rules: :func:`_pdq_weights`), then PDQ's quality, DCT and median on
   the 64×64 result, in its single-precision loop order (:func:`pdq_from_luma64`: bit for bit
   ``pdqhash``'s on the same 64×64 input). About 1 ms per 1080p frame instead of 80, and it
   *is* the full-resolution hash: 0 bits from the reference's on 27 of 30 frames, at most 4,
   qualities within 1 (the benchmark: medians 2 bits, never above 8). Shrinking the frame
   first (``reformat`` to 512 px, then ``pdqhash``) was measured worse on the same frames, and
   not monotonic in the size: median distance 2 bits at 640 px, 8 at 512, 12 at 384, 22 at
   256, because the blur window PDQ picks changes with the size. Pixel formats without a luma
   plane we know (RGB, palette, grey …) go through ``rgb24``.
2. *Decode only what the samples need* (``mode = "selective"``): packets are read in decode
   order and held one GOP (keyframe to keyframe) at a time before any is decoded; their ranks
   in presentation order come from sorting the GOP's timestamps. A GOP without a sample is
   never decoded; within a GOP, packets after the last sample are dropped; a frame that is not
   a sample is decoded with ``skip_frame = NONREF`` (FFmpeg drops it when no frame refers to
   it: half the frames of an x264 stream with B-frames), a sample with ``DEFAULT``. After a
   gap the decoder is drained and flushed before its next keyframe. A GOP longer than
   :data:`GOP_BUFFER_PACKETS` packets (or :data:`GOP_BUFFER_BYTES`) is decoded as it comes,
   ranks given with a lag of 64 packets. Reading every packet costs little (70 ms for a 30 s,
   12 MB file), seeks nowhere, and frame numbers are exact ranks even at variable frame rate.
3. *Seek when most GOPs hold no sample* (``mode = "seeking"``: sparse sampling, short GOPs):
   MP4/MOV index every frame (``stream.index_entries``), so the GOPs that hold a sample, and
   the ranks they hold, are known before reading any; each is read after a seek to its
   keyframe, the rest of the file never is. Used when that skips at least half of the bytes.
4. *Threads*: ``threads > 1`` turns on FFmpeg's frame and slice threading
   (``thread_type = "AUTO"``).

If the timestamps cannot be trusted (a packet without one, a keyframe flag on a frame that does
not decode as one, a seek landing elsewhere, a sample the decoder never returned), the video is
decoded again the reference's way, every frame counted (``mode = "sequential"``), within the
same time budget.

Measured by ``benchmarks/bench_video.py`` (3-minute synthetic H.264 videos, one hash a second,
one thread each): the same frames as the reference, hashes 2 bits apart (median; 90th
percentile 4, at most 8), for 3.1× (720p, x264 defaults: B-frames, long GOPs; 2/3 of the frames
never decoded), 4.6× (720p, a keyframe a second, no B-frames: only keyframes decoded), 3.4×
(1080p, x264 defaults) and 2.1× (1080p at 29.97 fps, a keyframe a second: the reference's
29-frame step drifts through the 30-frame GOPs, so 55 % of the frames must be decoded) less
CPU time than the reference.

Hostile input: the declared frame size is checked against ``max_pixels`` before anything is
decoded (``too-large``), FFmpeg's reads are interrupted after ``budget_seconds``, and elapsed
time is checked after every packet and frame (``timeout``); the GOP buffer is bounded.
"""

from __future__ import annotations

import functools
import heapq
import io
import math
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

import av
import av.error
import numba
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from lanterne.analyze.picture import pdq_hex
from lanterne.analyze.video import _iso_layout
from lanterne.errors import CorruptData

__all__ = [
    "COLLAPSE_DISTANCE",
    "CONTACT_SHEET_SECONDS",
    "GOP_BUFFER_BYTES",
    "GOP_BUFFER_PACKETS",
    "MAX_PIXELS",
    "FrameHash",
    "FrameRun",
    "VideoHashes",
    "collapse",
    "contact_sheet",
    "frame_pdq",
    "hash_frames",
    "parse_vpdq_lines",
    "pdq_from_luma64",
    "write_vpdq_lines",
]

MAX_PIXELS = 8192 * 8192
"""Frames declaring more pixels than this are not decoded (``too-large``): 8K UHD is 33 Mpx."""
GOP_BUFFER_PACKETS = 2048
"""Packets of one GOP held before any is decoded; a longer GOP is decoded as it comes."""
GOP_BUFFER_BYTES = 64 << 20
"""Bytes of one GOP held before any is decoded."""
COLLAPSE_DISTANCE = 8
"""Default for :func:`collapse`: the bits two frames of a still scene differ by after
compression (a few), well under a change of content."""
CONTACT_SHEET_SECONDS = 30.0
"""Default time budget of :func:`contact_sheet`."""

_PDQ_MIN_SIDE = 5  # the reference gives an all-zero hash of quality 0 below this
_ZERO_HASH = "0" * 64
_REORDER = 64  # packets a frame can be reordered by (H.264/HEVC: 16 at most)
_MAX_DECODE_ERRORS = 64  # packets the decoder refused, beyond which the video is given up
_NONREF_CODECS = frozenset({"h264", "hevc", "mpeg4", "mpeg2video", "mpeg1video", "vp8", "vp9"})
"""Decoders known to honour ``skip_frame = NONREF`` by dropping only unreferenced frames."""

# Pixel formats whose first plane is luma: (bits per sample, full range by name).
_LUMA_FORMATS: dict[str, tuple[int, bool]] = {
    **{f: (8, False) for f in ("yuv420p", "yuv422p", "yuv444p", "yuv440p", "yuv411p",
                               "yuv410p", "nv12", "nv21", "nv16", "nv24", "nv42", "yuva420p")},
    **{f: (8, True) for f in ("yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "yuvj411p")},
    **{f"yuv4{s}p{b}le": (b, False) for s in ("20", "22", "44") for b in (9, 10, 12, 14, 16)},
}  # fmt: skip
_COLOR_RANGE_JPEG = 2  # AVCOL_RANGE_JPEG: full range
_LUMA_RGB = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # PDQ's weights


@dataclass(frozen=True, slots=True)
class FrameHash:
    """The PDQ hash of one video frame, as a line of the reference's output."""

    frame: int
    """Rank of the frame in presentation order, from 0 (the reference's ``frameNumber``)."""
    timestamp: float
    """``frame / fps`` in single precision, as the reference computes it (nominal time: for
    variable frame rate video, not the frame's presentation time)."""
    pdq: str
    """64 hex characters, in ThreatExchange's bit order."""
    quality: int
    """PDQ quality 0-100; below 50 the frame is too flat to match on."""


@dataclass(frozen=True, slots=True)
class FrameRun:
    """Consecutive frame hashes collapsed into one (see :func:`collapse`)."""

    first: FrameHash
    """The hash kept: the run's first frame."""
    last_frame: int
    last_timestamp: float
    """Frame number and time of the run's last hashed frame: the run covers
    ``first.timestamp … last_timestamp`` (plus one sampling step)."""
    count: int
    """Frame hashes in the run."""


@dataclass(frozen=True, slots=True)
class VideoHashes:
    """The vPDQ hashes of a video and how they were obtained."""

    frames: list[FrameHash]
    duration: float | None
    """Seconds, from the video stream (else the container); None if neither says."""
    fps: float
    """The frame rate the hashes were numbered with (the reference's)."""
    frame_step: int
    """Frames between two hashes: ``max(1, int(seconds_per_hash * fps))``."""
    width: int
    height: int
    truncated: bool
    """The file ends (or breaks) before its video does: ``frames`` hold what came before."""
    decoded_frames: int
    """Frames the decoder returned: a measure of the work (the reference decodes them all)."""
    mode: str = "selective"
    """``selective`` (only the GOPs and frames the samples need) or ``sequential`` (every
    frame, counted as the reference does: used when timestamps cannot be trusted)."""
    warnings: list[str] = field(default_factory=list)
    """What was odd (packets the decoder refused, a fallback taken), for the item's log."""


# ------------------------------------------------------------------------------ hashing


def hash_frames(
    source: Path | BinaryIO,
    *,
    seconds_per_hash: float = 1.0,
    budget_seconds: float = 120.0,
    max_pixels: int = MAX_PIXELS,
    threads: int = 1,
) -> VideoHashes:
    """vPDQ hashes of the first video stream of ``source``, one per ``seconds_per_hash``.

    ``source`` is a path or a seekable binary stream (read from its start, left open).
    ``seconds_per_hash`` 0 hashes every frame, as the reference does. ``threads``: FFmpeg
    decoding threads (0: one per core).

    Raises :class:`CorruptData` with reason ``no-video-stream``, ``too-large`` (frames of more
    than ``max_pixels`` pixels), ``timeout`` (not done within ``budget_seconds``),
    ``truncated`` (the file ends before any frame: an MP4 cut before its index) or ``corrupt``.
    A video that breaks off after some frames gives those frames, ``truncated=True``.
    """
    if seconds_per_hash < 0 or not math.isfinite(seconds_per_hash):
        raise ValueError(f"seconds_per_hash must be ≥ 0, not {seconds_per_hash!r}")
    if threads < 0:
        raise ValueError(f"threads must be ≥ 0, not {threads!r}")
    deadline = time.monotonic() + budget_seconds
    iso = _iso_layout(source)
    iso_truncated = bool(iso and iso.truncated)
    try:
        return _hash(
            source,
            seconds_per_hash,
            deadline,
            budget_seconds,
            max_pixels,
            threads,
            iso_truncated,
            sequential=False,
        )
    except _Untrusted as e:
        result = _hash(
            source,
            seconds_per_hash,
            deadline,
            budget_seconds,
            max_pixels,
            threads,
            iso_truncated,
            sequential=True,
        )
        result.warnings.insert(0, f"timestamps not trusted ({e}): every frame decoded")
        return result


class _Untrusted(Exception):
    """The selective decoder cannot rank frames by timestamp: decode sequentially."""


def _hash(
    source: Path | BinaryIO,
    seconds_per_hash: float,
    deadline: float,
    budget: float,
    max_pixels: int,
    threads: int,
    iso_truncated: bool,
    *,
    sequential: bool,
) -> VideoHashes:
    with _Opened(source, deadline, budget, iso_truncated) as container:
        stream = _video_stream(container, max_pixels)
        fps = _frame_rate(stream)
        step = max(1, int(seconds_per_hash * fps))
        cc = stream.codec_context
        if threads != 1:
            cc.thread_type = "AUTO"
        cc.thread_count = threads
        sampler = _Sampler(stream, step, fps, deadline, max_pixels, sequential=sequential)
        seekable = "mov" in container.format.name.split(",")  # checked on MP4/MOV only
        plan = _seek_plan(stream, step) if seekable and not sequential else None
        if plan is not None:
            mode = "seeking"
            packets, demux_error = _read_by_seeking(container, stream, sampler, plan, budget)
            short = False
        else:
            mode = "sequential" if sequential else "selective"
            packets, end, demux_error = _read_through(container, stream, sampler, budget)
            short = _ends_early(container, stream, packets, end)
        sampler.finish()
        truncated = iso_truncated or demux_error is not None or short
        if not sampler.results:
            if sampler.errors or demux_error is not None or packets == 0:
                reason = "truncated" if iso_truncated else "corrupt"
                detail = demux_error or f"{sampler.errors} packets refused, no frame decoded"
                raise CorruptData(reason, detail)
            if sampler.decoded == 0:
                raise CorruptData("corrupt", "no frame decoded")
        if not sequential:
            missing = sampler.wanted_total - len(sampler.results)
            if sampler.unreliable:
                raise _Untrusted("a keyframe did not decode as one")
            if missing > 0 and not truncated and not sampler.errors:
                raise _Untrusted(f"{missing} samples not returned by the decoder")
        warnings = []
        if sampler.errors:
            warnings.append(f"{sampler.errors} packets refused by the decoder")
        if demux_error is not None:
            warnings.append(f"reading stopped: {demux_error}")
        return VideoHashes(
            frames=[sampler.results[k] for k in sorted(sampler.results)],
            duration=_duration(container, stream),
            fps=fps,
            frame_step=step,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            truncated=truncated,
            decoded_frames=sampler.decoded,
            mode=mode,
            warnings=warnings,
        )


def _read_through(
    container: InputContainer, stream: VideoStream, sampler: _Sampler, budget: float
) -> tuple[int, float, str | None]:
    """Every packet of the file, the video stream's to the sampler: how many those were, the
    time (seconds) where the last packet of any stream ends, and why reading stopped early.

    The other streams (audio) are read too, only to learn where the file's data ends."""
    packets = 0
    end = 0.0
    demuxed = container.demux()
    while True:
        _check_time(sampler.deadline)
        try:
            packet = next(demuxed)
        except StopIteration:
            return packets, end, None
        except av.error.ExitError as e:
            raise CorruptData("timeout", f"no answer within {budget:g} s: {e}") from e
        except (av.error.FFmpegError, OSError, ValueError) as e:
            return packets, end, str(e)
        if packet.size == 0:
            continue  # PyAV's end-of-stream marker
        if packet.pts is not None and packet.time_base is not None:
            start = packet.stream.start_time or 0
            end = max(end, float((packet.pts - start + (packet.duration or 0)) * packet.time_base))
        if packet.stream.index != stream.index:
            continue
        packets += 1
        sampler.push(cast("av.Packet[VideoStream]", packet))


def _ends_early(container: InputContainer, stream: VideoStream, packets: int, end: float) -> bool:
    """Whether the data stops well before the frame count or duration the headers declare."""
    declared = stream.frames or 0
    if declared > 0:
        return packets < declared - max(2, declared // 100)
    duration = _duration(container, stream)
    if not duration or packets == 0:
        return False
    return end < duration - max(1.0, 0.05 * duration)


@dataclass(frozen=True, slots=True)
class _Group:
    """A GOP, from the container's index: where its keyframe is and the ranks it holds."""

    timestamp: int  # of the keyframe, as the index gives it (decode time)
    position: int  # byte offset of the keyframe
    packets: int
    first_rank: int


def _seek_plan(stream: VideoStream, step: int) -> list[_Group] | None:
    """The GOPs holding a sample, when the container indexes every frame (MP4/MOV) and
    skipping the others saves reading at least half of the stream; else None.

    GOPs are numbered in decode order and shown in the same order (their leading B-frames
    included), so the ranks a GOP holds are those after all the frames of the GOPs before it.
    """
    entries = stream.index_entries
    count = len(entries)
    if count < 2 or count != (stream.frames or 0) or count > 2_000_000:
        return None
    groups: list[tuple[int, int, int, int, int]] = []  # timestamp, pos, packets, shown, bytes
    for entry in entries:
        if entry.is_keyframe or not groups:
            if not entry.is_keyframe:
                return None  # the stream does not start with a keyframe
            groups.append((entry.timestamp, entry.pos, 0, 0, 0))
        ts, pos, n, shown, size = groups[-1]
        groups[-1] = (ts, pos, n + 1, shown + (not entry.is_discard), size + entry.size)
    total = sum(g[4] for g in groups)
    plan: list[_Group] = []
    needed, first = 0, 0
    for ts, pos, n, shown, size in groups:
        next_sample = -(-first // step) * step
        if next_sample < first + shown:
            plan.append(_Group(ts, pos, n, first))
            needed += size
        first += shown
    if needed * 2 > total:
        return None
    return plan


def _read_by_seeking(
    container: InputContainer,
    stream: VideoStream,
    sampler: _Sampler,
    plan: list[_Group],
    budget: float,
) -> tuple[int, str | None]:
    """The GOPs of ``plan`` only, each read after a seek to its keyframe.

    The index gives decode times, a seek takes presentation times: seeking to the keyframe's
    decode time plus the delay seen on the first keyframe usually lands on it; otherwise on
    an earlier keyframe, and packets are skipped up to the indexed one (by byte position).
    """
    packets = 0
    delay = 0
    for group in plan:
        _check_time(sampler.deadline)
        sampler.settle()  # a seek flushes the decoder: take the frames it holds first
        demuxed = None
        for target in dict.fromkeys((group.timestamp + delay, group.timestamp)):
            try:
                container.seek(target, stream=stream, backward=True, any_frame=False)
                demuxed = _skip_to(container.demux(stream), group.position, sampler.deadline)
            except av.error.ExitError as e:
                raise CorruptData("timeout", f"no answer within {budget:g} s: {e}") from e
            except (av.error.FFmpegError, OSError, ValueError) as e:
                return packets, str(e)
            if demuxed is not None:
                break
        if demuxed is None:
            raise _Untrusted("a seek did not reach the indexed keyframe")
        head, rest = demuxed
        if head.pts is not None and head.dts is not None and not packets:
            delay = max(0, head.pts - head.dts)
        sampler.start_group(group.first_rank)
        sampler.push(head)
        taken = 1
        packets += 1
        while taken < group.packets:
            _check_time(sampler.deadline)
            try:
                packet = next(rest)
            except StopIteration:
                return packets, "the stream ends before its index does"
            except av.error.ExitError as e:
                raise CorruptData("timeout", f"no answer within {budget:g} s: {e}") from e
            except (av.error.FFmpegError, OSError, ValueError) as e:
                return packets, str(e)
            if packet.size == 0:
                continue
            if packet.is_keyframe:
                break
            sampler.push(packet)
            taken += 1
            packets += 1
        sampler.end_group()
    return packets, None


Demuxed = Iterator["av.Packet[VideoStream]"]


def _skip_to(
    demuxed: Demuxed, position: int, deadline: float
) -> tuple[av.Packet[VideoStream], Demuxed] | None:
    """Read up to the keyframe at byte ``position``; None if the seek went past it."""
    for _ in range(GOP_BUFFER_PACKETS):
        _check_time(deadline)
        packet = next(demuxed, None)
        if packet is None or packet.pos is None or packet.pos < 0 or packet.pos > position:
            return None
        if packet.pos == position:
            return (packet, demuxed) if packet.is_keyframe else None
    return None


class _Pending:
    """A packet read but not yet given to the decoder."""

    __slots__ = ("packet", "pts", "rank", "wanted")

    def __init__(self, packet: av.Packet[VideoStream], pts: int) -> None:
        self.packet = packet
        self.pts = pts
        self.rank: int | None = None
        self.wanted = False


class _Sampler:
    """Feeds the decoder what the samples need and hashes the samples it returns.

    Selective: packets are held per GOP; ranks (presentation order) are given by sorting the
    GOP's timestamps (or, in a GOP too long to hold, with a lag of :data:`_REORDER` packets).
    Sequential: every packet is decoded, frames are counted as they come out (the reference).
    """

    def __init__(
        self,
        stream: VideoStream,
        step: int,
        fps: float,
        deadline: float,
        max_pixels: int,
        *,
        sequential: bool,
    ) -> None:
        self.cc = stream.codec_context
        self.step = step
        self.fps = fps
        self.deadline = deadline
        self.max_pixels = max_pixels
        self.sequential = sequential
        self.can_skip = not sequential and self.cc.name in _NONREF_CODECS
        self.gop: deque[_Pending] = deque()
        self.gop_bytes = 0
        self.streaming = False  # this GOP is too long to hold: decode as it comes
        self.heap: list[tuple[int, int, _Pending]] = []  # unranked, by timestamp
        self.seq = 0
        self.next_rank = 0
        self.wanted: dict[int, int] = {}  # timestamp → rank, of samples not yet returned
        self.wanted_total = 0
        self.results: dict[int, FrameHash] = {}
        self.decoded = 0
        self.errors = 0
        self.fed = False  # the decoder has had input since its last flush
        self.gap = False  # packets were dropped since the decoder's last input
        self.expect_key = False  # the next frame out follows a flush: must be a keyframe
        self.unreliable = False

    # reading

    def push(self, packet: av.Packet[VideoStream]) -> None:
        if self.sequential:
            self._decode(packet)
            return
        if packet.pts is None:
            raise _Untrusted("a packet without timestamp")
        if packet.is_keyframe and self.gop:
            self._end_gop()
        pending = _Pending(packet, packet.pts)
        self.gop.append(pending)
        self.gop_bytes += packet.size
        if not packet.is_discard:  # decoded for reference but never shown: no rank
            heapq.heappush(self.heap, (pending.pts, self.seq, pending))
            self.seq += 1
        if len(self.gop) > GOP_BUFFER_PACKETS or self.gop_bytes > GOP_BUFFER_BYTES:
            self.streaming = True
        if self.streaming:
            while len(self.heap) > _REORDER:
                self._rank_next()
            while self.gop and (self.gop[0].rank is not None or self.gop[0].packet.is_discard):
                self._feed(self.gop.popleft())
            if len(self.gop) > GOP_BUFFER_PACKETS + 4 * _REORDER:  # a timestamp far out of order
                raise _Untrusted("a packet reordered beyond any decoder's reach")

    def settle(self) -> None:
        """Take every frame the decoder holds (before a seek, which would drop them)."""
        if self.fed:
            self._drain()

    def start_group(self, first_rank: int) -> None:
        """The next packet is a keyframe after a seek: its GOP's frames rank from here."""
        self.next_rank = first_rank

    def end_group(self) -> None:
        if self.gop:
            self._end_gop()

    def finish(self) -> None:
        if not self.sequential and self.gop:
            self._end_gop()
        if self.fed:
            self._drain()

    # selective decoding

    def _rank_next(self) -> None:
        _, _, pending = heapq.heappop(self.heap)
        pending.rank = self.next_rank
        self.next_rank += 1
        if pending.rank % self.step == 0:
            pending.wanted = True
            self.wanted[pending.pts] = pending.rank
            self.wanted_total += 1

    def _end_gop(self) -> None:
        """Rank the rest of the GOP; decode up to its last sample, drop the rest."""
        while self.heap:
            self._rank_next()
        last = max((i for i, p in enumerate(self.gop) if p.wanted), default=-1)
        for i, pending in enumerate(self.gop):
            if i > last:
                self.gap = self.gap or self.fed
                break
            self._feed(pending)
        self.gop.clear()
        self.gop_bytes = 0
        self.streaming = False

    def _feed(self, pending: _Pending) -> None:
        if self.gap:
            self._drain()
        if self.can_skip:
            self.cc.skip_frame = "DEFAULT" if pending.wanted else "NONREF"
        self._decode(pending.packet)

    def _drain(self) -> None:
        """Take every frame the decoder still holds, then make it ready for a keyframe."""
        try:
            for frame in self.cc.decode(None):
                self._take(frame)
        except av.error.FFmpegError:
            self.errors += 1
        self.cc.flush_buffers()
        self.fed = self.gap = False
        self.expect_key = True

    # both

    def _decode(self, packet: av.Packet[VideoStream]) -> None:
        try:
            frames = self.cc.decode(packet)
        except av.error.FFmpegError:
            self.errors += 1
            if self.errors > _MAX_DECODE_ERRORS and self.errors > self.decoded:
                detail = f"{self.errors} packets refused by the decoder"
                raise CorruptData("corrupt", detail) from None
            return
        self.fed = True
        for frame in frames:
            self._take(frame)

    def _take(self, frame: av.VideoFrame) -> None:
        _check_time(self.deadline)
        if self.sequential:
            rank: int | None = self.decoded if self.decoded % self.step == 0 else None
        else:
            if self.expect_key:
                self.expect_key = False
                self.unreliable = self.unreliable or not frame.key_frame
            rank = self.wanted.pop(int(frame.pts), None) if frame.pts is not None else None
        self.decoded += 1
        if rank is None:
            return
        if frame.width * frame.height > self.max_pixels:
            raise CorruptData("too-large", f"frame of {frame.width}×{frame.height}")
        pdq, quality = frame_pdq(frame)
        self.results[rank] = FrameHash(rank, _timestamp(rank, self.fps), pdq, quality)


def _timestamp(frame: int, fps: float) -> float:
    """``static_cast<float>(frame) / static_cast<float>(fps)``, as the reference computes it."""
    return float(np.float32(frame) / np.float32(fps))


# ----------------------------------------------------------------------------- PDQ


def frame_pdq(frame: av.VideoFrame) -> tuple[str, int]:
    """PDQ hash (hex) and quality of a decoded frame at its full size, as the reference
    computes them from its RGB24 conversion (see the module's notes), in a few milliseconds."""
    width, height = frame.width, frame.height
    if min(width, height) < _PDQ_MIN_SIDE:
        return _ZERO_HASH, 0
    spec = _LUMA_FORMATS.get(frame.format.name)
    if spec is not None:
        bits, full = spec
        full = full or frame.color_range == _COLOR_RANGE_JPEG
        plane = frame.planes[0]
        dtype = np.dtype(np.uint8) if bits == 8 else np.dtype("<u2")
        rows = np.frombuffer(memoryview(plane), dtype=dtype).reshape(height, -1)[:, :width]
        grid = _pdq_grid(rows) / float(1 << (bits - 8))
        luma = grid if full else (grid - 16.0) * (255.0 / 219.0)
    else:
        rgb = frame.to_ndarray(format="rgb24")
        luma = _pdq_grid(rgb.astype(np.float32) @ _LUMA_RGB)
    return pdq_from_luma64(luma)


def pdq_from_luma64(luma: NDArray[Any]) -> tuple[str, int]:
    """PDQ hash (hex, ThreatExchange order) and quality of a 64×64 luma image: the second
    half of PDQ (quality metric, 64→16 DCT, bits above the median), in single precision and
    in the order of the reference's loops (``pdqhashing.cpp``), so the same 64×64 input gives
    the same bits. ``pdqhash.compute`` on a 64×64 grey picture agrees (checked by a test)."""
    a = np.ascontiguousarray(luma, dtype=np.float32)
    if a.shape != (64, 64):
        raise ValueError(f"expected a 64×64 luma image, not {a.shape}")
    coefficients = np.empty(256, dtype=np.float32)
    quality = int(_pdq_tail(a, _DCT, coefficients))
    median = np.partition(coefficients, 127)[127]  # what Torben's selection returns for 256
    bits = coefficients > median  # bit k = 16 i + j, value 2**k in the hex's number
    return pdq_hex(bits[::-1]), quality


_DCT = np.array(
    [[math.sqrt(2.0 / 64) * math.cos(math.pi / 128 * (i + 1) * (2 * j + 1)) for j in range(64)]
     for i in range(16)],
    dtype=np.float32,
)  # fmt: skip


@numba.njit(nogil=True, cache=True)
def _pdq_tail(a: Any, dct: Any, out: Any) -> int:  # pragma: no cover - compiled
    """Quality of the 64×64 ``a``; its 16×16 DCT (``dct64To16``) into ``out``, row-major."""
    gradient = 0
    for i in range(63):
        for j in range(64):
            d = ((a[i, j] - a[i + 1, j]) * np.float32(100.0)) / np.float32(255.0)
            gradient += abs(int(d))
    for i in range(64):
        for j in range(63):
            d = ((a[i, j] - a[i, j + 1]) * np.float32(100.0)) / np.float32(255.0)
            gradient += abs(int(d))
    t = np.empty((16, 64), dtype=np.float32)
    for i in range(16):
        for j in range(64):
            s = np.float32(0.0)
            for k in range(64):
                s += dct[i, k] * a[k, j]
            t[i, j] = s
    for i in range(16):
        for j in range(16):
            s = np.float32(0.0)
            for k in range(64):
                s += t[i, k] * dct[j, k]
            out[i * 16 + j] = s
    return min(100, gradient // 90)


def _pdq_grid(pixels: NDArray[Any]) -> NDArray[np.float64]:
    """PDQ's 64×64 sampling of its Jarosz blur of ``pixels`` (height × width, one channel),
    computed at the 64 sampled rows and columns only."""
    height, width = pixels.shape
    rows = _pdq_weights(height)
    cols = _pdq_weights(width)
    out = np.empty((64, 64), dtype=np.float64)
    _grid_kernel(pixels, *rows, *cols, out)
    return out


@numba.njit(nogil=True, cache=True)
def _grid_kernel(
    pixels: Any,
    row_w: Any,
    row_a: Any,
    row_b: Any,
    col_w: Any,
    col_a: Any,
    col_b: Any,
    out: Any,
) -> None:  # pragma: no cover - compiled
    """``out = row_w @ pixels @ col_w.T`` over the nonzero bands only (a few million
    multiply-adds for 1080p, single-threaded: BLAS's threads stall on a busy machine)."""
    width = pixels.shape[1]
    band = np.empty(width, dtype=np.float32)
    for i in range(64):
        band[:] = 0.0
        for r in range(row_a[i], row_b[i]):
            weight = row_w[i, r]
            for x in range(width):
                band[x] += weight * np.float32(pixels[r, x])
        for j in range(64):
            s = 0.0
            for x in range(col_a[j], col_b[j]):
                s += col_w[j, x] * band[x]
            out[i, j] = s


@functools.lru_cache(maxsize=32)
def _pdq_weights(n: int) -> tuple[NDArray[np.float32], NDArray[np.intp], NDArray[np.intp]]:
    """The weights of PDQ's downsampling along a side of ``n`` pixels, as a 64 × n matrix,
    with the first and past-last nonzero column of each row.

    ``downscaling.cpp``: a box of ``w = ceil(n / 128)`` pixels (``box1DFloat``: from
    ``o - (w - h)`` to ``o + h - 1``, ``h = (w + 2) // 2``, averaged over what lies inside the
    side) applied twice, then sample ``int((i + 0.5) n / 64)``. Row ``i`` is the sampled row
    of the box matrix times the box matrix, summed with a difference array.
    """
    w = (n + 2 * 64 - 1) // (2 * 64)
    h = (w + 2) // 2
    o = np.arange(n)
    lo = np.maximum(o - (w - h), 0)
    hi = np.minimum(o + h - 1, n - 1)
    count = (hi - lo + 1).astype(np.float64)
    sampled = ((np.arange(64) + 0.5) * n / 64).astype(np.intp)
    diff = np.zeros((64, n + 1))
    for i, c in enumerate(sampled):
        inner = np.arange(lo[c], hi[c] + 1)
        weight = 1.0 / (count[c] * count[inner])
        np.add.at(diff[i], lo[inner], weight)
        np.add.at(diff[i], hi[inner] + 1, -weight)
    matrix = np.cumsum(diff, axis=1)[:, :n]
    nonzero = matrix > 1e-12
    first = nonzero.argmax(axis=1)
    past = n - nonzero[:, ::-1].argmax(axis=1)
    return matrix.astype(np.float32), first.astype(np.intp), past.astype(np.intp)


# ---------------------------------------------------------------------- containers


class _Opened:
    """``av.open`` with our error reasons, as a context manager."""

    def __init__(
        self, source: Path | BinaryIO, deadline: float, budget: float, iso_truncated: bool
    ) -> None:
        left = max(0.01, deadline - time.monotonic())
        try:
            if isinstance(source, Path):
                self.container = av.open(str(source), mode="r", timeout=(left, left))
            else:
                source.seek(0)
                self.container = av.open(source, mode="r", timeout=(left, left))
        except av.error.ExitError as e:
            raise CorruptData("timeout", f"no answer within {budget:g} s: {e}") from e
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            raise
        except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
            raise CorruptData("truncated" if iso_truncated else "corrupt", str(e)) from e

    def __enter__(self) -> InputContainer:
        return self.container

    def __exit__(self, *exc: object) -> None:
        self.container.close()


def _video_stream(container: InputContainer, max_pixels: int) -> VideoStream:
    streams = container.streams.video
    if not streams:
        raise CorruptData("no-video-stream", f"{container.format.name}: no video stream")
    stream = streams[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise CorruptData("corrupt", f"frame size {width}×{height}")
    if width * height > max_pixels:
        raise CorruptData("too-large", f"frames of {width}×{height} > {max_pixels} pixels")
    return stream


def _frame_rate(stream: VideoStream) -> float:
    """``avg_frame_rate``, else ``r_frame_rate`` (the reference), else FFmpeg's guess."""
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate and rate > 0 and math.isfinite(float(rate)):
            return float(rate)
    raise CorruptData("corrupt", "no frame rate")


def _duration(container: InputContainer, stream: VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(container.duration / av.time_base)
    return None


def _check_time(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise CorruptData("timeout", "time budget spent")


# ------------------------------------------------------------------ collapse and text


def collapse(frames: Iterable[FrameHash], max_distance: int = COLLAPSE_DISTANCE) -> list[FrameRun]:
    """Runs of consecutive near-identical frame hashes, each kept as its first hash.

    ``frames`` in order; a frame joins the current run when its PDQ hash is within
    ``max_distance`` bits of the run's *first* hash (not of the previous frame: a slow pan,
    each step a few bits, still starts new runs as it drifts), else it starts a new run. A
    run remembers its last frame and time, so "this content from 0:12 to 3:40" survives; a
    still shown twice, with something else between, gives two runs.
    """
    runs: list[FrameRun] = []
    first: FrameHash | None = None
    first_bits = 0
    last: FrameHash | None = None
    count = 0
    for f in frames:
        bits = int(f.pdq, 16)
        if first is not None and (bits ^ first_bits).bit_count() <= max_distance:
            last, count = f, count + 1
            continue
        if first is not None and last is not None:
            runs.append(FrameRun(first, last.frame, last.timestamp, count))
        first, first_bits, last, count = f, bits, f, 1
    if first is not None and last is not None:
        runs.append(FrameRun(first, last.frame, last.timestamp, count))
    return runs


def write_vpdq_lines(frames: Iterable[FrameHash]) -> str:
    """The reference's per-video text (``outputVPDQFeatureToFile``): one
    ``frameNumber,quality,pdqHex,timestamp`` line per frame, the time with 3 decimals."""
    return "".join(f"{f.frame},{f.quality},{f.pdq},{f.timestamp:.3f}\n" for f in frames)


def parse_vpdq_lines(text: str) -> list[FrameHash]:
    """Frame hashes from the reference's per-video text (:func:`write_vpdq_lines`); blank
    lines are skipped, fields after the fourth ignored (as ``loadHashesFromFileOrDie``).
    Raises :class:`ValueError` naming the first bad line."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split(",")
        try:
            if len(fields) < 4:
                raise ValueError("fewer than 4 fields")
            frame, quality, pdq = int(fields[0]), int(fields[1]), fields[2].strip().lower()
            timestamp = float(fields[3])
            if len(pdq) != 64 or len(bytes.fromhex(pdq)) != 32:
                raise ValueError("hash is not 64 hex characters")
            if frame < 0 or not 0 <= quality <= 100 or not math.isfinite(timestamp):
                raise ValueError("value out of range")
        except ValueError as e:
            raise ValueError(f"line {number}: {e}: {line[:120]!r}") from e
        out.append(FrameHash(frame, timestamp, pdq, quality))
    return out


# ----------------------------------------------------------------------- contact sheet


@dataclass(slots=True)
class _Shot:
    time: float
    tile: Image.Image
    feature: NDArray[np.float32]
    score: float = 0.0


def contact_sheet(
    source: Path | BinaryIO,
    *,
    columns: int = 4,
    rows: int = 3,
    tile_width: int = 256,
    budget_seconds: float = CONTACT_SHEET_SECONDS,
    max_pixels: int = MAX_PIXELS,
) -> bytes:
    """A JPEG grid of ``columns × rows`` frames of the video, each with its time, so a
    reviewer can judge a video without playing it.

    Candidates are keyframes (``skip_frame = NONKEY``: nothing else is decoded), three per
    tile, found by seeking to evenly spaced times. Encoders put keyframes at scene cuts, and
    among the candidates of each of the ``columns × rows`` equal stretches of the video the
    one that changed most from the candidate before it wins (flat, blank frames lose): scene
    changes preferred, spread over the whole video. A stretch without any keyframe (long GOPs)
    gets the frame at its middle, decoded from the keyframe before it. Without a duration or a
    working seek, every keyframe is read in one pass. Tiles are ``tile_width`` wide and as high
    as the shown frame's aspect (display rotation applied: this is for people), so the sheet is
    ``columns × tile_width`` by ``rows × tile_height``; cells beyond the frames found (a video
    of a few seconds) stay dark. The budget bounds everything: when spent, the sheet is made
    of what was found (``CorruptData("timeout")`` if nothing was).

    Raises :class:`CorruptData` like :func:`hash_frames`.
    """
    if columns < 1 or rows < 1 or tile_width < 16:
        raise ValueError(
            f"need columns, rows ≥ 1 and tile_width ≥ 16, not {columns}, {rows}, {tile_width}"
        )
    deadline = time.monotonic() + budget_seconds
    iso = _iso_layout(source)
    with _Opened(source, deadline, budget_seconds, bool(iso and iso.truncated)) as container:
        stream = _video_stream(container, max_pixels)
        duration = _duration(container, stream)
        tiles = columns * rows
        shots: dict[float, _Shot] = {}
        if duration and duration > 0 and stream.time_base is not None:
            try:
                for k in range(3 * tiles):
                    target = (k + 0.5) * duration / (3 * tiles)
                    _seek_shot(container, stream, target, tile_width, deadline, shots, key=True)
                for k in range(tiles):
                    lo, hi = k * duration / tiles, (k + 1) * duration / tiles
                    if not any(lo <= t < hi for t in shots):
                        target = (lo + hi) / 2
                        _seek_shot(container, stream, target, tile_width, deadline, shots)
            except (av.error.FFmpegError, OSError, ValueError):
                pass  # not seekable after all: one pass below
        if not shots and time.monotonic() < deadline:
            container.seek(0)
            for shot in _shots_in_one_pass(container, stream, 6 * tiles, tile_width, deadline):
                shots.setdefault(round(shot.time, 2), shot)
        if not shots:
            if time.monotonic() > deadline:
                raise CorruptData("timeout", "time budget spent before any frame")
            raise CorruptData("corrupt", "no frame decoded")
        ordered = [shots[t] for t in sorted(shots)]
        chosen = _choose(ordered, tiles, duration or (ordered[-1].time + 1.0))
    return _compose(chosen, columns, rows, tile_width)


def _seek_shot(
    container: InputContainer,
    stream: VideoStream,
    target: float,
    tile_width: int,
    deadline: float,
    shots: dict[float, _Shot],
    *,
    key: bool = False,
) -> None:
    """Add to ``shots`` the keyframe at or before ``target`` seconds (``key``), or the first
    frame at ``target``, decoded from the keyframe before it (skipping unreferenced ones)."""
    if time.monotonic() > deadline:
        return
    assert stream.time_base is not None
    start = stream.start_time or 0
    container.seek(start + int(target / stream.time_base), stream=stream, backward=True)
    cc = stream.codec_context
    cc.flush_buffers()  # no frame of the previous position may come out
    cc.skip_frame = "NONKEY" if key else "NONREF"
    origin = float(start * stream.time_base)
    for packet in container.demux(stream):
        if time.monotonic() > deadline:
            return
        try:
            frames = cc.decode(packet if packet.size else None)
        except av.error.FFmpegError:
            continue
        for frame in frames:
            shown = float(frame.time) - origin if frame.time is not None else target
            if key or shown >= target - 0.05:
                shot = _shot(frame, stream, tile_width)
                shots.setdefault(round(shot.time, 2), shot)
                return


def _shots_in_one_pass(
    container: InputContainer, stream: VideoStream, keep: int, tile_width: int, deadline: float
) -> list[_Shot]:
    """Every keyframe, thinned to every other one whenever more than ``keep`` are held."""
    cc = stream.codec_context
    cc.flush_buffers()
    cc.skip_frame = "NONKEY"
    shots: list[_Shot] = []
    stride, seen = 1, 0
    for packet in container.demux(stream):
        if time.monotonic() > deadline:
            break
        try:
            frames = cc.decode(packet if packet.size else None)
        except av.error.FFmpegError:
            continue
        for frame in frames:
            seen += 1
            if (seen - 1) % stride:
                continue
            shots.append(_shot(frame, stream, tile_width))
            if len(shots) > keep:
                shots, stride = shots[::2], stride * 2
    return shots


def _shot(frame: av.VideoFrame, stream: VideoStream, tile_width: int) -> _Shot:
    start = 0.0
    if stream.start_time is not None and stream.time_base is not None:
        start = float(stream.start_time * stream.time_base)
    t = max(0.0, float(frame.time) - start) if frame.time is not None else 0.0
    turn = frame.rotation % 360 if frame.rotation else 0  # counter-clockwise, to show upright
    sideways = turn in (90, 270)
    shown_width, shown_height = (
        (frame.height, frame.width) if sideways else (frame.width, frame.height)
    )
    tile_height = max(2, round(tile_width * shown_height / max(1, shown_width)))
    width, height = (tile_height, tile_width) if sideways else (tile_width, tile_height)
    small = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
    image = Image.fromarray(np.asarray(small.to_ndarray(), dtype=np.uint8), "RGB")
    if turn in _TURNS:
        image = image.transpose(_TURNS[turn])
    grey = image.convert("L").resize((32, 32), Image.Resampling.BOX)
    return _Shot(t, image, np.asarray(grey, dtype=np.float32))


_TURNS = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def _choose(shots: Sequence[_Shot], tiles: int, span: float) -> list[_Shot]:
    """Per equal stretch of the video, the candidate that changed most from the one before."""
    previous: NDArray[np.float32] | None = None
    for shot in shots:
        change = 255.0 if previous is None else float(np.abs(shot.feature - previous).mean())
        flat = float(shot.feature.std()) < 8.0  # black, white or one colour: little to see
        shot.score = change * (0.1 if flat else 1.0)
        previous = shot.feature
    if len(shots) <= tiles:
        return list(shots)
    chosen: list[_Shot] = []
    for k in range(tiles):
        lo, hi = k * span / tiles, (k + 1) * span / tiles
        inside = [s for s in shots if lo <= s.time < hi and s not in chosen]
        if inside:
            chosen.append(max(inside, key=lambda s: s.score))
    rest = sorted((s for s in shots if s not in chosen), key=lambda s: -s.score)
    chosen.extend(rest[: tiles - len(chosen)])
    return sorted(chosen, key=lambda s: s.time)


def _compose(shots: Sequence[_Shot], columns: int, rows: int, tile_width: int) -> bytes:
    tile_height = shots[0].tile.height
    sheet = Image.new("RGB", (columns * tile_width, rows * tile_height), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    font = _label_font(max(10, tile_width // 14))
    for k, shot in enumerate(shots[: columns * rows]):
        x, y = (k % columns) * tile_width, (k // columns) * tile_height
        tile = shot.tile
        if tile.size != (tile_width, tile_height):  # a frame size change mid-video
            tile = tile.resize((tile_width, tile_height), Image.Resampling.BILINEAR)
        sheet.paste(tile, (x, y))
        label = _clock(shot.time)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        pad = 3
        box = (
            x + pad,
            y + tile_height - (bottom - top) - 3 * pad,
            x + 3 * pad + (right - left),
            y + tile_height - pad,
        )
        draw.rectangle(box, fill=(0, 0, 0))
        draw.text((box[0] + pad - left, box[1] + pad - top), label, fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    sheet.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _label_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _clock(seconds: float) -> str:
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
