"""What a sale's calculation needs and gives, shared by the reference and compiled engines.

`SaleContext` is the customer and global state a sale reads; `SaleCalc` is everything the
calculation decides (spec section 5, steps 1-5 and 7). Applying it to state is the
processor's job, so both engines feed the same bookkeeping. `SaleEngine` is what both engines
offer the processor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from streamproc.domain.receipt import Receipt


@dataclass(slots=True)
class SaleContext:
    customer_id: str | None  # None: anonymous
    tier: int = 0
    active_balance: int = 0
    has_sale: bool = False
    birthday: date | None = None
    segments: frozenset[str] = frozenset()
    uses: dict[str, int] = field(default_factory=dict)
    offers: dict[str, tuple[int, int, int | None]] = field(default_factory=dict)
    """campaign id -> (issued_us, expires_us, uses_left) of the customer's personal offers."""
    budget_left: dict[str, int] = field(default_factory=dict)
    """campaign id -> budget left, for every campaign with a budget."""
    used_codes: frozenset[str] = frozenset()
    """single-use codes on this receipt that were already used."""


@dataclass(slots=True)
class SaleCalc:
    line_discount: list[int]
    line_redeemed: list[int]
    line_accrued: list[int]  # rate-based points only (base and multipliers)
    line_spend: list[int]  # qualifying spend (money paid on lines that earn points)
    discounts: list[tuple[str, int]] = field(default_factory=list)
    grants: list[tuple[str, int, int]] = field(default_factory=list)
    """(campaign id or 'base', points, kind) in grant order; kind 0 rate-based, 1 fixed."""
    redeemed: int = 0
    offers_used: list[str] = field(default_factory=list)
    offers_issued: list[str] = field(default_factory=list)
    coupons_accepted: list[str] = field(default_factory=list)
    coupons_rejected: list[tuple[str, str]] = field(default_factory=list)
    held_out: list[str] = field(default_factory=list)
    budget_spent: dict[str, int] = field(default_factory=dict)
    budget_exhausted: list[str] = field(default_factory=list)
    gave: list[str] = field(default_factory=list)
    """campaigns that gave something here (per-customer uses; offer use does not count)."""


class SaleEngine(Protocol):
    """A sale engine: the compiled `_fastcalc.FastEngine` or the `ReferenceEngine`."""

    name: str

    def calc_sale(self, receipt: Receipt, ctx: SaleContext) -> SaleCalc: ...
