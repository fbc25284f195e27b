"""The contract every evidence source keeps (one test, fed with an example of each source)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from lanterne import provenance
from lanterne.evidence.base import Entry, EvidenceSource
from lanterne.evidence.registry import SOURCES, register_source
from lanterne.provenance import Step
from lanterne.synth.archives import zip_bytes
from lanterne.synth.disks import ext4_image
from lanterne.synth.pictures import make_picture
from testkit import need_tools


def _folder(tmp: Path) -> tuple[EvidenceSource, dict[str, bytes]]:
    files = {"a/1.jpg": make_picture(1), "a/b/2.png": make_picture(2, fmt="PNG"), "c.txt": b"x"}
    for rel, data in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(data)
    return SOURCES["folder"](tmp), files


def _file(tmp: Path) -> tuple[EvidenceSource, dict[str, bytes]]:
    data = zip_bytes({"x.jpg": make_picture(3)})
    (tmp / "usb.zip").write_bytes(data)
    return SOURCES["file"](tmp / "usb.zip"), {"usb.zip": data}


def _disk_image(tmp: Path) -> tuple[EvidenceSource, dict[str, bytes]]:
    need_tools("mke2fs", "debugfs")
    src = tmp / "src"
    files = {"a/1.jpg": make_picture(4), "a/b/2.png": make_picture(5, fmt="PNG"), "c.txt": b"y"}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    image = ext4_image(src, tmp / "disk.img", 4)
    return SOURCES["disk-image"](image), {f"raw!/{k}": v for k, v in files.items()}


EXAMPLES: dict[str, Callable[[Path], tuple[EvidenceSource, dict[str, bytes]]]] = {
    "folder": _folder,
    "file": _file,
    "disk-image": _disk_image,
}


def test_every_source_has_an_example() -> None:
    assert set(SOURCES) == set(EXAMPLES)


def test_names_are_unique() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_source(SOURCES["folder"])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_source_contract(name: str, tmp_path: Path) -> None:
    source, expected = EXAMPLES[name](tmp_path)
    root = (Step("evidence", "EX-1"),)
    first = [i for i in source.walk(root) if isinstance(i, Entry)]
    second = [i for i in source.walk(root) if isinstance(i, Entry)]
    # stable: the same entries in the same order on every walk (resume relies on it)
    assert [e.provenance for e in first] == [e.provenance for e in second]
    # every chain starts at the item and is unique
    assert all(e.provenance[: len(root)] == root for e in first)
    assert len({provenance.key(e.provenance) for e in first}) == len(first)
    # the bytes are those of the item, and the size is told right
    got = {}
    for e in first:
        with e.open() as f:
            data = f.read()
        assert e.size == len(data)
        got[provenance.display_path(e.provenance)] = hashlib.sha256(data).hexdigest()
    assert got == {k: hashlib.sha256(v).hexdigest() for k, v in expected.items()}
