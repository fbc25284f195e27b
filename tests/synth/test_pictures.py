"""The synthetic pictures behave like the camera photos the tests stand in for."""

from __future__ import annotations

import io
import itertools
from datetime import datetime

import numpy as np
import pdqhash
import pytest
from PIL import Image

from lanterne.synth.pictures import FORMATS, VARIANTS, CameraExif, make_picture, make_variant


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _pdq_bits(data: bytes) -> np.ndarray:
    bits, _quality = pdqhash.compute(_pixels(data))
    return np.asarray(bits)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP"])
def test_same_seed_gives_same_bytes(fmt: str) -> None:
    exif = CameraExif("Fabrikam", "FX-100", taken_at=datetime(2024, 1, 2, 3, 4, 5))
    assert make_picture(7, fmt=fmt, exif=exif) == make_picture(7, fmt=fmt, exif=exif)
    assert make_picture(7, fmt=fmt) != make_picture(8, fmt=fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_has_the_requested_size(fmt: str) -> None:
    with Image.open(io.BytesIO(make_picture(1, size=(200, 120), fmt=fmt))) as image:
        assert image.size == (200, 120)
        assert image.format == ("HEIF" if fmt == "HEIC" else fmt)


def test_pdq_quality_is_high_and_seeds_are_far_apart() -> None:
    hashes, qualities = [], []
    for seed in range(16):
        bits, quality = pdqhash.compute(_pixels(make_picture(seed)))
        hashes.append(np.asarray(bits))
        qualities.append(quality)
    assert min(qualities) >= 70
    distances = [int((a != b).sum()) for a, b in itertools.combinations(hashes, 2)]
    assert min(distances) > 80
    assert 110 <= float(np.median(distances)) <= 146  # unrelated hashes: about half the bits


def test_same_seed_looks_alike_at_any_size() -> None:
    small = _pdq_bits(make_picture(3, size=(400, 300)))
    large = _pdq_bits(make_picture(3, size=(1600, 1200)))
    assert int((small != large).sum()) <= 16


def test_exif_is_left_out_of_formats_without_it() -> None:
    exif = CameraExif("Fabrikam", "FX-100")
    for fmt in ("GIF", "BMP"):
        with Image.open(io.BytesIO(make_picture(1, fmt=fmt, exif=exif))) as image:
            assert not image.getexif()


def test_bad_arguments_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match="XCF"):
        make_picture(1, fmt="XCF")
    with pytest.raises(ValueError, match="9"):
        make_picture(1, exif=CameraExif("a", "b", orientation=9))
    with pytest.raises(ValueError, match="91"):
        make_picture(1, exif=CameraExif("a", "b", gps=(91.0, 0.0)))
    with pytest.raises(ValueError, match="sepia"):
        make_variant(make_picture(1), "sepia")


def test_variants_have_the_expected_geometry() -> None:
    original = make_picture(4, size=(1000, 800), fmt="PNG")
    shapes = {v: _pixels(make_variant(original, v, seed=4)).shape for v in VARIANTS}
    assert shapes["resized"] == (480, 600, 3)
    assert shapes["recompressed"] == (800, 1000, 3)
    assert shapes["mirrored"] == (800, 1000, 3)
    height, width, _ = shapes["cropped"]
    assert 960 <= width <= 980 and 768 <= height <= 784  # 1 to 2 % off each side
    for variant in VARIANTS:
        assert make_variant(original, variant, seed=4)[:3] == b"\xff\xd8\xff"  # JPEG


def test_mirrored_variant_is_the_left_right_flip() -> None:
    original = make_picture(5, fmt="PNG")
    pixels = _pixels(original).astype(int)
    mirrored = _pixels(make_variant(original, "mirrored")).astype(int)
    assert np.abs(mirrored - pixels[:, ::-1]).mean() < 6.0  # JPEG q90 of a noisy picture
    assert np.abs(mirrored - pixels).mean() > 20.0
