"""The packed customer-state format: both codecs write the same bytes and read them back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc._fastcalc import decode_state as c_decode
from streamproc._fastcalc import encode_state as c_encode
from streamproc.engine.model import Bucket, CustomerState, Offer
from streamproc.engine.stateformat import CorruptState, decode_state, encode_state

I64 = st.integers(-(1 << 63), (1 << 63) - 1)
TS = st.one_of(st.integers(0, 4_000_000_000_000_000), I64)
NAT = st.integers(0, (1 << 63) - 1)
NAME = st.text(min_size=0, max_size=12)

buckets = st.builds(Bucket, NAT, NAME, NAME, st.integers(0, 2), I64, TS,
                    st.one_of(st.none(), TS), st.integers(0, 2), I64, st.integers(0, 7))


@st.composite
def states(draw) -> CustomerState:
    s = CustomerState(draw(NAME), draw(st.one_of(st.none(), TS)), draw(NAT),
                      draw(st.lists(buckets, max_size=8)), draw(I64), draw(I64), draw(NAT),
                      draw(st.dictionaries(NAME, I64, max_size=4)), {}, draw(NAT))
    for cid in draw(st.lists(NAME, max_size=4, unique=True)):
        s.offers[cid] = Offer(cid, draw(TS), draw(TS), draw(st.one_of(st.none(), I64)))
    return s


def _same(a: CustomerState, b: CustomerState) -> None:
    assert a == b
    assert list(a.uses) == list(b.uses) and list(a.offers) == list(b.offers)


@settings(max_examples=400, deadline=None)
@given(states())
def test_both_codecs_same_bytes_and_round_trip(s: CustomerState) -> None:
    blob = encode_state(s)
    assert c_encode(s) == blob
    _same(decode_state(s.customer_id, blob), s)
    _same(c_decode(s.customer_id, blob), s)


@settings(max_examples=200, deadline=None)
@given(states(), st.data())
def test_corrupt_blobs_rejected_alike(s: CustomerState, data) -> None:
    blob = encode_state(s)
    cut = data.draw(st.integers(0, len(blob) - 1))
    for bad in (blob[:cut], blob + b"\x00",
                blob[:cut] + bytes([blob[cut] ^ data.draw(st.integers(1, 255))]) + blob[cut + 1:]):
        got = []
        for dec in (decode_state, c_decode):
            try:
                got.append(dec("C", bad))
            except CorruptState:
                got.append("corrupt")
        assert got[0] == got[1]
        if bad is not blob and len(bad) != len(blob):
            assert got[0] == "corrupt"


def test_compact_and_versioned() -> None:
    s = CustomerState("C1", 1_780_000_000_000_000, 3, [
        Bucket(1, "R1", "base", 0, 120, 1_780_000_000_000_000, 1_811_536_000_000_000),
        Bucket(2, "R1", "welcome-bonus", 1, 500, 1_780_000_000_000_000, None, 1, 0, 1)],
        0, 12_345, 1, {"welcome-bonus": 1}, {}, 7)
    blob = encode_state(s)
    assert blob[0] == 1
    assert len(blob) < 70
    with pytest.raises(CorruptState):
        decode_state("C1", b"\x02" + blob[1:])
    with pytest.raises(CorruptState):
        c_decode("C1", b"\x02" + blob[1:])


@pytest.mark.parametrize("enc", [encode_state, c_encode])
def test_out_of_range_refused(enc) -> None:
    with pytest.raises(ValueError):
        enc(CustomerState("C", spend=1 << 63))
    with pytest.raises(ValueError):
        enc(CustomerState("C", sales=-1))
    with pytest.raises(ValueError):
        enc(CustomerState("C", buckets=[Bucket(1, "R", "c", 5, 1, 0, None)]))


@settings(max_examples=300, deadline=None)
@given(states())
def test_outstanding_is_the_balance_summed(s: CustomerState) -> None:
    """What the store counts in the liability for a customer it writes."""
    assert s.outstanding() == sum(s.balance())
