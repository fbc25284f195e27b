"""Categorisation schemes: the categories a reviewer may give, and the key that gives each.

A scheme's name is the one hash sets carry (``hashset.scheme``: ``vics-us``, ``vics-uk``), so
that a reviewer's category and a hash set's category are compared only within one scheme, never
translated between schemes. Category values are written as the scheme's VICS documents write
them (``"1"``, ``"A"``); :data:`UNCATEGORISED` is the value of the ``u`` key in every scheme (a
reviewer looked and leaves it uncategorised).

The case chooses its scheme in ``case.toml``::

    [review]
    scheme = "vics-us"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lanterne.case.workspace import Case
from lanterne.errors import UserError

UNCATEGORISED = "uncategorised"
"""The category value of the ``u`` key: looked at, left uncategorised."""


@dataclass(frozen=True, slots=True)
class Category:
    """One category of a scheme: its stored ``value``, a ``label`` for people, its ``key``."""

    value: str
    label: str
    key: str


@dataclass(frozen=True, slots=True)
class Scheme:
    """A categorisation scheme: a name (as hash sets write it), a title and its categories,
    in keyboard order."""

    name: str
    title: str
    categories: tuple[Category, ...]

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.categories)

    def by_key(self, key: str) -> Category | None:
        """The category a key gives (``"1"``, ``"u"``), or None."""
        return next((c for c in self.categories if c.key == key.lower()), None)

    def category(self, value_or_key: str) -> Category:
        """The category with this value (or, failing that, this key); ValueError otherwise."""
        found = next((c for c in self.categories if c.value == value_or_key), None)
        found = found or self.by_key(value_or_key)
        if found is None:
            raise ValueError(
                f"{value_or_key!r} is not a category of {self.name} "
                f"(one of {', '.join(self.values)})"
            )
        return found

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (for the API and the pages' keyboard help)."""
        return {
            "name": self.name,
            "title": self.title,
            "categories": [
                {"value": c.value, "label": c.label, "key": c.key} for c in self.categories
            ],
        }


VICS_US = Scheme(
    "vics-us",
    "Project VIC (US)",
    (
        Category("0", "Non-pertinent", "0"),
        Category("1", "Child abuse material", "1"),
        Category("2", "Child exploitive / age difficult", "2"),
        Category("3", "CGI / animation", "3"),
        Category("4", "Comparison", "4"),
        Category(UNCATEGORISED, "Uncategorised", "u"),
    ),
)
"""Project VIC's US categories 0–4, the default scheme."""

VICS_UK = Scheme(
    "vics-uk",
    "CAID (UK)",
    (
        Category("A", "Category A", "1"),
        Category("B", "Category B", "2"),
        Category("C", "Category C", "3"),
        Category("non-indecent", "Not indecent", "0"),
        Category(UNCATEGORISED, "Uncategorised", "u"),
    ),
)
"""The UK sentencing categories A–C that CAID uses, keys 1–3, and 0 for not indecent."""

SCHEMES: dict[str, Scheme] = {s.name: s for s in (VICS_US, VICS_UK)}
"""Every scheme, by name."""

ALIASES = {"vics": "vics-us", "caid": "vics-uk"}
"""Other names accepted in ``case.toml`` and on the command line."""

DEFAULT_SCHEME = VICS_US.name


def scheme_by_name(name: str) -> Scheme:
    """The scheme of this name (or alias); a UserError naming the known ones otherwise."""
    key = name.strip().lower()
    found = SCHEMES.get(ALIASES.get(key, key))
    if found is None:
        raise UserError(
            f"unknown categorisation scheme {name!r}; use one of {', '.join(SCHEMES)} "
            "([review] scheme in case.toml)"
        )
    return found


def scheme_for(case: Case) -> Scheme:
    """The case's scheme: ``[review] scheme`` in ``case.toml``, Project VIC US by default."""
    review = case.sections.get("review", {})
    if not isinstance(review, dict):
        raise UserError('[review] in case.toml must be a table, e.g. scheme = "vics-us"')
    name = review.get("scheme", DEFAULT_SCHEME)
    if not isinstance(name, str):
        raise UserError('[review] scheme in case.toml must be a name, e.g. "vics-us"')
    return scheme_by_name(name)
