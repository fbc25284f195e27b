"""One-pass digests: right values whatever the stream does, and no thread left behind."""

from __future__ import annotations

import hashlib
import io
import random
import threading
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lanterne.analyze.digest as digest_module
from lanterne.analyze.digest import HEAD_SIZE, Digests, ReadResult, digest_bytes, digest_stream
from lanterne.evidence.base import path_opener

HELPER_NAME = "lanterne-digest-md5"
TIMEOUT = 30  # seconds: a hang fails the test instead of blocking the suite


def expected(data: bytes) -> Digests:
    return Digests(
        hashlib.md5(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
        len(data),
    )


def helpers_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == HELPER_NAME]


@contextmanager
def small_sizes(chunk: int = 4096, threshold: int = 3 * 4096, cpus: int = 64) -> Iterator[None]:
    """Shrink the chunk and split threshold so that kilobytes exercise the split mode, and
    pretend there are ``cpus`` CPUs (so that splitting does not depend on the test machine).

    A context manager rather than the monkeypatch fixture so Hypothesis tests can use it.
    """
    saved = digest_module.CHUNK_SIZE, digest_module.SPLIT_THRESHOLD, digest_module.CPUS
    digest_module.CHUNK_SIZE, digest_module.SPLIT_THRESHOLD, digest_module.CPUS = (
        chunk,
        threshold,
        cpus,
    )
    try:
        yield
    finally:
        digest_module.CHUNK_SIZE, digest_module.SPLIT_THRESHOLD, digest_module.CPUS = saved


@pytest.fixture
def many_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digest_module, "CPUS", 64)


@pytest.fixture
def splits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls that went to split mode (one entry per call)."""
    calls: list[int] = []
    real = digest_module._hash_split

    def spy(*args: Any) -> None:
        calls.append(1)
        real(*args)

    monkeypatch.setattr(digest_module, "_hash_split", spy)
    return calls


class TrickleStream(io.RawIOBase):
    """A non-seekable stream that returns at most a few bytes per read, as pipes do."""

    def __init__(self, data: bytes, pieces: list[int], fail_after: int | None = None) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._pieces = pieces or [len(data) + 1]
        self._calls = 0
        self._fail_after = fail_after

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        if self._fail_after is not None and self._pos >= self._fail_after:
            raise OSError(5, "Input/output error (simulated bad sector)")
        limit = self._pieces[self._calls % len(self._pieces)]
        self._calls += 1
        n = min(len(buffer), limit, len(self._data) - self._pos)
        if self._fail_after is not None:
            n = min(n, max(1, self._fail_after - self._pos))
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


class ReadOnlyStream:
    """A stream with ``read`` but no ``readinto`` (some archive libraries hand these out)."""

    def __init__(self, data: bytes) -> None:
        self._io = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._io.read(min(n, 777) if n > 0 else n)


def as_binary(stream: object) -> BinaryIO:
    return cast(BinaryIO, stream)


def call_with_timeout(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result(timeout=TIMEOUT)


# --- values ------------------------------------------------------------------------------------


def test_known_vectors() -> None:
    empty = digest_bytes(b"")
    assert empty == Digests(
        "d41d8cd98f00b204e9800998ecf8427e",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        0,
    )
    abc = digest_stream(io.BytesIO(b"abc")).digests
    assert abc == Digests(
        "900150983cd24fb0d6963f7d28e17f72",
        "a9993e364706816aba3e25717850c26c9cd0d89d",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        3,
    )


def test_empty_stream_gives_empty_head_and_data() -> None:
    result = digest_stream(io.BytesIO(b""))
    assert result == ReadResult(expected(b""), b"", b"")


def test_head_is_first_64_kib_and_data_only_up_to_keep() -> None:
    data = random.Random(1).randbytes(3 * HEAD_SIZE + 5)
    kept = digest_stream(io.BytesIO(data), keep=len(data))
    assert kept.head == data[:HEAD_SIZE]
    assert kept.data == data
    assert type(kept.data) is bytes and type(kept.head) is bytes
    not_kept = digest_stream(io.BytesIO(data), keep=len(data) - 1)
    assert not_kept.data is None
    assert not_kept.head == data[:HEAD_SIZE]
    assert not_kept.digests == kept.digests == expected(data)


def test_negative_keep_is_refused() -> None:
    with pytest.raises(ValueError, match="-1"):
        digest_stream(io.BytesIO(b"x"), keep=-1)


def test_real_file_larger_than_split_threshold(
    tmp_path: Path, many_cpus: None, splits: list[int]
) -> None:
    """With the shipped sizes: a file past the threshold goes through the split mode."""
    data = random.Random(2).randbytes(digest_module.SPLIT_THRESHOLD + 3 * 1024 * 1024 + 17)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    with path_opener(path)() as stream:
        result = digest_stream(stream, keep=1024)
    assert result.digests == expected(data)
    assert result.head == data[:HEAD_SIZE]
    assert result.data is None
    assert digest_bytes(data) == expected(data)
    assert splits == [1]
    assert helpers_alive() == []


def test_small_files_and_busy_cpus_stay_single_threaded(splits: list[int]) -> None:
    data = random.Random(8).randbytes(100_000)
    with small_sizes(cpus=1):  # the caller's own thread already uses the only CPU
        assert digest_stream(io.BytesIO(data)).digests == expected(data)
    assert splits == []
    with small_sizes(threshold=200_000):  # below the threshold
        assert digest_stream(io.BytesIO(data)).digests == expected(data)
    assert splits == []
    with small_sizes(cpus=2):
        assert digest_stream(io.BytesIO(data)).digests == expected(data)
    assert splits == [1]
    assert digest_module._hashing.count == 0


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 40_000),
    pieces=st.lists(st.integers(1, 9000), max_size=5),
    keep=st.integers(0, 50_000),
)
def test_any_read_pattern_gives_hashlib_values(size: int, pieces: list[int], keep: int) -> None:
    """Short reads, odd sizes, chunk and threshold boundaries, both modes: same as hashlib."""
    data = random.Random(size).randbytes(size)
    with small_sizes():
        result = digest_stream(as_binary(TrickleStream(data, pieces)), keep=keep)
        assert digest_bytes(data) == expected(data)
    assert result.digests == expected(data)
    assert result.head == data[:HEAD_SIZE]
    assert result.data == (data if size <= keep else None)


def test_stream_without_readinto() -> None:
    data = random.Random(3).randbytes(50_000)
    with small_sizes():
        result = digest_stream(as_binary(ReadOnlyStream(data)), keep=10**6)
    assert result.digests == expected(data)
    assert result.data == data


def test_returned_bytes_do_not_alias_reused_buffers() -> None:
    first_data = b"A" * 10_000
    first = digest_stream(io.BytesIO(first_data), keep=10**6)
    digest_stream(io.BytesIO(b"B" * 10_000), keep=10**6)
    assert first.data == first_data
    assert first.head == first_data


# --- concurrency -------------------------------------------------------------------------------


def test_concurrent_calls_from_many_threads() -> None:
    blobs = [random.Random(i).randbytes(20_000 + 3001 * i) for i in range(24)]
    with small_sizes(), ThreadPoolExecutor(6) as pool:
        results = list(
            pool.map(lambda b: digest_stream(as_binary(TrickleStream(b, [5000, 99]))), blobs)
        )
    assert [r.digests for r in results] == [expected(b) for b in blobs]
    assert helpers_alive() == []


def test_stream_that_digests_while_being_read() -> None:
    """A stream whose read itself calls digest_stream (nested containers) on the same thread."""
    inner = random.Random(4).randbytes(30_000)
    outer = random.Random(5).randbytes(30_000)

    class Nesting(TrickleStream):
        def readinto(self, buffer: Any) -> int:
            assert digest_stream(io.BytesIO(inner)).digests == expected(inner)
            return super().readinto(buffer)

    with small_sizes():
        result = digest_stream(as_binary(Nesting(outer, [7000])))
    assert result.digests == expected(outer)


# --- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_after", [0, 100, 5000, 13_000, 30_001])
def test_oserror_mid_read_propagates_and_leaves_no_thread(fail_after: int) -> None:
    """Before and after the switch to split mode (threshold 12 KiB here)."""
    data = random.Random(6).randbytes(60_000)
    stream = TrickleStream(data, [3000], fail_after=fail_after)
    with small_sizes(), pytest.raises(OSError, match="simulated bad sector"):
        call_with_timeout(digest_stream, stream)
    assert helpers_alive() == []


def test_oserror_mid_read_of_real_sized_chunks(many_cpus: None, splits: list[int]) -> None:
    data = random.Random(7).randbytes(digest_module.SPLIT_THRESHOLD + 4 * 1024 * 1024)
    stream = TrickleStream(data, [1 << 20], fail_after=digest_module.SPLIT_THRESHOLD + 1_500_000)
    with pytest.raises(OSError, match="simulated bad sector"):
        call_with_timeout(digest_stream, stream)
    assert splits == [1]
    assert helpers_alive() == []
    assert digest_module._hashing.count == 0


def test_error_in_helper_thread_reaches_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenMd5:
        def __init__(self) -> None:
            self.calls = 0

        def update(self, data: Any) -> None:
            self.calls += 1
            if self.calls > 4:
                raise MemoryError("simulated")

        def hexdigest(self) -> str:
            return ""

    fake = types.SimpleNamespace(md5=BrokenMd5, sha1=hashlib.sha1, sha256=hashlib.sha256)
    monkeypatch.setattr(digest_module, "hashlib", fake)
    with small_sizes(), pytest.raises(MemoryError, match="simulated"):
        call_with_timeout(digest_stream, io.BytesIO(bytes(200_000)))
    assert helpers_alive() == []


def test_nonblocking_stream_without_data_is_an_error() -> None:
    class NoData(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int | None:
            return None

    with pytest.raises(BlockingIOError):
        digest_stream(as_binary(NoData()))


def test_stream_claiming_more_bytes_than_asked_is_an_error() -> None:
    class Liar(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            return len(buffer) + 1

    with pytest.raises(OSError, match="returned"):
        digest_stream(as_binary(Liar()))
