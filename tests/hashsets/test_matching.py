"""Importing hash sets into a case and matching its contents against them."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.evidence.registry import add_evidence
from lanterne.hashsets.formats import by_name
from lanterne.hashsets.importer import import_hashset
from lanterne.hashsets.matching import categorised, match_exact, match_figures
from lanterne.hashsets.records import HashRecord, HashSetHeader
from lanterne.ingest.pipeline import Ingestor
from lanterne.synth.pictures import make_picture

PICTURES = [make_picture(70 + i, (200, 150)) for i in range(4)]
TEXT = b"an ordinary readme of an ordinary program\n"


def _digests(data: bytes) -> dict[str, str]:
    return {k: hashlib.new(k, data).hexdigest() for k in ("md5", "sha1", "sha256")}


@pytest.fixture
def ingested(case: Case, tmp_path: Path) -> Case:
    seized = tmp_path / "seized"
    seized.mkdir()
    for i, data in enumerate(PICTURES):
        (seized / f"p{i}.jpg").write_bytes(data)
    (seized / "readme.txt").write_bytes(TEXT)
    add_evidence(case, seized, "PC-01")
    Ingestor(case, workers=2).run()
    return case


def _write(path: Path, fmt: str, records: list[HashRecord], name: str = "set") -> Path:
    by_name(fmt).write(path, HashSetHeader(fmt, name=name), records)
    return path


def _matches(case: Case) -> set[tuple[str, str, str]]:
    m, hs = schema.match, schema.hashset
    with case.store.engine.connect() as conn:
        rows = conn.execute(select(m.c.sha256, hs.c.name, m.c.method).join(hs)).all()
    return {(r[0], r[1], r[2]) for r in rows}


def test_exact_matches_by_each_hash_kind(ingested: Case, tmp_path: Path) -> None:
    p0, p1, p2 = (_digests(d) for d in PICTURES[:3])
    sums = _write(tmp_path / "a.md5", "sumfile", [HashRecord("line 1", md5=p0["md5"])])
    import_hashset(ingested, sums, "known-bad", name="md5-list")
    vics = _write(
        tmp_path / "b.json",
        "vics",
        [
            HashRecord("1", md5=p1["md5"], sha1=p1["sha1"], category="1", entry_id="11"),
            HashRecord("2", md5="0" * 32, sha256=p2["sha256"], category="2", entry_id="12"),
        ],
    )
    import_hashset(ingested, vics, "known-bad", name="vics-set", scheme="vics-us")
    assert match_exact(ingested) > 0
    got = _matches(ingested)
    assert (p0["sha256"], "md5-list", "md5") in got
    assert {(p1["sha256"], "vics-set", "md5"), (p1["sha256"], "vics-set", "sha1")} <= got
    assert (p2["sha256"], "vics-set", "sha256") in got
    assert match_exact(ingested) == 0  # nothing new: nothing added
    cats = categorised(ingested)
    assert cats[p1["sha256"]].categories == {"vics-us": {"1"}}
    assert cats[p2["sha256"]].sources[0]["entry_id"] == "12"
    figures = match_figures(ingested)
    assert figures["new_pictures"] == 1  # the fourth picture
    assert figures["matched_by_category"]["vics-us"] == {"1": 1, "2": 1}


def test_conflicting_categories_are_kept_and_flagged(ingested: Case, tmp_path: Path) -> None:
    p = _digests(PICTURES[0])
    for name, category in (("agency-a", "1"), ("agency-b", "2")):
        f = _write(
            tmp_path / f"{name}.json", "vics", [HashRecord("1", md5=p["md5"], category=category)]
        )
        import_hashset(ingested, f, "known-bad", name=name, scheme="vics-us")
    other = _write(tmp_path / "uk.json", "vics", [HashRecord("1", md5=p["md5"], category="A")])
    import_hashset(ingested, other, "known-bad", name="uk", scheme="uk-grades")
    match_exact(ingested)
    item = categorised(ingested)[p["sha256"]]
    assert item.categories == {"vics-us": {"1", "2"}, "uk-grades": {"A"}}
    assert item.conflict
    assert {s["hashset"] for s in item.sources} == {"agency-a", "agency-b", "uk"}
    assert match_figures(ingested)["category_conflicts"] == 1


def test_known_good_is_counted_apart(ingested: Case, tmp_path: Path) -> None:
    t = _digests(TEXT)
    f = _write(tmp_path / "nsrl.sha256", "sumfile", [HashRecord("1", sha256=t["sha256"])])
    import_hashset(ingested, f, "known-good", name="NSRL")
    match_exact(ingested)
    figures = match_figures(ingested)
    assert figures["known_good_contents"] == 1
    assert figures["new_pictures"] == len(PICTURES)


def test_reimport_is_idempotent_and_a_new_file_replaces(ingested: Case, tmp_path: Path) -> None:
    p0, p1 = _digests(PICTURES[0]), _digests(PICTURES[1])
    f = _write(tmp_path / "l.md5", "sumfile", [HashRecord("1", md5=p0["md5"])])
    first = import_hashset(ingested, f, "known-bad", name="list")
    match_exact(ingested)
    again = import_hashset(ingested, f, "known-bad", name="list")
    assert again.unchanged and again.entries == first.entries == 1
    assert ingested.store.count(schema.hash_entry) == 1
    _write(f, "sumfile", [HashRecord("1", md5=p1["md5"]), HashRecord("2", md5=p0["md5"])])
    replaced = import_hashset(ingested, f, "known-bad", name="list")
    assert replaced.replaced and replaced.entries == 2
    assert ingested.store.count(schema.hash_entry) == 2
    match_exact(ingested)
    assert {s for s, _, _ in _matches(ingested)} == {p0["sha256"], p1["sha256"]}


def test_malformed_file_imports_nothing(ingested: Case, tmp_path: Path) -> None:
    good = "d41d8cd98f00b204e9800998ecf8427e  empty.txt\n"
    f = tmp_path / "bad.md5"
    f.write_text(good * 3 + "not-a-hash  x.txt\n" + good)
    with pytest.raises(UserError, match="line 4"):
        import_hashset(ingested, f, "known-bad", fmt="sumfile", name="bad")
    assert ingested.store.count(schema.hashset) == 0
    assert ingested.store.count(schema.hash_entry) == 0


def test_new_evidence_is_matched_incrementally(ingested: Case, tmp_path: Path) -> None:
    extra = make_picture(99, (120, 90))
    f = _write(
        tmp_path / "l.md5",
        "sumfile",
        [
            HashRecord("1", md5=_digests(extra)["md5"]),
            HashRecord("2", md5=_digests(PICTURES[0])["md5"]),
        ],
    )
    import_hashset(ingested, f, "known-bad", name="list")
    assert match_exact(ingested) == 1
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / "x.jpg").write_bytes(extra)
    add_evidence(ingested, usb, "USB-02")
    Ingestor(ingested, workers=2).run()
    assert match_exact(ingested) == 1
    assert match_exact(ingested) == 0


def test_bad_role_and_unknown_format_are_clear(ingested: Case, tmp_path: Path) -> None:
    f = tmp_path / "x.md5"
    f.write_text("d41d8cd98f00b204e9800998ecf8427e  e\n")
    with pytest.raises(UserError, match="unknown role"):
        import_hashset(ingested, f, "bad-role")
    with pytest.raises(UserError, match="unknown hash-set format"):
        import_hashset(ingested, f, "known-bad", fmt="nope")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(random.Random(1).randbytes(4096))
    with pytest.raises(UserError, match="not a hash-set format"):
        import_hashset(ingested, garbage, "known-bad")


_HEX = st.sampled_from("0123456789abcdef")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_exact_matching_equals_a_brute_force_oracle(case: Case, data: st.DataObject) -> None:
    """Contents and entries drawn from a small pool of hashes: every shared hash is a match."""
    pool = {
        k: [f"{i:0{n}x}" for i in range(6)] for k, n in (("md5", 32), ("sha1", 40), ("sha256", 64))
    }
    c, e, hs, m = schema.content, schema.hash_entry, schema.hashset, schema.match
    with case.store.engine.begin() as conn:  # a clean slate for each example
        for table in (m, e, hs, schema.file, c):
            conn.execute(table.delete())
    contents = data.draw(
        st.lists(
            st.tuples(*(st.sampled_from(pool[k]) for k in ("md5", "sha1"))), max_size=6, unique=True
        )
    )
    entries = data.draw(
        st.lists(
            st.tuples(
                st.one_of(st.none(), st.sampled_from(pool["md5"])),
                st.one_of(st.none(), st.sampled_from(pool["sha1"])),
                st.one_of(st.none(), st.sampled_from(pool["sha256"])),
            ),
            max_size=8,
        )
    )
    now = utcnow()
    with case.store.engine.begin() as conn:
        rows = []
        for i, (md5, sha1) in enumerate(contents):
            rows.append(
                {
                    "sha256": pool["sha256"][i % 6] if i < 6 else f"{i:064x}",
                    "md5": md5,
                    "sha1": sha1,
                    "size": 1,
                    "mime": "x",
                    "kind": "other",
                    "analyzed_at": now,
                }
            )
        rows = list({r["sha256"]: r for r in rows}.values())
        if rows:
            conn.execute(insert(c), rows)
        set_id = conn.execute(
            insert(hs).values(
                name="s",
                role="known-bad",
                format="sumfile",
                source="x",
                source_sha256="0" * 64,
                entries=len(entries),
                imported_by="t",
                imported_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        for j, (md5, sha1, sha256) in enumerate(entries):
            conn.execute(
                insert(e).values(
                    hashset_id=set_id, md5=md5, sha1=sha1, sha256=sha256, location=f"line {j}"
                )
            )
    match_exact(case)
    with case.store.engine.connect() as conn:
        query = select(m.c.sha256, e.c.location, m.c.method).join(e, m.c.entry == e.c.id)
        got = {(r.sha256, r.location, r.method) for r in conn.execute(query)}
    want = {
        (r["sha256"], f"line {j}", kind)
        for r in rows
        for j, entry in enumerate(entries)
        for kind, value in zip(("md5", "sha1", "sha256"), entry, strict=True)
        if value is not None and r[kind] == value
    }
    assert got == want


def _pdq(data: bytes) -> str:
    from lanterne.analyze.picture import analyze_picture
    from lanterne.config import Limits

    facts = analyze_picture(data, Limits())
    assert facts.pdq is not None
    return facts.pdq


def test_pdq_matches_near_duplicates_and_mirrors_only_with_dihedral(
    case: Case, tmp_path: Path
) -> None:
    from lanterne.synth.pictures import make_variant

    known = [make_picture(90 + i, (480, 360)) for i in range(3)]
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "smaller.jpg").write_bytes(make_variant(known[0], "resized"))
    (seized / "recompressed.jpg").write_bytes(make_variant(known[1], "recompressed"))
    (seized / "mirrored.jpg").write_bytes(make_variant(known[2], "mirrored"))
    (seized / "unrelated.jpg").write_bytes(make_picture(300, (480, 360)))
    add_evidence(case, seized, "PC-01")
    Ingestor(case, workers=2).run()
    records = [
        HashRecord(f"line {i + 1}", pdq=_pdq(data), pdq_quality=100, category="1")
        for i, data in enumerate(known)
    ]
    f = _write(tmp_path / "known.pdq", "pdq", records)
    import_hashset(case, f, "known-bad", name="pdq-list", scheme="vics-us")
    match_exact(case)
    m, file = schema.match, schema.file
    query = select(file.c.name, m.c.method, m.c.distance, m.c.variant).join(
        m, m.c.sha256 == file.c.sha256
    )
    with case.store.engine.connect() as conn:
        got = {r.name: (r.method, r.distance, r.variant) for r in conn.execute(query)}
    assert set(got) == {"smaller.jpg", "recompressed.jpg"}
    assert all(method == "pdq" and distance <= 31 for method, distance, _ in got.values())
    # with the dihedral option, the mirrored copy matches too, and says how
    config = case.root / "case.toml"
    config.write_text(config.read_text() + "pdq_dihedral = true\n")
    with case.store.engine.begin() as conn:
        conn.execute(schema.hashset.update().values(matched_until=None))
    with Case.open(case.root) as again:
        match_exact(again)
        with again.store.engine.connect() as conn:
            got = {r.name: (r.method, r.distance, r.variant) for r in conn.execute(query)}
    assert got["mirrored.jpg"][2] == "flip-horizontal" and got["mirrored.jpg"][1] <= 31
    assert "unrelated.jpg" not in got


def test_pdq_quality_gate(case: Case, tmp_path: Path) -> None:
    """An entry below the quality gate is not matched on."""
    seized = tmp_path / "seized"
    seized.mkdir()
    picture = make_picture(120, (300, 200))
    (seized / "a.jpg").write_bytes(picture)
    add_evidence(case, seized, "PC-01")
    Ingestor(case, workers=2).run()
    f = _write(tmp_path / "low.pdq", "pdq", [HashRecord("1", pdq=_pdq(picture), pdq_quality=10)])
    import_hashset(case, f, "known-bad", name="low")
    assert match_exact(case) == 0


def test_vics_export_reads_back_losslessly(ingested: Case, tmp_path: Path) -> None:
    from lanterne.report.vics_export import _media, export_pdq, export_vics

    p0, p1 = _digests(PICTURES[0]), _digests(PICTURES[1])
    for name, category in (("a", "1"), ("b", "2")):
        f = _write(
            tmp_path / f"{name}.json", "vics", [HashRecord("1", md5=p0["md5"], category=category)]
        )
        import_hashset(ingested, f, "known-bad", name=name, scheme="vics-us")
    f = _write(tmp_path / "c.json", "vics", [HashRecord("1", md5=p1["md5"], category="3")])
    import_hashset(ingested, f, "known-bad", name="c", scheme="vics-us")
    match_exact(ingested)
    out = tmp_path / "export.json"
    assert export_vics(ingested, out, "vics-us") == len(PICTURES)
    header, records = by_name("vics").read(out)
    assert header.version and header.version.startswith("2.0")
    got = {r.sha256: r for r in records}
    expected = {r.sha256: r for r in _media(ingested, "vics-us", new_only=False)}
    assert got.keys() == expected.keys() == {_digests(p)["sha256"] for p in PICTURES}
    for sha, record in expected.items():
        back = got[sha]
        assert (back.md5, back.sha1, back.pdq, back.category) == (
            record.md5,
            record.sha1,
            record.pdq,
            record.category,
        )
        assert back.extra["MediaFiles"][0]["FilePath"] == record.extra["MediaFiles"][0]["FilePath"]
    assert got[p1["sha256"]].category == "3"
    assert got[p0["sha256"]].category is None  # the sets disagree: no category, a comment
    assert "conflict" in got[p0["sha256"]].extra["Comments"]
    pdq = tmp_path / "new.pdq"
    assert export_pdq(ingested, pdq, new_only=True) == len(PICTURES) - 2


def test_cli_import_match_groups_export(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lanterne.cli import app

    runner = CliRunner()
    case = str(tmp_path / "case")
    seized = tmp_path / "seized"
    seized.mkdir()
    for i, data in enumerate(PICTURES):
        (seized / f"p{i}.jpg").write_bytes(data)
    assert runner.invoke(app, ["case", "init", case]).exit_code == 0
    assert (
        runner.invoke(app, ["evidence", "add", case, str(seized), "--label", "PC"]).exit_code == 0
    )
    assert runner.invoke(app, ["ingest", case]).exit_code == 0
    listed = _write(
        tmp_path / "known.json",
        "vics",
        [HashRecord("1", md5=_digests(PICTURES[0])["md5"], category="1")],
    )
    r = runner.invoke(
        app, ["hashset", "import", case, str(listed), "--role", "known-bad", "--scheme", "vics-us"]
    )
    assert r.exit_code == 0 and "1 new matches" in r.output, r.output
    r = runner.invoke(app, ["hashset", "import", case, str(listed), "--role", "known-bad"])
    assert "already imported" in r.output
    assert "known" in runner.invoke(app, ["hashset", "list", case]).output
    r = runner.invoke(app, ["summary", case])
    assert "known-bad by category (vics-us): 1: 1" in r.output, r.output
    assert "new material (no hash set knows it): 3 pictures" in r.output
    assert runner.invoke(app, ["groups", case]).exit_code == 0
    out = tmp_path / "case.json"
    r = runner.invoke(app, ["export", "vics", case, "-o", str(out)])
    assert r.exit_code == 0 and out.exists()
    bad = tmp_path / "bad.md5"
    bad.write_text("zz  x\n")
    r = runner.invoke(
        app, ["hashset", "import", case, str(bad), "--role", "known-bad", "--format", "sumfile"]
    )
    assert r.exit_code == 2 and "line 1" in r.output


def test_file_exports_of_a_selection(ingested: Case, tmp_path: Path) -> None:
    import io

    from lanterne.report.export import export_files

    good = _write(
        tmp_path / "g.sha256", "sumfile", [HashRecord("1", sha256=_digests(TEXT)["sha256"])]
    )
    import_hashset(ingested, good, "known-good", name="NSRL")
    bad = _write(tmp_path / "b.md5", "sumfile", [HashRecord("1", md5=_digests(PICTURES[0])["md5"])])
    import_hashset(ingested, bad, "known-bad", name="list")
    match_exact(ingested)

    def names(selection: str) -> set[str]:
        out = io.StringIO()
        export_files(ingested, "csv", out, selection)
        return {line.split(",")[1] for line in out.getvalue().splitlines()[1:]}

    assert names("all") == {f"p{i}.jpg" for i in range(4)} | {"readme.txt"}
    assert names("no-known-good") == {f"p{i}.jpg" for i in range(4)}
    assert names("new") == {"p1.jpg", "p2.jpg", "p3.jpg"}
