"""Copying files out of a registered item, found by where the ingest saw them.

Importers need real files (a Signal profile with its database and attachments, a backup) that
may lie inside an archive inside a disk image. The ingest recorded their provenance; this walks
the item again, opens only the containers on the way, and copies the files under one folder of
the innermost layer into a scratch folder. The item itself is only read.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath

from lanterne.analyze.digest import HEAD_SIZE
from lanterne.analyze.filetype import identify
from lanterne.case.store import EvidenceRecord
from lanterne.config import Limits
from lanterne.errors import UserError
from lanterne.evidence.archive import open_container
from lanterne.evidence.base import Entry, Item
from lanterne.evidence.registry import source_for
from lanterne.provenance import Provenance, Step


def extract_folder(
    ev: EvidenceRecord, where: Provenance, limits: Limits, dest: Path, spool: Path
) -> int:
    """Copy the files of ``ev`` under ``where`` (a chain whose last step names a folder in
    its layer, ``ntfs:Users/a/AppData/Roaming/Signal``, or one file) into ``dest``, keeping
    their relative paths; returns how many were copied."""
    parent, last = where[:-1], where[-1]
    prefix = last.path.rstrip("/")
    limits = replace(limits, carve=False)  # only allocated files are wanted, and fast
    spool.mkdir(parents=True, exist_ok=True)
    copied = 0
    root = (Step("evidence", ev.label),)
    for entry in _under(source_for(ev, limits).walk(root), parent, limits, spool, 0):
        step = entry.provenance[-1]
        if step.kind != last.kind or not (
            step.path == prefix or step.path.startswith(prefix + "/")
        ):
            entry.release()
            continue
        rel = PurePosixPath(step.path[len(prefix) :].lstrip("/") or PurePosixPath(prefix).name)
        if any(part in ("..", "") for part in rel.parts):
            entry.release()
            continue
        target = dest.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with entry.open() as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        entry.release()
        copied += 1
    return copied


def _under(
    items: Iterator[Item], parent: Provenance, limits: Limits, spool: Path, depth: int
) -> Iterator[Entry]:
    """The entries whose chain continues ``parent`` by one step, opening the containers on
    the way there."""
    for item in items:
        if not isinstance(item, Entry):
            continue
        chain = item.provenance
        if chain[:-1] == parent:
            yield item
        elif len(chain) <= len(parent) and parent[: len(chain)] == chain:
            if depth >= limits.archive_max_depth:
                raise UserError(f"{item.name} is nested deeper than archive_max_depth allows")
            with item.open() as f:
                head = f.read(HEAD_SIZE)
            info = identify(head, item.name, item.size or len(head))
            if info.container is None:
                raise UserError(f"{item.name} is no longer a container this version can open")
            yield from _under(
                open_container(item, info.container, limits, spool),
                parent,
                limits,
                spool,
                depth + 1,
            )
            item.release()
        else:
            item.release()
