"""The hostile cases: each one is written, and each gives exactly the warning it promises."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lanterne.analyze.picture import analyze_picture
from lanterne.config import Limits
from lanterne.errors import CorruptData
from lanterne.evidence.archive import open_container
from lanterne.evidence.base import EntryWarning, Item
from lanterne.evidence.folder import FolderSource
from lanterne.provenance import Step, display_path
from lanterne.synth import archives
from lanterne.synth.hostile import (
    BOMB_SIZE,
    ExpectedWarning,
    bomb_png,
    write_hostile,
    write_hostile_set,
    zip_bomb,
)

CONTAINER_OF = {"zip": "zip", "7z": "7z", "tar": "tar", "tar.gz": "gzip", "tgz": "gzip"}
Found = tuple[list[tuple[str, str]], list[ExpectedWarning]]


def ingest_like(folder: Path, spool: Path, limits: Limits) -> Found:
    """What the pipeline records, without a case: files (path, SHA-256) and warnings."""
    files: list[tuple[str, str]] = []
    warns: list[ExpectedWarning] = []

    def visit(items: Iterator[Item], depth: int) -> None:
        for item in items:
            if isinstance(item, EntryWarning):
                warns.append(
                    ExpectedWarning(display_path(item.provenance), item.stage, item.reason)
                )
                continue
            where = display_path(item.provenance)
            with item.open() as f:
                data = f.read()
            files.append((where, hashlib.sha256(data).hexdigest()))
            kind = archives.kind_of(item.name)
            try:
                if kind is not None and depth + 1 > limits.archive_max_depth:
                    warns.append(ExpectedWarning(where, "archive", "archive-depth"))
                elif kind is not None:
                    visit(open_container(item, CONTAINER_OF[kind], limits, spool), depth + 1)
                elif item.name.endswith((".jpg", ".png")) and data:
                    analyze_picture(data, limits)
            except CorruptData as exc:
                stage = "picture" if kind is None else "archive"
                warns.append(ExpectedWarning(where, stage, exc.reason))
            item.release()

    visit(FolderSource(folder).walk((Step("evidence", "SD-05"),)), 0)
    return files, warns


@pytest.mark.parametrize("depth", [12, 3])
def test_every_hostile_case_gives_its_warning_and_nothing_else(tmp_path: Path, depth: int) -> None:
    limits = Limits(archive_max_depth=depth)
    written = write_hostile_set(tmp_path / "hostile", limits=limits)
    (tmp_path / "spool").mkdir()
    files, warns = ingest_like(tmp_path / "hostile", tmp_path / "spool", limits)
    assert sorted(warns, key=repr) == sorted(written.warnings, key=repr)
    assert sorted(files) == sorted((f.location, f.sha256) for f in written.files)
    assert list((tmp_path / "spool").iterdir()) == []
    reasons = {w.reason for w in written.warnings}
    assert reasons >= {
        "truncated", "corrupt", "decompression-bomb", "archive-bomb", "archive-depth",
        "path-traversal", "encrypted", "symlink", "not-regular-file", "name-not-utf8", "link",
    }  # fmt: skip
    deepest = next(w.location for w in written.warnings if w.reason == "archive-depth")
    assert deepest.count("!/") == depth


def test_write_hostile_lists_the_warnings(tmp_path: Path) -> None:
    warnings = write_hostile(tmp_path)
    assert ExpectedWarning("bomb.zip!/zeros.bin", "archive", "archive-bomb") in warnings
    assert ExpectedWarning("loop/up", "walk", "symlink") in warnings
    assert (tmp_path / "loop" / "up").is_symlink()
    assert (tmp_path / "empty.txt").stat().st_size == 0


def test_hostile_files_are_the_same_for_the_same_seed(tmp_path: Path) -> None:
    def digests(folder: Path) -> dict[str, str]:
        write_hostile(folder, seed=7)
        return {
            str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()
        }

    assert digests(tmp_path / "a") == digests(tmp_path / "b")


def test_zip_bomb_is_small_on_disk_and_trips_the_default_limits() -> None:
    data = zip_bomb()
    limits = Limits()
    [info] = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert len(data) < 200_000
    assert info.file_size == BOMB_SIZE > limits.archive_ratio_min_size
    assert info.file_size > limits.archive_max_ratio * info.compress_size


def test_bomb_png_declares_a_huge_picture_in_a_few_bytes() -> None:
    data = bomb_png(60_000, 60_000)
    assert len(data) < 1000
    assert struct.unpack(">II", data[16:24]) == (60_000, 60_000)
    with pytest.raises(CorruptData) as info:
        analyze_picture(data, Limits())
    assert info.value.reason == "decompression-bomb"
