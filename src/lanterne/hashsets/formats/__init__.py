"""The hash-set formats Lanterne reads (and writes), and telling a file's format.

Each module exposes ``NAME``, ``sniff(head, path)``, ``read(path)`` and ``write(path, header,
records)``, or a list ``FORMATS`` of objects with those members when one module holds several.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lanterne.errors import UserError
from lanterne.hashsets.records import HashRecord, HashSetHeader

_MODULES = (
    "encase", "nsrl3", "kdb", "vics", "hashdeep", "icse", "nsrl2", "hashkeeper", "sumfile",
    "pdqlist", "vpdq",
)  # fmt: skip
"""In sniffing order: the stricter signatures first."""
HEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    sniff: Callable[[bytes, Path], bool]
    read: Callable[[Path], tuple[HashSetHeader, Iterator[HashRecord]]]
    write: Callable[[Path, HashSetHeader, Iterable[HashRecord]], int]


def _format(obj: Any) -> Format:
    return Format(obj.NAME, obj.sniff, obj.read, obj.write)


@cache
def formats() -> dict[str, Format]:
    """Every known format by name, in sniffing order."""
    found: dict[str, Format] = {}
    for name in _MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        for obj in getattr(module, "FORMATS", [module]):
            fmt = _format(obj)
            found[fmt.name] = fmt
    return found


def by_name(name: str) -> Format:
    try:
        return formats()[name]
    except KeyError:
        raise UserError(
            f"unknown hash-set format {name!r}; known: {', '.join(formats())}"
        ) from None


def detect(path: Path) -> Format:
    """The format of the hash-set file at ``path``, by its first bytes (and name)."""
    try:
        with path.open("rb") as f:
            head = f.read(HEAD)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for fmt in formats().values():
        if fmt.sniff(head, path):
            return fmt
    raise UserError(
        f"{path.name}: not a hash-set format Lanterne knows ({', '.join(formats())}); "
        "name one with --format if you know it"
    )
