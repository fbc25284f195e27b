"""Ordered schema migrations (Alembic), applied on every store open.

Each revision in ``versions/`` is one step; never edit a released one, add the next.
"""
