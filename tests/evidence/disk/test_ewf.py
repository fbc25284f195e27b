"""EWF acquisition metadata and media verification, on images built with the real tools.

All media is synthetic: seeded noise, counting text and an empty FAT file system holding them.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lanterne.errors import CorruptData, NotMyFormat, UserError
from lanterne.evidence.disk import ewf
from lanterne.evidence.disk.ewf import is_ewf, read_acquisition, verify_media
from testkit import need_tools

HEADERS = {
    "case_number": "CASE-2026-017",
    "evidence_number": "EV-03",
    "examiner_name": "Examiner A",
    "description": "Synthetic test drive",
    "notes": "noise and counting text",
}
MIB = 1 << 20


@dataclass
class Recorder:
    """A Progress that remembers what it was told."""

    starts: list[tuple[str, int | None]] = field(default_factory=list)
    advanced: int = 0
    finished: int = 0

    def start(self, task: str, total_bytes: int | None = None) -> None:
        self.starts.append((task, total_bytes))

    def advance(self, files: int = 0, nbytes: int = 0, total_bytes: int | None = None) -> None:
        self.advanced += nbytes

    def finish(self) -> None:
        self.finished += 1


def acquire(raw: Path, target: Path, *extra: str) -> Path:
    """``raw`` acquired with ewfacquire to ``target``.E01 (and further segments); the first."""
    need_tools("ewfacquire")
    args = ["ewfacquire", "-u", "-q", "-t", str(target), "-f", "encase6", "-c", "fast"]
    args += ["-d", "sha1", "-C", HEADERS["case_number"], "-E", HEADERS["evidence_number"]]
    args += ["-e", HEADERS["examiner_name"], "-D", HEADERS["description"]]
    args += ["-N", HEADERS["notes"], *extra, str(raw)]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return target.with_name(target.name + ".E01")


def hashes(data: bytes) -> tuple[str, str, str]:
    return (
        hashlib.md5(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
    )


@pytest.fixture(scope="module")
def noise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 MiB of seeded noise: ewfacquire stores its chunks uncompressed, so they can be found."""
    path = tmp_path_factory.mktemp("noise") / "noise.raw"
    path.write_bytes(random.Random(20261129).randbytes(4 * MIB))
    return path


@pytest.fixture(scope="module")
def fat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 MiB FAT image holding counting text and noise: compressible chunks."""
    need_tools("mkfs.vfat", "mcopy")
    root = tmp_path_factory.mktemp("fat")
    files = root / "files"
    files.mkdir()
    rng = random.Random(7)
    for i in range(3):
        (files / f"count{i}.txt").write_text("".join(f"{n}\n" for n in range(i, 60000, 3)))
        (files / f"noise{i}.bin").write_bytes(rng.randbytes(200_000))
    image = root / "fat.raw"
    subprocess.run(["mkfs.vfat", "-C", str(image), "4096"], check=True, capture_output=True)
    subprocess.run(["mcopy", "-s", "-i", str(image), str(files), "::/files"], check=True)
    return image


@pytest.fixture(scope="module")
def fat_e01(fat: Path) -> Path:
    return acquire(fat, fat.parent / "fat")


@pytest.fixture(scope="module")
def noise_e01(noise: Path) -> Path:
    return acquire(noise, noise.parent / "noise")


@pytest.fixture(scope="module")
def split_e01(noise: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The noise in 1 MiB segment files (ewfacquire's minimum segment size)."""
    return acquire(noise, tmp_path_factory.mktemp("split") / "split", "-S", "1MiB")


def copy_set(first: Path, dest: Path, skip: tuple[str, ...] = ()) -> Path:
    """The segment files of ``first``'s image copied into ``dest`` (less those in ``skip``)."""
    dest.mkdir(exist_ok=True)
    for path in sorted(first.parent.glob(first.stem + ".E*")):
        if path.name not in skip:
            shutil.copy(path, dest / path.name)
    return dest / first.name


# --- metadata -----------------------------------------------------------------------------------


def test_is_ewf(noise_e01: Path, noise: Path, tmp_path: Path) -> None:
    assert is_ewf(noise_e01)
    assert not is_ewf(noise)
    (tmp_path / "empty.E01").write_bytes(b"")
    (tmp_path / "short.E01").write_bytes(b"EVF\x09")
    assert not is_ewf(tmp_path / "empty.E01")
    assert not is_ewf(tmp_path / "short.E01")
    assert not is_ewf(tmp_path / "absent.E01")
    assert not is_ewf(tmp_path)


def test_read_acquisition(fat_e01: Path, fat: Path) -> None:
    acq = read_acquisition(fat_e01)
    data = fat.read_bytes()
    md5, sha1, _ = hashes(data)
    assert acq.format == "ewf"
    assert acq.segments == [str(fat_e01.absolute())]
    assert acq.media_size == len(data)
    assert (acq.stored_md5, acq.stored_sha1) == (md5, sha1)
    assert acq.bytes_per_sector == 512
    for key, value in HEADERS.items():
        assert acq.headers[key] == value
    assert acq.headers["acquiry_software_version"]
    assert acq.headers["acquiry_date"]
    stored = json.loads(json.dumps(acq.to_json()))
    assert stored["stored_md5"] == md5
    assert stored["headers"]["case_number"] == HEADERS["case_number"]
    assert stored["segments"] == acq.segments


def test_not_ewf_or_not_a_file(noise: Path, tmp_path: Path) -> None:
    with pytest.raises(NotMyFormat):
        read_acquisition(noise)
    with pytest.raises(UserError):
        read_acquisition(tmp_path / "absent.E01")
    with pytest.raises(UserError):
        verify_media(tmp_path / "absent.E01")
    with pytest.raises(UserError):
        verify_media(tmp_path)


@pytest.mark.parametrize(
    ("number", "name"),
    [(1, "a.E01"), (9, "a.E09"), (99, "a.E99"), (100, "a.EAA"), (101, "a.EAB"), (126, "a.EBA")]
    + [(775, "a.EZZ"), (776, "a.FAA")],
)
def test_segment_names(number: int, name: str) -> None:
    assert ewf._segment_name(Path("a.E01"), number) == name
    assert ewf._segment_name(Path("a.e01"), number) == name.replace(".E", ".e").lower()


def test_stored_hash_forms() -> None:
    assert ewf._hex("ABCDEF0123456789abcdef0123456789", 32) == "abcdef0123456789abcdef0123456789"
    assert ewf._hex("0" * 32, 32) is None  # written by tools that computed none
    assert ewf._hex("xyz", 32) is None
    assert ewf._hex(None, 32) is None


# --- verification -------------------------------------------------------------------------------


LAYOUT_KNOWN = ewf.pyewf.get_version() in ewf._KNOWN_LAYOUTS
needs_layout = pytest.mark.skipif(
    not LAYOUT_KNOWN, reason="checksum-error list read only from checked pyewf versions"
)


def test_verify_match(fat_e01: Path, fat: Path) -> None:
    progress = Recorder()
    v = verify_media(fat_e01, progress)
    md5, sha1, sha256 = hashes(fat.read_bytes())
    assert v.outcome == "match", v.detail
    assert (v.md5, v.sha1, v.sha256) == (md5, sha1, sha256)
    assert (v.stored_md5, v.stored_sha1) == (md5, sha1)
    assert v.bytes_read == v.media_size == fat.stat().st_size
    assert v.checksum_errors == []
    assert v.checksum_errors_checked == LAYOUT_KNOWN
    assert v.image_format == "ewf"
    assert "MD5 and SHA-1" in v.detail and "intact" in v.detail
    assert progress.starts == [(f"Verifying {fat_e01.name}", fat.stat().st_size)]
    assert progress.advanced == fat.stat().st_size
    assert progress.finished == 1
    assert json.loads(json.dumps(v.to_json()))["outcome"] == "match"


def flip_stored_media_byte(e01: Path, raw: Path, dest: Path) -> int:
    """Copy ``e01`` to ``dest`` with one byte of its stored (uncompressed) media data changed,
    at the middle of the media; the media offset of that byte."""
    media = raw.read_bytes()
    middle = len(media) // 2 + 1000
    data = bytearray(e01.read_bytes())
    at = data.find(media[middle : middle + 256])
    assert at > 0 and data.find(media[middle : middle + 256], at + 1) == -1
    data[at] ^= 0x01
    dest.write_bytes(bytes(data))
    return middle


@needs_layout
def test_changed_byte_is_a_checksum_error(noise_e01: Path, noise: Path, tmp_path: Path) -> None:
    changed = tmp_path / "noise.E01"
    offset = flip_stored_media_byte(noise_e01, noise, changed)
    assert read_acquisition(changed).stored_md5 == hashes(noise.read_bytes())[0]
    v = verify_media(changed)
    assert v.outcome == "mismatch", v.detail
    # libewf reads the chunk failing its Adler-32 as zeros and lists it (32 KiB chunks)
    assert len(v.checksum_errors) == 1
    start, size = v.checksum_errors[0]
    assert start <= offset < start + size and size == 32 * 1024
    assert v.md5 != v.stored_md5 and v.sha1 != v.stored_sha1
    assert v.bytes_read == noise.stat().st_size
    assert f"bytes {start}-{start + size - 1}" in v.detail and "checksum" in v.detail
    assert json.loads(json.dumps(v.to_json()))["checksum_errors"] == [[start, size]]


@needs_layout
def test_changed_byte_in_compressed_chunk(fat_e01: Path, fat: Path, tmp_path: Path) -> None:
    data = bytearray(fat_e01.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the deflated chunks of the 'sectors' section
    changed = tmp_path / "fat.E01"
    changed.write_bytes(bytes(data))
    v = verify_media(changed)
    assert v.outcome == "mismatch", v.detail
    assert len(v.checksum_errors) == 1
    start, size = v.checksum_errors[0]
    assert start % size == 0 and start + size <= fat.stat().st_size
    assert v.md5 != hashes(fat.read_bytes())[0]


def test_changed_byte_without_libewf_checksum_list(
    noise_e01: Path, noise: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where libewf's checksum-error list is out of reach, the digests still tell."""
    monkeypatch.setattr(ewf._Libewf, "attach", classmethod(lambda cls, handle: None))
    changed = tmp_path / "noise.E01"
    flip_stored_media_byte(noise_e01, noise, changed)
    v = verify_media(changed)
    assert v.outcome == "mismatch"
    assert v.checksum_errors == [] and not v.checksum_errors_checked
    assert "MD5" in v.detail and "SHA-1" in v.detail and "could not be read" in v.detail


@pytest.mark.parametrize("keep", [0.5, 0.9999])
def test_truncated(fat_e01: Path, tmp_path: Path, keep: float) -> None:
    data = fat_e01.read_bytes()
    cut = tmp_path / "fat.E01"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CorruptData) as caught:
        read_acquisition(cut)
    assert caught.value.reason == "truncated"
    assert "fat.E01" in caught.value.detail and "Copy it again" in caught.value.detail
    progress = Recorder()
    v = verify_media(cut, progress)
    assert v.outcome == "unreadable"
    assert v.md5 is None and v.bytes_read == 0
    assert "incomplete" in v.detail and "fat.E01" in v.detail


def test_split_segments(split_e01: Path, noise: Path) -> None:
    names = sorted(p.name for p in split_e01.parent.iterdir())
    assert len(names) >= 4 and names[:2] == ["split.E01", "split.E02"]
    acq = read_acquisition(split_e01)
    assert [Path(s).name for s in acq.segments] == names
    assert all(Path(s).is_absolute() for s in acq.segments)
    assert read_acquisition(split_e01.with_name("split.E03")).segments == acq.segments
    v = verify_media(split_e01)
    assert v.outcome == "match", v.detail
    assert (v.md5, v.sha1, v.sha256) == hashes(noise.read_bytes())


def test_missing_middle_segment(split_e01: Path, tmp_path: Path) -> None:
    first = copy_set(split_e01, tmp_path / "set", skip=("split.E02",))
    with pytest.raises(CorruptData) as caught:
        read_acquisition(first)
    assert caught.value.reason == "missing-segment"
    assert "split.E02 is missing" in caught.value.detail and "split.E03" in caught.value.detail
    v = verify_media(first)
    assert v.outcome == "unreadable" and "split.E02" in v.detail


def test_missing_last_segment(split_e01: Path, tmp_path: Path) -> None:
    last = sorted(p.name for p in split_e01.parent.iterdir())[-1]
    first = copy_set(split_e01, tmp_path / "set", skip=(last,))
    with pytest.raises(CorruptData) as caught:
        read_acquisition(first)
    assert caught.value.reason == "missing-segment"
    assert f"{last} is missing" in caught.value.detail
    assert verify_media(first).outcome == "unreadable"


def test_first_segment_missing(split_e01: Path, tmp_path: Path) -> None:
    first = copy_set(split_e01, tmp_path / "set", skip=("split.E01",))
    with pytest.raises(CorruptData) as caught:
        read_acquisition(first.with_name("split.E02"))
    assert caught.value.reason == "missing-segment" and "split.E01" in caught.value.detail


def test_damaged_chunk_table_reads_to_the_failure(split_e01: Path, tmp_path: Path) -> None:
    """Both copies of a segment's chunk table pointing nowhere: libewf opens the set, calls it
    corrupted, and fails reading at the first chunk it cannot place."""
    first = copy_set(split_e01, tmp_path / "set")
    data = bytearray(first.read_bytes())
    offset = 13
    while True:
        kind, nxt = struct.unpack_from("<16sQ", data, offset)
        kind = kind.rstrip(b"\0")
        if kind in (b"table", b"table2"):
            entries = offset + 76 + 24  # after the descriptor and the table header
            for i in range(10, 20):
                struct.pack_into("<I", data, entries + 4 * i, 0x7FFFFFF0)
        if kind in (b"next", b"done"):
            break
        offset = nxt
    first.write_bytes(bytes(data))
    with pytest.raises(CorruptData) as caught:
        read_acquisition(first)
    assert caught.value.reason == "corrupt"
    v = verify_media(first)
    assert v.outcome == "unreadable"
    assert 0 < v.bytes_read < 20 * 32 * 1024 and v.bytes_read % (32 * 1024) == 0
    assert f"failed at byte {v.bytes_read:,}" in v.detail and "corrupted" in v.detail


def test_damaged_signature(fat_e01: Path, tmp_path: Path) -> None:
    data = bytearray(fat_e01.read_bytes())
    data[:8] = bytes(8)
    damaged = tmp_path / "fat.E01"
    damaged.write_bytes(bytes(data))
    v = verify_media(damaged)
    assert v.outcome == "unreadable" and "signature" in v.detail


# --- other images -----------------------------------------------------------------------------


def test_raw(noise: Path) -> None:
    v = verify_media(noise)
    assert v.outcome == "no-stored-hash" and v.image_format == "raw"
    assert (v.md5, v.sha1, v.sha256) == hashes(noise.read_bytes())
    assert v.stored_md5 is None and v.stored_sha1 is None
    assert v.bytes_read == noise.stat().st_size


def test_split_raw(noise: Path, tmp_path: Path) -> None:
    data = noise.read_bytes()
    for i in range(4):
        (tmp_path / f"disk.{i + 1:03d}").write_bytes(data[i * MIB : (i + 1) * MIB])
    progress = Recorder()
    v = verify_media(tmp_path / "disk.001", progress)
    assert v.outcome == "no-stored-hash", v.detail
    assert (v.md5, v.sha1, v.sha256) == hashes(data)
    assert v.bytes_read == len(data) == progress.advanced


def test_qcow2(fat: Path, tmp_path: Path) -> None:
    need_tools("qemu-img")
    image = tmp_path / "fat.qcow2"
    subprocess.run(
        ["qemu-img", "convert", "-O", "qcow2", str(fat), str(image)],
        check=True,
        capture_output=True,
    )
    v = verify_media(image)
    assert v.outcome == "no-stored-hash" and v.image_format == "qcow"
    assert (v.md5, v.sha1, v.sha256) == hashes(fat.read_bytes())
    assert "QCOW" in v.detail
    cut = tmp_path / "cut.qcow2"
    cut.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    v = verify_media(cut)
    assert v.outcome == "unreadable" and v.md5 is None
    assert 0 < v.bytes_read < fat.stat().st_size
    assert f"failed at byte {v.bytes_read:,} of {fat.stat().st_size:,}" in v.detail
