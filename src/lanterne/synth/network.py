"""A synthetic operation with a planted network: who to act on first, with the answer known.

The network analysis and the prioritisation (:mod:`lanterne.network`) need a case whose right
answers are known without running them: how many participants per country, which member alone
joins several groups, which suspects are linked and why, which records match, who produced new
pictures and who works with children. :func:`make_network` writes such an operation, benign and
invented from end to end (principle 1 of the design: shapes and gradients for pictures, example
numbers of ``phonenumbers`` for phones, made-up names and places), and returns
:class:`PlantedNetwork`, the planted truth. :func:`build_case` then runs the real library steps
an examiner would run on it.

What is planted (``S-01`` … ``S-12`` are the suspects' ids in the suspects file):

* ``groups`` Signal groups of skewed sizes holding ``participants`` persons with numbers of
  ``countries`` countries (exact counts in :attr:`PlantedNetwork.countries`). Everybody is a
  member of one group, except the **bridge**, the only member of several.
* A few **administrators** (``sender_role`` ``admin`` in the exports; the first of them is the
  suspect ``S-01``), and two **distributors** (foreign persons, not suspects) who post known
  pictures.
* Chat exports (the generic CSV / JSON Lines layout) as seen on seized phones: ``PHONE-01`` of
  ``S-01`` holds every group; ``PHONE-06`` (``S-06``) and ``PHONE-08`` (``S-08``) hold one
  group each, and ``PHONE-08`` also a direct conversation with ``S-09``.
* Seized items of benign pictures: twelve "known" pictures listed in a known-bad VICS hash set
  with categories; ``S-04`` and ``S-05`` hold some of the same ones.
* A **producer** (``S-02``): new pictures whose EXIF carries the make, model and serial number
  of his seized camera (``CAM-02``, registered with those device facts), taken within a few
  tens of metres of one place.
* A suspect with an occupation giving **access to children** (``S-03``, a primary school
  teacher), and **passive** members (``S-10`` … ``S-12``) who only chat.
* Suspect links: ``S-04``/``S-05`` share content, ``S-06``/``S-07`` share a group, ``S-09``
  is in ``S-08``'s chats; every other link the definitions imply is computed too.
* A suspects file and two watchlists (an offence-history file, a sex-offender register extract)
  whose entries match suspects by number (and so their chat persons too), by name and birth
  date (names written in another order, case and spelling of ``ß``), by name and birth year
  (``S-07``'s file gives only his year), and a chat person who is no suspect by number; near
  misses that must not match (a name with another birth date, a chat name alone).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import phonenumbers

from lanterne.synth.chat_export import phone_number
from lanterne.synth.pictures import CameraExif, make_picture

if TYPE_CHECKING:
    from lanterne.case.workspace import Case

__all__ = [
    "COUNTRIES",
    "KNOWN_SCHEME",
    "PlantedItem",
    "PlantedNetwork",
    "PlantedSuspect",
    "build_case",
    "country_allocation",
    "group_sizes",
    "make_network",
    "unique_numbers",
]

COUNTRIES: tuple[str, ...] = (
    "DE", "BR", "US", "FR", "NL", "GB", "PL", "ES", "IT", "MX", "IN", "AR", "CA", "AU", "AT",
    "CH", "BE", "SE", "NO", "DK", "FI", "PT", "IE", "CZ", "HU", "RO", "GR", "TR", "ZA", "NG",
    "KE", "EG", "MA", "JP", "KR", "PH", "ID", "TH", "VN", "MY", "NZ", "CL", "CO", "PE", "VE",
    "UA", "BG", "HR", "RS", "SK", "SI", "LT", "LV", "EE", "IS", "LU", "MT", "CY", "IL", "SA",
    "AE", "QA", "KW", "JO", "LB", "PK", "BD", "LK", "NP", "KH", "LA", "MM", "MN", "KZ", "UZ",
    "GE", "AM", "AZ", "BY", "MD", "AL", "MK", "BA", "ME", "XK", "TN", "DZ", "GH", "GM", "SN",
    "CM", "UG", "TZ", "RW", "ET", "ZM", "ZW", "MZ", "AO", "NA", "BW", "MU", "MG", "UY", "PY",
    "BO", "EC", "CR", "PA", "GT", "HN", "SV", "NI", "DO", "CU", "JM", "TT", "BS", "BB", "PR",
    "FJ", "PG", "SG", "HK", "TW", "MO", "BN", "MV", "BT", "OM", "BH", "IQ", "IR", "AF", "MW",
    "SC", "GA", "BF", "ML", "NE",
)  # fmt: skip
"""Regions numbers are invented in, the case's own country first: 140 of them."""

CASE_COUNTRY = "DE"
KNOWN_SCHEME = "vics-us"
KNOWN_SET = "known-bad-synthetic"
OFFENCE_HISTORY = "offence-history"
REGISTER = "sex-offender-register"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)

_GIVEN = (
    "Alma", "Bruno", "Chiara", "Dario", "Elin", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Kaia", "Lior", "Mara", "Nils", "Oona", "Pavel", "Rosa", "Sami", "Tilda", "Umar", "Vera",
    "Wim", "Yara", "Zeno",
)  # fmt: skip
_FAMILY = (
    "Verdier", "Lindqvist", "Moretti", "Okafor", "Sato", "Novak", "Almeida", "Rossi",
    "Kowalski", "Dubois", "Jansen", "Silva", "Mehta", "Nakamura", "Haugen", "Petrov",
)  # fmt: skip
_WORDS = (
    "Harbour", "Quay", "Meadow", "Orchard", "Beacon", "Summit", "Delta", "Lantern", "Willow",
    "Granite", "Comet", "Juniper",
)  # fmt: skip
_BODIES = (
    "good morning", "see you later", "anyone around?", "thanks", "nice one", "back tomorrow",
    "ok", "sounds good",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlantedSuspect:
    """A suspect as the suspects file describes them, and their role in the plot."""

    key: str
    name: str
    e164: str
    """The number of their chat person (the suspects file may write it in national form)."""
    region: str
    birth_date: str | None
    birth_year: int | None
    occupation: str
    items: tuple[str, ...]
    """Labels of the items seized from them."""
    groups: tuple[str, ...]
    """Titles of the groups they are a member of."""
    role: str
    """``admin``, ``producer``, ``child-access``, ``same-content``, ``same-group``,
    ``contact`` or ``passive``."""


@dataclass(frozen=True, slots=True)
class PlantedItem:
    """A seized item to register: a folder of files, or one chat export file."""

    label: str
    path: Path
    kind: str
    """``folder`` or ``file`` (a chat export)."""
    suspect: str | None
    """The suspect key set on the evidence row (``--suspect``), or None when only the suspects
    file names the item."""
    owner: str
    """The suspect the item was seized from."""
    device_type: str
    device_make: str | None = None
    device_model: str | None = None
    device_serial: str | None = None
    chat_export: bool = False


@dataclass
class PlantedNetwork:
    """Everything :func:`make_network` wrote and the answers a correct analysis gives."""

    root: Path
    seed: int
    country: str
    """The case's country (``[network] country``)."""
    items: list[PlantedItem] = field(default_factory=list)
    hashset: Path = Path()
    hashset_name: str = KNOWN_SET
    suspects_file: Path = Path()
    watchlists: dict[str, Path] = field(default_factory=dict)
    """Watchlist name → its CSV file."""
    persons: int = 0
    """Distinct chat persons (one per number)."""
    countries: dict[str, int] = field(default_factory=dict)
    """ISO country → distinct persons with a number of that country."""
    groups: dict[str, int] = field(default_factory=dict)
    """Group title → members (distinct persons, every role)."""
    group_ids: dict[str, str] = field(default_factory=dict)
    """Group title → its 32-byte Signal group id in hex (the store's key is ``signal-v2:…``)."""
    admins: dict[str, list[str]] = field(default_factory=dict)
    """E.164 → titles of the groups the person administers."""
    bridge_e164: str = ""
    bridge_groups: list[str] = field(default_factory=list)
    suspects: dict[str, PlantedSuspect] = field(default_factory=dict)
    producer: str = ""
    child_access: str = ""
    passive: list[str] = field(default_factory=list)
    camera_serial: str = ""
    production_sha256: list[str] = field(default_factory=list)
    """The producer's new pictures carrying his camera's serial."""
    gps_centre: tuple[float, float] = (0.0, 0.0)
    """Where the production pictures were taken (all within 80 m of it)."""
    known: dict[str, str] = field(default_factory=dict)
    """SHA-256 → category of every listed ("known") picture."""
    posted_known: dict[str, dict[str, int]] = field(default_factory=dict)
    """E.164 → category → distinct known pictures the person posted."""
    planted_links: dict[tuple[str, str], str] = field(default_factory=dict)
    """The three planted suspect pairs (sorted keys) → the kind of link planted."""
    suspect_links: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """Every linked suspect pair (sorted keys) → link kinds (``same-content``, ``same-group``,
    ``contact``), as the definitions of the network issue imply."""
    shared_contents: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """Suspect pair → SHA-256 of the contents found on both suspects' items."""
    watchlist_hits: set[tuple[str, str, str, str, str]] = field(default_factory=set)
    """(watchlist, entry key, ``suspect`` | ``person``, suspect key or E.164, field)."""
    suspects_by_region: dict[str, int] = field(default_factory=dict)
    pictures: int = 0
    """Distinct pictures in the case (items and posted attachments)."""
    known_pictures: int = 0
    """Of them, listed in the known-bad set."""
    messages: int = 0
    """Distinct messages (a message seen on two phones counts once)."""
    items_by_type: dict[str, int] = field(default_factory=dict)
    bytes_by_type: dict[str, int] = field(default_factory=dict)
    """Device type → bytes of its items (a folder's files, an export file)."""
    names: dict[str, str] = field(default_factory=dict)
    """E.164 → the name the person shows in chats."""

    def item(self, label: str) -> PlantedItem:
        return next(i for i in self.items if i.label == label)


# ---------------------------------------------------------------- numbers and sizes


def unique_numbers(
    counts: dict[str, int], start: int = 0, taken: set[str] | None = None
) -> dict[str, list[str]]:
    """``counts[region]`` distinct invented E.164 numbers per region, each valid and of that
    region (checked with ``phonenumbers``), none of them in ``taken``."""
    taken = set() if taken is None else taken
    out: dict[str, list[str]] = {}
    for region, count in counts.items():
        numbers: list[str] = []
        n = start
        while len(numbers) < count:
            number = phone_number(region, n)
            n += 1
            if number in taken:
                continue
            parsed = phonenumbers.parse(number, None)
            if phonenumbers.region_code_for_number(parsed) != region:
                continue
            taken.add(number)
            numbers.append(number)
            if n - start > 9999 + count:
                raise ValueError(f"not enough invented numbers for {region}")
        out[region] = numbers
    return out


def country_allocation(total: int, regions: list[str], skew: float = 1.0) -> dict[str, int]:
    """``total`` split over ``regions`` with weights 1/(rank+1)^skew, each at least 1 (largest
    remainders; deterministic)."""
    if total < len(regions):
        raise ValueError(f"{total} persons cannot cover {len(regions)} countries")
    weights = [1.0 / (i + 1) ** skew for i in range(len(regions))]
    spare = total - len(regions)
    scale = spare / sum(weights)
    base = [math.floor(w * scale) for w in weights]
    rest = spare - sum(base)
    order = sorted(range(len(regions)), key=lambda i: (-(weights[i] * scale - base[i]), i))
    for i in order[:rest]:
        base[i] += 1
    return {r: 1 + b for r, b in zip(regions, base, strict=True)}


def group_sizes(total: int, groups: int, skew: float = 1.0) -> list[int]:
    """Member counts of ``groups`` groups holding ``total`` members, skewed like real networks
    (a few large groups, many small ones), each at least 2."""
    return list(country_allocation(total, [str(g) for g in range(groups)], skew).values())


def _name(rng: random.Random) -> str:
    return f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}"


# ---------------------------------------------------------------- the plot


@dataclass(frozen=True, slots=True)
class _SuspectPlan:
    key: str
    name: str
    region: str
    birth_date: str | None
    birth_year: int | None
    occupation: str
    group: int
    role: str
    national_form: bool = False


_SUSPECTS = (
    _SuspectPlan("S-01", "Bastian Kerl", "Bayern", "1981-02-14", None, "logistics clerk", 0,
                 "admin"),
    _SuspectPlan("S-02", "Jörg Weißmann", "Sachsen", "1975-09-30", None, "photographer", 1,
                 "producer", national_form=True),
    _SuspectPlan("S-03", "Lena Hollstein", "Berlin", "1988-06-02", None,
                 "primary school teacher", 2, "child-access"),
    _SuspectPlan("S-04", "Timo Rauch", "Hamburg", "1990-11-21", None, "software developer", 4,
                 "same-content"),
    _SuspectPlan("S-05", "Jonas Brandt", "Bayern", "1979-04-12", None, "electrician", 5,
                 "same-content"),
    _SuspectPlan("S-06", "Uwe Falkner", "Nordrhein-Westfalen", "1969-01-08", None,
                 "bus driver", 3, "same-group", national_form=True),
    _SuspectPlan("S-07", "Sven Ortlieb", "Nordrhein-Westfalen", None, 1985, "chef", 3,
                 "same-group"),
    _SuspectPlan("S-08", "Mirko Hahnel", "Berlin", "1992-07-19", None, "warehouse worker", 6,
                 "contact"),
    _SuspectPlan("S-09", "Dennis Quast", "Hamburg", "1983-03-03", None, "accountant", 7,
                 "contact"),
    _SuspectPlan("S-10", "Kai Wendler", "Bayern", "1977-12-24", None, "plumber", 1, "passive"),
    _SuspectPlan("S-11", "Ralf Zinn", "Sachsen", "1972-05-05", None, "taxi driver", 2,
                 "passive"),
    _SuspectPlan("S-12", "Nico Pfeil", "Berlin", "1995-08-15", None, "student", 5, "passive"),
)  # fmt: skip


class _Plot:
    """Builds the persons, groups and messages, then writes every file."""

    def __init__(self, root: Path, seed: int, participants: int, groups: int, countries: int):
        if groups < 8:
            raise ValueError(f"the planted network needs at least 8 groups, not {groups}")
        if not 1 <= countries <= len(COUNTRIES):
            raise ValueError(f"countries must be 1..{len(COUNTRIES)}, not {countries}")
        planted_persons = len(_SUSPECTS) + 1 + 4 + 2  # suspects, bridge, admins, distributors
        if participants < planted_persons + 2 * groups + countries:
            raise ValueError(f"{participants} participants are too few for {groups} groups")
        self.root, self.seed = root, seed
        self.rng = random.Random(seed)
        self.net = PlantedNetwork(root, seed, CASE_COUNTRY)
        self.n_groups = groups
        self.titles = [f"{_WORDS[g % len(_WORDS)]} {g:02d}" for g in range(groups)]
        self.group_ids = [self.rng.randbytes(32) for _ in range(groups)]
        # group -> {e164: role}
        self.members: list[dict[str, str]] = [{} for _ in range(groups)]
        self.names: dict[str, str] = {}
        self.country_of: dict[str, str] = {}
        self._persons(participants, countries)

    # ---------------------------------------------------------------- persons
    def _persons(self, participants: int, countries: int) -> None:
        taken: set[str] = set()
        # planted persons first: suspects (the case's country), bridge, admins, distributors
        de = unique_numbers({CASE_COUNTRY: len(_SUSPECTS)}, start=5000, taken=taken)
        self.suspect_e164 = dict(zip((s.key for s in _SUSPECTS), de[CASE_COUNTRY], strict=True))
        foreign = ["NL", "FR", "BR", "US", "PL", "ES", "IT"]
        special = unique_numbers({r: 1 for r in foreign}, start=7000, taken=taken)
        self.bridge = special["NL"][0]
        self.admins = [special["FR"][0], special["PL"][0], special["ES"][0], special["IT"][0]]
        self.distributors = [special["BR"][0], special["US"][0]]
        planted = [*self.suspect_e164.values(), self.bridge, *self.admins, *self.distributors]
        regions = list(COUNTRIES[:countries])
        pool_counts = country_allocation(participants - len(planted), regions)
        pool_numbers = unique_numbers(pool_counts, start=0, taken=taken)
        pool = [n for r in regions for n in pool_numbers[r]]
        for number in planted + pool:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
            assert region is not None, number
            self.country_of[number] = region
            self.names[number] = _name(self.rng)
        for s in _SUSPECTS:  # their chat names are nicknames, never their real names
            self.names[self.suspect_e164[s.key]] = f"{s.name.split()[0][0]}{s.key[-2:]}"
        self.rng.shuffle(pool)
        # memberships: planted people first, then the pool split by skewed group sizes
        for s in _SUSPECTS:
            role = "admin" if s.role == "admin" else "member"
            self.members[s.group][self.suspect_e164[s.key]] = role
        self.members[0][self.admins[0]] = "admin"
        for g, admin in enumerate(self.admins[1:], start=1):
            self.members[g][admin] = "admin"
        self.members[0][self.distributors[0]] = "member"
        self.members[2][self.distributors[1]] = "member"
        self.bridge_groups = [0, 1, 2, 3]
        for g in self.bridge_groups:
            self.members[g][self.bridge] = "member"
        sizes = group_sizes(len(pool), self.n_groups)
        at = 0
        for g, size in enumerate(sizes):
            for number in pool[at : at + size]:
                self.members[g][number] = "member"
            at += size

    # ---------------------------------------------------------------- messages
    def messages(self) -> list[list[dict[str, Any]]]:
        """Per group, its messages in time order: everyone posts 1 to 3 texts; the
        distributors and ``S-01`` also post known pictures."""
        out: list[list[dict[str, Any]]] = []
        for g in range(self.n_groups):
            rows: list[dict[str, Any]] = []
            for number in self.members[g]:
                for _ in range(self.rng.randint(1, 3)):
                    rows.append({"sender": number, "body": self.rng.choice(_BODIES)})
            out.append(rows)
        # known pictures posted: distributor 1 in group 0, S-01 in group 0, distributor 2 in 2
        posts = [
            (0, self.distributors[0], ["K00", "K01", "K02", "K03", "K04", "K05"]),
            (0, self.suspect_e164["S-01"], ["K06", "K07"]),
            (2, self.distributors[1], ["K08", "K01"]),
        ]
        for g, sender, pictures in posts:
            for name in pictures:
                out[g].append({"sender": sender, "body": None, "attachment": name})
        for g, rows in enumerate(out):
            self.rng.shuffle(rows)
            for i, row in enumerate(rows):
                row["id"] = f"g{g:03d}-m{i:05d}"
                row["when"] = T0 + timedelta(minutes=7 * i + g)
        return out


# ---------------------------------------------------------------- files


def _write_picture(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _export_rows(
    plot: _Plot,
    messages: list[list[dict[str, Any]]],
    groups: list[int],
    owner: str,
) -> list[dict[str, str]]:
    rows = []
    for g in groups:
        for m in messages[g]:
            row = {
                "platform": "signal",
                "conversation_id": plot.group_ids[g].hex(),
                "conversation_name": plot.titles[g],
                "conversation_type": "group",
                "message_id": m["id"],
                "timestamp": m["when"].isoformat(),
                "sender_phone": m["sender"],
                "sender_name": plot.names[m["sender"]],
                "sender_role": plot.members[g][m["sender"]],
                "direction": "outgoing" if m["sender"] == owner else "incoming",
                "body": m["body"] or "",
            }
            if m.get("attachment"):
                row["attachment_path"] = f"media/{m['attachment']}.jpg"
                row["attachment_type"] = "image/jpeg"
            rows.append(row)
    return rows


def _write_export(path: Path, rows: list[dict[str, str]], media: dict[str, bytes]) -> None:
    """A generic export (CSV or JSON Lines by suffix) and the pictures its rows attach."""
    from lanterne.messaging.generic import FIELDS

    path.parent.mkdir(parents=True, exist_ok=True)
    used = {r["attachment_path"] for r in rows if r.get("attachment_path")}
    for rel in sorted(used):
        _write_picture(path.parent / rel, media[Path(rel).stem])
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            columns = [*FIELDS, *(["sender_role"] if "sender_role" not in FIELDS else [])]
            writer = csv.DictWriter(f, columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _folder(root: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Writes ``files`` under ``root``; returns relative path → SHA-256."""
    return {rel: _write_picture(root / rel, data) for rel, data in files.items()}


class _Pictures:
    """The operation's pictures: twelve "known" ones (categories 1, 2, 3), the producer's
    camera pictures, a phone's far-apart shots and plain new ones, all drawn from ``seed``."""

    CAMERA = ("Synthcam", "SC-200")
    CENTRE = (48.13512, 11.58198)

    def __init__(self, seed: int, rng: random.Random) -> None:
        self.known = {f"K{i:02d}": make_picture(seed * 1000 + i, (96, 72)) for i in range(12)}
        self.categories = {f"K{i:02d}": str(1 + i // 4) for i in range(12)}
        self.known_sha = {k: hashlib.sha256(v).hexdigest() for k, v in self.known.items()}
        self.next_seed = seed * 1000 + 500
        self.serial = f"SC{seed:02d}-7Q4K19"
        self.production = [self._production_shot(rng, i) for i in range(6)]
        self.far_shots = [
            self.plain(
                CameraExif(
                    "Fauxphone",
                    "FP-7",
                    serial="FP0000077",
                    taken_at=T0 + timedelta(days=40 + i),
                    gps=(47.0 + 1.5 * i, 8.0 + 1.7 * i),
                )
            )
            for i in range(2)
        ]

    def plain(self, exif: CameraExif | None = None) -> bytes:
        """A new picture (camera size when it has EXIF)."""
        self.next_seed += 1
        return make_picture(self.next_seed, (160, 120) if exif else (96, 72), exif=exif)

    def _production_shot(self, rng: random.Random, day: int) -> bytes:
        """A picture of the producer's camera, 5 to 80 m from :attr:`CENTRE`."""
        bearing, metres = rng.uniform(0, 2 * math.pi), rng.uniform(5, 80)
        lat0 = self.CENTRE[0]
        lat = lat0 + metres * math.cos(bearing) / 111_320
        lon = self.CENTRE[1] + metres * math.sin(bearing) / (111_320 * math.cos(math.radians(lat0)))
        exif = CameraExif(
            *self.CAMERA,
            serial=self.serial,
            taken_at=T0 + timedelta(days=day, hours=3),
            gps=(round(lat, 6), round(lon, 6)),
        )
        return self.plain(exif)


def _document(owner: str, n: int) -> bytes:
    """A text file unique to its owner (so that no two suspects share it by chance)."""
    return f"{owner} notes {n}: dentist on Tuesday, pay the rent.\n".encode()


def _seized_folders(out: Path, pics: _Pictures) -> list[tuple[PlantedItem, dict[str, bytes]]]:
    """The seized folders (computers, a camera, a phone's pictures, storage) and their files.
    ``PC-02`` and ``USB-04`` are tied to their suspect only by the suspects file."""
    k, production = pics.known, pics.production
    plan: list[tuple[str, str, tuple[str, str, str, str | None], dict[str, bytes], bool]] = [
        ("PC-01", "S-01", ("computer", "Tuxbook", "TB-14", None), {
            "Pictures/a/K06.jpg": k["K06"],
            "Pictures/a/K07.jpg": k["K07"],
            "Pictures/b/IMG_0001.jpg": pics.plain(),
            "Documents/notes.txt": _document("S-01", 1),
        }, True),
        ("CAM-02", "S-02", ("camera", *pics.CAMERA, pics.serial), {
            f"DCIM/100SYNTH/SYN_{i + 1:04d}.JPG": p for i, p in enumerate(production[:4])
        }, True),
        ("PC-02", "S-02", ("computer", "Tuxbook", "TB-15", None), {
            "Pictures/import/SYN_0001.JPG": production[0],
            "Pictures/import/SYN_0002.JPG": production[1],
            "Pictures/import/SYN_0005.JPG": production[4],
            "Pictures/import/SYN_0006.JPG": production[5],
            "Pictures/misc/wallpaper.jpg": pics.plain(),
            "Documents/notes.txt": _document("S-02", 1),
        }, False),
        ("PHONE-03", "S-03", ("phone", "Fauxphone", "FP-5", None), {
            "DCIM/Saved/K02.jpg": k["K02"],
            "DCIM/Saved/IMG_1.jpg": pics.plain(),
            "DCIM/Saved/IMG_2.jpg": pics.plain(),
        }, True),
        ("USB-04", "S-04", ("storage", "Stickware", "SW-32", None), {
            "x/K09.jpg": k["K09"],
            "x/K10.jpg": k["K10"],
            "x/K00.jpg": k["K00"],
            "y/IMG_3.jpg": pics.plain(),
        }, False),
        ("HDD-05", "S-05", ("storage", "Diskly", "D-2T", None), {
            "backup/K09.jpg": k["K09"],
            "backup/K10.jpg": k["K10"],
            "backup/K11.jpg": k["K11"],
            "camera/FP_0001.jpg": pics.far_shots[0],
            "camera/FP_0002.jpg": pics.far_shots[1],
        }, True),
    ]  # fmt: skip
    for key in ("S-07", "S-09", "S-10", "S-11", "S-12"):
        files = {"docs/notes.txt": _document(key, 1), "docs/list.txt": _document(key, 2)}
        plan.append((f"USB-{key[-2:]}", key, ("storage", "Stickware", "SW-16", None), files, True))
    return [
        (
            PlantedItem(label, out / "seized" / label.lower(), "folder",
                        owner if on_row else None, owner, *device),
            files,
        )
        for label, owner, device, files, on_row in plan
    ]  # fmt: skip


def _chat_exports(
    out: Path, plot: _Plot, messages: list[list[dict[str, Any]]], pics: _Pictures
) -> tuple[list[PlantedItem], dict[str, list[dict[str, str]]]]:
    """The three seized phones' chat exports: every group on ``PHONE-01``, group 3 on
    ``PHONE-06``, group 6 and a direct conversation with ``S-09`` on ``PHONE-08``."""
    exports = [
        ("PHONE-01", "S-01", list(range(plot.n_groups)), None, "export.csv"),
        ("PHONE-06", "S-06", [3], None, "export.csv"),
        ("PHONE-08", "S-08", [6], "S-09", "export.jsonl"),
    ]
    e164 = plot.suspect_e164
    items, export_rows = [], {}
    for label, owner, on_groups, direct_with, name in exports:
        rows = _export_rows(plot, messages, on_groups, e164[owner])
        if direct_with is not None:
            peer = e164[direct_with]
            said = [(e164[owner], "are you coming on friday?"), (peer, "yes, at eight")]
            for i, (sender, text) in enumerate(said):
                rows.append(
                    {
                        "platform": "signal",
                        "conversation_id": f"direct-{peer}",
                        "conversation_type": "direct",
                        "message_id": f"d-{i}",
                        "timestamp": (T0 + timedelta(days=3, minutes=i)).isoformat(),
                        "sender_phone": sender,
                        "sender_name": plot.names[sender],
                        "direction": "outgoing" if sender == e164[owner] else "incoming",
                        "body": text,
                    }
                )
        path = out / "seized" / label.lower() / name
        _write_export(path, rows, pics.known)
        export_rows[label] = rows
        items.append(PlantedItem(label, path, "file", owner, owner, "phone", "Fauxphone", "FP-9",
                                 chat_export=True))  # fmt: skip
    return items, export_rows


def make_network(
    out: Path,
    *,
    seed: int = 0,
    participants: int = 3000,
    groups: int = 8,
    countries: int = 30,
    label_prefix: str = "",
) -> PlantedNetwork:
    """Writes the planted operation under ``out`` (see the module's docstring) and returns what
    was planted. The same arguments always give the same bytes. ``label_prefix`` goes before
    every item label (``NET-PC-01``), so that the network can join a case holding other items."""
    out.mkdir(parents=True, exist_ok=True)
    plot = _Plot(out, seed, participants, groups, countries)
    net = plot.net
    messages = plot.messages()
    pics = _Pictures(seed, plot.rng)
    net.known = {pics.known_sha[k]: pics.categories[k] for k in pics.known}
    net.camera_serial, net.gps_centre = pics.serial, _Pictures.CENTRE
    net.production_sha256 = [hashlib.sha256(p).hexdigest() for p in pics.production]

    folders = _seized_folders(out, pics)
    phones, export_rows = _chat_exports(out, plot, messages, pics)
    if label_prefix:
        folders = [(replace(i, label=label_prefix + i.label), files) for i, files in folders]
        phones = [replace(i, label=label_prefix + i.label) for i in phones]
        export_rows = {label_prefix + label: rows for label, rows in export_rows.items()}
    # what each suspect's items hold, for the expected links and figures
    held: dict[str, set[str]] = {s.key: set() for s in _SUSPECTS}
    pictures: set[str] = set()
    for item, files in folders:
        for rel, sha in _folder(item.path, files).items():
            held[item.owner].add(sha)
            if rel.lower().endswith((".jpg", ".jpeg")):
                pictures.add(sha)
    for item in phones:
        held[item.owner].add(hashlib.sha256(item.path.read_bytes()).hexdigest())
        for row in export_rows[item.label]:
            if row.get("attachment_path"):
                sha = pics.known_sha[Path(row["attachment_path"]).stem]
                held[item.owner].add(sha)
                pictures.add(sha)
    net.items = [item for item, _ in folders] + phones
    net.pictures = len(pictures)
    net.known_pictures = len(pictures & net.known.keys())
    for item in net.items:
        size = (
            sum(f.stat().st_size for f in item.path.rglob("*") if f.is_file())
            if item.path.is_dir()
            else item.path.stat().st_size
        )
        kind = item.device_type
        net.items_by_type[kind] = net.items_by_type.get(kind, 0) + 1
        net.bytes_by_type[kind] = net.bytes_by_type.get(kind, 0) + size

    _record_network(plot, net, messages, export_rows, pics.known_sha)
    _record_suspects(plot, net, held, export_rows)
    net.hashset = _write_hashset(out / "lists" / "known-bad.json", pics.known, pics.categories)
    net.suspects_file = _write_suspects(out / "lists" / "suspects.csv", plot, net)
    net.watchlists = _write_watchlists(out / "lists", plot, net)
    return net


def _record_network(
    plot: _Plot,
    net: PlantedNetwork,
    messages: list[list[dict[str, Any]]],
    export_rows: dict[str, list[dict[str, str]]],
    known_sha: dict[str, str],
) -> None:
    persons = set(plot.country_of)
    net.persons = len(persons)
    for number in persons:
        country = plot.country_of[number]
        net.countries[country] = net.countries.get(country, 0) + 1
    for g, title in enumerate(plot.titles):
        net.groups[title] = len(plot.members[g])
        net.group_ids[title] = plot.group_ids[g].hex()
        for number, role in plot.members[g].items():
            if role == "admin":
                net.admins.setdefault(number, []).append(title)
    net.bridge_e164 = plot.bridge
    net.bridge_groups = [plot.titles[g] for g in plot.bridge_groups]
    net.messages = sum(len(rows) for rows in messages) + sum(
        1 for rows in export_rows.values() for r in rows if r["conversation_type"] == "direct"
    )
    posted: dict[str, dict[str, set[str]]] = {}
    for rows in messages:
        for m in rows:
            if m.get("attachment"):
                sha = known_sha[m["attachment"]]
                cat = net.known[sha]
                posted.setdefault(m["sender"], {}).setdefault(cat, set()).add(sha)
    net.posted_known = {
        who: {cat: len(s) for cat, s in cats.items()} for who, cats in posted.items()
    }
    net.names = dict(plot.names)


def _record_suspects(
    plot: _Plot,
    net: PlantedNetwork,
    held: dict[str, set[str]],
    export_rows: dict[str, list[dict[str, str]]],
) -> None:
    e164 = plot.suspect_e164
    key_of = {number: key for key, number in e164.items()}
    for s in _SUSPECTS:
        labels = tuple(i.label for i in net.items if i.owner == s.key)
        groups = tuple(
            plot.titles[g] for g in range(plot.n_groups) if e164[s.key] in plot.members[g]
        )
        net.suspects[s.key] = PlantedSuspect(
            s.key, s.name, e164[s.key], s.region, s.birth_date, s.birth_year, s.occupation,
            labels, groups, s.role,
        )  # fmt: skip
        net.suspects_by_region[s.region] = net.suspects_by_region.get(s.region, 0) + 1
    net.producer = "S-02"
    net.child_access = "S-03"
    net.passive = [s.key for s in _SUSPECTS if s.role == "passive"]
    net.planted_links = {
        ("S-04", "S-05"): "same-content",
        ("S-06", "S-07"): "same-group",
        ("S-08", "S-09"): "contact",
    }
    links: dict[tuple[str, str], set[str]] = {}
    for a, b in combinations(sorted(net.suspects), 2):
        shared = held[a] & held[b]
        if shared:
            links.setdefault((a, b), set()).add("same-content")
            net.shared_contents[(a, b)] = shared
        if set(net.suspects[a].groups) & set(net.suspects[b].groups):
            links.setdefault((a, b), set()).add("same-group")
    # contact: one suspect's person among the participants of a chat database on the other's
    # item (everyone who posted in an export, or wrote in its direct conversations)
    for label, rows in export_rows.items():
        owner = net.item(label).owner
        for number in {r["sender_phone"] for r in rows}:
            other = key_of.get(number)
            if other is not None and other != owner:
                pair = (min(owner, other), max(owner, other))
                links.setdefault(pair, set()).add("contact")
    net.suspect_links = links


def _write_hashset(path: Path, known: dict[str, bytes], categories: dict[str, str]) -> Path:
    """The known pictures as a VICS 2.0 document with their categories."""
    from lanterne.hashsets.formats import by_name
    from lanterne.hashsets.records import HashRecord, HashSetHeader

    records = [
        HashRecord(
            f"record {i + 1}",
            md5=hashlib.md5(data).hexdigest(),
            sha1=hashlib.sha1(data).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
            category=categories[name],
            size=len(data),
        )
        for i, (name, data) in enumerate(sorted(known.items()))
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    by_name("vics").write(path, HashSetHeader("vics", name=KNOWN_SET), records)
    return path


def _national(number: str) -> str:
    parsed = phonenumbers.parse(number, None)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def _write_suspects(path: Path, plot: _Plot, net: PlantedNetwork) -> Path:
    """The investigators' suspects file: numbers in E.164 or national form, items by label."""
    fields = ["id", "name", "birth_date", "birth_year", "occupation", "region", "address",
              "country", "identifiers", "evidence", "notes"]  # fmt: skip
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        for s in _SUSPECTS:
            number = plot.suspect_e164[s.key]
            planted = net.suspects[s.key]
            writer.writerow(
                {
                    "id": s.key,
                    "name": s.name,
                    "birth_date": s.birth_date or "",
                    "birth_year": s.birth_year or "",
                    "occupation": s.occupation,
                    "region": s.region,
                    "address": f"{10 + int(s.key[-2:])} Example Street, {s.region}",
                    "country": CASE_COUNTRY,
                    "identifiers": _national(number) if s.national_form else number,
                    "evidence": ";".join(planted.items),
                    "notes": f"planted role: {s.role}",
                }
            )
    return path


def _write_watchlists(folder: Path, plot: _Plot, net: PlantedNetwork) -> dict[str, Path]:
    """An offence-history file and a sex-offender register extract, with their expected hits
    recorded in ``net.watchlist_hits``."""
    e164 = plot.suspect_e164
    s = {p.key: p for p in _SUSPECTS}
    stranger = next(n for n in plot.members[4] if n not in e164.values())
    history = [
        # record_id, name, birth_date, birth_year, identifiers, offence
        ("OH-001", "", "", "", e164["S-03"], "possession (2016)"),
        ("OH-002", "Brandt Jonas", "1979-04-12", "", "", "distribution (2012)"),
        ("OH-003", "", "", "", plot.distributors[0], "distribution (2019)"),
        ("OH-004", s["S-06"].name, "1970-01-08", "", "", "fraud (2008)"),
        ("OH-005", plot.names[stranger], "", "", "", "theft (2015)"),
        ("OH-006", "ORTLIEB Sven", "1985-07-01", "", "", "possession (2010)"),
    ]
    register = [
        ("SOR-01", "WEISSMANN Jörg", "1975-09-30", "", "", "register entry 2011"),
        ("SOR-02", "", "", "", e164["S-01"], "register entry 2014"),
        ("SOR-03", "Erik Sommer", "1966-10-10", "", "+4915799990000", "register entry 2009"),
    ]
    hits = {
        (OFFENCE_HISTORY, "OH-001", "suspect", "S-03", "e164"),
        (OFFENCE_HISTORY, "OH-001", "person", e164["S-03"], "e164"),
        (OFFENCE_HISTORY, "OH-002", "suspect", "S-05", "name+birth_date"),
        (OFFENCE_HISTORY, "OH-003", "person", plot.distributors[0], "e164"),
        (OFFENCE_HISTORY, "OH-006", "suspect", "S-07", "name+birth_year"),
        (REGISTER, "SOR-01", "suspect", "S-02", "name+birth_date"),
        (REGISTER, "SOR-02", "suspect", "S-01", "e164"),
        (REGISTER, "SOR-02", "person", e164["S-01"], "e164"),
    }
    net.watchlist_hits = hits
    out = {}
    for name, rows, extra in (
        (OFFENCE_HISTORY, history, "offence"),
        (REGISTER, register, "register"),
    ):
        path = folder / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["record_id", "name", "birth_date", "birth_year", "identifiers",
                             extra])  # fmt: skip
            writer.writerows(rows)
        out[name] = path
    return out


# ---------------------------------------------------------------- the case


def build_case(case_dir: Path, planted: PlantedNetwork, db_url: str | None = None) -> Case:
    """Runs the library steps an examiner would on the planted operation and returns the open
    case: init (with ``[network] country``), then :func:`load_into`."""
    from lanterne.case.workspace import CONFIG_NAME, Case

    case = Case.init(case_dir, "Planted network", db_url)
    case.close()
    config = case_dir / CONFIG_NAME
    text = config.read_text(encoding="utf-8")
    config.write_text(text + f'\n[network]\ncountry = "{planted.country}"\n', encoding="utf-8")
    case = Case.open(case_dir)
    try:
        load_into(case, planted)
    except BaseException:
        case.close()
        raise
    return case


def load_into(case: Case, planted: PlantedNetwork, workers: int = 2) -> None:
    """Every planted item registered with its device facts, ingest, the known-bad hash set,
    the chat exports, the suspects file, the two watchlists."""
    from lanterne.evidence.registry import Device, add_evidence
    from lanterne.hashsets.importer import import_hashset
    from lanterne.hashsets.matching import match_exact
    from lanterne.ingest.pipeline import Ingestor
    from lanterne.messaging.service import import_chats
    from lanterne.network.suspects import import_suspects
    from lanterne.network.watchlist import import_watchlist

    for item in planted.items:
        if case.store.evidence_by_label(item.label) is None:
            device = Device(item.device_type, item.device_make, item.device_model,
                            item.device_serial)  # fmt: skip
            add_evidence(case, item.path, item.label, item.suspect, kind=item.kind, device=device)
    Ingestor(case, workers=workers).run()
    match_exact(case)
    import_hashset(case, planted.hashset, "known-bad", KNOWN_SET, scheme=KNOWN_SCHEME)
    match_exact(case)
    for item in planted.items:
        if item.chat_export:
            import_chats(case, "generic", item.path, workers=workers)
    import_suspects(case, planted.suspects_file)
    for name, path in planted.watchlists.items():
        import_watchlist(case, path, name)
