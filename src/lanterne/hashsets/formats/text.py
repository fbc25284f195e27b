"""Reading the text hash-set formats line by line, bounded: a file without line breaks cannot
fill memory, a BOM is dropped, undecodable bytes are escaped (never an error)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from lanterne.hashsets.records import MalformedHashSet

BOM = b"\xef\xbb\xbf"
MAX_LINE = 1 << 20
"""Longest line accepted, in bytes."""


def raw_lines(f: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(number, text) of each line, line ending kept (for the csv module)."""
    n = 0
    while raw := f.readline(MAX_LINE + 1):
        n += 1
        if len(raw) > MAX_LINE:
            raise MalformedHashSet(f"line {n}", "longer than 1 MiB")
        if n == 1:
            raw = raw.removeprefix(BOM)
        yield n, raw.decode("utf-8", "backslashreplace")


def read_lines(f: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(number, text) of each line, line ending dropped."""
    for n, text in raw_lines(f):
        yield n, text.rstrip("\r\n")
