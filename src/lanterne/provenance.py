"""Provenance chains: where every file, message and match came from.

A chain is a tuple of :class:`Step` from the seized item down to the bytes, e.g.::

    evidence:PC-07 → folder:Users/a/x.zip → zip:img/1.jpg

It serialises to compact JSON (stored with each row) and to a stable key (SHA-256 of that JSON)
that makes a row unique within its evidence item, so re-running never duplicates.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

# Separator between layers in display paths: "Users/a/x.zip!/img/1.jpg".
LAYER_SEPARATOR = "!/"


@dataclass(frozen=True, slots=True)
class Step:
    """One layer of a chain.

    ``kind`` names the layer (``evidence``, ``folder``, ``zip``, ``tar``, ``7z`` …), ``path`` is
    the location inside that layer, always valid Unicode (undecodable bytes are shown as
    ``\\xNN``); ``raw`` keeps the original name bytes in hex when they were not valid UTF-8,
    ``offset`` a byte offset where one applies (carving).
    """

    kind: str
    path: str
    raw: str | None = None
    offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.kind, "path": self.path}
        if self.raw is not None:
            d["raw"] = self.raw
        if self.offset is not None:
            d["offset"] = self.offset
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        return cls(d["type"], d["path"], d.get("raw"), d.get("offset"))


Provenance = tuple[Step, ...]


def to_json(chain: Provenance) -> str:
    """The canonical JSON of a chain (stable: same chain, same text)."""
    return json.dumps([s.to_dict() for s in chain], ensure_ascii=False, separators=(",", ":"))


def from_json(text: str) -> Provenance:
    return tuple(Step.from_dict(d) for d in json.loads(text))


def key(chain: Provenance) -> str:
    """A fixed-size unique key for a chain (hex SHA-256 of its canonical JSON)."""
    return encode(chain)[1]


def encode(chain: Provenance) -> tuple[str, str]:
    """The canonical JSON of a chain and its key, serialising once."""
    text = to_json(chain)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def display_path(chain: Provenance) -> str:
    """The path a person reads: the layers below the evidence item joined with ``!/``."""
    return LAYER_SEPARATOR.join(s.path for s in chain if s.kind != "evidence")


def decode_name(raw: bytes) -> tuple[str, str | None]:
    """Decode a file name; returns (text, raw-hex or None when the name was valid UTF-8)."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), raw.hex()
