"""Kill -9 at random moments, resume, and compare with an uninterrupted run, row for row."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.evidence.registry import add_evidence
from lanterne.ingest.pipeline import Ingestor
from lanterne.synth.disks import make_disk_case
from lanterne.synth.pictures import make_picture, make_variant
from testkit import need_tools


def _evidence(root: Path, n: int) -> Path:
    (root / "pics").mkdir(parents=True)
    for i in range(n):
        data = make_picture(i, (480, 360))
        (root / "pics" / f"{i:04d}.jpg").write_bytes(data)
        if i % 5 == 0:
            (root / "pics" / f"{i:04d}-small.jpg").write_bytes(make_variant(data, "resized"))
    for a in range(3):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for i in range(30):
                z.writestr(f"set{a}/{i}.jpg", make_picture(10_000 + a * 100 + i, (320, 240)))
            z.writestr("dup.jpg", (root / "pics" / "0001.jpg").read_bytes())
        (root / f"archive{a}.zip").write_bytes(buf.getvalue())
    (root / "broken.jpg").write_bytes(make_picture(999)[:3000])
    return root


def _rows(case: Case) -> tuple[set[tuple[object, ...]], ...]:
    f, c, w = schema.file, schema.content, schema.warning
    files = {
        (r.provenance_key, r.path, r.sha256, r.state, r.container)
        for r in case.store.rows(select(f))
    }
    contents = {(r.sha256, r.kind, r.pdq, r.width, r.error) for r in case.store.rows(select(c))}
    warnings = {(r.provenance_key, r.stage, r.reason) for r in case.store.rows(select(w))}
    return files, contents, warnings


@pytest.mark.slow
def test_resume_after_kill_loses_nothing(tmp_path: Path, db_url: str | None) -> None:
    _kill_and_resume(tmp_path, db_url, _evidence(tmp_path / "seized", 150))


@pytest.mark.slow
def test_disk_image_resume_after_kill_loses_nothing(tmp_path: Path, db_url: str | None) -> None:
    """The same on an E01: files, deleted files, carved pictures, zip members inside."""
    need_tools("mke2fs", "mkfs.vfat", "mcopy", "sfdisk", "ewfacquire", "debugfs")
    disk = make_disk_case(tmp_path / "disk", seed=11, pictures=40, ntfs=False)
    _kill_and_resume(tmp_path, db_url, disk.e01[0])


def _kill_and_resume(tmp_path: Path, db_url: str | None, evidence: Path) -> None:
    with Case.init(tmp_path / "reference", "reference") as ref:  # uninterrupted, on SQLite
        add_evidence(ref, evidence, "PC-01")
        Ingestor(ref, workers=2).run()
        expected = _rows(ref)
    case_dir = tmp_path / "victim"
    with Case.init(case_dir, "victim", db_url) as victim:
        add_evidence(victim, evidence, "PC-01")
    config = case_dir / "case.toml"  # small, frequent batches: many moments to die in
    config.write_text(config.read_text() + "batch_rows = 20\nbatch_seconds = 0.1\n")
    rng = random.Random(7)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "lanterne.cli", "ingest", str(case_dir), "--workers", "2"]
    mid_run_kills = 0
    for _ in range(12):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # wait until this run has committed something new, then kill at a random moment
        with Case.open(case_dir) as victim:
            before = victim.store.count(schema.file)
            while proc.poll() is None and victim.store.count(schema.file) == before:
                time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Case.open(case_dir) as victim:
            n = victim.store.count(schema.file)
        mid_run_kills += 0 < n < len(expected[0])
    assert mid_run_kills >= 3, f"only {mid_run_kills} kill(s) landed mid-run: too little proof"
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    with Case.open(case_dir) as victim:
        got = _rows(victim)
        assert victim.store.list_evidence()[0].status == "done"
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert got[2] == expected[2]
