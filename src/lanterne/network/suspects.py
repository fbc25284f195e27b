"""Suspects from the investigators' file: who they are, their identifiers, their seized items.

The file (CSV or JSON Lines, see :mod:`lanterne.network.tabular`) has one suspect a row:

=================  =============================================================================
``id``             required, unique in the file: the investigators' suspect id (``suspect_id``)
``name``           the name as the file writes it
``birth_date``     ``YYYY-MM-DD`` (``dob``, ``date_of_birth``), or ``birth_year`` alone
``occupation``     the job (prioritisation maps it to access to children)
``region``         region of the case's country, ``address``
``country``        ISO 3166-1 alpha-2; default: ``[network] country`` of ``case.toml``
``identifiers``    phone numbers (E.164, or national numbers of the suspect's country) and
                   ``kind:value`` (aci, pni, username, email, ``<platform>-id``); ``;`` or ``|``
                   separated in CSV, a list in JSON Lines (``phone``, ``phones``)
``evidence``       labels of the items seized from the suspect, ``;`` separated (registered
                   now or later)
``notes``          free text
=================  =============================================================================

A malformed row (no id, an id already in the file, a bad date or year, an unknown identifier
kind) is rejected with its line and reason; the other rows are imported, in one transaction.
Importing is idempotent: the same file again changes nothing; a changed row updates its suspect
and the row's identifiers and items replace the old ones. Suspects absent from the file are
kept (a case may have several files). Each suspect records the file and line that last wrote it.
The watchlists are matched again afterwards (:func:`lanterne.network.watchlist.match_watchlists`).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.messaging.identity import Ident, identifier_ids
from lanterne.network.subjects import load_links
from lanterne.network.tabular import (
    BadRow,
    ImportReport,
    Row,
    TableFile,
    birth,
    country_code,
    default_country,
    identifier,
)
from lanterne.network.watchlist import match_watchlists

FIELDS = (
    "id",
    "name",
    "birth_date",
    "birth_year",
    "occupation",
    "region",
    "address",
    "country",
    "identifiers",
    "evidence",
    "notes",
)

ALIASES = {
    "suspect_id": "id",
    "suspect": "id",
    "key": "id",
    "full_name": "name",
    "suspect_name": "name",
    "dob": "birth_date",
    "date_of_birth": "birth_date",
    "birthdate": "birth_date",
    "yob": "birth_year",
    "year_of_birth": "birth_year",
    "birthyear": "birth_year",
    "job": "occupation",
    "profession": "occupation",
    "country_code": "country",
    "identifier": "identifiers",
    "phone": "identifiers",
    "phones": "identifiers",
    "phone_numbers": "identifiers",
    "evidence_labels": "evidence",
    "items": "evidence",
    "labels": "evidence",
    "note": "notes",
    "comment": "notes",
    "comments": "notes",
}
"""Other names the file may give a field (after lowercasing; spaces and hyphens read as ``_``)."""

_DATA = (
    "name",
    "birth_date",
    "birth_year",
    "occupation",
    "region",
    "address",
    "country",
    "notes",
    "source",
    "line",
)
"""The suspect columns a row writes (compared to tell a changed row from an unchanged one)."""


@dataclass(frozen=True, slots=True)
class SuspectRecord:
    """One accepted row of a suspects file, normalised."""

    key: str
    line: int
    values: dict[str, Any]
    identifiers: tuple[Ident, ...]
    evidence: tuple[str, ...]


def import_suspects(case: Case, path: Path) -> ImportReport:
    """Import a suspects file into the case (idempotent); see the module's description."""
    table = TableFile(path, ALIASES)
    if table.columns is not None and "id" not in table.columns:
        raise UserError(
            f"{path} has no id column (accepted names: id, suspect_id, suspect, key); "
            f"its columns: {', '.join(c for c in table.columns if c) or 'none'}"
        )
    source = str(path.absolute())
    report = ImportReport(source)
    region = default_country(case)
    records: list[SuspectRecord] = []
    first_line: dict[str, int] = {}
    ignored: set[str] = set()
    for row in table:
        report.rows += 1
        if isinstance(row, BadRow):
            report.rejected.append((row.line, row.reason))
            continue
        ignored.update(f for f in row.fields if f not in FIELDS)
        try:
            record = _record(row, source, region)
        except ValueError as exc:
            report.rejected.append((row.line, str(exc)))
            continue
        if record.key in first_line:
            report.rejected.append(
                (row.line, f"id {record.key!r} is already on line {first_line[record.key]}")
            )
            continue
        first_line[record.key] = row.line
        records.append(record)
    report.ignored_fields = sorted(ignored)
    report.numbers_as_written = _as_written(records)
    with case.store.engine.begin() as conn:
        _store(conn, records, report)
        report.hits = match_watchlists(conn)
    return report


def _record(row: Row, source: str, default_region: str | None) -> SuspectRecord:
    key = row.text("id")
    if not key:
        raise ValueError("no id: every suspect needs the investigators' id")
    if len(key) > 100:
        raise ValueError(f"id {key[:20]!r}… is longer than 100 characters")
    country_text = row.text("country")
    country = country_code(country_text) if country_text else default_region
    birth_date, birth_year = birth(row.text("birth_date"), row.text("birth_year"))
    idents = tuple(dict.fromkeys(identifier(i, country) for i in row.items("identifiers")))
    labels = tuple(dict.fromkeys(row.items("evidence")))
    long = [label for label in labels if len(label) > 200]
    if long:
        raise ValueError(f"evidence label {long[0][:20]!r}… is longer than 200 characters")
    values = {
        "name": _collapsed(row.text("name")),
        "birth_date": birth_date,
        "birth_year": birth_year,
        "occupation": _collapsed(row.text("occupation")),
        "region": _collapsed(row.text("region")),
        "address": row.text("address"),
        "country": country,
        "notes": row.text("notes"),
        "source": source,
        "line": row.line,
    }
    return SuspectRecord(key, row.line, values, idents, labels)


def _as_written(records: Iterable[SuspectRecord]) -> list[str]:
    return sorted({i.value for r in records for i in r.identifiers if i.kind == "phone"})


def _collapsed(text: str | None) -> str | None:
    """The text with runs of whitespace as one space; None when blank."""
    if not text:
        return None
    return " ".join(text.split()) or None


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _store(conn: Connection, records: list[SuspectRecord], report: ImportReport) -> None:
    s, si, se = schema.suspect, schema.suspect_identifier, schema.suspect_evidence
    ids = identifier_ids(conn, (i for r in records for i in r.identifiers))
    keys = [r.key for r in records]
    old: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(keys):
        for row in conn.execute(select(s).where(s.c.key.in_(chunk))):
            old[row.key] = dict(row._mapping)
    old_ids = {m["id"]: key for key, m in old.items()}
    old_idents: dict[int, set[int]] = {}
    old_labels: dict[int, set[str]] = {}
    for chunk in _chunks(sorted(old_ids)):
        for sid, iid in conn.execute(
            select(si.c.suspect_id, si.c.identifier_id).where(si.c.suspect_id.in_(chunk))
        ):
            old_idents.setdefault(sid, set()).add(iid)
        for sid, label in conn.execute(
            select(se.c.suspect_id, se.c.label).where(se.c.suspect_id.in_(chunk))
        ):
            old_labels.setdefault(sid, set()).add(label)

    now, user = utcnow(), getpass.getuser()
    fresh: list[SuspectRecord] = []
    relink: list[tuple[int, SuspectRecord]] = []
    for record in records:
        idents = {ids[i] for i in record.identifiers}
        labels = set(record.evidence)
        report.identifiers += len(idents)
        report.evidence_labels += len(labels)
        before = old.get(record.key)
        if before is None:
            fresh.append(record)
            report.added += 1
            continue
        sid = before["id"]
        same = all(before[c] == record.values[c] for c in _DATA)
        if same and old_idents.get(sid, set()) == idents and old_labels.get(sid, set()) == labels:
            report.unchanged += 1
            continue
        report.updated += 1
        conn.execute(
            update(s)
            .where(s.c.id == sid)
            .values(**record.values, imported_by=user, imported_at=now)
        )
        relink.append((sid, record))
    if fresh:
        conn.execute(
            insert(s),
            [{"key": r.key, **r.values, "imported_by": user, "imported_at": now} for r in fresh],
        )
        new_ids: dict[str, int] = {}
        for chunk in _chunks([r.key for r in fresh]):
            new_ids.update(
                {k: i for k, i in conn.execute(select(s.c.key, s.c.id).where(s.c.key.in_(chunk)))}
            )
        relink.extend((new_ids[r.key], r) for r in fresh)
    for chunk in _chunks(sorted(sid for sid, _ in relink if sid in old_ids)):
        conn.execute(delete(si).where(si.c.suspect_id.in_(chunk)))
        conn.execute(delete(se).where(se.c.suspect_id.in_(chunk)))
    ident_rows = [
        {"suspect_id": sid, "identifier_id": iid}
        for sid, r in relink
        for iid in sorted({ids[i] for i in r.identifiers})
    ]
    label_rows = [{"suspect_id": sid, "label": label} for sid, r in relink for label in r.evidence]
    if ident_rows:
        conn.execute(insert(si), ident_rows)
    if label_rows:
        conn.execute(insert(se), label_rows)
    report.unknown_evidence = _unknown_labels(conn, {lb for r in records for lb in r.evidence})


def _unknown_labels(conn: Connection, labels: set[str]) -> list[str]:
    ev = schema.evidence
    known: set[str] = set()
    for chunk in _chunks(sorted(labels)):
        known.update(conn.execute(select(ev.c.label).where(ev.c.label.in_(chunk))).scalars())
    return sorted(labels - known)


# ------------------------------------------------------------------ reading them back
def list_suspects(case: Case) -> list[dict[str, Any]]:
    """Every suspect with identifiers, items (registered or not yet), the chat persons that
    are them (with the reasons) and watchlist hits on them or on those persons; JSON-ready."""
    s, si, se, ident, ev = (
        schema.suspect,
        schema.suspect_identifier,
        schema.suspect_evidence,
        schema.identifier,
        schema.evidence,
    )
    with case.store.engine.connect() as conn:
        links = load_links(conn)
        rows = conn.execute(select(s).order_by(s.c.key)).all()
        idents: dict[int, list[str]] = {}
        for sid, kind, value in conn.execute(
            select(si.c.suspect_id, ident.c.kind, ident.c.value)
            .join(ident, ident.c.id == si.c.identifier_id)
            .order_by(si.c.suspect_id, ident.c.kind, ident.c.value)
        ):
            idents.setdefault(sid, []).append(f"{kind}:{value}")
        labels: dict[int, set[str]] = {}
        for sid, label in conn.execute(select(se.c.suspect_id, se.c.label)):
            labels.setdefault(sid, set()).add(label)
        registered = set(conn.execute(select(ev.c.label)).scalars())
        hits = _hits_by_subject(conn)
    out = []
    for row in rows:
        m = row._mapping
        sid = m["id"]
        items = labels.get(sid, set()) | set(links.evidence.get(sid, {}).values())
        persons = links.persons.get(sid, {})
        subject_hits = [dict(h, via="suspect") for h in hits.get(("suspect", sid), [])]
        for person in sorted(persons):
            subject_hits += [
                dict(h, via=f"person {person}") for h in hits.get(("person", person), [])
            ]
        out.append(
            {
                "id": sid,
                "key": m["key"],
                "name": m["name"],
                "birth_date": m["birth_date"],
                "birth_year": m["birth_year"],
                "occupation": m["occupation"],
                "region": m["region"],
                "address": m["address"],
                "country": m["country"],
                "notes": m["notes"],
                "source": m["source"],
                "line": m["line"],
                "identifiers": idents.get(sid, []),
                "items": [{"label": lb, "registered": lb in registered} for lb in sorted(items)],
                "persons": [{"person": p, "reasons": persons[p]} for p in sorted(persons)],
                "hits": subject_hits,
            }
        )
    return out


def _hits_by_subject(conn: Connection) -> dict[tuple[str, int], list[dict[str, Any]]]:
    h, e, w = schema.watchlist_hit, schema.watchlist_entry, schema.watchlist
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for subject, subject_id, field_, value, name, key in conn.execute(
        select(h.c.subject, h.c.subject_id, h.c.field, h.c.value, w.c.name, e.c.key)
        .join(e, e.c.id == h.c.entry_id)
        .join(w, w.c.id == e.c.watchlist_id)
        .order_by(h.c.id)
    ):
        out.setdefault((subject, subject_id), []).append(
            {"watchlist": name, "entry": key, "field": field_, "value": value}
        )
    return out
