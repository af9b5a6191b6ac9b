"""Receipts and customer profiles: parse raw messages into value objects or a reject reason.

Strict by design (spec sections 2, 3 and 7): anything outside the contract is a `Reject` with a
reason code and a detail naming the field; nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import orjson

from streamproc.domain.timeutil import parse_ts

MAX_LINES = 500
MAX_QTY = 100_000
MAX_UNIT_PRICE = 10**10
MAX_COUPONS = 20
MAX_ID = 64

INVALID_JSON = "invalid_json"
SCHEMA = "schema"
UNKNOWN_ORIGINAL = "unknown_original_receipt"
RETURN_EXCEEDS_SALE = "return_exceeds_sale"
REJECT_REASONS = (INVALID_JSON, SCHEMA, UNKNOWN_ORIGINAL, RETURN_EXCEEDS_SALE)


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
class Reject(Exception):
    """A message that breaks the contract, with its reason code and a human detail."""

    reason: str
    detail: str


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _id(obj: dict, field: str, required: bool = True) -> str | None:
    v = obj.get(field)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not 1 <= len(v) <= MAX_ID:
        raise Reject(SCHEMA, f"{field}: must be a string of 1..{MAX_ID} characters")
    return v


def _int_in(obj: dict, field: str, lo: int, hi: int, where: str) -> int:
    v = obj.get(field)
    if not _is_int(v) or not lo <= v <= hi:
        raise Reject(SCHEMA, f"{where}{field}: must be an integer {lo}..{hi}")
    return v


def _text(obj: dict, field: str, where: str) -> str:
    v = obj.get(field)
    if not isinstance(v, str) or not v:
        raise Reject(SCHEMA, f"{where}{field}: must be a non-empty string")
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
        ts_us = parse_ts(ts)
    except ValueError:
        raise Reject(SCHEMA, "ts: must be an ISO 8601 timestamp with an offset") from None
    customer_id = obj.get("customer_id")
    if customer_id is not None and (not isinstance(customer_id, str) or not customer_id):
        raise Reject(SCHEMA, "customer_id: must be a non-empty string or null")
    store_id = obj.get("store_id")
    if store_id is not None and not isinstance(store_id, str):
        raise Reject(SCHEMA, "store_id: must be a string")
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
        if not _is_int(line_no):
            raise Reject(SCHEMA, f"{where}line_no: must be an integer")
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
    redeem = obj.get("redeem", 0)
    if redeem is None:
        redeem = 0
    if not _is_int(redeem) or redeem < 0:
        raise Reject(SCHEMA, "redeem: must be a non-negative integer")
    coupons = obj.get("coupons", [])
    if coupons is None:
        coupons = []
    if (
        not isinstance(coupons, list)
        or len(coupons) > MAX_COUPONS
        or not all(isinstance(c, str) and c for c in coupons)
    ):
        raise Reject(SCHEMA, f"coupons: must be a list of at most {MAX_COUPONS} non-empty codes")
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
    if not isinstance(cid, str) or not cid:
        raise Reject(SCHEMA, "customer_id: must be a non-empty string")
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
    if not isinstance(segs, list) or not all(isinstance(s, str) for s in segs):
        raise Reject(SCHEMA, "segments: must be a list of strings")
    return Profile(cid, birthday, frozenset(segs))
