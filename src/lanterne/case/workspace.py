"""A case workspace: one folder holding the case's configuration, store and derived files.

::

    CASE/
      case.toml        name, created, database URL (when not the embedded SQLite), [limits]
      case.db          the embedded SQLite store (absent when the case uses PostgreSQL)
      thumbnails/      small WebP thumbnails by SHA-256 (ab/abcdef….webp)
      tmp/             spool for archive members while ingesting; emptied at each run

Nothing Lanterne derives is ever written anywhere else.
"""

from __future__ import annotations

import getpass
import shutil
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import tomli_w

from lanterne.case.store import CaseStore, sqlite_url, utcnow
from lanterne.config import Limits
from lanterne.errors import UserError

CONFIG_NAME = "case.toml"


@dataclass
class Case:
    root: Path
    name: str
    created: datetime
    db_url: str | None
    limits: Limits
    sections: dict[str, Any] = field(default_factory=dict)
    """The other sections of ``case.toml`` (``[network]``, ``[priorities]``, ``[review]`` …),
    as written; each module that reads one validates it."""
    _store: CaseStore | None = None

    @property
    def store(self) -> CaseStore:
        if self._store is None:
            self._store = CaseStore(self.db_url or sqlite_url(self.root / "case.db"))
        return self._store

    @property
    def thumbnails(self) -> Path:
        return self.root / "thumbnails"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def thumbnail_path(self, sha256: str) -> Path:
        return self.thumbnails / sha256[:2] / f"{sha256}.webp"

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Case:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def init(cls, root: Path, name: str | None = None, db_url: str | None = None) -> Case:
        """Create a case folder and its store. Refuses a folder that already holds a case."""
        root = root.absolute()
        if (root / CONFIG_NAME).exists():
            raise UserError(f"{root} already holds a case; open it, or choose another folder")
        if root.exists() and not root.is_dir():
            raise UserError(f"{root} exists and is not a folder")
        if root.exists() and any(root.iterdir()):
            raise UserError(f"{root} is not empty; a case needs a new or empty folder")
        root.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "case": {
                "name": name or root.name,
                "created": utcnow().isoformat(timespec="seconds"),
                "created_by": getpass.getuser(),
            },
            "limits": {},
        }
        if db_url:
            config["case"]["database"] = db_url
        (root / CONFIG_NAME).write_text(tomli_w.dumps(config), encoding="utf-8")
        case = cls.open(root)
        try:
            _ = case.store  # creates and migrates the store now, so errors show at init
        except UserError:
            case.close()
            shutil.rmtree(root)
            raise
        case.thumbnails.mkdir(exist_ok=True)
        return case

    @classmethod
    def open(cls, root: Path) -> Case:
        root = root.absolute()
        path = root / CONFIG_NAME
        if not path.is_file():
            raise UserError(
                f"{root} is not a Lanterne case (no {CONFIG_NAME}); create one with "
                "`lanterne case init`"
            )
        try:
            config = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path} is not valid TOML: {exc}") from exc
        meta = config.get("case", {})
        return cls(
            root=root,
            name=str(meta.get("name", root.name)),
            created=datetime.fromisoformat(str(meta.get("created"))),
            db_url=meta.get("database"),
            limits=Limits.from_mapping(config.get("limits", {})),
            sections={k: v for k, v in config.items() if k not in ("case", "limits")},
        )
