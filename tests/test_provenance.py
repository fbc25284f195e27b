from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lanterne import provenance
from lanterne.provenance import Step

steps = st.builds(
    Step,
    kind=st.sampled_from(["evidence", "folder", "zip", "tar", "7z", "gzip"]),
    path=st.text(min_size=1, max_size=40),
    raw=st.none() | st.binary(min_size=1, max_size=20).map(bytes.hex),
    offset=st.none() | st.integers(min_value=0, max_value=2**63),
)
chains = st.lists(steps, min_size=1, max_size=6).map(tuple)


@given(chains)
def test_json_round_trip_and_stable_key(chain: provenance.Provenance) -> None:
    text = provenance.to_json(chain)
    assert provenance.from_json(text) == chain
    assert provenance.key(provenance.from_json(text)) == provenance.key(chain)
    assert len(provenance.key(chain)) == 64


@given(chains, chains)
def test_different_chains_have_different_keys(
    a: provenance.Provenance, b: provenance.Provenance
) -> None:
    assert (provenance.key(a) == provenance.key(b)) == (a == b)


def test_names_that_are_not_utf8_keep_their_bytes() -> None:
    text, raw = provenance.decode_name(b"caf\xe9.jpg")
    assert text == "caf\\xe9.jpg"
    assert bytes.fromhex(raw or "") == b"caf\xe9.jpg"
    assert provenance.decode_name("café.jpg".encode()) == ("café.jpg", None)


def test_display_path_joins_layers() -> None:
    chain = (Step("evidence", "PC-07"), Step("folder", "Users/a/x.zip"), Step("zip", "img/1.jpg"))
    assert provenance.display_path(chain) == "Users/a/x.zip!/img/1.jpg"
