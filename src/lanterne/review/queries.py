"""What the review pages show: the grid, one item, the dashboard (read-only).

One import for the web application; the work is done in :mod:`~lanterne.review.grid`,
:mod:`~lanterne.review.item_page` and :mod:`~lanterne.review.dashboard`.
"""

from __future__ import annotations

from lanterne.review.dashboard import dashboard
from lanterne.review.grid import KINDS, MAX_PAGE_SIZE, STATES, GridItem, GridPage, grid
from lanterne.review.item_page import ITEM_LIMIT, item
from lanterne.review.remembered import forget_counts

__all__ = [
    "ITEM_LIMIT",
    "KINDS",
    "MAX_PAGE_SIZE",
    "STATES",
    "GridItem",
    "GridPage",
    "dashboard",
    "forget_counts",
    "grid",
    "item",
]
