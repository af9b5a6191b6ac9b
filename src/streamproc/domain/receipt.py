"""Receipts and customer profiles: parse raw messages into value objects or a reject reason.

Strict by design (spec sections 2, 3 and 7): anything outside the contract is a `Reject` with a
reason code and a detail naming the field; nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TypeGuard

import orjson

from streamproc.domain.timeutil import parse_ts_wall
from streamproc.errors import StreamprocError

# Bounds (spec section 2 and 7, and docs/spec.md's bounds list): what a receipt may hold so that
# every worker can compute, store and emit it, and every JSON consumer can read its numbers.
MAX_LINES = 500
MAX_QTY = 100_000
MAX_UNIT_PRICE = 10**10
MAX_COUPONS = 20
MAX_ID = 64  # receipt_id, original_receipt_id, customer_id, store_id
MAX_TEXT = 256  # sku, category, coupon codes, profile segments
MAX_SAFE_INT = 2**53 - 1  # the largest integer a JavaScript JSON consumer reads exactly
MAX_SEGMENTS = 100
# 2000-01-01T00:00:00Z and 2100-01-01T00:00:00Z in microseconds since the epoch: the instant
# and the wall-clock time as written must both lie in [TS_MIN_US, TS_MAX_US)
TS_MIN_US = 946_684_800_000_000
TS_MAX_US = 4_102_444_800_000_000

INVALID_JSON = "invalid_json"
SCHEMA = "schema"
UNKNOWN_ORIGINAL = "unknown_original_receipt"
RETURN_EXCEEDS_SALE = "return_exceeds_sale"
INTERNAL = "internal"  # any other failure while decoding, computing or rendering the message
TOO_LARGE = "too_large"  # an output record that would not fit its topic
REJECT_REASONS = (INVALID_JSON, SCHEMA, UNKNOWN_ORIGINAL, RETURN_EXCEEDS_SALE, INTERNAL, TOO_LARGE)


@dataclass(frozen=True, slots=True)
class Line:
    line_no: int
    qty: int
    sku: str = ""
    category: str = ""
    unit_price: int = 0

    @property
    def amount(self) -> int:
        return self.qty * self.unit_price


@dataclass(frozen=True, slots=True)
class Receipt:
    receipt_id: str
    ts_us: int
    ts: str
    lines: tuple[Line, ...]  # ascending line_no
    customer_id: str | None = None
    store_id: str | None = None
    kind: str = "sale"
    redeem: int = 0
    coupons: tuple[str, ...] = ()
    original_receipt_id: str | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    customer_id: str
    birthday: date | None
    segments: frozenset[str]


@dataclass(frozen=True, slots=True)
class Reject(StreamprocError):
    """A message that breaks the contract, with its reason code and a human detail."""

    reason: str
    detail: str


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _id(obj: dict, field: str, required: bool = True) -> str | None:
    v = obj.get(field)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not 1 <= len(v) <= MAX_ID:
        raise Reject(SCHEMA, f"{field}: must be a string of 1..{MAX_ID} characters")
    return v


def _opt_id(obj: dict, field: str, lo: int) -> str | None:
    """An optional id of `lo`..MAX_ID characters (None when absent or null)."""
    v = obj.get(field)
    if v is None:
        return None
    if not isinstance(v, str) or not lo <= len(v) <= MAX_ID:
        raise Reject(SCHEMA, f"{field}: must be a string of {lo}..{MAX_ID} characters or null")
    return v


def _int_in(obj: dict, field: str, lo: int, hi: int, where: str) -> int:
    v = obj.get(field)
    if not _is_int(v) or not lo <= v <= hi:
        raise Reject(SCHEMA, f"{where}{field}: must be an integer {lo}..{hi}")
    return v


def _text(obj: dict, field: str, where: str) -> str:
    v = obj.get(field)
    if not isinstance(v, str) or not 1 <= len(v) <= MAX_TEXT:
        raise Reject(SCHEMA, f"{where}{field}: must be a string of 1..{MAX_TEXT} characters")
    return v


def decode_json(raw: bytes | str) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Reject(INVALID_JSON, f"not valid JSON: {exc}") from None


def parse_receipt(raw: bytes | str) -> Receipt:
    """Parse and validate one receipt message; raise `Reject` if it breaks section 2."""
    return receipt_from_obj(decode_json(raw))


def receipt_from_obj(obj: object) -> Receipt:
    if not isinstance(obj, dict):
        raise Reject(SCHEMA, "receipt: must be a JSON object")
    receipt_id = _id(obj, "receipt_id")
    ts = obj.get("ts")
    if not isinstance(ts, str):
        raise Reject(SCHEMA, "ts: must be an ISO 8601 timestamp with an offset")
    try:
        ts_us, wall_us = parse_ts_wall(ts)
    except (ValueError, OverflowError):
        raise Reject(SCHEMA, "ts: must be an ISO 8601 timestamp with an offset") from None
    if not (TS_MIN_US <= ts_us < TS_MAX_US and TS_MIN_US <= wall_us < TS_MAX_US):
        raise Reject(SCHEMA, "ts: must lie in [2000-01-01, 2100-01-01), in UTC and as written")
    customer_id = _opt_id(obj, "customer_id", 1)
    store_id = _opt_id(obj, "store_id", 0)
    kind = obj.get("kind", "sale")
    if kind not in ("sale", "return"):
        raise Reject(SCHEMA, "kind: must be 'sale' or 'return'")
    original = _id(obj, "original_receipt_id") if kind == "return" else None
    lines_raw = obj.get("lines")
    if not isinstance(lines_raw, list) or not 1 <= len(lines_raw) <= MAX_LINES:
        raise Reject(SCHEMA, f"lines: must be a list of 1..{MAX_LINES} lines")
    lines = []
    seen: set[int] = set()
    for i, ln in enumerate(lines_raw):
        where = f"lines[{i}]."
        if not isinstance(ln, dict):
            raise Reject(SCHEMA, f"lines[{i}]: must be an object")
        line_no = ln.get("line_no")
        if not _is_int(line_no) or not -MAX_SAFE_INT <= line_no <= MAX_SAFE_INT:
            raise Reject(SCHEMA, f"{where}line_no: must be an integer within +-(2^53 - 1)")
        if line_no in seen:
            raise Reject(SCHEMA, f"{where}line_no: {line_no} is not unique")
        seen.add(line_no)
        qty = _int_in(ln, "qty", 1, MAX_QTY, where)
        if kind == "sale":
            lines.append(
                Line(
                    line_no,
                    qty,
                    _text(ln, "sku", where),
                    _text(ln, "category", where),
                    _int_in(ln, "unit_price", 0, MAX_UNIT_PRICE, where),
                )
            )
        else:
            lines.append(Line(line_no, qty))
    lines.sort(key=lambda x: x.line_no)
    if kind == "sale" and sum(ln.amount for ln in lines) > MAX_SAFE_INT:
        raise Reject(SCHEMA, "lines: the receipt's total must be at most 2^53 - 1")
    redeem = obj.get("redeem", 0)
    if redeem is None:
        redeem = 0
    if not _is_int(redeem) or not 0 <= redeem <= MAX_SAFE_INT:
        raise Reject(SCHEMA, "redeem: must be an integer 0..2^53 - 1")
    coupons = obj.get("coupons", [])
    if coupons is None:
        coupons = []
    if (
        not isinstance(coupons, list)
        or len(coupons) > MAX_COUPONS
        or not all(isinstance(c, str) and 1 <= len(c) <= MAX_TEXT for c in coupons)
    ):
        raise Reject(SCHEMA, f"coupons: must be a list of at most {MAX_COUPONS} codes of "
                             f"1..{MAX_TEXT} characters")
    return Receipt(
        receipt_id=receipt_id,  # type: ignore[arg-type]
        ts_us=ts_us,
        ts=ts,
        lines=tuple(lines),
        customer_id=customer_id,
        store_id=store_id,
        kind=kind,
        redeem=redeem,
        coupons=tuple(coupons),
        original_receipt_id=original,
    )


def parse_profile(raw: bytes | str) -> Profile:
    """Parse a customer profile (section 3); raise `Reject` when it breaks the format."""
    obj = decode_json(raw)
    if not isinstance(obj, dict):
        raise Reject(SCHEMA, "profile: must be a JSON object")
    cid = obj.get("customer_id")
    if not isinstance(cid, str) or not 1 <= len(cid) <= MAX_ID:
        raise Reject(SCHEMA, f"customer_id: must be a string of 1..{MAX_ID} characters")
    bday = obj.get("birthday")
    birthday = None
    if bday is not None:
        try:
            if not isinstance(bday, str) or len(bday) != 10:
                raise ValueError
            birthday = date.fromisoformat(bday)
        except ValueError:
            raise Reject(SCHEMA, "birthday: must be a real date YYYY-MM-DD") from None
    segs = obj.get("segments", [])
    if segs is None:
        segs = []
    if not isinstance(segs, list) or len(segs) > MAX_SEGMENTS or \
            not all(isinstance(s, str) and len(s) <= MAX_TEXT for s in segs):
        raise Reject(SCHEMA, f"segments: must be a list of at most {MAX_SEGMENTS} strings of "
                             f"at most {MAX_TEXT} characters")
    return Profile(cid, birthday, frozenset(segs))
