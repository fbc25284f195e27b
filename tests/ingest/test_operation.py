"""The whole synthetic operation, hostile item included, ingested end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.evidence.registry import add_evidence
from lanterne.ingest.pipeline import Ingestor
from lanterne.report.summary import summarize
from lanterne.synth.case import Operation, make_operation


@pytest.fixture(scope="module")
def operation(tmp_path_factory: pytest.TempPathFactory) -> Operation:
    return make_operation(tmp_path_factory.mktemp("op") / "operation", seed=3)


def test_operation_ingests_to_its_manifest(case: Case, operation: Operation) -> None:
    for item in operation.items:
        add_evidence(case, item.path, item.label, item.suspect)
    Ingestor(case, workers=2).run()
    f, e, w = schema.file, schema.evidence, schema.warning
    files = sorted(
        (r.label, r.path, r.sha256)
        for r in case.store.rows(select(e.c.label, f.c.path, f.c.sha256).join(e))
        if r.sha256 is not None
    )
    assert files == operation.manifest()
    warnings = sorted(
        (r.label, r.path, r.stage, r.reason)
        for r in case.store.rows(select(e.c.label, w.c.path, w.c.stage, w.c.reason).join(e))
    )
    expected = sorted(
        (label, x.location, x.stage, x.reason)
        for label, ws in operation.warnings.items()
        for x in ws
    )
    assert warnings == expected
    s = summarize(case)
    assert s["files"] == operation.total_files
    assert s["distinct_contents"] == operation.distinct_sha256
    assert s["pictures"]["files"] == operation.pictures
    assert s["pictures"]["contents"] == operation.distinct_pictures
    assert s["warnings"] == operation.total_warnings
    assert {ev["label"]: ev["status"] for ev in s["evidence"]} == {
        i.label: "done" for i in operation.items
    }
    # nothing left in the spool, nothing written beside the evidence
    assert not case.tmp.exists() or not any(case.tmp.iterdir())


def test_evidence_is_never_modified(tmp_path: Path, operation: Operation) -> None:
    import hashlib

    def snapshot() -> dict[str, tuple[str, int]]:
        out = {}
        for p in sorted(operation.root.rglob("*")):
            if p.is_file() and not p.is_symlink():
                out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        return out

    names_before = sorted(str(p) for p in operation.root.rglob("*"))
    before = snapshot()
    with Case.init(tmp_path / "case") as case:
        for item in operation.items:
            add_evidence(case, item.path, item.label, item.suspect)
        Ingestor(case, workers=2).run()
    assert snapshot() == before
    assert sorted(str(p) for p in operation.root.rglob("*")) == names_before
