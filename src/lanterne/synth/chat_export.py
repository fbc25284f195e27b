"""Synthetic generic chat exports (CSV or JSON Lines) with planted structure.

Invented people with valid numbers of several countries, a Signal group named by its 32-byte
id, a Telegram group, a direct conversation, attachments as benign generated pictures beside
the export (one also named by hash only, one missing, one pointing outside the folder), and
rows broken on purpose. :class:`PlantedExport` says what a correct import finds.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers

from lanterne.synth.pictures import make_picture

REGIONS = ("DE", "FR", "NL", "BR", "US", "PL", "ES", "IT", "SE", "AU", "IN", "ZA")


def phone_number(region: str, n: int) -> str:
    """An invented, valid E.164 number of ``region`` (its example number, last digits varied)."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None, region
    digits = str(example.national_number)
    for k in range(1000):
        tail = str((n + k * 7919) % 10_000).zfill(4)
        candidate = phonenumbers.parse(f"+{example.country_code}{digits[:-4]}{tail}", None)
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    raise AssertionError(f"no valid number found for {region}")


@dataclass
class PlantedExport:
    path: Path
    messages: int
    """Rows that are valid messages."""
    malformed_lines: list[int]
    persons: int
    """Distinct people (joined on their numbers and ids across platforms)."""
    countries: dict[str, int]
    signal_group_id: bytes
    group_members: dict[str, int]
    """Group title → distinct members."""
    attachment_sha256: dict[str, str] = field(default_factory=dict)
    """File name → SHA-256 of the pictures beside the export."""
    referenced_sha256: str = ""
    """The picture named by hash only (also beside the export under another message)."""
    sender_counts: dict[str, int] = field(default_factory=dict)
    """Phone number → messages sent."""


def make_generic_export(out: Path, fmt: str = "csv", seed: int = 0) -> PlantedExport:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    media = out / "media"
    media.mkdir(exist_ok=True)
    people = [
        {"phone": phone_number(region, 100 + i), "name": f"Person {i:02d}", "region": region}
        for i, region in enumerate(REGIONS[:8])
    ]
    group_id = rng.randbytes(32)
    pictures = {}
    for i in range(3):
        name = f"IMG_{i:04d}.jpg"
        data = make_picture(seed * 100 + i, (96, 72))
        (media / name).write_bytes(data)
        pictures[name] = hashlib.sha256(data).hexdigest()
    rows: list[dict[str, str]] = []
    senders: dict[str, int] = {}

    def add(account_phone: str | None = None, **row: str) -> None:
        rows.append(row)
        phone = account_phone or row.get("sender_phone")
        if phone and row.get("timestamp") not in ("not-a-time",):
            senders[phone] = senders.get(phone, 0) + 1

    t0 = 1_740_000_000
    signal = {
        "platform": "signal",
        "conversation_id": group_id.hex(),
        "conversation_name": "Harbour",
    }
    for k, p in enumerate(people[:6]):  # six members post in the Signal group
        add(
            **signal,
            timestamp=str(t0 + k * 60),
            sender_phone=p["phone"],
            sender_name=p["name"],
            body=f"hello {k}",
        )
    add(
        **signal,
        timestamp=str((t0 + 600) * 1000),
        sender_phone=people[0]["phone"],
        sender_name=people[0]["name"],
        attachment_path="media/IMG_0000.jpg",
        attachment_type="image/jpeg",
    )
    add(
        **signal,
        timestamp="2025-02-20T10:00:00+01:00",
        sender_phone=people[1]["phone"],
        attachment_path="media/IMG_0001.jpg",
    )
    add(
        **signal,
        timestamp="2025-02-20T10:05:00Z",
        sender_phone=people[2]["phone"],
        attachment_sha256=pictures["IMG_0002.jpg"].upper(),
        attachment_name="x.jpg",
    )
    add(
        **signal,
        timestamp="2025-02-20T10:06:00Z",
        sender_phone=people[2]["phone"],
        attachment_path="media/gone.jpg",
    )
    add(
        **signal,
        timestamp="2025-02-20T10:07:00Z",
        sender_phone=people[3]["phone"],
        attachment_path="../outside.jpg",
    )
    telegram = {"platform": "telegram", "conversation_id": "-100123", "conversation_name": "Quay"}
    # person 0 again, by number and Telegram id; person 6 by Telegram id and number
    add(
        **telegram,
        timestamp=str(t0 + 3600),
        sender_phone=people[0]["phone"],
        sender_id="5550001",
        sender_username="Harbour_Master",
    )
    add(
        **telegram,
        timestamp=str(t0 + 3700),
        sender_id="5550006",
        sender_phone=people[6]["phone"],
        attachment_path="media/IMG_0002.jpg",
    )
    add(
        people[6]["phone"],  # the account's number, known from its first message
        **telegram,
        timestamp=str(t0 + 3800),
        sender_id="5550006",
        body="no number this time",
    )
    direct = {"platform": "whatsapp", "conversation_id": "chat-7", "conversation_type": "direct"}
    add(**direct, timestamp=str(t0 + 7200), sender_phone=people[7]["phone"], body="hi")
    add(
        **direct,
        timestamp=str(t0 + 7260),
        sender_phone=people[0]["phone"],
        direction="outgoing",
        body="hi back",
    )
    malformed_at = len(rows)
    add(**signal, timestamp="not-a-time", sender_phone=people[1]["phone"], body="broken")
    add(**signal, timestamp=str(t0), body="nobody sent this")
    path = out / f"export.{'csv' if fmt == 'csv' else 'jsonl'}"
    if fmt == "csv":
        from lanterne.messaging.generic import FIELDS

        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        first_line = 2
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        first_line = 1
    countries: dict[str, int] = {}
    for p in people:
        countries[p["region"]] = countries.get(p["region"], 0) + 1
    return PlantedExport(
        path=path,
        messages=malformed_at,
        malformed_lines=[first_line + malformed_at, first_line + malformed_at + 1],
        persons=len(people),
        countries=countries,
        signal_group_id=group_id,
        group_members={"Harbour": 6, "Quay": 2},
        attachment_sha256=pictures,
        referenced_sha256=pictures["IMG_0002.jpg"],
        sender_counts=senders,
    )
