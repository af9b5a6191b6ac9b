"""Loyalty state as plain, serialisable records: customers, point buckets, receipts, globals.

Both engines and both stores (memory, Redis) use these; `to_obj`/`from_obj` give the compact
JSON form stored in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PENDING, ACTIVE, EXPIRED = 0, 1, 2
NOTE_ACTIVATED, NOTE_EXPIRING, NOTE_EXPIRED = 1, 2, 4
KIND_RATE, KIND_FIXED, KIND_REFUND = 0, 1, 2


@dataclass(slots=True)
class Bucket:
    """One grant of points: pending until `act_us`, active until `exp_us` (None: never)."""

    id: int
    receipt_id: str
    campaign_id: str
    kind: int
    amount: int
    act_us: int
    exp_us: int | None
    state: int = PENDING
    burnt: int = 0
    notes: int = 0

    def to_obj(self) -> list:
        return [self.id, self.receipt_id, self.campaign_id, self.kind, self.amount, self.act_us,
                self.exp_us, self.state, self.burnt, self.notes]

    @classmethod
    def from_obj(cls, o: list) -> Bucket:
        return cls(*o)


@dataclass(slots=True)
class Offer:
    """A personal next-purchase offer; its terms come from the issuing campaign's `offer`."""

    campaign_id: str
    issued_us: int
    expires_us: int
    uses_left: int | None

    def to_obj(self) -> list:
        return [self.campaign_id, self.issued_us, self.expires_us, self.uses_left]


@dataclass(slots=True)
class CustomerState:
    customer_id: str
    clock_us: int | None = None
    next_bucket: int = 1
    buckets: list[Bucket] = field(default_factory=list)
    debt: int = 0
    spend: int = 0
    sales: int = 0
    uses: dict[str, int] = field(default_factory=dict)
    offers: dict[str, Offer] = field(default_factory=dict)
    version: int = 0

    def balance(self) -> tuple[int, int]:
        """(active, pending): the active balance goes negative by the debt."""
        active = pending = 0
        for b in self.buckets:
            if b.state == ACTIVE:
                active += b.amount
            elif b.state == PENDING:
                pending += b.amount
        return active - self.debt, pending

    def outstanding(self) -> int:
        """The sum of `balance()` (the points the liability counts), in one pass: the store
        asks it for every customer it writes."""
        return sum([b.amount for b in self.buckets if b.state != EXPIRED]) - self.debt

    def to_obj(self) -> dict:
        return {
            "c": self.clock_us, "n": self.next_bucket, "b": [b.to_obj() for b in self.buckets],
            "d": self.debt, "s": self.spend, "k": self.sales, "u": self.uses,
            "o": [o.to_obj() for o in self.offers.values()], "v": self.version,
        }

    @classmethod
    def from_obj(cls, customer_id: str, o: dict) -> CustomerState:
        return cls(
            customer_id, o["c"], o["n"], [Bucket.from_obj(b) for b in o["b"]], o["d"], o["s"],
            o["k"], dict(o["u"]), {x[0]: Offer(*x) for x in o["o"]}, o["v"],
        )


@dataclass(slots=True)
class SaleLine:
    """What a sale line got, kept for returns: reversed pro rata as units come back."""

    line_no: int
    qty: int
    amount: int
    discount: int
    redeemed: int
    accrued: int
    spend: int
    returned: int = 0


@dataclass(slots=True)
class ReceiptRecord:
    """An applied receipt, remembered for duplicates and (sales) for returns."""

    receipt_id: str
    customer_id: str | None
    ts_us: int
    kind: str
    lines: list[SaleLine] = field(default_factory=list)
    rate_buckets: list[int] = field(default_factory=list)
    origin: str | None = None  # where it was read (topic/partition/offset): tells redelivery

    def to_obj(self) -> list:
        return [self.customer_id, self.ts_us, self.kind,
                [[ln.line_no, ln.qty, ln.amount, ln.discount, ln.redeemed, ln.accrued, ln.spend,
                  ln.returned] for ln in self.lines], self.rate_buckets, self.origin]

    @classmethod
    def from_obj(cls, receipt_id: str, o: list) -> ReceiptRecord:
        return cls(receipt_id, o[0], o[1], o[2], [SaleLine(*x) for x in o[3]], o[4], o[5])
