"""Turning what the pipeline learnt into case-store rows."""

from __future__ import annotations

from typing import Any

from lanterne import provenance as prov
from lanterne.case.store import utcnow
from lanterne.evidence.base import Entry, EntryWarning
from lanterne.provenance import Provenance


def located(evidence_id: int, chain: Provenance, name: str = "") -> dict[str, Any]:
    """The columns that place a row in the evidence: item, provenance (JSON), its key, and
    the path a person reads (``name`` when the chain has no layer below the item)."""
    text, key = prov.encode(chain)
    return {
        "evidence_id": evidence_id,
        "provenance_key": key,
        "provenance": text,
        "path": prov.display_path(chain) or name,
    }


def file_row(
    evidence_id: int,
    entry: Entry,
    *,
    sha256: str | None,
    state: str,
    container: str | None = None,
    extension_mismatch: bool = False,
) -> dict[str, Any]:
    return {
        **located(evidence_id, entry.provenance, entry.name),
        "name": entry.name,
        "size": entry.size,
        "sha256": sha256,
        "mtime": entry.mtime,
        "atime": entry.atime,
        "ctime": entry.ctime,
        "crtime": entry.crtime,
        "deleted": entry.deleted,
        "carved": entry.carved,
        "extension_mismatch": extension_mismatch,
        "container": container,
        "state": state,
    }


def app_row(evidence_id: int, entry: Entry, app: str, marker: str) -> dict[str, Any]:
    return {
        **located(evidence_id, entry.provenance, entry.name),
        "app": app,
        "marker": marker,
    }


def warning_row(evidence_id: int, w: EntryWarning) -> dict[str, Any]:
    return {
        **located(evidence_id, w.provenance),
        "stage": w.stage,
        "reason": w.reason,
        "detail": w.detail,
        "created_at": utcnow(),
    }
