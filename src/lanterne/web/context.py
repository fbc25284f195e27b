"""What a request works on: the served case, and a read connection to its store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request
from sqlalchemy import Connection

from lanterne.case.workspace import Case


def case_of(request: Request) -> Case:
    found: Case = request.app.state.case
    return found


@contextmanager
def reading(request: Request) -> Iterator[Connection]:
    with case_of(request).store.engine.connect() as conn:
        yield conn
