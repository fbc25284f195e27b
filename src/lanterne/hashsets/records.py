"""What every hash-set reader yields: one :class:`HashRecord` per entry, lowercase hex."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lanterne.errors import CorruptData

if TYPE_CHECKING:
    from lanterne.analyze.vpdq import FrameHash


@dataclass(frozen=True, slots=True)
class HashRecord:
    """One entry of a hash set. Hashes are lowercase hex (``None`` when the source has none)."""

    where: str
    """Where in the file (``line 12``, ``record 3``, ``row 5``): for errors and provenance."""
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    """PDQ as 64 hex characters (ThreatExchange order)."""
    pdq_quality: int | None = None
    category: str | None = None
    """The category as the source's scheme writes it (``"1"``, ``"CAT-2"``, ``"A"``); None when
    uncategorised. Never translated between schemes."""
    entry_id: str | None = None
    """The source's own identifier of the entry (VICS ``MediaID``, ICSE ``Image ID`` …)."""
    name: str | None = None
    """A file name the source gives."""
    size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Other facts worth keeping (series, victim identified, PhotoDNA, package …), JSON-able."""
    frames: tuple[FrameHash, ...] = ()
    """For a listed video: its vPDQ frame hashes."""


@dataclass(frozen=True, slots=True)
class HashSetHeader:
    """What a hash-set file says of itself."""

    format: str
    """The reader's name (``vics``, ``icse``, ``nsrl-rds3`` …)."""
    version: str | None = None
    scheme: str | None = None
    """The category scheme when the file tells it (VICS 2.0 region …)."""
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class MalformedHashSet(CorruptData):
    """A hash-set file that breaks its format: ``detail`` names the line or record."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__("malformed", f"{where}: {detail}")
        self.where = where


HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
_WELL_FORMED = {kind: re.compile(f"[0-9a-f]{{{n}}}").fullmatch for kind, n in HEX_LENGTHS.items()}


def clean_hex(value: object, kind: str, where: str) -> str | None:
    """A hash as lowercase hex, checked for length and digits; None for empty values.
    (The per-entry hot path of every import: a well-formed value costs one regex match.)"""
    if type(value) is str:
        low = value.lower()
        if _WELL_FORMED[kind](low) is not None:
            return low
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedHashSet(where, f"{kind} is {type(value).__name__}, not text")
    text = value.strip().lower()
    if not text:
        return None
    if len(text) != HEX_LENGTHS[kind] or any(c not in "0123456789abcdef" for c in text):
        expected = HEX_LENGTHS[kind]
        raise MalformedHashSet(where, f"{kind} {value[:80]!r} is not {expected} hex digits")
    return text
