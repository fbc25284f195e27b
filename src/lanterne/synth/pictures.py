"""Benign synthetic pictures, with camera EXIF, and their near-duplicates.

Tests, demos and benchmarks need pictures that behave like camera photos for the code that
reads them (formats, EXIF, orientation, sizes) and for perceptual hashing (PDQ), without any
real photograph: principle 1 of the design. A picture here is a colour gradient, a dozen random
shapes (ellipses, rectangles, polygons) and a little noise, all drawn from ``seed``:

* the same seed always gives the same pixels, whatever the size (shapes are placed in
  coordinates relative to the frame), so a 12-megapixel benchmark picture and a 640×480 test
  picture of one seed look alike and hash alike;
* different seeds give unrelated layouts, so their PDQ hashes are far apart (≈128 bits, as for
  random hashes) and the shapes' edges keep PDQ quality high.

:func:`make_variant` derives the near-duplicates a matcher must find (resized, recompressed,
cropped, mirrored), as a picture travels between phones and chat apps.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pillow_heif
from PIL import Image, ImageDraw, ImageOps
from PIL.TiffImagePlugin import IFDRational

__all__ = ["FORMATS", "VARIANTS", "CameraExif", "make_picture", "make_variant"]

pillow_heif.register_heif_opener()  # idempotent; lets Pillow save (and open) HEIC

FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIC")
"""Formats :func:`make_picture` writes."""

VARIANTS: tuple[str, ...] = ("resized", "recompressed", "cropped", "mirrored")
"""Near-duplicate kinds :func:`make_variant` makes."""

# Formats whose Pillow writer takes an ``exif=`` block that readers find again.
_EXIF_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF", "HEIC"})

# EXIF tag numbers (CIPA DC-008); named here so the writer and its tests read alike.
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_ORIENTATION = 0x0112
IFD_EXIF = 0x8769
IFD_GPS = 0x8825
TAG_DATETIME_ORIGINAL = 0x9003
TAG_OFFSET_TIME_ORIGINAL = 0x9011
TAG_SUBSEC_TIME_ORIGINAL = 0x9291
TAG_BODY_SERIAL = 0xA431
TAG_LENS_MODEL = 0xA434
GPS_VERSION, GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 0, 1, 2, 3, 4

# GPS seconds are written as n/10000: 1e-4 arc-second, about 3 mm, far below the 1e-5 degree
# (about 1 m) that a round trip must keep.
_GPS_SECONDS_DENOMINATOR = 10_000


@dataclass(frozen=True)
class CameraExif:
    """What a camera writes about itself and the shot, as :func:`make_picture` stores it.

    ``gps`` is (latitude, longitude) in decimal degrees, negative for south and west.
    ``taken_at`` is written as DateTimeOriginal; an aware datetime also writes its offset
    (OffsetTimeOriginal) and microseconds go to SubSecTimeOriginal, so that reading the picture
    back gives ``taken_at.isoformat()`` exactly.
    """

    make: str
    model: str
    serial: str | None = None
    lens: str | None = None
    taken_at: datetime | None = None
    gps: tuple[float, float] | None = None
    orientation: int = 1

    def to_exif(self) -> Image.Exif:
        """The EXIF block, built with Pillow's :class:`PIL.Image.Exif` (IFD0, Exif and GPS)."""
        if not 1 <= self.orientation <= 8:
            raise ValueError(f"EXIF orientation must be 1..8, not {self.orientation!r}")
        exif = Image.Exif()
        exif[TAG_MAKE] = self.make
        exif[TAG_MODEL] = self.model
        exif[TAG_ORIENTATION] = self.orientation
        sub = exif.get_ifd(IFD_EXIF)
        if self.serial is not None:
            sub[TAG_BODY_SERIAL] = self.serial
        if self.lens is not None:
            sub[TAG_LENS_MODEL] = self.lens
        if self.taken_at is not None:
            sub[TAG_DATETIME_ORIGINAL] = self.taken_at.strftime("%Y:%m:%d %H:%M:%S")
            if self.taken_at.microsecond:
                sub[TAG_SUBSEC_TIME_ORIGINAL] = f"{self.taken_at.microsecond:06d}"
            offset = self.taken_at.strftime("%z")  # "+0200" or "" when naive
            if offset:
                sub[TAG_OFFSET_TIME_ORIGINAL] = f"{offset[:3]}:{offset[3:5]}"
        if self.gps is not None:
            lat, lon = self.gps
            if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
                raise ValueError(f"GPS position out of range: {self.gps!r}")
            gps = exif.get_ifd(IFD_GPS)
            gps[GPS_VERSION] = b"\x02\x02\x00\x00"
            gps[GPS_LAT_REF] = "S" if lat < 0 else "N"
            gps[GPS_LAT] = _dms(lat)
            gps[GPS_LON_REF] = "W" if lon < 0 else "E"
            gps[GPS_LON] = _dms(lon)
        return exif


def _dms(degrees: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Degrees, minutes, seconds as EXIF rationals (the sign goes into the Ref tag)."""
    value = abs(degrees)
    whole = math.floor(value)
    minutes_f = (value - whole) * 60.0
    minutes = math.floor(minutes_f)
    seconds = round((minutes_f - minutes) * 60.0 * _GPS_SECONDS_DENOMINATOR)
    return (
        IFDRational(whole, 1),
        IFDRational(minutes, 1),
        IFDRational(seconds, _GPS_SECONDS_DENOMINATOR),
    )


def make_picture(
    seed: int,
    size: tuple[int, int] = (640, 480),
    fmt: str = "JPEG",
    exif: CameraExif | None = None,
    quality: int = 90,
) -> bytes:
    """A deterministic benign picture for ``seed``, encoded as ``fmt`` (see :data:`FORMATS`).

    ``exif`` is written for the formats that carry it (JPEG, PNG, WEBP, TIFF, HEIC) and
    silently left out for GIF and BMP, which have no EXIF. ``quality`` applies to the lossy
    formats (JPEG, WEBP, HEIC).
    """
    fmt = fmt.upper()
    if fmt not in FORMATS:
        raise ValueError(f"unknown picture format {fmt!r}; one of {', '.join(FORMATS)}")
    width, height = size
    if width < 8 or height < 8:
        raise ValueError(f"picture size must be at least 8×8, not {size!r}")
    image = _draw(seed, width, height)
    params: dict[str, object] = {}
    if exif is not None and fmt in _EXIF_FORMATS:
        params["exif"] = exif.to_exif().tobytes()
    if fmt in ("JPEG", "WEBP", "HEIC"):
        params["quality"] = quality
    if fmt == "GIF":
        image = image.quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    out = io.BytesIO()
    image.save(out, format="HEIF" if fmt == "HEIC" else fmt, **params)
    return out.getvalue()


def _draw(seed: int, width: int, height: int) -> Image.Image:
    """Gradient, shapes, noise: every random choice comes from ``seed`` alone."""
    rng = random.Random(seed)
    # Background: a linear gradient between two colours along a random direction.
    c0 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    c1 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    t = math.cos(angle) * xs + math.sin(angle) * ys
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    pixels = c0 + (c1 - c0) * t[:, :, None]
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")

    # Shapes, in coordinates relative to the frame so that any size shows the same picture.
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(14, 22)):
        # Dark or light shapes, never mid-grey ones, so edges stay visible to PDQ.
        low = rng.choice((0, 140))
        colour = (rng.randrange(low, low + 116), rng.randrange(low, low + 116), rng.randrange(256))
        kind = rng.choice(("ellipse", "rectangle", "polygon"))
        cx, cy = rng.uniform(0.0, 1.0), rng.uniform(0.0, 1.0)
        rx, ry = rng.uniform(0.04, 0.22), rng.uniform(0.04, 0.22)
        if kind == "polygon":
            corners = rng.randint(3, 7)
            points = []
            for k in range(corners):
                a = 2.0 * math.pi * k / corners + rng.uniform(-0.3, 0.3)
                r = rng.uniform(0.5, 1.0)
                points.append(
                    ((cx + r * rx * math.cos(a)) * width, (cy + r * ry * math.sin(a)) * height)
                )
            draw.polygon(points, fill=colour)
        else:
            box = ((cx - rx) * width, (cy - ry) * height, (cx + rx) * width, (cy + ry) * height)
            if kind == "ellipse":
                draw.ellipse(box, fill=colour)
            else:
                draw.rectangle(box, fill=colour)

    # Sensor-like noise, small enough not to move the PDQ hash of the shapes.
    noise_rng = np.random.default_rng(seed)
    noise = noise_rng.integers(-6, 7, size=(height, width, 1), dtype=np.int16)
    noisy = np.asarray(image, dtype=np.int16) + noise
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def make_variant(data: bytes, variant: str, seed: int = 0) -> bytes:
    """A near-duplicate of the picture ``data`` as JPEG (no EXIF), as sharing apps make them.

    * ``resized``: 60 % of each side (Lanczos);
    * ``recompressed``: the same pixels at JPEG quality 40;
    * ``cropped``: 1 to 2 % cut off each border (the amounts drawn from ``seed``); PDQ is
      sensitive to cropping: at these margins the hash moves ~28 bits (median), up to ~48;
    * ``mirrored``: left-right flip (plain PDQ does not survive it; the dihedral hashes do).

    The stored pixels are used as they are (EXIF orientation is not applied), like the PDQ
    reference tools do.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")
    with Image.open(io.BytesIO(data)) as source:
        image = source.convert("RGB")
    quality = 90
    if variant == "resized":
        w, h = image.size
        image = image.resize((max(1, w * 3 // 5), max(1, h * 3 // 5)), Image.Resampling.LANCZOS)
    elif variant == "recompressed":
        quality = 40
    elif variant == "cropped":
        rng = random.Random(seed)
        w, h = image.size
        left, right = (round(w * rng.uniform(0.01, 0.02)) for _ in range(2))
        top, bottom = (round(h * rng.uniform(0.01, 0.02)) for _ in range(2))
        image = image.crop((left, top, w - right, h - bottom))
    else:
        image = ImageOps.mirror(image)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()
