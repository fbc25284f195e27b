"""Finding the file systems of a disk image: dfVFS' volume scanner, every partition and volume.

The scanner recognises the image format (EWF, raw and split raw, VMDK, VHD/VHDX, QCOW2 …), the
volume systems (MBR, GPT, APFS containers, LVM …) and encryption (BitLocker, LUKS, FileVault,
APFS), and returns one *base path spec* per file system, e.g.
``OS → EWF → GPT /p2 → EXT /``. Each layer between the image file and the file system becomes a
provenance step; encrypted volumes it cannot unlock are reported, not skipped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfvfs.analyzer import analyzer
from dfvfs.credentials import manager as credentials_manager
from dfvfs.helpers import volume_scanner
from dfvfs.lib import definitions, errors
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import resolver
from dfvfs.volume import factory as volume_factory

from lanterne.errors import NotMyFormat
from lanterne.provenance import Step

IMAGE_TYPES = {
    definitions.TYPE_INDICATOR_EWF: "ewf",
    definitions.TYPE_INDICATOR_RAW: "raw",
    definitions.TYPE_INDICATOR_VMDK: "vmdk",
    definitions.TYPE_INDICATOR_VHDI: "vhd",
    definitions.TYPE_INDICATOR_QCOW: "qcow2",
    definitions.TYPE_INDICATOR_PHDI: "phdi",
    definitions.TYPE_INDICATOR_MODI: "modi",
}
"""dfVFS storage-media image types and the names the case records."""

ENCRYPTION_TYPES = {
    definitions.TYPE_INDICATOR_BDE: "bitlocker",
    definitions.TYPE_INDICATOR_LUKSDE: "luks",
    definitions.TYPE_INDICATOR_CS: "filevault",
    definitions.TYPE_INDICATOR_APFS: "apfs-encrypted",
}
"""Layers that hold an encrypted volume (a locked APFS volume shows as APFS itself)."""

VOLUME_TYPES = {
    definitions.TYPE_INDICATOR_GPT: "gpt",
    definitions.TYPE_INDICATOR_TSK_PARTITION: "mbr",  # (and BSD/Sun labels, rarely)
    definitions.TYPE_INDICATOR_APM: "apm",
    definitions.TYPE_INDICATOR_LVM: "lvm",
    definitions.TYPE_INDICATOR_APFS_CONTAINER: "apfs",
}
"""Volume systems, as named in provenance (``volume gpt/p2``, ``volume mbr/p1``)."""

FILE_SYSTEM_TYPES = {
    definitions.TYPE_INDICATOR_NTFS: "ntfs",
    definitions.TYPE_INDICATOR_FAT: "fat",
    definitions.TYPE_INDICATOR_EXT: "ext",
    definitions.TYPE_INDICATOR_HFS: "hfs",
    definitions.TYPE_INDICATOR_APFS: "apfs",
    definitions.TYPE_INDICATOR_XFS: "xfs",
    definitions.TYPE_INDICATOR_TSK: "tsk",
}

TSK_FILE_SYSTEMS = {
    definitions.TYPE_INDICATOR_NTFS,
    definitions.TYPE_INDICATOR_FAT,
    definitions.TYPE_INDICATOR_EXT,
    definitions.TYPE_INDICATOR_HFS,
    definitions.TYPE_INDICATOR_TSK,
}
"""File systems The Sleuth Kit reads, with their deleted entries (dfVFS' own back ends omit
them, see ../shared/FORENSICS.md)."""


@dataclass(frozen=True, slots=True)
class FileSystemVolume:
    """One file system found in the image."""

    path_spec: Any
    """dfVFS base path spec of the file system (its parent is the volume holding it)."""
    steps: tuple[Step, ...]
    """Provenance from the image file down to the volume (image, partition, decryption)."""
    type_indicator: str
    offset: int | None
    """Byte offset of the volume in the media, when it is a partition."""
    media_spec: Any = None
    """The image layer (EWF, raw …) holding the file system at ``media_offset``, when only
    partitions lie between them (no encryption, no LVM): files can be read from it directly."""
    media_offset: int | None = None

    @property
    def uses_tsk(self) -> bool:
        return self.type_indicator in TSK_FILE_SYSTEMS


@dataclass(frozen=True, slots=True)
class LockedVolume:
    steps: tuple[Step, ...]
    encryption: str


@dataclass(slots=True)
class VolumeScan:
    image_format: str
    file_systems: list[FileSystemVolume] = field(default_factory=list)
    locked: list[LockedVolume] = field(default_factory=list)


class _Mediator(volume_scanner.VolumeScannerMediator):  # type: ignore[misc]
    """Answers the scanner's questions without a person: every partition and volume, no
    shadow copies; an encrypted volume the supplied secrets do not open is noted as locked."""

    def __init__(self) -> None:
        self.locked: list[Any] = []

    def GetAPFSVolumeIdentifiers(self, volume_system: Any, identifiers: list[str]) -> list[str]:
        return identifiers

    def GetLVMVolumeIdentifiers(self, volume_system: Any, identifiers: list[str]) -> list[str]:
        return identifiers

    def GetPartitionIdentifiers(self, volume_system: Any, identifiers: list[str]) -> list[str]:
        return identifiers

    def GetVSSStoreIdentifiers(self, volume_system: Any, identifiers: list[str]) -> list[str]:
        return []

    def UnlockEncryptedVolume(
        self, scanner: Any, scan_context: Any, locked_scan_node: Any, credentials: Any
    ) -> bool:
        self.locked.append(locked_scan_node.path_spec)
        return False


def scan_volumes(path: Path, unlock: str | None = None) -> VolumeScan:
    """The file systems in the image at ``path``; ``unlock`` is tried as the password and the
    recovery key of encrypted volumes. Raises :class:`NotMyFormat` when ``path`` is not a disk
    image at all, and :class:`~lanterne.errors.CorruptData`-free: damaged layers surface as
    fewer file systems, which the caller reports."""
    options = volume_scanner.VolumeScannerOptions()
    options.partitions = ["all"]
    options.volumes = ["all"]
    options.snapshots = ["none"]
    if unlock:
        options.credentials = [("password", unlock), ("recovery_password", unlock)]
    mediator = _Mediator()
    scanner = volume_scanner.VolumeScanner(mediator=mediator)
    try:
        specs = scanner.GetBasePathSpecs(str(path), options=options)
    except (errors.ScannerError, errors.BackEndError, OSError, ValueError, RuntimeError) as exc:
        raise NotMyFormat(f"{path.name}: no disk image or file system recognised ({exc})") from exc
    if any(spec.type_indicator == definitions.TYPE_INDICATOR_OS for spec in specs):
        raise NotMyFormat(f"{path.name} is not a disk image")  # a plain file or folder
    image = _image_format(specs[0] if specs else (mediator.locked or [None])[0])
    scan = VolumeScan(image_format=image)
    for spec in specs:
        steps, offset = _layers(spec.parent)
        media_spec, media_offset = _media_position(spec.parent, steps)
        scan.file_systems.append(
            FileSystemVolume(spec, steps, spec.type_indicator, offset, media_spec, media_offset)
        )
    for spec in mediator.locked:
        steps, _ = _layers(spec)
        scan.locked.append(LockedVolume(steps, ENCRYPTION_TYPES.get(spec.type_indicator, "?")))
    return scan


def media(path: Path) -> tuple[str, Any]:
    """The image format and the dfVFS path spec of the media of the image at ``path`` (the
    bytes of the acquired drive), found by signature alone: what is left to read when no
    partition table or file system is recognised."""
    os_spec = path_spec_factory.Factory.NewPathSpec(
        definitions.TYPE_INDICATOR_OS, location=str(path)
    )
    try:
        found = analyzer.Analyzer.GetStorageMediaImageTypeIndicators(os_spec)
    except (errors.Error, OSError, ValueError):
        found = []
    indicator = found[0] if len(found) == 1 else definitions.TYPE_INDICATOR_RAW
    spec = path_spec_factory.Factory.NewPathSpec(indicator, parent=os_spec)
    return IMAGE_TYPES.get(indicator, "raw"), spec


def media_size(path: Path) -> int | None:
    """The size of the media (the acquired drive) in the image at ``path``: for split, EWF and
    virtual-disk images not the size of the file; None when it cannot be read."""
    _, spec = media(path)
    try:
        file_object = resolver.Resolver.OpenFileObject(spec)
        return int(file_object.get_size())
    except (errors.Error, OSError, ValueError, RuntimeError):  # libyal raises RuntimeError
        return None


def _image_format(spec: Any) -> str:
    while spec is not None:
        if spec.type_indicator in IMAGE_TYPES:
            return IMAGE_TYPES[spec.type_indicator]
        spec = getattr(spec, "parent", None)
    return "raw"


def _layers(spec: Any) -> tuple[tuple[Step, ...], int | None]:
    """Provenance steps for the layers below the image file, outermost first, and the byte
    offset of the innermost partition."""
    chain = []
    while spec is not None and spec.type_indicator != definitions.TYPE_INDICATOR_OS:
        chain.append(spec)
        spec = getattr(spec, "parent", None)
    steps: list[Step] = []
    offset = None
    for layer in reversed(chain):
        ti = layer.type_indicator
        location = getattr(layer, "location", None) or ""
        if ti in IMAGE_TYPES:
            steps.append(Step("image", IMAGE_TYPES[ti]))
        elif ti in ENCRYPTION_TYPES:
            steps.append(Step("encrypted", ENCRYPTION_TYPES[ti] + location))
        else:
            offset = _volume_offset(layer)
            name = VOLUME_TYPES.get(ti, ti.lower())
            steps.append(Step("volume", f"{name}{location}", offset=offset))
    return tuple(steps), offset


_PARTITION_TYPES = {
    definitions.TYPE_INDICATOR_GPT,
    definitions.TYPE_INDICATOR_TSK_PARTITION,
    definitions.TYPE_INDICATOR_APM,
}


def _media_position(spec: Any, steps: tuple[Step, ...]) -> tuple[Any, int | None]:
    """The image-layer spec and the byte offset in it of the volume ``spec``, when only plain
    partitions lie between them; else (None, None)."""
    offset = 0
    for step in steps:
        if step.kind == "volume":
            if step.offset is None:
                return None, None
            offset += step.offset
    while spec is not None and spec.type_indicator not in IMAGE_TYPES:
        if spec.type_indicator not in _PARTITION_TYPES:
            return None, None
        spec = spec.parent
    return spec, (offset if spec is not None else None)


def _volume_offset(spec: Any) -> int | None:
    """Byte offset of a partition or volume in its parent, where the volume system says it."""
    location = getattr(spec, "location", None)
    if not location or spec.parent is None:
        return None
    try:
        system = volume_factory.Factory.NewVolumeSystem(spec.type_indicator)
        root = path_spec_factory.Factory.NewPathSpec(
            spec.type_indicator, location="/", parent=spec.parent
        )
        system.Open(root)
        volume = system.GetVolumeByIdentifier(location.lstrip("/"))
        extents = volume.extents if volume is not None else []
        return int(extents[0].offset) if extents else None
    except (errors.Error, KeyError, OSError, ValueError, AttributeError):
        return None


def credentials_for(spec: Any) -> list[str]:
    """The credential types dfVFS accepts for an encrypted volume type (for messages)."""
    creds = credentials_manager.CredentialsManager.GetCredentials(spec)
    return sorted(creds.CREDENTIALS) if creds else []
