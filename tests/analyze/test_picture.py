"""Picture analysis: PDQ from a reduced decode, EXIF, orientation, thumbnails, hostile input."""

from __future__ import annotations

import io
import os
import statistics
import string
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import numpy as np
import pdqhash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from lanterne.analyze.picture import PictureFacts, analyze_picture, pdq_hex
from lanterne.config import Limits
from lanterne.errors import CorruptData
from lanterne.synth.pictures import FORMATS, VARIANTS, CameraExif, make_picture, make_variant

LIMITS = Limits()
REASONS = {"decompression-bomb", "truncated", "corrupt", "unsupported"}


def distance(a: str | None, b: str | None) -> int:
    assert a is not None and b is not None and len(a) == len(b) == 64
    return (int(a, 16) ^ int(b, 16)).bit_count()


def full_resolution_pdq(data: bytes) -> str:
    """The reference: every pixel decoded, hashed by pdqhash (python-threatexchange's way)."""
    with Image.open(io.BytesIO(data)) as image:
        bits, _quality = pdqhash.compute(np.asarray(image.convert("RGB")))
    return pdq_hex(bits)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def analyze(data: bytes, **limits: int) -> PictureFacts:
    return analyze_picture(data, Limits(**limits) if limits else LIMITS)


# ------------------------------------------------------------------------------------ PDQ


@pytest.mark.slow
def test_reduced_decode_hashes_like_the_full_resolution_reference() -> None:
    # JPEGs large enough for DCT scaling (2048x1536 decodes at 1/2), PNGs for box reduction.
    pictures = [make_picture(seed, size=(2048, 1536), quality=92) for seed in range(8)]
    pictures += [make_picture(seed, size=(1600, 1200), fmt="PNG") for seed in range(8, 12)]
    distances = [distance(analyze(data).pdq, full_resolution_pdq(data)) for data in pictures]
    assert max(distances) <= 16, distances
    assert statistics.median(distances) <= 8, distances


def test_hex_is_threatexchange_bit_order() -> None:
    bits, _quality = pdqhash.compute(np.asarray(Image.open(io.BytesIO(make_picture(2)))))
    # python-threatexchange (pdq_hasher._pdq_from_numpy_array): the bits read as one binary
    # number, most significant first, written as 64 lower-case hex digits.
    binary = "".join(str(int(b)) for b in bits)
    assert pdq_hex(bits) == f"{int(binary, 2):064x}"


def test_quality_is_reported_and_small_pictures_have_no_hash() -> None:
    facts = analyze(make_picture(1))
    assert facts.pdq_quality is not None and facts.pdq_quality >= 70
    tiny = analyze(encode(Image.new("RGB", (4, 30), "red"), "PNG"))
    assert (tiny.pdq, tiny.pdq_quality) == (None, None)
    flat = analyze(encode(Image.new("RGB", (64, 64), "red"), "PNG"))
    assert flat.pdq is not None and flat.pdq_quality == 0


@pytest.mark.slow
def test_near_duplicates_stay_near_and_other_pictures_stay_far() -> None:
    measured: dict[str, list[int]] = {v: [] for v in VARIANTS}
    flipped: list[int] = []
    originals = []
    for seed in range(12):
        data = make_picture(seed, size=(1024, 768))
        original = analyze(data).pdq
        originals.append(original)
        for variant in VARIANTS:
            measured[variant].append(distance(original, analyze(make_variant(data, variant)).pdq))
        hashes, _quality = pdqhash.compute_dihedral(np.asarray(Image.open(io.BytesIO(data))))
        flipped.append(distance(pdq_hex(hashes[5]), analyze(make_variant(data, "mirrored")).pdq))
    # Measured over 30 seeds: resized ≤ 8, recompressed ≤ 2, cropped median 28 (max 48),
    # mirrored ≈ 128 (PDQ is not flip-invariant) but ≤ 16 from the dihedral left-right hash.
    assert max(measured["resized"]) <= 16
    assert max(measured["recompressed"]) <= 8
    assert statistics.median(measured["cropped"]) <= 36 and max(measured["cropped"]) <= 56
    assert min(measured["mirrored"]) >= 64
    assert max(flipped) <= 24
    others = [distance(a, b) for i, a in enumerate(originals) for b in originals[i + 1 :]]
    assert min(others) > 80


# ----------------------------------------------------------------------------- formats, EXIF

CAMERA = CameraExif(
    make="Fabrikam",
    model="FX-100 Mark II",
    serial="FB0012345",
    lens="Zoom 24-70mm f/2.8",
    taken_at=datetime(2023, 5, 6, 7, 8, 9, 123000, tzinfo=timezone(timedelta(hours=-3))),
    gps=(-33.868820, 151.209296),
    orientation=3,
)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_decodes_with_its_size(fmt: str) -> None:
    facts = analyze(make_picture(6, size=(320, 200), fmt=fmt))
    assert facts.format == ("HEIF" if fmt == "HEIC" else fmt)
    assert (facts.width, facts.height) == (320, 200)
    assert facts.pdq_quality is not None and facts.pdq_quality >= 50
    assert distance(facts.pdq, full_resolution_pdq(make_picture(6, size=(320, 200)))) <= 16


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "HEIC"])
def test_exif_round_trips(fmt: str) -> None:
    facts = analyze(make_picture(2, size=(240, 160), fmt=fmt, exif=CAMERA))
    assert (facts.camera_make, facts.camera_model) == ("Fabrikam", "FX-100 Mark II")
    assert (facts.camera_serial, facts.lens) == ("FB0012345", "Zoom 24-70mm f/2.8")
    assert facts.taken_at == "2023-05-06T07:08:09.123000-03:00"
    assert facts.gps_lat == pytest.approx(-33.868820, abs=1e-5)
    assert facts.gps_lon == pytest.approx(151.209296, abs=1e-5)
    assert facts.orientation == 3


_ascii = st.text(string.ascii_letters + string.digits + " -./", min_size=1, max_size=24)


@settings(max_examples=40, deadline=None)
@given(
    make=_ascii.filter(lambda s: s.strip() == s),
    when=st.datetimes(datetime(1990, 1, 1), datetime(2099, 12, 31)),
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    orientation=st.integers(1, 8),
)
def test_exif_round_trips_for_any_values(
    make: str, when: datetime, lat: float, lon: float, orientation: int
) -> None:
    exif = CameraExif(make, "M", taken_at=when, gps=(lat, lon), orientation=orientation)
    facts = analyze(make_picture(1, size=(64, 48), exif=exif))
    assert facts.camera_make == make
    assert facts.taken_at == when.isoformat()  # naive stays naive: no zone invented
    assert facts.gps_lat == pytest.approx(lat, abs=1e-5)
    assert facts.gps_lon == pytest.approx(lon, abs=1e-5)
    assert facts.orientation == orientation


def test_pictures_without_exif_have_no_camera_facts() -> None:
    for fmt in ("GIF", "BMP", "PNG"):
        facts = analyze(
            make_picture(1, size=(64, 48), fmt=fmt, exif=CAMERA if fmt != "PNG" else None)
        )
        assert (facts.camera_make, facts.taken_at, facts.gps_lat, facts.orientation) == (
            None,
            None,
            None,
            None,
        )


def test_placeholder_dates_and_gps_without_reference_are_not_facts() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Fabrikam"
    exif.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"
    gps = exif.get_ifd(0x8825)
    gps[2] = (10.0, 0.0, 0.0)  # latitude without N/S: its sign is unknown
    gps[4] = (20.0, 0.0, 0.0)
    gps[3] = "E"
    facts = analyze(encode(Image.open(io.BytesIO(make_picture(1))), "JPEG", exif=exif))
    assert facts.camera_make == "Fabrikam"
    assert (facts.taken_at, facts.gps_lat, facts.gps_lon) == (None, None, None)


# ------------------------------------------------------------------------ orientation, thumb


def test_orientation_6_keeps_stored_size_hashes_stored_pixels_and_turns_thumbnail() -> None:
    upright_free = analyze(make_picture(9))
    data = make_picture(9, exif=CameraExif("Fabrikam", "FX-100", orientation=6))
    facts = analyze(data)
    assert (facts.width, facts.height, facts.orientation) == (640, 480, 6)
    assert distance(facts.pdq, upright_free.pdq) <= 4  # the reference does not rotate either
    assert facts.thumbnail is not None
    thumb = Image.open(io.BytesIO(facts.thumbnail))
    assert thumb.size == (192, 256)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).resize((192, 256))
    error = np.abs(np.asarray(thumb.convert("RGB"), int) - np.asarray(expected, int)).mean()
    assert error < 12


@pytest.mark.parametrize("fmt", ["TIFF", "HEIC"])
def test_decoders_that_turn_pictures_themselves(fmt: str) -> None:
    exif = CameraExif("Fabrikam", "FX-100", orientation=6)
    facts = analyze(make_picture(9, fmt=fmt, exif=exif))
    stored = analyze(make_picture(9, fmt="PNG", exif=exif))
    assert facts.orientation == 6
    assert facts.thumbnail is not None and stored.thumbnail is not None
    assert Image.open(io.BytesIO(facts.thumbnail)).size == (192, 256)
    if fmt == "TIFF":  # Pillow turns TIFFs upright on load; we hash the stored pixels
        assert (facts.width, facts.height) == (640, 480)
        assert distance(facts.pdq, stored.pdq) <= 8
    else:  # libheif applies irot, which HEIF makes part of the stored geometry
        assert (facts.width, facts.height) == (480, 640)


@pytest.mark.parametrize("side", [64, 256])
def test_thumbnail_is_webp_within_the_limit(side: int) -> None:
    for size in [(1200, 900), (300, 1000), (100, 80)]:
        facts = analyze(make_picture(3, size=size), thumbnail_size=side)
        assert facts.thumbnail is not None and facts.thumbnail[8:12] == b"WEBP"
        thumb = Image.open(io.BytesIO(facts.thumbnail))
        assert thumb.format == "WEBP" and max(thumb.size) == min(side, max(size))


def test_pixel_modes_hash_like_their_rgb_source() -> None:
    base = Image.open(io.BytesIO(make_picture(5, fmt="PNG"))).convert("RGB")
    reference = analyze(encode(base, "PNG")).pdq
    turned = base.transpose(Image.Transpose.ROTATE_180)
    cases = {
        "L": encode(base.convert("L"), "PNG"),
        "LA": encode(base.convert("LA"), "PNG"),
        "RGBA": encode(base.convert("RGBA"), "PNG"),
        "P+tRNS": encode(base.quantize(200), "PNG", transparency=bytes([0] * 10 + [255] * 190)),
        "I;16": encode(
            Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257), "PNG"
        ),
        "1": encode(base.convert("1"), "PNG"),
        "CMYK": encode(base.convert("CMYK"), "JPEG", quality=95),
        "GIF first frame": encode(base, "GIF", save_all=True, append_images=[turned]),
        "WebP first frame": encode(base, "WEBP", save_all=True, append_images=[turned]),
        "MPO first picture": encode(base, "MPO", save_all=True, append_images=[turned]),
    }
    for name, data in cases.items():
        assert distance(analyze(data).pdq, reference) <= 8, name


def test_thread_pool_gives_the_same_facts() -> None:
    pictures = [make_picture(s, size=(800, 600), exif=CAMERA) for s in range(8)]
    serial = [analyze(p) for p in pictures]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(analyze, pictures * 2)) == serial * 2


# ------------------------------------------------------------------------- hostile input


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _jpeg_declaring(width: int, height: int) -> bytes:
    data = bytearray(make_picture(1, size=(64, 48)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _webp_declaring(width: int, height: int) -> bytes:
    data = bytearray(make_picture(1, size=(64, 48), fmt="WEBP", exif=CameraExif("a", "b")))
    assert data[12:16] == b"VP8X"  # EXIF makes it an extended WebP, with a canvas size
    data[24:30] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return bytes(data)


@pytest.mark.parametrize(
    "data",
    [
        _png_header(100_000, 100_000),
        _jpeg_declaring(60_000, 60_000),
        _webp_declaring(16_383, 16_383),
    ],
    ids=["png", "jpeg", "webp"],
)
def test_declared_bomb_is_refused_before_any_decode(data: bytes) -> None:
    start = time.perf_counter()
    with pytest.raises(CorruptData) as caught:
        analyze(data)
    assert caught.value.reason == "decompression-bomb"
    assert time.perf_counter() - start < 0.5  # 10^10 pixels were never allocated


def test_the_pixel_limit_is_the_configured_one() -> None:
    with pytest.raises(CorruptData, match="decompression-bomb"):
        analyze(make_picture(1, size=(100, 100)), picture_max_pixels=9_999)
    assert analyze(make_picture(1, size=(100, 100)), picture_max_pixels=10_000).width == 100
    with pytest.raises(CorruptData, match="too-large"):
        analyze(make_picture(1), picture_max_bytes=1000)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIC"])
def test_truncated_pictures_are_refused_not_half_decoded(fmt: str) -> None:
    # Decision: no partial decode. A half-grey picture gets the PDQ hash of another picture,
    # and Pillow's switch for partial decoding (LOAD_TRUNCATED_IMAGES) is process-wide.
    data = make_picture(4, size=(320, 240), fmt=fmt)
    for fraction in (0.3, 0.7, 0.98):
        with pytest.raises(CorruptData) as caught:
            analyze(data[: int(len(data) * fraction)])
        assert caught.value.reason == "truncated", (fraction, caught.value)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=4096), st.sampled_from([b"", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n"]))
def test_random_bytes_raise_corrupt_data_only(noise: bytes, prefix: bytes) -> None:
    with pytest.raises(CorruptData) as caught:
        analyze(prefix + noise)
    assert caught.value.reason in REASONS


def test_reasons_tell_damaged_pictures_from_other_data() -> None:
    with pytest.raises(CorruptData, match="unsupported"):
        analyze(b"%PDF-1.7\n" + os.urandom(500))
    with pytest.raises(CorruptData, match="corrupt"):
        analyze(b"\xff\xd8\xff\xe0" + b"\x00" * 500)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
    with pytest.raises(CorruptData, match="unsupported"):  # never handed to Ghostscript
        analyze(eps)


def _distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@pytest.mark.parametrize(
    ("turn", "undo"),
    [
        (Image.Transpose.ROTATE_90, "rotate270"),
        (Image.Transpose.ROTATE_180, "rotate180"),
        (Image.Transpose.ROTATE_270, "rotate90"),
        (Image.Transpose.FLIP_LEFT_RIGHT, "flip-horizontal"),
        (Image.Transpose.FLIP_TOP_BOTTOM, "flip-vertical"),
        (Image.Transpose.TRANSPOSE, "transpose"),
        (Image.Transpose.TRANSVERSE, "transverse"),
    ],
)
def test_dihedral_variant_names_what_undoes_the_turn(turn: Image.Transpose, undo: str) -> None:
    from lanterne.analyze.picture import DIHEDRAL

    original = make_picture(80, (400, 300), fmt="PNG")
    known = analyze_picture(original, Limits())
    buf = io.BytesIO()
    Image.open(io.BytesIO(original)).transpose(turn).save(buf, "PNG")
    turned = analyze_picture(buf.getvalue(), Limits())
    assert turned.pdq is not None and known.pdq is not None and turned.pdq_dihedral is not None
    variants = dict(zip(DIHEDRAL, (turned.pdq, *turned.pdq_dihedral), strict=True))
    assert _distance(turned.pdq, known.pdq) > 31  # PDQ itself does not survive the turn
    assert _distance(variants[undo], known.pdq) <= 31  # a match at the usual threshold
    assert min(variants.items(), key=lambda kv: _distance(kv[1], known.pdq))[0] == undo
