"""Shared fixtures: a case on each supported database.

Tests taking ``db_url`` (or ``case``) run on SQLite and, when ``LANTERNE_TEST_PG_URL`` names a
PostgreSQL server (``scripts/test`` starts one), on a fresh PostgreSQL database too.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from lanterne.case.workspace import Case

PG_URL = os.environ.get("LANTERNE_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None for the embedded SQLite store, else the URL of a new, empty PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must run the store tests on PostgreSQL: set LANTERNE_TEST_PG_URL")
        pytest.skip("no PostgreSQL server: set LANTERNE_TEST_PG_URL (scripts/test does)")
    name = f"lanterne_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def case(tmp_path: Path, db_url: str | None) -> Iterator[Case]:
    c = Case.init(tmp_path / "case", "Test case", db_url)
    try:
        yield c
    finally:
        c.close()


def need_tools(*names: str) -> None:
    """Skip (fail under CI, which installs them) when Debian tools a test builds images with
    are missing: ``.ci/run`` lists the packages."""
    import shutil

    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide {', '.join(missing)} (see .ci/run)")
    pytest.skip(f"needs {', '.join(missing)} (Debian packages listed in .ci/run)")
