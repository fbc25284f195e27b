"""Hash-set formats B: NSRL RDSv3 (SQLite) and RDSv2 (NSRLFile.txt), Autopsy/TSK kdb, EnCase
``.hash``, HashKeeper CSV.

All data is invented: hashes are random bytes from a seeded generator or hashes of generated
bytes, names are made up (``synth_…``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanterne.hashsets.formats import encase, hashkeeper, kdb, nsrl2, nsrl3
from lanterne.hashsets.records import HashRecord, HashSetHeader, MalformedHashSet

MODULES: list[ModuleType] = [nsrl3, nsrl2, kdb, encase, hashkeeper]
HFIND = shutil.which("hfind")
needs_hfind = pytest.mark.skipif(HFIND is None, reason="The Sleuth Kit's hfind is not installed")

# ------------------------------------------------------------------------------- helpers


def rand_hex(rng: random.Random, nbytes: int) -> str:
    return rng.randbytes(nbytes).hex()


def content_hashes(i: int) -> dict[str, Any]:
    """The hashes of an invented file's invented content."""
    data = f"synthetic file content #{i}".encode()
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def read_all(module: ModuleType, path: Path) -> tuple[HashSetHeader, list[HashRecord]]:
    header, records = module.read(path)
    return header, list(records)


def no_where(records: Iterable[HashRecord]) -> list[HashRecord]:
    return [dataclasses.replace(r, where="") for r in records]


def head_of(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(65536)


def sniffed_by(path: Path) -> list[str]:
    head = head_of(path)
    return [m.NAME for m in MODULES if m.sniff(head, path)]


HEADER = HashSetHeader(format="test", name="Synthetic set", version="1")


def sample_records(n: int = 5) -> list[HashRecord]:
    return [
        HashRecord(where="", **content_hashes(i), name=f"synth_file_{i}.bin", size=100 + i)
        for i in range(n)
    ]


def write_sample(module: ModuleType, path: Path) -> Path:
    module.write(path, HEADER, sample_records())
    return path


SAMPLE_NAMES = {
    "nsrl-rds3": "RDS_synthetic_minimal.db",
    "nsrl-rds2": "NSRLFile.txt",
    "kdb": "synthetic.kdb",
    "encase-hash": "synthetic.hash",
    "hashkeeper": "synthetic.hke",
}


# --------------------------------------------------------------------------- round trips


def test_rds3_round_trip_distinct_hashes(tmp_path: Path) -> None:
    rng = random.Random(1)
    triples: list[dict[str, Any]] = [
        {"sha256": rand_hex(rng, 32), "sha1": rand_hex(rng, 20), "md5": rand_hex(rng, 16)}
        for _ in range(50)
    ]
    crcs = [rand_hex(rng, 4) for _ in range(50)]
    # 120 FILE rows over 50 hashes: every hash at least once, some many times.
    rows = [
        HashRecord(
            where="",
            **triples[i % 50],
            name=f"synth_{i}.dll",
            size=i,
            extra={"package_id": i % 7, "crc32": crcs[i % 50]},
        )
        for i in range(120)
    ]
    path = tmp_path / "rds.db"
    header = HashSetHeader(
        format="nsrl-rds3", version="2000.01.1", name="Synthetic RDS", extra={"build_set": "x"}
    )
    assert nsrl3.write(path, header, rows) == 120
    with sqlite3.connect(path) as con:  # what NSRL users query is there
        assert con.execute("SELECT count(*) FROM FILE").fetchone() == (120,)
        assert con.execute("SELECT count(*) FROM DISTINCT_HASH").fetchone() == (50,)
        assert con.execute("SELECT count(*) FROM PKG").fetchone() == (7,)
        assert con.execute("SELECT md5 FROM FILE LIMIT 1").fetchone()[0].isupper()
    con.close()
    got_header, records = read_all(nsrl3, path)
    assert got_header == HashSetHeader(
        format="nsrl-rds3", version="2000.01.1", name="Synthetic RDS", extra={"build_set": "x"}
    )
    expected = sorted((HashRecord(where="", **t) for t in triples), key=repr)
    assert sorted(no_where(records), key=repr) == expected
    assert sorted(r.where for r in records) == sorted(f"row {i}" for i in range(1, 51))


def test_rds3_view_sorted_or_as_is_gives_the_same_hashes(tmp_path: Path) -> None:
    """A plain ``SELECT DISTINCT`` view is read as the equivalent ``GROUP BY`` (SQLite sorts
    instead of filling a B-tree); any other view is read as it is. Same hashes, NULLs too."""
    rng = random.Random(2)
    hashes: list[dict[str, Any]] = [
        {"sha256": rand_hex(rng, 32) if i % 3 else None, "sha1": rand_hex(rng, 20), "md5": None}
        for i in range(30)
    ]
    records = [HashRecord(where="", **hashes[i % 30]) for i in range(70)]
    path = tmp_path / "rds.db"
    nsrl3.write(path, HEADER, records)
    con = nsrl3.connect_readonly(path)
    assert "GROUP BY" in nsrl3._source(con)
    con.close()
    _, sorted_read = read_all(nsrl3, path)

    con = sqlite3.connect(path)
    con.executescript(
        "DROP VIEW DISTINCT_HASH;"
        " CREATE VIEW DISTINCT_HASH AS SELECT DISTINCT sha256, sha1, md5, crc32 FROM FILE"
        " WHERE file_size IS NULL OR file_size >= 0;"
    )
    con.close()
    con = nsrl3.connect_readonly(path)
    assert nsrl3._source(con) == nsrl3.VIEW_QUERY
    con.close()
    _, view_read = read_all(nsrl3, path)
    expected = sorted((HashRecord(where="", **h) for h in hashes), key=repr)
    assert sorted(no_where(sorted_read), key=repr) == expected
    assert sorted(no_where(view_read), key=repr) == expected


def test_rds3_without_the_view_falls_back_to_file(tmp_path: Path) -> None:
    path = tmp_path / "rds.db"
    records = sample_records()
    nsrl3.write(path, HEADER, records + records)
    con = sqlite3.connect(path)
    con.execute("DROP VIEW DISTINCT_HASH")
    con.commit()
    con.close()
    assert sniffed_by(path) == ["nsrl-rds3"]
    _, got = read_all(nsrl3, path)
    assert sorted(r.md5 or "" for r in got) == sorted(r.md5 or "" for r in records)


def test_rds2_round_trip(tmp_path: Path) -> None:
    records = [
        dataclasses.replace(r, sha256=None, extra={"product_code": 10 + i, "os_code": "358"})
        for i, r in enumerate(sample_records())
    ]
    path = tmp_path / "NSRLFile.txt"
    assert nsrl2.write(path, HEADER, records) == 5
    text = path.read_bytes().decode()
    assert text.startswith(
        '"SHA-1","MD5","CRC32","FileName","FileSize","ProductCode","OpSystemCode","SpecialCode"\r\n'
    )
    assert records[0].md5.upper() in text  # type: ignore[union-attr]
    header, got = read_all(nsrl2, path)
    assert header.format == "nsrl-rds2"
    assert no_where(got) == no_where(records)
    assert [r.where for r in got] == [f"line {i}" for i in range(2, 7)]


def test_rds2_older_column_order(tmp_path: Path) -> None:
    h = content_hashes(7)
    path = tmp_path / "NSRLFile.txt"
    path.write_text(
        '"SHA-1","FileName","FileSize","ProductCode","OpSystemCode","MD4","MD5","CRC32",'
        '"SpecialCode"\r\n'
        f'"{h["sha1"].upper()}","synth, with comma.txt",42,1234,"WIN",'
        f'"{"0" * 32}","{h["md5"].upper()}","0BADF00D",""\r\n'
    )
    assert sniffed_by(path) == ["nsrl-rds2"]
    _, [record] = read_all(nsrl2, path)
    assert record == HashRecord(
        where="line 2",
        sha1=h["sha1"],
        md5=h["md5"],
        name="synth, with comma.txt",
        size=42,
        extra={"product_code": 1234, "os_code": "WIN"},
    )


def test_kdb_round_trip_merges_names_and_comments(tmp_path: Path) -> None:
    h0, h1 = content_hashes(0), content_hashes(1)
    records = [
        HashRecord(where="", md5=h0["md5"], name="synth_a.jpg", extra={"comments": ["seen"]}),
        HashRecord(where="", md5=h1["md5"], sha1=h1["sha1"], sha256=h1["sha256"]),
        HashRecord(where="", md5=h0["md5"], sha1=h0["sha1"], name="synth_b.jpg"),
    ]
    path = tmp_path / "set.kdb"
    assert kdb.write(path, HashSetHeader(format="kdb", name="Synthetic"), records) == 3
    header, got = read_all(kdb, path)
    assert header == HashSetHeader(format="kdb", version="1", name="Synthetic")
    assert got == [
        HashRecord(
            where="row 1",
            md5=h0["md5"],
            sha1=h0["sha1"],
            entry_id="1",
            name="synth_a.jpg",
            extra={"other_names": ["synth_b.jpg"], "comments": ["seen"]},
        ),
        HashRecord(
            where="row 2",
            md5=h1["md5"],
            sha1=h1["sha1"],
            sha256=h1["sha256"],
            entry_id="2",
        ),
    ]


def test_encase_round_trip(tmp_path: Path) -> None:
    rng = random.Random(3)
    records = [
        HashRecord(where="", md5=rand_hex(rng, 16), extra={"tail": 258} if i == 2 else {})
        for i in range(5)
    ]
    path = tmp_path / "set.hash"
    assert encase.write(path, HashSetHeader(format="x", name="Synthetic ÉnCase"), records) == 5
    data = path.read_bytes()
    assert data[:8] == b"HASH\r\n\xff\x00" and len(data) == 1152 + 5 * 18
    assert data[1032 : 1032 + 34].decode("utf-16-le").startswith("Synthetic ÉnCase\x00")
    header, got = read_all(encase, path)
    assert header == HashSetHeader(format="encase-hash", name="Synthetic ÉnCase")
    assert no_where(got) == no_where(records)
    assert [r.where for r in got] == [f"record {i}" for i in range(1, 6)]
    with pytest.raises(ValueError):
        encase.write(path, HashSetHeader(format="x", name="n" * 60), records)


def test_hashkeeper_round_trip(tmp_path: Path) -> None:
    records = [
        dataclasses.replace(
            r,
            sha1=None,
            sha256=None,
            entry_id=str(10 + i),
            extra={"hashset_id": 3, "directory": "C:\\synth", "comments": 'say "hi", twice'},
        )
        for i, r in enumerate(sample_records())
    ]
    path = tmp_path / "set.hke"
    assert hashkeeper.write(path, HEADER, records) == 5
    first = path.read_text().splitlines()[0]
    assert first.startswith('"file_id","hashset_id","file_name","directory","hash","file_size"')
    header, got = read_all(hashkeeper, path)
    assert header.format == "hashkeeper"
    assert no_where(got) == no_where(records)


# ---------------------------------------------------------------- property round trips

_hex16 = st.binary(min_size=16, max_size=16).map(bytes.hex)
_hex20 = st.binary(min_size=20, max_size=20).map(bytes.hex)
_hex32 = st.binary(min_size=32, max_size=32).map(bytes.hex)
_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30
).map(str.strip)
_name = _text.map(lambda t: t or None)
_size = st.none() | st.integers(0, 2**40)
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _round_trip(module: ModuleType, records: list[HashRecord], name: str) -> list[HashRecord]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        module.write(path, HashSetHeader(format=module.NAME, name="Synthetic"), records)
        assert module.sniff(head_of(path), path)
        return list(module.read(path)[1])


@PROPERTY
@given(st.lists(st.tuples(_hex32, _hex20, _hex16, _name, _size), max_size=20))
def test_property_rds3(rows: list[tuple[str, str, str, str | None, int | None]]) -> None:
    records = [
        HashRecord(where="", sha256=a, sha1=b, md5=c, name=n, size=s) for a, b, c, n, s in rows
    ]
    got = _round_trip(nsrl3, records, "rds.db")
    distinct = {(r.sha256, r.sha1, r.md5) for r in records}
    expected = [HashRecord(where="", sha256=a, sha1=b, md5=c) for a, b, c in distinct]
    assert sorted(no_where(got), key=repr) == sorted(expected, key=repr)


@PROPERTY
@given(
    st.lists(
        st.builds(
            HashRecord,
            where=st.just(""),
            sha1=_hex20,
            md5=_hex16,
            name=_name,
            size=_size,
            extra=st.fixed_dictionaries(
                {"product_code": st.integers(0, 10**6)},
                optional={"os_code": _text.filter(bool), "special_code": _text.filter(bool)},
            ),
        ),
        max_size=20,
    )
)
def test_property_rds2(records: list[HashRecord]) -> None:
    assert no_where(_round_trip(nsrl2, records, "NSRLFile.txt")) == records


@PROPERTY
@given(
    st.lists(
        st.builds(
            HashRecord,
            where=st.just(""),
            md5=_hex16,
            sha1=st.none() | _hex20,
            sha256=st.none() | _hex32,
            name=_name,
            extra=st.fixed_dictionaries(
                {},
                optional={
                    "comments": st.lists(_text.filter(bool), min_size=1, max_size=3, unique=True)
                },
            ),
        ),
        max_size=15,
        unique_by=lambda r: r.md5,
    )
)
def test_property_kdb(records: list[HashRecord]) -> None:
    got = _round_trip(kdb, records, "set.kdb")
    expected = [
        dataclasses.replace(r, entry_id=str(i), extra={**r.extra}) for i, r in enumerate(records, 1)
    ]
    for r in expected:
        if "comments" in r.extra:
            r.extra["comments"] = sorted(r.extra["comments"])
    for r in got:
        if "comments" in r.extra:
            r.extra["comments"] = sorted(r.extra["comments"])
    assert no_where(got) == no_where(expected)


@PROPERTY
@given(
    st.lists(
        st.builds(
            HashRecord,
            where=st.just(""),
            md5=_hex16,
            extra=st.integers(0, 0xFFFF).map(lambda t: {"tail": t} if t else {}),
        ),
        max_size=30,
    ),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=59).map(
        str.strip
    ),
)
def test_property_encase(records: list[HashRecord], name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "set.hash"
        if len(name.encode("utf-16-le")) > encase.NAME_BYTES:
            with pytest.raises(ValueError):
                encase.write(path, HashSetHeader(format="x", name=name), records)
            return
        encase.write(path, HashSetHeader(format="x", name=name), records)
        header, got = read_all(encase, path)
    assert header.name == (name or None)
    assert no_where(got) == records


@PROPERTY
@given(
    st.lists(
        st.builds(
            HashRecord,
            where=st.just(""),
            md5=_hex16,
            entry_id=st.integers(0, 10**9).map(str),
            name=_name,
            size=_size,
            extra=st.fixed_dictionaries(
                {"hashset_id": st.integers(0, 10**6)},
                optional={"directory": _text.filter(bool), "comments": _text.filter(bool)},
            ),
        ),
        max_size=20,
    )
)
def test_property_hashkeeper(records: list[HashRecord]) -> None:
    assert no_where(_round_trip(hashkeeper, records, "set.hke")) == records


# ------------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_each_sample_is_sniffed_only_by_its_own_module(tmp_path: Path, module: ModuleType) -> None:
    path = write_sample(module, tmp_path / SAMPLE_NAMES[module.NAME])
    assert sniffed_by(path) == [module.NAME]


def test_text_and_random_binary_are_sniffed_by_none(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("Synthetic notes.\nSHA-1 and MD5 are mentioned, file_id too.\n")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(random.Random(5).randbytes(4096))
    sums = tmp_path / "list.md5"
    sums.write_text(f"{content_hashes(1)['md5']}  synth_file.bin\n")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    other_sqlite = tmp_path / "other.db"
    with sqlite3.connect(other_sqlite) as con:
        con.execute("CREATE TABLE things (a, b)")
    con.close()
    for path in (text, binary, sums, empty, other_sqlite):
        assert sniffed_by(path) == [], path


# -------------------------------------------------------------------------------- hostile


def _expect_malformed(module: ModuleType, path: Path) -> MalformedHashSet:
    with pytest.raises(MalformedHashSet) as caught:
        _, records = module.read(path)
        list(records)
    return caught.value


@pytest.mark.parametrize("module", [nsrl3, kdb], ids=lambda m: m.NAME)
@pytest.mark.parametrize("keep", [100, 4096 + 100, 0.5])
def test_truncated_sqlite_is_malformed_not_a_crash(
    tmp_path: Path, module: ModuleType, keep: float
) -> None:
    path = tmp_path / "set.db"
    rng = random.Random(9)
    records = [
        HashRecord(
            where="",
            md5=rand_hex(rng, 16),
            sha1=rand_hex(rng, 20),
            sha256=rand_hex(rng, 32),
            name=f"synth_{i}.bin",
        )
        for i in range(3000)
    ]
    module.write(path, HEADER, records)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep) if keep < 1 else int(keep)])
    error = _expect_malformed(module, path)
    assert error.reason == "malformed"
    sniffed_by(path)  # never raises


def test_kdb_blob_of_the_wrong_length_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "set.kdb"
    kdb.write(path, HEADER, sample_records())
    with sqlite3.connect(path) as con:
        con.execute("UPDATE hashes SET md5 = x'0102030405' WHERE id = 3")
    con.close()
    error = _expect_malformed(kdb, path)
    assert error.where == "row 3" and "5 bytes" in str(error)


def test_encase_partial_last_record_names_it(tmp_path: Path) -> None:
    path = tmp_path / "set.hash"
    encase.write(path, HEADER, sample_records(4))
    with path.open("ab") as stream:
        stream.write(b"\x01" * 7)
    _, records = encase.read(path)
    assert len([next(records) for _ in range(4)]) == 4
    with pytest.raises(MalformedHashSet) as caught:
        next(records)
    assert caught.value.where == "record 5" and "7 of 18" in str(caught.value)
    path.write_bytes(path.read_bytes()[:1000])
    assert _expect_malformed(encase, path).where == "header"


def test_rds2_bad_hex_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "NSRLFile.txt"
    nsrl2.write(path, HEADER, sample_records(5))
    lines = path.read_bytes().split(b"\r\n")
    lines[3] = lines[3][:1] + b"ZZ" + lines[3][3:]
    path.write_bytes(b"\r\n".join(lines))
    error = _expect_malformed(nsrl2, path)
    assert error.where == "line 4" and "sha1" in str(error)


@pytest.mark.parametrize(
    ("module", "content"),
    [
        (nsrl2, '"SHA-1","MD5","FileName"\n"' + "a" * 40 + '","' + "b" * 32 + '"\n'),
        (hashkeeper, '"file_id","hashset_id","file_name","directory","hash","file_size"\n1,2\n'),
        (
            hashkeeper,
            '"file_id","hashset_id","file_name","directory","hash","file_size"\n'
            '1,2,"n","d","' + "c" * 32 + '","big"\n',
        ),
        (
            nsrl2,
            '"SHA-1","MD5","FileName","FileSize"\n"' + "a" * 40 + '","' + "b" * 32 + '","x",big\n',
        ),
    ],
)
def test_bad_text_lines_name_the_line(tmp_path: Path, module: ModuleType, content: str) -> None:
    path = tmp_path / "set.txt"
    path.write_text(content)
    assert _expect_malformed(module, path).where == "line 2"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_other_formats_are_refused_by_read(tmp_path: Path, module: ModuleType) -> None:
    other = next(m for m in MODULES if m is not module and m.NAME[:4] != module.NAME[:4])
    path = write_sample(other, tmp_path / SAMPLE_NAMES[other.NAME])
    with pytest.raises(MalformedHashSet):
        module.read(path)


# -------------------------------------------------------------------------- The Sleuth Kit


def _hfind(*args: str | Path, cwd: Path) -> str:
    assert HFIND is not None
    done = subprocess.run(
        [HFIND, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout + done.stderr


def _tsk_index(path: Path) -> set[str]:
    """The MD5s TSK's text index (``<db>-md5.idx``) lists, header lines excluded."""
    lines = Path(f"{path}-md5.idx").read_text().splitlines()
    hashes = (line.split("|")[0] for line in lines)
    return {h.lower() for h in hashes if len(h) == 32}  # the two header lines have 41


@needs_hfind
def test_hfind_reads_our_kdb_and_we_read_hfinds(tmp_path: Path) -> None:
    records = sample_records()
    ours = tmp_path / "ours.kdb"
    kdb.write(ours, HEADER, records)
    out = _hfind(ours, records[3].md5 or "", "0" * 32, cwd=tmp_path)
    assert f"{records[3].md5}\tsynth_file_3.bin" in out
    assert f"{'0' * 32}\tHash Not Found" in out

    theirs = tmp_path / "theirs.kdb"
    assert "created" in _hfind("-c", theirs, cwd=tmp_path)
    md5s = [r.md5 or "" for r in records]
    out = _hfind("-a", theirs, *(m.upper() for m in md5s), cwd=tmp_path)
    assert out.count("added") == 5
    assert sniffed_by(theirs) == ["kdb"]
    header, got = read_all(kdb, theirs)
    assert header == HashSetHeader(format="kdb", version="1")
    assert [r.md5 for r in got] == md5s and [r.entry_id for r in got] == list("12345")


@needs_hfind
def test_hfind_looks_up_our_nsrlfile(tmp_path: Path) -> None:
    records = sample_records()
    path = write_sample(nsrl2, tmp_path / "NSRLFile.txt")
    assert "Index created" in _hfind("-i", "nsrl-md5", path, cwd=tmp_path)
    assert "Index created" in _hfind("-i", "nsrl-sha1", path, cwd=tmp_path)
    out = _hfind(path, (records[2].md5 or "").upper(), cwd=tmp_path)
    assert "synth_file_2.bin" in out
    out = _hfind(path, (records[4].sha1 or "").upper(), cwd=tmp_path)
    assert "synth_file_4.bin" in out


@needs_hfind
@pytest.mark.parametrize(("module", "kind"), [(encase, "encase"), (hashkeeper, "hk")])
def test_hfind_indexes_our_encase_and_hashkeeper(
    tmp_path: Path, module: ModuleType, kind: str
) -> None:
    """TSK 4.x accepts and indexes both; its look-ups in them are broken (the index offsets
    ignore the 1152-byte EnCase header and the HashKeeper header line), so the test compares
    the index, which proves TSK parsed every record."""
    path = write_sample(module, tmp_path / SAMPLE_NAMES[module.NAME])
    assert "Index created" in _hfind("-i", kind, path, cwd=tmp_path)
    assert _tsk_index(path) == {r.md5 for r in sample_records()}
    if module is encase:
        assert "|Synthetic set" in Path(f"{path}-md5.idx").read_text()


# --------------------------------------------------------------------------------- memory

MEMORY_ROWS = int(os.environ.get("LANTERNE_RDS3_ROWS", "200000"))


def test_rds3_read_streams_in_bounded_memory(tmp_path: Path, capsys: Any) -> None:
    """Peak Python memory while reading stays far below what holding the records would
    take (~0.5 KB each: 100 MB for 200 000). ``LANTERNE_RDS3_ROWS=1000000`` for the 1 M run."""
    path = tmp_path / "rds.db"
    started = time.perf_counter()
    nsrl3.make_synthetic_rds3(path, MEMORY_ROWS, MEMORY_ROWS * 7 // 10, seed=11)
    made = time.perf_counter() - started
    tracemalloc.start()
    try:
        started = time.perf_counter()
        _, records = nsrl3.read(path)
        count = 0
        md5s = 0
        for record in records:
            count += 1
            md5s += record.md5 is not None
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == md5s == MEMORY_ROWS * 7 // 10
    assert peak < 25_000_000  # holding even just the hex strings would take ~40 MB
    with capsys.disabled():
        print(
            f"\nRDSv3 {MEMORY_ROWS} rows made in {made:.1f} s; {count} distinct read in "
            f"{took:.1f} s ({count / took:,.0f} rows/s under tracemalloc), "
            f"peak {peak / 1e6:.1f} MB"
        )


def test_synthetic_rds3_is_deterministic_and_invented(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert nsrl3.make_synthetic_rds3(a, 1000, 300, seed=4) == 1000
    nsrl3.make_synthetic_rds3(b, 1000, 300, seed=4)
    rows: list[list[Any]] = []
    for path in (a, b):
        con = sqlite3.connect(path)
        rows.append(con.execute("SELECT * FROM FILE ORDER BY rowid").fetchall())
        assert con.execute("SELECT count(*) FROM DISTINCT_HASH").fetchone() == (300,)
        assert con.execute("SELECT count(DISTINCT sha256) FROM FILE").fetchone() == (300,)
        con.close()
    assert rows[0] == rows[1]
    assert all(r[0].isupper() and len(r[0]) == 64 and r[4].startswith("synth_") for r in rows[0])
    _, got = read_all(nsrl3, a)
    assert len({r.sha256 for r in got}) == 300
