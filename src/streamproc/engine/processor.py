"""Turns one message into its contract outputs: a result, events, or a reject.

The processor owns the order of spec section 5 around the calculation: duplicates, the
customer's clock and settlement, the calculation (reference or compiled), buckets, spend and
tier, returns, and the output records of section 6.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from streamproc.domain.deadletter import raw_fields
from streamproc.domain.program import Program
from streamproc.domain.receipt import (
    RETURN_EXCEEDS_SALE,
    UNKNOWN_ORIGINAL,
    Receipt,
    Reject,
)
from streamproc.domain.result import (
    AppliedEntry,
    AppliedResult,
    Balance,
    CouponRejected,
    Coupons,
    DuplicateResult,
    Event,
    LineResult,
    ReceiptResult,
    ReturnResult,
    decode_result,
    encode_result,
)
from streamproc.domain.timeutil import US_PER_DAY
from streamproc.engine import ledger, timers
from streamproc.engine.calc import SaleCalc, SaleContext, SaleEngine
from streamproc.engine.model import (
    KIND_REFUND,
    CustomerState,
    Offer,
    ReceiptRecord,
    SaleLine,
)
from streamproc.engine.stateview import StateView

APPLIED, DUPLICATE, REJECTED = "applied", "duplicate", "rejected"


@dataclass(slots=True)
class Outcome:
    status: str
    result: ReceiptResult | None = None
    events: list[Event] = field(default_factory=list)
    reject: dict[str, Any] | None = None
    receipt: Receipt | None = None
    calc: SaleCalc | None = None
    redelivered: bool = False
    encoded: bytes | None = None

    def result_json(self) -> bytes:
        """The result as JSON, encoded once however many places it goes to."""
        if self.encoded is None:
            assert self.result is not None, "a rejected receipt has no result"
            self.encoded = encode_result(self.result)
        return self.encoded


def _days(n: int | None) -> int | None:
    return None if n is None else n * US_PER_DAY


class Processor:
    """Applies receipts to a `StateView` with a given sale engine."""

    def __init__(self, program: Program, engine: SaleEngine) -> None:
        from streamproc.engine.selection import make_decoder

        self.program = program
        self.engine = engine
        self.decode = make_decoder(engine.name)  # the compiled engine brings its decoder
        self.budgeted = [c for c in program.campaigns if c.budget is not None]
        self.single_use = {code for c in program.campaigns if c.single_use
                           for code in c.coupon_codes}

    def next_due(self, st: CustomerState) -> int | None:
        """When `st`'s next timer event is due (`timers.next_due`)."""
        return timers.next_due(st, self.program)

    def fire_due(self, st: CustomerState, now_us: int, text: bool = True) -> list[Event]:
        """`st`'s timer events due by `now_us`, marked announced (`timers.fire_due`)."""
        return timers.fire_due(st, self.program, now_us, text)

    # --------------------------------------------------------------- entry
    def process_raw(self, raw: bytes | str, view: StateView, origin: str | None = None) -> Outcome:
        try:
            receipt = self.decode(raw)
        except Reject as rej:
            return self.rejected(rej, raw)
        return self.process(receipt, view, raw, origin)

    def process(self, receipt: Receipt, view: StateView, raw: bytes | str = b"",
                origin: str | None = None) -> Outcome:
        prev = view.receipt(receipt.receipt_id)
        if prev is not None and origin is not None and prev.origin == origin:
            stored = view.stored_output(receipt.receipt_id)
            if stored is not None:  # redelivered after a crash: the same answer again
                result = decode_result(stored)
                events = result.events if isinstance(result, AppliedResult) else []
                return Outcome(APPLIED, result, events, receipt=receipt, redelivered=True,
                               encoded=stored)
        if prev is not None and abs(receipt.ts_us - prev.ts_us) <= self.program.return_window_us:
            return Outcome(DUPLICATE, DuplicateResult(receipt.receipt_id, receipt.customer_id,
                                                      DUPLICATE), receipt=receipt)
        try:
            if receipt.kind == "return":
                out = self.process_return(receipt, view, origin)
            else:
                out = self.process_sale(receipt, view, origin)
        except Reject as rej:
            return self.rejected(rej, raw)
        if origin is not None:
            view.keep_output(receipt.receipt_id, out)
        return out

    def rejected(self, rej: Reject, raw: bytes | str) -> Outcome:
        return Outcome(REJECTED, reject={"reason": rej.reason, "detail": rej.detail,
                                         **raw_fields(raw)})

    # --------------------------------------------------------------- sale
    def context(self, receipt: Receipt, st: CustomerState | None, view: StateView) -> SaleContext:
        used = frozenset(code for code in receipt.coupons
                         if code in self.single_use and view.coupon_used(code))
        budget_left = {c.id: c.budget - view.budget_spent(c.id)  # type: ignore[operator]
                       for c in self.budgeted}
        if st is None:
            return SaleContext(None, budget_left=budget_left, used_codes=used)
        prof = view.profile(st.customer_id)
        return SaleContext(
            st.customer_id,
            tier=self.program.tier_for(st.spend),
            active_balance=st.balance()[0],
            has_sale=st.sales > 0,
            birthday=prof.birthday if prof else None,
            segments=prof.segments if prof else frozenset(),
            uses=st.uses,
            offers={cid: (o.issued_us, o.expires_us, o.uses_left) for cid, o in st.offers.items()},
            budget_left=budget_left,
            used_codes=used,
        )

    def process_sale(self, r: Receipt, view: StateView, origin: str | None) -> Outcome:
        p = self.program
        st = view.customer(r.customer_id) if r.customer_id is not None else None
        if st is not None:
            st.clock_us = r.ts_us if st.clock_us is None else max(st.clock_us, r.ts_us)
            ledger.settle(st)
        ctx = self.context(r, st, view)
        calc = self.engine.calc_sale(r, ctx)
        events: list[Event] = []
        ev = _Events(r, events)
        for cid, amount in calc.budget_spent.items():
            view.add_budget_spent(cid, amount)
        for cid in calc.budget_exhausted:
            if not view.exhausted_noted(cid):
                view.note_exhausted(cid)
                ev.add("campaign_budget_exhausted", campaign_id=cid)
        for code in calc.coupons_accepted:
            if code in self.single_use:
                view.use_coupon(code, r.receipt_id)
            ev.add("coupon_redeemed", code=code)
        tier_before = tier_after = None
        rate_buckets: list[int] = []
        accrued = sum(a for _, a, _ in calc.grants)
        if st is not None:
            tier_before = p.tier_name(ctx.tier)  # the tier at the start of the receipt
            if st.sales == 0:
                ev.add("first_purchase")
            st.sales += 1
            for cid in calc.gave:
                st.uses[cid] = st.uses.get(cid, 0) + 1
            for cid in calc.offers_used:
                o = st.offers[cid]
                if o.uses_left is not None:
                    o.uses_left -= 1
                    if o.uses_left <= 0:
                        del st.offers[cid]
                ev.add("offer_used", campaign_id=cid)
            if calc.redeemed:
                ledger.spend_active(st, calc.redeemed)
                ev.add("points_redeemed", amount=calc.redeemed)
            for cid, amount, kind in calc.grants:
                c = None if cid == "base" else p.campaign(cid)
                act = p.activation_days if c is None else c.activation_days
                exp = p.expiry_days if c is None else c.expiry_days
                b = ledger.grant(st, r.receipt_id, cid, kind, amount, r.ts_us, act * US_PER_DAY,
                                 _days(exp))
                if kind == 0:
                    rate_buckets.append(b.id)
            if accrued:
                ev.add("points_accrued", amount=accrued)
            for cid in calc.offers_issued:
                c = p.campaign(cid)
                assert c.offer is not None
                st.offers[cid] = Offer(cid, r.ts_us, r.ts_us + c.offer.valid_days * US_PER_DAY,
                                       c.offer.uses)
                ev.add("offer_issued", campaign_id=cid, offer_type=c.offer.type,
                       valid_until_us=r.ts_us + c.offer.valid_days * US_PER_DAY)
            ledger.settle(st)
            st.spend += sum(calc.line_spend)
            tier_after = p.tier_name(p.tier_for(st.spend))
            if tier_after != tier_before:
                ev.add("tier_changed", **{"from": tier_before, "to": tier_after})
            view.touch(st)
        view.put_receipt(ReceiptRecord(
            r.receipt_id, r.customer_id, r.ts_us, "sale",
            [SaleLine(ln.line_no, ln.qty, ln.amount, calc.line_discount[i],
                      calc.line_redeemed[i], calc.line_accrued[i], calc.line_spend[i])
             for i, ln in enumerate(r.lines)] if st is not None else [],
            rate_buckets, origin))
        total = sum(ln.amount for ln in r.lines)
        discount = sum(calc.line_discount)
        result = AppliedResult(
            r.receipt_id, r.customer_id, APPLIED, total, discount, calc.redeemed,
            total - discount - calc.redeemed, accrued,
            [LineResult(ln.line_no, ln.amount, calc.line_discount[i], calc.line_redeemed[i],
                        calc.line_accrued[i]) for i, ln in enumerate(r.lines)],
            [AppliedEntry(cid, "discount", a) for cid, a in calc.discounts]
            + [AppliedEntry(cid, "points", a) for cid, a, _ in calc.grants],
            r.redeem,
            Coupons(calc.coupons_accepted,
                    [CouponRejected(c, why) for c, why in calc.coupons_rejected]),
            calc.held_out, _balance(st), tier_after, events, p.version,
        )
        return Outcome(APPLIED, result, events, receipt=r, calc=calc)

    # --------------------------------------------------------------- return
    def process_return(self, r: Receipt, view: StateView, origin: str | None) -> Outcome:
        p = self.program
        sale = view.receipt(r.original_receipt_id)  # type: ignore[arg-type]
        if (sale is None or sale.kind != "sale" or sale.customer_id is None
                or sale.customer_id != r.customer_id
                or r.ts_us - sale.ts_us > p.return_window_us):
            raise Reject(UNKNOWN_ORIGINAL,
                         f"original_receipt_id: {r.original_receipt_id!r} is not a sale of this "
                         f"customer within {p.return_window_days} days")
        by_no = {ln.line_no: ln for ln in sale.lines}
        for ln in r.lines:
            sl = by_no.get(ln.line_no)
            if sl is None:
                raise Reject(RETURN_EXCEEDS_SALE, f"line {ln.line_no}: not on the sale")
            if sl.returned + ln.qty > sl.qty:
                raise Reject(RETURN_EXCEEDS_SALE,
                             f"line {ln.line_no}: returns {ln.qty} of {sl.qty - sl.returned} "
                             "units left")
        st = view.customer(r.customer_id)
        st.clock_us = r.ts_us if st.clock_us is None else max(st.clock_us, r.ts_us)
        ledger.settle(st)
        tier_before = p.tier_name(p.tier_for(st.spend))
        out_lines: list[LineResult] = []
        t_amount = t_disc = t_red = t_acc = t_spend = 0
        for ln in r.lines:
            sl = by_no[ln.line_no]
            old, new = sl.returned, sl.returned + ln.qty

            def rev(x: int, old: int = old, new: int = new, q: int = sl.qty) -> int:
                return x * new // q - x * old // q

            d_amt, d_disc, d_red = rev(sl.amount), rev(sl.discount), rev(sl.redeemed)
            d_acc, d_spend = rev(sl.accrued), rev(sl.spend)
            sl.returned = new
            t_amount += d_amt
            t_disc += d_disc
            t_red += d_red
            t_acc += d_acc
            t_spend += d_spend
            out_lines.append(LineResult(ln.line_no, -d_amt, -d_disc, -d_red, -d_acc))
        events: list[Event] = []
        ev = _Events(r, events)
        if t_acc:
            ledger.claw_back(st, t_acc, sale.rate_buckets)
            ev.add("points_clawed_back", amount=t_acc, original_receipt_id=sale.receipt_id)
        if t_red:
            exp = None if p.expiry_days is None else p.expiry_days * US_PER_DAY
            ledger.grant(st, r.receipt_id, "refund", KIND_REFUND, t_red, r.ts_us, 0, exp)
            ev.add("points_refunded", amount=t_red, original_receipt_id=sale.receipt_id)
        ledger.settle(st)
        st.spend -= t_spend
        tier_after = p.tier_name(p.tier_for(st.spend))
        if tier_after != tier_before:
            ev.add("tier_changed", **{"from": tier_before, "to": tier_after})
        if st.balance()[0] < 0:
            ev.add("balance_negative", amount=st.balance()[0])
        view.touch(st)
        view.put_receipt(sale)
        view.put_receipt(ReceiptRecord(r.receipt_id, r.customer_id, r.ts_us, "return",
                                       origin=origin))
        result = ReturnResult(
            r.receipt_id, r.customer_id, APPLIED, -t_amount, -t_disc, -t_red,
            -t_amount + t_disc + t_red, -t_acc, out_lines, [], 0, Coupons([], []), [],
            _balance(st), tier_after, events, p.version, sale.receipt_id,
        )
        return Outcome(APPLIED, result, events, receipt=r)


def _balance(st: CustomerState | None) -> Balance | None:
    if st is None:
        return None
    active, pending = st.balance()
    return Balance(active, pending)


class _Events:
    """Numbers a receipt's events `<receipt_id>/<index>` in the order they happen."""

    def __init__(self, r: Receipt, sink: list[Event]) -> None:
        self.r = r
        self.sink = sink

    def add(self, etype: str, **fields: Any) -> None:
        ev = {"event_id": f"{self.r.receipt_id}/{len(self.sink)}", "type": etype,
              "customer_id": self.r.customer_id, "ts": self.r.ts}
        ev.update(fields)
        self.sink.append(ev)


def make_processor(program: Program, engine: SaleEngine) -> Processor:
    """The processor for `engine`: the compiled `FastProcessor` (`_fastcalc`) for the compiled
    engine, this readable `Processor` for any other (the reference, or a wrapper around an
    engine). Both give identical outcomes and state (tests/unit/engine/test_processor_stream.py).
    """
    if engine.name == "compiled":
        from streamproc.engine.selection import load_fastcalc

        mod = load_fastcalc()
        if isinstance(engine, mod.FastEngine):
            return cast(Processor, mod.FastProcessor(program, engine))
    return Processor(program, engine)
