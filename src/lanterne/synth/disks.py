"""Synthetic forensic disk images, and what a correct tool must find in them.

The disk-image reader needs images that look like seized disks to the code (partition tables,
FAT, ext4 and NTFS file systems, deleted files, pictures lying in unallocated space, E01 and
virtual-disk containers, damaged and hostile images) and whose right answer is known without
running Lanterne. This module builds them from benign synthetic content
(:mod:`lanterne.synth.pictures`, :mod:`lanterne.synth.archives`) with the Debian tools a forensic
workstation has, never mounting anything and never needing root:

* file systems from a folder: :func:`ext4_image` (``mke2fs -d``), :func:`fat_image`
  (``mkfs.vfat`` + ``mcopy``), :func:`ntfs_image` (``mkntfs`` + ``ntfscp``: files in the root
  folder only, ntfs-3g's tools make no folders without mounting; named streams work);
* deletions: :func:`fat_delete` (``mdel``: the clusters keep the bytes),
  :func:`fat_write_over` (a new file takes a deleted file's clusters), :func:`ext4_delete`
  (``debugfs rm``, then, like the Linux kernel, the inode's extent tree is emptied);
* :func:`plant_unallocated`: bytes written into never-used clusters/blocks;
  :func:`fat_plant_slack`: bytes written into the slack of a file's last FAT cluster;
* :func:`partitioned_image` (``sfdisk`` on a plain file, GPT or MBR, 1 MiB aligned);
* containers: :func:`to_e01` (``ewfacquire``), :func:`split_raw`, :func:`convert_image`
  (``qemu-img``: VMDK, VHD, VHDX, QCOW2);
* hostile images (:func:`make_hostile_disks`): a truncated E01, a garbage MBR, a GPT with a bad
  CRC and an absurd entry count, FAT and ext4 directory loops;
* :func:`make_disk_case`: a GPT disk (FAT32, ext4, NTFS) with pictures, documents, a zip, a
  recoverable deleted picture, an overwritten deleted file, a deleted ext4 file and pictures
  planted in unallocated space, its E01, and the manifest (:class:`DiskCase`).

Times are fixed where the tools allow (``SOURCE_DATE_EPOCH``, ``E2FSPROGS_FAKE_TIME``,
``mkntfs -T``, source files' times), so two builds from one seed give the same FAT and ext4
images; NTFS files' creation times and the E01's acquisition date are the build's.
Offsets are in bytes; ``offset`` fields of carvable data count from the partition's start.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import random
import re
import shutil
import struct
import subprocess
import tempfile
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lanterne.errors import UserError
from lanterne.synth import archives
from lanterne.synth.pictures import CameraExif, make_picture

__all__ = [
    "FIXED_TIME",
    "MIB",
    "CarvableData",
    "DiskCase",
    "DiskFile",
    "FatLayout",
    "FsType",
    "HostileDisk",
    "MissingTool",
    "PartSpec",
    "Partition",
    "convert_image",
    "corrupt_gpt",
    "ext4_delete",
    "ext4_dir_loop",
    "ext4_image",
    "fat_clusters",
    "fat_delete",
    "fat_dir_loop",
    "fat_image",
    "fat_layout",
    "fat_plant_slack",
    "fat_write_over",
    "file_hashes",
    "garbage_mbr",
    "make_disk_case",
    "make_hostile_disks",
    "ntfs_delete",
    "ntfs_image",
    "partition_offsets",
    "partitioned_image",
    "plant_unallocated",
    "random_bytes",
    "split_raw",
    "to_e01",
    "truncated_copy",
    "write_tree",
    "xfs_image",
]

MIB = 1 << 20
SECTOR = 512
FIXED_TIME = int(archives.WHEN.timestamp())
"""The time given to files, folders and file-system metadata (2024-03-14 09:26:52 UTC)."""

FsType = Literal["fat12", "fat16", "fat32", "ext4", "ntfs"]
TableType = Literal["gpt", "mbr"]
ImageFormat = Literal["vmdk", "vhd", "vhdx", "qcow2"]

# Tool → the Debian package that ships it (named in MissingTool's message).
PACKAGES: dict[str, str] = {
    "mke2fs": "e2fsprogs",
    "debugfs": "e2fsprogs",
    "dumpe2fs": "e2fsprogs",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "mdel": "mtools",
    "mmd": "mtools",
    "mshowfat": "mtools",
    "mtype": "mtools",
    "mkntfs": "ntfs-3g",
    "ntfscp": "ntfs-3g",
    "sfdisk": "fdisk",
    "ewfacquire": "ewf-tools",
    "qemu-img": "qemu-utils",
    "mkfs.xfs": "xfsprogs",
}

_GPT_TYPES = {
    "linux": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",  # Linux file system data
    "basic": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",  # Microsoft basic data
}
_MBR_TYPES = {"fat12": "01", "fat16": "0e", "fat32": "0c", "ntfs": "07", "ext4": "83"}
_QEMU_FORMATS: dict[str, tuple[str, ...]] = {
    "vmdk": ("vmdk",),
    "vhd": ("vpc", "-o", "force_size=on"),  # keep the exact size (no CHS rounding)
    "vhdx": ("vhdx",),
    "qcow2": ("qcow2",),
}


class MissingTool(UserError):
    """A Debian tool that builds disk images is not installed; the message names its package."""


# --------------------------------------------------------------------------------------------
# Running tools


def _tool(name: str) -> str:
    path = shutil.which(name) or next(
        (p for d in ("/usr/sbin", "/sbin") if os.access(p := f"{d}/{name}", os.X_OK)), None
    )
    if path is None:
        package = PACKAGES.get(name, "?")
        raise MissingTool(f"{name} is not installed: apt-get install {package}")
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SOURCE_DATE_EPOCH": str(FIXED_TIME),
            "E2FSPROGS_FAKE_TIME": str(FIXED_TIME),
            "MTOOLS_SKIP_CHECK": "1",
            "MTOOLSRC": os.devnull,
            "LC_ALL": "C",
            "TZ": "UTC",
        }
    )
    return env


def _run(
    tool: str, *args: str | os.PathLike[str], input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Runs ``tool`` with an argument list (never a shell); a failure raises with its stderr."""
    argv = [_tool(tool), *(os.fspath(a) for a in args)]
    try:
        return subprocess.run(argv, input=input, capture_output=True, check=True, env=_env())
    except subprocess.CalledProcessError as exc:
        err = (exc.stderr or b"").decode("utf-8", "replace").strip()
        out = (exc.stdout or b"").decode("utf-8", "replace").strip()
        raise RuntimeError(f"{tool} failed ({exc.returncode}): {err or out}") from exc


def _debugfs(image: Path, commands: Sequence[str], *, write: bool = True) -> str:
    """Runs debugfs commands on an ext4 image; debugfs exits 0 even when a command fails, so
    anything it writes to stderr but its banner is an error."""
    with tempfile.NamedTemporaryFile("w", suffix=".debugfs", delete=False) as f:
        f.write("\n".join(commands) + "\n")
        script = f.name
    try:
        args = ["-w"] if write else []
        done = _run("debugfs", *args, "-f", script, image)
    finally:
        os.unlink(script)
    errors = [
        line
        for line in done.stderr.decode("utf-8", "replace").splitlines()
        if line.strip() and not line.startswith("debugfs ")
    ]
    if errors:
        raise RuntimeError(f"debugfs on {image.name}: {'; '.join(errors)}")
    return done.stdout.decode("utf-8", "replace")


def _quote(path: str) -> str:
    """A path as one debugfs argument."""
    if '"' in path or "\n" in path:
        raise ValueError(f"unsupported character in {path!r}")
    return f'"{path}"'


# --------------------------------------------------------------------------------------------
# Small helpers


def random_bytes(seed: int, size: int) -> bytes:
    """``size`` pseudo-random bytes drawn from ``seed`` (fast: ~0.5 GB/s)."""
    words = np.random.PCG64(seed).random_raw((size + 7) // 8).astype("<u8")
    return words.tobytes()[:size]


def file_hashes(path: Path, *names: str) -> dict[str, str]:
    """Hex digests of a file (default md5, sha1, sha256), read once in 4 MiB blocks; the
    digests run in threads (hashlib lets go of the GIL on large buffers)."""
    hashers = {n: hashlib.new(n) for n in (names or ("md5", "sha1", "sha256"))}
    with path.open("rb") as f, ThreadPoolExecutor(len(hashers)) as pool:
        while block := f.read(4 * MIB):
            for done in [pool.submit(h.update, block) for h in hashers.values()]:
                done.result()
    return {n: h.hexdigest() for n, h in hashers.items()}


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(bytes=rng.randbytes(16), version=4)).upper()


def _fix_times(root: Path, when: int = FIXED_TIME) -> None:
    """Gives every file and folder under ``root`` (and ``root``) the time ``when``."""
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (when, when), follow_symlinks=False)
    os.utime(root, (when, when))


def write_tree(root: Path, files: Mapping[str, bytes]) -> Path:
    """Writes ``path → bytes`` under ``root`` (paths with ``/``, a leading one optional), all
    at :data:`FIXED_TIME`: a source folder for the image builders. Returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        target = root / rel.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    _fix_times(root)
    return root


def _new_image(out: Path, size: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        f.truncate(size)


def _is_zero(image: Path, offset: int, size: int) -> bool:
    with image.open("rb") as f:
        f.seek(offset)
        return f.read(size) == bytes(size)


def _write_at(image: Path, offset: int, data: bytes) -> None:
    with image.open("r+b") as f:
        f.seek(offset)
        f.write(data)


# --------------------------------------------------------------------------------------------
# File systems from a folder


def ext4_image(
    src_dir: Path,
    out: Path,
    size_mib: int,
    *,
    label: str = "",
    seed: int = 0,
    when: int = FIXED_TIME,
) -> Path:
    """An ext4 image of ``size_mib`` MiB holding ``src_dir``'s tree (``mke2fs -t ext4 -d``).

    The UUID and directory hash seed come from ``seed``; file times are set to ``when`` in the
    source first and inode change times afterwards (debugfs), so the image is reproducible."""
    rng = random.Random(f"ext4-{seed}")
    fs_uuid, hash_seed = _guid(rng).lower(), _guid(rng).lower()
    _fix_times(src_dir, when)
    if out.exists():
        out.unlink()
    args = ["-q", "-F", "-t", "ext4", "-U", fs_uuid, "-E", f"root_owner=0:0,hash_seed={hash_seed}"]
    if label:
        args += ["-L", label]
    _run("mke2fs", *args, "-d", src_dir, out, f"{size_mib}M")
    paths = ["/", "/lost+found"] + [
        "/" + p.relative_to(src_dir).as_posix() for p in sorted(src_dir.rglob("*"))
    ]
    # mke2fs copies each source's change time (which cannot be set) and owner; pin them.
    _debugfs(
        out,
        [
            f"sif {_quote(p)} {name} {value}"
            for p in paths
            for name, value in (("ctime", f"@{when}"), ("uid", "0"), ("gid", "0"))
        ],
    )
    return out


def fat_image(
    src_dir: Path,
    out: Path,
    size_mib: int,
    *,
    fat: Literal[12, 16, 32] = 32,
    label: str = "",
    seed: int = 0,
    hidden_sectors: int = 0,
    cluster_sectors: int | None = None,
    when: int = FIXED_TIME,
) -> Path:
    """A FAT12/16/32 image of ``size_mib`` MiB holding ``src_dir``'s tree (``mkfs.vfat -C``,
    ``mcopy -s -m``). ``hidden_sectors`` is the partition's start sector, as a partitioning
    tool writes it into the boot sector. FAT32 wants at least 33 MiB (65525 clusters of 512
    bytes): below that, readers take it for FAT16."""
    if fat not in (12, 16, 32):
        raise ValueError(f"fat must be 12, 16 or 32, not {fat!r}")
    _fix_times(src_dir, when)
    if out.exists():
        out.unlink()
    volume_id = f"{random.Random(f'fat-{seed}').getrandbits(32):08X}"
    args = ["--invariant", "-F", str(fat), "-i", volume_id, "-h", str(hidden_sectors)]
    if label:
        args += ["-n", label[:11].upper()]
    if cluster_sectors is None and fat == 16 and size_mib < 16:
        cluster_sectors = 1  # mkfs.vfat's default clusters leave too few for FAT16 here
    if cluster_sectors is not None:
        args += ["-s", str(cluster_sectors)]
    out.parent.mkdir(parents=True, exist_ok=True)
    _run("mkfs.vfat", *args, "-C", out, str(size_mib * 1024))
    entries = sorted(src_dir.iterdir())
    if entries:
        _run("mcopy", "-s", "-m", "-i", out, *entries, "::/")
    return out


def xfs_image(src_dir: Path, out: Path, size_mib: int = 300) -> Path:
    """An XFS image holding ``src_dir``'s tree, from an ``mkfs.xfs -p`` prototype file (XFS
    wants at least 300 MiB; the file is sparse). Names must not contain white space."""
    lines = ["lanterne-synth", "0 0", "d--755 0 0"]

    def folder(directory: Path) -> None:
        for child in sorted(directory.iterdir()):
            if any(c.isspace() for c in child.name):
                raise ValueError(f"XFS prototype names cannot hold white space: {child.name!r}")
            if child.is_dir():
                lines.append(f"{child.name} d--755 0 0")
                folder(child)
            else:
                lines.append(f"{child.name} ---644 0 0 {child.absolute()}")
        lines.append("$")

    folder(src_dir)
    proto = out.with_suffix(".proto")
    proto.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _new_image(out, size_mib * MIB)
    try:
        _run("mkfs.xfs", "-q", "-f", "-p", proto, out)
    finally:
        proto.unlink(missing_ok=True)
    return out


def ntfs_delete(image: Path, path: str, record_size: int = 1024) -> int:
    """Marks the MFT record of ``path`` unused, as NTFS does on delete (its data stays in
    place); returns the record number. ntfs-3g's tools cannot delete without mounting, so the
    record's in-use flag is cleared directly; the folder's index entry is left, so The Sleuth
    Kit lists the name without metadata and the record among its orphans."""
    import pytsk3

    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(image)))
    number = int(fs.open(path).info.meta.addr)
    block = int(fs.info.block_size)
    at = number * record_size  # inside $MFT's data
    for attr in fs.open_meta(inode=0):
        if int(attr.info.type) != int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA):
            continue
        for run in attr:
            start = int(run.offset) * block
            if start <= at < start + int(run.len) * block:
                record = int(run.addr) * block + at - start
                with image.open("r+b") as f:
                    f.seek(record)
                    header = f.read(0x18)
                    if header[:4] != b"FILE":
                        raise RuntimeError(f"no MFT record at byte {record} of {image}")
                    flags = int.from_bytes(header[0x16:0x18], "little") & ~1
                    f.seek(record + 0x16)
                    f.write(flags.to_bytes(2, "little"))
                return number
    raise RuntimeError(f"MFT record {number} of {path} not found in {image}")


def ntfs_image(
    src_dir: Path,
    out: Path,
    size_mib: int,
    *,
    label: str = "",
    partition_start: int = 0,
    streams: Mapping[str, Mapping[str, bytes]] | None = None,
    when: int = FIXED_TIME,
) -> Path:
    """An NTFS image of ``size_mib`` MiB (``mkntfs -F -Q -T``) holding ``src_dir``'s files,
    copied one by one with ``ntfscp -t``, plus named streams (``streams``: file name → stream
    name → bytes, ``ntfscp -N``).

    ntfs-3g's tools cannot make a folder without mounting the volume, so ``src_dir`` must hold
    files only (a ``ValueError`` otherwise). ``partition_start`` is the partition's start sector
    for the boot sector. Files' creation and MFT times are the build's (``ntfscp`` sets them)."""
    _fix_times(src_dir, when)
    entries = sorted(src_dir.iterdir())
    folders = [e.name for e in entries if e.is_dir()]
    if folders:
        raise ValueError(f"ntfs_image makes no folders (ntfs-3g tools without mounting): {folders}")
    _new_image(out, size_mib * MIB)
    args = ["-F", "-Q", "-q", "-T", "-p", str(partition_start), "-H", "255", "-S", "63"]
    if label:
        args += ["-L", label]
    _run("mkntfs", *args, out)
    for entry in entries:
        _run("ntfscp", "-q", "-t", out, entry, entry.name)
    with tempfile.TemporaryDirectory() as tmp:
        for name, named in (streams or {}).items():
            for stream, data in named.items():
                tmp_file = Path(tmp) / "stream"
                tmp_file.write_bytes(data)
                _run("ntfscp", "-q", "-N", stream, out, tmp_file, name)
    return out


# --------------------------------------------------------------------------------------------
# FAT internals: layout, cluster chains, deletion


@dataclass(frozen=True, slots=True)
class FatLayout:
    """Where things are in a FAT file system, in bytes from its start."""

    fat_type: int
    sector_size: int
    cluster_size: int
    fat_offset: int
    fat_count: int
    fat_size: int
    data_offset: int
    """Byte offset of cluster 2."""
    cluster_count: int
    root_cluster: int
    """The root folder's first cluster on FAT32; 0 on FAT12/16 (fixed root area)."""
    fsinfo_offset: int | None

    def cluster_offset(self, cluster: int) -> int:
        if not 2 <= cluster < self.cluster_count + 2:
            raise ValueError(f"cluster {cluster} outside 2..{self.cluster_count + 1}")
        return self.data_offset + (cluster - 2) * self.cluster_size

    @property
    def last_cluster(self) -> int:
        return self.cluster_count + 1


def fat_layout(image: Path, offset: int = 0) -> FatLayout:
    """Reads a FAT boot sector (the FAT type is decided by the cluster count, as readers do)."""
    with image.open("rb") as f:
        f.seek(offset)
        boot = f.read(512)
    if boot[510:512] != b"\x55\xaa":
        raise ValueError(f"{image.name}: no FAT boot sector signature at {offset}")
    bps, spc, reserved, nfats, root_entries, total16 = struct.unpack_from("<HBHBHH", boot, 11)
    fat16_size = struct.unpack_from("<H", boot, 22)[0]
    total32, fat32_size, _, _, root_cluster, fsinfo = struct.unpack_from("<IIHHIH", boot, 32)
    total = total16 or total32
    fat_size = fat16_size or fat32_size
    root_sectors = (root_entries * 32 + bps - 1) // bps
    data_sector = reserved + nfats * fat_size + root_sectors
    clusters = (total - data_sector) // spc
    fat_type = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
    return FatLayout(
        fat_type=fat_type,
        sector_size=bps,
        cluster_size=bps * spc,
        fat_offset=reserved * bps,
        fat_count=nfats,
        fat_size=fat_size * bps,
        data_offset=data_sector * bps,
        cluster_count=clusters,
        root_cluster=root_cluster if fat_type == 32 else 0,
        fsinfo_offset=fsinfo * bps if fat_type == 32 else None,
    )


def _fat_entries(image: Path, layout: FatLayout) -> list[int]:
    """The first FAT's entries, one per cluster number (0 = free)."""
    with image.open("rb") as f:
        f.seek(layout.fat_offset)
        table = f.read(layout.fat_size)
    n = layout.cluster_count + 2
    if layout.fat_type == 32:
        return [v & 0x0FFFFFFF for v in struct.unpack_from(f"<{n}I", table)]
    if layout.fat_type == 16:
        return list(struct.unpack_from(f"<{n}H", table))
    out = []
    for c in range(n):
        pair = struct.unpack_from("<H", table, c * 3 // 2)[0]
        out.append(pair >> 4 if c & 1 else pair & 0xFFF)
    return out


def fat_clusters(image: Path, path: str) -> list[int]:
    """A file's or folder's cluster chain, as ``mshowfat`` reports it."""
    out = _run("mshowfat", "-i", image, "::" + _fat_path(path)).stdout.decode()
    clusters: list[int] = []
    for start, end in re.findall(r"<(\d+)(?:-(\d+))?>", out):
        clusters.extend(range(int(start), int(end or start) + 1))
    if not clusters:
        raise RuntimeError(f"mshowfat gave no clusters for {path}: {out.strip()}")
    return clusters


def _fat_path(path: str) -> str:
    return "/" + path.lstrip("/")


def _contiguous(numbers: Sequence[int]) -> bool:
    return all(b == a + 1 for a, b in itertools.pairwise(numbers))


def fat_delete(image: Path, path: str) -> list[int]:
    """Deletes a file with ``mdel`` (its directory entry is marked deleted, its FAT chain
    freed, its clusters keep their bytes); returns the clusters it had."""
    clusters = fat_clusters(image, path)
    _run("mdel", "-i", image, "::" + _fat_path(path))
    return clusters


def fat_write_over(image: Path, deleted_clusters: Sequence[int], src: Path, path: str) -> list[int]:
    """Writes ``src`` as ``path`` so that it takes over ``deleted_clusters`` (a deleted file's),
    as a later write does on a real volume; returns the new file's clusters.

    On FAT32 the FSInfo next-free hint is set just before the deleted file's first cluster, so
    mtools allocates from there; on FAT12/16 mtools searches from cluster 2. Raises if the new
    file did not take every one of ``deleted_clusters`` (make ``src`` at least as large, and
    the folder of ``path`` already exist, or it takes the first free cluster itself)."""
    layout = fat_layout(image)
    if layout.fsinfo_offset is not None:
        _write_at(image, layout.fsinfo_offset + 492, struct.pack("<I", deleted_clusters[0] - 1))
    _run("mcopy", "-m", "-i", image, src, "::" + _fat_path(path))
    taken = fat_clusters(image, path)
    if not set(deleted_clusters) <= set(taken):
        raise RuntimeError(
            f"{path} took clusters {taken[0]}..{taken[-1]}, not all of the deleted file's "
            f"{deleted_clusters[0]}..{deleted_clusters[-1]}"
        )
    return taken


def fat_plant_slack(image: Path, path: str, data: bytes) -> int:
    """Writes ``data`` into the slack of ``path``'s last cluster (between the end of the file
    and the end of its cluster), where no file's content is; returns its byte offset from the
    file system's start. Needs clusters large enough: ``fat_image(..., cluster_sectors=64)``
    gives 32 KiB clusters (FAT12 up to 127 MiB)."""
    layout = fat_layout(image)
    clusters = fat_clusters(image, path)
    size = len(_run("mtype", "-i", image, "::" + _fat_path(path)).stdout)
    used = size - (len(clusters) - 1) * layout.cluster_size
    if not 0 < used <= layout.cluster_size or used + len(data) > layout.cluster_size:
        slack = layout.cluster_size - used
        raise ValueError(f"{path}: {slack} bytes of slack, {len(data)} wanted")
    offset = layout.cluster_offset(clusters[-1]) + used
    _write_at(image, offset, data)
    return offset


def _fat_dir_entries(image: Path, layout: FatLayout, cluster: int) -> Iterable[tuple[int, bytes]]:
    """(byte offset, 32-byte entry) of a folder's entries, following its chain."""
    entries = _fat_entries(image, layout)
    with image.open("rb") as f:
        seen: set[int] = set()
        while 2 <= cluster <= layout.last_cluster and cluster not in seen:
            seen.add(cluster)
            base = layout.cluster_offset(cluster)
            f.seek(base)
            data = f.read(layout.cluster_size)
            for i in range(0, len(data), 32):
                yield base + i, data[i : i + 32]
            cluster = entries[cluster]


def fat_dir_loop(image: Path, folder: str, ancestor: str, name: str = "BACK") -> int:
    """Makes a folder loop: creates the sub-folder ``folder/name`` (an 8.3 name) with ``mmd``,
    then points its directory entry at ``ancestor``'s first cluster, so that walking into
    ``folder/name`` leads back to ``ancestor`` forever. Returns the entry's byte offset."""
    if not re.fullmatch(r"[A-Z0-9_]{1,8}", name):
        raise ValueError(f"the loop's name must be an upper-case 8.3 name, not {name!r}")
    layout = fat_layout(image)
    loop_path = f"{_fat_path(folder).rstrip('/')}/{name}"
    _run("mmd", "-i", image, "::" + loop_path)
    own = fat_clusters(image, loop_path)[0]
    target = layout.root_cluster if ancestor.strip("/") == "" else fat_clusters(image, ancestor)[0]
    if target < 2:
        raise ValueError("on FAT12/16 the root folder has no cluster: loop to a sub-folder")
    parent = fat_clusters(image, folder)[0]
    for offset, entry in _fat_dir_entries(image, layout, parent):
        hi, lo = struct.unpack_from("<H", entry, 20)[0], struct.unpack_from("<H", entry, 26)[0]
        if entry[0] not in (0, 0xE5) and entry[11] & 0x10 and (hi << 16 | lo) == own:
            patched = bytearray(entry)
            struct.pack_into("<H", patched, 20, target >> 16 if layout.fat_type == 32 else 0)
            struct.pack_into("<H", patched, 26, target & 0xFFFF)
            _write_at(image, offset, bytes(patched))
            return offset
    raise RuntimeError(f"no directory entry for {loop_path} in {folder}")


# --------------------------------------------------------------------------------------------
# ext4 internals


def _ext4_blocks(image: Path, path: str) -> list[int]:
    out = _debugfs(image, [f"blocks {_quote(path)}"], write=False)
    answer = " ".join(line for line in out.splitlines() if not line.startswith("debugfs:"))
    return [int(n) for n in answer.split()]


def _ext4_block_size(image: Path) -> int:
    out = _run("dumpe2fs", "-h", image).stdout.decode()
    match = re.search(r"^Block size:\s+(\d+)", out, re.M)
    if match is None:
        raise RuntimeError(f"dumpe2fs gave no block size for {image.name}")
    return int(match.group(1))


def ext4_delete(image: Path, path: str, *, like_kernel: bool = True) -> tuple[int, int] | None:
    """Deletes a file from an ext4 image with ``debugfs rm``; returns (byte offset, size) of
    its old content when it lay in one run of blocks (free now, and not wiped), else None.

    ``debugfs rm`` leaves the freed inode's extents in place, so The Sleuth Kit would still
    read the file back; with ``like_kernel`` (the default) the inode is then emptied as Linux
    does when it deletes a file (size 0, an empty extent tree): the name stays in the folder
    as a deleted entry, the content is no longer reachable from it, only by carving."""
    blocks = _ext4_blocks(image, path)
    stat = _debugfs(image, [f"stat {_quote(path)}"], write=False)
    inode_match = re.search(r"Inode:\s*(\d+)", stat)
    size_match = re.search(r"\bSize:\s*(\d+)", stat)
    if inode_match is None or size_match is None:
        raise RuntimeError(f"debugfs found no inode for {path}")
    inode, size = f"<{inode_match.group(1)}>", int(size_match.group(1))
    commands = [f"rm {_quote(path)}"]
    if like_kernel:
        commands += [f"sif {inode} size 0", f"sif {inode} blocks 0"]
        commands += [f"sif {inode} block[0] 0xF30A", f"sif {inode} block[1] 4"]
        slots = [*(str(i) for i in range(2, 12)), "IND", "DIND", "TIND"]
        commands += [f"sif {inode} block[{slot}] 0" for slot in slots]
    _debugfs(image, commands)
    if not blocks or not _contiguous(blocks):
        return None
    return blocks[0] * _ext4_block_size(image), size


def _ext4_free_ranges(image: Path) -> list[tuple[int, int]]:
    """Free block ranges (first, last), from ``dumpe2fs``."""
    out = _run("dumpe2fs", image).stdout.decode()
    ranges: list[tuple[int, int]] = []
    for line in re.findall(r"^\s+Free blocks: (.+)$", out, re.M):
        for part in line.split(","):
            first, _, last = part.strip().partition("-")
            if first:
                ranges.append((int(first), int(last or first)))
    return ranges


def ext4_dir_loop(image: Path, folder: str, ancestor: str, name: str = "loop") -> None:
    """Adds the entry ``folder/name`` pointing at ``ancestor``'s inode (``debugfs ln``): a
    hard link to a folder, which walking by path follows forever."""
    _debugfs(image, [f"ln {_quote(ancestor)} {_quote(folder.rstrip('/') + '/' + name)}"])


# --------------------------------------------------------------------------------------------
# Unallocated space


def plant_unallocated(image: Path, fs_type: FsType, data: bytes, *, from_end: int = 0) -> int:
    """Writes ``data`` into never-used space of a FAT or ext4 image, near its end, on a
    cluster/block boundary; returns its byte offset from the file system's start.

    ``from_end`` keeps that many bytes of free space between the data and the end of the free
    region (to plant a second item after the first, pass the first's size plus a margin). The
    region is checked to be free in the allocation table and all zero before writing."""
    if fs_type.startswith("fat"):
        layout = fat_layout(image)
        unit = layout.cluster_size
        entries = _fat_entries(image, layout)
        need = -(-(len(data) + from_end) // unit)
        first = layout.last_cluster + 1 - need
        if first < 2 or any(entries[c] for c in range(first, first + need)):
            raise RuntimeError(f"the last {need} clusters of {image.name} are not all free")
        offset = layout.cluster_offset(first)
    elif fs_type == "ext4":
        unit = _ext4_block_size(image)
        need = -(-(len(data) + from_end) // unit)
        fitting = [(a, b) for a, b in _ext4_free_ranges(image) if b - a + 1 >= need]
        if not fitting:
            raise RuntimeError(f"no {need} free blocks in a row in {image.name}")
        last = fitting[-1][1]
        offset = (last + 1 - need) * unit
    else:
        raise ValueError(f"plant_unallocated supports FAT and ext4, not {fs_type!r}")
    if not _is_zero(image, offset, len(data)):
        raise RuntimeError(f"the free space at {offset} in {image.name} has been used")
    _write_at(image, offset, data)
    return offset


# --------------------------------------------------------------------------------------------
# Partitioned disks


@dataclass(frozen=True, slots=True)
class PartSpec:
    """A file-system image to place in a partition."""

    image: Path
    fs_type: FsType
    name: str = ""
    """The GPT partition name (ignored on MBR)."""


@dataclass(frozen=True, slots=True)
class Partition:
    index: int
    """1-based, in table order (``/p1`` in dfVFS, slot order in ``mmls``)."""
    offset: int
    """Byte offset in the disk image."""
    size: int
    fs_type: str
    type_code: str
    """GPT partition type GUID or MBR type byte (hex)."""
    name: str = ""
    guid: str = ""

    @property
    def start_sector(self) -> int:
        return self.offset // SECTOR


def _align(n: int, unit: int = MIB) -> int:
    return -(-n // unit) * unit


def partition_offsets(sizes: Sequence[int]) -> list[int]:
    """The byte offsets :func:`partitioned_image` gives partitions of these sizes: the first at
    1 MiB, each next at the first MiB boundary after the previous one's end."""
    offsets, at = [], MIB
    for size in sizes:
        offsets.append(at)
        at = _align(at + size)
    return offsets


def partitioned_image(
    parts: Sequence[PartSpec], out: Path, table: TableType = "gpt", *, seed: int = 0
) -> list[Partition]:
    """A disk image with one partition per file-system image, written by ``sfdisk`` on a
    plain file (GPT or MBR; at most 4 on MBR), each image copied in at its 1 MiB-aligned
    offset (:func:`partition_offsets`). Disk and partition GUIDs come from ``seed``."""
    if table not in ("gpt", "mbr"):
        raise ValueError(f"table must be gpt or mbr, not {table!r}")
    if table == "mbr" and len(parts) > 4:
        raise ValueError("an MBR holds 4 primary partitions")
    sizes = [p.image.stat().st_size for p in parts]
    for p, size in zip(parts, sizes, strict=True):
        if size % SECTOR:
            raise ValueError(f"{p.image.name}: size {size} is not a multiple of {SECTOR}")
    offsets = partition_offsets(sizes)
    total = _align((offsets[-1] + sizes[-1]) if parts else MIB) + MIB  # room for the GPT backup
    rng = random.Random(f"disk-{seed}")
    lines = [f"label: {'gpt' if table == 'gpt' else 'dos'}", "unit: sectors"]
    lines.append(f"label-id: {_guid(rng) if table == 'gpt' else f'0x{rng.getrandbits(32):08x}'}")
    result = []
    for index, (p, offset, size) in enumerate(zip(parts, offsets, sizes, strict=True), 1):
        line = f"start={offset // SECTOR}, size={size // SECTOR}"
        guid = ""
        if table == "gpt":
            kind = "linux" if p.fs_type == "ext4" else "basic"
            code, guid = _GPT_TYPES[kind], _guid(rng)
            line += f", type={code}, uuid={guid}"
            if p.name:
                if '"' in p.name:
                    raise ValueError(f"partition name {p.name!r} holds a quote")
                line += f', name="{p.name}"'
        else:
            code = _MBR_TYPES[p.fs_type]
            line += f", type={code}"
        lines.append(line)
        result.append(Partition(index, offset, size, p.fs_type, code, p.name, guid))
    _new_image(out, total)
    script = ("\n".join(lines) + "\n").encode()
    _run("sfdisk", "--no-reread", "--no-tell-kernel", "-q", "--wipe", "never", out, input=script)
    with out.open("r+b") as disk:
        for p, offset in zip(parts, offsets, strict=True):
            _copy_into(p.image, disk, offset)
    return result


def _copy_into(src: Path, disk: Any, offset: int) -> None:
    """Copies ``src`` into the open ``disk`` at ``offset``, skipping zero blocks (the disk
    file is sparse and zero already there)."""
    zero = bytes(MIB)
    with src.open("rb") as f:
        at = offset
        while block := f.read(MIB):
            if block != zero[: len(block)]:
                disk.seek(at)
                disk.write(block)
            at += len(block)


# --------------------------------------------------------------------------------------------
# Containers


def to_e01(
    raw: Path,
    out_base: Path,
    *,
    case: str = "CASE-0001",
    evidence: str = "EV-01",
    examiner: str = "Examiner",
    description: str = "synthetic disk",
    notes: str = "synthetic test image",
    segment_size: int | None = None,
    compression: str = "fast",
) -> list[Path]:
    """An EnCase 6 E01 of ``raw`` (``ewfacquire -u -q``, MD5 and SHA-1 stored); ``out_base`` is
    the name without extension. Returns the segment files (``.E01``, ``.E02`` …) in order.
    ``segment_size`` is in bytes (at least 1 MiB). ``compression`` is ewfacquire's level:
    ``fast`` (deflate every chunk), ``best``, ``empty-block`` (deflate only chunks of one
    repeated byte: 4× faster on incompressible data, same size) or ``none``."""
    if compression not in ("none", "empty-block", "fast", "best"):
        raise ValueError(f"unknown E01 compression {compression!r}")
    out_base.parent.mkdir(parents=True, exist_ok=True)
    for old in out_base.parent.glob(out_base.name + ".E[0-9A-Z][0-9A-Z]"):
        old.unlink()
    args: list[str | Path] = ["-u", "-q", "-t", out_base, "-f", "encase6", "-c", compression]
    args += ["-d", "sha1"]
    args += ["-C", case, "-E", evidence, "-e", examiner, "-D", description, "-N", notes]
    args += ["-m", "fixed", "-M", "physical"]
    if segment_size is not None:
        args += ["-S", str(segment_size)]
    _run("ewfacquire", *args, raw)
    segments = sorted(out_base.parent.glob(out_base.name + ".E[0-9A-Z][0-9A-Z]"))
    if not segments:
        raise RuntimeError(f"ewfacquire wrote no segment for {out_base}")
    return segments


def split_raw(raw: Path, out_dir: Path, segment_size: int) -> list[Path]:
    """Splits a raw image into ``name.001``, ``name.002`` … of ``segment_size`` bytes each
    (the last one shorter), as ``split -d -a 3`` numbered from 1 would."""
    if segment_size <= 0:
        raise ValueError("segment_size must be positive")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    with raw.open("rb") as f:
        n = 0
        while True:
            first = f.read(min(segment_size, 4 * MIB))
            if not first and n:
                break
            n += 1
            path = out_dir / f"{raw.name}.{n:03d}"
            with path.open("wb") as seg:
                seg.write(first)
                left = segment_size - len(first)
                while left > 0 and (block := f.read(min(left, 4 * MIB))):
                    seg.write(block)
                    left -= len(block)
            out.append(path)
            if not first:
                break
    return out


def convert_image(raw: Path, out: Path, fmt: ImageFormat) -> Path:
    """``raw`` converted with ``qemu-img convert`` to ``vmdk``, ``vhd`` (qemu's ``vpc``, at the
    exact size), ``vhdx`` or ``qcow2``."""
    if fmt not in _QEMU_FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; one of {', '.join(_QEMU_FORMATS)}")
    target, *options = _QEMU_FORMATS[fmt]
    _run("qemu-img", "convert", "-f", "raw", "-O", target, *options, raw, out)
    return out


# --------------------------------------------------------------------------------------------
# Hostile images


def truncated_copy(src: Path, out: Path, fraction: float = 0.5) -> Path:
    """A copy of ``src`` cut to ``fraction`` of its size (a truncated acquisition)."""
    keep = int(src.stat().st_size * fraction)
    with src.open("rb") as f, out.open("wb") as g:
        while keep > 0 and (block := f.read(min(keep, 4 * MIB))):
            g.write(block)
            keep -= len(block)
    return out


def garbage_mbr(disk: Path, *, seed: int = 0) -> None:
    """Overwrites the four MBR partition entries with random bytes (the 0x55AA signature stays,
    so the sector still claims to be an MBR)."""
    _write_at(disk, 446, random.Random(f"mbr-{seed}").randbytes(64))


def corrupt_gpt(disk: Path, *, entries: int = 0x7FFFFFFF, backup: bool = True) -> None:
    """Breaks a GPT: the header at LBA 1 (and with ``backup`` the one in the last sector)
    claims ``entries`` entries of 4 GiB - 128 bytes each and keeps a CRC that no longer
    matches. The protective MBR is left alone."""
    size = disk.stat().st_size
    spots = [SECTOR] + ([size - SECTOR] if backup else [])
    with disk.open("r+b") as f:
        for at in spots:
            f.seek(at)
            header = bytearray(f.read(92))
            if header[:8] != b"EFI PART":
                raise ValueError(f"{disk.name}: no GPT header at {at}")
            struct.pack_into("<II", header, 80, entries, 0xFFFFFF80)
            good = zlib.crc32(bytes(header[:16]) + b"\0\0\0\0" + bytes(header[20:92]))
            stored = struct.unpack_from("<I", header, 16)[0]
            if stored == good:  # keep it wrong even if it happened to match
                struct.pack_into("<I", header, 16, good ^ 0xDEADBEEF)
            f.seek(at)
            f.write(header)


@dataclass(frozen=True, slots=True)
class HostileDisk:
    kind: str
    """``truncated-e01``, ``garbage-mbr``, ``bad-gpt``, ``fat-dir-loop``, ``ext4-dir-loop``."""
    path: Path
    """The image (for an E01: its first segment)."""
    detail: str
    fs_type: str = ""
    loop: tuple[str, str] | None = None
    """For a directory loop: (the looping folder's path, the ancestor it leads back to)."""
    full_size: int = 0
    """For the truncated E01: the size of the media it was made from."""


def make_hostile_disks(out_dir: Path, *, seed: int = 0) -> list[HostileDisk]:
    """Writes the hostile images into ``out_dir`` (about 40 MiB on disk, mostly sparse)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result: list[HostileDisk] = []
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp_name:
        tmp = Path(tmp_name)
        files = {
            "DCIM/IMG_0001.JPG": make_picture(seed * 7919 + 1, (320, 240)),
            "notes.txt": b"Plain words, nothing else.\n",
        }
        write_tree(tmp / "src", files)
        fat16 = fat_image(tmp / "src", tmp / "fat16.img", 8, fat=16, label="HOSTILE", seed=seed)

        mbr = out_dir / "garbage-mbr.raw"
        partitioned_image([PartSpec(fat16, "fat16")], mbr, "mbr", seed=seed)
        garbage_mbr(mbr, seed=seed)
        result.append(
            HostileDisk("garbage-mbr", mbr, "random bytes over the 4 MBR partition entries")
        )

        gpt = out_dir / "bad-gpt.raw"
        partitioned_image([PartSpec(fat16, "fat16", "hostile")], gpt, "gpt", seed=seed)
        corrupt_gpt(gpt)
        result.append(
            HostileDisk(
                "bad-gpt", gpt, "both GPT headers: bad CRC, 0x7FFFFFFF entries of 0xFFFFFF80 bytes"
            )
        )

        # An E01 of a sound disk, cut in half.
        sound = tmp / "sound.raw"
        partitioned_image([PartSpec(fat16, "fat16", "data")], sound, "gpt", seed=seed)
        e01 = to_e01(sound, tmp / "sound", case="HOSTILE-1")
        truncated = truncated_copy(e01[0], out_dir / "truncated.E01")
        result.append(
            HostileDisk(
                "truncated-e01",
                truncated,
                "the first half of a single-segment E01",
                full_size=sound.stat().st_size,
            )
        )

        fat32_src = tmp / "src32"
        write_tree(fat32_src, {"LOOP/INNER/a.txt": b"inside the loop\n"})
        fat32 = fat_image(fat32_src, out_dir / "fat32-loop.img", 40, fat=32, seed=seed)
        fat_dir_loop(fat32, "/LOOP/INNER", "/LOOP", "BACK")
        result.append(
            HostileDisk(
                "fat-dir-loop",
                fat32,
                "FAT32: /LOOP/INNER/BACK's entry starts at /LOOP's first cluster",
                fs_type="fat32",
                loop=("/LOOP/INNER/BACK", "/LOOP"),
            )
        )

        ext_src = tmp / "srcext"
        write_tree(ext_src, {"home/loop/inner/a.txt": b"inside the loop\n"})
        ext = ext4_image(ext_src, out_dir / "ext4-loop.img", 8, seed=seed)
        ext4_dir_loop(ext, "/home/loop/inner", "/home/loop", "back")
        result.append(
            HostileDisk(
                "ext4-dir-loop",
                ext,
                "ext4: /home/loop/inner/back is a hard link to the folder /home/loop",
                fs_type="ext4",
                loop=("/home/loop/inner/back", "/home/loop"),
            )
        )
    return result


# --------------------------------------------------------------------------------------------
# The composed case and its manifest


@dataclass(frozen=True, slots=True)
class DiskFile:
    """One file (or NTFS named stream) a disk-image walker must report."""

    partition: int
    """1-based partition index."""
    partition_offset: int
    """Byte offset of the partition in the disk image."""
    fs_type: str
    path: str
    """Path inside the file system, from ``/``."""
    size: int
    sha256: str
    md5: str
    kind: str
    """picture, text, archive or binary."""
    deleted: bool = False
    recoverable: bool = True
    """Reading the entry gives these bytes back (always true for a live file)."""
    stream: str = ""
    """An NTFS named stream (alternate data stream) of the file at ``path``; "" for the data."""
    overwritten_by: str = ""
    """For a deleted file whose clusters another file took: that file's path."""
    residue_offset: int | None = None
    """For a deleted file: where its bytes still lie in unallocated space, one run, from the
    partition's start (carving territory); None when gone or not contiguous."""


@dataclass(frozen=True, slots=True)
class CarvableData:
    """Bytes lying in unallocated space that a carver must find."""

    partition: int
    partition_offset: int
    fs_type: str
    offset: int
    """From the partition's start."""
    size: int
    sha256: str
    md5: str
    format: str
    """JPEG or PNG."""
    origin: str
    """``planted`` (written into never-used space) or ``deleted-file`` (a deleted file's
    clusters, not reused)."""
    path: str = ""
    """For ``deleted-file``: the deleted file's path."""

    @property
    def disk_offset(self) -> int:
        return self.partition_offset + self.offset


@dataclass
class DiskCase:
    """A synthetic disk written under ``root`` and what a correct tool must find in it."""

    root: Path
    seed: int
    table: str
    raw: Path
    raw_size: int
    raw_md5: str
    raw_sha1: str
    raw_sha256: str
    partitions: list[Partition] = field(default_factory=list)
    files: list[DiskFile] = field(default_factory=list)
    carvable: list[CarvableData] = field(default_factory=list)
    e01: list[Path] = field(default_factory=list)
    """E01 segments, first first (empty when not made)."""
    case_number: str = ""
    evidence_number: str = ""
    examiner: str = ""
    build_seconds: float = 0.0

    @property
    def live_files(self) -> list[DiskFile]:
        return [f for f in self.files if not f.deleted]

    @property
    def deleted_files(self) -> list[DiskFile]:
        return [f for f in self.files if f.deleted]

    def partition(self, index: int) -> Partition:
        return next(p for p in self.partitions if p.index == index)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-able values (paths as strings)."""

        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        data = plain(dataclasses.asdict(self))
        assert isinstance(data, dict)
        for item, carved in zip(data["carvable"], self.carvable, strict=True):
            item["disk_offset"] = carved.disk_offset
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DiskCase:
        """The case back from :meth:`to_dict` (or a ``manifest.json``'s content)."""
        plain = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
        for name in ("root", "raw"):
            plain[name] = Path(plain[name])
        plain["e01"] = [Path(p) for p in plain.get("e01", [])]
        plain["partitions"] = [Partition(**p) for p in plain.get("partitions", [])]
        plain["files"] = [DiskFile(**f) for f in plain.get("files", [])]
        plain["carvable"] = [
            CarvableData(**{k: v for k, v in c.items() if k != "disk_offset"})
            for c in plain.get("carvable", [])
        ]
        return cls(**plain)

    @classmethod
    def load(cls, manifest: Path) -> DiskCase:
        """A case from its ``manifest.json`` (a benchmark builds once, then reuses it)."""
        return cls.from_dict(json.loads(manifest.read_text(encoding="utf-8")))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def write_manifest(self, path: Path | None = None) -> Path:
        target = path or self.root / "manifest.json"
        target.write_text(self.to_json() + "\n", encoding="utf-8")
        return target


_CAMERA = ("Synthcam", "SC-100")
_PHONE = ("Fauxphone", "FP-7")


class _Content:
    """Every byte the case holds, drawn from one seed."""

    def __init__(self, seed: int, picture_size: tuple[int, int]) -> None:
        self.rng = random.Random(f"disk-case-{seed}")
        self.next_seed = seed * 1_000_003 + 17
        self.size = picture_size
        self.start = datetime(2023, 5, 2, 7, 30, tzinfo=UTC)

    def picture(self, fmt: str = "JPEG", camera: tuple[str, str] | None = None) -> bytes:
        self.next_seed += 1
        exif = None
        if camera is not None:
            taken = self.start + timedelta(minutes=self.rng.randrange(60 * 24 * 365))
            gps = (round(self.rng.uniform(44.0, 49.0), 5), round(self.rng.uniform(0.0, 6.0), 5))
            serial = f"SN{self.next_seed % 10**8:08d}"
            exif = CameraExif(camera[0], camera[1], serial=serial, taken_at=taken, gps=gps)
        return make_picture(self.next_seed, self.size, fmt, exif=exif)

    def blob(self, size: int) -> bytes:
        self.next_seed += 1
        return random_bytes(self.next_seed, size)


@dataclass
class _Fs:
    """One file system being put together."""

    fs_type: FsType
    label: str
    name: str
    tree: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    large: dict[str, int] = field(default_factory=dict)
    """Large random files: path → (seed-drawn) size, written straight to the source folder."""
    extra: int = 0
    """Bytes of room beyond the content (deleted files, planted data)."""

    def content_size(self) -> int:
        return sum(len(d) for d, _ in self.tree.values()) + sum(self.large.values())


def _size_mib(fs: _Fs) -> int:
    content = fs.content_size() + fs.extra
    if fs.fs_type == "fat32":
        return max(40, -(-(content * 23 // 20 + 8 * MIB) // MIB))
    if fs.fs_type == "ext4":
        return max(16, -(-(content * 23 // 20 + 24 * MIB) // MIB))
    return max(16, -(-(content * 23 // 20 + 8 * MIB) // MIB))


def _expect(part: Partition, path: str, data: bytes, kind: str, **extra: Any) -> DiskFile:
    return DiskFile(
        partition=part.index,
        partition_offset=part.offset,
        fs_type=part.fs_type,
        path=path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        kind=kind,
        **extra,
    )


def _carve(
    part: Partition, offset: int, data: bytes, fmt: str, origin: str, path: str = ""
) -> CarvableData:
    return CarvableData(
        partition=part.index,
        partition_offset=part.offset,
        fs_type=part.fs_type,
        offset=offset,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        format=fmt,
        origin=origin,
        path=path,
    )


def make_disk_case(
    out_dir: Path,
    *,
    seed: int = 0,
    pictures: int = 3,
    picture_size: tuple[int, int] = (640, 480),
    large_files: int = 0,
    large_file_mib: tuple[int, int] = (32, 64),
    ntfs: bool = True,
    table: TableType = "gpt",
    e01: bool = True,
    segment_size: int | None = None,
    e01_compression: str | None = None,
    keep_fs_images: bool = False,
) -> DiskCase:
    """Writes ``disk.raw`` (and ``disk.E01``, ``manifest.json``) under ``out_dir``.

    The disk (GPT by default) holds three partitions:

    1. FAT32 ``KESTREL`` (a camera card): ``/DCIM/100SYNTH/IMG_0001.JPG`` … (camera EXIF),
       ``/Documents/notes.txt``, ``/Documents/letters.zip``, ``/Downloads/readme.txt``; the
       deleted picture ``/DCIM/100SYNTH/lakeside_evening.jpg`` (clusters untouched: recoverable, and
       carvable); the deleted picture ``/Documents/old_scan_2019.jpg`` whose clusters
       ``/Downloads/setup_data.bin`` took (not recoverable); a JPEG planted in never-used
       clusters near the end;
    2. ext4 ``home``: ``/home/mira/Pictures/…`` (JPEG with phone EXIF, PNG),
       ``/home/mira/notes.txt``, ``/home/mira/Documents/photos.zip``; the deleted
       ``/home/mira/todo.txt`` (emptied inode, as Linux deletes: not recoverable, its bytes
       still in a free block); a PNG planted in never-used blocks near the end;
    3. (``ntfs``) NTFS ``WINDATA``, files in its root folder only: ``/Scan_0001.jpg`` … with
       a ``Zone.Identifier`` named stream on the first, ``/report.txt``.

    ``pictures`` is the number of pictures per file system; ``large_files`` adds random-byte
    files of ``large_file_mib`` MiB (drawn from the seed; alternately on FAT32 and ext4) for
    benchmarks: 20 of 32-64 MiB make a ~1.2 GB disk. ``e01_compression`` is
    :func:`to_e01`'s (default: ``fast`` under 256 MiB, else ``empty-block``, which is four
    times faster on random data and as small). ``keep_fs_images`` keeps the partitions' file
    system images (``p1-kestrel.img`` …) next to the disk. The same seed gives the same FAT
    and ext4 bytes; NTFS and E01 times are the build's.
    """
    started = datetime.now(UTC)
    if pictures < 1:
        raise ValueError(f"pictures must be at least 1, not {pictures!r}")
    if large_files < 0 or not 1 <= large_file_mib[0] <= large_file_mib[1]:
        raise ValueError("large_files must be >= 0 and large_file_mib a (low, high) range >= 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    content = _Content(seed, picture_size)

    # --- what goes where
    fat = _Fs("fat32", "KESTREL", "kestrel")
    for i in range(pictures):
        fat.tree[f"/DCIM/100SYNTH/IMG_{i + 1:04d}.JPG"] = (
            content.picture(camera=_CAMERA),
            "picture",
        )
    fat.tree["/Documents/notes.txt"] = (b"Pick up the parcel at the depot on Tuesday.\n", "text")
    letters = archives.zip_bytes(
        {
            "letters/to-ottilie.txt": b"Dear Ottilie, the garden is fine.\n",
            "letters/sketch.jpg": content.picture(),
        }
    )
    fat.tree["/Documents/letters.zip"] = (letters, "archive")
    fat.tree["/Downloads/readme.txt"] = (b"Downloaded files go here.\n", "text")
    recoverable = content.picture(camera=_CAMERA)
    overwritten = content.picture()
    overwriter = content.blob(len(overwritten) + 8192)
    planted_jpeg = content.picture(camera=_CAMERA)
    fat.extra = len(recoverable) + len(overwritten) + len(overwriter) + len(planted_jpeg)

    ext = _Fs("ext4", "home", "home")
    for i in range(pictures):
        data = content.picture("PNG" if i % 3 == 2 else "JPEG", camera=_PHONE)
        suffix = "png" if i % 3 == 2 else "jpg"
        ext.tree[f"/home/mira/Pictures/IMG_{20230600 + i}.{suffix}"] = (data, "picture")
    ext.tree["/home/mira/notes.txt"] = (b"Water the ferns. Call Bertrand about the boat.\n", "text")
    photos = archives.zip_bytes({f"photo_{i}.jpg": content.picture() for i in range(2)})
    ext.tree["/home/mira/Documents/photos.zip"] = (photos, "archive")
    todo = b"TODO\n" + b"- mend the fence\n" * 300
    ext.tree["/home/mira/todo.txt"] = (todo, "text")
    planted_png = content.picture("PNG")
    ext.extra = len(planted_png)

    nt = _Fs("ntfs", "WINDATA", "windata")
    for i in range(pictures):
        nt.tree[f"/Scan_{i + 1:04d}.jpg"] = (content.picture(), "picture")
    nt.tree["/report.txt"] = (b"Quarterly figures: nothing to report.\r\n", "text")
    zone = b"[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=https://example.invalid/scan\r\n"

    size_rng = random.Random(f"large-{seed}")
    for i in range(large_files):
        size = size_rng.randint(large_file_mib[0] * MIB, large_file_mib[1] * MIB)
        target = fat if i % 2 == 0 else ext
        where = "/Archive" if target is fat else "/home/mira/Archive"
        target.large[f"{where}/blob_{i + 1:03d}.bin"] = size

    systems = [fat, ext] + ([nt] if ntfs else [])
    sizes = [_size_mib(fs) * MIB for fs in systems]
    offsets = partition_offsets(sizes)

    files: list[DiskFile] = []
    carvable: list[CarvableData] = []
    parts_spec: list[PartSpec] = []
    large_seed = seed * 7_919 + 1_000
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as tmp_name:
        tmp = Path(tmp_name)
        images: list[Path] = []
        for n, (fs, size, offset) in enumerate(zip(systems, sizes, offsets, strict=True)):
            src = tmp / f"src-{fs.name}"
            write_tree(src, {path: data for path, (data, _) in fs.tree.items()})
            for path, large_size in fs.large.items():
                large_seed += 1
                large_path = src / path.lstrip("/")
                large_path.parent.mkdir(parents=True, exist_ok=True)
                large_path.write_bytes(random_bytes(large_seed, large_size))
            _fix_times(src)
            image = (out_dir if keep_fs_images else tmp) / f"p{n + 1}-{fs.name}.img"
            if fs.fs_type == "fat32":
                fat_image(
                    src,
                    image,
                    size // MIB,
                    fat=32,
                    label=fs.label,
                    seed=seed,
                    hidden_sectors=offset // SECTOR,
                )
            elif fs.fs_type == "ext4":
                ext4_image(src, image, size // MIB, label=fs.label, seed=seed)
            else:
                ntfs_image(
                    src,
                    image,
                    size // MIB,
                    label=fs.label,
                    partition_start=offset // SECTOR,
                    streams={"Scan_0001.jpg": {"Zone.Identifier": zone}},
                )
            images.append(image)
            parts_spec.append(PartSpec(image, fs.fs_type, fs.name))

        # The partitions to be (offsets are known), for the records made before the disk is.
        parts = [
            Partition(i + 1, off, size, fs.fs_type, "", fs.name)
            for i, (fs, off, size) in enumerate(zip(systems, offsets, sizes, strict=True))
        ]

        # --- FAT32: a recoverable deleted picture, an overwritten one, a planted JPEG
        fat_img, fat_part = images[0], parts[0]
        staging = tmp / "staging"
        staging.mkdir()
        (staging / "lakeside_evening.jpg").write_bytes(recoverable)
        (staging / "old_scan_2019.jpg").write_bytes(overwritten)
        (staging / "setup_data.bin").write_bytes(overwriter)
        _fix_times(staging)
        # Copied last, in this order: old_scan_2019.jpg's clusters end the used area, so the file
        # written over them runs on into never-used clusters, away from lakeside_evening.jpg's.
        _run("mcopy", "-m", "-i", fat_img, staging / "lakeside_evening.jpg", "::/DCIM/100SYNTH/")
        _run("mcopy", "-m", "-i", fat_img, staging / "old_scan_2019.jpg", "::/Documents/")
        kept = fat_delete(fat_img, "/DCIM/100SYNTH/lakeside_evening.jpg")
        lost = fat_delete(fat_img, "/Documents/old_scan_2019.jpg")
        taken = fat_write_over(
            fat_img, lost, staging / "setup_data.bin", "/Downloads/setup_data.bin"
        )
        if set(taken) & set(kept):
            raise RuntimeError("the overwriting file took the recoverable file's clusters")
        layout = fat_layout(fat_img)
        kept_offset = layout.cluster_offset(kept[0]) if _contiguous(kept) else None
        fat.tree["/Downloads/setup_data.bin"] = (overwriter, "binary")
        files.append(
            _expect(
                fat_part,
                "/DCIM/100SYNTH/lakeside_evening.jpg",
                recoverable,
                "picture",
                deleted=True,
                recoverable=kept_offset is not None,
                residue_offset=kept_offset,
            )
        )
        files.append(
            _expect(
                fat_part,
                "/Documents/old_scan_2019.jpg",
                overwritten,
                "picture",
                deleted=True,
                recoverable=False,
                overwritten_by="/Downloads/setup_data.bin",
            )
        )
        if kept_offset is not None:
            carvable.append(
                _carve(
                    fat_part,
                    kept_offset,
                    recoverable,
                    "JPEG",
                    "deleted-file",
                    "/DCIM/100SYNTH/lakeside_evening.jpg",
                )
            )
        offset = plant_unallocated(fat_img, "fat32", planted_jpeg)
        carvable.append(_carve(fat_part, offset, planted_jpeg, "JPEG", "planted"))

        # --- ext4: a deleted text file (not recoverable), a planted PNG
        ext_img, ext_part = images[1], parts[1]
        residue = ext4_delete(ext_img, "/home/mira/todo.txt")
        del ext.tree["/home/mira/todo.txt"]
        files.append(
            _expect(
                ext_part,
                "/home/mira/todo.txt",
                todo,
                "text",
                deleted=True,
                recoverable=False,
                residue_offset=residue[0] if residue else None,
            )
        )
        offset = plant_unallocated(ext_img, "ext4", planted_png)
        carvable.append(_carve(ext_part, offset, planted_png, "PNG", "planted"))

        # --- the disk
        raw = out_dir / "disk.raw"
        partitions = partitioned_image(parts_spec, raw, table, seed=seed)
        for fs, part in zip(systems, partitions, strict=True):
            for path, (data, kind) in sorted(fs.tree.items()):
                files.append(_expect(part, path, data, kind))
            for path in sorted(fs.large):
                files.append(_large_expect(part, tmp / f"src-{fs.name}" / path.lstrip("/"), path))
        if ntfs:
            files.append(
                _expect(partitions[2], "/Scan_0001.jpg", zone, "text", stream="Zone.Identifier")
            )
    if [p.offset for p in partitions] != offsets:
        raise RuntimeError("partitioned_image placed the partitions elsewhere than planned")
    files.sort(key=lambda f: (f.partition, f.path, f.stream, f.deleted))
    carvable.sort(key=lambda c: (c.partition, c.offset))

    hashes = file_hashes(raw)
    case = DiskCase(
        root=out_dir,
        seed=seed,
        table=table,
        raw=raw,
        raw_size=raw.stat().st_size,
        raw_md5=hashes["md5"],
        raw_sha1=hashes["sha1"],
        raw_sha256=hashes["sha256"],
        partitions=partitions,
        files=files,
        carvable=carvable,
        case_number=f"OP-KESTREL-{seed:04d}",
        evidence_number="HDD-01",
        examiner="Examiner Noor Castellan",
    )
    if e01:
        case.e01 = to_e01(
            raw,
            out_dir / "disk",
            case=case.case_number,
            evidence=case.evidence_number,
            examiner=case.examiner,
            description="synthetic disk (Lanterne)",
            segment_size=segment_size,
            compression=e01_compression
            or ("fast" if raw.stat().st_size < 256 * MIB else "empty-block"),
        )
    case.build_seconds = (datetime.now(UTC) - started).total_seconds()
    case.write_manifest()
    return case


def _large_expect(part: Partition, source: Path, path: str) -> DiskFile:
    hashes = file_hashes(source, "md5", "sha256")
    return DiskFile(
        partition=part.index,
        partition_offset=part.offset,
        fs_type=part.fs_type,
        path=path,
        size=source.stat().st_size,
        sha256=hashes["sha256"],
        md5=hashes["md5"],
        kind="binary",
    )
