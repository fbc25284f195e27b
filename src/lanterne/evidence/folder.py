"""Folder evidence: a seized directory tree (a copied home folder, a mounted extraction).

Walked depth-first in name order (stable, so a resumed ingest meets entries in the same order),
never following symbolic links: a link is recorded as a warning with its target, which also
makes link loops harmless. Files are opened read-only without updating access times.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from lanterne.evidence.base import Entry, EntryWarning, EvidenceSource, Item, path_opener
from lanterne.provenance import Provenance, Step, decode_name

STAGE = "walk"


def _time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _step_name(name: str) -> tuple[str, str | None]:
    """A directory entry's name as text, plus raw hex when it is not valid UTF-8."""
    return decode_name(os.fsencode(name))


def _entry(chain: Provenance, name: str, path: Path, st: os.stat_result) -> Entry:
    """A regular file on this machine's file system, read in place."""
    return Entry(
        provenance=chain,
        name=name,
        size=st.st_size,
        opener=path_opener(path),
        mtime=_time(st.st_mtime),
        atime=_time(st.st_atime),
        ctime=_time(st.st_ctime),
        local_path=path,
    )


class FolderSource(EvidenceSource):
    NAME = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.is_dir()

    def walk(self, root: Provenance) -> Iterator[Item]:
        yield from self._walk_dir(self.root, "", root)

    def _walk_dir(self, directory: Path, rel: str, root: Provenance) -> Iterator[Item]:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            yield EntryWarning(
                root + (Step("folder", rel or "."),),
                STAGE,
                "unreadable",
                f"cannot list folder: {exc.strerror or exc}",
            )
            return
        for de in entries:
            text, raw = _step_name(de.name)
            rel_path = f"{rel}/{text}" if rel else text
            prov = root + (Step("folder", rel_path, raw),)
            if raw is not None:
                yield EntryWarning(prov, STAGE, "name-not-utf8", f"raw name bytes {raw}")
            try:
                st = de.stat(follow_symlinks=False)
            except OSError as exc:
                yield EntryWarning(prov, STAGE, "unreadable", f"cannot stat: {exc.strerror or exc}")
                continue
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = os.readlink(de.path)
                except OSError as exc:
                    target = f"(unreadable link: {exc.strerror})"
                yield EntryWarning(prov, STAGE, "symlink", f"not followed: -> {target}")
            elif stat.S_ISDIR(st.st_mode):
                yield from self._walk_dir(Path(de.path), rel_path, root)
            elif stat.S_ISREG(st.st_mode):
                yield _entry(prov, text, Path(de.path), st)
            else:
                yield EntryWarning(
                    prov,
                    STAGE,
                    "not-regular-file",
                    f"file type {stat.filemode(st.st_mode)[0]!r} not read",
                )


class FileSource(EvidenceSource):
    """A single seized file registered as evidence (an archive handed over by a partner)."""

    NAME = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.is_file()

    def walk(self, root: Provenance) -> Iterator[Item]:
        text, raw = _step_name(self.path.name)
        yield _entry(root + (Step("file", text, raw),), text, self.path, self.path.stat())


def folder_size(root: Path) -> int:
    """Total bytes of the regular files under ``root`` (links not followed)."""
    total = 0
    stack = [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for de in it:
                    try:
                        if de.is_dir(follow_symlinks=False):
                            stack.append(Path(de.path))
                        elif de.is_file(follow_symlinks=False):
                            total += de.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total
