"""Videos end to end: frames hashed at ingest, a contact sheet, copies matched to a listed video
and a listed still found inside a video at the right time."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from lanterne.analyze.picture import analyze_picture
from lanterne.analyze.vpdq import hash_frames
from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.evidence.registry import add_evidence
from lanterne.hashsets.formats import by_name
from lanterne.hashsets.importer import import_hashset
from lanterne.hashsets.matching import match_exact
from lanterne.hashsets.records import HashRecord, HashSetHeader
from lanterne.ingest.pipeline import Ingestor
from lanterne.match.groups import build_groups
from lanterne.report.summary import summarize
from lanterne.synth.pictures import make_picture
from lanterne.synth.videos import make_motion_video, make_video_variant, plant_still


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    original = make_motion_video(1, seconds=10.0)
    still = make_picture(77, (320, 240))
    return {
        "original": original,
        "greyscale": make_video_variant(original, "greyscale"),
        "reencoded": make_video_variant(original, "reencoded"),
        "unrelated": make_motion_video(2, seconds=10.0),
        "still": still,
        "planted": plant_still(make_motion_video(3, seconds=10.0), still, at=4.0, seconds=3.0),
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_frames_contact_sheet_and_matching(
    case: Case, tmp_path: Path, videos: dict[str, bytes]
) -> None:
    seized = tmp_path / "seized"
    seized.mkdir()
    for name in ("greyscale", "reencoded", "unrelated", "planted"):
        (seized / f"{name}.mp4").write_bytes(videos[name])
    add_evidence(case, seized, "PHONE-01")
    Ingestor(case, workers=2).run()
    c, vf = schema.content, schema.video_frame
    with case.store.engine.connect() as conn:
        hashed = dict(
            conn.execute(select(c.c.sha256, c.c.frames_hashed).where(c.c.kind == "video")).all()
        )
        frames = conn.execute(select(vf.c.sha256, vf.c.timestamp, vf.c.until)).all()
    assert set(hashed) == {
        _sha(videos[n]) for n in ("greyscale", "reencoded", "unrelated", "planted")
    }
    assert all(n is not None and 9 <= n <= 11 for n in hashed.values())  # one per second
    assert all(until >= ts for _, ts, until in frames)
    for sha in hashed:
        assert case.thumbnail_path(sha).read_bytes()[:3] == b"\xff\xd8\xff"  # a contact sheet
    # the known video listed in the reference's own text format, the still as a PDQ entry
    listed = tmp_path / "known-video.txt"
    record = HashRecord(
        "video 1",
        entry_id="KV-1",
        frames=tuple(hash_frames(_video(tmp_path, videos["original"])).frames),
    )
    by_name("vpdq").write(listed, HashSetHeader("vpdq", name="kv"), [record])
    import_hashset(case, listed, "known-bad", name="partner-videos")
    still = analyze_picture(videos["still"], case.limits)
    stills = tmp_path / "stills.json"
    by_name("vics").write(
        stills,
        HashSetHeader("vics", name="stills"),
        [HashRecord("1", md5="0" * 32, pdq=still.pdq, pdq_quality=still.pdq_quality, category="1")],
    )
    import_hashset(case, stills, "known-bad", name="stills", scheme="vics-us")
    assert match_exact(case) >= 2
    m = schema.match
    with case.store.engine.connect() as conn:
        rows = conn.execute(select(m.c.sha256, m.c.method, m.c.segments)).all()
    by_method: dict[str, dict[str, list[list[float]]]] = {}
    for sha, method, segments in rows:
        by_method.setdefault(method, {})[sha] = json.loads(segments)
    assert set(by_method["vpdq"]) == {_sha(videos["greyscale"]), _sha(videos["reencoded"])}
    planted = by_method["pdq-frame"]
    assert set(planted) == {_sha(videos["planted"])}
    start, end = planted[_sha(videos["planted"])][0]
    assert 3.0 <= start <= 5.0 and 6.0 <= end <= 8.5  # shown from 4 s for 3 s
    groups = build_groups(case)
    assert groups.video_groups >= 1
    video = summarize(case)["video"]
    assert video["frames_hashed_videos"] == 4
    assert video["matched_by_set"]["partner-videos"]["by_method"] == {"vpdq": 2}


def _video(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "known.mp4"
    path.write_bytes(data)
    return path
