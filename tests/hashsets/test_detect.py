"""Every format the registry knows is told apart from the others by its first bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lanterne.analyze.vpdq import FrameHash
from lanterne.hashsets.formats import detect, formats
from lanterne.hashsets.records import HashRecord, HashSetHeader


def _record(i: int) -> HashRecord:
    data = f"synthetic file {i}".encode()
    return HashRecord(
        f"line {i}",
        md5=hashlib.md5(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        pdq=hashlib.sha256(b"pdq" + data).hexdigest(),
        pdq_quality=90,
        name=f"file_{i}.bin",
        size=100 + i,
        frames=(FrameHash(0, 0.0, hashlib.sha256(b"frame" + data).hexdigest(), 90),),
    )


@pytest.mark.parametrize("name", list(formats()))
def test_each_format_is_detected_as_itself(name: str, tmp_path: Path) -> None:
    fmt = formats()[name]
    path = tmp_path / "NSRLFile.txt" if name == "nsrl-rds2" else tmp_path / f"set.{name}"
    n = 1 if name == "vpdq" else 3  # a vPDQ text file holds one video
    fmt.write(path, HashSetHeader(name, name="synthetic set"), [_record(i) for i in range(n)])
    assert detect(path).name == name
    _, records = fmt.read(path)
    assert len(list(records)) == n
