"""Differential tests: the compiled receipt decoder must equal `domain.receipt` on every input.

Random JSON-ish receipts, valid and broken in every field (wrong types, bools for integers, the
bounds 0/1/100000/100001 and 10**10/10**10+1, 500/501 lines, duplicate and unsorted line_no,
missing and unknown fields, returns, customer_id null/empty, >20 coupons, timestamps with and
without offsets in many spellings and around the 2000..2100 window, ids and texts around their
length bounds, integers around 2^53, NaN and broken JSON text) go through both
`receipt_from_obj`s and both `parse_receipt`s: the results must be equal `Receipt`s (same field
types, lines sorted the same way) or the same `Reject(reason, detail)`.
"""

from __future__ import annotations

import copy
import os
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproc.domain import receipt as ref
from streamproc.domain.receipt import Line, Receipt, Reject
from streamproc.engine.selection import DECODER_NAMES, make_decoder, make_validator

SCALE = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "nightly" else 1
SETTINGS = {
    "deadline": None,
    "max_examples": 400 * SCALE,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

fast_from_obj = make_validator("compiled")
fast_parse = make_decoder("compiled")


class Text(str):
    """A str subclass: valid for the Python validator (isinstance), a fallback for the fast path."""


class Int(int):
    pass


ODD = [None, True, False, 0, 1, -1, 2, 1.5, float("nan"), "", "x", "1", "0", [], {}, [1],
       {"a": 1}, 100_000, 100_001, 10**10, 10**10 + 1, 2**63 - 1, 2**63, -(2**63), 2**64 - 1,
       10**30, "a" * 64, "a" * 65, "ö" * 64, Text("t"), Int(3), ("tuple",)]
MISSING = object()


def outcome(fn, arg) -> tuple:
    try:
        r = fn(arg)
    except Reject as rej:
        return ("reject", rej.reason, rej.detail)
    except Exception as exc:  # both sides must fail the same way
        return ("error", type(exc).__name__, str(exc))
    assert type(r) is Receipt
    assert all(type(ln) is Line for ln in r.lines)
    shape = (tuple(type(getattr(r, f)).__name__ for f in Receipt.__slots__),
             tuple(tuple(type(getattr(ln, f)).__name__ for f in Line.__slots__) for ln in r.lines))
    return ("ok", r, repr(r), shape, hash(r))


def assert_same_obj(obj: object) -> None:
    want = outcome(ref.receipt_from_obj, obj)
    got = outcome(fast_from_obj, obj)
    assert got == want, (obj, got, want)


def assert_same_raw(raw: bytes | str) -> None:
    want = outcome(ref.parse_receipt, raw)
    got = outcome(fast_parse, raw)
    assert got == want, (raw, got, want)


# ---------------------------------------------------------------- timestamps
ODD_TS = [  # odd spellings, valid and invalid
    "2026-11-02T08:00:00", "2026-11-02", "2026-11-02T08:00:00+0300",
    "2026-11-02 08:00:00+03:00", "2026-11-02t08:00:00+03:00", "20261102T080000+0300",
    "2026-11-02T08:00+03:00", "2026-11-02T08:00:00.1234567+03:00",
    "2026-11-02T08:00:00,5+03:00", "2026-11-02T08:00:00.+03:00",
    "2026-11-02T08:00:00+24:00", "2026-11-02T08:00:00-23:59", "2026-11-02T08:00:00+3:00",
    "2026-11-02T08:00:00+03:00:30", "2026-11-02T08:00:00+03:00:00.5",
    "2026-11-02T08:00:00z", "2026-11-02T08:00:00ZZ", "2026-11-02T24:00:00+00:00",
    "2026-11-02T23:60:00Z", "2026-11-02T23:59:60Z", "2026-02-29T00:00:00Z",
    "2024-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
    "2026-01-00T00:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59.999999-23:59", "２０２６-11-02T08:00:00Z",
    "2026-11-02T08:00:00Z ", " 2026-11-02T08:00:00Z", "2026-11-02T08:00:00\x00Z",
    "1969-12-31T23:59:59.999999Z", "1970-01-01T00:00:00Z", "2026-W45-1T08:00:00Z",
    "2026-11-02T08:00:00.000001+00:00", "2026-11-02T08:00:00-00:00",
    # the receipt window [2000-01-01, 2100-01-01), on the instant and on the written time
    "2000-01-01T00:00:00Z", "1999-12-31T23:59:59.999999Z", "2099-12-31T23:59:59.999999Z",
    "2100-01-01T00:00:00Z", "2000-01-01T00:00:00-01:00", "2000-01-01T00:30:00+01:00",
    "1999-12-31T23:00:00-01:00", "2099-12-31T23:30:00-01:00", "2100-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59.9999999+00:00", "0001-01-01T00:00:00+00:00",
]


@st.composite
def timestamps(draw: st.DrawFn, valid: bool = False) -> object:
    kind = draw(st.integers(3, 9) if valid else st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from(ODD))
    if kind == 1:
        return draw(st.text(max_size=40))
    if kind == 2:  # known odd spellings, valid and invalid
        return draw(st.sampled_from(ODD_TS))
    if valid or draw(st.booleans()):  # mostly inside the receipt window
        dt = draw(st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30)))
    else:
        dt = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    off = draw(st.integers(-(24 * 60 - 1), 24 * 60 - 1))
    text = dt.replace(tzinfo=timezone(timedelta(minutes=off))).isoformat(
        timespec=draw(st.sampled_from(["seconds", "milliseconds", "microseconds", "auto"])))
    if kind == 3 and off == 0:
        text = text[:-6] + "Z"
    if kind == 4 and "." in text:  # 1..7 fraction digits
        head, rest = text.split(".", 1)
        digits, tail = rest[:6], rest[6:]
        text = head + "." + (digits + "7")[: draw(st.integers(1, 6 if valid else 7))] + tail
    if kind == 5 and not valid:  # drop the offset
        text = text[:19]
    return text


def with_ts(ts: object) -> dict:
    return {"receipt_id": "r1", "ts": ts, "lines": [{"line_no": 1, "qty": 1, "sku": "s",
                                                     "category": "c", "unit_price": 1}]}


@given(timestamps())
@settings(**SETTINGS)
def test_timestamps(ts: object) -> None:
    assert_same_obj(with_ts(ts))


@pytest.mark.parametrize("ts", ODD_TS + ODD)
def test_odd_timestamps(ts: object) -> None:
    assert_same_obj(with_ts(ts))


def test_timestamp_fields_one_by_one() -> None:
    """Every position of the fast spelling, one character at a time."""
    base = "2024-02-29T23:59:59.123456+23:59"
    for i in range(len(base)):
        for ch in "0123456789+-:.TZzt ٣":
            assert_same_obj(with_ts(base[:i] + ch + base[i + 1:]))
            assert_same_obj(with_ts(base[:i] + ch + base[i:]))
        assert_same_obj(with_ts(base[:i] + base[i + 1:]))


# ---------------------------------------------------------------- whole receipts
ids = st.one_of(st.sampled_from(["r1", "R-2", "x" * 64, "Ж"]), st.text(min_size=1, max_size=64))
BAD = {  # field -> invalid values besides ODD
    "receipt_id": ["", "x" * 65], "original_receipt_id": ["", "x" * 65],
    "customer_id": ["", "c" * 65], "store_id": ["s" * 65], "kind": ["Sale", "refund", ""],
    "redeem": [-1, -(10**30), 2**53, 2**53 - 1],
    "coupons": [["A"] * 21, ["A", ""], [None], "A", ["c" * 257]], "lines": [[], "lines"],
    "qty": [0, 100_001, -1], "unit_price": [-1, 10**10 + 1], "sku": ["", "s" * 257],
    "category": ["", "c" * 257], "line_no": [2**53, -(2**53), 2**53 - 1],
}


def line_numbers(size: int, numbering: str, rnd) -> list[int]:
    nos = list(range(1, size + 1))
    if numbering == "rev":
        nos.reverse()
    elif numbering == "shuffled":
        rnd.shuffle(nos)
    elif numbering == "gaps":
        picks = {rnd.choice([-(2**63) + 1, -1, 0, 2**63 - 1, 2**63, 2**64 - 1, 10**30])
                 if rnd.random() < 0.2 else rnd.randint(-(10**12), 10**12) for _ in range(size)}
        while len(picks) < size:
            picks.add(rnd.randint(-(10**12), 10**12))
        nos = sorted(picks)
        if rnd.random() < 0.5:
            rnd.shuffle(nos)
    return nos


@st.composite
def valid_receipt_objs(draw: st.DrawFn) -> dict:
    size = draw(st.sampled_from([1, 1, 2, 3, 8, 8, 40, 500]))
    numbering = draw(st.sampled_from(["seq", "seq", "rev", "shuffled", "gaps"]))
    nos = line_numbers(size, numbering, draw(st.randoms(use_true_random=False)))
    sale = draw(st.integers(0, 3)) > 0
    obj: dict = {"receipt_id": draw(ids), "ts": draw(timestamps(valid=True))}
    if sale:
        if draw(st.booleans()):
            obj["kind"] = "sale"
        small = size <= 8
        obj["lines"] = [{
            "line_no": no,
            "qty": draw(st.sampled_from([1, 2, 100_000]) | st.integers(1, 100_000))
            if small else 1 + k % 3,
            "sku": draw(st.sampled_from(["s1", "4600001", "Ж"]) | st.text(min_size=1))
            if small else f"s{k % 7}",
            "category": draw(st.sampled_from(["dairy", "meat/fresh"])) if small else "dairy",
            "unit_price": draw(st.sampled_from([0, 1, 10**10]) | st.integers(0, 10**10))
            if small else 100 * k,
        } for k, no in enumerate(nos)]
    else:
        obj["kind"] = "return"
        obj["original_receipt_id"] = draw(ids)
        obj["lines"] = [{"line_no": no, "qty": 1 + k % 5} for k, no in enumerate(nos)]
        if draw(st.booleans()):  # returns ignore sale fields, whatever they hold
            obj["lines"][0].update(sku=None, category=1, unit_price=-5)
    if draw(st.booleans()):
        obj["customer_id"] = draw(st.sampled_from(["C1", "Ж4", None]))
    if draw(st.booleans()):
        obj["store_id"] = draw(st.sampled_from(["S1", "", None]))
    if sale and draw(st.integers(0, 4)) == 0:
        obj["original_receipt_id"] = draw(st.sampled_from(ODD))  # ignored on sales
    if draw(st.booleans()):
        obj["redeem"] = draw(st.sampled_from([None, 0, 1, 10**30]) | st.integers(0, 10**6))
    if draw(st.booleans()):
        obj["coupons"] = draw(st.none() | st.lists(
            st.sampled_from(["A", "B", "SUMMER", "Ж"]), max_size=20))
    if draw(st.integers(0, 4)) == 0:
        obj[draw(st.sampled_from(["extra", "version", "LINES", "ts_us"]))] = draw(
            st.sampled_from(ODD))
    return obj


@st.composite
def receipt_objs(draw: st.DrawFn) -> object:
    """A valid receipt (about half the time) or one with 1-3 breakages."""
    if draw(st.integers(0, 60)) == 0:
        return draw(st.sampled_from(ODD))
    obj = draw(valid_receipt_objs())
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        lines = obj.get("lines")
        on_line = isinstance(lines, list) and lines and isinstance(lines[0], dict) and \
            draw(st.booleans())
        if on_line:
            i = draw(st.integers(0, len(lines) - 1))
            what = draw(st.sampled_from(["line_no", "qty", "sku", "category", "unit_price",
                                         "dup", "line", "note"]))
            if what == "dup" and len(lines) > 1:
                j = draw(st.integers(0, len(lines) - 1))
                if isinstance(lines[j], dict) and isinstance(lines[i], dict):
                    lines[j]["line_no"] = lines[i].get("line_no")
            elif what == "line":
                lines[i] = draw(st.sampled_from(ODD))
            elif isinstance(lines[i], dict):
                target = lines[i]
                mode = draw(st.integers(0, 3))
                if mode == 0:
                    target.pop(what, None)
                else:
                    target[what] = draw(st.sampled_from(ODD + BAD.get(what, [])))
        else:
            what = draw(st.sampled_from(["receipt_id", "ts", "customer_id", "store_id", "kind",
                                         "original_receipt_id", "lines", "redeem", "coupons",
                                         "lines501"]))
            if what == "lines501":
                obj["lines"] = [{"line_no": k, "qty": 1, "sku": "s", "category": "c",
                                 "unit_price": 1} for k in range(501)]
            elif draw(st.integers(0, 3)) == 0:
                obj.pop(what, None)
            elif what == "ts":
                obj["ts"] = draw(timestamps())
            else:
                obj[what] = draw(st.sampled_from(ODD + BAD.get(what, [])))
    return obj


SALE = {"receipt_id": "r1", "ts": "2026-11-02T08:00:00+03:00", "customer_id": "C1",
        "store_id": "S1", "kind": "sale", "redeem": 5, "coupons": ["A", "B"],
        "lines": [{"line_no": 2, "qty": 2, "sku": "s2", "category": "dairy", "unit_price": 10},
                  {"line_no": 1, "qty": 1, "sku": "s1", "category": "meat", "unit_price": 20}]}
RETURN = {"receipt_id": "r2", "ts": "2026-11-02T08:00:00Z", "kind": "return",
          "original_receipt_id": "r1", "lines": [{"line_no": 1, "qty": 1}]}
EDGES = {
    "receipt_id": ["r", "x" * 64, "x" * 65, "", "ö" * 64],
    "customer_id": ["C", "", None, "c" * 64, "c" * 65, "ö" * 65],
    "store_id": ["", "S", None, "s" * 64, "s" * 65],
    "kind": ["sale", "return", "Sale", "refund", ""],
    "original_receipt_id": ["o", "x" * 64, "x" * 65, ""],
    "redeem": [None, 0, 1, -1, 10**30, -(10**30), 2**53 - 1, 2**53],
    "coupons": [None, [], ["A"] * 20, ["A"] * 21, ["A", ""], ["A", None], ("A",), "A",
                ["c" * 256], ["c" * 257]],
    "lines": [[], "x", [1], [{}]] + [
        [{"line_no": k, "qty": 1, "sku": "s", "category": "c", "unit_price": 1}
         for k in range(n)] for n in (1, 499, 500, 501)],
    "line_no": [0, -1, 1, 2, 2**53 - 1, 2**53, -(2**53 - 1), -(2**53), 2**63 - 1, 2**63,
                -(2**63), 10**30],
    "qty": [0, 1, 2, 99_999, 100_000, 100_001, -1],
    "unit_price": [0, 1, -1, 10**10 - 1, 10**10, 10**10 + 1],
    "sku": ["", "s", "Ж", "s" * 256, "s" * 257, "ж" * 257], "category": ["", "c", "c" * 256,
                                                                      "c" * 257],
}


@pytest.mark.parametrize("base", [SALE, RETURN], ids=["sale", "return"])
def test_every_field_every_value(base: dict) -> None:
    """Each field of a valid receipt (and of each line) set to each edge/odd value, or removed."""
    for field in ("receipt_id", "ts", "customer_id", "store_id", "kind",
                  "original_receipt_id", "lines", "redeem", "coupons", "extra"):
        for value in [MISSING, *ODD, *EDGES.get(field, [])]:
            obj = copy.deepcopy(base)
            if value is MISSING:
                obj.pop(field, None)
            else:
                obj[field] = value
            assert_same_obj(obj)
    for i in range(len(base["lines"])):
        for field in ("line_no", "qty", "sku", "category", "unit_price", "note"):
            for value in [MISSING, *ODD, *EDGES.get(field, [])]:
                obj = copy.deepcopy(base)
                if value is MISSING:
                    obj["lines"][i].pop(field, None)
                else:
                    obj["lines"][i][field] = value
                assert_same_obj(obj)
        for value in ODD:
            obj = copy.deepcopy(base)
            obj["lines"][i] = value
            assert_same_obj(obj)


@given(receipt_objs())
@settings(**SETTINGS)
def test_receipt_from_obj(obj: object) -> None:
    assert_same_obj(obj)


@given(receipt_objs())
@settings(**SETTINGS)
def test_parse_receipt_from_json(obj: object) -> None:
    try:
        raw = orjson.dumps(obj)  # NaN -> null; 10**30, subclasses -> TypeError
    except TypeError:
        return
    assert_same_raw(raw)
    assert_same_raw(raw.decode())
    # spaced and indented: the compiled scanner of raw bytes (_fc_scan.pxi) reads both
    assert_same_raw(orjson.dumps(obj, option=orjson.OPT_INDENT_2))


@pytest.mark.parametrize("raw", [
    b"", b"{", b"[]", b"null", b"NaN", b'{"receipt_id": NaN}', b'{"a": 1} x', b"\xff",
    b'{"receipt_id": "r", "ts": "2026-11-02T08:00:00Z", "lines": [{"line_no": 1, "qty": 1, '
    b'"sku": "s", "category": "c", "unit_price": 1e2}]}',
    b'{"receipt_id": "r", "ts": "2026-11-02T08:00:00Z", "lines": [{"line_no": 1, "qty": 1, '
    b'"sku": "s", "category": "c", "unit_price": 18446744073709551615}]}',
    b'{"receipt_id": "r", "ts": "2026-11-02T08:00:00Z", "lines": [{"line_no": '
    b'18446744073709551615, "qty": 1, "sku": "s", "category": "c", "unit_price": 1}]}',
    b'{"receipt_id": "r", "receipt_id": "q", "ts": "2026-11-02T08:00:00Z", "lines": '
    b'[{"line_no": 2, "qty": 1}, {"line_no": 1, "qty": 2}], "kind": "return", '
    b'"original_receipt_id": "o"}',
    "{\"receipt_id\": \"ж\", \"ts\": \"2026-11-02T08:00:00+03:00\", \"lines\": []}",
    b'{"receipt_id": "r", "ts": "2026-11-02T08:00:00+03:00", "lines": [{"line_no": 1, "qty": '
    b'true, "sku": "s", "category": "c", "unit_price": 1}]}',
])
def test_parse_receipt_odd_text(raw: bytes | str) -> None:
    assert_same_raw(raw)


def test_non_text_input_fails_alike() -> None:
    for raw in (None, 12, [b"{}"]):
        assert_same_raw(raw)  # type: ignore[arg-type]


def test_duplicate_and_unsorted_line_numbers() -> None:
    base = {"receipt_id": "r", "ts": "2026-11-02T08:00:00Z"}
    for nos in ([3, 1, 2], [1, 1], [2, 1, 2], [5, -1, 0], [2**63 - 1, -(2**63) + 1],
                [2**63, 1], [10**30, 10**30], list(range(500, 0, -1))):
        lines = [{"line_no": n, "qty": 1, "sku": "s", "category": "c", "unit_price": 1}
                 for n in nos]
        assert_same_obj({**base, "lines": lines})
        assert_same_obj({**base, "kind": "return", "original_receipt_id": "o",
                         "lines": [{"line_no": n, "qty": 2} for n in nos]})


def test_names() -> None:
    assert DECODER_NAMES == ("compiled", "reference")
    assert make_decoder("reference") is ref.parse_receipt
    assert make_validator("reference") is ref.receipt_from_obj
    assert type(fast_parse).__module__ == "streamproc._fastcalc" or \
        getattr(fast_parse, "__module__", "") == "streamproc._fastcalc"
    with pytest.raises(ValueError):
        make_decoder("fast")


@pytest.mark.parametrize("n", [8, 9, 10, 500])
def test_receipt_total_bound(n: int) -> None:
    """A sale's total must stay within 2^53 - 1: at 10^15 a line, 9 lines fit and 10 do not."""
    lines = [{"line_no": k, "qty": 100_000, "sku": "s", "category": "c", "unit_price": 10**10}
             for k in range(n)]
    obj = {"receipt_id": "r", "ts": "2026-11-02T08:00:00Z", "lines": lines}
    assert_same_obj(obj)
    assert_same_raw(orjson.dumps(obj))
    for fn in (ref.receipt_from_obj, fast_from_obj):
        if n <= 9:
            assert sum(ln.amount for ln in fn(obj).lines) == n * 10**15
        else:
            with pytest.raises(Reject) as rej:
                fn(obj)
            assert rej.value.detail.startswith("lines: the receipt's total")


@pytest.mark.parametrize(("ts", "ok"), [
    ("2000-01-01T00:00:00Z", True), ("1999-12-31T23:59:59.999999Z", False),
    ("2099-12-31T23:59:59.999999Z", True), ("2100-01-01T00:00:00Z", False),
    ("2000-01-01T00:30:00+01:00", False),  # instant in 1999
    ("1999-12-31T23:30:00-01:00", False),  # instant in 2000, written time in 1999
    ("2099-12-31T23:30:00-01:00", False),  # instant in 2100
    ("2100-01-01T00:30:00+01:00", False),  # instant in 2099, written time in 2100
    ("9999-12-31T23:59:59.9999999+00:00", False), ("0001-01-01T00:00:00+00:00", False),
])
def test_receipt_window(ts: str, ok: bool) -> None:
    for fn in (ref.receipt_from_obj, fast_from_obj):
        if ok:
            assert fn(with_ts(ts)).ts == ts
        else:
            with pytest.raises(Reject) as rej:
                fn(with_ts(ts))
            assert rej.value.reason == "schema" and rej.value.detail.startswith("ts:")
