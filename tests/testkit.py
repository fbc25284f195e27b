"""What tests import by name (a module of its own: the web tests have a ``conftest`` too, and
two ``conftest`` modules cannot both be imported by name): a throw-away database of each kind,
and the Debian tools check."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("LANTERNE_TEST_PG_URL")


@contextmanager
def database(kind: str) -> Iterator[str | None]:
    """None for the embedded SQLite store, else the URL of a new, empty PostgreSQL database
    (dropped afterwards); skips (fails under CI) without a PostgreSQL server."""
    if kind == "sqlite":
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


def need_tools(*names: str) -> None:
    """Skip (fail under CI, which installs them) when Debian tools a test builds images with
    are missing: ``.ci/run`` lists the packages."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide {', '.join(missing)} (see .ci/run)")
    pytest.skip(f"needs {', '.join(missing)} (Debian packages listed in .ci/run)")
