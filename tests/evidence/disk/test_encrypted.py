"""Encrypted volumes: reported when locked, read when the examiner supplies the passphrase."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lanterne.case.workspace import Case
from lanterne.evidence.base import Entry, EntryWarning
from lanterne.evidence.disk.source import DiskImageSource
from lanterne.evidence.registry import add_evidence
from lanterne.provenance import Step
from lanterne.synth.disks import ext4_image
from lanterne.synth.encrypted import luks_image
from lanterne.synth.pictures import make_picture
from testkit import need_tools

ROOT = (Step("evidence", "LAPTOP-1"),)


def _luks(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    need_tools("mke2fs", "debugfs", "cryptsetup")
    src = tmp_path / "src"
    (src / "Pictures").mkdir(parents=True)
    files = {"Pictures/a.jpg": make_picture(21, (320, 200)), "notes.txt": b"locked away\n"}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    fs = ext4_image(src, tmp_path / "fs.img", 8)
    image = luks_image(fs, tmp_path / "laptop.img", "correct horse")
    return image, {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}


def test_locked_volume_is_reported(tmp_path: Path) -> None:
    image, _ = _luks(tmp_path)
    items = list(DiskImageSource(image).walk(ROOT))
    assert not [i for i in items if isinstance(i, Entry)]
    warnings = [i for i in items if isinstance(i, EntryWarning)]
    assert [(w.reason, w.provenance[-1]) for w in warnings] == [
        ("encrypted", Step("encrypted", "luks"))
    ]
    assert "--unlock" in warnings[0].detail


def test_unlocked_with_the_passphrase(tmp_path: Path) -> None:
    image, want = _luks(tmp_path)
    entries = [i for i in DiskImageSource(image, unlock="correct horse").walk(ROOT)]
    got = {}
    for e in entries:
        assert isinstance(e, Entry), e
        with e.open() as f:
            got[e.provenance[-1].path] = hashlib.sha256(f.read()).hexdigest()
    assert want.items() <= got.items()
    assert [s.kind for s in entries[0].provenance[:-1]] == ["evidence", "image", "encrypted"]


def test_registration_records_locked_volumes(case: Case, tmp_path: Path) -> None:
    image, _ = _luks(tmp_path)
    ev = add_evidence(case, image, "LAPTOP-1")
    assert (ev.kind, ev.details_json["locked"]) == (
        "disk-image",
        [{"path": "raw!/luks", "encryption": "luks"}],
    )
    ev2 = add_evidence(case, image, "LAPTOP-1-UNLOCKED", unlock="correct horse")
    assert ev2.details_json["locked"] == [] and ev2.unlock == "correct horse"
    assert [v["file_system"] for v in ev2.details_json["volumes"]] == ["ext"]
