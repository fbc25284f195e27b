"""Benchmark: ingest of the same files from a folder, from a raw disk image and from its E01.

Usage::

    python benchmarks/bench_disk.py                      # 16 files x 64 MiB, 2 workers
    python benchmarks/bench_disk.py --files 8 --size-mib 32 --rounds 3
    python benchmarks/bench_disk.py --small 20000          # many small files: the walk's cost

The folder of random-byte files (incompressible: the worst case for E01, whose chunks are then
stored and checksummed, not deflated) is turned into an ext4 file system (``mke2fs -d``), which is
the raw image, and that into an E01 with ``ewfacquire``. Each round ingests the three into fresh
cases (registration, walk, reads through The Sleuth Kit / libewf, digests, typing, store
writes, and for the images the carving pass over their free space); rounds interleave and the
best is shown. Page caches are warm, so what remains is the cost of the layers. Printed: MB/s
of file bytes, CPU seconds per GB, and the ratios image / folder (target for E01: >= 0.7).
Every image ingest is checked to record the folder's SHA-256s.

The peer, where The Sleuth Kit and hashdeep are installed: the classic way to hash what is in an
image, ``tsk_recover -e`` (every file, deleted ones too, written out) then ``hashdeep -c
md5,sha1,sha256 -r`` over what it wrote; printed as its own row, against the raw image.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.evidence.registry import add_evidence
from lanterne.ingest.pipeline import Ingestor
from lanterne.synth.disks import ext4_image, to_e01

MiB = 1 << 20


def make_tree(root: Path, files: int, size: int) -> int:
    rng = np.random.default_rng(20261129)
    for i in range(files):
        (root / f"file_{i:03d}.bin").write_bytes(rng.bytes(size))
    return files * size


def make_small_tree(root: Path, files: int) -> int:
    """``files`` files of 100 B to 8 KB, 500 to a folder."""
    rng = np.random.default_rng(20261130)
    total = 0
    for i in range(files):
        folder = root / f"d{i // 500:03d}"
        folder.mkdir(exist_ok=True)
        data = rng.bytes(int(rng.integers(100, 8000)))
        (folder / f"{i}.txt").write_bytes(data)
        total += len(data)
    return total


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def ingest(work: Path, item: Path, workers: int) -> tuple[float, float, set[str]]:
    case_dir = work / "case"
    shutil.rmtree(case_dir, ignore_errors=True)
    with Case.init(case_dir, "bench", None) as case:
        add_evidence(case, item, "ITEM")
        c0, t0 = cpu(), time.perf_counter()
        Ingestor(case, workers=workers).run()
        wall, used = time.perf_counter() - t0, cpu() - c0
        with case.store.engine.connect() as conn:
            shas = {r[0] for r in conn.execute(select(schema.file.c.sha256))}
    return wall, used, shas


def peer(work: Path, raw: Path) -> float | None:
    """Seconds for tsk_recover + hashdeep on the raw image (None when not installed)."""
    if not (shutil.which("tsk_recover") and shutil.which("hashdeep")):
        return None
    out = work / "recovered"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    t0 = time.perf_counter()
    subprocess.run(["tsk_recover", "-e", str(raw), str(out)], check=True, capture_output=True)
    subprocess.run(
        ["hashdeep", "-c", "md5,sha1,sha256", "-r", str(out)], check=True, capture_output=True
    )
    wall = time.perf_counter() - t0
    shutil.rmtree(out)
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--small", type=int, default=0, help="this many small files instead")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: tmp)")
    args = ap.parse_args()
    for tool in ("mke2fs", "ewfacquire"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed (Debian packages e2fsprogs, ewf-tools)", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        folder = work / "folder"
        folder.mkdir()
        if args.small:
            total = make_small_tree(folder, args.small)
            fs_mib = total // MiB + args.small * 4096 // MiB + 64  # a block per file at least
        else:
            total = make_tree(folder, args.files, args.size_mib * MiB)
            fs_mib = total // MiB + total // MiB // 8 + 16
        count = args.small or args.files
        t0 = time.perf_counter()
        raw = ext4_image(folder, work / "disk.raw", fs_mib)
        t1 = time.perf_counter()
        e01 = to_e01(raw, work / "disk")[0]
        t2 = time.perf_counter()
        shape = f"{args.small} small files" if args.small else f"{args.files} x {args.size_mib} MiB"
        print(
            f"{shape} = {total / 1e9:.2f} GB; ext4 image "
            f"{raw.stat().st_size / 1e9:.2f} GB built in {t1 - t0:.1f} s, E01 in {t2 - t1:.1f} s; "
            f"{args.workers} workers, {os.cpu_count()} cores"
        )
        items = {"folder": folder, "raw image": raw, "E01": e01}
        best: dict[str, tuple[float, float]] = {}
        want: set[str] | None = None
        peer_wall: float | None = None
        for _ in range(args.rounds):
            wall_peer = peer(work, raw)
            if wall_peer is not None and (peer_wall is None or wall_peer < peer_wall):
                peer_wall = wall_peer
            for name, item in items.items():
                wall, used, shas = ingest(work, item, args.workers)
                if want is None:
                    want = shas
                missing = want - shas
                if missing:
                    print(f"{name}: {len(missing)} folder files not found", file=sys.stderr)
                    return 1
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, used)
        print(
            f"{'source':<10} {'wall s':>8} {'MB/s':>8} {'files/s':>8} {'CPU s/GB':>9} "
            f"{'vs folder':>10}"
        )
        folder_wall = best["folder"][0]
        for name, (wall, used) in best.items():
            print(
                f"{name:<10} {wall:8.2f} {total / wall / 1e6:8.0f} {count / wall:8.0f} "
                f"{used / (total / 1e9):9.2f} {folder_wall / wall:9.2f}x"
            )
        if peer_wall is not None:
            raw_wall = best["raw image"][0]
            print(
                f"peer: tsk_recover -e + hashdeep on the raw image {peer_wall:.2f} s "
                f"({total / peer_wall / 1e6:.0f} MB/s); Lanterne's raw-image ingest is "
                f"{peer_wall / raw_wall:.2f}x as fast"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
