"""Packed profiles (`state/redis/profiles.py`): round trips, the bytes of a small case, the
earlier JSON still read, and refusal of bytes that are not a profile."""

from __future__ import annotations

from datetime import date

import pytest

from streamproc.domain.receipt import Profile
from streamproc.engine.stateformat import CorruptState
from streamproc.state.redis.profiles import decode_profile, encode_profile


@pytest.mark.parametrize("p", [
    Profile("C1", None, frozenset()),
    Profile("C1", date(1990, 5, 17), frozenset({"vegan", "pets", "é"})),
    Profile("C1", date(1, 1, 1), frozenset({""})),
    Profile("C1", date(9999, 12, 31), frozenset()),
])
def test_round_trip(p):
    assert decode_profile(encode_profile(p), "C1") == p


def test_the_bytes_of_a_small_case():
    p = Profile("C1", date(1970, 1, 3), frozenset({"b", "a"}))
    assert encode_profile(p) == bytes([1, 1, 4, 2, 1, *b"a", 1, *b"b"])


def test_the_earlier_json_is_read():
    raw = b'{"birthday":"1977-06-25","segments":["vegan"]}'
    assert decode_profile(raw, "C2") == Profile("C2", date(1977, 6, 25), frozenset({"vegan"}))
    assert decode_profile(None, "C2") is None


@pytest.mark.parametrize("raw", [b"", b"\x02\x00\x00", b"\x01", b"\x01\x02\x00",
                                 b"\x01\x00\x01\x05ab", b"\x01\x00\x00\x00",
                                 b"\x01\x00\x01\x02\xff\xfe", b"\x01\x01\xff\xff\xff\x7f\x00"])
def test_bytes_that_are_not_a_profile_are_refused(raw):
    with pytest.raises(CorruptState):
        decode_profile(raw, "C1")
