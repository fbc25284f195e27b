"""Shared fixtures: a case on each supported database.

Tests taking ``db_url`` (or ``case``) run on SQLite and, when ``LANTERNE_TEST_PG_URL`` names a
PostgreSQL server (``scripts/test`` starts one), on a fresh PostgreSQL database too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lanterne.case.workspace import Case
from testkit import database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the embedded SQLite store, else the URL of a new, empty PostgreSQL database."""
    with database(request.param) as url:
        yield url


@pytest.fixture
def case(tmp_path: Path, db_url: str | None) -> Iterator[Case]:
    c = Case.init(tmp_path / "case", "Test case", db_url)
    try:
        yield c
    finally:
        c.close()
