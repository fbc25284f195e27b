"""The container walker: members' bytes and provenance, limits, hostile input, spooling."""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

import py7zr
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanterne.config import Limits
from lanterne.errors import CorruptData
from lanterne.evidence.archive import CONTAINERS, open_container
from lanterne.evidence.base import Entry, EntryWarning, Item, bytes_opener
from lanterne.provenance import Step, display_path
from lanterne.synth import archives
from lanterne.synth.hostile import overlapping_zip, zip_bomb

ROOT = (Step("evidence", "PC-01"), Step("file", "seized"))
CONTAINER_OF = {
    "zip": "zip", "7z": "7z", "tar": "tar", "tar.gz": "gzip", "tgz": "gzip", "gz": "gzip",
    "tar.bz2": "bzip2", "bz2": "bzip2", "tar.xz": "xz", "xz": "xz",
}  # fmt: skip
MEMBERS = {"a/b.txt": b"hello\n", "c.bin": bytes(range(256)) * 40, "empty": b"", "d/e/f.jpg": b"x"}


def entry(data: bytes, name: str = "seized") -> Entry:
    return Entry((ROOT[0], Step("file", name)), name, len(data), bytes_opener(data))


def walk(
    item: Entry, kind: str, spool: Path, limits: Limits | None = None, release: bool = True
) -> Iterator[tuple[Item, bytes | None]]:
    """Every item at any depth, members of members included, with each entry's bytes."""
    for it in open_container(item, kind, limits or Limits(), spool):
        if isinstance(it, EntryWarning):
            yield it, None
            continue
        with it.open() as f:
            data = f.read()
        yield it, data
        inner = archives.kind_of(it.name)
        if inner is not None:
            yield from walk(it, CONTAINER_OF[inner], spool, limits, release)
        if release:
            it.release()


def members(items: list[tuple[Item, bytes | None]]) -> dict[str, bytes]:
    return {display_path(i.provenance): d for i, d in items if d is not None}


def inside(name: str, files: dict[str, bytes]) -> dict[str, bytes]:
    return {f"{name}!/{k}": v for k, v in files.items()}


def warnings(items: list[tuple[Item, bytes | None]]) -> list[tuple[str, str]]:
    return [(display_path(i.provenance), i.reason) for i, _ in items if isinstance(i, EntryWarning)]


@pytest.mark.parametrize("kind", ["zip", "tar", "7z", "tar.gz", "tar.bz2", "tar.xz"])
def test_each_archive_kind_yields_its_members_bytes_in_order(kind: str, tmp_path: Path) -> None:
    data = archives.archive_bytes(kind, MEMBERS)
    name = f"seized.{kind}"
    items = list(walk(entry(data, name), CONTAINER_OF[kind], tmp_path))
    assert warnings(items) == []
    got = members(items)
    prefix = name + "!/" + ("seized.tar!/" if kind.startswith("tar.") else "")
    expected = {prefix + k: v for k, v in MEMBERS.items()}
    if kind.startswith("tar."):
        expected = {name + "!/seized.tar": archives.tar_bytes(MEMBERS), **expected}
    assert list(got) == list(expected)  # directory order, stable
    assert {k: hashlib.sha256(v).hexdigest() for k, v in got.items()} == {
        k: hashlib.sha256(v).hexdigest() for k, v in expected.items()
    }
    for item, _ in items:
        assert isinstance(item, Entry)
        assert item.size == len(expected[display_path(item.provenance)])
        assert item.name == display_path(item.provenance).rsplit("/", 1)[-1]


@pytest.mark.parametrize("kind", ["zip", "tar", "7z"])
def test_member_times_come_from_the_archive(kind: str, tmp_path: Path) -> None:
    when = datetime(2021, 5, 4, 3, 2, 2, tzinfo=UTC)
    data = archives.archive_bytes(kind, {"x.txt": b"x"}, when=when)
    [(item, _)] = walk(entry(data), kind, tmp_path)
    assert isinstance(item, Entry)
    assert item.mtime == when


def test_ntfs_and_pax_times_give_access_and_creation_times(tmp_path: Path) -> None:
    def filetime(d: datetime) -> int:
        return int((d - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10_000_000)

    m, a, c = (datetime(2020, 1, n, 12, tzinfo=UTC) for n in (1, 2, 3))
    info = zipfile.ZipInfo("x.txt", (2020, 1, 1, 0, 0, 0))
    info.extra = struct.pack("<HHIHHQQQ", 0x000A, 32, 0, 1, 24, *map(filetime, (m, a, c)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(info, b"x")
    [(item, _)] = walk(entry(buf.getvalue()), "zip", tmp_path)
    assert isinstance(item, Entry)
    assert (item.mtime, item.atime, item.crtime) == (m, a, c)
    tar_info = tarfile.TarInfo("y.txt")
    tar_info.size, tar_info.mtime = 1, m.timestamp()
    tar_info.pax_headers = {"atime": str(a.timestamp()), "ctime": str(c.timestamp())}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.addfile(tar_info, io.BytesIO(b"y"))
    [(item, _)] = walk(entry(buf.getvalue()), "tar", tmp_path)
    assert isinstance(item, Entry)
    assert (item.mtime, item.atime, item.ctime) == (m, a, c)


def test_zip_without_extended_time_gives_the_dos_wall_clock_labelled_utc(tmp_path: Path) -> None:
    data = archives.zip_bytes({"x.txt": b"x"}, unix_time=False)
    [(item, _)] = walk(entry(data), "zip", tmp_path)
    assert isinstance(item, Entry)
    assert item.mtime == datetime(2024, 3, 14, 9, 26, 52, tzinfo=UTC)  # the store wants aware


def test_compressed_streams_name_their_member_after_the_container(tmp_path: Path) -> None:
    cases = {"notes.txt.gz": "notes.txt", "x.tgz": "x.tar", "y.tar.bz2": "y.tar", "z.TXZ": "z.tar"}
    for name, member in cases.items():
        codec = {"gz": "gz", "tgz": "gz", "bz2": "bz2", "TXZ": "xz"}[name.rsplit(".", 1)[1]]
        data = archives.compress(b"payload", codec)
        [item] = open_container(entry(data, name), CONTAINER_OF[codec], Limits(), tmp_path)
        assert isinstance(item, Entry)
        assert item.provenance[-1] == Step(CONTAINER_OF[codec], member)
        assert (item.name, item.open().read()) == (member, b"payload")
    [(gz, _)] = walk(entry(archives.compress(b"p", "gz"), "p.gz"), "gzip", tmp_path)
    assert isinstance(gz, Entry) and gz.mtime == archives.WHEN


def test_tar_is_read_as_a_stream_from_an_unseekable_source(tmp_path: Path) -> None:
    data = archives.tar_bytes(MEMBERS)

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            chunk = self.inner.read(min(len(b), 777))
            b[: len(chunk)] = chunk
            return len(chunk)

    def opener() -> BinaryIO:
        return cast(BinaryIO, io.BufferedReader(cast(io.RawIOBase, Pipe())))  # cannot seek

    item = Entry(ROOT, "seized", None, opener)
    assert members(list(walk(item, "tar", tmp_path))) == inside("seized", MEMBERS)


def test_zip_and_7z_on_unseekable_sources_are_spooled_first(tmp_path: Path) -> None:
    for kind in ("zip", "7z"):
        data = archives.archive_bytes(kind, MEMBERS)
        item = Entry(ROOT, "s", None, lambda d=data: io.BufferedReader(io.BytesIO(d)))  # type: ignore[misc]
        assert len(members(list(walk(item, kind, tmp_path)))) == len(MEMBERS)


def test_nested_three_deep_gives_exact_provenance_chains(tmp_path: Path) -> None:
    data = archives.nest({"deep/secret.txt": b"bottom"}, ["zip", "tar.gz", "7z"])
    items = list(walk(entry(data, "outer.zip"), "zip", tmp_path))
    assert warnings(items) == []
    last = items[-1][0]
    assert isinstance(last, Entry)
    assert last.provenance == (
        Step("evidence", "PC-01"),
        Step("file", "outer.zip"),
        Step("zip", "level-1.tar.gz"),
        Step("gzip", "level-1.tar"),
        Step("tar", "level-2.7z"),
        Step("7z", "deep/secret.txt"),
    )
    assert items[-1][1] == b"bottom"
    assert display_path(last.provenance) == (
        "outer.zip!/level-1.tar.gz!/level-1.tar!/level-2.7z!/deep/secret.txt"
    )


def test_7z_solid_block_is_decoded_once_for_all_its_members(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = {
        f"m/{i:03d}.bin": hashlib.sha256(str(i).encode()).digest() * (i + 1) for i in range(200)
    }
    data = archives.sevenzip_bytes(many, solid=True)
    calls = []
    real = py7zr.SevenZipFile.extract

    def counting(self: py7zr.SevenZipFile, *args: object, **kwargs: object) -> None:
        calls.append(kwargs.get("targets"))
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(py7zr.SevenZipFile, "extract", counting)
    got = members(list(walk(entry(data), "7z", tmp_path)))
    assert got == inside("seized", many)
    assert len(calls) == 1


def test_7z_blocks_are_decoded_one_at_a_time(tmp_path: Path) -> None:
    data = archives.sevenzip_bytes(MEMBERS, solid=False)
    with py7zr.SevenZipFile(io.BytesIO(data)) as archive:
        assert len({id(f.folder) for f in archive.files}) == len(MEMBERS)
    assert members(list(walk(entry(data), "7z", tmp_path))) == inside("seized", MEMBERS)


def test_hostile_member_names_are_flagged_and_still_ingested(tmp_path: Path) -> None:
    names: dict[str | bytes, bytes] = {
        "../../up.txt": b"1",
        "/etc/abs.txt": b"2",
        b"caf\xe9.txt": b"3",
        "C:\\win.txt": b"4",
    }
    items = list(walk(entry(archives.zip_bytes(names)), "zip", tmp_path))
    assert warnings(items) == [
        ("seized!/../../up.txt", "path-traversal"),
        ("seized!//etc/abs.txt", "path-traversal"),
        ("seized!/caf\\xe9.txt", "name-not-utf8"),
        ("seized!/C:\\win.txt", "path-traversal"),
    ]
    assert list(members(items).values()) == [b"1", b"2", b"3", b"4"]
    bad = next(i for i, _ in items if isinstance(i, Entry) and i.provenance[-1].raw)
    assert bad.provenance[-1] == Step("zip", "caf\\xe9.txt", raw=b"caf\xe9.txt".hex())
    odd: dict[str | bytes, bytes] = {"../up.txt": b"1", b"r\xe9sum\xe9": b"2"}
    tar = archives.tar_bytes(odd)
    assert warnings(list(walk(entry(tar), "tar", tmp_path))) == [
        ("seized!/../up.txt", "path-traversal"),
        ("seized!/r\\xe9sum\\xe9", "name-not-utf8"),
    ]
    sz = archives.sevenzip_bytes({"../x.txt": b"x", "ok.txt": b"ok"})
    items = list(walk(entry(sz), "7z", tmp_path))
    assert warnings(items) == [("seized!/../x.txt", "path-traversal")]
    assert list(members(items).values()) == [b"x", b"ok"]


def test_links_and_special_files_in_a_tar_are_never_followed(tmp_path: Path) -> None:
    data = archives.tar_bytes({"a.txt": b"a"}, symlinks={"up": "../../etc"}, fifos=["fifo"])
    items = list(walk(entry(data), "tar", tmp_path))
    assert warnings(items) == [("seized!/up", "link"), ("seized!/fifo", "not-regular-file")]
    assert members(items) == {"seized!/a.txt": b"a"}


def test_encrypted_members_are_warned_not_read(tmp_path: Path) -> None:
    aes = archives.encrypted_zip_bytes({"d.txt": b"secret", "e.txt": b"more"}, b"pw")
    assert warnings(list(walk(entry(aes), "zip", tmp_path))) == [
        ("seized!/d.txt", "encrypted"),
        ("seized!/e.txt", "encrypted"),
    ]
    locked = archives.sevenzip_bytes({"n.txt": b"secret"}, password="pw")
    assert warnings(list(walk(entry(locked), "7z", tmp_path))) == [("seized!/n.txt", "encrypted")]
    sealed = archives.sevenzip_bytes({"n.txt": b"secret"}, password="pw", encrypt_header=True)
    with pytest.raises(CorruptData) as info:
        list(walk(entry(sealed), "7z", tmp_path))
    assert info.value.reason == "encrypted"


def test_zip_bomb_trips_the_default_limits_without_inflating(tmp_path: Path) -> None:
    items = list(walk(entry(zip_bomb()), "zip", tmp_path))
    assert warnings(items) == [("seized!/zeros.bin", "archive-bomb")]
    assert list(tmp_path.iterdir()) == []


def test_overlapping_entries_bomb_is_caught(tmp_path: Path) -> None:
    items = list(walk(entry(overlapping_zip(4, 1 << 20)), "zip", tmp_path))
    assert warnings(items) == [(f"seized!/part-{i}.bin", "archive-bomb") for i in range(4)]


def test_streamed_expansion_is_stopped_at_the_ratio_and_size_limits(tmp_path: Path) -> None:
    zeros = archives.compress(bytes(4 << 20), "gz")
    ratio = Limits(archive_ratio_min_size=1 << 20, archive_max_ratio=50)
    assert warnings(list(walk(entry(zeros, "z.gz"), "gzip", tmp_path, ratio))) == [
        ("z.gz!/z", "archive-bomb")
    ]
    size = Limits(archive_max_member_size=3 << 20)
    assert warnings(list(walk(entry(zeros, "z.gz"), "gzip", tmp_path, size))) == [
        ("z.gz!/z", "archive-bomb")
    ]
    assert members(list(walk(entry(zeros, "z.gz"), "gzip", tmp_path))) == {
        "z.gz!/z": bytes(4 << 20)
    }
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["zip", "tar", "7z"])
def test_total_and_member_count_limits_stop_the_archive(kind: str, tmp_path: Path) -> None:
    five = {f"{i}.bin": bytes([i]) * 1000 for i in range(5)}
    data = archives.archive_bytes(kind, five)
    items = list(walk(entry(data), kind, tmp_path, Limits(archive_max_total_size=2500)))
    assert len(members(items)) == 2
    assert warnings(items) == [("seized!/2.bin", "archive-bomb")]
    items = list(walk(entry(data), kind, tmp_path, Limits(archive_max_members=3)))
    assert len(members(items)) == 3
    assert warnings(items) == [("seized!/3.bin", "too-many-members")]
    items = list(walk(entry(data), kind, tmp_path, Limits(archive_max_member_size=999)))
    assert warnings(items) == [(f"seized!/{i}.bin", "archive-bomb") for i in range(5)]


def test_damaged_members_are_warned_and_the_walk_goes_on(tmp_path: Path) -> None:
    good = archives.zip_bytes({"data.bin": b"\x00" * 64, "ok.txt": b"fine"})
    crc = bytearray(good)
    crc[30 + len("data.bin") + 9 + 2] ^= 0xFF
    items = list(walk(entry(bytes(crc)), "zip", tmp_path))
    assert warnings(items) == [("seized!/data.bin", "corrupt")]
    assert members(items) == {"seized!/ok.txt": b"fine"}
    tar = archives.tar_bytes({"a.txt": b"a" * 600, "b.txt": b"b" * 5000})
    items = list(walk(entry(tar[: 2048 + 100]), "tar", tmp_path))
    assert warnings(items) == [("seized!/b.txt", "truncated")]
    assert members(items) == {"seized!/a.txt": b"a" * 600}
    cut = archives.compress(bytes(range(256)) * 400, "xz")
    items = list(walk(entry(cut[:-100], "c.xz"), "xz", tmp_path))
    assert warnings(items) == [("c.xz!/c", "truncated")]


def test_damaged_7z_block_loses_only_its_members(tmp_path: Path) -> None:
    two = {"a.bin": b"a" * 5000, "b.bin": b"b" * 5000}
    data = bytearray(archives.sevenzip_bytes(two, solid=False))
    data[40] ^= 0xFF  # inside the first block's packed stream
    items = list(walk(entry(bytes(data)), "7z", tmp_path))
    assert [r for _, r in warnings(items)] in (["corrupt"], ["truncated"])
    assert members(items) == {"seized!/b.bin": b"b" * 5000}


@pytest.mark.parametrize(
    ("kind", "data", "reason"),
    [
        ("zip", b"not a zip at all", "corrupt"),
        ("zip", archives.zip_bytes(MEMBERS)[:200], "truncated"),
        ("7z", b"7z\xbc\xaf\x27\x1c" + b"\x00" * 30, "corrupt"),
        ("7z", archives.sevenzip_bytes(MEMBERS)[:-20], "truncated"),
        ("tar", b"\x01" * 700, "corrupt"),
        ("gzip", b"BZh91AY", "corrupt"),
    ],
)
def test_unopenable_container_raises_corrupt_data(
    kind: str, data: bytes, reason: str, tmp_path: Path
) -> None:
    with pytest.raises(CorruptData) as info:
        list(open_container(entry(data), kind, Limits(), tmp_path))
    assert info.value.reason == reason


def test_large_members_spool_to_files_in_the_spool_folder_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    spool = tmp_path / "spool"
    spool.mkdir()
    big = {f"{i}.bin": bytes([i]) * 5000 for i in range(4)}
    tiny = Limits(spool_in_memory=1000)
    for kind in ("zip", "tar", "7z", "tar.gz"):
        data = archives.archive_bytes(kind, big)
        held = []
        for item, got in walk(entry(data, f"s.{kind}"), CONTAINER_OF[kind], spool, tiny, False):
            if isinstance(item, Entry):
                assert item.local_path is not None and item.local_path.parent == spool
                with item.open() as again:
                    assert item.local_path.read_bytes() == got == again.read()
                held.append(item)
        assert len(list(spool.iterdir())) == len(held)
        for item in held:
            item.release()
            item.release()  # idempotent
        assert list(spool.iterdir()) == []
        with pytest.raises(ValueError, match="released"):
            held[0].open()
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("kind", ["zip", "tar", "7z"])
def test_closing_the_walk_early_frees_what_it_still_holds(kind: str, tmp_path: Path) -> None:
    data = archives.archive_bytes(kind, {f"{i}.bin": bytes([i]) * 5000 for i in range(6)})
    items = open_container(entry(data), kind, Limits(spool_in_memory=100), tmp_path)
    first = next(items)
    assert isinstance(first, Entry) and first.local_path is not None
    items.close()  # a solid 7z had decoded all six: five were never handed over
    assert list(tmp_path.iterdir()) == [first.local_path]
    first.release()
    assert list(tmp_path.iterdir()) == []


def test_memory_members_reopen_fresh_streams(tmp_path: Path) -> None:
    [(item, _)] = walk(entry(archives.zip_bytes({"x": b"abc"})), "zip", tmp_path, release=False)
    assert isinstance(item, Entry) and item.local_path is None
    a, b = item.open(), item.open()
    assert a.read(1) == b"a" and b.read() == b"abc"


def test_unknown_container_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rar"):
        open_container(entry(b""), "rar", Limits(), tmp_path)
    assert "zip" in CONTAINERS


_NAME = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00/\\"), min_size=1, max_size=20
)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.one_of(
            st.lists(_NAME, min_size=1, max_size=3).map("/".join),
            st.binary(min_size=1, max_size=12).filter(lambda b: b"\x00" not in b and b"/" not in b),
        ),
        st.binary(max_size=3000),
        max_size=8,
    )
)
def test_zip_round_trip_of_any_names_and_bytes(files: dict[str | bytes, bytes]) -> None:
    with tempfile.TemporaryDirectory() as spool:
        data = archives.zip_bytes(files)
        got = [
            i for i in open_container(entry(data), "zip", Limits(spool_in_memory=512), Path(spool))
        ]
        entries = [i for i in got if isinstance(i, Entry)]
        assert len(entries) == len(files)
        for item, (name, content) in zip(entries, files.items(), strict=True):
            raw = name if isinstance(name, bytes) else name.encode()
            if isinstance(name, str) and not name.isascii():
                assert item.provenance[-1] == Step("zip", name)  # the UTF-8 flag was set
            elif isinstance(name, bytes):
                assert zipfile.ZipInfo(raw.decode("cp437")).orig_filename.encode("cp437") == raw
                assert bytes.fromhex(item.provenance[-1].raw or raw.hex()) == raw
            with item.open() as f:
                assert f.read() == content
            item.release()
        assert list(Path(spool).iterdir()) == []


_SAMPLES = {
    "zip": archives.zip_bytes(MEMBERS),
    "tar": archives.tar_bytes(MEMBERS),
    "7z": archives.sevenzip_bytes(MEMBERS),
    "gzip": archives.compress(archives.tar_bytes(MEMBERS), "gz"),
    "bzip2": archives.compress(b"bz" * 3000, "bz2"),
    "xz": archives.compress(b"xz" * 3000, "xz"),
}


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(_SAMPLES)),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(1, 1 << 16),
)
def test_damaged_input_never_escapes_as_anything_but_corrupt_data(
    kind: str, flips: list[tuple[int, int]], keep: int
) -> None:
    data = bytearray(_SAMPLES[kind])
    for where, value in flips:
        data[where % len(data)] = value
    with tempfile.TemporaryDirectory() as spool:
        try:
            for item in open_container(
                entry(bytes(data[:keep])), kind, Limits(spool_in_memory=256), Path(spool)
            ):
                if isinstance(item, Entry):
                    with item.open() as f:
                        f.read()
                    item.release()
        except CorruptData:
            pass
        assert list(Path(spool).iterdir()) == []
