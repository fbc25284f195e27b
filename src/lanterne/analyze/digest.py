"""One-pass digests: MD5, SHA-1 and SHA-256 of a file's bytes, read once.

Why one pass: the ingest pipeline reads hundreds of terabytes; reading each file once and feeding
every hash from the same buffer costs one read instead of three. Hash sets in the field come keyed
by MD5 (VICS, older lists), SHA-1 (NSRL, ICSE) and SHA-256 (the case's content address), so all
three are needed. The same pass keeps the first :data:`HEAD_SIZE` bytes for type identification
and, for files up to ``keep`` bytes, the whole content so picture analysis needs no second read.

How it stays fast:

* Bytes are read with ``readinto`` into per-thread buffers that are reused from one file to the
  next (allocating and zeroing a fresh MiB per small file would cost more than hashing it), and
  the hashes are fed memoryviews of those buffers: no copy on the hot path.
* hashlib releases the GIL while hashing more than 2 KiB, so the pipeline's thread pool (one file
  per thread) hashes on every core.
* One large file must not hold the run to one core while the other cores are idle (the last file
  of a batch, a lone disk image). Once a file has gone past :data:`SPLIT_THRESHOLD` and fewer
  threads hash than there are CPUs, MD5, the slowest of the three, moves to a helper thread
  while the reading thread does SHA-1 and SHA-256 on the same buffer. Two buffers alternate, so
  the reader fills the next one while the helper still hashes the last. Small files never pay
  for a thread, nor do large ones while every CPU is busy hashing other files.

Failure: an exception from the stream (an ``OSError`` from a damaged disk) propagates to the
caller unchanged; the helper thread is always stopped and joined before the call returns or
raises, so nothing leaks or hangs.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from lanterne.errors import UserError
from lanterne.progress import Progress

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = [
    "CHUNK_SIZE",
    "CPUS",
    "HEAD_SIZE",
    "SPLIT_THRESHOLD",
    "Digests",
    "ReadResult",
    "digest_bytes",
    "digest_stream",
]

HEAD_SIZE = 64 * 1024
"""Bytes kept from the start of every file for type identification (libmagic needs less)."""

CHUNK_SIZE = 1 << 20
"""Bytes per read. Measured on the reference machine (2-core EPYC with SHA-NI, page-cache reads,
best of 8 runs, MB/s for 4 x 256 MiB / one 1 GiB file / 600 files of 20 KB-6 MB): 256 KiB
668/629/672, 1 MiB 690/638/676, 4 MiB 685/653/674, i.e. the same within noise. 1 MiB keeps a
thread's two buffers small and the chunk inside a core's L2 cache (1 MiB there) for the second
and third hash."""

SPLIT_THRESHOLD = 16 << 20
"""Bytes read from one file after which MD5 moves to a helper thread. Starting a thread costs
~0.1 ms and each hand-over a few µs, against ~45 ms to hash 16 MiB on one core. Measured as
above: 16 MiB 690/638/676, 64 MiB 696/623/681, never splitting 706/355/682. Splitting costs
nothing measurable when every core already hashes a file, and nearly doubles a lone large
file; the lower threshold lets more files of a batch's tail use an idle core."""

_POOL_KEEP = 2  # buffers a thread keeps between calls: what split mode uses


def _usable_cpus() -> int:
    getter = getattr(os, "sched_getaffinity", None)  # the CPUs this process may run on
    return len(getter(0)) if getter is not None else os.cpu_count() or 1


CPUS = _usable_cpus()
"""CPUs available to hashing; a file is split only while fewer threads than this hash."""


class _Hashing:
    """How many threads of this process hash right now (calls in progress and their helpers).

    A helper thread pays only when a CPU would otherwise idle (the tail of a batch, a lone
    disk image): when every CPU already hashes a file of its own, splitting one more file only
    adds hand-overs and cache traffic (measured: ~2 % more CPU time per byte).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    @contextmanager
    def counted(self, n: int = 1) -> Iterator[None]:
        with self._lock:
            self.count += n
        try:
            yield
        finally:
            with self._lock:
                self.count -= n

    def cpu_idle(self) -> bool:
        return self.count < CPUS  # a plain read: a stale value only delays the decision


_hashing = _Hashing()


@dataclass(frozen=True, slots=True)
class Digests:
    """A content's digests (lowercase hex) and its size in bytes."""

    md5: str
    sha1: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What one read of a file yields."""

    digests: Digests
    head: bytes
    """The first :data:`HEAD_SIZE` bytes (all of them for a shorter file)."""
    data: bytes | None
    """The whole content when its size is at most ``keep`` (so ``b""`` for an empty file even
    with ``keep=0``), else ``None``."""


class _BufferPool(threading.local):
    """Chunk buffers reused by one thread across calls (never shared between threads)."""

    def __init__(self) -> None:
        self.free: list[bytearray] = []


_pool = _BufferPool()


@contextmanager
def _lease(count: int) -> Iterator[list[memoryview]]:
    """Lend ``count`` chunk buffers of this thread's pool (fresh ones if the pool is short,
    e.g. when a stream's ``read`` itself calls :func:`digest_stream`)."""
    free = _pool.free

    def take() -> bytearray:
        while free:
            buf = free.pop()
            if len(buf) == CHUNK_SIZE:  # else CHUNK_SIZE was changed (a test, a tuning run)
                return buf
        return bytearray(CHUNK_SIZE)

    bufs = [take() for _ in range(count)]
    try:
        yield [memoryview(b) for b in bufs]
    finally:
        free.extend(bufs[: max(0, _POOL_KEEP - len(free))])


Fill = Callable[[memoryview], int]


def _filler(stream: BinaryIO) -> Fill:
    """A function that reads into a buffer and returns the byte count (0 at end of stream).

    Uses ``readinto`` when the stream has it; a stream with only ``read`` pays one copy.
    """
    readinto: Callable[[memoryview], int | None] | None = getattr(stream, "readinto", None)
    if readinto is not None:

        def fill(view: memoryview) -> int:
            n = readinto(view)
            if n is None:
                # A non-blocking stream with no data now: treating it as the end would record a
                # truncated file's digests as the real ones.
                raise BlockingIOError("stream has no data available (non-blocking stream)")
            if not 0 <= n <= len(view):
                raise OSError(f"stream readinto returned {n} for a {len(view)}-byte buffer")
            return n

        return fill

    def fill_by_read(view: memoryview) -> int:
        data = stream.read(len(view))
        n = len(data)
        if n > len(view):
            raise OSError(f"stream read returned {n} bytes for {len(view)} asked")
        view[:n] = data
        return n

    return fill_by_read


def _read_chunk(fill: Fill, view: memoryview) -> memoryview | None:
    """Fill ``view`` as far as the stream allows; the filled part, or ``None`` at the end.

    Short reads are looped over so that hashes and the helper thread always get whole chunks
    (an archive member stream handing out 8 KiB at a time would otherwise cost one thread
    hand-over per 8 KiB).
    """
    got = 0
    size = len(view)
    while got < size:
        n = fill(view[got:] if got else view)
        if n == 0:
            break
        got += n
    if got == 0:
        return None
    return view if got == size else view[:got]


class _Collector:
    """Size, head and (up to ``keep`` bytes) whole content gathered from the chunks.

    The content goes into an :class:`io.BytesIO`: one copy per chunk, and ``getvalue`` hands
    over its buffer without another. Measured: a list of ``bytes(chunk)`` joined at the end
    cost 30-40 % more CPU than hashing alone (a fresh, page-faulting 1 MiB allocation per
    chunk, then a second copy); the BytesIO costs ~3 %.
    """

    __slots__ = ("_head", "_head_len", "_kept", "keep", "total")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.total = 0
        self._head: list[bytes] = []
        self._head_len = 0
        self._kept: io.BytesIO | None = io.BytesIO()

    def add(self, chunk: memoryview) -> None:
        self.total += len(chunk)
        if self._head_len < HEAD_SIZE:
            part = bytes(chunk[: HEAD_SIZE - self._head_len])
            self._head.append(part)
            self._head_len += len(part)
        if self._kept is not None:
            if self.total <= self.keep:
                self._kept.write(chunk)
            else:
                self._kept = None  # too large: stop copying, free what was kept

    def result(self, md5: _Hash, sha1: _Hash, sha256: _Hash) -> ReadResult:
        digests = Digests(md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest(), self.total)
        data = None if self._kept is None else self._kept.getvalue()
        head = data[:HEAD_SIZE] if data is not None else b"".join(self._head)
        return ReadResult(digests, head, data)


def digest_stream(stream: BinaryIO, *, keep: int = 0) -> ReadResult:
    """Read ``stream`` to its end once; its digests, head, and content when at most ``keep``.

    The stream need not be seekable and may return fewer bytes than asked. Safe to call from
    several threads at once (each call owns its state; buffers are per thread). Exceptions
    raised by the stream propagate unchanged.
    """
    if keep < 0:
        raise ValueError(f"keep must be >= 0, not {keep}")
    fill = _filler(stream)
    md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
    out = _Collector(keep)
    with _hashing.counted():
        with _lease(1) as (view,):
            while out.total < SPLIT_THRESHOLD or not _hashing.cpu_idle():
                chunk = _read_chunk(fill, view)
                if chunk is None:
                    return out.result(md5, sha1, sha256)
                md5.update(chunk)
                sha1.update(chunk)
                sha256.update(chunk)
                out.add(chunk)
        with _lease(2) as views, _hashing.counted():
            _hash_split(fill, views, md5, (sha1, sha256), out)
    return out.result(md5, sha1, sha256)


def _hash_split(
    fill: Fill,
    views: list[memoryview],
    helper_hash: _Hash,
    own_hashes: tuple[_Hash, ...],
    out: _Collector,
) -> None:
    """Hash the rest of the stream with ``helper_hash`` on a helper thread.

    The reader fills buffer *i*, queues it to the helper, hashes it with ``own_hashes``, then
    moves to buffer *i+1*; before refilling a buffer it waits until the helper has released it
    (the helper works in queue order, so the oldest buffer is released first).
    """
    todo: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
    released: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()

    def helper() -> None:
        try:
            while (chunk := todo.get()) is not None:
                helper_hash.update(chunk)
                released.put(None)
        except BaseException as exc:  # handed to the reader, which re-raises it
            released.put(exc)

    def wait_release() -> None:
        exc = released.get()
        if exc is not None:
            raise exc

    thread = threading.Thread(target=helper, name="lanterne-digest-md5", daemon=True)
    thread.start()
    try:
        in_flight = 0
        i = 0
        while True:
            if in_flight == len(views):
                wait_release()
                in_flight -= 1
            chunk = _read_chunk(fill, views[i])
            if chunk is None:
                break
            todo.put(chunk)
            in_flight += 1
            for h in own_hashes:
                h.update(chunk)
            out.add(chunk)
            i = (i + 1) % len(views)
        while in_flight:
            wait_release()
            in_flight -= 1
    finally:
        # Also on error: the helper finishes what is queued (at most two chunks), sees the
        # sentinel and ends; joining before the buffers go back to the pool means no thread
        # ever reads a buffer that is being refilled.
        todo.put(None)
        thread.join()


def digest_bytes(data: bytes) -> Digests:
    """Digests of bytes already in memory (a large one hashes MD5 on a helper thread)."""
    view = memoryview(data)
    md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
    if len(view) < SPLIT_THRESHOLD:
        md5.update(view)
        sha1.update(view)
        sha256.update(view)
    else:
        thread = threading.Thread(target=md5.update, args=(view,), name="lanterne-digest-md5")
        thread.start()
        try:
            sha1.update(view)
            sha256.update(view)
        finally:
            thread.join()
    return Digests(md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest(), len(view))


def sha256_file(path: Path, progress: Progress) -> tuple[str, bytes]:
    """SHA-256 of a whole file (an item at registration, a hash-set file at import), with
    progress, and its first 64 KiB for identification."""
    h = hashlib.sha256()
    head = b""
    progress.start(f"hashing {path.name}", path.stat().st_size)
    try:
        with path.open("rb", buffering=0) as f:
            while chunk := f.read(1 << 20):
                if not head:
                    head = chunk[:65536]
                h.update(chunk)
                progress.advance(nbytes=len(chunk))
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
    finally:
        progress.finish()
    return h.hexdigest(), head
