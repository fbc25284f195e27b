"""vPDQ frame hashes: the reference's frames and hashes, fewer frames decoded, damaged input.

Every video here is synthetic (:mod:`lanterne.synth.videos`): moving shapes over textured
gradients, made in memory with PyAV.
"""

from __future__ import annotations

import io
import math
import os
import statistics
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pdqhash
import pytest
from PIL import Image

from lanterne.analyze import vpdq as vpdq_module
from lanterne.analyze.picture import analyze_picture, pdq_hex
from lanterne.analyze.vpdq import (
    FrameHash,
    VideoHashes,
    collapse,
    contact_sheet,
    frame_pdq,
    hash_frames,
    parse_vpdq_lines,
    pdq_from_luma64,
    write_vpdq_lines,
)
from lanterne.config import Limits
from lanterne.errors import CorruptData
from lanterne.synth.pictures import make_picture
from lanterne.synth.videos import (
    VIDEO_VARIANTS,
    make_motion_video,
    make_video,
    make_video_variant,
    plant_still,
    transform_video,
)

FPS = 12
SECONDS = 12
SIZE = (320, 240)


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def by_frame(hashes: VideoHashes) -> dict[int, FrameHash]:
    return {f.frame: f for f in hashes.frames}


@pytest.fixture(scope="module")
def clip() -> bytes:
    """12 s, 12 fps, x264 with B-frames: scenes of 3 s."""
    return make_motion_video(12, seconds=SECONDS, size=SIZE, fps=FPS)


@pytest.fixture(scope="module")
def clip_hashes(clip: bytes) -> VideoHashes:
    return hash_frames(io.BytesIO(clip))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- sampling -----------------------------------------------------------------------------


def test_one_hash_per_second_at_the_reference_frames(clip_hashes: VideoHashes) -> None:
    h = clip_hashes
    assert (h.fps, h.frame_step, h.width, h.height) == (FPS, FPS, *SIZE)
    assert h.duration == pytest.approx(SECONDS, abs=0.1)
    assert len(h.frames) == SECONDS  # frames 0, 12, …, 132 of 144
    assert [f.frame for f in h.frames] == list(range(0, SECONDS * FPS, FPS))
    assert [f.timestamp for f in h.frames] == [float(k) for k in range(SECONDS)]
    assert all(len(f.pdq) == 64 and f.quality >= 50 for f in h.frames)
    assert h.truncated is False and h.mode == "selective" and not h.warnings
    assert h.decoded_frames < SECONDS * FPS  # unreferenced frames were not decoded
    assert len({f.pdq for f in h.frames}) == SECONDS  # things move: every second differs


def test_the_step_is_truncated_as_the_reference_does() -> None:
    data = make_motion_video(3, seconds=4, size=(160, 96), fps=Fraction(30000, 1001))
    h = hash_frames(io.BytesIO(data))
    assert h.fps == pytest.approx(29.97, abs=1e-3) and h.frame_step == 29
    assert [f.frame for f in h.frames] == [0, 29, 58, 87, 116]
    # single-precision frame / fps, written with 3 decimals
    assert write_vpdq_lines(h.frames).splitlines()[1].endswith(",0.968")


@pytest.mark.parametrize(("seconds_per_hash", "count"), [(0.0, 60), (0.5, 10), (2.5, 2)])
def test_seconds_per_hash(seconds_per_hash: float, count: int) -> None:
    data = make_motion_video(4, seconds=5, size=(160, 96), fps=12)
    h = hash_frames(io.BytesIO(data), seconds_per_hash=seconds_per_hash)
    assert len(h.frames) == count
    assert h.frame_step == max(1, int(seconds_per_hash * 12))


@pytest.mark.parametrize(
    ("fmt", "gop", "bframes", "seconds_per_hash", "mode"),
    [
        ("mp4", None, None, 1.0, "selective"),  # x264 defaults: B-frame pyramid, long GOP
        ("mp4", 12, 0, 1.0, "selective"),  # a phone: a keyframe a second, no B-frames
        ("mp4", 5, 2, 3.0, "seeking"),  # sparse sampling, short GOPs: most are never read
        ("mkv", 6, 3, 2.0, "selective"),  # no full index: GOPs skipped while reading
        ("avi", 5, 0, 3.0, "selective"),  # MPEG-4 part 2
        ("mov", 4, 1, 2.0, "seeking"),
    ],
)
def test_selective_decoding_gives_what_decoding_everything_gives(
    tmp_path: Path,
    fmt: str,
    gop: int | None,
    bframes: int | None,
    seconds_per_hash: float,
    mode: str,
) -> None:
    data = make_motion_video(
        5, seconds=9, size=(192, 108), fps=12, gop=gop, bframes=bframes, fmt=fmt
    )
    path = write(tmp_path, f"clip.{fmt}", data)
    fast = hash_frames(path, seconds_per_hash=seconds_per_hash)
    deadline = math.inf
    everything = vpdq_module._hash(
        path, seconds_per_hash, deadline, 60.0, 1 << 30, 1, False, sequential=True
    )
    assert fast.mode == mode and everything.mode == "sequential"
    assert fast.frames == everything.frames
    assert fast.decoded_frames < everything.decoded_frames == 9 * 12


def test_gops_too_long_to_hold_are_decoded_as_they_come(
    monkeypatch: pytest.MonkeyPatch, clip: bytes, clip_hashes: VideoHashes
) -> None:
    monkeypatch.setattr(vpdq_module, "GOP_BUFFER_PACKETS", 8)
    h = hash_frames(io.BytesIO(clip))
    assert h.mode == "selective" and h.frames == clip_hashes.frames


def test_a_stream_and_threads_give_the_same_hashes(tmp_path: Path, clip: bytes) -> None:
    by_path = hash_frames(write(tmp_path, "clip.mp4", clip))
    stream = io.BytesIO(clip)
    stream.seek(50)
    assert hash_frames(stream).frames == by_path.frames
    assert not stream.closed
    assert hash_frames(io.BytesIO(clip), threads=2).frames == by_path.frames


# --- the hash itself ----------------------------------------------------------------------


def test_pdq_of_a_64x64_image_is_pdqhash_s() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        coarse = Image.fromarray(rng.uniform(0, 255, (8, 8)).astype(np.float32), "F")
        smooth = np.asarray(coarse.resize((64, 64), Image.Resampling.BICUBIC))
        grey = np.clip(smooth + rng.normal(0, 5, (64, 64)), 0, 255).astype(np.uint8)
        bits, quality = pdqhash.compute(np.ascontiguousarray(np.stack([grey] * 3, axis=-1)))
        luma = grey.astype(np.float32) * np.float32(0.299) + grey * np.float32(0.587)
        luma = luma + grey * np.float32(0.114)
        assert pdq_from_luma64(luma) == (pdq_hex(bits), int(quality))


@pytest.mark.parametrize(
    ("codec", "fmt", "pix_fmt"),
    [("libx264", "mp4", "yuv420p"), ("mjpeg", "avi", "yuvj420p"), ("png", "avi", "rgb24")],
)
def test_frame_hash_is_pdq_of_the_full_frame(codec: str, fmt: str, pix_fmt: str) -> None:
    """The Y-plane shortcut (limited or full range) or the RGB path, against pdqhash on the
    full-size RGB frame."""
    if codec not in av.codecs_available:
        pytest.skip(f"no {codec} in this PyAV")
    data = make_motion_video(8, seconds=2, size=(640, 360), fps=4)
    if codec != "libx264":
        data = _reencode_as(data, codec, fmt, pix_fmt)
    with av.open(io.BytesIO(data), mode="r") as container:
        frames = list(container.decode(video=0))
    assert frames and frames[0].format.name == pix_fmt
    distances = []
    for frame in frames:
        bits, quality = pdqhash.compute(np.ascontiguousarray(frame.to_ndarray(format="rgb24")))
        ours, our_quality = frame_pdq(frame)
        distances.append(distance(ours, pdq_hex(bits)))
        assert abs(our_quality - int(quality)) <= 2
    assert statistics.median(distances) <= 4 and max(distances) <= 10


def _reencode_as(data: bytes, codec: str, fmt: str, pix_fmt: str) -> bytes:
    out = io.BytesIO()
    with av.open(io.BytesIO(data), mode="r") as src, av.open(out, "w", format=fmt) as dst:
        stream = dst.add_stream(codec, rate=4)
        stream.width, stream.height, stream.pix_fmt = 640, 360, pix_fmt
        for index, frame in enumerate(src.decode(video=0)):
            rgb = frame.to_ndarray(format="rgb24")  # a new frame: no time base to rescale
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            frame.pts = index
            dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
    return out.getvalue()


def test_same_frames_and_hashes_as_the_reference_vpdq(tmp_path: Path, clip: bytes) -> None:
    """Meta's ``vpdq`` package (C++ through Cython), when installed; CI must have it."""
    try:
        import vpdq  # type: ignore[import-not-found]
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must install the reference vpdq (pip install vpdq; see .ci/run)")
        pytest.skip("reference vpdq not installed (pip install vpdq, needs FFmpeg dev files)")
    for name, data in {
        "clip.mp4": clip,
        "ntsc.mp4": make_motion_video(9, 5, (320, 180), Fraction(30000, 1001), gop=30),
        "logo.mp4": make_video_variant(clip, "logo"),
    }.items():
        path = write(tmp_path, name, data)
        ours = hash_frames(path)
        theirs = vpdq.computeHash(str(path), seconds_per_hash=1.0, thread_count=1)
        assert [f.frame for f in ours.frames] == [f.frame_number for f in theirs]
        assert write_vpdq_lines(ours.frames).count("\n") == len(theirs)
        for f, t in zip(ours.frames, theirs, strict=True):
            assert f"{f.timestamp:.3f}" == f"{t.timestamp:.3f}"
            assert abs(f.quality - t.quality) <= 2
        distances = [distance(f.pdq, t.hex) for f, t in zip(ours.frames, theirs, strict=True)]
        assert statistics.median(distances) <= 10, (name, distances)
        assert max(distances) <= 16, (name, distances)


# --- copies, unrelated videos, planted pictures -------------------------------------------

# Median bits between a copy's frame hashes and the original's at the same time (measured on
# these synthetic clips: re-encoded ~7-13, resized ~20, cropped ~31-39, logo ~30-34,
# greyscale and trimmed ~2-4); unrelated videos are ~128 apart, like random hashes.
MEDIAN_BOUND = {
    "reencoded": 20,
    "resized": 31,
    "cropped": 48,
    "logo": 40,
    "greyscale": 8,
    "trimmed": 8,
}


@pytest.mark.parametrize("variant", VIDEO_VARIANTS)
def test_copies_hash_close_to_the_original(
    clip: bytes, clip_hashes: VideoHashes, variant: str
) -> None:
    original = by_frame(clip_hashes)
    copy = hash_frames(io.BytesIO(make_video_variant(clip, variant)))
    offset = 2 * FPS if variant == "trimmed" else 0
    if variant == "trimmed":
        assert len(copy.frames) == SECONDS - 2
    distances = [distance(f.pdq, original[f.frame + offset].pdq) for f in copy.frames]
    assert len(distances) >= SECONDS - 2
    assert statistics.median(distances) <= MEDIAN_BOUND[variant]


def test_unrelated_videos_are_far_apart(clip_hashes: VideoHashes) -> None:
    other = hash_frames(io.BytesIO(make_motion_video(99, seconds=SECONDS, size=SIZE, fps=FPS)))
    distances = [
        distance(a.pdq, b.pdq) for a, b in zip(clip_hashes.frames, other.frames, strict=True)
    ]
    assert statistics.median(distances) >= 100
    assert min(distances) > 64


def test_a_planted_picture_is_found_at_its_time(clip: bytes) -> None:
    picture = make_picture(21)
    target = analyze_picture(picture, Limits()).pdq
    assert target is not None
    h = hash_frames(io.BytesIO(plant_still(clip, picture, at=4.0, seconds=2.0)))
    near = {f.timestamp for f in h.frames if distance(f.pdq, target) <= 31}
    assert near == {4.0, 5.0}


def test_transform_video_keeps_the_rate_and_changes_the_size(clip: bytes) -> None:
    data = transform_video(clip, size=(160, 120), grey=True, trim=(1.0, 4.0))
    with av.open(io.BytesIO(data), mode="r") as container:
        frames = list(container.decode(video=0))
    assert (frames[0].width, frames[0].height) == (160, 120)
    assert len(frames) == 3 * FPS
    rgb = frames[0].to_ndarray(format="rgb24").astype(int)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).max() <= 12  # grey, up to chroma rounding
    assert make_motion_video(12, seconds=1, size=(64, 48), fps=4) == make_motion_video(
        12, seconds=1, size=(64, 48), fps=4
    )


# --- collapse and text --------------------------------------------------------------------


def frame(k: int, pdq: str, fps: float = 1.0) -> FrameHash:
    return FrameHash(k, k / fps, pdq, 100)


def flip(pdq: str, bits: int) -> str:
    return f"{int(pdq, 16) ^ ((1 << bits) - 1):064x}"


def test_collapse_keeps_the_first_of_each_run_and_its_end() -> None:
    a, b = "a" * 64, "5" * 64
    frames = [
        frame(0, a), frame(1, flip(a, 3)), frame(2, flip(a, 6)),  # a still, a little noise
        frame(3, b), frame(4, b),
        frame(5, a),  # back to the first content: a new run
    ]  # fmt: skip
    runs = collapse(frames, max_distance=8)
    assert [(r.first.frame, r.last_frame, r.last_timestamp, r.count) for r in runs] == [
        (0, 2, 2.0, 3),
        (3, 4, 4.0, 2),
        (5, 5, 5.0, 1),
    ]
    # compared with the run's first hash, not the previous one: a drift starts a new run
    drift = [frame(k, flip(a, 5 * k)) for k in range(4)]  # 5 bits a step
    assert [r.count for r in collapse(drift, max_distance=8)] == [2, 2]
    assert collapse([]) == []


def test_collapse_on_a_video_with_a_still(clip: bytes) -> None:
    still = make_picture(5, size=(320, 240))
    h = hash_frames(io.BytesIO(plant_still(clip, still, at=3.0, seconds=5.0)))
    runs = collapse(h.frames)
    long = [r for r in runs if r.count > 1]
    assert len(long) == 1
    assert (long[0].first.timestamp, long[0].last_timestamp) == (3.0, 7.0)
    assert len(runs) == len(h.frames) - 4


def test_reference_lines_round_trip(clip_hashes: VideoHashes) -> None:
    text = write_vpdq_lines(clip_hashes.frames)
    first = text.splitlines()[0].split(",")
    assert first[0] == "0" and first[3] == "0.000" and len(first[2]) == 64
    assert parse_vpdq_lines(text) == clip_hashes.frames
    # the reference's reader tolerates trailing fields and blank lines; so do we
    assert parse_vpdq_lines("\n" + text.replace("\n", ",extra\n", 1)) == clip_hashes.frames


@pytest.mark.parametrize(
    "line",
    [
        "0,100,abc,0.000",
        "0,100," + "g" * 64 + ",0.000",
        "x,100," + "0" * 64 + ",0.000",
        "0,101," + "0" * 64 + ",0.000",
        "0,100," + "0" * 64,
        "0,100," + "0" * 64 + ",nan",
    ],
)
def test_malformed_lines_are_refused_with_their_number(line: str) -> None:
    good = "0,100," + "0" * 64 + ",0.000\n"
    with pytest.raises(ValueError, match="line 2"):
        parse_vpdq_lines(good + line + "\n")


# --- damaged and hostile input ------------------------------------------------------------


def _faststart(data: bytes, target: Path) -> bytes:
    """The same MP4 with its index (moov) before the media data."""
    with av.open(io.BytesIO(data), mode="r") as src:
        options = {"movflags": "+faststart"}  # rewrites the file: a path, not a stream
        with av.open(str(target), "w", format="mp4", options=options) as dst:
            source = src.streams.video[0]
            stream = dst.add_stream_from_template(source)
            for packet in src.demux(source):
                if packet.dts is not None:
                    packet.stream = stream
                    dst.mux(packet)
    return target.read_bytes()


@pytest.mark.parametrize(
    "data", [b"", os.urandom(20_000), b"\x00\x00\x00\x18ftypisom" + b"\0" * 99]
)
def test_garbage_is_corrupt(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(CorruptData) as caught:
        hash_frames(write(tmp_path, "junk.mp4", data))
    assert caught.value.reason in {"corrupt", "truncated"}


def test_mp4_cut_before_its_index_is_truncated(clip: bytes) -> None:
    assert clip.index(b"moov") > clip.index(b"mdat")
    with pytest.raises(CorruptData) as caught:
        hash_frames(io.BytesIO(clip[: len(clip) // 2]))
    assert caught.value.reason == "truncated"


def test_a_cut_video_gives_what_came_before(
    tmp_path: Path, clip: bytes, clip_hashes: VideoHashes
) -> None:
    data = _faststart(clip, tmp_path / "faststart.mp4")
    assert data.index(b"moov") < data.index(b"mdat")
    cut = hash_frames(io.BytesIO(data[: len(data) * 6 // 10]))
    assert cut.truncated is True
    assert 3 <= len(cut.frames) < SECONDS
    assert cut.frames == clip_hashes.frames[: len(cut.frames)]


def test_a_cut_matroska_is_truncated_or_corrupt(tmp_path: Path) -> None:
    data = make_motion_video(6, seconds=6, size=(160, 96), fps=10, fmt="mkv")
    full = hash_frames(io.BytesIO(data))
    try:
        cut = hash_frames(io.BytesIO(data[: len(data) // 2]))
    except CorruptData as e:
        assert e.reason in {"corrupt", "truncated"}
    else:
        assert cut.truncated is True and len(cut.frames) < len(full.frames)


def test_audio_only_has_no_video_stream() -> None:
    out = io.BytesIO()
    with av.open(out, "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        tone = (np.sin(np.arange(8000) / 5) * 8000).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(CorruptData) as caught:
        hash_frames(io.BytesIO(out.getvalue()))
    assert caught.value.reason == "no-video-stream"


def test_frames_too_large_are_not_decoded(clip: bytes) -> None:
    with pytest.raises(CorruptData) as caught:
        hash_frames(io.BytesIO(clip), max_pixels=320 * 239)
    assert caught.value.reason == "too-large"
    with pytest.raises(CorruptData) as caught:
        contact_sheet(io.BytesIO(clip), max_pixels=1000)
    assert caught.value.reason == "too-large"


def test_the_time_budget_is_kept(clip: bytes) -> None:
    with pytest.raises(CorruptData) as caught:
        hash_frames(io.BytesIO(clip), budget_seconds=1e-4)
    assert caught.value.reason == "timeout"
    with pytest.raises(CorruptData) as caught:
        contact_sheet(io.BytesIO(clip), budget_seconds=1e-4)
    assert caught.value.reason == "timeout"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        hash_frames(io.BytesIO(b""), seconds_per_hash=-1)
    with pytest.raises(ValueError):
        pdq_from_luma64(np.zeros((32, 32)))


# --- contact sheet ------------------------------------------------------------------------


def test_contact_sheet_is_a_grid_of_the_video(clip: bytes) -> None:
    sheet = contact_sheet(io.BytesIO(clip), columns=4, rows=3, tile_width=128)
    image = Image.open(io.BytesIO(sheet))
    assert image.format == "JPEG"
    assert image.size == (4 * 128, 3 * 96)
    tiles = np.asarray(image.convert("L"), dtype=np.float32).reshape(3, 96, 4, 128)
    assert (tiles.std(axis=(1, 3)) > 10).all()  # every cell holds a picture


def test_contact_sheet_of_a_portrait_phone_video_is_upright() -> None:
    data = make_video(2, seconds=3.0, size=(320, 240), fps=10, rotation=90)
    image = Image.open(io.BytesIO(contact_sheet(io.BytesIO(data), columns=3, rows=2)))
    assert image.size == (3 * 256, 2 * round(256 * 320 / 240))
