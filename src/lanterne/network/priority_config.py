"""The weights of the priority score, from ``[priorities]`` of ``case.toml``, and the
occupations that give access to children.

Every key is documented in ``docs/priorities.md``; an unknown key is refused with the list of
valid ones (a typo must never silently fall back to a default weight). The two tables
(``category_weights`` and ``child_access_categories``) are merged key by key into the
defaults, so a case adds or changes one entry without repeating the others; a category given
an empty keyword list is dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from lanterne.case.workspace import Case
from lanterne.errors import UserError

DEFAULT_CATEGORY_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"1": 10.0, "2": 6.0, "3": 3.0, "A": 10.0, "B": 6.0, "C": 3.0}
)
"""Weight of one known-bad category (VICS-style numbers, UK-style letters); a key
``scheme:category`` applies to one scheme only; other categories take
``other_category_weight``."""

DEFAULT_CHILD_ACCESS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "education": ("*teacher*", "school", "tutor", "*lehrer*", "enseignant*", "instituteur"),
        "childcare": (
            "nursery",
            "kindergarten*",
            "daycare",
            "day care",
            "childminder",
            "nanny",
            "au pair",
            "erzieher*",
            "kita",
            "tagesmutter",
            "creche",
        ),
        "youth": ("coach", "youth worker", "scout leader", "camp", "jugend*", "animateur"),
        "health": (
            "paediatric*",
            "pediatric*",
            "children's nurse",
            "midwife",
            "kinderarzt",
            "kinderkrankenpfleger*",
            "hebamme",
        ),
        "care": ("foster*", "children's home", "social worker", "sozialarbeiter*", "kinderheim"),
    }
)
"""Occupation categories giving access to children → keywords (case- and accent-insensitive,
on word boundaries; ``*`` at either end also matches the rest of a word, e.g. ``*lehrer*``
matches "Grundschullehrerin")."""


@dataclass(frozen=True)
class PriorityConfig:
    """The weights of the score (``[priorities]`` of ``case.toml``; see docs/priorities.md)."""

    known_held: float = 1.0
    known_posted: float = 1.0
    category_weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_CATEGORY_WEIGHTS)
    other_category_weight: float = 4.0
    new_picture: float = 2.0
    new_video: float = 3.0
    production_serial: float = 40.0
    production_model: float = 12.0
    gps_cluster: float = 8.0
    gps_cluster_min: int = 3
    gps_cluster_radius_m: float = 250.0
    gps_cluster_max: int = 5
    posts: float = 2.0
    admin: float = 8.0
    admin_max_groups: int = 5
    bridging: float = 15.0
    watchlist: float = 30.0
    watchlist_weak: float = 10.0
    child_access: float = 25.0
    child_access_categories: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: DEFAULT_CHILD_ACCESS
    )

    @classmethod
    def from_case(cls, case: Case) -> PriorityConfig:
        return cls.from_mapping(case.sections.get("priorities", {}))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> PriorityConfig:
        """Validate ``[priorities]``: unknown keys and bad values are refused with the valid
        choices; the two tables are merged key by key into the defaults."""
        valid = [f.name for f in fields(cls)]
        if not isinstance(raw, Mapping):
            raise UserError("[priorities] in case.toml must be a table of weights")
        unknown = sorted(set(raw) - set(valid))
        if unknown:
            raise UserError(
                f"unknown key(s) {', '.join(unknown)} in [priorities] of case.toml; "
                f"valid keys: {', '.join(valid)}"
            )
        values: dict[str, Any] = {}
        for name, value in raw.items():
            where = f"[priorities] {name}"
            if name == "category_weights":
                table = _table(value, where)
                weights = dict(DEFAULT_CATEGORY_WEIGHTS)
                weights.update({str(k): _number(v, f"{where}.{k}") for k, v in table.items()})
                values[name] = MappingProxyType(weights)
            elif name == "child_access_categories":
                table = _table(value, where)
                cats = dict(DEFAULT_CHILD_ACCESS)
                for k, words in table.items():
                    cats[str(k)] = _keywords(words, f"{where}.{k}")
                values[name] = MappingProxyType({k: v for k, v in cats.items() if v})
            elif name in ("gps_cluster_min", "gps_cluster_max", "admin_max_groups"):
                if type(value) is not int or value < 1:
                    raise UserError(f"{where} must be a whole number of at least 1, not {value!r}")
                values[name] = value
            else:
                values[name] = _number(value, where)
                if name == "gps_cluster_radius_m" and values[name] <= 0:
                    raise UserError(f"{where} must be more than 0 metres")
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """Every weight in force, as ``[priorities]`` would write it."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["category_weights"] = dict(self.category_weights)
        out["child_access_categories"] = {
            k: list(v) for k, v in self.child_access_categories.items()
        }
        return out

    def category_weight(self, scheme: str | None, category: str) -> float:
        """The weight of a category: ``scheme:category`` first, then the category alone."""
        if scheme and f"{scheme}:{category}" in self.category_weights:
            return self.category_weights[f"{scheme}:{category}"]
        return self.category_weights.get(category, self.other_category_weight)


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UserError(f"{where} must be a table, e.g. {where.split()[-1]} = {{...}}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise UserError(f"{where} must be a number of at least 0, not {value!r}")
    return float(value)


def _keywords(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
        raise UserError(f'{where} must be a list of keywords, e.g. ["teacher", "tutor"]')
    return tuple(w.strip() for w in value)


def _fold(text: str) -> str:
    """Case- and accent-insensitive text with straight apostrophes."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'").replace("`", "'"))
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


@lru_cache(maxsize=1024)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    word = _fold(keyword.strip())
    head, tail = word.startswith("*"), word.endswith("*")
    core = r"\s+".join(re.escape(part) for part in word.strip("*").split())
    before, after = (r"\w*" if head else ""), (r"\w*" if tail else "")
    return re.compile(rf"(?<!\w){before}{core}{after}(?!\w)")


def child_access_match(
    occupation: str | None, config: PriorityConfig | None = None
) -> tuple[str, str] | None:
    """The first (category, keyword) of the configured occupation categories that the
    occupation matches, in the configuration's order; None when none does."""
    if not occupation or not occupation.strip():
        return None
    text = _fold(occupation)
    for category, words in (config or PriorityConfig()).child_access_categories.items():
        for word in words:
            if _keyword_pattern(word).search(text):
                return category, word
    return None


def child_access_category(
    occupation: str | None, config: PriorityConfig | None = None
) -> str | None:
    """The occupation category giving access to children that ``occupation`` falls in."""
    found = child_access_match(occupation, config)
    return found[0] if found else None
