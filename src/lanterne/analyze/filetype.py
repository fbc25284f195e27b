"""What a file is, by its signature, not by its name.

Suspects rename pictures (``holiday.jpg`` → ``notes.txt``) and hide archives as anything else, so
the type comes from the first bytes (libmagic, the engine behind ``file(1)``, through
python-magic) and the name is only compared with it: :attr:`TypeInfo.extension_mismatch` is the
examiner's "renamed file" flag.

Decisions worth knowing:

* **Kind** is the coarse class the pipeline and reports use (:data:`KINDS`). OOXML, ODF and EPUB
  files are ``document``; APK and JAR are ``executable``.
* **Container** says how to open a file to ingest what is inside. Every zip-based format is
  container ``zip``, documents and apps included: the pictures embedded in a .docx, a .pptx or an
  .apk are evidence as much as those in a .zip. gzip/bzip2/xz are kind ``compressed`` with their
  container; what they hold (a tar, usually) is identified once decompressed. Formats there is
  no opener for yet (RAR, ISO, lzma, zstd …) keep their kind with container ``None``.
* **Mismatch** is raised only when the name's extension is one Lanterne knows for *another*
  type. An absent or unknown extension (``.bak``, ``.001``, an ELF without suffix) is no
  mismatch, nor are same-family names: a zip named .docx/.jar/.apk, a QuickTime movie named
  .mp4, a TIFF-based camera raw named .nef, any text named .csv/.log/.ts. False alarms would
  bury the renamed pictures examiners look for.
* The extension table is :mod:`mimetypes`' built-in table (not the machine's ``/etc/mime.types``,
  so that results do not depend on the host) plus the forensic formats it lacks, in
  :mod:`lanterne.analyze.filetype` below.
* Mime synonyms that differ between libmagic versions are normalised (``image/x-ms-bmp`` →
  ``image/bmp``), so that a case filled by several machines counts one type once.

libmagic cookies are not thread-safe: each thread gets its own :class:`magic.Magic`.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import threading
from dataclasses import dataclass
from typing import Any

import magic

__all__ = ["CONTAINERS", "KINDS", "TypeInfo", "expected_extensions", "identify"]

KINDS = (
    "picture",
    "video",
    "audio",
    "archive",
    "compressed",
    "document",
    "executable",
    "text",
    "database",
    "empty",
    "other",
)
CONTAINERS = ("zip", "tar", "7z", "gzip", "bzip2", "xz")

EMPTY_MIME = "application/x-empty"  # what libmagic itself reports for no bytes
UNKNOWN_MIME = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class TypeInfo:
    mime: str
    """The content's mime type according to its signature, e.g. ``image/jpeg``."""
    kind: str
    """One of :data:`KINDS`."""
    container: str | None
    """How to open it to reach what is inside: one of :data:`CONTAINERS`, or ``None``."""
    extension_mismatch: bool
    """The name's extension is one Lanterne knows for another type (a renamed file)."""
    expected_extensions: tuple[str, ...]
    """Extensions (lowercase, no dot) this mime is usually named with, most common first."""


# --- the table ---------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Families: extensions that name the same kind of bytes; any of them is no mismatch for a mime
# of the family (libmagic tells a zip from a .docx only by the first member's name, an .mp4 from
# a .mov only by a brand many cameras set loosely).
_FAMILIES: dict[str, frozenset[str]] = {
    "zip": _words(
        "zip zipx jar war ear aar apk aab xapk ipa xpi docx docm dotx dotm xlsx xlsm xltx xltm"
        " pptx pptm ppsx ppsm potx odt ods odp odg odf odb ott ots otp epub kmz cbz whl nupkg"
        " vsix 3mf appx msix appxbundle xps oxps idml pages numbers usdz"
    ),
    "ole": _words("doc dot xls xlt xla ppt pps pot msg msi msp vsd pub wps mpp db"),
    "isobmff": _words("mp4 m4v mov qt 3gp 3gpp 3g2 3gp2 m4a m4b m4p m4r f4v f4a"),
    "matroska": _words("mkv mk3d mka mks webm"),
    "ogg": _words("ogg oga ogv ogx opus spx"),
    "asf": _words("asf wmv wma"),
    "mpeg": _words("mpg mpeg mpe m1v m2v vob ts m2ts mts m2t tod"),
    "tiff": _words("tif tiff dng nef nrw cr2 arw srf sr2 orf pef srw 3fr erf kdc mos iiq"),
    "heif": _words("heic heif hif heics heifs avif avifs"),
    "jpeg": _words("jpg jpeg jpe jfif jfi jif pjpeg pjp mpo thm"),
    # Text is tolerated under any name a text format goes by (libmagic calls most of them
    # text/plain), including names that are also used for binaries: "so" (Linux linker scripts
    # such as libc.so are text), "pub"/"key" (SSH and TLS keys), "ts" (TypeScript).
    "text": _words(
        "txt text log md markdown rst adoc csv tsv json jsonl ndjson geojson xml xsd xsl xslt"
        " html htm xhtml mht mhtml css js mjs cjs ts tsx jsx py pyw rb pl pm php java kt kts"
        " swift go rs c h cc cpp cxx hpp hh cs m mm sh bash zsh ksh csh fish ps1 psm1 bat cmd"
        " vbs reg inf ini cfg conf config properties yaml yml toml env sql srt vtt sub ass ssa"
        " nfo vcf ics eml tex latex bib sty svg rtf diff patch lst asc url desktop m3u m3u8"
        " tcl rdf wsdl xul webmanifest so pub key pem crt csr"
    ),
    "elf": _words("so ko o elf axf prx"),
    "pe": _words("exe dll sys scr cpl ocx drv efi mui ax acm msstyles pyd winmd"),
    # Encrypted databases (SQLCipher: Signal's db.sqlite, WhatsApp's crypt files) are
    # indistinguishable from random bytes, so unidentified data under these names is expected.
    "sqlite": _words("db sqlite sqlite3 db3 sqlitedb"),
    "gzip": _words("gz tgz taz tz svgz emz wmz"),
    "bzip2": _words("bz2 bz tbz tbz2 tb2"),
    "xz": _words("xz txz"),
}

# Names too generic to say anything about the bytes: never a mismatch, whatever they hold.
_GENERIC = _words("bin dat db log tmp temp cache bak old")


@dataclass(frozen=True, slots=True)
class _Spec:
    kind: str
    container: str | None = None
    extensions: tuple[str, ...] = ()
    family: str | None = None


def _s(
    kind: str, exts: str = "", *, container: str | None = None, family: str | None = None
) -> _Spec:
    return _Spec(kind, container, tuple(exts.split()), family)


_OOXML = "application/vnd.openxmlformats-officedocument."
_ODF = "application/vnd.oasis.opendocument."
_ZIP = {"container": "zip", "family": "zip"}
_SPECS: dict[str, _Spec] = {
    # pictures
    "image/jpeg": _s("picture", "jpg jpeg jpe jfif jfi jif pjpeg pjp mpo", family="jpeg"),
    "image/png": _s("picture", "png apng"),
    "image/gif": _s("picture", "gif"),
    "image/webp": _s("picture", "webp"),
    "image/bmp": _s("picture", "bmp"),
    "image/tiff": _s("picture", "tif tiff", family="tiff"),
    "image/x-canon-cr2": _s("picture", "cr2", family="tiff"),
    "image/x-canon-crw": _s("picture", "crw"),
    "image/x-olympus-orf": _s("picture", "orf", family="tiff"),
    "image/heic": _s("picture", "heic heif hif", family="heif"),
    "image/heif": _s("picture", "heif heic hif", family="heif"),
    "image/heic-sequence": _s("picture", "heics heic", family="heif"),
    "image/heif-sequence": _s("picture", "heifs heif", family="heif"),
    "image/avif": _s("picture", "avif avifs", family="heif"),
    "image/jp2": _s("picture", "jp2 jpf"),
    "image/jxl": _s("picture", "jxl"),
    "image/vnd.microsoft.icon": _s("picture", "ico"),
    "image/vnd.adobe.photoshop": _s("picture", "psd psb"),
    "image/svg+xml": _s("document", "svg", family="text"),  # vector: no pixels to hash
    # videos
    "video/mp4": _s("video", "mp4 m4v", family="isobmff"),
    "video/x-m4v": _s("video", "m4v mp4", family="isobmff"),
    "video/quicktime": _s("video", "mov qt", family="isobmff"),
    "video/3gpp": _s("video", "3gp 3gpp", family="isobmff"),
    "video/3gpp2": _s("video", "3g2 3gp2", family="isobmff"),
    "video/x-matroska": _s("video", "mkv mk3d", family="matroska"),
    "video/webm": _s("video", "webm", family="matroska"),
    "video/x-msvideo": _s("video", "avi divx"),
    "video/x-ms-asf": _s("video", "wmv asf wma", family="asf"),
    "video/x-ms-wmv": _s("video", "wmv asf", family="asf"),
    "video/x-flv": _s("video", "flv"),
    "video/mpeg": _s("video", "mpg mpeg mpe m1v m2v vob", family="mpeg"),
    "video/mp2t": _s("video", "ts m2ts mts m2t", family="mpeg"),
    "video/ogg": _s("video", "ogv", family="ogg"),
    # audio
    "audio/mpeg": _s("audio", "mp3 mp2 mpga"),
    "audio/mp4": _s("audio", "m4a m4b", family="isobmff"),
    "audio/x-m4a": _s("audio", "m4a m4b m4p m4r", family="isobmff"),
    "audio/aac": _s("audio", "aac adts"),
    "audio/x-hx-aac-adts": _s("audio", "aac adts"),
    "audio/flac": _s("audio", "flac"),
    "audio/ogg": _s("audio", "ogg oga opus spx", family="ogg"),
    "application/ogg": _s("audio", "ogg ogx", family="ogg"),
    "audio/wav": _s("audio", "wav wave"),
    "audio/x-wav": _s("audio", "wav wave"),
    "audio/x-aiff": _s("audio", "aif aiff aifc"),
    "audio/amr": _s("audio", "amr"),
    "audio/midi": _s("audio", "mid midi"),
    "audio/x-matroska": _s("audio", "mka", family="matroska"),
    # archives and compressed streams
    "application/zip": _s("archive", "zip", **_ZIP),
    "application/x-tar": _s("archive", "tar", container="tar"),
    "application/x-7z-compressed": _s("archive", "7z", container="7z"),
    "application/x-rar": _s("archive", "rar cbr"),
    "application/x-iso9660-image": _s("archive", "iso"),
    "application/x-cpio": _s("archive", "cpio"),
    "application/x-archive": _s("archive", "a ar"),
    "application/vnd.debian.binary-package": _s("archive", "deb udeb"),
    "application/x-rpm": _s("archive", "rpm"),
    "application/x-xar": _s("archive", "xar"),
    "application/gzip": _s("compressed", "gz tgz", container="gzip", family="gzip"),
    "application/x-bzip2": _s("compressed", "bz2 tbz2", container="bzip2", family="bzip2"),
    "application/x-xz": _s("compressed", "xz txz", container="xz", family="xz"),
    "application/x-lzma": _s("compressed", "lzma"),
    "application/zstd": _s("compressed", "zst tzst"),
    "application/x-compress": _s("compressed", "z taz"),
    # documents (zip-based ones open as zip: their embedded media are evidence)
    "application/pdf": _s("document", "pdf ai"),
    "application/postscript": _s("document", "ps eps ai"),
    "application/msword": _s("document", "doc dot", family="ole"),
    "application/vnd.ms-excel": _s("document", "xls xlt xla", family="ole"),
    "application/vnd.ms-powerpoint": _s("document", "ppt pps pot", family="ole"),
    "application/vnd.ms-outlook": _s("document", "msg", family="ole"),
    "application/x-ole-storage": _s("document", family="ole"),
    "application/CDFV2": _s("document", family="ole"),
    "text/rtf": _s("document", "rtf", family="text"),
    "message/rfc822": _s("document", "eml mht mhtml", family="text"),
    _OOXML + "wordprocessingml.document": _s("document", "docx docm", **_ZIP),
    _OOXML + "spreadsheetml.sheet": _s("document", "xlsx xlsm", **_ZIP),
    _OOXML + "presentationml.presentation": _s("document", "pptx pptm", **_ZIP),
    _ODF + "text": _s("document", "odt", **_ZIP),
    _ODF + "spreadsheet": _s("document", "ods", **_ZIP),
    _ODF + "presentation": _s("document", "odp", **_ZIP),
    _ODF + "graphics": _s("document", "odg", **_ZIP),
    "application/epub+zip": _s("document", "epub", **_ZIP),
    # executables
    "application/x-executable": _s("executable", family="elf"),
    "application/x-pie-executable": _s("executable", family="elf"),
    "application/x-sharedlib": _s("executable", "so", family="elf"),
    "application/x-object": _s("executable", "o ko", family="elf"),
    "application/vnd.microsoft.portable-executable": _s("executable", "exe dll", family="pe"),
    "application/x-dosexec": _s("executable", "exe dll", family="pe"),
    "application/x-mach-binary": _s("executable", "dylib bundle"),
    "application/x-java-applet": _s("executable", "class"),
    "application/java-archive": _s("executable", "jar", **_ZIP),
    "application/vnd.android.package-archive": _s("executable", "apk", **_ZIP),
    # databases
    "application/vnd.sqlite3": _s("database", "sqlite db sqlite3 db3", family="sqlite"),
    "application/x-dbf": _s("database", "dbf"),
    "application/x-msaccess": _s("database", "mdb accdb"),
    # text
    "text/plain": _s("text", "txt text", family="text"),
    "text/html": _s("text", "html htm xhtml", family="text"),
    "text/csv": _s("text", "csv", family="text"),
    "text/xml": _s("text", "xml", family="text"),
    "application/json": _s("text", "json", family="text"),
    "application/xml": _s("text", "xml", family="text"),
    "application/javascript": _s("text", "js mjs", family="text"),
    "application/csv": _s("text", "csv", family="text"),
    # bytes libmagic recognises no format in: encrypted, damaged, or a format it lacks
    UNKNOWN_MIME: _s("other", "bin", family="sqlite"),
}

_ALIASES = {
    # older or newer libmagic names for the same thing
    "image/x-ms-bmp": "image/bmp",
    "image/x-icon": "image/vnd.microsoft.icon",
    "application/x-gzip": "application/gzip",
    "application/x-sqlite3": "application/vnd.sqlite3",
    "application/vnd.rar": "application/x-rar",
    "application/x-zip-compressed": "application/zip",
    "audio/x-flac": "audio/flac",
    "audio/x-mpeg": "audio/mpeg",
    "text/x-csv": "text/csv",
}

_BY_PREFIX = {"image": "picture", "video": "video", "audio": "audio", "text": "text"}
_BUILTIN = mimetypes.MimeTypes()  # the stdlib's own table only: the host's files are not read


def _spec(mime: str) -> _Spec:
    spec = _SPECS.get(mime)
    if spec is None:
        kind = _BY_PREFIX.get(mime.partition("/")[0], "other")
        spec = _Spec(kind, family="text" if kind == "text" else None)
    return spec


@functools.lru_cache(maxsize=1024)
def expected_extensions(mime: str) -> tuple[str, ...]:
    """Extensions (lowercase, no dot) a content of ``mime`` is usually named with: Lanterne's
    table first, then those of the stdlib's :mod:`mimetypes`."""
    found = list(_spec(mime).extensions)
    for ext in _BUILTIN.guess_all_extensions(mime, strict=False):
        ext = ext[1:].lower()
        if ext not in found:
            found.append(ext)
    return tuple(found)


def _known_extensions() -> frozenset[str]:
    """The extensions that can make a mismatch: those Lanterne's table ties to a type whose
    signature libmagic recognises. Deliberately not every extension :mod:`mimetypes` knows:
    where libmagic names a format differently (``.pyc``: ``application/x-bytecode.python``
    against ``application/x-python-code``) or not at all (``.p12``), every such file would be a
    false alarm."""
    known: set[str] = set()
    for spec in _SPECS.values():
        known.update(spec.extensions)
    for name, family in _FAMILIES.items():
        if name != "text":  # tolerated for text, but too loosely used to accuse other bytes
            known.update(family)
    return frozenset(known - _GENERIC)


_KNOWN = _known_extensions()


def _extension(name: str) -> str:
    """The last suffix of the file name, lowercase, without the dot ('' when there is none)."""
    base = name.rsplit("/", 1)[-1]
    return os.path.splitext(base)[1][1:].lower()


def _is_mismatch(ext: str, mime: str, expected: tuple[str, ...]) -> bool:
    if not ext or ext not in _KNOWN or ext in expected:
        return False
    family = _spec(mime).family
    return family is None or ext not in _FAMILIES[family]


# --- libmagic ----------------------------------------------------------------------------------


class _Cookie(threading.local):
    """One libmagic handle per thread: a handle must not be used by two threads at once."""

    def __init__(self) -> None:
        self.magic: Any = None


_cookie = _Cookie()


def _libmagic_mime(head: bytes) -> str:
    if _cookie.magic is None:
        _cookie.magic = magic.Magic(mime=True)
    try:
        mime = _cookie.magic.from_buffer(head)
    except magic.MagicException:
        # libmagic gave up on these bytes (a limit of the tool, not damage to the evidence):
        # the file is still recorded, hashed and matched, as unknown data
        return UNKNOWN_MIME
    return str(mime)


_TS_PACKET = 188


def _looks_like_mpeg_ts(head: bytes) -> str | None:
    """MPEG transport streams that libmagic misses.

    Observed with libmagic 5.44: ``application/octet-stream`` ("data") for a transport stream
    written by FFmpeg, because its rule wants the first packet to carry PID 0 (the PAT) and
    FFmpeg writes the SDT first. Camcorder .mts/.m2ts files (192-byte packets: a 4-byte
    timestamp, then the packet) fare no better. Here: the 0x47 sync byte at every packet start
    over at least 4 packets (chance in random data: 2^-32).
    """
    for first, step in ((0, _TS_PACKET), (4, _TS_PACKET + 4)):
        count = min(8, (len(head) - first) // step)
        if count >= 4 and all(head[first + i * step] == 0x47 for i in range(count)):
            return "video/mp2t"
    return None


# --- the entry point ---------------------------------------------------------------------------


def identify(head: bytes, name: str, size: int) -> TypeInfo:
    """Type of a file from its first bytes (``head``, up to 64 KiB), its name and its size.

    Never raises for any bytes: what libmagic cannot classify is ``application/octet-stream``.
    """
    if size == 0:
        return TypeInfo(EMPTY_MIME, "empty", None, False, ())
    mime = _libmagic_mime(head)
    if mime == UNKNOWN_MIME:
        mime = _looks_like_mpeg_ts(head) or mime
    mime = _ALIASES.get(mime, mime)
    spec = _spec(mime)
    expected = expected_extensions(mime)
    mismatch = _is_mismatch(_extension(name), mime, expected)
    return TypeInfo(mime, spec.kind, spec.container, mismatch, expected)
