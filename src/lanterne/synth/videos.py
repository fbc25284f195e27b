"""Benign synthetic videos: coloured shapes moving over a gradient, and their variants.

Tests, demos and benchmarks need real, playable video files (an MP4 a phone could have sent)
without any real footage. Frames are drawn from ``seed`` alone and encoded with PyAV: H.264
(libx264) where the wheel has it, MPEG-4 part 2 otherwise (and always for AVI), VP8 for WebM.
The whole file is built in memory.

For video hashing (vPDQ) there is more:

* :func:`make_motion_video` / :func:`write_motion_video`: *scenes* of a few seconds each, a
  textured gradient seen by a panning camera with shapes moving over it, so that frame hashes
  change along the video (a hash per second is not the same hash), scene cuts exist (for contact
  sheets) and the encoder has real work (texture, motion). Codec, bit rate or quality, GOP
  length and B-frames are chosen by the caller, to imitate a phone (short GOP, no B-frames) or
  a desktop encode (long GOP, B-frames);
* :func:`transform_video` / :func:`make_video_variant`: the copies a matcher must recognise
  (re-encoded at another bit rate or size, cropped, with a logo, greyscale, trimmed);
* :func:`plant_still`: a given picture shown full frame for a few seconds at a known time.

Same arguments, same bytes: encoders run single-threaded with ``bitexact`` muxing.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.stream import VideoStream
from numpy.typing import NDArray
from PIL import Image, ImageDraw

__all__ = [
    "VIDEO_FORMATS",
    "VIDEO_VARIANTS",
    "make_motion_video",
    "make_video",
    "make_video_variant",
    "plant_still",
    "transform_video",
    "write_motion_video",
]

VIDEO_FORMATS: dict[str, str] = {"mp4": "mp4", "mov": "mov", "mkv": "matroska", "avi": "avi"}
"""``fmt`` accepted by :func:`make_video` → FFmpeg muxer name (``webm`` too when VP8 is there)."""
if "libvpx" in av.codecs_available:
    VIDEO_FORMATS["webm"] = "webm"


def _codec_for(fmt: str) -> str:
    if fmt == "webm":
        return "libvpx"
    if fmt != "avi" and "libx264" in av.codecs_available:
        return "libx264"
    return "mpeg4"


def make_video(
    seed: int,
    seconds: float = 2.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 10,
    fmt: str = "mp4",
    *,
    rotation: int = 0,
) -> bytes:
    """A deterministic video of ``seconds`` at ``fps`` frames per second, as ``fmt`` bytes.

    ``rotation`` (0, 90, 180 or 270; MP4/MOV only) is written as the track's display matrix,
    the way phones record portrait video: the degrees a player turns the stored frames
    clockwise to show them upright.
    """
    if fmt not in VIDEO_FORMATS:
        raise ValueError(f"unknown video format {fmt!r}; one of {', '.join(VIDEO_FORMATS)}")
    width, height = size
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError(f"video size must be even and at least 16×16, not {size!r}")
    if fps < 1 or seconds <= 0:
        raise ValueError(f"need fps ≥ 1 and seconds > 0, not fps={fps!r} seconds={seconds!r}")
    if rotation % 90 or (rotation and fmt not in ("mp4", "mov")):
        raise ValueError(f"rotation must be a multiple of 90 on mp4/mov, not {rotation!r}")

    frames = max(1, round(seconds * fps))
    scene = _Scene(seed, width, height)
    out = io.BytesIO()
    # bitexact: no random segment id or muxing date (Matroska), so a seed gives one file.
    options = {"fflags": "+bitexact"}
    with av.open(out, mode="w", format=VIDEO_FORMATS[fmt], container_options=options) as container:
        stream = container.add_stream(_codec_for(fmt), rate=fps)
        if not isinstance(stream, VideoStream):  # narrows PyAV's union for the type checker
            raise TypeError(f"{_codec_for(fmt)} did not give a video stream")
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1  # same bytes on every machine
        if rotation % 360:
            # PyAV takes counter-clockwise degrees (FFmpeg's display-matrix convention).
            stream.set_display_rotation(-(rotation % 360))
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(scene.frame(index / frames), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


class _Scene:
    """A gradient background and shapes on straight paths, drawn at time ``t`` in [0, 1)."""

    def __init__(self, seed: int, width: int, height: int) -> None:
        rng = random.Random(seed)
        self.size = (width, height)
        top = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
        bottom = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
        ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
        self.background = np.broadcast_to(top + (bottom - top) * ramp, (height, width, 3))
        self.background = self.background.astype(np.uint8)
        self.shapes = [
            (
                rng.choice(("ellipse", "rectangle")),
                (rng.randrange(256), rng.randrange(256), rng.randrange(256)),
                (rng.uniform(0, 1), rng.uniform(0, 1)),  # start, relative
                (rng.uniform(-1, 1), rng.uniform(-1, 1)),  # velocity, frames per clip
                rng.uniform(0.06, 0.2),  # radius, relative to the shorter side
            )
            for _ in range(rng.randint(3, 6))
        ]

    def frame(self, t: float) -> np.ndarray:
        width, height = self.size
        image = Image.fromarray(self.background, "RGB")
        draw = ImageDraw.Draw(image)
        for kind, colour, (x0, y0), (vx, vy), radius in self.shapes:
            x = math.fmod(x0 + vx * t + 2.0, 1.0) * width
            y = math.fmod(y0 + vy * t + 2.0, 1.0) * height
            r = radius * min(width, height)
            box = (x - r, y - r, x + r, y + r)
            if kind == "ellipse":
                draw.ellipse(box, fill=colour)
            else:
                draw.rectangle(box, fill=colour)
        return np.asarray(image)


# ------------------------------------------------------------------ videos for frame hashing

VIDEO_VARIANTS: tuple[str, ...] = (
    "reencoded", "resized", "cropped", "logo", "greyscale", "trimmed",
)  # fmt: skip
"""Kinds of copy :func:`make_video_variant` makes."""

Rate = int | Fraction
Frames = Iterator[NDArray[np.uint8]]


def default_codec() -> str:
    """The encoder used when none is asked for: libx264 if this PyAV has it, else MPEG-4."""
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def make_motion_video(
    seed: int,
    seconds: float = 8.0,
    size: tuple[int, int] = (320, 240),
    fps: Rate = 15,
    *,
    scene_seconds: float = 3.0,
    codec: str | None = None,
    gop: int | None = None,
    bframes: int | None = None,
    crf: int | None = None,
    bitrate: int | None = None,
    preset: str = "veryfast",
    fmt: str = "mp4",
) -> bytes:
    """A deterministic video of scenes with texture, camera pan and moving shapes, as bytes.

    Each scene lasts ``scene_seconds`` and is drawn from ``(seed, scene number)``: a new
    gradient, texture and set of shapes, so consecutive seconds hash differently within a
    scene (things move) and very differently across a cut. ``codec`` is a PyAV encoder name
    (default :func:`default_codec`); ``gop`` (frames between keyframes), ``bframes``, ``crf``
    (libx264 quality, default 23), ``bitrate`` (bits per second, instead of ``crf``) and
    ``preset`` (libx264 speed) shape the stream. ``fps`` may be a :class:`~fractions.Fraction`
    (``Fraction(30000, 1001)``: NTSC 29.97).
    """
    out = io.BytesIO()
    _write_motion(out, seed, seconds, size, fps, scene_seconds, codec, gop, bframes, crf,
                  bitrate, preset, fmt, threads=1)  # fmt: skip
    return out.getvalue()


def write_motion_video(
    path: Path,
    seed: int,
    seconds: float,
    size: tuple[int, int],
    fps: Rate = 30,
    *,
    scene_seconds: float = 3.0,
    codec: str | None = None,
    gop: int | None = None,
    bframes: int | None = None,
    crf: int | None = None,
    bitrate: int | None = None,
    preset: str = "veryfast",
    threads: int = 0,
) -> None:
    """:func:`make_motion_video` written to ``path`` (MP4), for long benchmark videos that
    should not be held in memory. ``threads`` (0: FFmpeg's choice) speeds the encoder up; the
    bytes then depend on the machine, the pictures do not."""
    with path.open("wb") as f:
        _write_motion(f, seed, seconds, size, fps, scene_seconds, codec, gop, bframes, crf,
                      bitrate, preset, "mp4", threads=threads)  # fmt: skip


def transform_video(
    data: bytes,
    *,
    size: tuple[int, int] | None = None,
    crop: float = 0.0,
    logo: bool = False,
    grey: bool = False,
    trim: tuple[float, float | None] | None = None,
    crf: int | None = None,
    bitrate: int | None = None,
    codec: str | None = None,
    fmt: str = "mp4",
) -> bytes:
    """A re-encoded copy of the video ``data`` with its frames changed as asked, in order:
    ``trim`` (keep ``start <= t < end`` seconds, ``end`` None: to the end; the copy starts at
    0), ``crop`` (that fraction of each side cut off), ``size`` (scaled, Lanczos), ``grey``,
    ``logo`` (a semi-transparent badge in the lower right corner, 1/8 of the width). The frame
    rate is kept; ``crf``/``bitrate``/``codec`` choose the new encoding."""
    if not 0.0 <= crop < 0.5:
        raise ValueError(f"crop must be a fraction of each side in [0, 0.5), not {crop!r}")

    def change(frame: NDArray[np.uint8], _t: float) -> NDArray[np.uint8]:
        image = Image.fromarray(frame, "RGB")
        if crop:
            w, h = image.size
            dx, dy = round(w * crop), round(h * crop)
            image = image.crop((dx, dy, w - dx, h - dy))
        target = size or (image.width - image.width % 2, image.height - image.height % 2)
        if image.size != target:
            image = image.resize(target, Image.Resampling.LANCZOS)
        if grey:
            image = image.convert("L").convert("RGB")
        if logo:
            _draw_logo(image)
        return np.asarray(image)

    return _reencode(data, change, trim=trim, crf=crf, bitrate=bitrate, codec=codec, fmt=fmt)


def make_video_variant(data: bytes, variant: str, seed: int = 0) -> bytes:
    """A copy of the video ``data`` as people re-share videos (see :data:`VIDEO_VARIANTS`):

    * ``reencoded``: same size, heavy compression (libx264 CRF 36, MPEG-4 at 1/4 the rate);
    * ``resized``: 1/2 of each side (even), CRF 28;
    * ``cropped``: 1 to 2 % of each side cut off (``seed`` draws the amount): PDQ is
      sensitive to cropping, expect tens of bits per frame;
    * ``logo``: a badge over the lower right corner;
    * ``greyscale``;
    * ``trimmed``: the first 2 s (and anything after 60 s) dropped; its frame at ``t`` is
      the original's frame at ``t + 2``.
    """
    if variant not in VIDEO_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VIDEO_VARIANTS)}")
    if variant == "reencoded":
        return transform_video(data, crf=36)
    if variant == "resized":
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            w, h = stream.codec_context.width, stream.codec_context.height
        return transform_video(data, size=(max(16, w // 4 * 2), max(16, h // 4 * 2)), crf=28)
    if variant == "cropped":
        return transform_video(data, crop=random.Random(seed).uniform(0.01, 0.02))
    if variant == "logo":
        return transform_video(data, logo=True)
    if variant == "greyscale":
        return transform_video(data, grey=True)
    return transform_video(data, trim=(2.0, 60.0))


def plant_still(data: bytes, picture: bytes, at: float, seconds: float) -> bytes:
    """The video ``data`` re-encoded with the picture ``picture`` (any format Pillow reads)
    shown full frame, stretched to the frame size, from ``at`` for ``seconds`` (the frames
    with ``at <= t < at + seconds``). PDQ squeezes any picture to 64×64, so the stretch keeps
    the picture's hash; letterboxing would not."""
    with Image.open(io.BytesIO(picture)) as source:
        still = source.convert("RGB")
    cache: dict[tuple[int, int], NDArray[np.uint8]] = {}

    def change(frame: NDArray[np.uint8], t: float) -> NDArray[np.uint8]:
        if not at <= t < at + seconds:
            return frame
        h, w = frame.shape[:2]
        if (w, h) not in cache:
            cache[(w, h)] = np.asarray(still.resize((w, h), Image.Resampling.LANCZOS))
        return cache[(w, h)]

    return _reencode(data, change)


def _write_motion(
    target: io.BufferedIOBase | io.BytesIO,
    seed: int,
    seconds: float,
    size: tuple[int, int],
    fps: Rate,
    scene_seconds: float,
    codec: str | None,
    gop: int | None,
    bframes: int | None,
    crf: int | None,
    bitrate: int | None,
    preset: str,
    fmt: str,
    *,
    threads: int,
) -> None:
    width, height = size
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError(f"video size must be even and at least 16×16, not {size!r}")
    if fps <= 0 or seconds <= 0 or scene_seconds <= 0:
        raise ValueError(f"need fps, seconds and scene_seconds > 0, not {fps!r} {seconds!r}")
    rate = Fraction(fps)
    count = max(1, round(seconds * rate))
    per_scene = max(1, round(scene_seconds * rate))
    scenes: dict[int, _MotionScene] = {}

    def frames() -> Frames:
        for index in range(count):
            number, offset = divmod(index, per_scene)
            if number not in scenes:
                scenes.clear()  # one scene's texture in memory at a time
                scenes[number] = _MotionScene(seed, number, width, height)
            yield scenes[number].frame(offset / per_scene)

    _encode(target, frames(), rate, size, codec=codec, gop=gop, bframes=bframes, crf=crf,
            bitrate=bitrate, preset=preset, fmt=fmt, threads=threads)  # fmt: skip


def _encode(
    target: io.BufferedIOBase | io.BytesIO,
    frames: Frames,
    rate: Fraction,
    size: tuple[int, int],
    *,
    codec: str | None = None,
    gop: int | None = None,
    bframes: int | None = None,
    crf: int | None = None,
    bitrate: int | None = None,
    preset: str = "veryfast",
    fmt: str = "mp4",
    threads: int = 1,
) -> None:
    """Encode RGB frames of ``size`` at ``rate`` frames per second into ``target``."""
    if fmt not in VIDEO_FORMATS:
        raise ValueError(f"unknown video format {fmt!r}; one of {', '.join(VIDEO_FORMATS)}")
    name = codec or (_codec_for(fmt) if fmt in ("webm", "avi") else default_codec())
    options: dict[str, str] = {}
    if gop is not None:
        options["g"] = str(gop)
    if bframes is not None:
        options["bf"] = str(bframes)
    if name == "libx264":
        options["preset"] = preset
        if bitrate is None:
            options["crf"] = str(23 if crf is None else crf)
    width, height = size
    container_options = {"fflags": "+bitexact"}
    with av.open(
        target, mode="w", format=VIDEO_FORMATS[fmt], container_options=container_options
    ) as out:
        stream = out.add_stream(name, rate=rate, options=options)
        if not isinstance(stream, VideoStream):
            raise TypeError(f"{name} did not give a video stream")
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = threads
        if bitrate is not None:
            stream.bit_rate = bitrate
        elif name != "libx264":  # MPEG-4 part 2, VP8: a rate that looks like a phone's
            scale = 4 if crf is not None and crf >= 30 else 1
            stream.bit_rate = max(200_000, int(width * height * float(rate) * 0.15) // scale)
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _reencode(
    data: bytes,
    change: Callable[[NDArray[np.uint8], float], NDArray[np.uint8]],
    *,
    trim: tuple[float, float | None] | None = None,
    crf: int | None = None,
    bitrate: int | None = None,
    codec: str | None = None,
    fmt: str = "mp4",
) -> bytes:
    """Decode ``data``, pass each RGB frame and its time (seconds from the first frame)
    through ``change``, encode the result at the same frame rate."""
    start, end = trim if trim is not None else (0.0, None)
    with av.open(io.BytesIO(data), mode="r") as source:
        stream = source.streams.video[0]
        rate = Fraction(stream.average_rate or stream.guessed_rate or 25)
        first: float | None = None

        def frames() -> Frames:
            nonlocal first
            for index, frame in enumerate(source.decode(stream)):
                t = float(frame.time) if frame.time is not None else index / float(rate)
                first = t if first is None else first
                t -= first
                if t < start or (end is not None and t >= end):
                    continue
                yield change(np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8), t)

        pending = frames()
        try:
            head = next(pending)
        except StopIteration:
            raise ValueError("no frame left to encode") from None

        def chained() -> Frames:
            yield head
            yield from pending

        out = io.BytesIO()
        size = (head.shape[1], head.shape[0])
        _encode(out, chained(), rate, size, codec=codec, crf=crf, bitrate=bitrate, fmt=fmt)
    return out.getvalue()


def _draw_logo(image: Image.Image) -> None:
    """A broadcaster-style badge: a translucent white rounded box with a dark ring and bars."""
    w, h = image.size
    bw = max(8, w // 8)
    bh = max(6, bw * 2 // 5)
    x0, y0 = w - bw - max(2, w // 40), h - bh - max(2, h // 30)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rounded_rectangle((x0, y0, x0 + bw, y0 + bh), radius=bh // 4, fill=(255, 255, 255, 170))
    r = bh // 3
    cx, cy = x0 + bh // 2, y0 + bh // 2
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(20, 30, 120, 230), width=max(1, r // 3))
    for k in range(3):
        y = y0 + bh * (k + 1) // 4
        draw.rectangle((x0 + bh, y - 1, x0 + bw - bh // 3, y + 1), fill=(20, 30, 120, 230))
    image.paste(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))


class _MotionScene:
    """A textured background seen through a panning window, with shapes moving over it."""

    def __init__(self, seed: int, number: int, width: int, height: int) -> None:
        rng = random.Random(f"{seed}/{number}")
        nrng = np.random.default_rng([seed & 0xFFFFFFFF, number])
        self.size = (width, height)
        pan_x, pan_y = width // 4, height // 4
        bw, bh = width + pan_x, height + pan_y
        c0 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
        c1 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
        angle = rng.uniform(0.0, 2.0 * math.pi)
        ys = np.linspace(0.0, 1.0, bh, dtype=np.float32)[:, None]
        xs = np.linspace(0.0, 1.0, bw, dtype=np.float32)[None, :]
        ramp = math.cos(angle) * xs + math.sin(angle) * ys
        ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
        background = c0 + (c1 - c0) * ramp[:, :, None]
        # Soft blobs (low-frequency noise, smoothly enlarged) and a fine grain: texture that
        # moves with the pan, so that the encoder codes motion rather than flat areas.
        blobs = nrng.uniform(-45.0, 45.0, size=(6, 8)).astype(np.float32)
        smooth = np.asarray(
            Image.fromarray(blobs, "F").resize((bw, bh), Image.Resampling.BICUBIC),
            dtype=np.float32,
        )
        background += smooth[:, :, None]
        background += nrng.integers(-10, 11, size=(bh, bw, 1)).astype(np.float32)
        self.background = np.clip(background, 0, 255).astype(np.uint8)
        self.pan = (rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0, 1))
        self.pan_range = (pan_x, pan_y)
        self.shapes = [
            (
                rng.choice(("ellipse", "rectangle", "polygon")),
                (rng.randrange(256), rng.randrange(256), rng.randrange(256)),
                (rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)),  # start, relative
                (rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)),  # travel over the scene
                rng.uniform(0.08, 0.22),  # radius, relative to the shorter side
                rng.randint(3, 6),  # corners of a polygon
                rng.uniform(0.0, math.pi),  # turn over the scene
            )
            for _ in range(rng.randint(4, 7))
        ]

    def frame(self, t: float) -> NDArray[np.uint8]:
        """The picture at ``t`` in [0, 1) of the scene."""
        width, height = self.size
        x_from, y_from, x_to, y_to = self.pan
        pan_x, pan_y = self.pan_range
        x0 = round((x_from + (x_to - x_from) * t) * pan_x)
        y0 = round((y_from + (y_to - y_from) * t) * pan_y)
        image = Image.fromarray(
            np.ascontiguousarray(self.background[y0 : y0 + height, x0 : x0 + width]), "RGB"
        )
        draw = ImageDraw.Draw(image)
        side = min(width, height)
        for kind, colour, (sx, sy), (vx, vy), radius, corners, turn in self.shapes:
            cx = math.fmod(sx + vx * t + 2.0, 1.0) * width
            cy = math.fmod(sy + vy * t + 2.0, 1.0) * height
            r = radius * side
            if kind == "polygon":
                a0 = turn * t
                points = [
                    (cx + r * math.cos(a0 + 2 * math.pi * k / corners),
                     cy + r * math.sin(a0 + 2 * math.pi * k / corners))
                    for k in range(corners)
                ]  # fmt: skip
                draw.polygon(points, fill=colour)
            elif kind == "ellipse":
                draw.ellipse((cx - r, cy - r * 0.7, cx + r, cy + r * 0.7), fill=colour)
            else:
                draw.rectangle((cx - r, cy - r * 0.6, cx + r, cy + r * 0.6), fill=colour)
        return np.asarray(image)
