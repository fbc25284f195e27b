"""Inputs that cannot be read become warnings with provenance; nothing escapes the case."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.evidence import folder
from lanterne.evidence.registry import add_evidence
from lanterne.ingest.pipeline import Ingestor
from lanterne.synth.case import make_operation
from lanterne.synth.pictures import make_picture


def test_unreadable_file_is_listed_and_warned(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "locked.jpg").write_bytes(make_picture(1))
    (seized / "fine.jpg").write_bytes(make_picture(2))
    real = folder.path_opener

    def opener(path: Path):  # type: ignore[no-untyped-def]
        if path.name != "locked.jpg":
            return real(path)

        def refuse() -> BinaryIO:
            raise PermissionError(13, "Permission denied")

        return refuse

    monkeypatch.setattr(folder, "path_opener", opener)
    add_evidence(case, seized, "PC-01")
    Ingestor(case, workers=2).run()
    f, w = schema.file, schema.warning
    files = {r.path: r for r in case.store.rows(select(f))}
    assert files["locked.jpg"].state == schema.STATE_UNREAD
    assert files["locked.jpg"].sha256 is None
    assert files["fine.jpg"].state == schema.STATE_DONE
    warnings = [(r.path, r.stage, r.reason, r.detail) for r in case.store.rows(select(w))]
    assert warnings == [("locked.jpg", "read", "unreadable", "Permission denied")]


def test_nothing_is_written_outside_the_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    operation = make_operation(tmp_path / "operation", seed=5)
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    small = tmp_path / "case"
    with Case.init(small) as case:
        (case.root / "case.toml").write_text(
            (case.root / "case.toml").read_text() + "spool_in_memory = 1024\n"
        )
    with Case.open(small) as case:  # tiny in-memory spool: members go to the case's tmp/
        assert case.limits.spool_in_memory == 1024
        for item in operation.items:
            add_evidence(case, item.path, item.label, item.suspect)
        Ingestor(case, workers=2).run()
        assert case.store.count(schema.file) == operation.total_files
    assert list(system_tmp.iterdir()) == []
    assert list(cwd.iterdir()) == []
    left = {p.name for p in small.iterdir()}
    assert left <= {"case.toml", "case.db", "case.db-wal", "case.db-shm", "thumbnails"}
    assert not any(p.is_symlink() for p in small.rglob("*"))
    assert os.listdir(small / "thumbnails")


def test_a_reader_bug_costs_one_container_not_the_run(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zipfile

    from lanterne.ingest import pipeline

    seized = tmp_path / "seized"
    seized.mkdir()
    with zipfile.ZipFile(seized / "a.zip", "w") as z:
        z.writestr("x.txt", b"x")
    (seized / "b.jpg").write_bytes(make_picture(4))

    def broken(*args: object) -> object:
        raise RuntimeError("simulated reader bug")
        yield  # a generator, as the real one

    monkeypatch.setattr(pipeline, "open_container", broken)
    add_evidence(case, seized, "PC-01")
    Ingestor(case, workers=2).run()
    f, w = schema.file, schema.warning
    files = {r.path: r.state for r in case.store.rows(select(f))}
    assert files == {"a.zip": schema.STATE_DONE, "b.jpg": schema.STATE_DONE}
    warnings = [(r.path, r.stage, r.reason) for r in case.store.rows(select(w))]
    assert warnings == [("a.zip", "walk", "internal-error")]
    assert case.store.list_evidence()[0].status == "done"
