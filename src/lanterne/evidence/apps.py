"""Known application data in seized items, and phone extractions by their layout.

Messaging importers need to find, say, Signal's database among millions of files; the ingest
already sees every path, so it records where each known marker file lies (table ``app_data``)
and an importer starts from there. A marker is matched on the path inside its innermost layer
(a folder, an archive, a file system), so it is found on a phone extraction, inside a zip of
one, and on a seized computer's disk image alike.
"""

from __future__ import annotations

import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lanterne.provenance import Provenance


@dataclass(frozen=True, slots=True)
class AppMarker:
    app: str
    marker: str
    """What the matched file is, for a person (``Signal Android database``)."""
    pattern: re.Pattern[str]


def _m(app: str, marker: str, pattern: str) -> AppMarker:
    return AppMarker(app, marker, re.compile(pattern))


MARKERS = (
    _m(
        "signal-android",
        "Signal Android database",
        r"(?:^|/)(?:data/data|data/user/\d+)/org\.thoughtcrime\.securesms/databases/signal\.db$",
    ),
    _m(
        "signal-android-backup",
        "Signal Android on-device backup",
        r"(?:^|/)signal-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.backup$",
    ),
    _m("signal-ios", "Signal iOS database", r"(?:^|/)grdb/signal\.sqlite$"),
    _m(
        "signal-desktop",
        "Signal Desktop profile (config.json beside sql/db.sqlite)",
        r"(?:^|/)Signal(?: Beta)?/sql/db\.sqlite$",
    ),
    _m(
        "whatsapp-android",
        "WhatsApp Android message database",
        r"(?:^|/)com\.whatsapp(?:\.w4b)?/databases/msgstore\.db$",
    ),
    _m("whatsapp-ios", "WhatsApp iOS message database", r"(?:^|/)ChatStorage\.sqlite$"),
    _m(
        "telegram-android",
        "Telegram Android cache database",
        r"(?:^|/)org\.telegram\.messenger(?:\.web)?/files/cache4\.db$",
    ),
    _m(
        "threema-android",
        "Threema Android database",
        r"(?:^|/)ch\.threema\.app(?:\.work)?/databases/threema4\.db$",
    ),
)


def app_markers(chain: Provenance) -> list[AppMarker]:
    """The known application data the file at ``chain`` marks (usually none)."""
    path = chain[-1].path
    if not path.endswith((".db", ".sqlite", ".backup")):
        return []
    return [m for m in MARKERS if m.pattern.search(path)]


# --------------------------------------------------------------- phone extractions
_PHONE_LAYOUTS = (
    ("android", re.compile(r"^(?:[^/]+/)?(?:data/data|data/user/\d+|data/app)/")),
    ("ios", re.compile(r"^(?:[^/]+/)?private/var/(?:mobile|containers)/")),
)
MAX_NAMES = 20_000
"""Member names looked at when telling a phone extraction from another archive."""


def phone_platform(names: list[str]) -> str | None:
    """``android`` or ``ios`` when these paths (relative, ``/``-separated) are those of a
    phone's file system (at the top or under one wrapping folder), else None."""
    for name in names:
        clean = name.lstrip("./")
        for platform, layout in _PHONE_LAYOUTS:
            if layout.match(clean):
                return platform
    return None


def phone_platform_of(path: Path, container: str | None) -> str | None:
    """The phone platform of a folder, zip or tar at ``path`` (None when it is not one)."""
    try:
        if path.is_dir():
            return phone_platform(_folder_names(path))
        if container == "zip":
            with zipfile.ZipFile(path) as zf:
                return phone_platform(zf.namelist()[:MAX_NAMES])
        if container in ("tar", "gzip", "bzip2", "xz"):
            with tarfile.open(path, "r:*") as tf:
                names = []
                for member in tf:
                    names.append(member.name)
                    if len(names) >= MAX_NAMES:
                        break
                return phone_platform(names)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError):
        return None
    return None


def _folder_names(root: Path) -> list[str]:
    """The paths three levels deep under ``root`` (enough to see a phone's layout)."""
    names = []
    for first in _children(root):
        for second in _children(first):
            for third in _children(second):
                names.append(third.relative_to(root).as_posix() + "/")
                for fourth in _children(third):
                    names.append(fourth.relative_to(root).as_posix() + "/")
    return names[:MAX_NAMES]


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
