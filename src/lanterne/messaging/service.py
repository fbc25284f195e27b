"""``lanterne chats import``: find the chat database, open it, import it, match what it held.

A chat database is imported from a path given by the examiner (registered as an evidence item
first, if it is not already one) or found inside a registered item, where the ingest recorded
it in ``app_data`` (a Signal profile on a seized computer's disk image, a backup on a phone
extraction). Working copies live in the case folder under ``chats/``; the evidence is only
read.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lanterne import provenance as prov
from lanterne.case.store import EvidenceRecord
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.evidence.extract import extract_folder
from lanterne.evidence.registry import add_evidence
from lanterne.hashsets.matching import match_exact
from lanterne.messaging.importer import ChatImport, import_chat_database
from lanterne.messaging.records import ChatDatabase
from lanterne.progress import NoProgress, Progress
from lanterne.provenance import Provenance, Step

FORMATS = ("signal-desktop", "signal-android-backup", "generic")
"""What ``chats import`` reads; ``generic`` is the CSV / JSON Lines layout of
:mod:`lanterne.messaging.generic`."""

_APP_DATA = {"signal-desktop": "signal-desktop", "signal-android-backup": "signal-android-backup"}
"""The ``app_data`` marker each format is found by inside registered items."""


@dataclass(frozen=True, slots=True)
class Secrets:
    """What the examiner supplied to open encrypted databases."""

    key: str | None = None
    password: str | None = None
    key_file: Path | None = None
    passphrase: str | None = None


@dataclass(frozen=True, slots=True)
class Located:
    """A chat database to import: the item, the chain of its file (or profile folder), and
    where its files can be read on this machine."""

    evidence: EvidenceRecord
    chain: Provenance
    local: Path


def import_chats(
    case: Case,
    fmt: str,
    path: Path | None = None,
    *,
    evidence: str | None = None,
    label: str | None = None,
    suspect: str | None = None,
    secrets: Secrets | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> tuple[list[ChatImport], int]:
    """Import the chat database(s) at ``path`` or found in item ``evidence``; returns what
    each import gave and the new hash-set matches."""
    if fmt not in FORMATS:
        raise UserError(f"unknown chat format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if (path is None) == (evidence is None):
        raise UserError("give either the path of the chat data or --evidence LABEL, not both")
    secrets = secrets or Secrets()
    progress = progress or NoProgress()
    if path is not None:
        found = [_register(case, fmt, path, label, suspect)]
    else:
        assert evidence is not None
        found = _in_evidence(case, fmt, evidence)
    results = []
    for located in found:
        work = case.root / "chats" / _workname(located)
        work.mkdir(parents=True, exist_ok=True)
        db = _open(fmt, located, work, secrets, progress)
        db_chain = located.chain
        if fmt == "signal-desktop":  # rows hang below the database file of the profile
            db_chain = _below(located.chain, "sql/db.sqlite")
        results.append(
            import_chat_database(case, located.evidence, db_chain, db, progress, workers)
        )
        if fmt != "signal-android-backup":  # a backup's rebuilt database is kept for the examiner
            shutil.rmtree(work, ignore_errors=True)
    from lanterne.network.watchlist import match_watchlists  # new persons may be on record

    with case.store.engine.begin() as conn:
        match_watchlists(conn)
    return results, match_exact(case)


def _workname(located: Located) -> str:
    return f"{located.evidence.id}-{prov.key(located.chain)[:16]}"


def _below(chain: Provenance, rel: str) -> Provenance:
    last = chain[-1]
    path = str(PurePosixPath(last.path) / rel) if last.path not in ("", ".") else rel
    return (*chain[:-1], Step(last.kind, path))


def _register(case: Case, fmt: str, path: Path, label: str | None, suspect: str | None) -> Located:
    """The evidence item at ``path``: the one registered there, or a new one."""
    path = path.absolute()
    if not path.exists():
        raise UserError(f"{path} does not exist; give the {fmt} data's path")
    if fmt == "signal-desktop" and not (path / "sql" / "db.sqlite").is_file():
        raise UserError(
            f"{path} is not a Signal Desktop profile (no sql/db.sqlite): give the folder "
            "holding config.json and sql/, e.g. …/AppData/Roaming/Signal"
        )
    if fmt != "signal-desktop" and not path.is_file():
        raise UserError(f"{path} is not a file")
    ev = next((e for e in case.store.list_evidence() if Path(e.location) == path), None)
    if ev is None:
        kind = "folder" if path.is_dir() else "file"
        ev = add_evidence(case, path, label or path.name, suspect=suspect, kind=kind)
    root = (Step("evidence", ev.label),)
    chain = (*root, Step("folder", ".")) if path.is_dir() else (*root, Step("file", path.name))
    return Located(ev, chain, path)


def _in_evidence(case: Case, fmt: str, label: str) -> list[Located]:
    ev = case.store.evidence_by_label(label)
    if ev is None:
        raise UserError(f"no evidence item labelled {label!r}; `lanterne evidence list` shows them")
    app = _APP_DATA.get(fmt)
    rows = [r for r in case.store.app_data(ev.id) if r["app"] == app] if app else []
    if not rows:
        state = "" if ev.status == "done" else " (it is not ingested yet: run `lanterne ingest`)"
        raise UserError(f"no {fmt} data was found in {label}{state}")
    found = []
    for row in rows:
        chain = prov.from_json(row["provenance"])
        if fmt == "signal-desktop":  # the profile: the folder holding sql/db.sqlite
            profile = str(PurePosixPath(chain[-1].path).parent.parent)
            chain = (*chain[:-1], Step(chain[-1].kind, profile))
        found.append(Located(ev, chain, _local(case, ev, chain)))
    return found


def _local(case: Case, ev: EvidenceRecord, chain: Provenance) -> Path:
    """Where the files at ``chain`` can be read here: in place for a folder item, else a copy
    made in the case folder."""
    if len(chain) == 2 and chain[1].kind == "folder" and Path(ev.location).is_dir():
        return Path(ev.location) / chain[1].path
    name = prov.key(chain)[:16]
    dest = case.root / "chats" / "extracted" / name
    marker = dest.with_suffix(".done")
    if not marker.exists():  # a copy interrupted earlier is made again
        shutil.rmtree(dest, ignore_errors=True)
        if not extract_folder(ev, chain, case.limits, dest, case.root / "chats" / "spool"):
            raise UserError(f"{prov.display_path(chain)} could not be read from {ev.label}")
        marker.touch()
    if dest.is_dir() and not (dest / "sql").exists() and len(list(dest.iterdir())) == 1:
        return next(dest.iterdir())  # a single file (a backup)
    return dest


def _open(
    fmt: str, located: Located, work: Path, secrets: Secrets, progress: Progress
) -> ChatDatabase:
    opener = _OPENERS[fmt]
    return opener(located.local, work, secrets, progress)


def _open_desktop(profile: Path, work: Path, s: Secrets, progress: Progress) -> ChatDatabase:
    from lanterne.messaging.signal_desktop import desktop_key, open_profile

    key = desktop_key(profile, key_hex=s.key, password=s.password, key_file=s.key_file)
    return open_profile(profile, key, work)


def _open_backup(path: Path, work: Path, s: Secrets, progress: Progress) -> ChatDatabase:
    from lanterne.messaging.signal_backup import open_backup

    if not s.passphrase:
        raise UserError("a Signal Android backup needs its 30-digit passphrase: pass --passphrase")
    return open_backup(path, s.passphrase, work, progress).database


def _open_generic(path: Path, work: Path, s: Secrets, progress: Progress) -> ChatDatabase:
    from lanterne.messaging.generic import open_export

    return open_export(path)


_OPENERS: dict[str, Callable[[Path, Path, Secrets, Progress], ChatDatabase]] = {
    "signal-desktop": _open_desktop,
    "signal-android-backup": _open_backup,
    "generic": _open_generic,
}
