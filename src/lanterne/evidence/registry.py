"""Registering seized items as evidence of a case, and finding the source that walks each."""

from __future__ import annotations

import getpass
import hashlib
import os
from importlib.metadata import entry_points
from pathlib import Path

from lanterne.analyze.filetype import identify
from lanterne.case.store import EvidenceRecord
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.evidence.base import EvidenceSource
from lanterne.evidence.folder import FileSource, FolderSource, folder_size
from lanterne.progress import NoProgress, Progress

SOURCES: dict[str, type[EvidenceSource]] = {}


def register_source(cls: type[EvidenceSource]) -> None:
    """Make an evidence kind known; names are unique."""
    if cls.NAME in SOURCES:
        raise ValueError(f"an evidence source named {cls.NAME!r} is already registered")
    SOURCES[cls.NAME] = cls


register_source(FolderSource)
register_source(FileSource)

ENTRY_POINT_GROUP = "lanterne.evidence_sources"


def load_plugins() -> list[str]:
    """Register the evidence sources other packages declare under the entry-point group
    ``lanterne.evidence_sources``; returns their names. Explicit: nothing loads on import."""
    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, EvidenceSource)):
            raise UserError(f"entry point {ep.name!r} ({ep.value}) is not an EvidenceSource")
        if SOURCES.get(cls.NAME) is not cls:
            register_source(cls)
            loaded.append(cls.NAME)
    return loaded


def source_for(record: EvidenceRecord) -> EvidenceSource:
    path = Path(record.location)
    if record.kind == FolderSource.NAME:
        return FolderSource(path)
    if record.kind in ("archive", FileSource.NAME):
        return FileSource(path)
    raise UserError(
        f"evidence {record.label!r} is of kind {record.kind!r}, which this version "
        "of Lanterne cannot read"
    )


def add_evidence(
    case: Case,
    path: Path,
    label: str,
    suspect: str | None = None,
    examiner: str | None = None,
    progress: Progress | None = None,
) -> EvidenceRecord:
    """Register a seized folder or archive file. Checks everything before writing anything."""
    progress = progress or NoProgress()
    label = label.strip()
    if not label:
        raise UserError("an evidence label must not be empty")
    if case.store.evidence_by_label(label) is not None:
        raise UserError(
            f"an evidence item labelled {label!r} is already registered in this case;"
            " choose another --label"
        )
    path = path.absolute()
    if not path.exists():
        raise UserError(f"{path} does not exist; check the path of the seized item")
    if path == case.root or case.root in path.parents or path in case.root.parents:
        raise UserError(f"{path} overlaps the case folder {case.root}; keep evidence apart")
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise UserError(f"{path} is not readable by this user; check its permissions")
    sha256: str | None = None
    if path.is_dir():
        kind, size = FolderSource.NAME, folder_size(path)
    elif path.is_file():
        size = path.stat().st_size
        sha256, head = _hash_file(path, size, progress)
        info = identify(head, path.name, size)
        kind = "archive" if info.container else FileSource.NAME
    else:
        raise UserError(f"{path} is neither a folder nor a regular file")
    return case.store.add_evidence(
        label=label,
        kind=kind,
        location=str(path),
        suspect=suspect,
        size=size,
        sha256=sha256,
        registered_by=examiner or getpass.getuser(),
    )


def _hash_file(path: Path, size: int, progress: Progress) -> tuple[str, bytes]:
    """SHA-256 of a file at registration, and its first 64 KiB for identification."""
    h = hashlib.sha256()
    head = b""
    progress.start(f"hashing {path.name}", size)
    try:
        with path.open("rb", buffering=0) as f:
            while chunk := f.read(1 << 20):
                if not head:
                    head = chunk[:65536]
                h.update(chunk)
                progress.advance(nbytes=len(chunk))
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
    finally:
        progress.finish()
    return h.hexdigest(), head
