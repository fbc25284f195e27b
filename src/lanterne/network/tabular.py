"""Tables the examiner brings: CSV or JSON Lines files of suspects and records.

Investigators keep suspects and records in spreadsheets and exports of other systems, so a
table is read leniently where the meaning is clear and strictly where it is not:

* **CSV**: a header row, UTF-8 (a byte-order mark is tolerated), the delimiter sniffed among
  comma, semicolon and tab from the header line. A row with more or fewer fields than the
  header is malformed.
* **JSON Lines**: one object per line (``.jsonl``, ``.ndjson``, ``.json``; any other name is
  sniffed from its first character). Lists are kept as lists, numbers become text.

Field names are case-insensitive (``Birth Date``, ``birth-date`` and ``birth_date`` are one
field) and each importer maps a few aliases onto its own names. Empty values are dropped. A row
that cannot be read (bad JSON, invalid UTF-8, a wrong number of fields) comes back as a
:class:`BadRow` with its line number, never as an exception: the importer reports it and goes
on. Problems of the whole file (missing, unreadable, no header, a column named twice) raise
:class:`~lanterne.errors.UserError`.

The field validators shared by the importers (birth dates, countries, identifiers) live here
too, so suspects and watchlist records are normalised alike and join each other and the chat
persons.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

import phonenumbers

from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.messaging.identity import Ident, phone

Value = str | list[str]
"""A field's value: text, or a list of texts (JSON Lines lists)."""

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_DELIMITERS = (",", ";", "\t")
_SURROGATE = re.compile("[\udc80-\udcff]")
_NOT_UTF8 = "not valid UTF-8 (save the file as UTF-8)"


@dataclass(frozen=True, slots=True)
class Row:
    """A row read from the table: its first line in the file and its non-empty fields."""

    line: int
    fields: dict[str, Value]

    def text(self, name: str) -> str | None:
        """The field as one text (a list is joined with ``;``), or None when absent."""
        value = self.fields.get(name)
        if value is None:
            return None
        return ";".join(value) if isinstance(value, list) else value

    def items(self, name: str) -> list[str]:
        """The field as a list: a list as is, a text split on ``;`` or ``|``."""
        return split_items(self.fields.get(name))


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that could not be read, and why."""

    line: int
    reason: str


def split_items(value: Value | None) -> list[str]:
    """The items of a list field: a list as is, a text split on ``;`` or ``|``; blanks dropped."""
    if value is None:
        return []
    parts = value if isinstance(value, list) else re.split(r"[;|]", value)
    return [p.strip() for p in parts if p.strip()]


def field_name(raw: str, aliases: Mapping[str, str] | None = None) -> str:
    """A column or key name, normalised: lowercase, runs of spaces/hyphens/dots as ``_``, then
    mapped through ``aliases`` (keys in normalised form)."""
    name = re.sub(r"[\s\-.]+", "_", raw.strip().lower()).strip("_")
    return (aliases or {}).get(name, name)


class TableFile:
    """A CSV or JSON Lines file of records; iterate it for :class:`Row` and :class:`BadRow`.

    Opening checks the file and (for CSV) its header; ``columns`` is the CSV header in
    normalised names (None for JSON Lines, whose rows each name their fields).
    """

    def __init__(self, path: Path, aliases: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.aliases = dict(aliases or {})
        if not path.exists():
            raise UserError(f"{path} does not exist; give the CSV or JSON Lines file")
        if not path.is_file():
            raise UserError(f"{path} is not a file; give the CSV or JSON Lines file")
        self.format = self._detect()
        self.delimiter = ","
        self.columns: list[str] | None = None
        if self.format == "csv":
            self._read_header()

    def _open(self) -> IO[str]:
        try:
            return self.path.open(newline="", encoding="utf-8-sig", errors="surrogateescape")
        except OSError as exc:
            raise UserError(f"cannot read {self.path}: {exc.strerror or exc}") from exc

    def _detect(self) -> str:
        suffix = self.path.suffix.lower()
        with self._open() as f:
            try:
                head = f.read(4096).lstrip()
            except OSError as exc:
                raise UserError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        if head.startswith("["):
            raise UserError(
                f"{self.path} holds a JSON array; give JSON Lines (one object per line) or CSV"
            )
        if suffix in JSON_SUFFIXES:
            return "jsonl"
        if suffix in CSV_SUFFIXES:
            return "csv"
        return "jsonl" if head.startswith("{") else "csv"

    def _read_header(self) -> None:
        with self._open() as f:
            try:
                first = f.readline()
            except OSError as exc:
                raise UserError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        if not first.strip():
            raise UserError(
                f"{self.path} is empty or has no header row; the first line names the columns"
            )
        if _SURROGATE.search(first):
            raise UserError(f"{self.path}: the header is {_NOT_UTF8}")
        self.delimiter = "\t" if self.path.suffix.lower() == ".tsv" else _sniff_delimiter(first)
        header = next(csv.reader([first], delimiter=self.delimiter))
        self.columns = [field_name(h, self.aliases) for h in header]
        named = [c for c in self.columns if c]
        twice = sorted({c for c in named if named.count(c) > 1})
        if twice:
            raise UserError(
                f"{self.path}: the header names {', '.join(twice)} more than once "
                "(aliases count as the same column)"
            )

    def __iter__(self) -> Iterator[Row | BadRow]:
        try:
            if self.format == "csv":
                yield from self._csv_rows()
            else:
                yield from self._json_rows()
        except OSError as exc:
            raise UserError(f"cannot read {self.path}: {exc.strerror or exc}") from exc

    def _csv_rows(self) -> Iterator[Row | BadRow]:
        assert self.columns is not None
        width = len(self.columns)
        with self._open() as f:
            f.readline()
            reader = csv.reader(itertools.chain([""], f), delimiter=self.delimiter, strict=True)
            next(reader)  # the blank stand-in for the header keeps line_num = physical line
            while True:
                start = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield BadRow(start, f"not readable as CSV: {exc}")
                    continue
                if not any(v.strip() for v in values):
                    continue
                if len(values) != width:
                    yield BadRow(
                        start,
                        f"{len(values)} fields where the header has {width} "
                        f"(delimiter {_delimiter_name(self.delimiter)})",
                    )
                    continue
                if any(_SURROGATE.search(v) for v in values):
                    yield BadRow(start, _NOT_UTF8)
                    continue
                fields: dict[str, Value] = {}
                for name, value in zip(self.columns, values, strict=True):
                    if name and value.strip():
                        fields[name] = value.strip()
                yield Row(start, fields)

    def _json_rows(self) -> Iterator[Row | BadRow]:
        with self._open() as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if _SURROGATE.search(line):
                    yield BadRow(n, _NOT_UTF8)
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield BadRow(n, f"not JSON: {exc.msg} (column {exc.colno})")
                    continue
                if not isinstance(obj, dict):
                    yield BadRow(n, "not a JSON object")
                    continue
                try:
                    yield Row(n, _json_fields(obj, self.aliases))
                except ValueError as exc:
                    yield BadRow(n, str(exc))


def _sniff_delimiter(header: str) -> str:
    """The delimiter of a header line: the most frequent of ``,`` ``;`` tab outside quotes."""
    bare = re.sub(r'"[^"]*"', "", header)
    counts = {d: bare.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab"}[delimiter]


def _json_fields(obj: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, Value]:
    fields: dict[str, Value] = {}
    for key, raw in obj.items():
        name = field_name(str(key), aliases)
        if not name:
            continue
        if name in fields:
            raise ValueError(f"field {name!r} given twice (aliases count as the same field)")
        value = _json_value(name, raw)
        if value:
            fields[name] = value
    return fields


def _json_value(name: str, raw: Any) -> Value | None:
    if raw is None:
        return None
    if isinstance(raw, list):
        items = []
        for item in raw:
            if isinstance(item, list | dict):
                raise ValueError(f"field {name!r}: a list may hold only texts and numbers")
            text = _scalar(item)
            if text:
                items.append(text)
        return items
    if isinstance(raw, dict):
        return json.dumps(raw, ensure_ascii=False, sort_keys=True)
    return _scalar(raw)


def _scalar(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


# ------------------------------------------------------------------ field validators
def default_country(case: Case) -> str | None:
    """``[network] country`` of ``case.toml``: the case's country, in which national phone
    numbers of the files are read (a row's own ``country`` wins)."""
    network = case.sections.get("network", {})
    raw = network.get("country") if isinstance(network, dict) else None
    if raw is None:
        return None
    try:
        return country_code(str(raw))
    except ValueError as exc:
        raise UserError(f"case.toml [network] country: {exc}") from None


def birth(date_text: str | None, year_text: str | None) -> tuple[str | None, int | None]:
    """A birth date (``YYYY-MM-DD``) and year, validated; the year follows from the date.

    Raises ValueError naming the bad value: a date in another form or that does not exist, a
    year outside 1900 … this year, a year that contradicts the date."""
    today = date.today()
    birth_date: str | None = None
    year: int | None = None
    if date_text:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date_text):
            raise ValueError(f"birth date {date_text!r} is not YYYY-MM-DD")
        try:
            parsed = date.fromisoformat(date_text)
        except ValueError:
            raise ValueError(f"birth date {date_text!r} is not a date") from None
        if parsed.year < 1900 or parsed > today:
            raise ValueError(f"birth date {date_text!r} is out of range (1900 to today)")
        birth_date, year = date_text, parsed.year
    if year_text:
        if not re.fullmatch(r"\d{4}", year_text):
            raise ValueError(f"birth year {year_text!r} is not a four-digit year")
        given = int(year_text)
        if not 1900 <= given <= today.year:
            raise ValueError(f"birth year {given} is out of range (1900 to {today.year})")
        if year is not None and given != year:
            raise ValueError(f"birth year {given} contradicts birth date {birth_date}")
        year = given
    return birth_date, year


def country_code(text: str) -> str:
    """An ISO 3166-1 alpha-2 country code (as phonenumbers knows them), uppercase."""
    code = text.strip().upper()
    if code in phonenumbers.SUPPORTED_REGIONS:
        return code
    hint = " (the United Kingdom is GB)" if code == "UK" else ""
    raise ValueError(f"country {text!r} is not an ISO 3166-1 alpha-2 code{hint}")


IDENTIFIER_KINDS = ("e164", "phone", "tel", "aci", "pni", "username", "email")
"""Kinds an identifier may be written with (``kind:value``), besides ``<platform>-id``; a bare
value is a phone number."""

_KIND = re.compile(r"^([A-Za-z][A-Za-z0-9_.\-]*)\s*:\s*(.*)$")
_PHONE_TEXT = re.compile(r"^\+?[0-9 ()./\-]+$")


def identifier(raw: str, region: str | None) -> Ident:
    """One identifier as the chat importers record it, so that it joins chat persons.

    A bare value is a phone number: E.164 when valid (a national number read with ``region``,
    the subject's country), else kind ``phone`` as written. ``kind:value`` gives the kind:
    ``aci``/``pni`` (UUIDs, lowercase), ``username`` (lowercase, without a leading ``@``),
    ``email`` (lowercase), ``<platform>-id`` (as written), ``e164``/``phone``/``tel`` (a
    number). Raises ValueError naming the value for an unknown kind or a bare non-number."""
    text = raw.strip()
    match = _KIND.match(text)
    if match is None:
        if not (_PHONE_TEXT.match(text) and sum(c.isdigit() for c in text) >= 3):
            raise ValueError(
                f"identifier {text!r} is not a phone number; write other identifiers as "
                "kind:value (aci, pni, username, email, <platform>-id)"
            )
        return phone(text, region)
    kind, value = match.group(1).lower(), match.group(2).strip()
    if not value:
        raise ValueError(f"identifier {text!r} has no value")
    if kind in ("e164", "phone", "tel"):
        return phone(value, region)
    if kind in ("aci", "pni"):
        try:
            return Ident(kind, str(uuid.UUID(value)))
        except ValueError:
            raise ValueError(f"{kind} {value!r} is not a UUID") from None
    if kind == "username":
        return Ident(kind, value.lstrip("@").lower())
    if kind == "email":
        if "@" not in value:
            raise ValueError(f"email {value!r} has no @")
        return Ident(kind, value.lower())
    if kind.endswith("-id") and len(kind) <= 16:
        return Ident(kind, value)
    raise ValueError(
        f"unknown identifier kind {kind!r}; use one of {', '.join(IDENTIFIER_KINDS)} "
        "or <platform>-id"
    )


# ------------------------------------------------------------------ what an import did
@dataclass
class ImportReport:
    """What an import of suspects or watchlist records did.

    ``rows``: data rows read; ``added``/``updated``/``unchanged``: accepted rows by effect;
    ``removed``: watchlist entries gone from a newer file of the same list; ``rejected``:
    (line, reason) of malformed rows; ``identifiers`` and ``evidence_labels``: links the
    accepted rows hold; ``unknown_evidence``: labels of no registered item (yet);
    ``ignored_fields``: fields the importer does not know (a misspelt column shows here);
    ``numbers_as_written``: numbers that are no valid E.164 number (kept as kind ``phone``, they
    match only the same text: a national number needs the row's or the case's country);
    ``hits``: new watchlist hits found after the import."""

    source: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    identifiers: int = 0
    evidence_labels: int = 0
    unknown_evidence: list[str] = field(default_factory=list)
    ignored_fields: list[str] = field(default_factory=list)
    numbers_as_written: list[str] = field(default_factory=list)
    hits: int = 0

    @property
    def accepted(self) -> int:
        return self.added + self.updated + self.unchanged

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "rejected": [{"line": line, "reason": reason} for line, reason in self.rejected],
            "identifiers": self.identifiers,
            "evidence_labels": self.evidence_labels,
            "unknown_evidence": self.unknown_evidence,
            "ignored_fields": self.ignored_fields,
            "numbers_as_written": self.numbers_as_written,
            "hits": self.hits,
        }
