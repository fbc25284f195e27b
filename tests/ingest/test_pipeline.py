from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.evidence.registry import add_evidence
from lanterne.ingest.pipeline import Ingestor
from lanterne.synth.pictures import CameraExif, make_picture


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


CAMERA = CameraExif(
    "Lanterne Optics", "LX-100", serial="SN-000123", taken_at=None, gps=(48.8566, 2.3522)
)


@pytest.fixture
def seized(tmp_path: Path) -> Path:
    """A small seized folder: pictures, a document, a disguised picture, nested archives."""
    root = tmp_path / "seized"
    (root / "Pictures").mkdir(parents=True)
    pic1 = make_picture(1, (640, 480), exif=CAMERA)
    pic2 = make_picture(2, (320, 240), fmt="PNG")
    (root / "Pictures" / "a.jpg").write_bytes(pic1)
    (root / "Pictures" / "b.png").write_bytes(pic2)
    (root / "Pictures" / "copy-of-a.jpg").write_bytes(pic1)
    (root / "notes.txt").write_bytes(b"shopping list\n")
    (root / "homework.txt").write_bytes(make_picture(3, (200, 150)))  # a JPEG named .txt
    (root / "empty.bin").write_bytes(b"")
    inner = _tgz({"deep/c.jpg": make_picture(4, (300, 300)), "deep/a.jpg": pic1})
    (root / "backup.zip").write_bytes(_zip({"photos/inner.tar.gz": inner, "readme.txt": b"hi"}))
    return root


def _ingest(case: Case, path: Path, label: str = "PC-01") -> None:
    add_evidence(case, path, label, suspect="Suspect A", examiner="tester")
    Ingestor(case, workers=2).run()


def _files(case: Case) -> dict[str, dict[str, object]]:
    f = schema.file
    return {r.path: dict(r._mapping) for r in case.store.rows(select(f))}


def test_every_file_is_recorded_with_exact_digests(case: Case, seized: Path) -> None:
    _ingest(case, seized)
    files = _files(case)
    assert set(files) == {
        "Pictures/a.jpg",
        "Pictures/b.png",
        "Pictures/copy-of-a.jpg",
        "notes.txt",
        "homework.txt",
        "empty.bin",
        "backup.zip",
        "backup.zip!/photos/inner.tar.gz",
        "backup.zip!/photos/inner.tar.gz!/inner.tar",
        "backup.zip!/photos/inner.tar.gz!/inner.tar!/deep/c.jpg",
        "backup.zip!/photos/inner.tar.gz!/inner.tar!/deep/a.jpg",
        "backup.zip!/readme.txt",
    }
    for rel in ("Pictures/a.jpg", "notes.txt", "backup.zip", "empty.bin"):
        assert files[rel]["sha256"] == hashlib.sha256((seized / rel).read_bytes()).hexdigest()
    c = schema.content
    contents = {r.sha256: r for r in case.store.rows(select(c))}
    a = contents[hashlib.sha256((seized / "Pictures/a.jpg").read_bytes()).hexdigest()]
    data = (seized / "Pictures/a.jpg").read_bytes()
    assert (a.md5, a.sha1) == (hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest())
    assert (a.kind, a.mime, a.width, a.height) == ("picture", "image/jpeg", 640, 480)
    assert (a.camera_make, a.camera_model, a.camera_serial) == (
        "Lanterne Optics",
        "LX-100",
        "SN-000123",
    )
    assert a.gps_lat == pytest.approx(48.8566, abs=1e-4)
    assert a.pdq is not None and len(a.pdq) == 64 and a.pdq_quality >= 50
    assert a.thumbnail and case.thumbnail_path(a.sha256).is_file()
    # the same picture three times (two folders and deep in the archive) is one content
    assert sum(1 for f in files.values() if f["sha256"] == a.sha256) == 3
    assert len(contents) == len({f["sha256"] for f in files.values()})
    assert files["homework.txt"]["extension_mismatch"] is True
    assert files["notes.txt"]["extension_mismatch"] is False
    assert all(f["state"] == schema.STATE_DONE for f in files.values())


def test_provenance_chain_names_every_layer(case: Case, seized: Path) -> None:
    _ingest(case, seized)
    deep = _files(case)["backup.zip!/photos/inner.tar.gz!/inner.tar!/deep/c.jpg"]
    assert json.loads(str(deep["provenance"])) == [
        {"type": "evidence", "path": "PC-01"},
        {"type": "folder", "path": "backup.zip"},
        {"type": "zip", "path": "photos/inner.tar.gz"},
        {"type": "gzip", "path": "inner.tar"},
        {"type": "tar", "path": "deep/c.jpg"},
    ]


def test_rerun_is_a_no_op_and_evidence_is_untouched(case: Case, seized: Path) -> None:
    def tree_digest() -> dict[str, tuple[str, int]]:
        return {
            str(p.relative_to(seized)): (
                hashlib.sha256(p.read_bytes()).hexdigest(),
                p.stat().st_mtime_ns,
            )
            for p in sorted(seized.rglob("*"))
            if p.is_file()
        }

    before = tree_digest()
    _ingest(case, seized)
    counts = [case.store.count(t) for t in (schema.file, schema.content, schema.warning)]
    Ingestor(case, workers=2).run()
    case.store.set_evidence_status(case.store.list_evidence()[0].id, "registered")
    Ingestor(case, workers=1).run()  # a forced full re-walk adds nothing either
    assert [case.store.count(t) for t in (schema.file, schema.content, schema.warning)] == counts
    assert tree_digest() == before
    assert not any(case.tmp.iterdir()) if case.tmp.exists() else True


def test_archive_evidence_file(case: Case, tmp_path: Path) -> None:
    pic = make_picture(7)
    archive = tmp_path / "usb.zip"
    archive.write_bytes(_zip({"DCIM/1.jpg": pic, "DCIM/2.jpg": make_picture(8)}))
    ev = add_evidence(case, archive, "USB-02")
    assert ev.kind == "archive"
    assert ev.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    Ingestor(case).run()
    files = _files(case)
    assert set(files) == {"usb.zip", "usb.zip!/DCIM/1.jpg", "usb.zip!/DCIM/2.jpg"}
    assert files["usb.zip!/DCIM/1.jpg"]["sha256"] == hashlib.sha256(pic).hexdigest()


def test_videos_get_container_facts_and_cut_ones_a_warning(case: Case, tmp_path: Path) -> None:
    from lanterne.synth.videos import make_video

    seized = tmp_path / "seized"
    seized.mkdir()
    video = make_video(1, seconds=2.0, size=(320, 240), fps=10)
    (seized / "clip.mp4").write_bytes(video)
    (seized / "cut.mp4").write_bytes(video[: len(video) // 2])
    _ingest(case, seized)
    c, w = schema.content, schema.warning
    [good] = case.store.rows(select(c).where(c.c.sha256 == hashlib.sha256(video).hexdigest()))
    assert (good.kind, good.width, good.height, good.error) == ("video", 320, 240, None)
    assert good.duration == pytest.approx(2.0, abs=0.2)
    assert good.codec in ("h264", "mpeg4")
    warnings = [(r.path, r.stage, r.reason) for r in case.store.rows(select(w))]
    assert warnings == [("cut.mp4", "video", "truncated")]
