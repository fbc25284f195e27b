"""Benign synthetic videos: coloured shapes moving over a gradient.

Tests, demos and benchmarks need real, playable video files (an MP4 a phone could have sent)
without any real footage. Frames are drawn from ``seed`` alone and encoded with PyAV: H.264
(libx264) where the wheel has it, MPEG-4 part 2 otherwise (and always for AVI), VP8 for WebM.
The whole file is built in memory.
"""

from __future__ import annotations

import io
import math
import random

import av
import numpy as np
from av.video.stream import VideoStream
from PIL import Image, ImageDraw

__all__ = ["VIDEO_FORMATS", "make_video"]

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
