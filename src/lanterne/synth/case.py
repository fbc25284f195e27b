"""A small synthetic operation: several seized items of benign pictures, documents, archives
and hostile files, with the figures an ingest must find in it.

The demo, the end-to-end tests and the benchmarks need an operation that looks like a real one
to the code (a home folder, a USB stick's zip, a phone's tar, a laptop's 7z; pictures that
recur across devices, near-duplicates that travelled through a chat app, nested archives,
broken and hostile files) and whose right answer is known without running Lanterne: every file
occurrence an ingest must record (with its SHA-256 and display path) is noted while writing.
Everything is drawn from ``seed``: the same seed gives the same bytes. Names are invented.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lanterne.config import Limits
from lanterne.provenance import LAYER_SEPARATOR
from lanterne.synth import archives
from lanterne.synth.hostile import ExpectedFile, ExpectedWarning, write_hostile_set
from lanterne.synth.pictures import CameraExif, make_picture, make_variant

__all__ = ["ExpectedFile", "ExpectedWarning", "Operation", "SeizedItem", "make_operation"]

_COMPRESSED_TARS = {"tar.gz": ".tar.gz", "tgz": ".tgz", "tar.bz2": ".tar.bz2", "tar.xz": ".tar.xz"}


@dataclass(frozen=True, slots=True)
class SeizedItem:
    label: str
    path: Path
    suspect: str
    kind: str
    """``folder`` (a copied tree) or ``archive`` (one archive file handed over as is)."""


@dataclass
class Operation:
    """The items written under ``root`` and what a full nested ingest must record."""

    root: Path
    seed: int
    scale: int
    items: list[SeizedItem] = field(default_factory=list)
    files: dict[str, list[ExpectedFile]] = field(default_factory=dict)
    """Per item label: every file occurrence (containers and their members, at any depth)."""
    warnings: dict[str, list[ExpectedWarning]] = field(default_factory=dict)

    @property
    def total_files(self) -> int:
        return sum(len(f) for f in self.files.values())

    @property
    def distinct_sha256(self) -> int:
        return len({f.sha256 for files in self.files.values() for f in files})

    @property
    def pictures(self) -> int:
        """Occurrences of pictures (by content, so broken hostile pictures count)."""
        return sum(f.kind == "picture" for files in self.files.values() for f in files)

    @property
    def distinct_pictures(self) -> int:
        return len({f.sha256 for fs in self.files.values() for f in fs if f.kind == "picture"})

    @property
    def total_warnings(self) -> int:
        return sum(len(w) for w in self.warnings.values())

    def manifest(self) -> list[tuple[str, str, str]]:
        """(label, display path, SHA-256) of every expected occurrence, sorted."""
        return sorted((label, f.location, f.sha256) for label, fs in self.files.items() for f in fs)


@dataclass
class _Arc:
    """An archive to write: its kind (:data:`lanterne.synth.archives.KINDS`) and members."""

    kind: str
    members: dict[str, _Node]
    built: tuple[bytes, bytes | None] | None = None


_Node = tuple[bytes, str] | _Arc  # (bytes, kind) or an archive


def _build(node: _Node) -> tuple[bytes, bytes | None]:
    """An archive's bytes, and for a compressed tar also the tar inside."""
    if not isinstance(node, _Arc):
        return node[0], None
    if node.built is None:
        members = {name: _build(child)[0] for name, child in node.members.items()}
        if node.kind in _COMPRESSED_TARS:
            tar = archives.tar_bytes(members)
            codec = {"tgz": "gz"}.get(node.kind, node.kind.removeprefix("tar."))
            node.built = archives.compress(tar, codec), tar
        else:
            node.built = archives.archive_bytes(node.kind, members), None
    return node.built


def _record(out: list[ExpectedFile], location: str, node: _Node) -> bytes:
    """Notes ``node`` at ``location`` and, for an archive, every member inside, the way the
    archive reader names them (``x.tar.gz!/x.tar!/member``); returns the node's bytes."""
    data, tar = _build(node)
    kind = node[1] if not isinstance(node, _Arc) else "compressed" if tar else "archive"
    out.append(ExpectedFile(location, hashlib.sha256(data).hexdigest(), len(data), kind))
    if isinstance(node, _Arc):
        inner = location
        if tar is not None:
            base = location.rsplit(LAYER_SEPARATOR, 1)[-1].rsplit("/", 1)[-1]
            tar_name = base[: -len(_COMPRESSED_TARS[node.kind])] + ".tar"
            inner = location + LAYER_SEPARATOR + tar_name
            out.append(ExpectedFile(inner, hashlib.sha256(tar).hexdigest(), len(tar), "archive"))
        for name, child in node.members.items():
            _record(out, inner + LAYER_SEPARATOR + name, child)
    return data


class _Pictures:
    """Every picture of the operation, drawn from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.next_seed = seed * 100_003
        self.start = datetime(2023, 6, 1, 8, 0, tzinfo=UTC)

    def shot(self, camera: tuple[str, str, str], fmt: str = "JPEG") -> tuple[bytes, str]:
        """A camera picture with EXIF: make, model, serial, a time and a place."""
        make, model, serial = camera
        taken = self.start + timedelta(minutes=self.rng.randrange(0, 60 * 24 * 300))
        gps = (round(self.rng.uniform(43.0, 50.0), 5), round(self.rng.uniform(-1.0, 7.0), 5))
        exif = CameraExif(make, model, serial=serial, taken_at=taken, gps=gps)
        return self.plain(fmt, exif=exif), taken.strftime("%Y%m%d_%H%M%S")

    def plain(self, fmt: str = "JPEG", exif: CameraExif | None = None) -> bytes:
        self.next_seed += 1
        size = (480, 360) if exif else (320, 240)
        return make_picture(self.next_seed, size, fmt, exif=exif)

    def variant(self, data: bytes, variant: str) -> bytes:
        self.next_seed += 1
        return make_variant(data, variant, seed=self.next_seed)


def _video(seed: int) -> bytes | None:
    try:
        from lanterne.synth.videos import make_video
    except ImportError:  # PyAV missing: the operation simply has no videos
        return None
    return make_video(seed, 1.0, (160, 120), 10)


def _items(seed: int, scale: int) -> Iterator[tuple[str, str, str, dict[str, _Node] | _Arc]]:
    """(label, suspect, file name, tree) of each ordinary item."""
    pics = _Pictures(seed)
    shared = [pics.plain() for _ in range(3)]  # the same bytes turn up on several devices
    synthcam = ("Synthcam", "SC-100", f"SN-{seed:04d}-0001")
    fauxphone = ("Fauxphone", "FP-7", f"FP{seed:06d}77")
    pic = "picture"

    camera = [pics.shot(synthcam)[0] for _ in range(6 * scale)]
    pc: dict[str, _Node] = {}
    for i, data in enumerate(camera):
        pc[f"Pictures/Camera/IMG_{i + 1:04d}.jpg"] = (data, pic)
    for i in range(2 * scale):
        pc[f"Pictures/Screenshots/Screenshot_2023-07-{i + 1:02d}.png"] = (pics.plain("PNG"), pic)
    holiday: dict[str, _Node] = {
        f"holiday/DSC_{i:04d}.jpg": (pics.plain(), pic) for i in range(scale)
    }
    holiday.update({"holiday/beach.jpg": (shared[0], pic), "holiday/harbour.jpg": (shared[1], pic)})
    pc["Downloads/holiday.zip"] = _Arc("zip", holiday)
    pc["Downloads/shared-1.jpg"] = (shared[0], pic)
    pc["Documents/notes.txt"] = (b"Shopping: bread, milk, string.\n", "text")
    pc["Documents/budget.csv"] = (b"month,amount\n2023-06,120\n2023-07,95\n", "text")
    pc["Documents/letter.pdf"] = (b"%PDF-1.4\n% synthetic letter\n%%EOF\n", "document")
    pc["Documents/scan.txt"] = (pics.plain(), pic)  # a picture renamed: extension mismatch
    video = _video(seed)
    if video is not None:
        pc["Videos/clip-01.mp4"] = (video, "video")
    yield "PC-01", "Suspect A", "pc-01", pc

    photos: dict[str, _Node] = {
        f"photos/P{i:03d}.jpg": (pics.plain(), pic) for i in range(2 * scale)
    }
    photos["photos/beach.jpg"] = (shared[0], pic)
    photos["photos/IMG_0001-small.jpg"] = (pics.variant(camera[0], "resized"), pic)
    usb: dict[str, _Node] = {}
    for i in range(3 * scale):
        usb[f"DCIM/100MEDIA/DSC_{i:04d}.jpg"] = (pics.plain(), pic)
    usb["backup/docs/todo.txt"] = (b"- call the garage\n- renew the lease\n", "text")
    usb["backup/photos.tar.gz"] = _Arc("tar.gz", photos)
    yield "USB-02", "Suspect A", "usb-02.zip", _Arc("zip", usb)

    phone: dict[str, _Node] = {}
    shots = [pics.shot(fauxphone) for _ in range(4 * scale)]
    for data, when in shots:
        phone[f"DCIM/Camera/IMG_{when}.jpg"] = (data, pic)
    phone["DCIM/Camera/IMG_0001.HEIC"] = (pics.shot(fauxphone, "HEIC")[0], pic)
    chat = "WhatsApp/Media/WhatsApp Images"
    for i, data in enumerate(camera[1 : 1 + 3 * scale]):
        phone[f"{chat}/IMG-20230801-WA{i + 1:04d}.jpg"] = (pics.variant(data, "recompressed"), pic)
    phone[f"{chat}/IMG-20230802-WA0100.jpg"] = (shared[1], pic)
    if video is not None:
        phone["WhatsApp/Media/WhatsApp Video/VID-20230803-WA0001.mp4"] = (video, "video")
    phone["Pictures/Screenshots/Screenshot_20230804-101500.png"] = (pics.plain("PNG"), pic)
    yield "PHONE-03", "Suspect B", "phone-03.tar", _Arc("tar", phone)

    laptop: dict[str, _Node] = {}
    mine, found = "Users/Alex/Pictures", "Users/Alex/Pictures/found"
    for i in range(scale):
        for fmt in ("PNG", "WEBP", "GIF", "BMP", "TIFF"):
            laptop[f"{mine}/misc-{i:02d}.{fmt.lower()}"] = (pics.plain(fmt), pic)
    laptop[f"{found}/beach.jpg"] = (shared[0], pic)
    laptop[f"{found}/mirror.jpg"] = (pics.variant(shots[0][0], "mirrored"), pic)
    laptop[f"{found}/crop.jpg"] = (pics.variant(shots[1][0], "cropped"), pic)
    laptop[f"{found}/other.jpg"] = (shared[2], pic)
    laptop["Users/Alex/Documents/readme.txt"] = (b"Nothing to see here.\n", "text")
    yield "LAPTOP-04", "Suspect C", "laptop-04.7z", _Arc("7z", laptop)


def make_operation(
    root: Path, seed: int = 0, scale: int = 1, *, limits: Limits | None = None
) -> Operation:
    """Writes a synthetic operation under ``root`` and returns what an ingest must find.

    Items: ``PC-01`` (a home folder), ``USB-02`` (a zip of folders and a nested .tar.gz),
    ``PHONE-03`` (a tar of a phone's tree), ``LAPTOP-04`` (a 7z) and ``SD-05`` (a folder of
    hostile files, see :mod:`lanterne.synth.hostile`). ``scale`` multiplies the pictures;
    ``limits`` are those the ingest will use (they decide where the depth bomb stops).
    """
    if scale < 1:
        raise ValueError(f"scale must be at least 1, not {scale!r}")
    root.mkdir(parents=True, exist_ok=True)
    op = Operation(root, seed, scale)
    for label, suspect, name, tree in _items(seed, scale):
        files: list[ExpectedFile] = []
        path = root / name
        if isinstance(tree, _Arc):
            path.write_bytes(_record(files, name, tree))
            op.items.append(SeizedItem(label, path, suspect, "archive"))
        else:
            for rel, node in tree.items():
                (path / rel).parent.mkdir(parents=True, exist_ok=True)
                (path / rel).write_bytes(_record(files, rel, node))
            op.items.append(SeizedItem(label, path, suspect, "folder"))
        op.files[label], op.warnings[label] = files, []
    hostile = write_hostile_set(root / "sd-05", seed=seed, limits=limits)
    op.items.append(SeizedItem("SD-05", root / "sd-05", "Suspect C", "folder"))
    op.files["SD-05"], op.warnings["SD-05"] = hostile.files, hostile.warnings
    return op
