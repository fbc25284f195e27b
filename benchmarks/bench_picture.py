"""Picture analysis against the plain reference way of hashing a camera photo.

Generates ``--count`` synthetic 12-megapixel (4000×3000) camera JPEGs with EXIF into a
temporary folder, then times, per picture:

* peer: Pillow full decode + ``pdqhash.compute`` on the full-resolution array, as
  python-threatexchange's ``pdq_hasher`` does (PDQ only);
* ours: :func:`lanterne.analyze.picture.analyze_picture` (reduced decode, PDQ, EXIF and the
  WebP thumbnail).

and prints the per-picture times, the speed ratio and the PDQ distance (Hamming, bits) of ours
to the full-resolution reference. Targets: ratio ≥ 4×, median distance ≤ 8, max ≤ 16.

    python benchmarks/bench_picture.py [--count 20] [--size 4000x3000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image

from lanterne.analyze.picture import analyze_picture, pdq_hex
from lanterne.config import Limits
from lanterne.synth.pictures import CameraExif, make_picture


def _peer(path: Path) -> str:
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"))
    bits, _quality = pdqhash.compute(array)
    return pdq_hex(bits)


def _ours(path: Path, limits: Limits) -> str:
    facts = analyze_picture(path.read_bytes(), limits)
    assert facts.pdq is not None
    return facts.pdq


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20, help="pictures (default 20)")
    parser.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT (default 4000x3000)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    limits = Limits()

    with tempfile.TemporaryDirectory(prefix="lanterne-bench-") as tmp:
        paths = []
        for seed in range(args.count):
            exif = CameraExif(
                make="Fabrikam",
                model=f"FX-{100 + seed % 7}",
                serial=f"FB{seed:06d}",
                lens="Zoom 24-70",
                taken_at=datetime(2024, 3, 1 + seed % 28, 12, seed % 60, 0),
                gps=(48.85 + seed / 1000, 2.35 - seed / 1000),
            )
            path = Path(tmp) / f"{seed:04d}.jpg"
            path.write_bytes(make_picture(seed, size=(width, height), exif=exif, quality=92))
            paths.append(path)

        _peer(paths[0]), _ours(paths[0], limits)  # warm up caches and lazy imports
        peer_s, ours_s, distances = [], [], []
        for path in paths:
            t0 = time.perf_counter()
            reference = _peer(path)
            t1 = time.perf_counter()
            ours = _ours(path, limits)
            t2 = time.perf_counter()
            peer_s.append(t1 - t0)
            ours_s.append(t2 - t1)
            distances.append(_distance(reference, ours))

    peer_ms = statistics.median(peer_s) * 1000
    ours_ms = statistics.median(ours_s) * 1000
    print(f"{args.count} JPEGs {width}x{height} with EXIF, ms per picture")
    print(f"{'method':<44} {'median':>8} {'mean':>8}")
    for name, times in (
        ("peer: Pillow full decode + pdqhash", peer_s),
        ("ours: analyze_picture (PDQ+EXIF+thumbnail)", ours_s),
    ):
        median, mean = statistics.median(times) * 1000, statistics.mean(times) * 1000
        print(f"{name:<44} {median:>8.1f} {mean:>8.1f}")
    print(f"speed ratio (peer/ours, medians): {peer_ms / ours_ms:.1f}x")
    print(
        f"PDQ distance to full-res reference: median {statistics.median(distances):g}, "
        f"max {max(distances)} bits"
    )


if __name__ == "__main__":
    main()
