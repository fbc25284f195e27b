"""Registering seized items as evidence of a case, and finding the source that walks each."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from lanterne.analyze.digest import sha256_file
from lanterne.analyze.filetype import identify
from lanterne.case.store import EvidenceRecord
from lanterne.case.workspace import Case
from lanterne.config import Limits
from lanterne.errors import CorruptData, NotMyFormat, UserError
from lanterne.evidence.apps import phone_platform_of
from lanterne.evidence.base import EvidenceSource
from lanterne.evidence.disk.ewf import is_ewf, read_acquisition
from lanterne.evidence.disk.source import DiskImageSource
from lanterne.evidence.disk.volumes import media, media_size, scan_volumes
from lanterne.evidence.folder import FileSource, FolderSource, folder_size
from lanterne.progress import NoProgress, Progress
from lanterne.provenance import display_path

SOURCES: dict[str, type[EvidenceSource]] = {}


def register_source(cls: type[EvidenceSource]) -> None:
    """Make an evidence kind known; names are unique."""
    if cls.NAME in SOURCES:
        raise ValueError(f"an evidence source named {cls.NAME!r} is already registered")
    SOURCES[cls.NAME] = cls


register_source(FolderSource)
register_source(FileSource)
register_source(DiskImageSource)

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


KINDS = ("folder", "file", "archive", "disk-image", "phone")
"""Evidence kinds ``evidence add --kind`` accepts (besides those of plugins)."""


def source_for(record: EvidenceRecord, limits: Limits | None = None) -> EvidenceSource:
    path = Path(record.location)
    if record.kind == DiskImageSource.NAME:
        return DiskImageSource(path, limits, record.unlock)
    if record.kind == FolderSource.NAME or (record.kind == "phone" and path.is_dir()):
        return FolderSource(path)
    if record.kind in ("archive", "phone", FileSource.NAME):
        return FileSource(path)
    if record.kind in SOURCES:  # a plugin's
        return SOURCES[record.kind](path)  # type: ignore[call-arg]
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
    kind: str | None = None,
    unlock: str | None = None,
    device: Device | None = None,
) -> EvidenceRecord:
    """Register a seized folder, archive, disk image or phone extraction; the kind is detected
    unless given. Checks everything before writing anything."""
    progress = progress or NoProgress()
    device = (device or Device()).checked()
    label = label.strip()
    if not label:
        raise UserError("an evidence label must not be empty")
    if case.store.evidence_by_label(label) is not None:
        raise UserError(
            f"an evidence item labelled {label!r} is already registered in this case;"
            " choose another --label"
        )
    if kind is not None and kind not in KINDS and kind not in SOURCES:
        raise UserError(f"unknown evidence kind {kind!r}; choose one of {', '.join(KINDS)}")
    path = path.absolute()
    if not path.exists():
        raise UserError(f"{path} does not exist; check the path of the seized item")
    if path == case.root or case.root in path.parents or path in case.root.parents:
        raise UserError(f"{path} overlaps the case folder {case.root}; keep evidence apart")
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise UserError(f"{path} is not readable by this user; check its permissions")
    found = _identify(path, progress, unlock, probe_image=kind != FileSource.NAME)
    if kind == DiskImageSource.NAME and found.kind != kind and path.is_file():
        # no partition table or file system recognised: still read as an image (carving)
        fmt, _ = media(path)
        details = {"scan_error": "no partition table or file system recognised"}
        found = Identified(kind, found.size, found.sha256, fmt, details)
    elif kind is not None and kind != found.kind:
        found = Identified(kind, found.size, found.sha256, found.format, found.details)
    if found.kind == DiskImageSource.NAME and not path.is_file():
        raise UserError(f"{path} is not a file: a disk image is registered by its first file")
    if unlock and found.kind != "disk-image":
        raise UserError("--unlock applies to disk images with encrypted volumes only")
    return case.store.add_evidence(
        label=label,
        kind=found.kind,
        location=str(path),
        suspect=suspect,
        size=found.size,
        sha256=found.sha256,
        registered_by=examiner or getpass.getuser(),
        format=found.format,
        details=json.dumps(found.details, sort_keys=True) if found.details else None,
        unlock=unlock or None,
        **device.columns(),
    )


DEVICE_TYPES = ("computer", "phone", "storage", "camera", "other")
"""What a seized device is, for the operation's figures (computers, storage media, phones)."""


@dataclass(frozen=True, slots=True)
class Device:
    """The seized device an evidence item was taken from: its type and, for production
    indicators, the make, model and serial number its pictures' EXIF would carry."""

    type: str | None = None
    make: str | None = None
    model: str | None = None
    serial: str | None = None

    def checked(self) -> Device:
        if self.type is not None and self.type not in DEVICE_TYPES:
            raise UserError(
                f"unknown device type {self.type!r}; choose one of {', '.join(DEVICE_TYPES)}"
            )
        return Device(*(v.strip() or None if v else None for v in self._values()))

    def _values(self) -> tuple[str | None, ...]:
        return (self.type, self.make, self.model, self.serial)

    def columns(self) -> dict[str, str | None]:
        return dict(
            zip(
                ("device_type", "device_make", "device_model", "device_serial"),
                self._values(),
                strict=True,
            )
        )


def set_device(case: Case, label: str, device: Device) -> EvidenceRecord:
    """Record (or correct) the device facts of a registered item; facts not given are kept."""
    ev = case.store.evidence_by_label(label)
    if ev is None:
        raise UserError(f"no evidence item labelled {label!r}; see `lanterne evidence list`")
    values = {k: v for k, v in device.checked().columns().items() if v is not None}
    if values:
        case.store.update_evidence(ev.id, **values)
    found = case.store.evidence_by_label(label)
    assert found is not None
    return found


@dataclass(frozen=True, slots=True)
class Identified:
    kind: str
    size: int
    sha256: str | None
    format: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _identify(
    path: Path, progress: Progress, unlock: str | None, probe_image: bool = True
) -> Identified:
    """What a seized item is: its kind, size, SHA-256 (files), image format and details
    (a file is probed as a disk image only when ``probe_image``)."""
    if path.is_dir():
        platform = phone_platform_of(path, None)
        if platform:
            return Identified("phone", folder_size(path), None, details={"platform": platform})
        return Identified(FolderSource.NAME, folder_size(path), None)
    if not path.is_file():
        raise UserError(f"{path} is neither a folder nor a regular file")
    size = path.stat().st_size
    sha256, head = sha256_file(path, progress)
    info = identify(head, path.name, size)
    if info.container:
        platform = phone_platform_of(path, info.container)
        if platform:
            return Identified("phone", size, sha256, details={"platform": platform})
        return Identified("archive", size, sha256)
    image = _disk_image(path, size, sha256, unlock) if probe_image else None
    return image or Identified(FileSource.NAME, size, sha256)


def _disk_image(path: Path, size: int, sha256: str, unlock: str | None) -> Identified | None:
    """A disk image's format, volumes and (EWF) acquisition facts; None when it is not one."""
    details: dict[str, Any] = {}
    ewf = is_ewf(path)
    if ewf:
        try:
            acquisition = read_acquisition(path)
            details["acquisition"] = acquisition.to_json()
            size = acquisition.media_size
        except CorruptData as exc:
            details["acquisition_error"] = f"{exc.reason}: {exc.detail}"
    if not ewf:
        size = media_size(path) or size
    try:
        scan = scan_volumes(path, unlock)
    except NotMyFormat as exc:
        if not ewf:
            return None
        details["scan_error"] = str(exc)
        return Identified(DiskImageSource.NAME, size, sha256, "ewf", details)
    details["volumes"] = [
        {
            "path": display_path(v.steps),
            "file_system": v.type_indicator.lower(),
            "offset": v.offset,
        }
        for v in scan.file_systems
    ]
    details["locked"] = [
        {"path": display_path(v.steps), "encryption": v.encryption} for v in scan.locked
    ]
    return Identified(DiskImageSource.NAME, size, sha256, scan.image_format, details)
