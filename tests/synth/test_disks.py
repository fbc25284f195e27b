"""Synthetic disk images, checked against The Sleuth Kit (``mmls``, ``fls``, ``icat``,
``blkls``, ``ifind``) and libewf as oracles: what the manifest claims is what they find."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyewf
import pytest

from lanterne.synth import disks
from lanterne.synth.disks import DiskCase, MissingTool, PartSpec
from lanterne.synth.pictures import make_picture

BUILD_TOOLS = ("mke2fs", "debugfs", "dumpe2fs", "mkfs.vfat", "mcopy", "mdel", "mshowfat")
NTFS_TOOLS = ("mkntfs", "ntfscp")
TSK = ("mmls", "fls", "icat", "blkls", "ifind", "fsstat")
SECTOR = 512


def tsk(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(a) for a in args], capture_output=True, check=check)


@dataclass(frozen=True)
class Listed:
    address: str
    deleted: bool


FLS_LINE = re.compile(r"^(\S+) (\* )?([\d-]+)(?:\(realloc\))?:\t(.*)$")


def fls(image: Path, sector: int = 0, *extra: str) -> dict[str, list[Listed]]:
    """``fls -r -p``: path (with ``/`` in front, ``:stream`` for a named stream) → entries."""
    out = tsk("fls", "-r", "-p", "-o", str(sector), *extra, image).stdout.decode()
    found: dict[str, list[Listed]] = {}
    for line in out.splitlines():
        match = FLS_LINE.match(line)
        assert match, line
        found.setdefault("/" + match.group(4), []).append(
            Listed(match.group(3), bool(match.group(2)))
        )
    return found


def icat(image: Path, sector: int, address: str) -> bytes:
    return tsk("icat", "-o", str(sector), image, address).stdout


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def disk_case(tmp_path_factory: pytest.TempPathFactory) -> DiskCase:
    from testkit import need_tools

    need_tools(*BUILD_TOOLS, *NTFS_TOOLS, "sfdisk", "ewfacquire")
    return disks.make_disk_case(tmp_path_factory.mktemp("disk"), seed=5, pictures=2)


def test_partitions_are_where_the_manifest_says(disk_case: DiskCase) -> None:
    from testkit import need_tools

    need_tools(*TSK)
    out = tsk("mmls", disk_case.raw).stdout.decode()
    assert "GUID Partition Table" in out
    rows = re.findall(r"^\d+:\s+\d{3}\s+(\d+)\s+\d+\s+(\d+)\s+(\S+)", out, re.M)
    assert [(int(s), int(n), name) for s, n, name in rows] == [
        (p.start_sector, p.size // SECTOR, p.name) for p in disk_case.partitions
    ]
    assert [p.fs_type for p in disk_case.partitions] == ["fat32", "ext4", "ntfs"]
    assert disk_case.raw_size == disk_case.raw.stat().st_size
    assert disk_case.raw_size < 128 << 20


def test_every_live_file_is_listed_with_its_content(disk_case: DiskCase) -> None:
    from testkit import need_tools

    need_tools(*TSK)
    for part in disk_case.partitions:
        listed = fls(disk_case.raw, part.start_sector)
        expected = [f for f in disk_case.live_files if f.partition == part.index]
        assert expected
        for f in expected:
            key = f.path + (f":{f.stream}" if f.stream else "")
            entries = [e for e in listed.get(key, []) if not e.deleted]
            assert len(entries) == 1, (part.fs_type, key, listed.keys())
            data = icat(disk_case.raw, part.start_sector, entries[0].address)
            assert (len(data), sha256(data)) == (f.size, f.sha256), key
            assert hashlib.md5(data).hexdigest() == f.md5
        # Nothing the manifest does not know about, but folders and file-system metadata.
        files = {p for p, es in listed.items() for e in es if not e.deleted and "/$" not in p}
        manifest = {f.path + (f":{f.stream}" if f.stream else "") for f in expected}
        assert {p for p in files - manifest if "." in p.rsplit("/", 1)[-1]} == set()


def test_kinds_and_scenarios(disk_case: DiskCase) -> None:
    from testkit import need_tools

    need_tools(*BUILD_TOOLS)
    kinds = {f.kind for f in disk_case.files}
    assert {"picture", "text", "archive", "binary"} <= kinds
    assert [f.stream for f in disk_case.files if f.stream] == ["Zone.Identifier"]
    deleted = {f.path: f for f in disk_case.deleted_files}
    assert set(deleted) == {
        "/DCIM/100SYNTH/lakeside_evening.jpg",
        "/Documents/old_scan_2019.jpg",
        "/home/mira/todo.txt",
    }
    assert [p for p, f in deleted.items() if f.recoverable] == [
        "/DCIM/100SYNTH/lakeside_evening.jpg"
    ]
    assert deleted["/Documents/old_scan_2019.jpg"].overwritten_by == "/Downloads/setup_data.bin"
    assert sorted((c.fs_type, c.format, c.origin) for c in disk_case.carvable) == [
        ("ext4", "PNG", "planted"),
        ("fat32", "JPEG", "deleted-file"),
        ("fat32", "JPEG", "planted"),
    ]


def test_deleted_files_are_what_the_manifest_says(disk_case: DiskCase) -> None:
    from testkit import need_tools

    need_tools(*TSK)
    raw = disk_case.raw.read_bytes()
    for f in disk_case.deleted_files:
        part = disk_case.partition(f.partition)
        entries = fls(disk_case.raw, part.start_sector).get(f.path, [])
        assert [e.deleted for e in entries] == [True], f.path
        data = icat(disk_case.raw, part.start_sector, entries[0].address)
        if f.recoverable:
            assert sha256(data) == f.sha256, f.path
        else:
            assert sha256(data) != f.sha256, f.path
        if f.residue_offset is not None:  # the old bytes, still there unallocated
            at = part.offset + f.residue_offset
            assert sha256(raw[at : at + f.size]) == f.sha256
    over = next(f for f in disk_case.deleted_files if f.overwritten_by)
    part = disk_case.partition(over.partition)
    entries = fls(disk_case.raw, part.start_sector)
    deleted_data = icat(disk_case.raw, part.start_sector, entries[over.path][0].address)
    new_data = icat(disk_case.raw, part.start_sector, entries[over.overwritten_by][0].address)
    assert deleted_data and new_data.startswith(deleted_data)  # its clusters hold the new file


def test_carvable_data_lies_in_unallocated_space_only(disk_case: DiskCase) -> None:
    from testkit import need_tools

    need_tools(*TSK)
    raw = disk_case.raw.read_bytes()
    live = {f.sha256 for f in disk_case.live_files}
    for c in disk_case.carvable:
        part = disk_case.partition(c.partition)
        data = raw[c.disk_offset : c.disk_offset + c.size]
        assert (sha256(data), hashlib.md5(data).hexdigest()) == (c.sha256, c.md5)
        assert data[:4] in (b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1", b"\x89PNG")
        unallocated = tsk("blkls", "-o", str(part.start_sector), disk_case.raw).stdout
        assert data in unallocated, c
        assert c.sha256 not in live
        unit = data_unit(disk_case.raw, part.start_sector)
        found = tsk(
            "ifind", "-o", str(part.start_sector), "-d", str(c.offset // unit), disk_case.raw
        )
        owner = found.stdout.decode().strip()
        if c.origin == "planted":
            assert owner == "Inode not found", c
        else:  # the deleted file's own (unallocated) entry
            listed = fls(disk_case.raw, part.start_sector)[c.path]
            assert [e.address for e in listed] == [owner]


def data_unit(image: Path, sector: int) -> int:
    """The size of The Sleuth Kit's data unit: the block (ext4) or the sector (FAT)."""
    out = tsk("fsstat", "-o", str(sector), image).stdout.decode()
    match = re.search(r"^(?:Block|Sector) Size: (\d+)", out, re.M)
    assert match, out
    return int(match.group(1))


def test_e01_stores_the_raw_images_hashes(disk_case: DiskCase) -> None:
    from testkit import need_tools

    need_tools(*BUILD_TOOLS)
    assert [p.name for p in disk_case.e01] == ["disk.E01"]
    handle = pyewf.handle()
    handle.open(pyewf.glob(str(disk_case.e01[0])))
    try:
        assert handle.get_hash_value("MD5") == disk_case.raw_md5
        assert handle.get_hash_value("SHA1") == disk_case.raw_sha1
        assert handle.get_header_value("case_number") == disk_case.case_number
        assert handle.get_header_value("examiner_name") == disk_case.examiner
        assert handle.get_media_size() == disk_case.raw_size
    finally:
        handle.close()
    assert disks.file_hashes(disk_case.raw) == {
        "md5": disk_case.raw_md5,
        "sha1": disk_case.raw_sha1,
        "sha256": disk_case.raw_sha256,
    }


def test_manifest_json(disk_case: DiskCase) -> None:
    from testkit import need_tools

    need_tools(*BUILD_TOOLS)
    data = json.loads((disk_case.root / "manifest.json").read_text())
    assert data == json.loads(disk_case.to_json())
    assert DiskCase.load(disk_case.root / "manifest.json") == disk_case
    assert data["raw_sha256"] == disk_case.raw_sha256
    assert len(data["files"]) == len(disk_case.files)
    first = data["files"][0]
    assert set(first) >= {
        "partition", "partition_offset", "fs_type", "path", "size", "sha256", "md5",
        "deleted", "recoverable",
    }  # fmt: skip
    assert all(c["disk_offset"] == c["partition_offset"] + c["offset"] for c in data["carvable"])


def test_fat_and_ext4_images_are_reproducible(tmp_path: Path) -> None:
    from testkit import need_tools

    need_tools(*BUILD_TOOLS)
    tree = {"/a/b/c.txt": b"words\n", "/pic.jpg": disks.random_bytes(3, 40_000)}
    built = []
    for n in (1, 2):
        src = tmp_path / f"src{n}"
        disks.write_tree(src, tree)
        built.append(
            (
                disks.fat_image(src, tmp_path / f"f{n}.img", 8, fat=12, seed=1).read_bytes(),
                disks.ext4_image(src, tmp_path / f"e{n}.img", 8, seed=1).read_bytes(),
            )
        )
    assert built[0] == built[1]


def test_ext4_delete_by_debugfs_alone_leaves_the_file_readable(tmp_path: Path) -> None:
    from testkit import need_tools

    need_tools(*BUILD_TOOLS, *TSK, "e2fsck")
    data = disks.random_bytes(4, 30_000)
    disks.write_tree(tmp_path / "src", {"/x/gone.bin": data, "/x/wiped.bin": data[::-1]})
    image = disks.ext4_image(tmp_path / "src", tmp_path / "e.img", 8)
    assert disks.ext4_delete(image, "/x/gone.bin", like_kernel=False) is not None
    residue = disks.ext4_delete(image, "/x/wiped.bin")
    listed = fls(image)
    assert listed["/x/gone.bin"][0].deleted and listed["/x/wiped.bin"][0].deleted
    assert icat(image, 0, listed["/x/gone.bin"][0].address) == data
    assert icat(image, 0, listed["/x/wiped.bin"][0].address) == b""
    assert residue is not None
    offset, size = residue
    assert image.read_bytes()[offset : offset + size] == data[::-1]
    assert tsk("e2fsck", "-fn", image, check=False).returncode == 0


def test_picture_in_fat_file_slack(tmp_path: Path) -> None:
    from testkit import need_tools

    need_tools(*BUILD_TOOLS, "mtype", *TSK)
    text = b"Dear Ottilie,\n" * 10
    disks.write_tree(tmp_path / "src", {"/docs/letter.txt": text})
    image = disks.fat_image(tmp_path / "src", tmp_path / "f.img", 8, fat=12, cluster_sectors=64)
    png = make_picture(5, (64, 48), "PNG")
    offset = disks.fat_plant_slack(image, "/docs/letter.txt", png)
    assert image.read_bytes()[offset : offset + len(png)] == png
    entry = fls(image)["/docs/letter.txt"][0]
    assert icat(image, 0, entry.address) == text  # the file itself is unchanged
    with_slack = tsk("icat", "-s", image, entry.address).stdout
    assert with_slack[len(text) : len(text) + len(png)] == png
    assert png in tsk("blkls", "-s", image).stdout  # slack space, not unallocated space
    assert png not in tsk("blkls", image).stdout
    with pytest.raises(ValueError, match="slack"):
        disks.fat_plant_slack(image, "/docs/letter.txt", bytes(40_000))


def test_mbr_disk_of_fat12_and_fat16(tmp_path: Path) -> None:
    from testkit import need_tools

    need_tools(*BUILD_TOOLS, "sfdisk", *TSK)
    disks.write_tree(tmp_path / "src", {"/DOCS/readme.txt": b"hello\n"})
    f12 = disks.fat_image(tmp_path / "src", tmp_path / "f12.img", 4, fat=12)
    f16 = disks.fat_image(tmp_path / "src", tmp_path / "f16.img", 8, fat=16)
    parts = disks.partitioned_image(
        [PartSpec(f12, "fat12"), PartSpec(f16, "fat16")], tmp_path / "d.raw", "mbr"
    )
    assert [p.offset for p in parts] == [1 << 20, 5 << 20]
    assert [p.type_code for p in parts] == ["01", "0e"]
    out = tsk("mmls", tmp_path / "d.raw").stdout.decode()
    assert "DOS Partition Table" in out and "(0x01)" in out and "(0x0e)" in out
    for p, fat in zip(parts, (12, 16), strict=True):
        assert disks.fat_layout(tmp_path / "d.raw", p.offset).fat_type == fat
        entry = fls(tmp_path / "d.raw", p.start_sector)["/DOCS/readme.txt"][0]
        assert icat(tmp_path / "d.raw", p.start_sector, entry.address) == b"hello\n"


def test_ntfs_root_files_and_named_stream(tmp_path: Path) -> None:
    from testkit import need_tools

    need_tools(*NTFS_TOOLS, *TSK)
    disks.write_tree(tmp_path / "src", {"/a.txt": b"alpha\n"})
    image = disks.ntfs_image(
        tmp_path / "src", tmp_path / "n.img", 8, streams={"a.txt": {"note": b"beta\n"}}
    )
    listed = fls(image)
    assert icat(image, 0, listed["/a.txt"][0].address) == b"alpha\n"
    assert icat(image, 0, listed["/a.txt:note"][0].address) == b"beta\n"
    disks.write_tree(tmp_path / "deep", {"/d/b.txt": b"x"})
    with pytest.raises(ValueError, match="no folders"):
        disks.ntfs_image(tmp_path / "deep", tmp_path / "m.img", 8)


def test_split_and_convert(tmp_path: Path) -> None:
    from testkit import need_tools

    need_tools("qemu-img")
    raw = tmp_path / "small.raw"
    raw.write_bytes(disks.random_bytes(9, 3 * (1 << 20) + 1234))
    parts = disks.split_raw(raw, tmp_path / "split", 1 << 20)
    assert [p.name for p in parts] == [f"small.raw.00{i}" for i in range(1, 5)]
    assert b"".join(p.read_bytes() for p in parts) == raw.read_bytes()
    assert [p.stat().st_size for p in parts] == [1 << 20] * 3 + [1234]
    size = 4 << 20
    with raw.open("r+b") as f:
        f.truncate(size)  # qemu's formats keep whole sectors
    for fmt in ("vmdk", "vhd", "vhdx", "qcow2"):
        out = disks.convert_image(raw, tmp_path / f"small.{fmt}", fmt)  # type: ignore[arg-type]
        info = json.loads(tsk("qemu-img", "info", "--output=json", out).stdout)
        assert info["virtual-size"] == size, fmt
        assert tsk("qemu-img", "compare", "-f", "raw", raw, out, check=False).returncode == 0


def test_e01_segments(tmp_path: Path) -> None:
    from testkit import need_tools

    need_tools("ewfacquire")
    raw = tmp_path / "r.raw"
    raw.write_bytes(disks.random_bytes(11, 3 << 20))
    segments = disks.to_e01(raw, tmp_path / "r", case="C-7", segment_size=1 << 20)
    assert [p.name for p in segments][:2] == ["r.E01", "r.E02"] and len(segments) >= 3
    handle = pyewf.handle()
    handle.open(pyewf.glob(str(segments[0])))
    try:
        assert handle.get_hash_value("MD5") == hashlib.md5(raw.read_bytes()).hexdigest()
        assert handle.read(handle.get_media_size()) == raw.read_bytes()
    finally:
        handle.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, disks.HostileDisk]:
    from testkit import need_tools

    need_tools(*BUILD_TOOLS, "mmd", "sfdisk", "ewfacquire")
    made = disks.make_hostile_disks(tmp_path_factory.mktemp("hostile"), seed=2)
    return {h.kind: h for h in made}


def test_hostile_set(hostile: dict[str, disks.HostileDisk]) -> None:
    from testkit import need_tools

    need_tools(*BUILD_TOOLS)
    assert set(hostile) == {
        "truncated-e01", "garbage-mbr", "bad-gpt", "fat-dir-loop", "ext4-dir-loop",
    }  # fmt: skip


def test_garbage_mbr(hostile: dict[str, disks.HostileDisk]) -> None:
    from testkit import need_tools

    need_tools(*TSK)
    disk = hostile["garbage-mbr"].path
    sector = disk.read_bytes()[:512]
    assert sector[510:] == b"\x55\xaa"
    starts = [struct.unpack_from("<I", sector, 446 + 16 * i + 8)[0] for i in range(4)]
    assert 2048 not in starts
    done = tsk("mmls", "-t", "dos", disk, check=False)
    rows = re.findall(r"^\d+:\s+\d+:\d+\s+(\d+)", done.stdout.decode(), re.M)
    assert done.returncode != 0 or 2048 not in [int(r) for r in rows]


def test_bad_gpt(hostile: dict[str, disks.HostileDisk]) -> None:
    from testkit import need_tools

    need_tools(*TSK)
    disk = hostile["bad-gpt"].path
    data = disk.read_bytes()
    for at in (512, len(data) - 512):
        header = data[at : at + 92]
        assert header[:8] == b"EFI PART"
        count, size = struct.unpack_from("<II", header, 80)
        assert (count, size) == (0x7FFFFFFF, 0xFFFFFF80)
        crc = zlib.crc32(header[:16] + b"\0\0\0\0" + header[20:92])
        assert struct.unpack_from("<I", header, 16)[0] != crc
    assert tsk("mmls", "-t", "gpt", disk, check=False).returncode != 0


def test_truncated_e01(hostile: dict[str, disks.HostileDisk]) -> None:
    from testkit import need_tools

    need_tools("ewfverify")
    h = hostile["truncated-e01"]
    assert h.path.name == "truncated.E01" and h.full_size > 0
    assert tsk("ewfverify", "-q", h.path, check=False).returncode != 0
    handle = pyewf.handle()
    try:
        handle.open(pyewf.glob(str(h.path)))
        with pytest.raises(OSError):
            handle.read(handle.get_media_size())
    except OSError:
        pass  # refusing to open is just as right
    finally:
        handle.close()


def test_directory_loops(hostile: dict[str, disks.HostileDisk]) -> None:
    from testkit import need_tools

    need_tools(*TSK)
    for kind in ("fat-dir-loop", "ext4-dir-loop"):
        h = hostile[kind]
        assert h.loop is not None
        looping, ancestor = h.loop
        listed = fls(h.path)
        (entry,) = listed[looping]
        inside = {
            line.split("\t")[-1]
            for line in tsk("fls", h.path, entry.address.split("-")[0]).stdout.decode().splitlines()
        }
        (anc,) = listed[ancestor]
        of_ancestor = {
            line.split("\t")[-1]
            for line in tsk("fls", h.path, anc.address).stdout.decode().splitlines()
        }
        assert inside == of_ancestor and inside, kind  # the loop's folder is its ancestor
        child = looping.rsplit("/", 2)[-2]  # …/inner/back lists inner again
        assert child in inside


def test_missing_tool_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disks.shutil, "which", lambda name: None)
    monkeypatch.setattr(disks.os, "access", lambda path, mode: False)
    with pytest.raises(MissingTool, match="apt-get install e2fsprogs"):
        disks._tool("mke2fs")
    with pytest.raises(MissingTool, match="apt-get install ewf-tools"):
        disks._tool("ewfacquire")
