from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lanterne.cli import app
from lanterne.synth.pictures import make_picture
from testkit import need_tools

runner = CliRunner()


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def seized(tmp_path: Path) -> Path:
    root = tmp_path / "seized"
    (root / "DCIM").mkdir(parents=True)
    for i in range(5):
        (root / "DCIM" / f"IMG_{i}.jpg").write_bytes(make_picture(i, (320, 240)))
    (root / "DCIM" / "IMG_0 copy.jpg").write_bytes((root / "DCIM" / "IMG_0.jpg").read_bytes())
    (root / "a, b.txt").write_text("comma in the name\n")
    return root


def test_case_evidence_ingest_summary_export(tmp_path: Path, seized: Path) -> None:
    case = str(tmp_path / "case")
    _run("case", "init", case, "--name", "Op Test")
    _run("evidence", "add", case, str(seized), "--label", "PC-01", "--suspect", "Suspect A")
    assert "PC-01" in _run("evidence", "list", case)
    _run("ingest", case, "--workers", "2")
    summary = json.loads(_run("summary", case, "--json"))
    assert summary["files"] == 7
    assert summary["distinct_contents"] == 6
    assert summary["pictures"]["files"] == 6 and summary["pictures"]["contents"] == 5
    assert summary["evidence"][0]["label"] == "PC-01"
    assert summary["evidence"][0]["suspect"] == "Suspect A"
    assert "Op Test" in _run("summary", case)

    out = tmp_path / "files.jsonl"
    _run("export", "files", case, "--format", "jsonl", "-o", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 7
    img = next(r for r in rows if r["path"] == "DCIM/IMG_1.jpg")
    data = (seized / "DCIM" / "IMG_1.jpg").read_bytes()
    assert img["sha256"] == hashlib.sha256(data).hexdigest()
    assert img["md5"] == hashlib.md5(data).hexdigest()
    assert (img["width"], img["height"], img["mime"]) == (320, 240, "image/jpeg")
    for column in (
        "evidence",
        "provenance",
        "size",
        "sha1",
        "extension_mismatch",
        "pdq",
        "pdq_quality",
    ):
        assert column in img

    csv_out = tmp_path / "files.csv"
    _run("export", "files", case, "--format", "csv", "-o", str(csv_out))
    assert len(csv_out.read_text().splitlines()) == 8


@pytest.mark.skipif(shutil.which("hashdeep") is None, reason="hashdeep is not installed")
def test_hashdeep_export_is_read_by_hashdeep(tmp_path: Path, seized: Path) -> None:
    case = str(tmp_path / "case")
    _run("case", "init", case)
    _run("evidence", "add", case, str(seized), "--label", "PC-01")
    _run("ingest", case)
    known = tmp_path / "known.txt"
    _run("export", "files", case, "--format", "hashdeep", "-o", str(known))
    # hashdeep loads the export (a format error exits 64 with a message) and, in positive
    # matching mode, finds every seized file among its hashes; negative matching finds none
    base = ["hashdeep", "-c", "md5,sha1,sha256", "-k", str(known), "-r", str(seized)]
    matching = subprocess.run([*base, "-m"], capture_output=True, text=True)
    assert matching.returncode in (0, 1) and not matching.stderr, matching.stderr
    matched = {Path(line).name for line in matching.stdout.splitlines() if line.strip()}
    assert matched == {p.name for p in seized.rglob("*") if p.is_file()}
    negative = subprocess.run([*base, "-x"], capture_output=True, text=True)
    assert negative.stdout == "" and not negative.stderr


def test_evidence_errors_change_nothing(tmp_path: Path, seized: Path) -> None:
    case = str(tmp_path / "case")
    _run("case", "init", case)
    out = _run("evidence", "add", case, str(tmp_path / "missing"), "--label", "X", code=2)
    assert "does not exist" in out
    _run("evidence", "add", case, str(seized), "--label", "PC-01")
    out = _run("evidence", "add", case, str(seized), "--label", "PC-01", code=2)
    assert "already registered" in out
    out = _run("evidence", "add", case, case, "--label", "SELF", code=2)
    assert "overlaps the case folder" in out
    listing = _run("evidence", "list", case)
    assert "PC-01" in listing and "SELF" not in listing and " X " not in listing
    assert "not a Lanterne case" in _run("summary", str(tmp_path / "nowhere"), code=2)


def test_demo_runs_the_whole_pipeline(tmp_path: Path) -> None:
    need_tools("mke2fs", "mkfs.vfat", "mcopy", "mkntfs", "ntfscp", "sfdisk", "ewfacquire")
    case = tmp_path / "demo"
    out = _run("demo", str(case), "--workers", "2")
    assert "Demo operation (synthetic)" in out
    summary = json.loads(_run("summary", str(case), "--json"))
    # five folders and archives, one E01 disk image; a Signal profile and a Signal backup;
    # the planted network's 11 seized folders and 3 phones' chat exports
    assert summary["items"] == 8 + 14
    assert all(ev["status"] == "done" for ev in summary["evidence"])
    assert summary["deleted_files"] >= 1 and summary["carved_files"] >= 1
    assert summary["pictures"]["contents"] > 20
    assert summary["warnings_by_reason"]["path-traversal"] >= 1
    figures = json.loads(_run("network", "figures", str(case), "--json"))
    assert figures["suspects"]["identified"] == 12
    assert "production_serial" in out and "child_access" in out
    # running it again re-uses the case and changes nothing
    _run("demo", str(case))
    assert json.loads(_run("summary", str(case), "--json"))["files"] == summary["files"]
    assert json.loads(_run("network", "figures", str(case), "--json")) == figures


def test_chats_import_and_summary(tmp_path: Path) -> None:
    from lanterne.synth.chat_export import make_generic_export

    planted = make_generic_export(tmp_path / "export")
    case = str(tmp_path / "case")
    _run("case", "init", case)
    shown = _run("chats", "import", case, "generic", str(planted.path), "--label", "PARTNER-1")
    assert f"{planted.messages:,} messages" in shown
    assert "already imported" in _run("chats", "import", case, "generic", str(planted.path))
    data = json.loads(_run("chats", "summary", case, "--json"))
    assert data["persons"] == planted.persons
    assert data["persons_by_country"] == planted.countries
    assert "Harbour" in _run("chats", "summary", case)
    assert "unknown chat format" in _run("chats", "import", case, "icq", str(planted.path), code=2)
