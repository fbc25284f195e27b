"""Benchmark: importing an NSRL-size hash set (RDSv3 SQLite) into a case, with peak memory.

Usage::

    python benchmarks/bench_hashset_import.py                    # 20 M rows, 15 M distinct
    python benchmarks/bench_hashset_import.py --rows 2000000 --distinct 1500000

A synthetic RDSv3 database (``FILE`` rows with repeated hashes, the ``DISTINCT_HASH`` view) is
generated, then ``lanterne hashset import`` is run on it in a child process whose peak RSS is
read from the kernel (``ru_maxrss``): the target is < 2 GiB whatever the size, since the reader
streams distinct hashes and the importer writes them in batches in one transaction. Printed:
rows/s of the import (distinct hashes written), wall time, peak RSS, the case database's size,
and for comparison the peer floor: ``sqlite3`` copying the same distinct hashes from the view
into a table of the same shape (what any importer must at least do), in the same run.
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lanterne.hashsets.formats.nsrl3 import make_synthetic_rds3


def child_import(case: Path, rds: Path) -> tuple[float, int]:
    """Run the CLI import in a child; (seconds, peak RSS bytes of the child)."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "lanterne.cli", "hashset", "import", str(case), str(rds),
         "--role", "known-good", "--name", "NSRL"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak_kib * 1024


def floor(rds: Path, work: Path) -> float:
    """sqlite3 alone, no Python per row: the distinct hashes (grouped, as the reader does)
    into a table, then its three indexes built once, in one transaction."""
    out = sqlite3.connect(work / "floor.db")
    out.execute("PRAGMA cache_size = -262144")
    out.execute("CREATE TABLE h (md5 TEXT, sha1 TEXT, sha256 TEXT)")
    out.execute("ATTACH DATABASE ? AS rds", (str(rds),))
    t0 = time.perf_counter()
    out.execute(
        "INSERT INTO h SELECT lower(md5), lower(sha1), lower(sha256) FROM rds.FILE"
        " GROUP BY sha256, sha1, md5"
    )
    out.execute("CREATE INDEX i1 ON h(md5)")
    out.execute("CREATE INDEX i2 ON h(sha1)")
    out.execute("CREATE INDEX i3 ON h(sha256)")
    out.commit()
    wall = time.perf_counter() - t0
    out.close()
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--distinct", type=int, default=15_000_000)
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: tmp)")
    ap.add_argument("--no-floor", action="store_true", help="skip the sqlite3-alone floor")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        rds = work / "RDS_synthetic.db"
        t0 = time.perf_counter()
        make_synthetic_rds3(rds, rows=args.rows, distinct=args.distinct, seed=1)
        print(
            f"synthetic RDSv3: {args.rows:,} FILE rows, {args.distinct:,} distinct hashes, "
            f"{rds.stat().st_size / 1e9:.2f} GB, generated in {time.perf_counter() - t0:.0f} s"
        )
        case = work / "case"
        subprocess.run(
            [sys.executable, "-m", "lanterne.cli", "case", "init", str(case)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wall, peak = child_import(case, rds)
        db = (case / "case.db").stat().st_size
        print(f"{'':<26} {'wall s':>8} {'hashes/s':>12} {'peak RSS':>10}")
        print(
            f"{'lanterne hashset import':<26} {wall:8.1f} {args.distinct / wall:12,.0f} "
            f"{peak / 2**30:8.2f} GiB  (case database {db / 1e9:.2f} GB; peak RSS "
            f"{'<' if peak < 2 * 2**30 else '>='} 2 GiB)",
            flush=True,
        )
        if args.no_floor:
            return 0
        floor_wall = floor(rds, work)
        print(
            f"{'sqlite3 alone (floor)':<26} {floor_wall:8.1f} {args.distinct / floor_wall:12,.0f}"
        )
        print(f"import: {floor_wall / wall:.2f}x the floor's speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
