"""Video container facts: real values from synthetic videos, no crash on damaged ones."""

from __future__ import annotations

import io
import os
from pathlib import Path

import av
import pytest
from av.video.stream import VideoStream

from lanterne.analyze.video import VideoFacts, probe_video
from lanterne.config import Limits
from lanterne.errors import CorruptData
from lanterne.synth.videos import VIDEO_FORMATS, make_video

LIMITS = Limits()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("fmt", sorted(VIDEO_FORMATS))
def test_facts_of_a_synthetic_video(tmp_path: Path, fmt: str) -> None:
    path = write(
        tmp_path, f"clip.{fmt}", make_video(3, seconds=2.5, size=(160, 96), fps=12, fmt=fmt)
    )
    facts = probe_video(path, LIMITS)
    assert facts.duration == pytest.approx(2.5, abs=0.1)
    assert (facts.width, facts.height) == (160, 96)
    assert facts.fps == pytest.approx(12.0)
    assert facts.codec in {"h264", "mpeg4", "vp8"}
    assert facts.truncated is False
    if fmt in ("mp4", "mov"):
        assert facts.container == "mov,mp4,m4a,3gp,3g2,mj2" and facts.rotation == 0
    else:
        assert facts.rotation is None


def test_a_stream_gives_the_same_facts_as_its_path(tmp_path: Path) -> None:
    data = make_video(8, fmt="mp4", rotation=90)
    by_path = probe_video(write(tmp_path, "clip.mp4", data), LIMITS)
    stream = io.BytesIO(data)
    stream.seek(100)  # read from the start whatever the position
    assert probe_video(stream, LIMITS) == by_path
    assert not stream.closed
    with pytest.raises(CorruptData, match="truncated"):
        probe_video(io.BytesIO(data[: len(data) // 2]), LIMITS)


def test_probe_reads_the_file_without_changing_it(tmp_path: Path) -> None:
    path = write(tmp_path, "clip.mp4", make_video(1))
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    probe_video(path, LIMITS)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_the_clockwise_turn_a_player_applies(tmp_path: Path, rotation: int) -> None:
    data = make_video(2, fmt="mp4", rotation=rotation)
    facts = probe_video(write(tmp_path, "portrait.mp4", data), LIMITS)
    assert (facts.width, facts.height) == (320, 240)  # coded size, before the turn
    assert facts.rotation == rotation
    with av.open(io.BytesIO(data), "r") as container:  # FFmpeg's frame side data agrees
        frame = next(container.decode(video=0))
        assert (-frame.rotation) % 360 == rotation  # PyAV gives counter-clockwise degrees


def test_mp4_cut_before_its_index_is_truncated(tmp_path: Path) -> None:
    data = make_video(4, seconds=3.0)  # the muxer writes moov after mdat
    for fraction in (0.2, 0.6, 0.95):
        with pytest.raises(CorruptData) as caught:
            probe_video(write(tmp_path, "cut.mp4", data[: int(len(data) * fraction)]), LIMITS)
        assert caught.value.reason == "truncated"


def _faststart(data: bytes, target: Path) -> bytes:
    """The same video remuxed with its index (moov) first, as streaming sites serve it.

    FFmpeg moves the index by reopening the output by name, so it must be a real file.
    """
    with av.open(io.BytesIO(data), "r") as src:
        options = {"movflags": "+faststart"}
        with av.open(str(target), "w", format="mp4", container_options=options) as dst:
            source = src.streams.video[0]
            stream = dst.add_stream_from_template(source)
            for packet in src.demux(source):
                if packet.dts is not None:
                    packet.stream = stream
                    dst.mux(packet)
    return target.read_bytes()


def test_mp4_with_index_first_gives_header_facts_marked_truncated(tmp_path: Path) -> None:
    data = _faststart(make_video(4, seconds=3.0), tmp_path / "faststart.mp4")
    assert data.index(b"moov") < data.index(b"mdat")
    facts = probe_video(write(tmp_path, "cut.mp4", data[: len(data) // 2]), LIMITS)
    assert facts.truncated is True
    assert facts.duration == pytest.approx(3.0, abs=0.1)
    assert (facts.width, facts.height) == (320, 240)


@pytest.mark.parametrize("fmt", ["mkv", "avi", "webm"])
def test_other_truncated_containers_give_facts_or_corrupt_data(tmp_path: Path, fmt: str) -> None:
    if fmt not in VIDEO_FORMATS:
        pytest.skip(f"no encoder for {fmt} in this PyAV")
    data = make_video(5, seconds=2.0, fmt=fmt)
    for cut in (len(data) // 2, 200, 20):
        try:
            facts = probe_video(write(tmp_path, f"cut.{fmt}", data[:cut]), LIMITS)
        except CorruptData as e:
            assert e.reason in {"corrupt", "truncated"}
        else:
            assert isinstance(facts, VideoFacts) and facts.width == 320


@pytest.mark.parametrize(
    "data", [b"", os.urandom(20_000), b"\x00\x00\x00\x18ftypisom" + os.urandom(5000)]
)
def test_garbage_is_corrupt_data(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(CorruptData) as caught:
        probe_video(write(tmp_path, "junk.mp4", data), LIMITS)
    assert caught.value.reason in {"corrupt", "truncated"}


def test_a_missing_file_is_not_corrupt_data(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe_video(tmp_path / "absent.mp4", LIMITS)


def test_synthetic_video_is_deterministic_and_made_of_frames() -> None:
    data = make_video(6, seconds=1.0, fps=8)
    assert data == make_video(6, seconds=1.0, fps=8)
    assert data != make_video(7, seconds=1.0, fps=8)
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        assert isinstance(stream, VideoStream)
        assert sum(1 for _ in container.decode(stream)) == 8
    with pytest.raises(ValueError, match="321"):
        make_video(1, size=(321, 240))
