"""The compiled receipt-record codec (`_fc_records.pxi`) against the readable one (`records.py`):
the same bytes for every input the reference packs, the reference's error for every input it
refuses (corrupt bytes, values past int64), the same records read, and the splice of a
batch's write (`merge_fast`) equal to decode + update + prune + pack (`merge`), including at
the boundaries."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc._fastcalc import pack_records as c_pack
from streamproc._fastcalc import splice_records as c_splice
from streamproc._fastcalc import unpack_records as c_unpack
from streamproc.engine.model import ReceiptRecord, SaleLine
from streamproc.state.redis.records import (
    CorruptRecords,
    merge,
    merge_fast,
    pack,
    pack_fast,
    unpack,
    unpack_fast,
)

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
I64 = st.integers(I64_MIN, I64_MAX)
EDGE = st.sampled_from([0, 1, -1, I64_MIN, I64_MAX, I64_MAX - 1, I64_MIN + 1, 1 << 62])
VAL = st.one_of(EDGE, st.integers(-1000, 100_000), I64)
SMALL = st.one_of(st.just(0), st.just(0), st.integers(1, 5000), EDGE)
DAY = 86_400_000_000
TS = st.one_of(EDGE, st.integers(1_700_000_000, 1_900_000_000).map(lambda s: s * 1_000_000),
               st.integers(1_700_000_000_000_000, 1_900_000_000_000_000), I64)
RID = st.one_of(st.from_regex(r"R[0-9]{1,4}", fullmatch=True), st.text(min_size=1, max_size=8))
WINDOW = st.one_of(st.just(30 * DAY), st.just(0), st.integers(0, 1 << 62), I64)


@st.composite
def lines(draw: Any) -> SaleLine:
    amount = draw(VAL)
    disc, red = draw(SMALL), draw(SMALL)
    spend = draw(st.one_of(st.just(amount - disc - red), st.just(0), VAL))
    if not I64_MIN <= spend <= I64_MAX:
        spend = 0
    return SaleLine(draw(st.one_of(st.integers(1, 40), EDGE)), draw(VAL), amount, disc, red,
                    draw(SMALL), spend, draw(SMALL))


@st.composite
def records(draw: Any, rid: str, cid: str | None) -> ReceiptRecord:
    kind = draw(st.sampled_from(["sale", "return"]))
    ls = draw(st.lists(lines(), max_size=5)) if kind == "sale" else []
    if ls and draw(st.booleans()):  # consecutive line numbers (the common, unwritten case)
        start = draw(st.integers(1, 3))
        for i, ln in enumerate(ls):
            ln.line_no = start + i
    return ReceiptRecord(rid, cid, draw(TS), kind, ls, draw(st.lists(VAL, max_size=3)))


@st.composite
def record_sets(draw: Any) -> tuple[str | None, str | None, list[ReceiptRecord]]:
    """(customer id, the id the key names, records with unique ids)."""
    cid = draw(st.sampled_from(["C1", None]))
    named = None if cid else draw(RID)
    ids = draw(st.lists(RID, max_size=8, unique=True))
    if named is not None and draw(st.booleans()):
        ids.insert(0, named)  # the anonymous receipt's own record: length-0 id
    ids = list(dict.fromkeys(ids))
    return cid, named, [draw(records(rid, cid)) for rid in ids]


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # compared by type and text
        return (type(exc), str(exc))


@settings(max_examples=400, deadline=None)
@given(record_sets())
def test_pack_same_bytes(case: tuple[str | None, str | None, list[ReceiptRecord]]) -> None:
    cid, named, recs = case
    want = pack(recs, named)
    assert c_pack(recs, named) == want
    assert pack_fast(recs, named) == want
    assert list(unpack(want, cid, named).values()) == recs
    got = c_unpack(want, cid, named)
    assert got is not None
    assert list(got.items()) == list(unpack(want, cid, named).items())


@settings(max_examples=200, deadline=None)
@given(record_sets(), st.data())
def test_pack_refuses_like_the_reference(case: Any, data: Any) -> None:
    """Values the reference refuses: the compiled pack answers None, `pack_fast` raises the
    reference's error."""
    cid, named, recs = case
    if not recs:
        recs = [ReceiptRecord("R1", cid, 0, "sale")]
    r = data.draw(st.sampled_from(recs))
    how = data.draw(st.sampled_from(["ts", "kind", "bucket", "line", "bool", "rid"]))
    if how == "ts":
        r.ts_us = data.draw(st.sampled_from([I64_MAX + 1, I64_MIN - 1, 1 << 70]))
    elif how == "kind":
        r.kind = "refund"
    elif how == "bucket":
        r.rate_buckets = [*r.rate_buckets, I64_MAX + 1]
    elif how == "line":
        r.lines = [*r.lines, SaleLine(1, 1, I64_MIN - 1, 0, 0, 0, 0)]
    elif how == "bool":
        r.lines = [*r.lines, SaleLine(1, True, 5, 0, 0, 0, 5)]
    else:
        r.receipt_id = "R\ud800"  # not encodable as UTF-8
    want = _outcome(pack, recs, named)
    assert isinstance(want, tuple)
    assert c_pack(recs, named) is None
    assert _outcome(pack_fast, recs, named) == want


@settings(max_examples=400, deadline=None)
@given(record_sets(), st.data())
def test_splice_is_merge(case: Any, data: Any) -> None:
    """A batch's write: old records kept by their bytes, some replaced, new ones appended,
    pruned at the window: the very bytes of decode + update + prune + pack."""
    cid, named, recs = case
    k = data.draw(st.integers(0, len(recs)))
    old, added = recs[:k], recs[k:]
    raw = pack(old, named) if old or data.draw(st.booleans()) else b""
    new = {r.receipt_id: r for r in added}
    for r in old:  # returns update a sale's lines' `returned`: the record is put again
        if data.draw(st.integers(0, 4)) == 0:
            new[r.receipt_id] = data.draw(records(r.receipt_id, cid))
    window = data.draw(WINDOW)
    want = merge(raw, new, cid, named, window)
    got = c_splice(raw, c_pack(list(new.values()), named), named, window)
    assert got == want  # never handed back to the reference: these are pack's own bytes
    assert merge_fast(raw, new, cid, named, window) == want


@settings(max_examples=300, deadline=None)
@given(record_sets(), st.data())
def test_corrupt_or_odd_bytes_get_the_reference_answer(case: Any, data: Any) -> None:
    """Truncated, extended or flipped bytes: the same bytes or the same error as the
    reference (CorruptRecords for what is not records), never another answer."""
    cid, named, recs = case
    raw = pack(recs, named)
    cut = data.draw(st.integers(0, len(raw) - 1))
    flip = bytes([raw[cut] ^ data.draw(st.integers(1, 255))])
    new = {r.receipt_id: r for r in data.draw(st.lists(records("N1", cid), max_size=1))}
    window = data.draw(WINDOW)
    for bad in (raw[:cut], raw + data.draw(st.binary(min_size=1, max_size=3)),
                raw[:cut] + flip + raw[cut + 1:], data.draw(st.binary(max_size=24))):
        want = _outcome(merge, bad, new, cid, named, window)
        assert _outcome(merge_fast, bad, new, cid, named, window) == want
        read = _outcome(unpack, bad, cid, named)
        got = _outcome(unpack_fast, bad, cid, named)
        assert got == read and (not isinstance(read, dict) or list(got) == list(read))
        if bad and len(bad) < len(raw) and bad == raw[:len(bad)]:
            assert want[0] is CorruptRecords


NAMED = ReceiptRecord("A1", None, 5_000_000, "sale", [SaleLine(1, 1, 100, 0, 0, 1, 100)])


@pytest.mark.parametrize(("raw", "new", "named"), [
    (b"", {}, None),  # nothing read, nothing put: an empty set
    (b"\x01\x00", {}, None),
    (b"", {"A1": NAMED}, "A1"),  # an anonymous receipt's own record: a length-0 id
    (pack([NAMED], "A1"), {}, "A1"),
    (pack([NAMED]), {}, "A1"),  # its id spelled out: written as length 0 again
    (pack([ReceiptRecord("R1", "C1", I64_MIN, "sale"), ReceiptRecord("R2", "C1", I64_MAX,
                                                                      "return")]), {}, None),
    (pack([ReceiptRecord("R1", "C1", I64_MAX, "sale")]),
     {"R2": ReceiptRecord("R2", "C1", I64_MIN, "return")}, None),
])
def test_boundaries(raw: bytes, new: dict[str, ReceiptRecord], named: str | None) -> None:
    cid = None if named else "C1"
    if raw:
        assert list(unpack_fast(raw, cid, named).items()) == list(unpack(raw, cid, named).items())
    for window in (0, 30 * DAY, I64_MAX):
        want = merge(raw, new, cid, named, window)
        assert c_splice(raw, c_pack(list(new.values()), named), named, window) == want


@pytest.mark.parametrize("raw", [
    b"\x02\x00",  # another format version
    b"\x01\x01\x00\x00\x00\x00\x00",  # a length-0 id where the key names none
    b"\x01\x01\x02R1\x00\x00\x00",  # truncated (no bucket count)
    b"\x01\x01\x02\xff\xfe\x00\x00\x00\x00",  # an id that is not UTF-8
    b"\x01\x00\x00",  # trailing bytes
    b"\x01\x01\x02R1\x04\x00\x00\x00",  # an unknown kind
    b"\x01\x81\x00",  # a count past the value (and a varint not minimal)
])
def test_corrupt_refused_by_both(raw: bytes) -> None:
    assert c_splice(raw, c_pack([]), None, 30 * DAY) is None
    assert c_unpack(raw, "C1", None) is None
    with pytest.raises(CorruptRecords) as read:
        unpack(raw, "C1")
    with pytest.raises(CorruptRecords) as got:
        unpack_fast(raw, "C1")
    assert str(got.value) == str(read.value)
    with pytest.raises(CorruptRecords) as want:
        merge(raw, {}, "C1", None, 30 * DAY)
    with pytest.raises(CorruptRecords) as got:
        merge_fast(raw, {}, "C1", None, 30 * DAY)
    assert str(got.value) == str(want.value)


def test_non_canonical_bytes_are_rewritten_as_the_reference_does() -> None:
    """Bytes `pack` would not write (a line number spelled out though it follows, a varint
    not minimal) are read by the reference and come out canonical, as it writes them."""
    spelled = b"\x01\x01\x02R1\x00\x02\x01\x01\x02\x02\x04\x00"  # line_no 1 spelled out
    loose = b"\x01\x01\x02R1\x00\x82\x00\x00\x00"  # the time step 1 as two bytes
    for raw in (spelled, loose):
        want = merge(raw, {}, "C1", None, 30 * DAY)
        assert c_splice(raw, c_pack([]), None, 30 * DAY) is None
        assert unpack_fast(raw, "C1") == unpack(raw, "C1")
        assert merge_fast(raw, {}, "C1", None, 30 * DAY) == want != raw
