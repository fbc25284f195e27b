"""Analysis of one distinct content (run once per SHA-256, in a worker thread).

Reads nothing again when the bytes were kept by the digest pass (pictures are small); writes
the thumbnail into the case folder; returns the ``content`` row and, when the content could not
be analysed, the stable reason code (stored in ``content.error`` and as a warning on every
occurrence).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from lanterne.analyze.digest import ReadResult
from lanterne.analyze.filetype import TypeInfo
from lanterne.analyze.picture import analyze_picture
from lanterne.analyze.video import probe_video
from lanterne.analyze.vpdq import CONTACT_SHEET_SECONDS, collapse, contact_sheet, hash_frames
from lanterne.case.store import utcnow
from lanterne.config import Limits
from lanterne.errors import CorruptData
from lanterne.evidence.base import Entry


@dataclass(frozen=True, slots=True)
class ContentResult:
    row: dict[str, Any]
    stage: str | None = None
    detail: str = ""
    frames: list[dict[str, Any]] = field(default_factory=list)
    """``video_frame`` rows of a video."""

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
    frames: list[dict[str, Any]] = []
    try:
        if info.kind == "picture":
            row.update(_picture(entry, read, limits, thumbnail))
        elif info.kind == "video":
            row.update(_video(entry, limits))
            if limits.video_frames:
                stage = "video-frames"
                frames = _video_frames(entry, read.digests.sha256, limits, thumbnail, row)
    except CorruptData as exc:
        row["error"] = exc.reason
        row.pop("truncated", None)
        return ContentResult(row, stage, exc.detail, frames)
    except OSError as exc:
        row["error"] = "unreadable"
        row.pop("truncated", None)
        return ContentResult(row, stage, exc.strerror or str(exc), frames)
    if row.pop("truncated", False):  # facts from the header of a video cut short
        row["error"] = "truncated"
        detail = "the file ends before its video does: facts and frames from what is there"
        return ContentResult(row, info.kind, detail, frames)
    return ContentResult(row, frames=frames)


def _picture(entry: Entry, read: ReadResult, limits: Limits, thumbnail: Path) -> dict[str, Any]:
    if read.digests.size > limits.picture_max_bytes:
        raise CorruptData("too-large", f"{read.digests.size} bytes; limit picture_max_bytes")
    data = read.data
    if data is None:  # larger than what the digest pass keeps: read once more
        with entry.open() as f:
            data = f.read()
    facts = analyze_picture(data, limits)
    if facts.thumbnail:
        _write_atomic(thumbnail, facts.thumbnail)
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


def _video_frames(
    entry: Entry, sha256: str, limits: Limits, thumbnail: Path, row: dict[str, Any]
) -> list[dict[str, Any]]:
    """vPDQ frame hashes (near-identical neighbours collapsed) and the contact sheet, kept as
    the video's thumbnail; sets ``frames_hashed`` (and ``truncated``) in ``row``."""
    budget = limits.video_hash_seconds
    with _source(entry) as src:
        hashes = hash_frames(
            src,
            seconds_per_hash=limits.video_seconds_per_hash,
            budget_seconds=budget,
            max_pixels=limits.video_max_pixels,
        )
    row["frames_hashed"] = len(hashes.frames)
    row["truncated"] = row.get("truncated", False) or hashes.truncated
    frames = [
        {
            "sha256": sha256,
            "frame": run.first.frame,
            "timestamp": run.first.timestamp,
            "until": run.last_timestamp,
            "pdq": run.first.pdq,
            "quality": run.first.quality,
        }
        for run in collapse(hashes.frames)
    ]
    with _source(entry) as src:
        sheet = contact_sheet(
            src,
            budget_seconds=min(budget, CONTACT_SHEET_SECONDS),
            max_pixels=limits.video_max_pixels,
        )
    _write_atomic(thumbnail, sheet)
    row["thumbnail"] = True
    return frames


@contextlib.contextmanager
def _source(entry: Entry) -> Iterator[Path | BinaryIO]:
    """The entry's path when it has one (FFmpeg then reads the file itself), else a stream."""
    if entry.local_path is not None:
        yield entry.local_path
    else:
        with entry.open() as f:
            yield f


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _video(entry: Entry, limits: Limits) -> dict[str, Any]:
    with _source(entry) as src:
        facts = probe_video(src, limits)
    return {
        "format": facts.container[:32] if facts.container else None,
        "width": facts.width,
        "height": facts.height,
        "duration": facts.duration,
        "codec": facts.codec,
        "fps": facts.fps,
        "rotation": facts.rotation,
        "audio_codec": facts.audio_codec,
        "created": facts.created,
        "truncated": facts.truncated,
    }
