"""The media reader: small reads from kept blocks, large ones straight through, exact bytes."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanterne.evidence.disk.handles import MediaReader


class _FileObject(io.BytesIO):
    """A dfVFS-like file object (get_size, seek, read) that counts its reads."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads = 0

    def get_size(self) -> int:
        return len(self.getbuffer())

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)


DATA = os.urandom(5 * MediaReader.BLOCK + 123)


@settings(max_examples=200)
@given(st.integers(0, len(DATA) + 10), st.integers(0, 3 * MediaReader.BLOCK))
def test_reads_are_exact(offset: int, length: int) -> None:
    reader = MediaReader(_FileObject(DATA))
    assert reader.read_at(offset, length) == DATA[offset : offset + length]


def test_small_reads_in_one_block_read_the_media_once() -> None:
    f = _FileObject(DATA)
    reader = MediaReader(f)
    for offset in range(0, MediaReader.BLOCK, 4096):
        assert reader.read_at(offset, 512) == DATA[offset : offset + 512]
    assert f.reads == 1
    reader.read_at(0, 2 * MediaReader.BLOCK)  # large: straight through, not kept
    assert f.reads == 2


def test_short_media_is_an_error() -> None:
    class Short(_FileObject):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(size)[:-1]

    with pytest.raises(OSError, match="media ends early"):
        MediaReader(Short(DATA)).read_at(0, 100)
