"""Disk images walked end to end: every file, deleted ones, carved pictures, every container.

The images are built by real tools (``lanterne.synth.disks``: mkfs, mtools, ntfs-3g, sfdisk,
ewfacquire, qemu-img) and their manifest says what a correct tool finds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from lanterne import provenance
from lanterne.config import Limits
from lanterne.evidence.base import Entry, EntryWarning
from lanterne.evidence.disk.handles import Handles
from lanterne.evidence.disk.native import walk_native
from lanterne.evidence.disk.source import DiskImageSource
from lanterne.evidence.disk.volumes import scan_volumes
from lanterne.provenance import Step
from lanterne.synth.disks import DiskCase, convert_image, make_disk_case, split_raw, to_e01
from lanterne.synth.pictures import make_picture
from testkit import need_tools

TOOLS = ("mke2fs", "mkfs.vfat", "mcopy", "mkntfs", "ntfscp", "sfdisk", "ewfacquire", "debugfs")
ROOT = (Step("evidence", "PC-01"),)


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> DiskCase:
    need_tools(*TOOLS)
    return make_disk_case(tmp_path_factory.mktemp("disk"), seed=3)


def _walk(path: Path, limits: Limits | None = None) -> tuple[list[Entry], list[EntryWarning]]:
    entries, warnings = [], []
    for item in DiskImageSource(path, limits).walk(ROOT):
        (entries if isinstance(item, Entry) else warnings).append(item)
    return entries, warnings


def _sha(entry: Entry) -> str:
    with entry.open() as f:
        return hashlib.sha256(f.read()).hexdigest()


def _fs_path(entry: Entry) -> tuple[int | None, str]:
    """(partition byte offset, path inside the file system from /) of a walked entry."""
    volume = [s for s in entry.provenance if s.kind == "volume"]
    return (volume[-1].offset if volume else 0), "/" + entry.provenance[-1].path


def _expected(disk: DiskCase) -> dict[tuple[int, str], str]:
    """What a correct walk reads back: live files and recoverable deleted ones."""
    return {
        (f.partition_offset, f.path + (f":{f.stream}" if f.stream else "")): f.sha256
        for f in disk.files
        if not f.deleted or f.recoverable
    }


def _user_files(entries: list[Entry]) -> dict[tuple[int | None, str], str]:
    """Walked files by place, NTFS metadata files ($MFT, $LogFile …) aside."""
    return {_fs_path(e): _sha(e) for e in entries if not e.carved and "/$" not in _fs_path(e)[1]}


def test_every_file_with_its_digest(disk: DiskCase) -> None:
    entries, warnings = _walk(disk.raw)
    assert _user_files(entries) == _expected(disk)
    ntfs_meta = {_fs_path(e)[1] for e in entries if e.provenance[-1].kind == "ntfs"}
    assert {"/$MFT", "/$LogFile", "/$Secure:$SDS"} <= ntfs_meta
    assert not [w for w in warnings if not w.reason.startswith("deleted-")]
    for e in entries:
        with e.open() as f:
            assert len(f.read()) == e.size


def test_provenance_image_partition_file_system_path(disk: DiskCase) -> None:
    entries, _ = _walk(disk.raw)
    kinds = {tuple(s.kind for s in e.provenance) for e in entries if not e.carved}
    fs_kinds = {"fat32", "ext4", "ntfs"}
    assert {k[:3] for k in kinds} == {("evidence", "image", "volume")}
    assert {k[3] for k in kinds} == fs_kinds
    picture = next(e for e in entries if e.provenance[-1].path.endswith("IMG_0001.JPG"))
    assert picture.provenance[1] == Step("image", "raw")
    assert picture.provenance[2] == Step("volume", "gpt/p1", offset=disk.partition(1).offset)
    assert provenance.display_path(picture.provenance) == (
        "raw!/gpt/p1!/DCIM/100SYNTH/IMG_0001.JPG"
    )
    assert picture.mtime is not None
    # unique and stable chains (resume relies on both)
    again, _ = _walk(disk.raw)
    assert [e.provenance for e in again] == [e.provenance for e in entries]
    assert len({provenance.key(e.provenance) for e in entries}) == len(entries)


def test_deleted_files_flagged_or_warned(disk: DiskCase) -> None:
    entries, warnings = _walk(disk.raw)
    deleted = {_fs_path(e): _sha(e) for e in entries if e.deleted}
    recoverable = {
        (f.partition_offset, f.path): f.sha256 for f in disk.deleted_files if f.recoverable
    }
    assert deleted == recoverable
    lost = {(f.partition_offset, f.path) for f in disk.deleted_files if not f.recoverable}
    warned = {
        (_fs_path_of_chain(w.provenance), w.reason)
        for w in warnings
        if w.reason.startswith("deleted-")
    }
    for where in lost:  # never a wrong hash: each unrecoverable deleted file is a warning
        assert any(w == where for w, _ in warned), where
    assert {r for _, r in warned} <= {"deleted-overwritten", "deleted-content-lost"}


def _fs_path_of_chain(chain: provenance.Provenance) -> tuple[int | None, str]:
    volume = [s for s in chain if s.kind == "volume"]
    return (volume[-1].offset if volume else 0), "/" + chain[-1].path


def test_planted_pictures_carved_at_their_offsets(disk: DiskCase) -> None:
    entries, _ = _walk(disk.raw)
    carved = {
        (e.provenance[-2].offset, e.provenance[-1].offset): _sha(e) for e in entries if e.carved
    }
    planted = {
        (c.partition_offset, c.offset): c.sha256 for c in disk.carvable if c.origin == "planted"
    }
    assert planted and planted.items() <= carved.items()
    # a deleted file recovered by name is not carved a second time
    recovered = {c.sha256 for c in disk.carvable if c.origin == "deleted-file"}
    assert not recovered & set(carved.values())


def test_carving_can_be_switched_off(disk: DiskCase) -> None:
    entries, _ = _walk(disk.raw, Limits(carve=False))
    assert not any(e.carved for e in entries)


def test_e01_gives_the_same_files_as_the_raw_image(disk: DiskCase) -> None:
    raw, _ = _walk(disk.raw)
    ewf, _ = _walk(disk.e01[0])
    assert [(_fs_path(e), e.carved, _sha(e)) for e in ewf] == [
        (_fs_path(e), e.carved, _sha(e)) for e in raw
    ]
    assert {e.provenance[1] for e in ewf} == {Step("image", "ewf")}


@pytest.mark.parametrize("fmt", ["split", "e01-segments", "vmdk", "vhd", "vhdx", "qcow2"])
def test_other_containers(disk: DiskCase, fmt: str, tmp_path: Path) -> None:
    if fmt == "split":
        image = split_raw(disk.raw, tmp_path, 16 << 20)[0]
    elif fmt == "e01-segments":
        segments = to_e01(disk.raw, tmp_path / "seg", segment_size=1 << 20)
        assert len(segments) > 1
        image = segments[0]
    else:
        need_tools("qemu-img")
        image = convert_image(disk.raw, tmp_path / f"disk.{fmt}", fmt)  # type: ignore[arg-type]
    entries, _ = _walk(image)
    assert _user_files(entries) == _expected(disk)


def test_native_walk_lists_the_allocated_files(disk: DiskCase) -> None:
    """dfVFS' own back ends (the fallback, and APFS/XFS): allocated files, same digests."""
    scan = scan_volumes(disk.raw)
    ext = next(v for v in scan.file_systems if v.type_indicator == "EXT")
    handles = Handles()
    entries = [i for i in walk_native(ext, ROOT, handles) if isinstance(i, Entry)]
    got = {_fs_path(e)[1]: _sha(e) for e in entries}
    want = {
        f.path: f.sha256
        for f in disk.live_files
        if f.partition_offset == ext.offset and "lost+found" not in f.path
    }
    assert got == want


def test_reader_threads_do_not_share_a_read_position(disk: DiskCase) -> None:
    from concurrent.futures import ThreadPoolExecutor

    entries, _ = _walk(disk.e01[0])
    expected = [_sha(e) for e in entries]

    def twice(e: Entry) -> str:
        return _sha(e)

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(twice, entries * 3))
    assert got == expected * 3


def test_direct_media_reads_equal_the_sleuth_kits(disk: DiskCase, tmp_path: Path) -> None:
    """Files whose extents are plain are read straight from the media; the bytes must be those
    The Sleuth Kit reads, fragmented files included."""
    import dataclasses
    import itertools
    import subprocess

    from lanterne.evidence.disk.tsk import TskWalk
    from lanterne.synth.disks import fat_clusters, fat_image, random_bytes

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(random_bytes(1, 40_000))
    (src / "b.bin").write_bytes(random_bytes(2, 30_000))
    fat = fat_image(src, tmp_path / "frag.img", 8, fat=16)
    (tmp_path / "c.bin").write_bytes(random_bytes(3, 100_000))
    subprocess.run(["mdel", "-i", str(fat), "::/a.bin"], check=True)
    subprocess.run(["mcopy", "-i", str(fat), str(tmp_path / "c.bin"), "::/c.bin"], check=True)
    handles = Handles()
    for image in (disk.raw, disk.e01[0], fat):
        for volume in scan_volumes(image).file_systems:
            assert volume.media_spec is not None
            direct = list(TskWalk(volume, ROOT, handles).items())
            tsk_only = dataclasses.replace(volume, media_spec=None, media_offset=None)
            through_tsk = list(TskWalk(tsk_only, ROOT, handles).items())
            assert [i.provenance for i in direct] == [i.provenance for i in through_tsk]
            pairs = [
                (a, b) for a, b in zip(direct, through_tsk, strict=True) if isinstance(a, Entry)
            ]
            assert pairs
            for a, b in pairs:
                assert isinstance(b, Entry)
                assert _sha(a) == _sha(b)
    c = next(
        e
        for e in TskWalk(scan_volumes(fat).file_systems[0], ROOT, handles).items()
        if isinstance(e, Entry) and e.name == "c.bin"
    )
    assert _sha(c) == hashlib.sha256(random_bytes(3, 100_000)).hexdigest()
    clusters = fat_clusters(fat, "/c.bin")
    assert any(b != a + 1 for a, b in itertools.pairwise(clusters))  # really fragmented


def test_background_carving_hands_over_in_order_and_stops_when_closed() -> None:
    import itertools

    from lanterne.evidence.disk.source import _Background

    items: list[object] = list(range(50))
    assert list(_Background(iter(items))) == items  # type: ignore[arg-type]

    def failing() -> Iterator[object]:
        yield 1
        raise ValueError("reader bug")

    it = iter(_Background(failing()))  # type: ignore[arg-type]
    assert next(it) == 1
    with pytest.raises(ValueError, match="reader bug"):
        next(it)
    endless = _Background(itertools.count())  # type: ignore[arg-type]
    endless.close()
    endless._thread.join(5)
    assert not endless._thread.is_alive()


def test_a_deleted_folder_is_walked_and_its_files_flagged(tmp_path: Path) -> None:
    """A folder deleted with everything in it: its files are recovered by name, once."""
    import subprocess

    from lanterne.synth.disks import fat_image
    from lanterne.synth.pictures import make_picture

    need_tools("mkfs.vfat", "mcopy", "mdeltree")
    src = tmp_path / "src"
    (src / "holiday" / "day two").mkdir(parents=True)
    files = {
        "holiday/beach_at_noon.jpg": make_picture(31, (300, 200)),
        "holiday/day two/harbour_view.jpg": make_picture(32, (300, 200)),
        "kept.txt": b"still here\n",
    }
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    fat = fat_image(src, tmp_path / "card.img", 16, fat=16)
    subprocess.run(["mdeltree", "-i", str(fat), "::/holiday"], check=True)
    entries, _ = _walk(fat)
    got = {(e.provenance[-1].path.split("/")[-1], e.deleted, e.carved): _sha(e) for e in entries}
    assert got == {
        ("beach_at_noon.jpg", True, False): hashlib.sha256(
            files["holiday/beach_at_noon.jpg"]
        ).hexdigest(),
        ("harbour_view.jpg", True, False): hashlib.sha256(
            files["holiday/day two/harbour_view.jpg"]
        ).hexdigest(),
        ("kept.txt", False, False): hashlib.sha256(files["kept.txt"]).hexdigest(),
    }


def test_xfs_through_dfvfs_own_back_end(tmp_path: Path) -> None:
    """A file system The Sleuth Kit does not read: dfVFS' back end lists its files."""
    from lanterne.synth.disks import xfs_image

    need_tools("mkfs.xfs")
    src = tmp_path / "src"
    (src / "home" / "ana").mkdir(parents=True)
    files = {"home/ana/photo.jpg": make_picture(41, (320, 240)), "readme.txt": b"xfs\n"}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    image = xfs_image(src, tmp_path / "xfs.img")
    entries, warnings = _walk(image)
    assert not warnings
    assert {e.provenance[-1]: _sha(e) for e in entries} == {
        Step("xfs", rel): hashlib.sha256(data).hexdigest() for rel, data in files.items()
    }
    assert all(e.mtime is not None for e in entries)


def test_ntfs_record_marked_unused_is_recovered_as_deleted(tmp_path: Path) -> None:
    from lanterne.synth.disks import ntfs_delete, ntfs_image

    need_tools("mkntfs", "ntfscp")
    src = tmp_path / "src"
    src.mkdir()
    files = {"kept.jpg": make_picture(51, (300, 200)), "removed.jpg": make_picture(52, (300, 200))}
    for name, data in files.items():
        (src / name).write_bytes(data)
    image = ntfs_image(src, tmp_path / "ntfs.img", 16)
    ntfs_delete(image, "/removed.jpg")
    entries, _ = _walk(image)
    got = {
        (e.provenance[-1].path, e.deleted): _sha(e)
        for e in entries
        if not e.provenance[-1].path.startswith("$") or "Orphan" in e.provenance[-1].path
    }
    assert got == {
        ("kept.jpg", False): hashlib.sha256(files["kept.jpg"]).hexdigest(),
        ("$OrphanFiles/removed.jpg", True): hashlib.sha256(files["removed.jpg"]).hexdigest(),
    }
    assert not any(e.carved for e in entries)  # recovered by name: not carved again


def test_mbr_partition_table(tmp_path: Path) -> None:
    need_tools(*TOOLS)
    mbr = make_disk_case(tmp_path, seed=8, table="mbr", e01=False)
    entries, _ = _walk(mbr.raw)
    assert _user_files(entries) == _expected(mbr)
    volumes = {s for e in entries for s in e.provenance if s.kind == "volume"}
    assert {(s.path, s.offset) for s in volumes} == {
        (f"mbr/p{p.index}", p.offset) for p in mbr.partitions
    }


def test_space_outside_file_systems_is_carved(tmp_path: Path) -> None:
    """A deleted partition and the unpartitioned end of the disk: their pictures are carved
    from the media, with offsets in the media; nothing inside a walked file system is."""
    need_tools(*TOOLS)
    disk = make_disk_case(tmp_path, seed=9, table="mbr", ntfs=False, e01=False)
    second = disk.partition(2)
    tail_picture = make_picture(61, (256, 256))
    with disk.raw.open("r+b") as f:
        f.seek(446 + 16)  # the second MBR entry: the partition is "deleted"
        f.write(bytes(16))
        f.seek(0, 2)
        tail = f.tell() + 4096
        f.seek(tail)
        f.write(tail_picture + bytes(1 << 20))
    entries, _ = _walk(disk.raw)
    media_carved = {
        _sha(e): e.provenance[-1].offset
        for e in entries
        if e.carved and [s.kind for s in e.provenance] == ["evidence", "image", "carved"]
    }
    assert media_carved[hashlib.sha256(tail_picture).hexdigest()] == tail
    lost_pictures = {f.sha256 for f in disk.live_files if f.partition == 2 and f.kind == "picture"}
    assert lost_pictures and lost_pictures <= media_carved.keys()
    assert all(
        second.offset <= media_carved[sha] < second.offset + second.size for sha in lost_pictures
    )
    # the first partition is still walked by name, and none of its files is carved again
    walked = {_sha(e) for e in entries if not e.carved}
    assert {f.sha256 for f in disk.live_files if f.partition == 1} <= walked
    assert not walked & media_carved.keys()


def test_native_walk_stops_at_a_directory_loop(tmp_path: Path) -> None:
    from lanterne.synth.disks import make_hostile_disks

    need_tools(*TOOLS)
    loop = next(h for h in make_hostile_disks(tmp_path) if h.kind == "ext4-dir-loop")
    volume = scan_volumes(loop.path).file_systems[0]
    items = list(walk_native(volume, ROOT, Handles()))
    files = [i.provenance[-1].path for i in items if isinstance(i, Entry)]
    assert len(files) == len(set(files)) and files
    assert [(i.provenance[-1].path, i.reason) for i in items if isinstance(i, EntryWarning)] == [
        (loop.loop[0].lstrip("/"), "directory-loop")  # type: ignore[index]
    ]
