"""Type by signature: real files of each format, generated here, and the renamed-file flag.

Every sample is built by code from benign synthetic content (gradients, silence, short text).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import sqlite3
import sys
import tarfile
import wave
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import magic
import numpy as np
import pytest
from PIL import Image, features

import lanterne.analyze.filetype as filetype
from lanterne.analyze.filetype import CONTAINERS, KINDS, TypeInfo, identify

HEAD = 65536


def info_of(path: Path, name: str | None = None) -> TypeInfo:
    data = path.read_bytes()
    return identify(data[:HEAD], name or path.name, len(data))


def gradient() -> Image.Image:
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype("uint8")
    return Image.fromarray(rgb, "RGB")


# --- pictures ----------------------------------------------------------------------------------

PICTURES = [
    ("JPEG", "p.jpg", "image/jpeg"),
    ("PNG", "p.png", "image/png"),
    ("GIF", "p.gif", "image/gif"),
    ("WEBP", "p.webp", "image/webp"),
    ("BMP", "p.bmp", "image/bmp"),
    ("TIFF", "p.tif", "image/tiff"),
    ("AVIF", "p.avif", "image/avif"),
]


@pytest.mark.parametrize(("fmt", "name", "mime"), PICTURES)
def test_pictures(tmp_path: Path, fmt: str, name: str, mime: str) -> None:
    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow was built without an AVIF encoder (libavif)")
    path = tmp_path / name
    gradient().save(path, fmt)
    assert info_of(path) == TypeInfo(
        mime, "picture", None, False, filetype.expected_extensions(mime)
    )


def test_heic_picture(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("HEIF"):
        pytest.skip("libheif has no HEVC encoder here (x265)")
    path = tmp_path / "IMG_0001.HEIC"
    pillow_heif.from_pillow(gradient()).save(str(path), quality=50)
    info = info_of(path)
    assert (info.mime, info.kind, info.extension_mismatch) == ("image/heic", "picture", False)


# --- videos and audio --------------------------------------------------------------------------


def write_video(path: Path, container: str, codec: str) -> None:
    av = pytest.importorskip("av", reason="PyAV (av) is needed to write sample videos")
    try:
        av.codec.Codec(codec, "w")
    except Exception:  # PyAV raises its own UnknownCodecError, absent from old versions
        pytest.skip(f"FFmpeg in this PyAV has no {codec} encoder")
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        frames = [np.full((48, 64, 3), i * 40, "uint8") for i in range(5)]
        for pixels in frames:
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


VIDEOS = [
    ("v.mp4", "mp4", "mpeg4", "video/mp4"),
    ("v.mov", "mov", "mpeg4", "video/quicktime"),
    ("v.3gp", "3gp", "h264", "video/3gpp"),
    ("v.mkv", "matroska", "mpeg4", "video/x-matroska"),
    ("v.webm", "webm", "libvpx", "video/webm"),
    ("v.avi", "avi", "mpeg4", "video/x-msvideo"),
    ("v.wmv", "asf", "wmv2", "video/x-ms-asf"),
    ("v.flv", "flv", "flv", "video/x-flv"),
    ("v.mpg", "mpeg", "mpeg2video", "video/mpeg"),
    # libmagic 5.44 misses FFmpeg's transport streams: the fallback must catch them
    ("v.ts", "mpegts", "mpeg2video", "video/mp2t"),
]


@pytest.mark.parametrize(("name", "container", "codec", "mime"), VIDEOS)
def test_videos(tmp_path: Path, name: str, container: str, codec: str, mime: str) -> None:
    path = tmp_path / name
    write_video(path, container, codec)
    info = info_of(path)
    assert (info.mime, info.kind, info.container, info.extension_mismatch) == (
        mime,
        "video",
        None,
        False,
    )


def test_m2ts_camcorder_packets_are_video() -> None:
    """192-byte packets (4-byte timestamp + 188-byte TS packet), as AVCHD cameras write."""
    packet = b"\x00\x00\x00\x00\x47\x40\x11\x10" + bytes(184)
    head = packet * 40
    info = identify(head, "00001.MTS", 10**6)
    assert (info.mime, info.kind, info.extension_mismatch) == ("video/mp2t", "video", False)


def test_random_bytes_are_not_taken_for_a_transport_stream() -> None:
    head = random.Random(1).randbytes(HEAD)
    assert identify(head, "x.ts", HEAD).mime == "application/octet-stream"


def test_wav_audio(tmp_path: Path) -> None:
    path = tmp_path / "voice.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(1600))
    info = info_of(path)
    assert (info.kind, info.container, info.extension_mismatch) == ("audio", None, False)
    assert "wav" in info.expected_extensions


# --- archives, compressed, zip-based formats ---------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes], first_stored: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i, (name, data) in enumerate(members.items()):
            z.writestr(
                name, data, compress_type=zipfile.ZIP_STORED if first_stored and i == 0 else None
            )
    return path


def make_docx(path: Path) -> Path:
    types = (
        b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'content-types"><Override PartName="/word/document.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    return make_zip(
        path,
        {"[Content_Types].xml": types, "_rels/.rels": b"<r/>", "word/document.xml": b"<w/>"},
    )


def make_xlsx(path: Path) -> Path:
    return make_zip(
        path, {"[Content_Types].xml": b"<Types/>", "_rels/.rels": b"<r/>", "xl/workbook.xml": b""}
    )


def make_odt(path: Path) -> Path:
    members = {"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"}
    return make_zip(path, members, first_stored=True)


def make_epub(path: Path) -> Path:
    members = {"mimetype": b"application/epub+zip", "META-INF/container.xml": b"<c/>"}
    return make_zip(path, members, first_stored=True)


def make_apk(path: Path) -> Path:
    return make_zip(
        path,
        {
            "AndroidManifest.xml": b"\x03\x00\x08\x00" + bytes(60),
            "classes.dex": b"dex\n035\x00" + bytes(100),
        },
    )


def make_jar(path: Path) -> Path:
    return make_zip(path, {"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n"})


def make_plain_zip(path: Path) -> Path:
    return make_zip(path, {"notes/a.txt": b"hello\n" * 100})


def make_tar(fmt: int) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        with tarfile.open(path, "w", format=fmt) as t:
            data = b"hello\n" * 50
            # GNU and pax then start with their long-name header, not the member itself
            long = fmt != tarfile.USTAR_FORMAT
            member = tarfile.TarInfo("dir/" + ("long-name-" * 12 if long else "a") + ".txt")
            member.size = len(data)
            t.addfile(member, io.BytesIO(data))
        return path

    return make


def make_7z(path: Path) -> Path:
    py7zr = pytest.importorskip("py7zr")
    with py7zr.SevenZipFile(path, "w") as z:
        z.writestr(b"hello\n" * 10, "a.txt")
    return path


def make_compressed(compress: Callable[[bytes], bytes]) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_bytes(compress(b"hello\n" * 100))
        return path

    return make


CONTAINERISH: list[tuple[Callable[[Path], Path], str, str, str, str]] = [
    # maker, file name, kind, container, mime
    (make_plain_zip, "a.zip", "archive", "zip", "application/zip"),
    (make_tar(tarfile.USTAR_FORMAT), "a.tar", "archive", "tar", "application/x-tar"),
    (make_tar(tarfile.GNU_FORMAT), "a.tar", "archive", "tar", "application/x-tar"),
    (make_tar(tarfile.PAX_FORMAT), "a.tar", "archive", "tar", "application/x-tar"),
    (make_7z, "a.7z", "archive", "7z", "application/x-7z-compressed"),
    (make_compressed(gzip.compress), "a.tar.gz", "compressed", "gzip", "application/gzip"),
    (make_compressed(gzip.compress), "a.tgz", "compressed", "gzip", "application/gzip"),
    (make_compressed(bz2.compress), "a.bz2", "compressed", "bzip2", "application/x-bzip2"),
    (make_compressed(lzma.compress), "a.xz", "compressed", "xz", "application/x-xz"),
    (
        make_docx,
        "report.docx",
        "document",
        "zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        make_xlsx,
        "book.xlsx",
        "document",
        "zip",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (make_odt, "letter.odt", "document", "zip", "application/vnd.oasis.opendocument.text"),
    (make_epub, "book.epub", "document", "zip", "application/epub+zip"),
    (make_apk, "app.apk", "executable", "zip", "application/vnd.android.package-archive"),
]


@pytest.mark.parametrize(("make", "name", "kind", "container", "mime"), CONTAINERISH)
def test_archives_and_zip_based_formats(
    tmp_path: Path,
    make: Callable[[Path], Path],
    name: str,
    kind: str,
    container: str,
    mime: str,
) -> None:
    info = info_of(make(tmp_path / name))
    assert (info.mime, info.kind, info.container, info.extension_mismatch) == (
        mime,
        kind,
        container,
        False,
    )


def test_jar_is_a_zip_container_and_no_mismatch(tmp_path: Path) -> None:
    info = info_of(make_jar(tmp_path / "tool.jar"))
    assert info.container == "zip"
    assert info.extension_mismatch is False


@pytest.mark.parametrize("name", ["a.docx", "a.xlsx", "a.apk", "a.jar", "a.odt", "a.ZIP"])
def test_plain_zip_under_any_zip_based_name_is_no_mismatch(tmp_path: Path, name: str) -> None:
    info = info_of(make_plain_zip(tmp_path / "z.zip"), name)
    assert (info.container, info.extension_mismatch) == ("zip", False)


def test_docx_named_zip_is_no_mismatch(tmp_path: Path) -> None:
    assert info_of(make_docx(tmp_path / "a.docx"), "a.zip").extension_mismatch is False


# --- documents, executables, databases, text, empty --------------------------------------------


def test_pdf_sqlite_elf_and_text(tmp_path: Path) -> None:
    pdf = tmp_path / "d.pdf"
    pdf.write_bytes(
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    db = tmp_path / "msgstore.db"
    with sqlite3.connect(db) as con:
        con.execute("create table t(x)")
    con.close()
    elf_head = Path(sys.executable).resolve().read_bytes()[:HEAD]
    text = tmp_path / "notes.txt"
    text.write_text("a plain note\n" * 20, encoding="utf-8")

    assert (info_of(pdf).mime, info_of(pdf).kind) == ("application/pdf", "document")
    assert (info_of(db).mime, info_of(db).kind) == ("application/vnd.sqlite3", "database")
    assert identify(elf_head, "python3", 10**7).kind == "executable"
    assert (info_of(text).mime, info_of(text).kind) == ("text/plain", "text")


def test_empty_file_is_empty_whatever_its_name() -> None:
    assert identify(b"", "photo.jpg", 0) == TypeInfo(
        "application/x-empty", "empty", None, False, ()
    )


# --- the renamed-file flag ---------------------------------------------------------------------


@pytest.fixture
def jpeg_head() -> bytes:
    out = io.BytesIO()
    gradient().save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "mismatch"),
    [
        ("photo.txt", True),
        ("photo.png", True),
        ("photo.docx", True),
        ("photo.mp4", True),
        ("archive.tar.gz", True),
        ("photo.jpg", False),
        ("PHOTO.JPG", False),
        ("photo.jpeg", False),
        ("photo.jpe", False),
        ("photo.jfif", False),
        ("photo", False),  # no extension
        ("photo.", False),
        (".hidden", False),
        ("photo.bak", False),  # unknown or generic extensions say nothing
        ("photo.001", False),
        ("photo.dat", False),
        ("photo.bin", False),
        ("dir.jpg/photo", False),
    ],
)
def test_jpeg_extension_mismatch(jpeg_head: bytes, name: str, mismatch: bool) -> None:
    info = identify(jpeg_head, name, len(jpeg_head))
    assert info.extension_mismatch is mismatch
    assert info.expected_extensions[:3] == ("jpg", "jpeg", "jpe")


@pytest.mark.parametrize("name", ["data.csv", "app.log", "main.ts", "id_rsa.pub", "libc.so"])
def test_text_under_text_names_is_no_mismatch(name: str) -> None:
    assert identify(b"some,plain,words\n" * 30, name, 510).extension_mismatch is False


def test_text_named_as_picture_is_a_mismatch() -> None:
    assert identify(b"some plain words\n" * 30, "holiday.jpg", 510).extension_mismatch is True


def test_quicktime_named_mp4_is_no_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "v.mov"
    write_video(path, "mov", "mpeg4")
    assert info_of(path, "clip.mp4").extension_mismatch is False
    assert info_of(path, "clip.avi").extension_mismatch is True


def test_unidentified_bytes() -> None:
    """Encrypted databases look random: no alarm; random bytes named as a picture: alarm."""
    head = random.Random(2).randbytes(HEAD)
    assert identify(head, "db.sqlite", HEAD).extension_mismatch is False
    assert identify(head, "photo.jpg", HEAD).extension_mismatch is True
    assert identify(head, "photo.jpg", HEAD).kind == "other"


# --- the table, threads, errors ----------------------------------------------------------------


def test_table_is_consistent() -> None:
    for mime, spec in filetype._SPECS.items():
        assert spec.kind in KINDS, mime
        assert spec.container is None or spec.container in CONTAINERS, mime
        assert spec.family is None or spec.family in filetype._FAMILIES, mime
        assert all(e == e.lower() and "." not in e for e in spec.extensions), mime
    for alias, target in filetype._ALIASES.items():
        assert alias not in filetype._SPECS
        assert target in filetype._SPECS or target.startswith("text/"), alias


def test_identify_from_many_threads(tmp_path: Path, jpeg_head: bytes) -> None:
    samples: list[tuple[bytes, str, int]] = [
        (jpeg_head, "a.jpg", len(jpeg_head)),
        (make_plain_zip(tmp_path / "a.zip").read_bytes(), "a.zip", 1),
        (gzip.compress(b"x" * 1000), "a.gz", 1),
        (b"plain text\n" * 100, "a.txt", 1),
        (random.Random(3).randbytes(5000), "a.bin", 1),
    ]
    expected = [identify(*s) for s in samples]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda s: identify(*s), samples * 200))
    assert got == expected * 200


def test_libmagic_failure_is_unknown_data(monkeypatch: pytest.MonkeyPatch) -> None:
    class Failing:
        def from_buffer(self, head: bytes) -> Any:
            raise magic.MagicException("regex error (simulated)")

    monkeypatch.setattr(filetype._cookie, "magic", Failing())
    info = identify(b"\x00\x01", "x", 2)
    assert (info.mime, info.kind, info.container) == ("application/octet-stream", "other", None)
