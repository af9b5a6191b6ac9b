"""A receipt's result (spec section 6) as typed records, encoded to JSON once.

The records are slots dataclasses whose fields are in the order of the contract, so
`orjson.dumps(result)` writes the section 6 object as it stands; code that reads a result
(the report, the metrics) reads attributes, and a typo is a type error instead of a KeyError.
Events stay plain mappings: their fields depend on their type (section 6, `loyalty-events`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

Event = dict[str, Any]
"""One event of `loyalty-events`: `event_id`, `type`, `customer_id`, `ts` and its own fields."""


@dataclass(slots=True)
class LineResult:
    line_no: int
    amount: int
    discount: int
    redeemed: int
    accrued: int  # rate-based points only (base and multipliers)


@dataclass(slots=True)
class AppliedEntry:
    campaign_id: str  # `base` for base points
    kind: str  # `discount` or `points`
    amount: int


@dataclass(slots=True)
class CouponRejected:
    code: str
    reason: str


@dataclass(slots=True)
class Coupons:
    accepted: list[str]
    rejected: list[CouponRejected]


@dataclass(slots=True)
class Balance:
    active: int
    pending: int


@dataclass(slots=True)
class DuplicateResult:
    """A valid receipt already applied within the return window: no change, no events."""

    receipt_id: str
    customer_id: str | None
    status: str = "duplicate"


@dataclass(slots=True)
class AppliedResult:
    """A sale applied (a return is a `ReturnResult`); amounts in minor units and points."""

    receipt_id: str
    customer_id: str | None
    status: str
    total: int
    discount: int
    redeemed: int
    paid: int
    accrued: int
    lines: list[LineResult]
    applied: list[AppliedEntry]
    redeem_requested: int
    coupons: Coupons
    held_out: list[str]
    balance: Balance | None  # None: anonymous
    tier: str | None  # None: anonymous
    events: list[Event]
    program_version: str = ""  # content hash of the program file (additive, section 6)


@dataclass(slots=True)
class ReturnResult(AppliedResult):
    """A return applied: the amounts are the reversal (negative), `applied` is empty."""

    original_receipt_id: str = ""


ReceiptResult = AppliedResult | DuplicateResult
"""What `receipt-results` carries for a receipt that was not rejected."""


def encode_result(result: ReceiptResult) -> bytes:
    """The section 6 JSON object (keys in contract order)."""
    return orjson.dumps(result)


def decode_result(raw: bytes | str) -> ReceiptResult:
    """The record back from its JSON (a stored output answers a redelivered message)."""
    d = orjson.loads(raw)
    if d["status"] == "duplicate":
        return DuplicateResult(d["receipt_id"], d["customer_id"], d["status"])
    if "original_receipt_id" in d:
        return _applied(d, ReturnResult, original_receipt_id=d["original_receipt_id"])
    return _applied(d, AppliedResult)


def _applied(d: dict[str, Any], cls: type[AppliedResult], **extra: Any) -> AppliedResult:
    c, b = d["coupons"], d["balance"]
    return cls(
        receipt_id=d["receipt_id"], customer_id=d["customer_id"], status=d["status"],
        total=d["total"], discount=d["discount"], redeemed=d["redeemed"], paid=d["paid"],
        accrued=d["accrued"], lines=[LineResult(**ln) for ln in d["lines"]],
        applied=[AppliedEntry(**a) for a in d["applied"]],
        redeem_requested=d["redeem_requested"],
        coupons=Coupons(list(c["accepted"]), [CouponRejected(**x) for x in c["rejected"]]),
        held_out=list(d["held_out"]),
        balance=None if b is None else Balance(b["active"], b["pending"]),
        tier=d["tier"], events=list(d["events"]),
        program_version=d.get("program_version", ""), **extra,
    )
