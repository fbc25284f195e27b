"""Disk images and phone extractions through registration, ingest, verification and the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lanterne import provenance
from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.cli import app
from lanterne.evidence.registry import add_evidence
from lanterne.evidence.verify import verify_evidence
from lanterne.ingest.pipeline import Ingestor
from lanterne.report.summary import summarize
from lanterne.synth.disks import DiskCase, make_disk_case, make_hostile_disks
from lanterne.synth.pictures import make_picture
from testkit import need_tools

TOOLS = ("mke2fs", "mkfs.vfat", "mcopy", "mkntfs", "ntfscp", "sfdisk", "ewfacquire", "debugfs")


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> DiskCase:
    need_tools(*TOOLS)
    return make_disk_case(tmp_path_factory.mktemp("disk"), seed=5, ntfs=False)


def _files(case: Case) -> list[dict[str, object]]:
    with case.store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(schema.file))]


def test_e01_registered_ingested_and_verified(case: Case, disk: DiskCase) -> None:
    ev = add_evidence(case, disk.e01[0], "HDD-01", suspect="Suspect A")
    assert (ev.kind, ev.format, ev.size) == ("disk-image", "ewf", disk.raw_size)
    acq = ev.details_json["acquisition"]
    assert (acq["stored_md5"], acq["stored_sha1"]) == (disk.raw_md5, disk.raw_sha1)
    assert acq["headers"]["case_number"] == disk.case_number
    assert [v["file_system"] for v in ev.details_json["volumes"]] == ["fat", "ext"]

    result = Ingestor(case, workers=2).run()
    rows = _files(case)
    assert result.files == len(rows)
    live = {f.sha256 for f in disk.live_files}
    assert live <= {r["sha256"] for r in rows}
    deleted = {r["sha256"] for r in rows if r["deleted"]}
    assert deleted == {f.sha256 for f in disk.deleted_files if f.recoverable}
    carved = {r["sha256"] for r in rows if r["carved"]}
    assert carved == {c.sha256 for c in disk.carvable if c.origin == "planted"}
    # members of the zip on the FAT partition are walked like any archive's
    zipped = [r for r in rows if json.loads(str(r["provenance"]))[-1]["type"] == "zip"]
    assert zipped and all(str(r["path"]).startswith("ewf!/gpt/p") for r in zipped)
    # a second run adds nothing
    assert Ingestor(case, workers=2).run().files == 0
    assert len(_files(case)) == len(rows)

    s = summarize(case)
    assert s["deleted_files"] == len(deleted) and s["carved_files"] == len(carved)

    v = verify_evidence(case, "HDD-01", "examiner")
    assert v["outcome"] == "match" and v["md5"] == disk.raw_md5
    assert case.store.verifications(ev.id)[0]["outcome"] == "match"


def test_verification_fails_after_one_byte_changes(
    case: Case, disk: DiskCase, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for seg in disk.e01:
        shutil.copy(seg, copy / seg.name)
    first = copy / disk.e01[0].name
    with first.open("r+b") as f:  # a byte in the middle of the media data
        f.seek(first.stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    add_evidence(case, first, "HDD-COPY")
    v = verify_evidence(case, "HDD-COPY")
    assert v["outcome"] == "mismatch"
    assert v["md5"] != disk.raw_md5


def test_raw_image_verification_records_digests(case: Case, disk: DiskCase) -> None:
    ev = add_evidence(case, disk.raw, "HDD-RAW")
    assert (ev.kind, ev.format) == ("disk-image", "raw")
    v = verify_evidence(case, "HDD-RAW")
    assert v["outcome"] == "no-stored-hash"
    assert (v["md5"], v["sha256"]) == (disk.raw_md5, disk.raw_sha256)


def test_hostile_images_become_warnings(case: Case, tmp_path: Path) -> None:
    need_tools(*TOOLS)
    hostile = make_hostile_disks(tmp_path / "hostile")
    for i, h in enumerate(hostile):
        add_evidence(case, h.path, f"H-{i}-{h.kind}", kind="disk-image")
    Ingestor(case, workers=2).run()
    with case.store.engine.connect() as conn:
        warnings = {
            (r.label, r.reason)
            for r in conn.execute(
                select(schema.evidence.c.label, schema.warning.c.reason).select_from(
                    schema.warning.join(schema.evidence)
                )
            )
        }
    labels = {e.label: e for e in case.store.list_evidence()}
    assert all(e.status == "done" for e in labels.values())
    loops = [lbl for lbl in labels if "loop" in lbl]
    assert loops and all((lbl, "directory-loop") in warnings for lbl in loops)
    # no partition table recognised: a warning, and the whole media carved
    picture = hashlib.sha256(make_picture(1, (320, 240))).hexdigest()
    for lbl in [lbl for lbl in labels if "mbr" in lbl or "gpt" in lbl]:
        assert (lbl, "no-file-system") in warnings
        carved = [r for r in _files(case) if r["evidence_id"] == labels[lbl].id]
        assert carved and all(r["carved"] for r in carved)
        assert picture in {r["sha256"] for r in carved}
    truncated = [lbl for lbl in labels if "truncated" in lbl]
    assert truncated
    for lbl in truncated:
        assert {r for l2, r in warnings if l2 == lbl} & {"no-file-system", "unreadable"}
        assert verify_evidence(case, lbl)["outcome"] in ("unreadable", "mismatch")


def test_phone_extraction_and_app_data(case: Case, tmp_path: Path) -> None:
    ext = tmp_path / "android.zip"
    with zipfile.ZipFile(ext, "w") as zf:
        zf.writestr("data/data/org.thoughtcrime.securesms/databases/signal.db", b"not real")
        zf.writestr("data/media/0/DCIM/Camera/IMG_1.jpg", make_picture(9, (200, 100)))
        zf.writestr("data/data/com.whatsapp/databases/msgstore.db", b"not real either")
    ev = add_evidence(case, ext, "PHONE-01")
    assert (ev.kind, ev.details_json) == ("phone", {"platform": "android"})
    Ingestor(case, workers=2).run()
    apps = case.store.app_data(ev.id)
    assert [(a["app"], a["path"]) for a in apps] == [
        ("signal-android", "android.zip!/data/data/org.thoughtcrime.securesms/databases/signal.db"),
        ("whatsapp-android", "android.zip!/data/data/com.whatsapp/databases/msgstore.db"),
    ]
    chain = provenance.from_json(apps[0]["provenance"])
    assert [s.kind for s in chain] == ["evidence", "file", "zip"]
    assert summarize(case)["app_data"][0]["app"] == "signal-android"


def test_cli_add_show_verify(tmp_path: Path, disk: DiskCase) -> None:
    runner = CliRunner()
    case = str(tmp_path / "case")
    assert runner.invoke(app, ["case", "init", case]).exit_code == 0
    r = runner.invoke(app, ["evidence", "add", case, str(disk.e01[0]), "--label", "HDD-01"])
    assert r.exit_code == 0, r.output
    assert "disk-image ewf" in r.output and disk.raw_md5 in r.output
    r = runner.invoke(app, ["evidence", "verify", case, "HDD-01"])
    assert r.exit_code == 0, r.output
    assert "match" in r.output and disk.raw_md5 in r.output
    r = runner.invoke(app, ["evidence", "show", case, "HDD-01"])
    assert r.exit_code == 0 and "verified" in r.output
    r = runner.invoke(
        app, ["evidence", "add", case, str(tmp_path), "--label", "X", "--kind", "nope"]
    )
    assert r.exit_code == 2 and "unknown evidence kind" in r.output
    r = runner.invoke(
        app, ["evidence", "add", case, str(disk.raw), "--label", "Y", "--unlock", "secret"]
    )
    assert r.exit_code == 0, r.output


def test_registration_sha256_is_of_the_file(case: Case, disk: DiskCase) -> None:
    ev = add_evidence(case, disk.e01[0], "HDD-01")
    assert ev.sha256 == hashlib.sha256(disk.e01[0].read_bytes()).hexdigest()


def test_split_raw_registered_with_the_media_size(
    case: Case, disk: DiskCase, tmp_path: Path
) -> None:
    from lanterne.synth.disks import split_raw

    first = split_raw(disk.raw, tmp_path, 16 << 20)[0]
    ev = add_evidence(case, first, "HDD-SPLIT")
    assert (ev.kind, ev.format, ev.size) == ("disk-image", "raw", disk.raw_size)
    assert verify_evidence(case, "HDD-SPLIT")["sha256"] == disk.raw_sha256
