"""Bad input (spec sections 2, 3 and 7): what is rejected, with which reason and detail, and
what is accepted right at the limits.
"""

from __future__ import annotations

import copy
import hashlib

import orjson
import pytest
from rules_helpers import Engine, at, line, program_dict

from streamproc.domain.receipt import Reject, parse_profile
from streamproc.engine.reference import ReferenceEngine
from streamproc.replay.in_memory import Replay

DELETE = object()  # `with_(path, DELETE)` removes the key


def valid() -> dict:
    return {"receipt_id": "R1", "customer_id": "K1", "ts": at(), "store_id": "S1",
            "lines": [line(1, 100)]}


def send(msg: dict | bytes | str):
    raw = msg if isinstance(msg, bytes | str) else orjson.dumps(msg)
    return Engine(program_dict()).send(raw), raw


def with_(path: str, value, base: dict | None = None) -> dict:
    """A copy of `base` (default: a valid sale) with `path` (dots; `lines.0.qty`) set; a value
    of DELETE removes the key."""
    msg = copy.deepcopy(base or valid())
    *head, last = path.split(".")
    obj = msg
    for k in head:
        obj = obj[int(k)] if isinstance(obj, list) else obj[k]
    if value is DELETE:
        del obj[last]
    else:
        obj[last] = value
    return msg


def assert_rejected(msg, reason: str, field: str | None = None) -> None:
    o, raw = send(msg)
    assert o.status == "rejected", o.result
    data = raw if isinstance(raw, bytes) else raw.encode()
    assert o.reject == {"reason": reason, "detail": o.reject["detail"], "raw": data.decode(),
                        "raw_bytes": len(data), "raw_sha256": hashlib.sha256(data).hexdigest()}
    if field is not None:
        assert field in o.reject["detail"], o.reject["detail"]


def assert_applied(msg) -> None:
    o, _ = send(msg)
    assert o.status == "applied", o.reject


# ----------------------------------------------------------------------------- JSON


@pytest.mark.parametrize("raw", [
    '{"receipt_id": "R1", "ts": "2026-01-05T12:00:00+00:00", "lines": [',
    '{"receipt_id": "R1", "ts": "2026-01-05T12:00:00+00:00", "redeem": NaN, '
    '"lines": [{"line_no": 1, "sku": "a", "category": "c", "qty": 1, "unit_price": 1}]}',
    '{"receipt_id": "R1", "ts": "2026-01-05T12:00:00+00:00", "redeem": Infinity, '
    '"lines": [{"line_no": 1, "sku": "a", "category": "c", "qty": 1, "unit_price": 1}]}',
    "",
    "not json",
])
def test_invalid_json_keeps_the_raw_text(raw):
    assert_rejected(raw, "invalid_json")


@pytest.mark.parametrize("raw", ["[1, 2]", '"R1"', "42", "null"])
def test_a_message_that_is_not_an_object_is_a_schema_reject(raw):
    assert_rejected(raw, "schema")


# ----------------------------------------------------------------------------- fields


@pytest.mark.parametrize(("path", "value", "field"), [
    ("receipt_id", DELETE, "receipt_id"),
    ("receipt_id", "", "receipt_id"),
    ("receipt_id", "x" * 65, "receipt_id"),
    ("receipt_id", 12, "receipt_id"),
    ("ts", DELETE, "ts"),
    ("ts", "2026-01-05T12:00:00", "ts"),        # no offset
    ("ts", "2026-01-05", "ts"),
    ("ts", "yesterday", "ts"),
    ("customer_id", "", "customer_id"),
    ("customer_id", 7, "customer_id"),
    ("kind", "refund", "kind"),
    ("lines", [], "lines"),
    ("lines", DELETE, "lines"),
    ("lines", [line(i, 1) for i in range(501)], "lines"),
    ("lines", [line(1, 1), line(1, 2)], "line_no"),
    ("lines.0.line_no", True, "line_no"),
    ("lines.0.line_no", "1", "line_no"),
    ("lines.0.qty", 0, "qty"),
    ("lines.0.qty", 100001, "qty"),
    ("lines.0.qty", True, "qty"),
    ("lines.0.qty", 1.0, "qty"),
    ("lines.0.unit_price", 10**10 + 1, "unit_price"),
    ("lines.0.unit_price", -1, "unit_price"),
    ("lines.0.unit_price", False, "unit_price"),
    ("lines.0.sku", DELETE, "sku"),
    ("lines.0.sku", "", "sku"),
    ("lines.0.category", DELETE, "category"),
    ("redeem", True, "redeem"),
    ("redeem", -1, "redeem"),
    ("coupons", [f"C{i}" for i in range(21)], "coupons"),
    ("coupons", "C1", "coupons"),
    ("coupons", [""], "coupons"),
])
def test_schema_rejects_name_the_field(path, value, field):
    assert_rejected(with_(path, value), "schema", field)


@pytest.mark.parametrize(("path", "value"), [
    ("receipt_id", "x" * 64),
    ("receipt_id", "x"),
    ("lines.0.qty", 100000),
    ("lines.0.unit_price", 10**10),
    ("lines.0.unit_price", 0),
    ("lines", [line(i, 1) for i in range(500)]),
    ("coupons", [f"C{i}" for i in range(20)]),
    ("customer_id", None),                      # anonymous
    ("customer_id", DELETE),                    # anonymous
    ("store_id", DELETE),                       # optional
    ("kind", "sale"),
    ("ts", "2026-01-05T15:00:00+03:00"),
    ("ts", "2026-01-05T12:00:00Z"),
    ("lines.0.line_no", -3),                    # any integer, unique
])
def test_values_at_the_limits_are_accepted(path, value):
    assert_applied(with_(path, value))


def test_unit_price_and_qty_at_their_maxima_give_exact_amounts():
    o, _ = send(with_("lines", [line(1, 10**10, qty=100000)]))
    assert o.result.total == 10**15


def test_unknown_fields_are_ignored():
    msg = valid()
    msg["loyalty_card_color"] = "gold"
    msg["lines"][0]["barcode_scanned_twice"] = True
    assert_applied(msg)


def test_return_needs_an_original_receipt_id_and_line_quantities():
    back = {"receipt_id": "RT", "customer_id": "K1", "ts": at(), "kind": "return",
            "lines": [{"line_no": 1, "qty": 1}]}
    assert_rejected(back, "schema", "original_receipt_id")
    assert_rejected(with_("original_receipt_id", "x" * 65, back), "schema",
                    "original_receipt_id")
    assert_rejected(with_("lines.0.qty", 0, with_("original_receipt_id", "S", back)),
                    "schema", "qty")


def test_return_lines_need_no_sku_category_or_price():
    e = Engine(program_dict())
    assert e.send(orjson.dumps(valid())).status == "applied"
    back = {"receipt_id": "RT", "customer_id": "K1", "ts": at(1), "kind": "return",
            "original_receipt_id": "R1", "lines": [{"line_no": 1, "qty": 1}]}
    assert e.send(orjson.dumps(back)).status == "applied"


# ----------------------------------------------------------------------------- profiles


def test_profile_with_an_impossible_birthday_is_rejected():
    with pytest.raises(Reject) as exc:
        parse_profile(b'{"customer_id": "K1", "birthday": "2023-02-29"}')
    assert exc.value.reason == "schema" and "birthday" in exc.value.detail
    p = parse_profile(b'{"customer_id": "K1", "birthday": "2024-02-29", "segments": ["pets"]}')
    assert (p.birthday.isoformat(), p.segments) == ("2024-02-29", frozenset({"pets"}))


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"customer_id": "K1", "birthday": "1990-13-01"}', "birthday"),
    (b'{"customer_id": "K1", "birthday": "17.05.1990"}', "birthday"),
    (b'{"birthday": "1990-05-17"}', "customer_id"),
    (b'{"customer_id": "K1", "segments": "pets"}', "segments"),
])
def test_bad_profiles_are_schema_rejects_naming_the_field(raw, field):
    with pytest.raises(Reject) as exc:
        parse_profile(raw)
    assert exc.value.reason == "schema" and field in exc.value.detail


def test_messages_in_equal_applied_plus_duplicate_plus_rejected():
    prog = Engine(program_dict()).program
    rp = Replay(prog, ReferenceEngine(prog))
    msgs = [orjson.dumps(valid()), orjson.dumps(valid()), b"{", orjson.dumps(
        with_("lines.0.qty", 0, with_("receipt_id", "R2"))), orjson.dumps(
        with_("receipt_id", "R3"))]
    rep = rp.run(enumerate(msgs, 1))
    assert rep.messages == 5
    assert dict(rep.by_status) == {"applied": 2, "duplicate": 1, "rejected": 2}
    assert dict(rep.rejects_by_reason) == {"invalid_json": 1, "schema": 1}
