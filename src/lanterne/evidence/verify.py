"""Proof that an item is the one acquired: its media hash recomputed and recorded.

A disk image's media (the bytes of the acquired drive, not of the image file) is hashed and
compared with the MD5/SHA-1 the acquisition tool stored in it (EWF); other images have no
stored hash, and the computed digests are recorded for later comparison. A file or archive is
compared with the SHA-256 taken when it was registered. Every run is kept, with who and when.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from pathlib import Path
from typing import Any

from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.evidence.disk.ewf import verify_media
from lanterne.progress import NoProgress, Progress

CHUNK = 8 << 20


def verify_evidence(
    case: Case, label: str, examiner: str | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Verify the item labelled ``label``; returns the recorded verification."""
    progress = progress or NoProgress()
    ev = case.store.evidence_by_label(label)
    if ev is None:
        raise UserError(f"no evidence item labelled {label!r} in this case; see `evidence list`")
    path = Path(ev.location)
    if ev.kind == "disk-image":
        v = verify_media(path, progress)
        values: dict[str, Any] = {
            "outcome": v.outcome,
            "md5": v.md5,
            "sha1": v.sha1,
            "sha256": v.sha256,
            "stored_md5": v.stored_md5,
            "stored_sha1": v.stored_sha1,
            "bytes_read": v.bytes_read,
            "checksum_errors": json.dumps(v.checksum_errors),
            "detail": v.detail,
        }
    elif path.is_file() and ev.sha256:
        values = _against_registration(path, ev.sha256, progress)
    else:
        raise UserError(
            f"{label} is a {ev.kind}: a folder has no media hash to verify (its files' "
            "digests are in the case)"
        )
    values["verified_by"] = examiner or getpass.getuser()
    case.store.add_verification(ev.id, **values)
    return values


def _against_registration(path: Path, registered: str, progress: Progress) -> dict[str, Any]:
    h = hashlib.sha256()
    n = 0
    progress.start(f"verifying {path.name}", path.stat().st_size)
    try:
        with path.open("rb", buffering=0) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
                n += len(chunk)
                progress.advance(nbytes=len(chunk))
    except OSError as exc:
        return {
            "outcome": "unreadable",
            "bytes_read": n,
            "detail": f"cannot read {path}: {exc.strerror or exc}",
        }
    finally:
        progress.finish()
    digest = h.hexdigest()
    same = digest == registered
    return {
        "outcome": "match" if same else "mismatch",
        "sha256": digest,
        "bytes_read": n,
        "detail": (
            "SHA-256 equals the one taken at registration"
            if same
            else f"SHA-256 differs from the one taken at registration ({registered}): "
            "the file changed since; do not use it before finding out why"
        ),
    }
