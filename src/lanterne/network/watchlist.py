"""Watchlists: records to check suspects and chat persons against, and the hits they give.

A watchlist is a file of records such as an offence-history extract or a sex-offender register
extract (CSV or JSON Lines, see :mod:`lanterne.network.tabular`), imported under a name:

================  ==============================================================================
``record_id``     the record's id in its system (``id``, ``entry_id``, ``reference``); without
                  it the record is keyed by the SHA-256 of its normalised fields
``name``          the person's name
``birth_date``    ``YYYY-MM-DD`` (``dob``), or ``birth_year`` alone
``identifiers``   phone numbers and ``kind:value`` identifiers, as in the suspects file
``country``       ISO 3166-1 alpha-2, for national phone numbers (default: the case's country)
anything else     kept with the record (offence, date, register, authority …)
================  ==============================================================================

A row with neither a name nor an identifier, a bad date or year, an unknown identifier kind or
a record id already in the file is rejected with its line and reason. The list is what its
latest file says: the same file again changes nothing, a changed record is updated, and a
record gone from a newer file is removed with its hits (a rejected row keeps its old record).

Matching (:func:`match_watchlists`) records which record matches which subject, and on what:

* a **suspect** matches on a shared identifier (field: the identifier's kind), or on the same
  normalised name with the same birth date (``name+birth_date``) or, when one side knows only
  the year, the same birth year (``name+birth_year``, weaker);
* a **person** seen in chats matches on a shared identifier only: names alone never match.

Hits are kept equal to what the records, suspects and persons support now: new ones are
inserted, hits no longer supported (a changed record, merged persons) are removed.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from lanterne.analyze.digest import sha256_file
from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.errors import UserError
from lanterne.messaging.identity import Ident, identifier_ids
from lanterne.network.tabular import (
    BadRow,
    ImportReport,
    Row,
    TableFile,
    birth,
    country_code,
    default_country,
    identifier,
    split_items,
)
from lanterne.progress import NoProgress

ALIASES = {
    "id": "record_id",
    "entry_id": "record_id",
    "record_number": "record_id",
    "reference": "record_id",
    "ref": "record_id",
    "full_name": "name",
    "dob": "birth_date",
    "date_of_birth": "birth_date",
    "birthdate": "birth_date",
    "yob": "birth_year",
    "year_of_birth": "birth_year",
    "birthyear": "birth_year",
    "country_code": "country",
    "identifier": "identifiers",
    "phone": "identifiers",
    "phones": "identifiers",
    "phone_numbers": "identifiers",
}
"""Other names the file may give a field (after lowercasing; spaces and hyphens read as ``_``)."""

SUBJECTS = ("suspect", "person")


@dataclass(frozen=True, slots=True)
class EntryRecord:
    """One accepted record of a watchlist file."""

    key: str
    line: int
    name: str | None
    birth_date: str | None
    record: str
    identifiers: tuple[Ident, ...]


def import_watchlist(case: Case, path: Path, name: str) -> ImportReport:
    """Import (or refresh) the watchlist ``name`` from a file, then match the case against all
    watchlists; see the module's description."""
    name = name.strip()
    if not name or len(name) > 200:
        raise UserError("give the watchlist a name of 1 to 200 characters (--name)")
    table = TableFile(path, ALIASES)
    source = str(path.absolute())
    report = ImportReport(source)
    region = default_country(case)
    records: list[EntryRecord] = []
    first_line: dict[str, int] = {}
    kept: set[str] = set()  # keys of rejected rows: their old records stay
    for row in table:
        report.rows += 1
        if isinstance(row, BadRow):
            report.rejected.append((row.line, row.reason))
            continue
        try:
            record = _entry(row, region)
        except ValueError as exc:
            report.rejected.append((row.line, str(exc)))
            rid = row.text("record_id")
            if rid:
                kept.add(rid)
            continue
        if record.key in first_line:
            earlier = first_line[record.key]
            reason = (
                f"record id {record.key!r} is already on line {earlier}"
                if row.text("record_id")
                else f"the same record as line {earlier}"
            )
            report.rejected.append((row.line, reason))
            continue
        first_line[record.key] = row.line
        records.append(record)
    report.numbers_as_written = sorted(
        {i.value for r in records for i in r.identifiers if i.kind == "phone"}
    )
    digest, _ = sha256_file(path, NoProgress())
    with case.store.engine.begin() as conn:
        wid = _watchlist_row(conn, name, source, digest, len(records))
        _store(conn, wid, records, kept, report)
        report.hits = match_watchlists(conn)
    return report


def _entry(row: Row, default_region: str | None) -> EntryRecord:
    country_text = row.text("country")
    region = country_code(country_text) if country_text else default_region
    birth_date, birth_year = birth(row.text("birth_date"), row.text("birth_year"))
    name = " ".join((row.text("name") or "").split()) or None
    idents = tuple(dict.fromkeys(identifier(i, region) for i in row.items("identifiers")))
    if name is None and not idents:
        raise ValueError("nothing to match on: give a name (with a birth date) or identifiers")
    rid = row.text("record_id")
    if rid is not None and len(rid) > 64:
        raise ValueError(f"record id {rid[:20]!r}… is longer than 64 characters")
    normal: dict[str, Any] = {}
    for field_, value in row.fields.items():
        if field_ == "identifiers":
            normal[field_] = sorted(f"{i.kind}:{i.value}" for i in idents)
        elif isinstance(value, list):
            normal[field_] = [" ".join(v.split()) for v in value]
        else:
            normal[field_] = " ".join(value.split())
    if birth_year is not None:
        normal["birth_year"] = str(birth_year)
    key = (
        rid
        or hashlib.sha256(
            json.dumps(normal, ensure_ascii=False, sort_keys=True).encode()
        ).hexdigest()
    )
    record = json.dumps(row.fields, ensure_ascii=False, sort_keys=True)
    return EntryRecord(key, row.line, name, birth_date, record, idents)


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _watchlist_row(conn: Connection, name: str, source: str, digest: str, entries: int) -> int:
    w = schema.watchlist
    old = conn.execute(select(w).where(w.c.name == name)).first()
    values = {"source": source, "source_sha256": digest, "entries": entries}
    if old is None:
        stamp = {"imported_by": getpass.getuser(), "imported_at": utcnow()}
        return int(
            conn.execute(
                insert(w).values(name=name, **values, **stamp).returning(w.c.id)
            ).scalar_one()
        )
    m = old._mapping
    if any(m[k] != v for k, v in values.items()):
        conn.execute(
            update(w)
            .where(w.c.id == m["id"])
            .values(**values, imported_by=getpass.getuser(), imported_at=utcnow())
        )
    return int(m["id"])


def _store(
    conn: Connection,
    wid: int,
    records: list[EntryRecord],
    kept: set[str],
    report: ImportReport,
) -> None:
    e, ei, h = schema.watchlist_entry, schema.watchlist_entry_identifier, schema.watchlist_hit
    ids = identifier_ids(conn, (i for r in records for i in r.identifiers))
    old = {
        row.key: row._mapping
        for row in conn.execute(
            select(e.c.id, e.c.key, e.c.name, e.c.birth_date, e.c.record, e.c.line).where(
                e.c.watchlist_id == wid
            )
        )
    }
    old_idents: dict[int, set[int]] = {}
    for eid, iid in conn.execute(
        select(ei.c.entry_id, ei.c.identifier_id)
        .join(e, e.c.id == ei.c.entry_id)
        .where(e.c.watchlist_id == wid)
    ):
        old_idents.setdefault(eid, set()).add(iid)

    fresh: list[EntryRecord] = []
    changed: list[tuple[int, EntryRecord]] = []
    for r in records:
        idents = {ids[i] for i in r.identifiers}
        report.identifiers += len(idents)
        before = old.get(r.key)
        if before is None:
            fresh.append(r)
            continue
        now = (r.name, r.birth_date, r.record, r.line)
        was = (before["name"], before["birth_date"], before["record"], before["line"])
        if now == was and old_idents.get(before["id"], set()) == idents:
            report.unchanged += 1
        else:
            changed.append((before["id"], r))
    report.added, report.updated = len(fresh), len(changed)

    wanted = {r.key for r in records} | kept
    gone = sorted(m["id"] for key, m in old.items() if key not in wanted)
    report.removed = len(gone)
    for chunk in _chunks(gone):
        conn.execute(delete(h).where(h.c.entry_id.in_(chunk)))
    for chunk in _chunks(gone + sorted(eid for eid, _ in changed)):
        conn.execute(delete(ei).where(ei.c.entry_id.in_(chunk)))
    for chunk in _chunks(gone):
        conn.execute(delete(e).where(e.c.id.in_(chunk)))
    # the hits of changed records are brought up to date by match_watchlists: those still
    # supported keep their time of match
    for eid, r in changed:
        conn.execute(
            update(e)
            .where(e.c.id == eid)
            .values(name=r.name, birth_date=r.birth_date, record=r.record, line=r.line)
        )
    relink = list(changed)
    if fresh:
        conn.execute(
            insert(e),
            [
                {
                    "watchlist_id": wid,
                    "key": r.key,
                    "name": r.name,
                    "birth_date": r.birth_date,
                    "record": r.record,
                    "line": r.line,
                }
                for r in fresh
            ],
        )
        new_ids: dict[str, int] = {}
        for chunk in _chunks([r.key for r in fresh]):
            new_ids.update(
                {
                    k: i
                    for k, i in conn.execute(
                        select(e.c.key, e.c.id).where(e.c.watchlist_id == wid, e.c.key.in_(chunk))
                    )
                }
            )
        relink.extend((new_ids[r.key], r) for r in fresh)
    rows = [
        {"entry_id": eid, "identifier_id": iid}
        for eid, r in relink
        for iid in sorted({ids[i] for i in r.identifiers})
    ]
    for chunk in _chunks(rows, 5000):
        conn.execute(insert(ei), list(chunk))


# ------------------------------------------------------------------ matching
_FOLD = str.maketrans(
    {"ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th", "ð": "d"}
)


def normalise_name(name: str) -> str:
    """A name as compared: accents removed, case folded, apostrophes dropped, punctuation and
    whitespace as one space, tokens sorted (``Doe, John`` = ``john DOE`` = ``Jöhn Doe``)."""
    folded = unicodedata.normalize("NFKD", name.casefold().translate(_FOLD))
    bare = "".join(c for c in folded if not unicodedata.combining(c))
    bare = re.sub(r"['’`´]", "", bare)
    return " ".join(sorted(re.findall(r"[^\W_]+", bare)))


_HitKey = tuple[int, str, int, str]
"""(entry id, subject, subject id, field): one hit."""


def match_watchlists(conn: Connection) -> int:
    """Bring the hits of every watchlist record up to date; returns the number of new hits.

    Runs in the caller's transaction; the suspects and watchlist imports call it, and so
    should every import that adds persons or identifiers (chats)."""
    wanted: dict[_HitKey, str] = {}
    for key, value in _identifier_hits(conn):
        if key not in wanted or value < wanted[key]:
            wanted[key] = value
    for key, value in _name_hits(conn):
        wanted.setdefault(key, value)
    h = schema.watchlist_hit
    existing: dict[_HitKey, tuple[int, str]] = {
        (r.entry_id, r.subject, r.subject_id, r.field): (r.id, r.value)
        for r in conn.execute(
            select(h.c.id, h.c.entry_id, h.c.subject, h.c.subject_id, h.c.field, h.c.value)
        )
    }
    stale = sorted(hid for key, (hid, _) in existing.items() if key not in wanted)
    for chunk in _chunks(stale):
        conn.execute(delete(h).where(h.c.id.in_(chunk)))
    for key, (hid, value) in existing.items():
        if key in wanted and wanted[key] != value:
            conn.execute(update(h).where(h.c.id == hid).values(value=wanted[key]))
    now = utcnow()
    new = [
        {
            "entry_id": entry,
            "subject": subject,
            "subject_id": sid,
            "field": field_,
            "value": value,
            "matched_at": now,
        }
        for (entry, subject, sid, field_), value in sorted(wanted.items())
        if (entry, subject, sid, field_) not in existing
    ]
    for chunk in _chunks(new, 5000):
        conn.execute(insert(h), list(chunk))
    return len(new)


def _identifier_hits(conn: Connection) -> Iterable[tuple[_HitKey, str]]:
    ei, si, ident = (
        schema.watchlist_entry_identifier,
        schema.suspect_identifier,
        schema.identifier,
    )
    pi, p = schema.participant_identifier, schema.participant
    for entry, sid, kind, value in conn.execute(
        select(ei.c.entry_id, si.c.suspect_id, ident.c.kind, ident.c.value)
        .join(si, si.c.identifier_id == ei.c.identifier_id)
        .join(ident, ident.c.id == ei.c.identifier_id)
    ):
        yield (entry, "suspect", sid, kind), value
    for entry, person, kind, value in conn.execute(
        select(ei.c.entry_id, p.c.person_id, ident.c.kind, ident.c.value)
        .join(pi, pi.c.identifier_id == ei.c.identifier_id)
        .join(p, p.c.id == pi.c.participant_id)
        .join(ident, ident.c.id == ei.c.identifier_id)
        .distinct()
    ):
        yield (entry, "person", person, kind), value


def _name_hits(conn: Connection) -> Iterable[tuple[_HitKey, str]]:
    s, e = schema.suspect, schema.watchlist_entry
    suspects: dict[str, list[tuple[int, str | None, int | None]]] = {}
    for sid, name, birth_date, birth_year in conn.execute(
        select(s.c.id, s.c.name, s.c.birth_date, s.c.birth_year).where(
            s.c.name.is_not(None), (s.c.birth_date.is_not(None)) | (s.c.birth_year.is_not(None))
        )
    ):
        normal = normalise_name(name)
        if normal:
            suspects.setdefault(normal, []).append((sid, birth_date, birth_year))
    if not suspects:
        return
    for entry, name, birth_date, record in conn.execute(
        select(e.c.id, e.c.name, e.c.birth_date, e.c.record).where(e.c.name.is_not(None))
    ):
        found = suspects.get(normalise_name(name))
        if not found:
            continue
        year = _entry_year(birth_date, record)
        for sid, s_date, s_year in found:
            if birth_date and s_date:
                if birth_date == s_date:
                    yield (entry, "suspect", sid, "name+birth_date"), f"{name}, {birth_date}"
            elif year is not None and year == s_year:
                yield (entry, "suspect", sid, "name+birth_year"), f"{name}, {year}"


def _entry_year(birth_date: str | None, record: str) -> int | None:
    if birth_date:
        return int(birth_date[:4])
    raw = json.loads(record).get("birth_year")
    text = ";".join(split_items(raw)) if raw is not None else ""
    return int(text) if text.isdigit() else None


# ------------------------------------------------------------------ reading them back
def list_watchlists(case: Case) -> list[dict[str, Any]]:
    """The imported watchlists with their entries and hits; JSON-ready."""
    w, e, h = schema.watchlist, schema.watchlist_entry, schema.watchlist_hit
    with case.store.engine.connect() as conn:
        hits: dict[int, int] = {
            wid: n
            for wid, n in conn.execute(
                select(e.c.watchlist_id, func.count(h.c.id))
                .join(h, h.c.entry_id == e.c.id)
                .group_by(e.c.watchlist_id)
            )
        }
        rows = conn.execute(select(w).order_by(w.c.name)).all()
    return [
        {
            "name": r.name,
            "source": r.source,
            "source_sha256": r.source_sha256,
            "entries": r.entries,
            "hits": int(hits.get(r.id, 0)),
            "imported_by": r.imported_by,
            "imported_at": r.imported_at.isoformat(timespec="seconds"),
        }
        for r in rows
    ]


def list_hits(case: Case) -> list[dict[str, Any]]:
    """Every watchlist hit with its record and its subject (suspect or chat person), and the
    field that matched; JSON-ready, by watchlist and record."""
    w, e, h = schema.watchlist, schema.watchlist_entry, schema.watchlist_hit
    s, p = schema.suspect, schema.person
    with case.store.engine.connect() as conn:
        suspects = {r.id: (r.key, r.name) for r in conn.execute(select(s.c.id, s.c.key, s.c.name))}
        rows = conn.execute(
            select(
                w.c.name.label("watchlist"),
                e.c.key,
                e.c.name,
                e.c.birth_date,
                e.c.record,
                e.c.line,
                h.c.subject,
                h.c.subject_id,
                h.c.field,
                h.c.value,
                h.c.matched_at,
            )
            .join(e, e.c.id == h.c.entry_id)
            .join(w, w.c.id == e.c.watchlist_id)
            .order_by(w.c.name, e.c.line, h.c.subject, h.c.subject_id, h.c.field)
        ).all()
        person_ids = sorted({r.subject_id for r in rows if r.subject == "person"})
        persons: dict[int, str | None] = {}
        for chunk in _chunks(person_ids):
            persons.update(
                {i: n for i, n in conn.execute(select(p.c.id, p.c.name).where(p.c.id.in_(chunk)))}
            )
    out = []
    for r in rows:
        if r.subject == "suspect":
            key, sname = suspects.get(r.subject_id, (str(r.subject_id), None))
            label = f"suspect {key}" + (f" ({sname})" if sname else "")
        else:
            pname = persons.get(r.subject_id)
            label = f"person {r.subject_id}" + (f" ({pname})" if pname else "")
        out.append(
            {
                "watchlist": r.watchlist,
                "entry": r.key,
                "entry_name": r.name,
                "entry_birth_date": r.birth_date,
                "entry_line": r.line,
                "record": json.loads(r.record),
                "subject": r.subject,
                "subject_id": r.subject_id,
                "subject_label": label,
                "field": r.field,
                "value": r.value,
                "matched_at": r.matched_at.isoformat(timespec="seconds"),
            }
        )
    return out
