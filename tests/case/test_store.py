from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from lanterne.case import schema
from lanterne.case.store import Batch, CaseStore, utcnow
from lanterne.case.workspace import Case
from lanterne.errors import UserError


def _content(sha: str) -> dict[str, object]:
    return {
        "sha256": sha,
        "md5": "0" * 32,
        "sha1": "0" * 40,
        "size": 3,
        "mime": "text/plain",
        "kind": "text",
        "analyzed_at": utcnow(),
    }


def _file(ev: int, key: str, sha: str | None) -> dict[str, object]:
    return {
        "evidence_id": ev,
        "provenance_key": key,
        "provenance": "[]",
        "path": key,
        "name": key,
        "size": 3,
        "sha256": sha,
        "state": schema.STATE_DONE,
    }


def test_new_case_is_at_the_newest_schema(case: Case) -> None:
    assert case.store.schema_version() == CaseStore.head_version() == "0007"
    case.store.migrate()  # a second migration is a no-op
    assert case.store.schema_version() == "0007"


def test_duplicate_label_is_refused_and_changes_nothing(case: Case) -> None:
    case.store.add_evidence(label="PC-01", kind="folder", location="/x", registered_by="t")
    with pytest.raises(UserError, match="already registered"):
        case.store.add_evidence(label="PC-01", kind="folder", location="/y", registered_by="t")
    assert [e.location for e in case.store.list_evidence()] == ["/x"]


def test_writes_are_idempotent(case: Case) -> None:
    ev = case.store.add_evidence(label="E", kind="folder", location="/x", registered_by="t").id
    batch = Batch()
    batch.contents += [_content("a" * 64), _content("b" * 64)]
    batch.files += [_file(ev, "k1", "a" * 64), _file(ev, "k2", "b" * 64), _file(ev, "k3", None)]
    batch.warnings.append(
        {
            "evidence_id": ev,
            "provenance_key": "k3",
            "provenance": "[]",
            "path": "k3",
            "stage": "read",
            "reason": "unreadable",
            "detail": "",
            "created_at": utcnow(),
        }
    )
    for _ in range(3):
        case.store.write(batch)
    assert case.store.count(schema.content) == 2
    assert case.store.count(schema.file) == 3
    assert case.store.count(schema.warning) == 1
    assert case.store.existing_contents_errors(["a" * 64, "c" * 64]) == {"a" * 64: None}


def test_container_is_marked_done(case: Case) -> None:
    ev = case.store.add_evidence(label="E", kind="folder", location="/x", registered_by="t").id
    batch = Batch()
    batch.contents.append(_content("a" * 64))
    row = _file(ev, "zip", "a" * 64) | {"state": schema.STATE_OPEN, "container": "zip"}
    batch.files.append(row)
    case.store.write(batch)
    assert case.store.known_occurrences(ev)["zip"].state == schema.STATE_OPEN
    done = Batch()
    done.containers_done.append((ev, "zip"))
    case.store.write(done)
    assert case.store.known_occurrences(ev)["zip"].state == schema.STATE_DONE


def test_case_folder_rules(tmp_path: Path) -> None:
    Case.init(tmp_path / "c", "x").close()
    with pytest.raises(UserError, match="already holds a case"):
        Case.init(tmp_path / "c")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        Case.init(tmp_path / "full")
    with pytest.raises(UserError, match="not a Lanterne case"):
        Case.open(tmp_path / "full")


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot open the case database"):
        Case.init(tmp_path / "c", db_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert not (tmp_path / "c").exists()


def test_migrations_build_exactly_the_schema(case: Case) -> None:
    """The ordered migrations and schema.py describe the same tables, on every database."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with case.store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []


def test_a_case_from_the_first_version_is_upgraded_in_place(tmp_path: Path) -> None:
    """A case made before disk images (schema 0001) opens, migrates, and keeps its rows."""
    from alembic import command
    from alembic.config import Config

    from lanterne.case.store import sqlite_url

    url = sqlite_url(tmp_path / "old.db")
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", "lanterne.case:migrations")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            sa.text(
                "INSERT INTO evidence (label, kind, location, registered_by, registered_at, status)"
                " VALUES ('PC-01', 'folder', '/x', 't', '2026-01-01 00:00:00', 'done')"
            )
        )
    engine.dispose()
    store = CaseStore(url)
    try:
        assert store.schema_version() == "0007"
        ev = store.evidence_by_label("PC-01")
        assert ev is not None and (ev.kind, ev.format, ev.details_json) == ("folder", None, {})
        assert store.verifications(ev.id) == [] and store.app_data(ev.id) == []
    finally:
        store.close()
