"""Picture carving: synthetic pictures (gradients, shapes, noise) hidden in synthetic disk bytes.

Every picture here comes from :func:`lanterne.synth.pictures.make_picture` or is drawn with
Pillow from plain shapes; the "disk" is a byte buffer of seeded random noise and zero runs.
"""

from __future__ import annotations

import io
import itertools
import random
import struct
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from lanterne.evidence.disk.carve import Carved, CarveStats, carve
from lanterne.synth.pictures import make_picture

SIZE = (160, 120)


# --- Pictures -------------------------------------------------------------------------------


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _image(seed: int, size: tuple[int, int] = SIZE) -> Image.Image:
    with Image.open(io.BytesIO(make_picture(seed, size, "PNG"))) as picture:
        return picture.convert("RGB")


def _exif_with_thumbnail(thumbnail: bytes) -> bytes:
    """An APP1 segment: a big-endian TIFF whose IFD1 points at ``thumbnail`` (a whole JPEG)."""
    ifd0 = struct.pack(">HI", 0, 14)  # no entries; IFD1 follows at offset 14
    ifd1 = (
        struct.pack(">H", 2)
        + struct.pack(">HHII", 0x0201, 4, 1, 44)  # JPEGInterchangeFormat: offset of the JPEG
        + struct.pack(">HHII", 0x0202, 4, 1, len(thumbnail))  # JPEGInterchangeFormatLength
        + struct.pack(">I", 0)
    )
    payload = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd0 + ifd1 + thumbnail
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


@cache
def thumbnail() -> bytes:
    return _encode(_image(99, (32, 24)), "JPEG")


@cache
def pictures() -> dict[str, bytes]:
    """The test pictures, by name; each kind with its structural twists."""
    plain = make_picture(1, SIZE, "JPEG")
    with_thumbnail = plain[:2] + _exif_with_thumbnail(thumbnail()) + plain[2:]
    frames = [_image(seed, (64, 48)).quantize(colors=32) for seed in (5, 6, 7)]
    animated = io.BytesIO()
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:], duration=80)
    rng = random.Random(11)
    noise = Image.frombytes("RGB", (320, 320), rng.randbytes(320 * 320 * 3))
    return {
        "jpeg": make_picture(2, SIZE, "JPEG"),
        "jpeg_thumbnail": with_thumbnail,
        "jpeg_progressive": _encode(_image(3), "JPEG", progressive=True),
        "jpeg_restart": _encode(_image(4), "JPEG", restart_marker_blocks=4, comment=b"synthetic"),
        "png": make_picture(8, SIZE, "PNG"),
        "png_noise": _encode(noise, "PNG"),  # ~300 KB: larger than the scenario's max_size
        "gif": make_picture(9, SIZE, "GIF"),
        "gif_animated": animated.getvalue(),
        "shapes_png": _encode(_shapes(), "PNG"),
    }


def _shapes() -> Image.Image:
    image = Image.new("RGB", (48, 48), (20, 40, 200))
    draw = ImageDraw.Draw(image)
    draw.ellipse((4, 4, 30, 30), fill=(250, 200, 0))
    draw.rectangle((20, 24, 44, 44), fill=(0, 160, 60))
    return image


def test_pictures_have_the_structure_they_are_meant_to_test() -> None:
    p = pictures()
    assert p["jpeg_progressive"].count(b"\xff\xda") > 2  # several scans, DHT between them
    assert any(bytes([0xFF, rst]) in p["jpeg_restart"] for rst in range(0xD0, 0xD8))
    assert b"\xff\xdd\x00\x04" in p["jpeg_restart"]  # DRI
    assert b"\xff\xfe" in p["jpeg_restart"]  # COM
    assert p["jpeg_thumbnail"].find(thumbnail()) > 0
    with Image.open(io.BytesIO(p["gif_animated"])) as gif:
        assert gif.n_frames == 3
    for name, data in p.items():
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        assert name.split("_")[0] in (image.format or "").lower() or name == "shapes_png"


# --- A synthetic disk -----------------------------------------------------------------------


class Disk:
    """Bytes to carve from: noise or zeros, with pictures put at chosen offsets."""

    def __init__(self, size: int, seed: int = 7, zeros: bool = False) -> None:
        self.data = bytearray(size) if zeros else bytearray(random.Random(seed).randbytes(size))
        self.placed: list[tuple[int, int]] = []
        self.largest_read = 0

    def zero(self, start: int, end: int) -> None:
        self.data[start:end] = bytes(end - start)

    def put(self, offset: int, blob: bytes) -> None:
        end = offset + len(blob)
        assert all(end <= a or b <= offset for a, b in self.placed), "pictures overlap"
        self.placed.append((offset, end))
        self.data[offset:end] = blob[: len(self.data) - offset]

    def read_at(self, offset: int, length: int) -> bytes:
        self.largest_read = max(self.largest_read, length)
        return bytes(self.data[offset : offset + length])


def _found(carved: list[Carved]) -> list[tuple[int, str]]:
    return [(c.offset, c.kind) for c in carved]


# --- The scenario ---------------------------------------------------------------------------

REGIONS = [(0, 400_000), (500_000, 900_000), (950_000, 1_000_000)]
MAX_SIZE = 200_000


def _scenario() -> tuple[Disk, list[tuple[int, str, bytes]]]:
    p = pictures()
    disk = Disk(1_000_000)
    disk.zero(20_000, 60_000)
    disk.zero(700_000, 860_000)
    expected = [
        (1_000, "jpeg", p["jpeg_thumbnail"]),
        (65_533, "png", p["png"]),  # signature split across the 64 KiB chunk boundary
        (131_070, "jpeg", p["jpeg_progressive"]),  # FF D8 | FF across the boundary
        (200_000, "gif", p["gif"]),
        (250_000, "gif", p["gif_animated"]),
        (310_000, "jpeg", p["jpeg_restart"]),
        (399_900, "jpeg", p["jpeg"]),  # starts in the first region, ends past it
        (870_000, "png", p["shapes_png"]),
    ]
    for offset, _, data in expected:
        disk.put(offset, data)
    cut = p["jpeg"][: len(p["jpeg"]) * 3 // 5]
    disk.put(300_000, cut)  # cut short, then overwritten by the next picture: rejected
    disk.zero(300_000 + len(cut), 310_000)
    disk.put(450_000, p["png"])  # between regions: never looked for
    disk.put(497_000, p["jpeg"])  # starts before a region, ends inside it: not carved
    disk.put(520_000, p["png_noise"])  # larger than MAX_SIZE: rejected
    disk.put(1_000_000 - 2_000, p["gif"])  # cut short by the end of the volume: rejected
    return disk, expected


@pytest.mark.parametrize("chunk", [65_536, 7_919, 1 << 20, 4 << 20])
def test_carves_complete_pictures_at_their_offsets(chunk: int) -> None:
    disk, expected = _scenario()
    stats = CarveStats()
    carved = list(carve(disk.read_at, REGIONS, max_size=MAX_SIZE, chunk=chunk, stats=stats))
    assert _found(carved) == [(offset, kind) for offset, kind, _ in expected]
    for got, (_, _, data) in zip(carved, expected, strict=True):
        assert got.data == data
        with Image.open(io.BytesIO(got.data)) as image:
            image.load()
    assert stats.hits == len(expected)
    assert stats.hits_by_kind == {"jpeg": 4, "png": 2, "gif": 2}
    assert stats.too_large == 1
    assert stats.truncated == 1
    assert stats.rejected >= 3  # the overwritten JPEG too; noise may add a few
    assert stats.bytes_scanned == sum(end - start for start, end in REGIONS)
    assert not stats.stopped_at_max_hits
    assert disk.largest_read <= max(chunk + 7, MAX_SIZE)


def test_larger_max_size_carves_the_large_picture() -> None:
    disk, _ = _scenario()
    carved = list(carve(disk.read_at, REGIONS, max_size=1 << 20, chunk=65_536))
    big = [c for c in carved if c.offset == 520_000]
    assert [c.data for c in big] == [pictures()["png_noise"]]


def test_exif_thumbnail_is_part_of_its_picture() -> None:
    disk = Disk(100_000, zeros=True)
    disk.put(5_000, pictures()["jpeg_thumbnail"])
    disk.put(50_000, thumbnail())  # the same thumbnail on its own is a picture
    carved = list(carve(disk.read_at, [(0, 100_000)]))
    assert _found(carved) == [(5_000, "jpeg"), (50_000, "jpeg")]
    assert carved[1].data == thumbnail()


def test_fill_bytes_before_a_marker() -> None:
    plain = pictures()["jpeg"]
    filled = plain[:2] + b"\xff\xff\xff" + plain[2:]  # FF D8, fill, then FF E0 (APP0)
    disk = Disk(50_000, zeros=True)
    disk.put(1_000, filled)
    assert [c.data for c in carve(disk.read_at, [(0, 50_000)])] == [filled]


def test_max_hits_stops_the_scan() -> None:
    disk = Disk(200_000)
    offsets = [10_000 * k for k in range(1, 6)]
    for offset in offsets:
        disk.put(offset, pictures()["shapes_png"])
    stats = CarveStats()
    carved = list(carve(disk.read_at, [(0, 200_000)], max_hits=3, stats=stats))
    assert [c.offset for c in carved] == offsets[:3]
    assert stats.stopped_at_max_hits
    assert stats.hits == 3
    stats = CarveStats()
    assert len(list(carve(disk.read_at, [(0, 200_000)], max_hits=6, stats=stats))) == 5
    assert not stats.stopped_at_max_hits


def test_random_noise_carves_nothing() -> None:
    disk = Disk(8 << 20, seed=1234)
    stats = CarveStats()
    assert list(carve(disk.read_at, [(0, 8 << 20)], chunk=1 << 20, stats=stats)) == []
    assert stats.hits == 0
    assert stats.rejected == stats.candidates
    assert stats.bytes_scanned == 8 << 20


def test_regions_past_the_end_of_the_volume() -> None:
    disk = Disk(300_000, zeros=True)
    disk.put(299_000 - len(pictures()["shapes_png"]), pictures()["shapes_png"])
    stats = CarveStats()
    carved = list(carve(disk.read_at, [(0, 200_000), (250_000, 10 << 30)], stats=stats))
    assert len(carved) == 1
    assert stats.bytes_scanned == 200_000 + 50_000


def test_pictures_in_a_file(tmp_path: Path) -> None:
    """The way a caller reads an image file: positioned reads on an open file."""
    image = tmp_path / "volume.raw"
    disk, expected = _scenario()
    image.write_bytes(disk.data)
    with image.open("rb") as f:

        def read_at(offset: int, length: int) -> bytes:
            f.seek(offset)
            return f.read(length)

        carved = list(carve(read_at, REGIONS, max_size=MAX_SIZE, chunk=100_000))
    assert [(c.offset, c.kind, c.data) for c in carved] == expected


@pytest.mark.parametrize(
    ("name", "spoil"),
    [
        ("png", lambda d: d[:-30] + bytes([d[-30] ^ 1]) + d[-29:]),  # a bit flipped: bad CRC
        ("png", lambda d: d[:12] + b"IHDX" + d[16:]),  # first chunk not IHDR
        ("jpeg", lambda d: d[:2] + b"\xff\x02" + d[4:]),  # a reserved marker
        ("jpeg", lambda d: d[: d.index(b"\xff\xc0")] + d[d.index(b"\xff\xc4") :]),  # no SOF
        ("jpeg", lambda d: d[:-2]),  # no EOI: runs into the zeros, then the volume ends
        ("gif", lambda d: d[:-1] + b"\x00"),  # no trailer
        ("gif", lambda d: d[: 13 + 768] + b"\x3b"),  # a screen but no image
    ],
)
def test_broken_structure_is_rejected(name: str, spoil: Callable[[bytes], bytes]) -> None:
    data = spoil(pictures()[name])
    assert data != pictures()[name]
    disk = Disk(len(data) + 4_096, zeros=True)
    disk.put(1_000, data)
    stats = CarveStats()
    assert list(carve(disk.read_at, [(0, len(disk.data))], stats=stats)) == []
    assert stats.rejected == stats.candidates >= 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        list(carve(Disk(10).read_at, [(0, 10)], chunk=0))
    stats = CarveStats()
    assert list(carve(Disk(10).read_at, [(0, 10)], max_hits=0, stats=stats)) == []
    assert stats.stopped_at_max_hits


# --- Properties -----------------------------------------------------------------------------

_NAMES = sorted(pictures())


@st.composite
def _volumes(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, bytes]]]:
    """Filler (zeros or seeded noise) with whole pictures between, at drawn offsets."""
    parts: list[bytes] = []
    placed: list[tuple[int, bytes]] = []
    offset = 0
    for name in draw(st.lists(st.sampled_from(_NAMES), max_size=5)):
        gap = draw(st.integers(0, 3_000))
        noisy = draw(st.booleans())
        filler = random.Random(gap).randbytes(gap) if noisy else bytes(gap)
        parts.append(filler)
        offset += gap
        picture = pictures()[name]
        parts.append(picture)
        placed.append((offset, picture))
        offset += len(picture)
    parts.append(bytes(draw(st.integers(0, 100))))
    return b"".join(parts), placed


@settings(max_examples=40, deadline=None)
@given(volume=_volumes(), chunk=st.integers(1, 70_000), cuts=st.lists(st.integers(0, 1 << 20)))
def test_every_picture_is_found_whatever_the_chunks_and_regions(
    volume: tuple[bytes, list[tuple[int, bytes]]], chunk: int, cuts: list[int]
) -> None:
    data, placed = volume
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    regions = list(itertools.pairwise(bounds))

    def read_at(offset: int, length: int) -> bytes:
        return data[offset : offset + length]

    carved = list(carve(read_at, regions, chunk=chunk))
    assert [(c.offset, c.data) for c in carved] == placed


@settings(max_examples=30, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=4_000),
    prefix=st.sampled_from([b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a"]),
)
def test_arbitrary_bytes_after_a_signature_do_not_crash(data: bytes, prefix: bytes) -> None:
    volume = prefix + data

    def read_at(offset: int, length: int) -> bytes:
        return volume[offset : offset + length]

    for got in carve(read_at, [(0, len(volume))], chunk=512):
        assert volume[got.offset : got.offset + len(got.data)] == got.data
