"""Categorising with propagation to near duplicates, undo, conflicts with hash sets, flags."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.evidence.registry import add_evidence
from lanterne.hashsets.formats import by_name
from lanterne.hashsets.importer import import_hashset
from lanterne.hashsets.matching import match_exact
from lanterne.hashsets.records import HashRecord, HashSetHeader
from lanterne.ingest.pipeline import Ingestor
from lanterne.match.groups import build_groups
from lanterne.review import audit
from lanterne.review.decisions import (
    SOURCE_PROPAGATED,
    SOURCE_REVIEW,
    NotFound,
    categorise,
    conflicts,
    current,
    flag,
    flags,
    history,
    last_batch,
    preview,
    propagation,
    resolve,
    undo,
)
from lanterne.review.schemes import VICS_UK, VICS_US, scheme_by_name, scheme_for
from lanterne.synth.pictures import make_picture, make_variant


@dataclass
class Seized:
    """SHA-256 of the case's pictures: ``group`` a picture and two near duplicates (the
    representative first), ``alone`` a picture with no near duplicate (two copies of it: one
    content), ``known`` a picture a known-bad set lists in category 1."""

    case: Case
    group: list[str]
    alone: str
    known: str


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def seized(case: Case, tmp_path: Path) -> Seized:
    a, b, c = (make_picture(900 + i, (320, 240)) for i in range(3))
    files = {
        "a.jpg": a,
        "a-small.jpg": make_variant(a, "resized"),
        "a-again.jpg": make_variant(a, "recompressed"),
        "b.jpg": b,
        "copy-of-b.jpg": b,
        "c.jpg": c,
    }
    folder = tmp_path / "seized"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    add_evidence(case, folder, "PC-01")
    Ingestor(case, workers=1).run()
    build_groups(case)
    listed = tmp_path / "known.json"
    record = HashRecord(
        "1",
        md5=hashlib.md5(c).hexdigest(),
        sha1=hashlib.sha1(c).hexdigest(),
        sha256=_sha(c),
        category="1",
        entry_id="77",
    )
    by_name("vics").write(listed, HashSetHeader("vics", name="vics-set"), [record])
    import_hashset(case, listed, "known-bad", name="vics-set", scheme="vics-us")
    match_exact(case)
    audit.keep_witness(case)
    group = [_sha(a), *sorted({_sha(files["a-small.jpg"]), _sha(files["a-again.jpg"])})]
    return Seized(case, group, _sha(b), _sha(c))


def _categories(case: Case, shas: list[str]) -> dict[str, str | None]:
    with case.store.engine.connect() as conn:
        now = current(conn, shas)
    return {s: (now[s].category if s in now else None) for s in shas}


def test_a_decision_propagates_to_the_near_duplicate_group(seized: Seized) -> None:
    case, (rep, *members) = seized.case, seized.group
    with case.store.engine.connect() as conn:
        assert propagation(conn, rep) == members
        assert propagation(conn, members[0]) == sorted([rep, members[1]])
        assert propagation(conn, seized.alone) == []
        plan = preview(conn, rep, "1", scheme="vics-us")
    assert plan.sha256s == [rep, *members] and plan.conflicts == []
    assert case.store.count(schema.review_decision) == 0  # a preview changes nothing

    batch = categorise(case.store, rep, "1", "alice", scheme=VICS_US)
    assert batch.sha256s == [rep, *members] and batch.category == "1"
    assert _categories(case, seized.group) == dict.fromkeys(seized.group, "1")
    with case.store.engine.connect() as conn:
        now = current(conn, seized.group)
        assert [now[s].source for s in seized.group] == [SOURCE_REVIEW] + [SOURCE_PROPAGATED] * 2
        assert {now[s].origin for s in seized.group} == {rep}
        assert {now[s].by for s in seized.group} == {"alice"}
        assert last_batch(conn, "alice") == batch.batch

    logged = audit.entries(case.store, action=audit.CATEGORISE)
    assert len(logged) == 1 and logged[0].target == rep and logged[0].user == "alice"
    assert logged[0].detail["propagated"] == members
    assert logged[0].detail["batch"] == batch.batch
    assert audit.verify(case.store, audit.witness_path(case)).ok


def test_exact_duplicates_are_one_content(seized: Seized) -> None:
    case = seized.case
    assert case.store.count(schema.file, schema.file.c.sha256 == seized.alone) == 2
    batch = categorise(case.store, seized.alone, "0", "alice", scheme="vics")
    assert batch.sha256s == [seized.alone]


def test_a_persons_own_look_is_not_overridden_by_propagation(seized: Seized) -> None:
    case, (rep, small, again) = seized.case, seized.group
    categorise(case.store, small, "2", "bob", scheme="vics-us", propagate=False)
    assert _categories(case, seized.group) == {rep: None, small: "2", again: None}
    batch = categorise(case.store, rep, "3", "alice", scheme="vics-us")
    assert batch.sha256s == [rep, again] and batch.kept == [small]
    assert _categories(case, seized.group) == {rep: "3", small: "2", again: "3"}
    with case.store.engine.connect() as conn:
        plan = preview(conn, rep, "3", scheme="vics-us")
    assert (plan.sha256s, plan.unchanged, plan.kept) == ([rep], [again], [small])


def test_undo_reverses_one_batch(seized: Seized) -> None:
    case, rep = seized.case, seized.group[0]
    first = categorise(case.store, rep, "1", "alice", scheme="vics-us")
    second = categorise(case.store, rep, "4", "alice", scheme="vics-us")
    assert _categories(case, seized.group) == dict.fromkeys(seized.group, "4")
    assert undo(case.store, second.batch, "alice") == 3
    assert _categories(case, seized.group) == dict.fromkeys(seized.group, "1")
    with case.store.engine.connect() as conn:
        assert last_batch(conn, "alice") == first.batch
        rows = history(conn, rep)
    assert [(d.category, d.undone_by) for d in rows] == [("1", None), ("4", "alice")]
    assert rows[1].undone_at is not None
    with pytest.raises(NotFound, match="undone already"):
        undo(case.store, second.batch, "alice")
    assert undo(case.store, first.batch, "bob") == 3
    assert _categories(case, seized.group) == dict.fromkeys(seized.group, None)
    undos = audit.entries(case.store, action=audit.UNDO)
    assert [(e.user, e.detail["batch"], e.detail["undone"]) for e in undos] == [
        ("bob", first.batch, 3),
        ("alice", second.batch, 3),
    ]
    assert audit.verify(case.store, audit.witness_path(case)).ok


def test_a_conflict_with_a_hash_set_is_shown_not_overwritten(seized: Seized) -> None:
    case = seized.case
    batch = categorise(case.store, seized.known, "2", "alice", scheme="vics-us")
    assert [(c.sha256, c.review, c.hashsets) for c in batch.conflicts] == [
        (seized.known, "2", (("vics-set", "1"),))
    ]
    with case.store.engine.connect() as conn:
        found = conflicts(conn)
        entry = schema.hash_entry
        listed = conn.execute(select(entry.c.category)).scalars().all()
    assert [(c.sha256, c.scheme, c.review) for c in found] == [(seized.known, "vics-us", "2")]
    assert listed == ["1"]  # the hash set keeps its category
    assert _categories(case, [seized.known]) == {seized.known: "2"}

    categorise(case.store, seized.known, "1", "bob", scheme="vics-us")  # agreeing: no conflict
    with case.store.engine.connect() as conn:
        assert conflicts(conn) == []
    categorise(case.store, seized.known, "A", "bob", scheme="vics-uk")  # another scheme
    with case.store.engine.connect() as conn:
        assert conflicts(conn) == []


def test_bad_categorisations_are_refused(seized: Seized) -> None:
    case = seized.case
    with pytest.raises(ValueError, match="not a category of vics-us"):
        categorise(case.store, seized.alone, "7", "alice", scheme="vics-us")
    with pytest.raises(NotFound, match="no content"):
        categorise(case.store, "f" * 64, "1", "alice", scheme="vics-us")
    assert case.store.count(schema.review_decision) == 0
    assert audit.count_entries(case.store) == 0


def test_second_opinion_flag_and_resolution(seized: Seized) -> None:
    case = seized.case
    asked = flag(case.store, seized.alone, "alice", "age difficult to tell")
    assert asked.open and asked.kind == "second-opinion"
    with case.store.engine.connect() as conn:
        assert [f.id for f in flags(conn)] == [asked.id]
        assert [f.note for f in flags(conn, sha256=seized.alone)] == ["age difficult to tell"]
    done = resolve(case.store, asked.id, "sue", "category 2 confirmed")
    assert (done.open, done.resolved_by, done.resolution) == (False, "sue", "category 2 confirmed")
    with case.store.engine.connect() as conn:
        assert flags(conn) == []
        assert [f.resolved_by for f in flags(conn, open_only=False)] == ["sue"]
    with pytest.raises(NotFound, match="no open flag"):
        resolve(case.store, asked.id, "sue", "again")
    with pytest.raises(NotFound, match="no content"):
        flag(case.store, "e" * 64, "alice")
    logged = [(e.action, e.user, e.target) for e in audit.entries(case.store)]
    assert logged == [("resolve", "sue", seized.alone), ("flag", "alice", seized.alone)]


def test_keys_and_schemes(case: Case) -> None:
    assert scheme_for(case) is VICS_US
    assert [c.key for c in VICS_US.categories] == ["0", "1", "2", "3", "4", "u"]
    assert VICS_US.category("u").value == "uncategorised"
    assert VICS_US.by_key("3").value == "3"  # type: ignore[union-attr]
    assert VICS_UK.category("1").value == "A"
    assert scheme_by_name("CAID") is VICS_UK
    case.sections["review"] = {"scheme": "vics-uk"}
    assert scheme_for(case) is VICS_UK
    case.sections["review"] = {"scheme": "nope"}
    with pytest.raises(Exception, match="unknown categorisation scheme"):
        scheme_for(case)
