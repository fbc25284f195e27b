"""Peak memory (and time) of ingesting many small files, beside hashdeep on the same tree.

    python benchmarks/bench_memory.py [--files 100000] [--dir DIR] [--workers 2]

Target: peak RSS of `lanterne ingest` under 1 GiB for 100,000 small files.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lanterne.synth.pictures import make_picture


def make_tree(root: Path, count: int) -> int:
    """``count`` small files in folders of 500: mostly text-like bytes, 1 % tiny pictures."""
    rng = random.Random(0)
    pictures = [make_picture(i, (96, 64), fmt="PNG") for i in range(50)]
    total = 0
    for i in range(count):
        folder = root / f"d{i // 500:04d}"
        if i % 500 == 0:
            folder.mkdir(parents=True)
        if i % 100 == 0:
            data = pictures[(i // 100) % len(pictures)]
            name = f"f{i:06d}.png"
        else:
            data = rng.randbytes(rng.randint(100, 3000))
            name = f"f{i:06d}.bin"
        (folder / name).write_bytes(data)
        total += len(data)
    return total


def run_measured(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return seconds, usage.ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp folder)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(dir=args.dir, prefix="lanterne-bench-mem-"))
    try:
        tree = work / "seized"
        print(f"generating {args.files:,} files …", flush=True)
        nbytes = make_tree(tree, args.files)
        lanterne = [sys.executable, "-m", "lanterne.cli"]
        subprocess.run(
            [*lanterne, "case", "init", str(work / "case")], check=True, capture_output=True
        )
        subprocess.run(
            [*lanterne, "evidence", "add", str(work / "case"), str(tree), "--label", "BENCH"],
            check=True,
            capture_output=True,
        )
        rows = []
        if shutil.which("hashdeep"):
            rows.append(
                (
                    "hashdeep -c md5,sha1,sha256 -r",
                    *run_measured(["hashdeep", "-c", "md5,sha1,sha256", "-r", str(tree)]),
                )
            )
        else:
            print("(hashdeep not installed: apt-get install hashdeep to compare)")
        rows.append(
            (
                "lanterne ingest (full pipeline)",
                *run_measured(
                    [*lanterne, "ingest", str(work / "case"), "--workers", str(args.workers)]
                ),
            )
        )
        print(f"\n{args.files:,} files, {nbytes / 1e6:.1f} MB\n")
        print(f"{'tool':34} {'seconds':>8} {'files/s':>9} {'peak RSS MiB':>13}")
        for name, secs, rss in rows:
            print(f"{name:34} {secs:8.1f} {args.files / secs:9.0f} {rss / 2**20:13.0f}")
        ours = rows[-1][2]
        verdict = "OK" if ours < 2**30 else "OVER"
        print(f"\nlanterne peak RSS {ours / 2**20:.0f} MiB (target < 1024 MiB): {verdict}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
