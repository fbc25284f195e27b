"""The synthetic operation: deterministic, and its expected figures are what a walk finds."""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.config import Limits
from lanterne.errors import CorruptData
from lanterne.evidence.archive import open_container
from lanterne.evidence.base import EntryWarning, EvidenceSource, Item
from lanterne.evidence.folder import FileSource, FolderSource
from lanterne.evidence.registry import add_evidence
from lanterne.ingest.pipeline import Ingestor
from lanterne.provenance import Step, display_path
from lanterne.synth import archives
from lanterne.synth.case import Operation, make_operation

CONTAINER_OF = {"zip": "zip", "7z": "7z", "tar": "tar", "tar.gz": "gzip", "tgz": "gzip"}


def walk_item(label: str, source: EvidenceSource, spool: Path) -> Iterator[tuple[str, str]]:
    """(display path, SHA-256) of every file of an item, nested archives opened (by name)."""
    limits = Limits()

    def visit(items: Iterator[Item], depth: int) -> Iterator[tuple[str, str]]:
        for item in items:
            if isinstance(item, EntryWarning):
                continue
            with item.open() as f:
                yield display_path(item.provenance), hashlib.sha256(f.read()).hexdigest()
            kind = archives.kind_of(item.name)
            if kind is not None and depth < limits.archive_max_depth:
                with contextlib.suppress(CorruptData):  # recorded on the archive itself
                    inner = open_container(item, CONTAINER_OF[kind], limits, spool)
                    yield from visit(inner, depth + 1)
            item.release()

    yield from visit(source.walk((Step("evidence", label),)), 0)


@pytest.fixture(scope="module")
def operation(tmp_path_factory: pytest.TempPathFactory) -> Operation:
    return make_operation(tmp_path_factory.mktemp("op") / "operation", seed=11)


def test_manifest_agrees_with_a_direct_walk_of_what_was_written(
    operation: Operation, tmp_path: Path
) -> None:
    for item in operation.items:
        source = FolderSource(item.path) if item.kind == "folder" else FileSource(item.path)
        found = sorted(walk_item(item.label, source, tmp_path))
        assert found == sorted((f.location, f.sha256) for f in operation.files[item.label])
    assert list(tmp_path.iterdir()) == []
    assert operation.total_files == sum(len(f) for f in operation.files.values())
    labels = [i.label for i in operation.items]
    assert labels == ["PC-01", "USB-02", "PHONE-03", "LAPTOP-04", "SD-05"]
    assert {i.suspect for i in operation.items} == {"Suspect A", "Suspect B", "Suspect C"}


def test_operation_has_recurring_pictures_nested_archives_and_hostile_files(
    operation: Operation,
) -> None:
    where: dict[str, set[str]] = {}
    for label, files in operation.files.items():
        for f in files:
            if f.kind == "picture":
                where.setdefault(f.sha256, set()).add(label)
    assert max(len(labels) for labels in where.values()) >= 3  # one picture on three devices
    assert operation.distinct_pictures < operation.pictures
    assert operation.distinct_sha256 < operation.total_files
    usb = [f.location for f in operation.files["USB-02"]]
    assert "usb-02.zip!/backup/photos.tar.gz!/photos.tar!/photos/beach.jpg" in usb
    pc = {f.location: f for f in operation.files["PC-01"]}
    assert pc["Documents/scan.txt"].kind == "picture"  # renamed: extension mismatch
    assert operation.warnings["SD-05"]
    assert operation.total_warnings == len(operation.warnings["SD-05"])


def test_every_picture_opens_and_nothing_else_does(operation: Operation) -> None:
    for item in operation.items:
        if item.label == "SD-05":
            continue  # broken on purpose
        for f in operation.files[item.label]:
            if "!/" in f.location:
                continue  # inside an archive: covered by the walk test
            data = (item.path / f.location).read_bytes() if item.kind == "folder" else b""
            if not data:
                continue
            try:
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                opened = True
            except Exception:
                opened = False
            assert opened == (f.kind == "picture"), f.location


def test_same_seed_same_operation_other_seed_other_pictures(
    operation: Operation, tmp_path: Path
) -> None:
    again = make_operation(tmp_path / "again", seed=11)
    assert again.manifest() == operation.manifest()
    for a, b in zip(again.items, operation.items, strict=True):
        if a.kind == "archive":
            assert a.path.read_bytes() == b.path.read_bytes()
    other = make_operation(tmp_path / "other", seed=12)
    assert {s for _, _, s in other.manifest()} != {s for _, _, s in operation.manifest()}


def test_an_ingest_of_the_operation_records_exactly_what_it_expects(
    operation: Operation, tmp_path: Path
) -> None:
    with Case.init(tmp_path / "case", "Synthetic operation") as case:
        for item in operation.items:
            add_evidence(case, item.path, item.label, item.suspect)
        Ingestor(case, workers=2).run()
        label = {e.id: e.label for e in case.store.list_evidence()}
        files = [
            (label[r.evidence_id], r.path, r.sha256)
            for r in case.store.rows(sa.select(schema.file))
        ]
        warnings = [
            (label[r.evidence_id], r.path, r.stage, r.reason)
            for r in case.store.rows(sa.select(schema.warning))
        ]
        kinds = {r.sha256: r.kind for r in case.store.rows(sa.select(schema.content))}
    assert sorted(files) == operation.manifest()
    expected = [
        (lb, w.location, w.stage, w.reason) for lb, ws in operation.warnings.items() for w in ws
    ]
    assert sorted(warnings) == sorted(expected)
    assert {f.sha256: f.kind for fs in operation.files.values() for f in fs} == kinds


@pytest.mark.slow
def test_scale_multiplies_the_pictures(operation: Operation, tmp_path: Path) -> None:
    bigger = make_operation(tmp_path / "x2", seed=11, scale=2)
    assert bigger.pictures > operation.pictures + 20
    with pytest.raises(ValueError, match="scale"):
        make_operation(tmp_path / "x0", scale=0)
