"""Benchmark: the web review of a 200,000-picture case under 20 concurrent clients on loopback.

Usage::

    python benchmarks/bench_web.py                         # 200,000 pictures, 20 clients
    python benchmarks/bench_web.py --pictures 20000 --requests 20 --db postgresql+psycopg://…

A synthetic case is written straight into the store with bulk inserts (not ingested: the
benchmark is of the web review, so set-up time is left out): four seized items, 200,000
picture contents with one occurrence each (a tenth found on a second item too), 40 % of them
in near-duplicate groups of four, a known-bad set knowing a tenth (VICS categories 1–4), a
known-good set knowing a twentieth, 2 % already reviewed, and WebP thumbnails for a few hundred.
The case is served by uvicorn in a child process on 127.0.0.1 (as ``lanterne serve`` does), and
20 clients, each signed in with its own session, send requests back to back (a closed loop, no
think time: the harshest bounded load; ``--think S`` makes each client pause S seconds on
average between requests, as a reviewer reading a page does) for each scenario in turn:

* ``grid page``: the review grid page (``/review``, 100 tiles, one per group), random pages;
* ``item page``: the item page (``/items/{sha256}``) of random pictures;
* ``grid api`` / ``item api``: the same through the JSON API;
* ``thumbnail``: blurred greyscale thumbnails (``/media/thumb``);
* ``static file`` (the peer floor): a static CSS file served by the same server, with no
  session, no database and no template: what any request costs on this machine and server;
* ``session only``: ``/api/me``, the cost of the security layers (session looked up in the
  store, CSRF and role checks, headers) with no case query.

Printed per scenario: requests, errors, median, p95 and max latency, throughput, and the
median's ratio to the floor's. Target: p95 < 300 ms for the grid page and the item page.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PASSWORD = "benchmark password, synthetic case"
USER = "bench-reviewer"
TARGET_P95_MS = 300.0


# ------------------------------------------------------------------ the case
COLUMNS = {
    "content": ("sha256", "md5", "sha1", "size", "mime", "kind", "format", "width", "height",
                "pdq", "pdq_quality", "thumbnail", "analyzed_at"),
    "file": ("evidence_id", "provenance_key", "provenance", "path", "name", "size", "sha256",
             "state"),
    "pdq_group": ("sha256", "group_sha256", "representative"),
    "hash_entry": ("id", "hashset_id", "sha256", "category", "location"),
    "match": ("sha256", "hashset_id", "entry", "method", "distance", "variant", "matched_at"),
    "review_decision": ("sha256", "category", "scheme", "source", "origin", "batch", "user",
                        "at"),
}  # fmt: skip
"""The columns the synthetic rows give, per table."""


def _sha(kind: str, i: int) -> str:
    return hashlib.sha256(f"bench-{kind}-{i}".encode()).hexdigest()


def picture_sha(i: int) -> str:
    return _sha("picture", i)


def _chunks(rows: Iterator[tuple[Any, ...]], size: int = 20_000) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def build_case(root: Path, pictures: int, db_url: str | None, thumbnails: int) -> float:
    """Write the synthetic case; returns the seconds it took."""
    from lanterne.case import schema
    from lanterne.case.store import utcnow
    from lanterne.case.workspace import Case
    from lanterne.review.users import add_user

    t0 = time.perf_counter()
    case = Case.init(root, "Web benchmark (synthetic)", db_url)
    store = case.store
    now = utcnow()
    items = 4
    with store.engine.begin() as conn:

        def insert(table: Any, rows: Iterator[tuple[Any, ...]]) -> None:
            for chunk in _chunks(rows):
                store.insert_rows(conn, table, COLUMNS[table.name], chunk)

        for n in range(1, items + 1):
            conn.execute(
                schema.evidence.insert().values(
                    id=n,
                    label=f"PC-{n:02d}",
                    kind="folder",
                    location=f"/nonexistent/PC-{n:02d}",
                    suspect=f"Suspect {n}",
                    registered_by="bench",
                    registered_at=now,
                    status="done",
                )
            )

        def contents() -> Iterator[tuple[Any, ...]]:
            rng = random.Random(1)
            for i in range(pictures):
                sha = picture_sha(i)
                yield (
                    sha,
                    hashlib.md5(sha.encode()).hexdigest(),
                    hashlib.sha1(sha.encode()).hexdigest(),
                    50_000 + i % 100_000,
                    "image/jpeg",
                    "picture",
                    "JPEG",
                    640,
                    480,
                    f"{rng.getrandbits(256):064x}",
                    100,
                    True,
                    now,
                )

        insert(schema.content, contents())

        def files() -> Iterator[tuple[Any, ...]]:
            for i in range(pictures):
                sha = picture_sha(i)
                places = [1 + i % items]
                if i % 10 == 3:
                    places.append(1 + (i + 1) % items)
                for ev in places:
                    path = f"pictures/{i // 1000}/{i}.jpg"
                    chain = json.dumps(
                        [{"type": "evidence", "path": f"PC-{ev:02d}"},
                         {"type": "folder", "path": path}],
                        separators=(",", ":"),
                    )  # fmt: skip
                    key = hashlib.sha256(chain.encode()).hexdigest()
                    yield (ev, key, chain, path, f"{i}.jpg", 50_000 + i % 100_000, sha, "done")

        insert(schema.file, files())

        grouped = int(pictures * 0.4) // 4 * 4

        def groups() -> Iterator[tuple[Any, ...]]:
            for i in range(pictures):
                rep = i - i % 4 if i < grouped else i
                yield (picture_sha(i), picture_sha(rep), rep == i)

        insert(schema.pdq_group, groups())

        for set_id, name, role, scheme, every, offset in (
            (1, "bench-vics", "known-bad", "vics-us", 10, 7),
            (2, "bench-nsrl", "known-good", None, 20, 9),
        ):
            wanted = range(offset, pictures, every)
            conn.execute(
                schema.hashset.insert().values(
                    id=set_id, name=name, role=role, scheme=scheme, format="sumfile",
                    source=f"/nonexistent/{name}", source_sha256=_sha("set", set_id),
                    entries=len(wanted), imported_by="bench", imported_at=now, matched_until=now,
                )
            )  # fmt: skip
            entry_base = set_id * 10_000_000
            insert(
                schema.hash_entry,
                (
                    (entry_base + i, set_id, picture_sha(i), str(1 + i % 4) if scheme else None,
                     f"line {i}")
                    for i in wanted
                ),
            )  # fmt: skip
            insert(
                schema.match,
                ((picture_sha(i), set_id, entry_base + i, "sha256", 0, "", now) for i in wanted),
            )

        decisions = (
            (picture_sha(i), str(i % 5), "vics-us", "review", picture_sha(i), str(uuid.uuid4()),
             "bench", now)
            for i in range(5, pictures, 50)
        )  # fmt: skip
        insert(schema.review_decision, decisions)
    with store.engine.begin() as conn:  # statistics for the query planner, as after an ingest
        conn.exec_driver_sql("ANALYZE")
    _thumbnails(case, thumbnails)
    add_user(store, USER, PASSWORD, "reviewer")
    case.close()
    return time.perf_counter() - t0


def _thumbnails(case: Any, count: int) -> None:
    from PIL import Image

    from lanterne.synth.pictures import make_picture

    for i in range(count):
        with Image.open(io.BytesIO(make_picture(i, (256, 192)))) as img:
            out = io.BytesIO()
            img.convert("RGB").save(out, format="WEBP", quality=80)
        path = case.thumbnail_path(picture_sha(i))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(out.getvalue())


# ------------------------------------------------------------------ the server
def app_factory() -> Any:
    """The application of the case named by ``LANTERNE_BENCH_CASE`` (for uvicorn workers)."""
    from lanterne.case.workspace import Case
    from lanterne.web.app import create_app

    return create_app(Case.open(Path(os.environ["LANTERNE_BENCH_CASE"])))


def serve(root: Path, port: int, workers: int) -> None:
    import uvicorn

    os.environ["LANTERNE_BENCH_CASE"] = str(root)
    uvicorn.run(
        "bench_web:app_factory",
        factory=True,
        app_dir=str(Path(__file__).parent),
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        server_header=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(base: str, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not start")


# ------------------------------------------------------------------ the load
async def _sign_in(client: Any) -> None:
    pre = (await client.get("/api/login")).json()["csrf"]
    response = await client.post(
        "/api/login", json={"name": USER, "password": PASSWORD}, headers={"X-CSRF-Token": pre}
    )
    response.raise_for_status()


async def _scenario(
    clients: list[Any],
    paths: Callable[[random.Random], str],
    per_client: int,
    warmup: int,
    think: float = 0.0,
) -> tuple[list[float], int, float]:
    """Each client sends ``warmup`` requests, then (once all have) ``per_client`` requests,
    back to back or, with ``think`` > 0, each after a pause drawn uniformly from 0 to twice
    ``think`` seconds (a reviewer reading the page); the measured latencies (ms), the errors,
    and the measured wall time."""
    latencies: list[float] = []
    errors = 0
    rngs = [random.Random(n) for n in range(len(clients))]

    async def warm(n: int, client: Any) -> None:
        for _ in range(warmup):
            await client.get(paths(rngs[n]))

    async def measure(n: int, client: Any) -> None:
        nonlocal errors
        for _ in range(per_client):
            path = paths(rngs[n])
            t0 = time.perf_counter()
            response = await client.get(path)
            latencies.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                errors += 1
            if think > 0:
                await asyncio.sleep(rngs[n].uniform(0, 2 * think))

    await asyncio.gather(*(warm(n, c) for n, c in enumerate(clients)))
    t0 = time.perf_counter()
    await asyncio.gather(*(measure(n, c) for n, c in enumerate(clients)))
    return latencies, errors, time.perf_counter() - t0


async def _run(base: str, args: argparse.Namespace) -> list[tuple[str, list[float], int, float]]:
    import httpx

    pictures = args.pictures
    grid_pages = max(1, min(100, int(pictures * 0.75) // 100))
    scenarios: list[tuple[str, Callable[[random.Random], str]]] = [
        ("static file (floor)", lambda r: "/static/css/lanterne.css"),
        ("session only", lambda r: "/api/me"),
        ("grid page", lambda r: f"/review?state=new&page={r.randrange(grid_pages)}"),
        ("item page", lambda r: f"/items/{picture_sha(r.randrange(pictures))}"),
        ("grid api", lambda r: f"/api/grid?state=new&page={r.randrange(grid_pages)}"),
        ("item api", lambda r: f"/api/items/{picture_sha(r.randrange(pictures))}"),
        ("thumbnail", lambda r: f"/media/thumb/{picture_sha(r.randrange(args.thumbnails))}"),
    ]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(base_url=base, timeout=60, limits=limits) for _ in range(args.clients)
    ]
    try:
        for client in clients:
            await _sign_in(client)
        results = []
        for name, paths in scenarios:
            await asyncio.sleep(0.5)
            latencies, errors, wall = await _scenario(clients, paths, args.requests, 2, args.think)
            results.append((name, latencies, errors, wall))
        return results
    finally:
        for client in clients:
            await client.aclose()


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pictures", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=25, help="per client and scenario")
    parser.add_argument("--thumbnails", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds a client pauses between requests (0: a closed loop, back to back)",
    )
    parser.add_argument("--db", help="a PostgreSQL URL (an empty database) instead of SQLite")
    parser.add_argument("--case", type=Path, help="keep the case here (default: a temp folder)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workers)
        return

    with tempfile.TemporaryDirectory(prefix="lanterne-bench-web-") as tmp:
        root = args.case or Path(tmp) / "case"
        if not (root / "case.toml").exists():
            print(f"building a case of {args.pictures:,} pictures …", flush=True)
            seconds = build_case(root, args.pictures, args.db, args.thumbnails)
            print(f"  built in {seconds:.1f} s (set-up, not measured)", flush=True)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(root), "--port", str(port),
             "--workers", str(args.workers)],
        )  # fmt: skip
        try:
            _wait_up(base, proc)
            results = asyncio.run(_run(base, args))
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    loop = f"pausing {args.think:g} s on average" if args.think > 0 else "closed loop"
    print(
        f"\n{args.clients} concurrent clients on loopback, {args.requests} requests each per "
        f"scenario, {loop}; {args.pictures:,} pictures; server: uvicorn, "
        f"{args.workers} worker(s); {os.cpu_count()} CPUs"
    )
    print(f"{'scenario':22} {'requests':>8} {'errors':>6} {'median':>9} {'p95':>9} "
          f"{'max':>9} {'req/s':>8} {'× floor':>8}")  # fmt: skip
    floor = statistics.median(results[0][1])
    verdicts = []
    for name, latencies, errors, wall in results:
        median, p95 = statistics.median(latencies), _p(latencies, 0.95)
        print(
            f"{name:22} {len(latencies):8d} {errors:6d} {median:7.1f}ms {p95:7.1f}ms "
            f"{max(latencies):7.1f}ms {len(latencies) / wall:8.1f} {median / floor:8.1f}"
        )
        if name in ("grid page", "item page"):
            verdicts.append(f"{name} p95 {p95:.0f} ms {'<' if p95 < TARGET_P95_MS else '>='} "
                            f"{TARGET_P95_MS:.0f} ms")  # fmt: skip
    print("target: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
