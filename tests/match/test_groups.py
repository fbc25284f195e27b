"""Near-duplicate groups of the case's pictures."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.evidence.registry import add_evidence
from lanterne.ingest.pipeline import Ingestor
from lanterne.match.groups import build_groups
from lanterne.synth.pictures import make_picture, make_variant


def _groups(case: Case) -> dict[str, tuple[str, bool]]:
    g, f = schema.pdq_group, schema.file
    query = select(f.c.name, g.c.group_sha256, g.c.representative).join(g, g.c.sha256 == f.c.sha256)
    with case.store.engine.connect() as conn:
        return {r.name: (r.group_sha256, r.representative) for r in conn.execute(query)}


def test_groups_with_and_without_turns(case: Case, tmp_path: Path) -> None:
    a, b = make_picture(130, (640, 480)), make_picture(131, (640, 480))
    seized = tmp_path / "seized"
    seized.mkdir()
    files = {
        "a.jpg": a,
        "a-small.jpg": make_variant(a, "resized"),
        "a-again.jpg": make_variant(a, "recompressed"),
        "a-mirrored.jpg": make_variant(a, "mirrored"),
        "b.jpg": b,
    }
    for name, data in files.items():
        (seized / name).write_bytes(data)
    add_evidence(case, seized, "PC-01")
    Ingestor(case, workers=2).run()

    result = build_groups(case)
    got = _groups(case)
    assert result.pictures == 5
    assert got["a.jpg"][0] == got["a-small.jpg"][0] == got["a-again.jpg"][0]
    assert len({got[n][0] for n in ("a.jpg", "a-mirrored.jpg", "b.jpg")}) == 3
    assert sum(rep for _, rep in got.values()) == result.groups == 3
    assert (result.grouped, result.largest) == (3, 3)
    assert got["a.jpg"][1]  # the full-size original, not its smaller copy

    config = case.root / "case.toml"
    config.write_text(config.read_text() + "pdq_dihedral = true\n")
    with Case.open(case.root) as again:
        result = build_groups(again)
        got = _groups(again)
    assert got["a-mirrored.jpg"][0] == got["a.jpg"][0]
    assert (result.groups, result.largest) == (2, 4)
