"""Project VIC / VICS JSON (OData): versions 1.2, 1.3 and 2.0, ``#Media`` and ``#Cases``.

Read as a stream with ijson, memory bounded whatever the size: a ``#Media`` document item by item
(``value.item``); a ``#Cases`` document entry by entry of each case's ``Media`` list, so that a
case of a million entries is never held whole, while each record still carries the case's
``CaseNumber``/``CaseID`` (those written before its ``Media``, as every writer does). Written as
VICS 2.0, ``#Cases`` by default (``header.extra["document"] = "#Media"`` selects a flat ``#Media``
document).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import ijson

from lanterne.hashsets.records import (
    HashRecord,
    HashSetHeader,
    MalformedHashSet,
    clean_hex,
)

NAME = "vics"

_BOM = b"\xef\xbb\xbf"
_MARKERS = ("odata.metadata", "@odata.context")
_SNIFF = re.compile(rb'"(?:odata\.metadata|@odata\.context)"\s*:\s*"[^"]{0,500}#(?:Media|Cases)"')
_CONTEXT = re.compile(
    r"/(?P<version>\d+(?:\.\d+)*)\.xml(?:/(?P<region>[^/]+)/\$metadata)?#(?P<doc>Media|Cases)$"
)
_CONTEXT_URL = (
    "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/{region}/$metadata{doc}"
)
_SCHEMES = {"US": "vics-us", "UK": "vics-uk"}
"""Regions whose data model names the category scheme; ``Default`` and ``CUSTOM`` do not."""
_CASE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://lanterne.invalid/vics/case")

_BOOLEANS = (
    "VictimIdentified",
    "OffenderIdentified",
    "IsDistributed",
    "IsPrecategorized",
    "IsSuspected",
    "SelfGenerated",
)
_KEPT = (
    "Series",
    "Tags",
    "Comments",
    "MimeType",
    *_BOOLEANS,
    "PrecategorizationSource",
    "PhotoDNA",
    "DateUpdated",
    "MediaFiles",
    "Segments",
    "Exifs",
)
"""Media fields kept in ``HashRecord.extra`` under their VICS names (and written back)."""
_FIELDS = (
    "MediaID",
    "MD5",
    "SHA1",
    "Category",
    "MediaSize",
    "RelativeFilePath",
    "AlternativeHashes",
    *_KEPT,
)
_CANONICAL = {name.lower(): name for name in _FIELDS}
_FIELD_SET = frozenset(_FIELDS)
_KEPT_SET = frozenset(_KEPT)
_CASE_KEYS = ("CaseNumber", "CaseID")
_DIGITS = re.compile(r"[0-9]{1,30}")


def sniff(head: bytes, path: Path) -> bool:
    """A JSON object whose first key is the OData marker of a ``#Media`` or ``#Cases`` model."""
    body = head.removeprefix(_BOM).lstrip()
    return body.startswith(b"{") and _SNIFF.search(body[:8192]) is not None


def read(path: Path) -> tuple[HashSetHeader, Iterator[HashRecord]]:
    header = _read_header(path)
    if header.extra["document"] == "#Cases":
        return header, _case_records(path)
    return header, _media_records(path)


# --- reading ------------------------------------------------------------------------------


def _open(path: Path) -> IO[bytes]:
    f = path.open("rb")
    if f.read(3) != _BOM:
        f.seek(0)
    return f


def _json_error(exc: Exception) -> str:
    """yajl's message, without the excerpt of the file it quotes."""
    return (str(exc).splitlines() or ["broken JSON"])[0].strip()


def _read_header(path: Path) -> HashSetHeader:
    """The marker (version, region, document) and, in a ``#Cases`` document, the first case's
    number when it comes before its ``Media``. Reads no further than that."""
    marker: str | None = None
    name: str | None = None
    with _open(path) as f:
        events = ijson.parse(f, use_float=True)
        try:
            first = next(events, None)
            if first is None or first[:2] != ("", "start_map"):
                raise MalformedHashSet("byte 0", "not a JSON object")
            for prefix, event, value in events:
                if prefix == "" and event == "map_key" and value in _MARKERS:
                    prefix, event, value = next(events)
                    if event != "string":
                        raise MalformedHashSet(f"byte {f.tell()}", "the OData marker is not text")
                    marker = value
                elif prefix == "" and event == "map_key" and value == "value":
                    if marker is None:
                        raise MalformedHashSet(
                            f"byte {f.tell()}", "no odata.metadata/@odata.context before value"
                        )
                    if next(events)[1] != "start_array":
                        raise MalformedHashSet(f"byte {f.tell()}", "value is not a list")
                    break
                elif prefix == "" and event == "end_map":
                    raise MalformedHashSet(f"byte {f.tell()}", "no value list: not a VICS file")
            else:
                raise MalformedHashSet(f"byte {f.tell()}", "the document ends early")
            assert marker is not None
            header = _header_from_marker(marker, f.tell())
            if header.extra["document"] == "#Cases":
                name = _first_case_number(events)
        except ijson.JSONError as exc:
            raise MalformedHashSet(f"byte {f.tell()}", f"not JSON: {_json_error(exc)}") from None
        except StopIteration:
            raise MalformedHashSet(f"byte {f.tell()}", "the document ends early") from None
    if name is None:
        return header
    return HashSetHeader(header.format, header.version, header.scheme, name, header.extra)


def _header_from_marker(marker: str, offset: int) -> HashSetHeader:
    if not marker.endswith(("#Media", "#Cases")):
        raise MalformedHashSet(f"byte {offset}", f"{marker[:200]!r} is neither #Media nor #Cases")
    document = marker[marker.rindex("#") :]
    extra: dict[str, Any] = {"document": document, "context": marker}
    m = _CONTEXT.search(marker)
    version = m.group("version") if m else None
    region = m.group("region") if m else None
    if region:
        extra["region"] = region
    return HashSetHeader(NAME, version, _SCHEMES.get((region or "").upper()), None, extra)


def _first_case_number(events: Iterator[tuple[str, str, Any]]) -> str | None:
    prefix, event, _ = next(events)
    if (prefix, event) == ("value", "end_array"):
        return None
    if (prefix, event) != ("value.item", "start_map"):
        raise MalformedHashSet("case 1", "not an object")
    for prefix, event, value in events:
        if prefix == "value.item.CaseNumber" and event in ("string", "number"):
            return str(value)
        if prefix == "value.item.Media" or (prefix == "value.item" and event == "end_map"):
            return None
        if prefix == "value" and event == "end_array":
            return None
    return None


def _media_records(path: Path) -> Iterator[HashRecord]:
    n = 0
    with _open(path) as f:
        try:
            for item in ijson.items(f, "value.item", use_float=True):
                n += 1
                yield _media_record(item, f"record {n}", None)
        except ijson.JSONError as exc:
            where = f"record {n + 1}"
            detail = f"broken JSON near byte {f.tell()}: {_json_error(exc)}"
            raise MalformedHashSet(where, detail) from None


_VALUE_STARTS = frozenset(("start_map", "start_array", "string", "number", "boolean", "null"))
_CASE_PREFIXES = {f"value.item.{key}": key for key in _CASE_KEYS}


def _case_records(path: Path) -> Iterator[HashRecord]:
    """Two streams over the file in step: ijson's C builder makes each Media entry
    (``value.item.Media.item``) while a light event loop follows which case it is in."""
    n = 0
    cases = [0]
    with _open(path) as entries, _open(path) as events:
        media = ijson.items(entries, "value.item.Media.item", use_float=True)
        try:
            for case in _case_contexts(events, cases):
                n += 1
                yield _media_record(next(media, None), f"record {n}", case)
        except ijson.JSONError as exc:
            at = max(entries.tell(), events.tell())
            detail = f"broken JSON in case {cases[0]} near byte {at}: {_json_error(exc)}"
            raise MalformedHashSet(f"record {n + 1}", detail) from None


def _case_contexts(f: IO[bytes], cases: list[int]) -> Iterator[dict[str, str]]:
    """For each entry of each case's ``Media`` list, in order, the case's ``CaseNumber`` and
    ``CaseID`` read so far (``cases[0]`` counts the cases)."""
    case: dict[str, str] = {}
    for prefix, event, value in ijson.parse(f, use_float=True):
        if prefix == "value.item.Media.item":
            if event in _VALUE_STARTS:
                yield case
        elif prefix == "value.item":
            if event == "start_map":
                cases[0] += 1
                case = {}
            elif event not in ("map_key", "end_map"):
                raise MalformedHashSet(f"case {cases[0] + 1}", "not an object")
        elif prefix == "value.item.Media":
            if event not in ("start_array", "end_array", "null"):
                raise MalformedHashSet(f"case {cases[0]}", "Media is not a list")
        elif prefix in _CASE_PREFIXES and event in ("string", "number"):
            case[_CASE_PREFIXES[prefix]] = str(value)


def _is_annotation(key: str) -> bool:
    return key.startswith("odata.") or "@odata." in key


def _plain(value: Any) -> Any:
    """``value`` without OData annotations, at any depth."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not _is_annotation(k)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _media_record(item: Any, where: str, case: Mapping[str, str] | None) -> HashRecord:
    if not isinstance(item, dict):
        raise MalformedHashSet(where, f"a Media entry is {type(item).__name__}, not an object")
    media: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for field, content in item.items():
        if content is None:
            continue
        if field not in _FIELD_SET:
            if not isinstance(field, str) or _is_annotation(field):
                continue
            field = _CANONICAL.get(field.lower(), field)
        if field in _KEPT_SET:
            if isinstance(content, dict | list):
                content = _plain(content)
            extra[field] = _boolean(content) if field in _BOOLEANS else content
        else:
            media[field] = content
    md5 = clean_hex(media.get("MD5"), "md5", where)
    if md5 is None:
        raise MalformedHashSet(where, "MD5 is missing")
    sha1 = clean_hex(media.get("SHA1"), "sha1", where)
    sha256 = pdq = quality = None
    others: list[dict[str, Any]] = []
    for alt in _alternatives(media.get("AlternativeHashes"), where):
        kind = alt.get("HashName")
        kind = re.sub(r"[-_ ]", "", kind).upper() if isinstance(kind, str) else ""
        value = alt.get("HashValue")
        if kind in ("SHA256", "SHA2256") and sha256 is None:
            sha256 = clean_hex(value, "sha256", where)
        elif kind == "PDQ" and pdq is None:
            pdq, quality = _pdq(value, alt.get("Quality"), where)
        elif kind == "SHA1" and sha1 is None:
            sha1 = clean_hex(value, "sha1", where)
        elif kind == "MD5" and isinstance(value, str) and value.strip().lower() == md5:
            continue
        else:
            others.append({k: v for k, v in alt.items() if k != "MD5"})
    if others:
        extra["AlternativeHashes"] = others
    if case:
        extra.update(case)
    name = media.get("RelativeFilePath")
    if not isinstance(name, str) or not name:
        name = _first_file_name(extra.get("MediaFiles"))
    return HashRecord(
        where=where,
        md5=md5,
        sha1=sha1,
        sha256=sha256,
        pdq=pdq,
        pdq_quality=quality,
        category=_text_id(media.get("Category"), "Category", where),
        entry_id=_text_id(media.get("MediaID"), "MediaID", where),
        name=name,
        size=_size(media.get("MediaSize"), where),
        extra=extra,
    )


def _alternatives(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
        raise MalformedHashSet(where, "AlternativeHashes is not a list of objects")
    return [_plain(a) for a in value]


def _pdq(value: Any, quality: Any, where: str) -> tuple[str | None, int | None]:
    if isinstance(value, str) and "," in value:  # "hash,quality" as some tools write it
        value, quality = value.split(",", 1)
    pdq = clean_hex(value, "pdq", where)
    if quality is None or quality == "":
        return pdq, None
    if isinstance(quality, str) and _DIGITS.fullmatch(quality.strip()):
        quality = int(quality)
    if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
        raise MalformedHashSet(where, f"PDQ quality {quality!r} is not 0 to 100")
    return pdq, quality


def _first_file_name(files: Any) -> str | None:
    if isinstance(files, list) and files and isinstance(files[0], dict):
        name = files[0].get("FileName")
        if isinstance(name, str) and name:
            return name
    return None


def _boolean(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _text_id(value: Any, field: str, where: str) -> str | None:
    """A number-or-text field (``Category``, ``MediaID``) as text; None when empty."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value.strip() or None
    raise MalformedHashSet(where, f"{field} is {type(value).__name__}, not a number or text")


def _size(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    if (isinstance(value, str) and _DIGITS.fullmatch(value.strip())) or (
        isinstance(value, float) and value.is_integer()
    ):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedHashSet(where, f"MediaSize {str(value)[:40]!r} is not a byte count")
    return value


# --- writing ------------------------------------------------------------------------------


def _region(header: HashSetHeader) -> str:
    region = header.extra.get("region")
    if isinstance(region, str) and re.fullmatch(r"[A-Za-z0-9_-]+", region):
        return region
    if header.scheme is None:
        return "US"
    by_scheme = {scheme: region for region, scheme in _SCHEMES.items()}
    return by_scheme.get(header.scheme, "CUSTOM")


_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def _number_or_text(value: str) -> int | str:
    """``value`` as an int when that writes back the same text."""
    if _INTEGER.fullmatch(value):
        return int(value)
    return value


def _case_id(number: str | None) -> str:
    return str(uuid.uuid5(_CASE_NAMESPACE, number or ""))


def write(path: Path, header: HashSetHeader, records: Iterable[HashRecord]) -> int:
    """A VICS 2.0 document; records without an MD5 (the VICS key) are left out."""
    document = "#Media" if header.extra.get("document") == "#Media" else "#Cases"
    context = _CONTEXT_URL.format(region=_region(header), doc=document)
    n = 0
    in_case: tuple[Any, Any] | None = None
    in_case_count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write('{"@odata.context": ' + json.dumps(context) + ', "value": [')
        for record in records:
            if record.md5 is None:
                continue
            n += 1
            media = _ENCODER.encode(_media(record, n))
            if document == "#Media":
                out.write(("," if n > 1 else "") + "\n  " + media)
                continue
            key = (record.extra.get("CaseID"), record.extra.get("CaseNumber"))
            if key == (None, None):
                key = (None, header.name)
            if key != in_case:
                if in_case is not None:
                    out.write(f'\n  ], "TotalMediaFiles": {in_case_count}}},')
                out.write(_case_opening(*key))
                in_case, in_case_count = key, 0
            out.write(("," if in_case_count else "") + "\n    " + media)
            in_case_count += 1
        if in_case is not None:
            out.write(f'\n  ], "TotalMediaFiles": {in_case_count}}}')
        out.write("\n]}\n")
    return n


def _case_opening(case_id: Any, number: Any) -> str:
    """The start of a case: a record's own (``CaseID``, ``CaseNumber``) when it came from one,
    else the header's name with an id derived from it."""
    number = None if number is None else str(number)
    case: dict[str, Any] = {"CaseID": _case_id(number) if case_id is None else str(case_id)}
    if number is not None:
        case["CaseNumber"] = number
    case["SourceApplicationName"] = "Lanterne"
    opening = json.dumps(case, ensure_ascii=False)[:-1]
    return f"\n  {opening}, " + '"Media": ['


def _media(record: HashRecord, n: int) -> dict[str, Any]:
    assert record.md5 is not None
    entry_id = _number_or_text(record.entry_id) if record.entry_id is not None else n
    media: dict[str, Any] = {"MediaID": entry_id if isinstance(entry_id, int) else n}
    media["Category"] = None if record.category is None else _number_or_text(record.category)
    media["MD5"] = record.md5.upper()
    if record.sha1 is not None:
        media["SHA1"] = record.sha1.upper()
    if record.size is not None:
        media["MediaSize"] = record.size
    if record.name is not None:
        media["RelativeFilePath"] = record.name
    media["IsPrecategorized"] = record.extra.get("IsPrecategorized", False)  # required in 2.0
    for key in _KEPT:
        if key in record.extra and key != "IsPrecategorized":
            media[key] = record.extra[key]
    alternatives: list[dict[str, Any]] = []
    if record.sha256 is not None:
        alternatives.append({"HashName": "SHA256", "HashValue": record.sha256.upper()})
    if record.pdq is not None:
        pdq: dict[str, Any] = {"HashName": "PDQ", "HashValue": record.pdq}
        if record.pdq_quality is not None:
            pdq["Quality"] = record.pdq_quality
        alternatives.append(pdq)
    others = record.extra.get("AlternativeHashes")
    if isinstance(others, list):
        alternatives.extend(a for a in others if isinstance(a, dict))
    if alternatives:
        media["AlternativeHashes"] = [{"MD5": media["MD5"], **a} for a in alternatives]
    return media
