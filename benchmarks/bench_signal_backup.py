"""Benchmark: restoring and reading a large Signal Android backup, with peak memory.

Usage::

    python benchmarks/bench_signal_backup.py                   # 1,000,000 messages
    python benchmarks/bench_signal_backup.py --small           # 50,000 messages, quick
    python benchmarks/bench_signal_backup.py --dir /scratch    # keep the generated backup

A synthetic backup (:func:`lanterne.synth.signal_android.make_signal_backup`: 16,000 recipients,
300 groups, 1,000,000 messages, 2,000 picture attachments; ``--small`` scales it down) is
generated once, cached in ``--dir`` (default: a temporary folder, gone afterwards). Then, each in
a child process whose peak RSS is read from the kernel (``ru_maxrss``):

* **lanterne**: :func:`lanterne.messaging.signal_backup.open_backup` (key derivation, every frame
  decrypted and MAC-checked, the statements replayed into SQLite, blobs indexed) and one full
  iteration of the records (every message with its attachments, nothing opened); the target is
  ≥ 20,000 messages/s on a 2-core machine with memory that does not grow with the backup;
* **lanterne chats import**: the whole import into a new SQLite case (restore, every record
  written with its provenance, persons joined, attachments ingested and matched);
* **decrypt-only peer**: a bare reader as most tools write it, per frame a fresh AES-CTR
  stream and an HMAC, blobs MAC-checked, frames otherwise thrown away: the floor any reader pays
  before it does anything with the data. Printed with the ratio to lanterne's full import.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FULL = {"recipients": 16_000, "groups": 300, "messages": 1_000_000, "attachments": 2_000}
SMALL = {"recipients": 2_000, "groups": 30, "messages": 50_000, "attachments": 200}
SEED = 7


def generate(folder: Path, sizes: dict[str, int]) -> tuple[Path, str]:
    """The backup for ``sizes`` in ``folder``, made unless a finished one is there."""
    from lanterne.synth.signal_android import make_passphrase, make_signal_backup

    done = folder / "done.json"
    if done.exists() and json.loads(done.read_text()) == sizes:
        return next(folder.glob("*.backup")), make_passphrase(SEED)
    t0 = time.perf_counter()
    planted = make_signal_backup(
        folder, seed=SEED, recipients=sizes["recipients"], groups=sizes["groups"],
        messages=sizes["messages"], attachments=sizes["attachments"],
    )  # fmt: skip
    assert planted.path is not None and planted.passphrase is not None
    (folder / "signal-source.db").unlink()
    done.write_text(json.dumps(sizes))
    print(
        f"synthetic backup: {sizes['messages']:,} messages, {sizes['recipients']:,} recipients, "
        f"{sizes['groups']} groups, {sizes['attachments']:,} attachments, "
        f"{planted.path.stat().st_size / 1e6:,.0f} MB, generated in "
        f"{time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    return planted.path, planted.passphrase


def child_import(backup: Path, passphrase: str, work: Path) -> dict[str, float]:
    from lanterne.messaging.records import Message
    from lanterne.messaging.signal_backup import compile_kernels, open_backup

    compile_kernels()  # numba's cache: compiled once per install, not per restore
    t0 = time.perf_counter()
    restored = open_backup(backup, passphrase, work)
    t1 = time.perf_counter()
    messages = attachments = records = 0
    for record in restored.database.records():
        records += 1
        if isinstance(record, Message):
            messages += 1
            attachments += len(record.attachments)
    t2 = time.perf_counter()
    return {
        "restore_s": t1 - t0, "records_s": t2 - t1, "messages": messages,
        "attachments": attachments, "records": records, "frames": restored.frames,
        "db_bytes": restored.db_path.stat().st_size,
    }  # fmt: skip


def child_case(backup: Path, passphrase: str, work: Path) -> dict[str, float]:
    """The whole ``lanterne chats import`` into a fresh case (SQLite): restore, every record
    written to the case store, attachments ingested (digests, PDQ, thumbnails), matching."""
    from lanterne.case.workspace import Case
    from lanterne.messaging.service import Secrets, import_chats
    from lanterne.messaging.signal_backup import compile_kernels

    compile_kernels()
    case = Case.init(work / "case", "bench")
    t0 = time.perf_counter()
    results, _ = import_chats(
        case, "signal-android-backup", backup, secrets=Secrets(passphrase=passphrase)
    )
    wall = time.perf_counter() - t0
    case.close()
    counts = results[0].counts
    return {"case_s": wall, "messages": counts["messages"], "attachments": counts["attachments"]}


def child_peer(backup: Path, passphrase: str) -> dict[str, float]:
    """Decrypt and MAC-check every frame and blob, the plain way; keep nothing."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from lanterne.messaging import protowire as pw
    from lanterne.messaging.signal_backup import derive_keys, passphrase_digits, read_header

    t0 = time.perf_counter()
    frames = 0
    with backup.open("rb") as f:
        header = read_header(f, backup.name)
        key, mac_key = derive_keys(passphrase_digits(passphrase), header.salt)
        aes = algorithms.AES(key)
        counter = int.from_bytes(header.iv[:4], "big")
        tail = header.iv[4:]
        while True:
            iv = counter.to_bytes(4, "big") + tail
            counter = (counter + 1) & 0xFFFFFFFF
            dec = Cipher(aes, modes.CTR(iv)).decryptor()
            raw = f.read(4)
            length = int.from_bytes(dec.update(raw) if header.version else raw, "big")
            body = f.read(length - 10)
            tag = f.read(10)
            signed = raw + body if header.version else body
            if hmac.digest(mac_key, signed, "sha256")[:10] != tag:
                raise SystemExit(f"MAC failure at frame {frames + 1}")
            plain = dec.update(body)
            frames += 1
            if plain[0] == 0x30:  # end
                break
            if plain[0] in (0x22, 0x3A, 0x42):  # attachment, avatar, sticker: a blob follows
                inner = pw.decode(pw.decode(plain)[plain[0] >> 3][0])  # type: ignore[arg-type]
                size = inner[3 if plain[0] == 0x22 else 2][0]
                iv = counter.to_bytes(4, "big") + tail
                counter = (counter + 1) & 0xFFFFFFFF
                mac = hmac.new(mac_key, iv, hashlib.sha256)
                mac.update(f.read(size))  # type: ignore[arg-type]
                if mac.digest()[:10] != f.read(10):
                    raise SystemExit("blob MAC failure")
    return {"peer_s": time.perf_counter() - t0, "frames": frames}


def run_child(*args: str) -> tuple[dict[str, float], int]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result, int(result.pop("peak_rss"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="50,000 messages instead of 1,000,000")
    ap.add_argument("--dir", type=Path, default=None, help="folder to cache the backup in")
    ap.add_argument("--no-peer", action="store_true", help="skip the decrypt-only peer")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, backup, passphrase, *rest = args.child
        if kind == "import":
            out = child_import(Path(backup), passphrase, Path(rest[0]))
        elif kind == "case":
            out = child_case(Path(backup), passphrase, Path(rest[0]))
        else:
            out = child_peer(Path(backup), passphrase)
        out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(out))
        return 0

    sizes = SMALL if args.small else FULL
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        cache = (args.dir / f"signal-bench-{sizes['messages']}") if args.dir else Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        backup, passphrase = generate(cache, sizes)
        mb = backup.stat().st_size / 1e6
        imp, rss = run_child("import", str(backup), passphrase, str(Path(tmp) / "work"))
        wall = imp["restore_s"] + imp["records_s"]
        n = imp["messages"]
        print(f"{'':<30} {'wall s':>8} {'messages/s':>12} {'MB/s':>8} {'peak RSS':>10}")
        print(
            f"{'lanterne restore + records':<30} {wall:8.1f} {n / wall:12,.0f} {mb / wall:8.1f} "
            f"{rss / 2**20:8.0f} MiB  (restore {imp['restore_s']:.1f} s, records "
            f"{imp['records_s']:.1f} s; {imp['frames']:,.0f} frames, {n:,.0f} messages, "
            f"{imp['attachments']:,.0f} attachments; database {imp['db_bytes'] / 1e6:,.0f} MB)",
            flush=True,
        )
        full, full_rss = run_child("case", str(backup), passphrase, str(Path(tmp)))
        cw = full["case_s"]
        print(
            f"{'lanterne chats import (case)':<30} {cw:8.1f} {n / cw:12,.0f} {mb / cw:8.1f} "
            f"{full_rss / 2**20:8.0f} MiB  (into a new SQLite case: every record written, "
            f"{full['attachments']:,.0f} attachments ingested and matched)",
            flush=True,
        )
        if args.no_peer:
            return 0
        peer, peer_rss = run_child("peer", str(backup), passphrase)
        pw_ = peer["peer_s"]
        print(
            f"{'decrypt-only peer':<30} {pw_:8.1f} {n / pw_:12,.0f} {mb / pw_:8.1f} "
            f"{peer_rss / 2**20:8.0f} MiB  ({peer['frames']:,.0f} frames)"
        )
        print(f"full import: {pw_ / wall:.2f}x the decrypt-only peer's speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
