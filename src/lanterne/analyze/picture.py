"""Picture facts in one reduced decode: PDQ hash, camera EXIF, orientation, WebP thumbnail.

A seized case holds hundreds of thousands of photos, mostly 12-megapixel camera JPEGs, and each
distinct content is analysed once (design principle 3). Decoding at full resolution only to
shrink the picture to PDQ's 64×64 luma grid wastes most of the time, so a picture is decoded
*once, reduced*: JPEGs through libjpeg's DCT scaling (``draft``: 1/2, 1/4 or 1/8 of each side,
the smallest scale whose both sides stay ≥ ``limits.pdq_decode_size``), other formats fully and
then box-reduced by an integer factor to the same bound. PDQ and the thumbnail both come from
that one reduced image. PDQ's own downsampling (a Jarosz box filter) after a box-like reduction
gives hashes within a few bits of the full-resolution reference (see ``benchmarks/``).

What the reference PDQ tools do, and so what we do:

* **Orientation is not applied before hashing.** Meta's C++ ``pdq-photo-hasher`` loads pixels
  with CImg, which ignores EXIF (``pdq/cpp/io/pdqio.cpp``); ``pdq/php/README.md`` says "Handle
  EXIF rotation tags … Or not. The C++ implementation does not, so this should also not", and
  the regression inputs ``exif-rotn-{1,3,6,8}.jpg`` have four different hashes
  (``pdq/sql/README.md``). python-threatexchange's ``pdq_hasher.py`` hashes
  ``np.asarray(Image.open(…))`` without ``exif_transpose``. Hash lists exchanged between
  hotlines are made that way, so we hash the stored pixels. The thumbnail, made for people, is
  turned upright. Two decoders orient on their own: recent Pillow transposes TIFFs on load
  (detected, and undone for PDQ), and libheif applies HEIF's ``irot``/``imir`` boxes, which
  the HEIF standard makes part of the image geometry (any reference tool decoding through
  libheif sees the same pixels), so for HEIF the pixels as decoded are "as stored".
* **Hex bit order.** ``pdqhash.compute`` returns bit 255 first (``hash_to_vector`` reverses
  the C++ ``Hash256`` words); python-threatexchange builds its hex from that vector read as one
  big-endian binary number (``_pdq_from_numpy_array``), which equals the C++ ``Hash256``
  ``toString`` (words ``w[15]`` … ``w[0]``, ``%04hx``). ``np.packbits`` (most significant bit
  first) then ``.hex()`` gives exactly that text.
* **Alpha is dropped, not composited**: the references hash the colour channels as stored.
* Animated GIF/WebP/PNG and multi-picture files (MPO, multi-page TIFF): the first frame.

Never used: the preview images embedded in JPEG EXIF or HEIF files. They are separate
pictures that can differ from the main one (an old trick), so ``draft`` is only called for
JPEG, where it means DCT scaling (pillow-heif's ``draft`` would pick an embedded thumbnail).

Thread safety: nothing global changes per call. At import, Pillow's plugins are initialised,
pillow-heif's opener registered and Pillow's own bomb guard raised out of the way, because
the size check here (against :attr:`Limits.picture_max_pixels`, on the declared size, before
any pixel is decoded) replaces it.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pdqhash
import pillow_heif
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from lanterne.config import Limits
from lanterne.errors import CorruptData

__all__ = ["DECODED_FORMATS", "DIHEDRAL", "PictureFacts", "analyze_picture", "pdq_hex"]

DIHEDRAL = (
    "original", "rotate90", "rotate180", "rotate270",
    "flip-vertical", "flip-horizontal", "transpose", "transverse",
)  # fmt: skip
"""The 8 turns and mirrors, in ``pdqhash.compute_dihedral``'s order (checked by a test): the
variant is what turns the content into the picture it matched (rotate90 counter-clockwise)."""

Image.init()
pillow_heif.register_heif_opener()
if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < 1 << 36:
    # Our own check, per call and configurable, runs first; Pillow's fixed guard (a warning
    # above 89 Mpx, which fails under ``-W error``) would only get in its way.
    Image.MAX_IMAGE_PIXELS = 1 << 36

_WANTED = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF", "JPEG2000", "PPM", "QOI")
DECODED_FORMATS: tuple[str, ...] = tuple(name for name in _WANTED if name in Image.OPEN)
"""Pillow openers used (those of this build; the JPEG one also opens MPO). Others are refused
(``unsupported``): EPS would run Ghostscript, ICO/ICNS hold sub-pictures whose own sizes
escape the size check, and guessing formats without signatures (TGA) turns random bytes into
"pictures"."""

# Signatures of picture formats, to tell damaged pictures (``corrupt``) from other data
# (``unsupported``) when no decoder accepts the bytes.
_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"), (0, b"\x89PNG\r\n\x1a\n"), (0, b"GIF8"), (8, b"WEBP"), (0, b"BM"),
    (0, b"II*\x00"), (0, b"MM\x00*"), (0, b"II+\x00"), (0, b"MM\x00+"), (0, b"qoif"),
    (4, b"ftypheic"), (4, b"ftypheix"), (4, b"ftypmif1"), (4, b"ftypmsf1"), (4, b"ftypavif"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n"), (0, b"\xff\x4f\xff\x51"),
)  # fmt: skip

# EXIF tags read (CIPA DC-008).
_MAKE, _MODEL, _ORIENTATION, _DNG_SERIAL = 0x010F, 0x0110, 0x0112, 0xC62F
_IFD_EXIF, _IFD_GPS = 0x8769, 0x8825
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED = 0x9003, 0x9004
_OFFSET_TIME_ORIGINAL, _OFFSET_TIME_DIGITIZED = 0x9011, 0x9012
_SUBSEC_ORIGINAL, _SUBSEC_DIGITIZED = 0x9291, 0x9292
_BODY_SERIAL, _LENS_MODEL = 0xA431, 0xA434

# How to show stored pixels upright, per EXIF orientation (as ImageOps.exif_transpose), and
# the inverse, to get back the stored pixels from a decoder that already turned them.
_T = Image.Transpose
_UPRIGHT = {
    2: _T.FLIP_LEFT_RIGHT,
    3: _T.ROTATE_180,
    4: _T.FLIP_TOP_BOTTOM,
    5: _T.TRANSPOSE,
    6: _T.ROTATE_270,
    7: _T.TRANSVERSE,
    8: _T.ROTATE_90,
}
_STORED = {**_UPRIGHT, 6: _T.ROTATE_90, 8: _T.ROTATE_270}

_PDQ_MIN_SIDE = 5  # the reference returns an all-zero hash of quality 0 below this
_EXIF_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})", re.ASCII)
_EXIF_OFFSET = re.compile(r"[+-]\d{2}:\d{2}", re.ASCII)
_EXIF_SUBSEC = re.compile(r"\d{1,9}", re.ASCII)


@dataclass(frozen=True, slots=True)
class PictureFacts:
    """What one picture content says about itself."""

    format: str
    """Pillow's format name: JPEG, MPO (camera JPEG with extra pictures), PNG, GIF, WEBP,
    BMP, TIFF, HEIF, AVIF …"""
    width: int
    """As stored, before EXIF orientation (for HEIF: after its irot/imir geometry)."""
    height: int
    pdq: str | None
    """PDQ hash as 64 hex characters, in the bit order of ThreatExchange; None when the
    picture is too small to hash (under 5 pixels on a side)."""
    pdq_quality: int | None
    """PDQ quality, 0 to 100; below 50 the hash is too flat to match on."""
    pdq_dihedral: tuple[str, ...] | None
    """The PDQ of the picture turned or mirrored, in :data:`DIHEDRAL` order after the
    original: computed from the same transform at almost no cost (``pdqhash``), so that a
    turned or mirrored copy of a known picture can be matched."""
    camera_make: str | None
    camera_model: str | None
    camera_serial: str | None
    lens: str | None
    taken_at: str | None
    """ISO 8601 as the camera wrote it: with fraction and offset only if the camera wrote
    them (SubSecTimeOriginal, OffsetTimeOriginal); no time zone is invented."""
    gps_lat: float | None
    gps_lon: float | None
    orientation: int | None
    """EXIF orientation 1 to 8 as written, None when absent or invalid."""
    thumbnail: bytes | None
    """WebP, longest side ``limits.thumbnail_size``, turned upright."""


def analyze_picture(data: bytes, limits: Limits) -> PictureFacts:
    """Facts of the picture ``data``, from a single reduced decode.

    Raises :class:`CorruptData` with reason ``decompression-bomb`` (declared width × height
    above ``limits.picture_max_pixels``; nothing is decoded), ``too-large`` (more bytes than
    ``limits.picture_max_bytes``), ``truncated`` (the data ends before the picture does: a
    partial decode is refused, since a half-grey picture would get a PDQ hash of another
    picture and the switch that allows it in Pillow is process-wide), ``corrupt`` (damaged
    data of a picture format) or ``unsupported`` (not a picture format decoded here, see
    :data:`DECODED_FORMATS`, or a pixel mode that cannot be shown as RGB).
    """
    if len(data) > limits.picture_max_bytes:
        raise CorruptData("too-large", f"{len(data)} bytes > {limits.picture_max_bytes}")
    canvas = _webp_canvas(data)
    if canvas is not None and canvas[0] * canvas[1] > limits.picture_max_pixels:
        # libwebp's animation decoder allocates the canvas when Pillow opens the file.
        raise CorruptData("decompression-bomb", f"WebP canvas {canvas[0]}×{canvas[1]}")
    try:
        image = Image.open(io.BytesIO(data), formats=DECODED_FORMATS)
    except UnidentifiedImageError as e:
        if _riff_cut_short(data):
            raise CorruptData("truncated", "RIFF container shorter than it declares") from e
        reason = "corrupt" if _has_picture_signature(data) else "unsupported"
        raise CorruptData(reason, f"no decoder accepts it (starts {data[:12].hex()})") from e
    except Image.DecompressionBombError as e:  # someone lowered Pillow's guard again
        raise CorruptData("decompression-bomb", str(e)) from e
    except MemoryError:
        raise
    except Exception as e:  # a damaged header can raise almost anything from a plugin
        raise _decode_error(e, data) from e
    with image:
        try:
            return _analyze_open(image, limits)
        except (CorruptData, MemoryError):
            raise
        except Exception as e:
            raise _decode_error(e, data) from e


def pdq_hex(bits: NDArray[Any]) -> str:
    """The 64-hex text of a ``pdqhash`` bit vector, as ThreatExchange writes it."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def _analyze_open(image: Image.Image, limits: Limits) -> PictureFacts:
    fmt = image.format or "unknown"
    width, height = _stored_size(image)
    if width <= 0 or height <= 0:
        raise CorruptData("corrupt", f"declared size {width}×{height}")
    if width * height > limits.picture_max_pixels:
        raise CorruptData(
            "decompression-bomb",
            f"{width}×{height} = {width * height} pixels > {limits.picture_max_pixels}",
        )
    exif = _read_exif(image)  # before load: TIFF loading removes the orientation tag
    orientation = _orientation(image, exif, fmt)
    if fmt in ("JPEG", "MPO"):
        image.draft("RGB", (limits.pdq_decode_size, limits.pdq_decode_size))
    image.load()
    rgb = _to_rgb(image)
    factor = min(rgb.size) // limits.pdq_decode_size
    if factor >= 2:
        rgb = rgb.reduce(factor)
    upright_turn = orientation if orientation is not None and fmt != "HEIF" else 1
    if _turned_on_load(image, upright_turn):
        rgb = rgb.transpose(_STORED[upright_turn])
    pdq, quality, dihedral = _pdq(rgb)
    return PictureFacts(
        format=fmt,
        width=width,
        height=height,
        pdq=pdq,
        pdq_quality=quality,
        pdq_dihedral=dihedral,
        camera_make=_text(exif.get("make")),
        camera_model=_text(exif.get("model")),
        camera_serial=_text(exif.get("serial")),
        lens=_text(exif.get("lens")),
        taken_at=exif.get("taken_at"),
        gps_lat=exif.get("gps_lat"),
        gps_lon=exif.get("gps_lon"),
        orientation=orientation,
        thumbnail=_thumbnail(rgb, upright_turn, limits.thumbnail_size),
    )


def _stored_size(image: Image.Image) -> tuple[int, int]:
    """Declared width and height, read from the header only."""
    if image.format == "TIFF":
        tags = getattr(image, "tag_v2", {})
        w, h = tags.get(256), tags.get(257)  # ImageWidth, ImageLength: before any turn
        if isinstance(w, int) and isinstance(h, int):
            return w, h
    return image.size


def _turned_on_load(image: Image.Image, orientation: int) -> bool:
    """Whether the decoder already turned the pixels upright (recent Pillow does for TIFF,
    and then drops the orientation tag, which older versions keep)."""
    if image.format != "TIFF" or orientation not in _STORED:
        return False
    return _ORIENTATION not in getattr(image, "tag_v2", {_ORIENTATION: orientation})


def _decode_error(e: BaseException, data: bytes) -> CorruptData:
    """The reason code for an exception of a decoder, read from its type and message."""
    text = str(e) or type(e).__name__
    lowered = text.lower()
    if isinstance(e, EOFError) or any(w in lowered for w in ("truncat", "end of file")):
        return CorruptData("truncated", text)
    if _riff_cut_short(data):  # WebP's decoder only says it failed
        return CorruptData("truncated", f"RIFF container shorter than it declares: {text}")
    if "not supported" in lowered or "unsupported" in lowered:
        return CorruptData("unsupported", text)
    return CorruptData("corrupt", text)


def _webp_canvas(data: bytes) -> tuple[int, int] | None:
    """The canvas size of an extended WebP (VP8X chunk), read before any decoder sees it."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:16] != b"WEBPVP8X":
        return None
    return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1


def _riff_cut_short(data: bytes) -> bool:
    return (
        data[:4] == b"RIFF"
        and len(data) >= 8
        and int.from_bytes(data[4:8], "little") + 8 > len(data)
    )


def _has_picture_signature(data: bytes) -> bool:
    return any(data[offset : offset + len(magic)] == magic for offset, magic in _SIGNATURES)


def _to_rgb(image: Image.Image) -> Image.Image:
    """The first frame as 8-bit RGB, alpha dropped (as the reference hashers do)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_scale_to_8bit(np.asarray(image), mode)).convert("RGB")
    if mode in ("P", "PA"):
        # Through RGBA: Pillow warns when a palette with per-entry transparency goes to RGB.
        return image.convert("RGBA").convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as e:  # e.g. LAB: needs a colour profile to become RGB
        raise CorruptData("unsupported", f"pixel mode {mode}: {e}") from e


def _scale_to_8bit(values: NDArray[Any], mode: str) -> NDArray[np.uint8]:
    """16-bit and wider greyscale to 0…255, keeping the picture's contrast."""
    if mode.startswith("I;16"):
        return (values.astype(np.uint32) >> 8).astype(np.uint8)
    wide = values.astype(np.float64)
    top = float(np.nanmax(wide)) if wide.size else 0.0
    if mode == "F" and top <= 1.0:
        wide = wide * 255.0
    elif top > 255.0:
        wide = wide / 257.0  # 16-bit samples stored in a 32-bit mode
    return np.clip(np.nan_to_num(wide), 0, 255).astype(np.uint8)


def _pdq(rgb: Image.Image) -> tuple[str | None, int | None, tuple[str, ...] | None]:
    if min(rgb.size) < _PDQ_MIN_SIDE:
        return None, None, None
    pixels = np.ascontiguousarray(np.asarray(rgb), dtype=np.uint8)
    variants, quality = pdqhash.compute_dihedral(pixels)
    hexes = tuple(pdq_hex(v) for v in variants)
    return hexes[0], int(quality), hexes[1:]


def _thumbnail(rgb: Image.Image, upright_turn: int, size: int) -> bytes:
    thumb = rgb.copy()  # a plain in-memory image: ``thumbnail`` cannot reach any file preview
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    if upright_turn in _UPRIGHT:
        thumb = thumb.transpose(_UPRIGHT[upright_turn])
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=80)
    return out.getvalue()


# ---------------------------------------------------------------------------------- EXIF


def _read_exif(image: Image.Image) -> dict[str, Any]:
    """The EXIF facts we keep, as plain values; damaged EXIF yields what could be read.

    Pillow reports unreadable EXIF through ``warnings`` (turned into exceptions under
    ``-W error``) or exceptions; either way the picture keeps its pixel facts.
    """
    facts: dict[str, Any] = {}
    try:
        exif = image.getexif()
        facts["orientation"] = exif.get(_ORIENTATION)
        facts["make"] = exif.get(_MAKE)
        facts["model"] = exif.get(_MODEL)
        facts["serial"] = exif.get(_DNG_SERIAL)
        sub = exif.get_ifd(_IFD_EXIF)
        facts["serial"] = sub.get(_BODY_SERIAL) or facts["serial"]
        facts["lens"] = sub.get(_LENS_MODEL)
        facts["taken_at"] = _taken_at(sub)
        gps = exif.get_ifd(_IFD_GPS)
        lat = _degrees(gps.get(2), gps.get(1), "N", "S", 90.0)
        lon = _degrees(gps.get(4), gps.get(3), "E", "W", 180.0)
        if lat is not None and lon is not None:
            facts["gps_lat"], facts["gps_lon"] = lat, lon
    except Exception:  # EXIF is optional: the pixels still count
        pass
    return facts


def _orientation(image: Image.Image, exif: dict[str, Any], fmt: str) -> int | None:
    value = exif.get("orientation")
    if fmt == "HEIF":  # pillow-heif resets EXIF orientation to 1 and keeps the original here
        value = image.info.get("original_orientation") or value
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", " ").strip()
    return value or None


def _taken_at(sub: Any) -> str | None:
    """DateTimeOriginal (else DateTimeDigitized) as ISO 8601, fraction and offset if written."""
    for date_tag, subsec_tag, offset_tag in (
        (_DATETIME_ORIGINAL, _SUBSEC_ORIGINAL, _OFFSET_TIME_ORIGINAL),
        (_DATETIME_DIGITIZED, _SUBSEC_DIGITIZED, _OFFSET_TIME_DIGITIZED),
    ):
        written = _text(sub.get(date_tag))
        match = _EXIF_DATE.fullmatch(written or "")
        if match is None:
            continue
        y, mo, d, h, mi, s = (int(g) for g in match.groups())
        if not (y >= 1 and 1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60):
            continue  # "0000:00:00 00:00:00" and other placeholders
        text = f"{match[1]}-{match[2]}-{match[3]}T{match[4]}:{match[5]}:{match[6]}"
        subsec = _text(sub.get(subsec_tag)) or ""
        if _EXIF_SUBSEC.fullmatch(subsec):
            text += f".{subsec}"
        offset = _text(sub.get(offset_tag)) or ""
        if _EXIF_OFFSET.fullmatch(offset):
            text += offset
        return text
    return None


def _degrees(value: Any, ref: Any, positive: str, negative: str, bound: float) -> float | None:
    """An EXIF GPS coordinate (degrees, minutes, seconds rationals + N/S/E/W) in degrees.

    Without its reference letter the sign is unknown, so no coordinate is given.
    """
    letter = (_text(ref) or "").upper()
    if letter not in (positive, negative) or not isinstance(value, tuple) or len(value) != 3:
        return None
    d, m, s = (float(part) for part in value)
    degrees = d + m / 60.0 + s / 3600.0
    if not math.isfinite(degrees) or min(d, m, s) < 0 or degrees > bound:
        return None
    return -degrees if letter == negative else degrees
