"""Analysis of one distinct content (run once per SHA-256, in a worker thread).

Reads nothing again when the bytes were kept by the digest pass (pictures are small); writes
the thumbnail into the case folder; returns the ``content`` row and, when the content could not
be analysed, the stable reason code (stored in ``content.error`` and as a warning on every
occurrence).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanterne.analyze.digest import ReadResult
from lanterne.analyze.filetype import TypeInfo
from lanterne.analyze.picture import analyze_picture
from lanterne.analyze.video import probe_video
from lanterne.case.store import utcnow
from lanterne.config import Limits
from lanterne.errors import CorruptData
from lanterne.evidence.base import Entry


@dataclass(frozen=True, slots=True)
class ContentResult:
    row: dict[str, Any]
    stage: str | None = None
    detail: str = ""

    @property
    def error(self) -> str | None:
        return self.row["error"]  # type: ignore[no-any-return]


def base_row(read: ReadResult, info: TypeInfo) -> dict[str, Any]:
    d = read.digests
    return {
        "sha256": d.sha256,
        "md5": d.md5,
        "sha1": d.sha1,
        "size": d.size,
        "mime": info.mime,
        "kind": info.kind,
        "error": None,
        "analyzed_at": utcnow(),
    }


def needs_analysis(info: TypeInfo) -> bool:
    return info.kind in ("picture", "video")


def analyze_content(
    entry: Entry, read: ReadResult, info: TypeInfo, limits: Limits, thumbnail: Path
) -> ContentResult:
    row = base_row(read, info)
    stage = info.kind
    try:
        if info.kind == "picture":
            row.update(_picture(entry, read, limits, thumbnail))
        elif info.kind == "video":
            row.update(_video(entry, limits))
    except CorruptData as exc:
        row["error"] = exc.reason
        return ContentResult(row, stage, exc.detail)
    except OSError as exc:
        row["error"] = "unreadable"
        return ContentResult(row, stage, exc.strerror or str(exc))
    if row.pop("truncated", False):  # facts from the header of a video cut short
        row["error"] = "truncated"
        return ContentResult(row, stage, "the file ends inside its boxes; facts from the header")
    return ContentResult(row)


def _picture(entry: Entry, read: ReadResult, limits: Limits, thumbnail: Path) -> dict[str, Any]:
    if read.digests.size > limits.picture_max_bytes:
        raise CorruptData("too-large", f"{read.digests.size} bytes; limit picture_max_bytes")
    data = read.data
    if data is None:  # larger than what the digest pass keeps: read once more
        with entry.open() as f:
            data = f.read()
    facts = analyze_picture(data, limits)
    if facts.thumbnail:
        thumbnail.parent.mkdir(parents=True, exist_ok=True)
        tmp = thumbnail.with_suffix(f".{os.getpid()}.{id(facts)}.tmp")
        tmp.write_bytes(facts.thumbnail)
        tmp.replace(thumbnail)
    return {
        "format": facts.format,
        "width": facts.width,
        "height": facts.height,
        "pdq": facts.pdq,
        "pdq_quality": facts.pdq_quality,
        "pdq_dihedral": ",".join(facts.pdq_dihedral) if facts.pdq_dihedral else None,
        "camera_make": facts.camera_make,
        "camera_model": facts.camera_model,
        "camera_serial": facts.camera_serial,
        "lens": facts.lens,
        "taken_at": facts.taken_at,
        "gps_lat": facts.gps_lat,
        "gps_lon": facts.gps_lon,
        "orientation": facts.orientation,
        "thumbnail": facts.thumbnail is not None,
    }


def _video(entry: Entry, limits: Limits) -> dict[str, Any]:
    if entry.local_path is not None:
        facts = probe_video(entry.local_path, limits)
    else:
        with entry.open() as f:
            facts = probe_video(f, limits)
    return {
        "format": facts.container[:32] if facts.container else None,
        "width": facts.width,
        "height": facts.height,
        "duration": facts.duration,
        "codec": facts.codec,
        "fps": facts.fps,
        "truncated": facts.truncated,
    }
