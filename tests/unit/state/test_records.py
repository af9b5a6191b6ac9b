"""The packed receipt records (`state/redis/records.py`): round trips, the exact bytes of a
small case, pruning at the return window, and refusal of bytes that are not records."""

from __future__ import annotations

import random

import pytest

from streamproc.engine.model import ReceiptRecord, SaleLine
from streamproc.state.redis.records import CorruptRecords, pack, prune, unpack

DAY = 86_400_000_000


def _rand_record(rng: random.Random, rid: str, cid: str | None) -> ReceiptRecord:
    kind = rng.choice(["sale", "return"])
    lines = []
    if kind == "sale":
        no = 0
        for _ in range(rng.randint(0, 6)):
            no += rng.choice([1, 1, 1, 3, -2])
            amount = rng.choice([0, rng.randint(1, 10**9), 2**62])
            disc = rng.choice([0, 0, rng.randint(0, 5000)])
            red = rng.choice([0, 0, rng.randint(0, 5000)])
            spend = rng.choice([amount - disc - red, 0, rng.randint(-10, 10**6)])
            lines.append(SaleLine(no, rng.randint(1, 100_000), amount, disc, red,
                                  rng.choice([0, rng.randint(-5, 9999)]), spend,
                                  rng.choice([0, 1, 7])))
    buckets = [rng.randint(0, 2**40) for _ in range(rng.randint(0, 3))]
    ts = rng.choice([0, -(2**63), 2**63 - 1, rng.randint(1_700_000_000, 1_900_000_000) * 10**6,
                     rng.randint(1_700_000_000 * 10**6, 1_900_000_000 * 10**6)])
    return ReceiptRecord(rid, cid, ts, kind, lines, buckets)


@pytest.mark.parametrize("cid", ["C1", None])
def test_round_trip(cid):
    rng = random.Random(7)
    for n in range(300):
        recs = [_rand_record(rng, f"R{n}-{i}-ü", cid) for i in range(rng.randint(0, 8))]
        got = unpack(pack(recs), cid)
        assert list(got.values()) == recs


def test_the_bytes_of_a_small_case():
    rec = ReceiptRecord("R1", "C1", 1_000_000, "sale",
                        [SaleLine(1, 2, 100, 10, 0, 5, 90), SaleLine(2, 1, 50, 0, 0, 0, 0, 1)],
                        [3])
    ret = ReceiptRecord("R2", "C1", 1_000_001, "return")
    assert pack([rec, ret]) == bytes([
        1, 2,
        2, *b"R1", 0b10, 2,  # a sale, its time from 0 in whole seconds: 1 s, zigzagged 2
        2, 0b1010, 4, 200, 1, 20, 10,  # line 1: discount, accrued; spend = amount - discount
        0b110000, 2, 100, 2,  # line 2: returned 1, spend 0
        1, 6,
        2, *b"R2", 0b01, 2, 0, 0])  # a return 1 µs later


def test_the_id_the_key_names_is_not_written_again():
    rec = ReceiptRecord("R9", None, 5_000_000, "sale")
    raw = pack([rec], "R9")
    assert raw == bytes([1, 1, 0, 0b10, 10, 0, 0])
    assert unpack(raw, None, "R9") == {"R9": rec}
    with pytest.raises(CorruptRecords):
        unpack(raw, None)


def test_prune_keeps_the_window_and_a_day_before_the_newest():
    w = 30 * DAY
    recs = {f"R{d}": ReceiptRecord(f"R{d}", "C1", d * DAY, "sale") for d in (0, 10, 11, 41)}
    assert [r.receipt_id for r in prune(recs, w)] == ["R10", "R11", "R41"]
    assert prune({}, w) == []


@pytest.mark.parametrize("raw", [
    b"", b"\x02\x00", b"\x01", b"\x01\x01", b"\x01\x01\x02R1\x00\x00\x00\x00\x00",
    b"\x01\x01\x02R1\x05\x00\x00\x00", b"\x01\x01\x02\xff\xfe\x00\x00\x00\x00",
    b"\x01\x00\x00", b"\x01\x01\x02R1\x00\x00\x01\x80", b"\x01\x01\x02R1\x00\x00\x01\x60\x00\x00",
    b"\x01\x01\x02R1\x04\x00\x00\x00",
    b"\x01" + b"\xff" * 11 + b"\x01", b"\x01\x7f",
])
def test_bytes_that_are_not_records_are_refused(raw):
    with pytest.raises(CorruptRecords):
        unpack(raw, "C1")


def test_a_kind_that_does_not_exist_is_not_written():
    with pytest.raises(ValueError):
        pack([ReceiptRecord("R1", "C1", 0, "refund")])


def test_a_lookup_decodes_the_records_only_when_the_id_is_in_their_bytes():
    from rules_helpers import program_dict

    from streamproc.domain.program import program_from_dict
    from streamproc.state.redis.store import BatchView

    rng = random.Random(3)
    recs = [_rand_record(rng, rid, "C1") for rid in ("R10", "R2", "S-ü")]
    view = BatchView(program_from_dict(program_dict()))
    view.adopt_records(0, ("h", "C1"), pack(recs))
    view.at("X", 0, "C1")
    assert view.receipt("R3") is None and view.record_sets == {}  # not decoded
    assert view.receipt("R1") is None  # "R1" is inside "R10": decoded, and still absent
    assert view.record_sets != {}
    for r in recs:
        assert view.receipt(r.receipt_id) == r
    anon = _rand_record(rng, "A1", None)  # an anonymous set names its one id by its key
    view.adopt_records(0, ("a", "A1"), pack([anon], "A1"))
    view.at("A1", 0, None)
    assert view.receipt("A1") == anon
    # a record put in a set not decoded is found, and joins the set when it is decoded
    view2 = BatchView(program_from_dict(program_dict()))
    view2.adopt_records(0, ("h", "C1"), pack(recs))
    new = _rand_record(rng, "N1", "C1")
    view2.put_receipt(new)
    view2.at("N1", 0, "C1")
    assert view2.receipt("N1") == new and view2.record_sets == {}
    assert list(view2._records(("h", "C1")).values()) == [*recs, new]
