"""The planted network generator: deterministic, consistent with itself, its files readable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import phonenumbers
import pytest

from lanterne.hashsets.formats import detect
from lanterne.messaging.generic import open_export
from lanterne.messaging.records import Account, ChatWarning, Member, Message
from lanterne.network.tabular import BadRow, Row, TableFile
from lanterne.synth.network import (
    COUNTRIES,
    PlantedNetwork,
    country_allocation,
    group_sizes,
    make_network,
    unique_numbers,
)

SMALL = {"participants": 400, "groups": 8, "countries": 12}


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> PlantedNetwork:
    return make_network(tmp_path_factory.mktemp("net") / "op", seed=4, **SMALL)


def test_same_seed_same_bytes_other_seed_other_numbers(
    tmp_path: Path, planted: PlantedNetwork
) -> None:
    again = make_network(tmp_path / "again", seed=4, **SMALL)
    assert _digests(again.root) == _digests(planted.root)
    assert again.countries == planted.countries
    assert again.suspect_links == planted.suspect_links
    other = make_network(tmp_path / "other", seed=5, **SMALL)
    assert other.production_sha256 != planted.production_sha256
    assert other.known.keys().isdisjoint(planted.known)


def test_allocation_is_exact_skewed_and_covers_every_country() -> None:
    counts = country_allocation(1000, list(COUNTRIES[:30]))
    assert sum(counts.values()) == 1000
    assert min(counts.values()) >= 1
    values = list(counts.values())
    assert values == sorted(values, reverse=True)
    assert values[0] > 5 * values[-1]
    sizes = group_sizes(500, 8)
    assert sum(sizes) == 500 and sizes == sorted(sizes, reverse=True)
    with pytest.raises(ValueError):
        country_allocation(5, ["DE", "FR", "NL", "BR", "US", "PL"])


def test_invented_numbers_are_valid_distinct_and_of_their_country() -> None:
    numbers = unique_numbers({"DE": 50, "BR": 20, "JP": 20, "US": 20})
    flat = [n for ns in numbers.values() for n in ns]
    assert len(set(flat)) == 110
    for region, ns in numbers.items():
        for n in ns:
            parsed = phonenumbers.parse(n, None)
            assert phonenumbers.is_valid_number(parsed)
            assert phonenumbers.region_code_for_number(parsed) == region


def test_country_counts_and_groups_agree_with_the_exports(planted: PlantedNetwork) -> None:
    assert planted.persons == 400
    assert sum(planted.countries.values()) == 400
    assert len(planted.countries) == 12
    assert planted.countries["DE"] > planted.countries["BR"]
    export = planted.item("PHONE-01").path
    records = list(open_export(export).records())
    accounts = [r for r in records if isinstance(r, Account)]
    members = [r for r in records if isinstance(r, Member)]
    messages = [r for r in records if isinstance(r, Message)]
    assert len(accounts) == 400  # one seized phone reveals everyone
    countries: dict[str, int] = {}
    for a in accounts:
        assert a.e164 is not None
        region = phonenumbers.region_code_for_number(phonenumbers.parse(a.e164, None))
        assert region is not None
        countries[region] = countries.get(region, 0) + 1
    assert countries == planted.countries
    per_account: dict[str, int] = {}
    for m in members:
        per_account[m.account_ref] = per_account.get(m.account_ref, 0) + 1
    multi = [ref for ref, n in per_account.items() if n > 1]
    assert multi == [f"sender/signal/phone/{planted.bridge_e164}"]
    assert per_account[multi[0]] == len(planted.bridge_groups) == 4
    assert len(members) == sum(planted.groups.values())
    attached = sum(1 for m in messages if m.attachments)
    assert attached == sum(n for cats in planted.posted_known.values() for n in cats.values())
    assert len(planted.admins) == 5
    assert planted.admins[planted.suspects["S-01"].e164] == ["Harbour 00"]


def test_every_file_parses(planted: PlantedNetwork) -> None:
    for item in planted.items:
        assert item.path.exists()
        if item.chat_export:
            records = list(open_export(item.path).records())
            assert not [r for r in records if isinstance(r, ChatWarning)]
    fmt = detect(planted.hashset)
    header, entries = fmt.read(planted.hashset)
    assert header.format == "vics"
    listed = {r.sha256: r.category for r in entries}
    assert listed == planted.known
    assert set(listed.values()) == {"1", "2", "3"}
    rows = list(TableFile(planted.suspects_file))
    assert not [r for r in rows if isinstance(r, BadRow)]
    keys = [r.text("id") for r in rows if isinstance(r, Row)]
    assert keys == sorted(planted.suspects)
    for path in planted.watchlists.values():
        assert all(isinstance(r, Row) for r in TableFile(path))


def test_the_plot(planted: PlantedNetwork) -> None:
    """The roles and links the end-to-end tests rely on are planted as documented."""
    assert planted.producer == "S-02" and planted.child_access == "S-03"
    assert planted.passive == ["S-10", "S-11", "S-12"]
    assert planted.item("CAM-02").device_serial == planted.camera_serial
    assert len(planted.production_sha256) == 6
    for pair, kind in planted.planted_links.items():
        assert kind in planted.suspect_links[pair]
    shared = planted.shared_contents[("S-04", "S-05")]
    assert len(shared) == 2 and shared <= planted.known.keys()
    # passive suspects share nothing with each other
    for a in planted.passive:
        for b in planted.passive:
            assert (a, b) not in planted.suspect_links
    fields = {hit[4] for hit in planted.watchlist_hits}
    assert fields == {"e164", "name+birth_date", "name+birth_year"}
    assert sum(planted.suspects_by_region.values()) == 12
    assert planted.items_by_type == {"computer": 2, "camera": 1, "phone": 4, "storage": 7}
