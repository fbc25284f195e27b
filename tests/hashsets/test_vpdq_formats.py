"""vPDQ hash lists: the reference per-video text and python-threatexchange's serialised form.

All hashes are random 256-bit numbers from a seeded generator; names are made up.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lanterne.analyze.vpdq import FrameHash
from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.hashsets.formats import by_name, detect
from lanterne.hashsets.formats.vpdq import CompactJson, ReferenceText, compact, parse_compact
from lanterne.hashsets.importer import import_hashset
from lanterne.hashsets.records import HashRecord, HashSetHeader, MalformedHashSet

HEADER = HashSetHeader("test", name="Synthetic videos")


def rand_pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def frames(rng: random.Random, n: int, step: float = 1.0, first: int = 0) -> tuple[FrameHash, ...]:
    return tuple(
        FrameHash(
            frame=first + i * 30,
            timestamp=round(i * step, 3),
            pdq=rand_pdq(rng),
            quality=rng.choice([100, 88, 49, 0]),
        )
        for i in range(n)
    )


def read_all(path: Path) -> tuple[HashSetHeader, list[HashRecord]]:
    header, records = detect(path).read(path)
    return header, list(records)


def message(excinfo: pytest.ExceptionInfo[MalformedHashSet]) -> str:
    return excinfo.value.detail  # "<where>: <what>"


# ------------------------------------------------------------------ the reference text


def test_reference_text_round_trip(tmp_path: Path) -> None:
    rng = random.Random(1)
    video = frames(rng, 12, step=0.033)
    path = tmp_path / "synthetic-clip-01.txt"
    assert ReferenceText.write(path, HEADER, [HashRecord("", frames=video)]) == 1
    lines = path.read_text().splitlines()
    assert lines[1] == f"30,{video[1].quality},{video[1].pdq},0.033"  # the reference's layout
    assert detect(path).name == "vpdq"
    header, records = read_all(path)
    assert header.format == "vpdq"
    (record,) = records
    assert record.frames == video
    assert (record.name, record.where) == ("synthetic-clip-01", "lines 1-12")


def test_reference_text_as_the_reference_writes_it(tmp_path: Path) -> None:
    rng = random.Random(2)
    hexes = [rand_pdq(rng).upper() for _ in range(3)]
    path = tmp_path / "clip.mp4.txt"
    path.write_bytes(
        f"0,100,{hexes[0]},0.000\n1,100,{hexes[1]},0.033\n\n2,63,{hexes[2]},1.23e+02,x\n".encode()
    )
    _, (record,) = read_all(path)
    assert record.name == "clip.mp4"
    assert [f.pdq for f in record.frames] == [h.lower() for h in hexes]
    assert [f.timestamp for f in record.frames] == [0.0, 0.033, 123.0]
    assert [f.quality for f in record.frames] == [100, 100, 63]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2,101,{h},2.000", "line 3: quality '101'"),
        ("2,100,{h}", "line 3: "),
        ("2,100,{h}ff,2.000", "line 3: pdq"),
        ("2,100,{h},-2.0", "line 3: timestamp"),
        ("2,100,{h},nan", "line 3: timestamp"),
        ("x,100,{h},2.000", "line 3: frame number"),
        ("1,100,{h},2.000", "line 3: frame 1 after frame 1"),
    ],
)
def test_reference_text_malformed_lines(tmp_path: Path, line: str, expected: str) -> None:
    rng = random.Random(3)
    good = [f"{i},100,{rand_pdq(rng)},{i}.000" for i in range(2)]
    path = tmp_path / "bad.txt"
    path.write_text("\n".join([*good, line.format(h=rand_pdq(rng))]) + "\n")
    with pytest.raises(MalformedHashSet) as excinfo:
        ReferenceText.read(path)
    assert message(excinfo).startswith(expected)


def test_reference_text_one_video_a_file(tmp_path: Path) -> None:
    rng = random.Random(4)
    two = [HashRecord("", frames=frames(rng, 2)), HashRecord("", frames=frames(rng, 2))]
    with pytest.raises(ValueError, match="one video"):
        ReferenceText.write(tmp_path / "two.txt", HEADER, two)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(MalformedHashSet, match="empty"):
        ReferenceText.read(empty)


# ------------------------------------------------------------------ python-threatexchange


def test_threatexchange_signal_lines(tmp_path: Path) -> None:
    """``threatexchange hash video`` output and local-file exchange lines (type optional)."""
    rng = random.Random(5)
    videos = [frames(rng, n) for n in (3, 1, 4)]
    signals = [json.dumps(compact(v)) for v in videos]
    path = tmp_path / "signals.txt"
    path.write_text(f"vpdq {signals[0]}\n\n{signals[1]}\nvpdq {signals[2]}\n")
    assert detect(path).name == "vpdq-json"
    _, records = read_all(path)
    assert [r.where for r in records] == ["line 1", "line 3", "line 4"]
    for record, video in zip(records, videos, strict=True):
        assert record.name is None and record.entry_id is None
        assert [(f.pdq, f.quality, f.timestamp) for f in record.frames] == [
            (f.pdq, f.quality, f.timestamp) for f in video
        ]
        assert [f.frame for f in record.frames] == list(range(len(video)))  # by place


def test_compact_feature_strings_as_the_reference_writes_them() -> None:
    """``VpdqCompactFeature.__str__`` writes ``{:.3}`` (three significant digits)."""
    rng = random.Random(6)
    h = rand_pdq(rng)
    got = parse_compact([f"{h},100,0.0", f"{h.upper()},50,1.23e+03", f"{h},7,12.5"], "line 1")
    assert [(f.frame, f.timestamp, f.quality) for f in got] == [
        (0, 0.0, 100),
        (1, 1230.0, 50),
        (2, 12.5, 7),
    ]
    assert parse_compact("[]", "line 1") == ()  # an empty signal is valid
    assert parse_compact(json.dumps([f"{h},1,2.0"]), "line 1")[0].pdq == h


def test_video_objects_round_trip(tmp_path: Path) -> None:
    rng = random.Random(7)
    records = [
        HashRecord("", entry_id="V-1", name="clip one.mp4", category="1", frames=frames(rng, 5)),
        HashRecord("", entry_id="17", frames=frames(rng, 2, first=3)),  # frame numbers kept
        HashRecord("", name="no frames"),
    ]
    path = tmp_path / "list.jsonl"
    assert CompactJson.write(path, HEADER, records) == 3
    assert detect(path).name == "vpdq-json"
    header, got = read_all(path)
    assert header.extra == {"form": "lines"}
    assert [dataclasses.replace(r, where="") for r in got] == records
    assert [r.where for r in got] == ["line 1", "line 2", "line 3"]


def test_json_array_of_videos(tmp_path: Path) -> None:
    rng = random.Random(8)
    videos = [frames(rng, 4), frames(rng, 6)]
    doc = [
        {"id": 1, "name": "a.mp4", "category": 2, "vpdq": compact(videos[0])},
        {"id": "b", "vpdq": json.dumps(compact(videos[1]))},  # the signal as a JSON string
    ]
    path = tmp_path / "videos.json"
    path.write_text(json.dumps(doc, indent=2))
    assert detect(path).name == "vpdq-json"
    header, got = read_all(path)
    assert header.extra == {"form": "array"}
    assert [(r.where, r.entry_id, r.name, r.category) for r in got] == [
        ("video 1", "1", "a.mp4", "2"),
        ("video 2", "b", None, None),
    ]
    assert [f.pdq for f in got[1].frames] == [f.pdq for f in videos[1]]


def test_legacy_frame_keyed_object(tmp_path: Path) -> None:
    """The old ``{frameNumber: {quality, hash, timestamp}}`` form, hash as hex or as the C++
    ``Hash256`` words (``w[15]`` first in the hex)."""
    rng = random.Random(9)
    a, b = rand_pdq(rng), rand_pdq(rng)
    words = [int(b[(15 - i) * 4 : (16 - i) * 4], 16) for i in range(16)]
    doc = {
        "0": {"quality": 100, "hash": a, "timestamp": 0.0},
        "30": {"quality": 90, "hash": {"w": words}, "timestamp": 1.0},
    }
    path = tmp_path / "old-clip.json"
    path.write_text(json.dumps(doc))
    assert detect(path).name == "vpdq-json"
    _, (record,) = read_all(path)
    assert record.name == "old-clip"
    assert record.frames == (FrameHash(0, 0.0, a, 100), FrameHash(30, 1.0, b, 90))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('vpdq ["{h},100,0.0"]\nvpdq ["{h},100"]\n', "line 2: feature 0"),
        ('vpdq ["{h},100,0.0"]\nvpdq ["{h},100,0.0", "{h},1000,1.0"]\n', "line 2, feature 1"),
        ('vpdq ["{h},100,0.0"]\nvpdq [1]\n', "line 2: feature 0 is int"),
        ('vpdq ["{h},100,0.0"]\nvpdq ["{h},100,0.0"\n', "line 2: the vPDQ signal is not JSON"),
        ('vpdq ["{h},100,0.0"]\nsomething else\n', "line 2: 'something"),
        ('{{"vpdq": ["{h},100,0.0"]}}\n{{"name": "x"}}\n', "line 2: no vpdq signal"),
        ('{{"vpdq": ["{h},100,0.0"], "frames": [2, 1]}}\n', "line 1: frames is not"),
        ('{{"vpdq": ["{h},100,0.0"], "frames": [0, 1]}}\n', "line 1: frames is not"),
        ('[{{"vpdq": ["{h},1,0.0"]}}, {{"vpdq": ["{h},1,0.0"]}} {{', "video 3: broken JSON"),
        ('[{{"vpdq": ["{h},1,0.0"]}}, {{"vpdq": "oops"}}]', "video 2: the vPDQ signal is not"),
    ],
)
def test_compact_malformed(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text.format(h=rand_pdq(random.Random(10))))
    with pytest.raises(MalformedHashSet) as excinfo:
        _, records = CompactJson.read(path)
        list(records)
    assert message(excinfo).startswith(expected)


def test_detection_keeps_formats_apart(tmp_path: Path) -> None:
    rng = random.Random(11)
    pdq_list = tmp_path / "pictures.txt"
    by_name("pdq").write(pdq_list, HEADER, [HashRecord("", pdq=rand_pdq(rng), pdq_quality=90)])
    assert detect(pdq_list).name == "pdq"
    vics = tmp_path / "vics.json"
    by_name("vics").write(vics, HEADER, [HashRecord("", md5="ab" * 16, name="x")])
    assert detect(vics).name == "vics"
    signal = tmp_path / "one-line.txt"
    signal.write_text("vpdq " + json.dumps(compact(frames(rng, 3000))))  # longer than the head
    assert detect(signal).name == "vpdq-json"
    other = tmp_path / "other.jsonl"
    other.write_text('{"id": 1, "name": "not a video list"}\n')
    with pytest.raises(UserError, match="not a hash-set format"):
        detect(other)


# ------------------------------------------------------------------ importing


def _frame_rows(case: Case) -> dict[str, list[tuple[int, float, str, int]]]:
    e, ef = schema.hash_entry, schema.hash_entry_frame
    out: dict[str, list[tuple[int, float, str, int]]] = {}
    query = (
        select(e.c.name, e.c.entry_id, ef.c.frame, ef.c.timestamp, ef.c.pdq, ef.c.quality)
        .join(ef, ef.c.entry == e.c.id)
        .order_by(e.c.id, ef.c.frame)
    )
    for r in case.store.rows(query):
        out.setdefault(r.name or r.entry_id, []).append((r.frame, r.timestamp, r.pdq, r.quality))
    return out


def test_import_writes_the_frames_and_replaces_them(case: Case, tmp_path: Path) -> None:
    rng = random.Random(12)
    videos = {f"clip-{i}": frames(rng, 3 + i) for i in range(3)}
    records = [
        HashRecord("", entry_id=str(i), name=name, category="1", frames=v)
        for i, (name, v) in enumerate(videos.items())
    ]
    path = tmp_path / "videos.jsonl"
    CompactJson.write(path, HEADER, records)
    result = import_hashset(case, path, "known-bad", name="videos", scheme="vics-us")
    assert (result.format, result.entries) == ("vpdq-json", 3)
    got = _frame_rows(case)
    assert got == {
        name: [(f.frame, f.timestamp, f.pdq, f.quality) for f in v] for name, v in videos.items()
    }
    e = schema.hash_entry
    cats = {r.name: r.category for r in case.store.rows(select(e.c.name, e.c.category))}
    assert cats == dict.fromkeys(videos, "1")

    # a different file under the same name: the old entries and their frames are gone
    again = frames(rng, 2)
    CompactJson.write(path, HEADER, [HashRecord("", name="replacement", frames=again)])
    assert import_hashset(case, path, "known-bad", name="videos").replaced
    assert _frame_rows(case) == {
        "replacement": [(f.frame, f.timestamp, f.pdq, f.quality) for f in again]
    }
    assert case.store.count(schema.hash_entry_frame) == 2

    # one reference text file: one entry named after the file
    text = tmp_path / "synthetic-video-7.txt"
    ReferenceText.write(text, HEADER, [HashRecord("", frames=videos["clip-2"])])
    result = import_hashset(case, text, "alert")
    assert (result.name, result.format, result.entries) == ("synthetic-video-7", "vpdq", 1)
    assert len(_frame_rows(case)["synthetic-video-7"]) == 5
    with case.store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.hash_entry_frame)).scalar() == 7


def test_import_names_the_bad_line(case: Case, tmp_path: Path) -> None:
    rng = random.Random(13)
    path = tmp_path / "videos.txt"
    path.write_text(f'vpdq ["{rand_pdq(rng)},100,0.0"]\nvpdq ["{rand_pdq(rng)},100,x"]\n')
    with pytest.raises(UserError, match=r"line 2, feature 0: timestamp 'x'.*nothing was imported"):
        import_hashset(case, path, "known-bad")
    assert case.store.count(schema.hash_entry) == 0
    assert case.store.count(schema.hash_entry_frame) == 0
