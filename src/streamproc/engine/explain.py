"""Why each campaign applied to a receipt or not: `streamproc explain`.

The receipt goes through the real processor (the chosen engine, the customer's state) for the
result; the same context is then run through the reference engine with its decisions recorded
(`_ExplainRun` overrides the steps of `reference._SaleRun` and calls them unchanged), so each
campaign gets the first condition that stopped it: window, schedule, store, audience,
per-customer limit, coupon, target, exclusive, line cap, minimum amount, holdout, budget.
A test checks that what the explanation says applied is exactly the result's `applied`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from streamproc.domain.fnv import holdout_bucket
from streamproc.domain.program import (
    DISCOUNT_TYPES,
    STAGE_A_TYPES,
    Campaign,
    Program,
)
from streamproc.domain.program_describe import campaign_value, money, percent, window_text
from streamproc.domain.receipt import Receipt
from streamproc.domain.result import AppliedResult
from streamproc.domain.timeutil import DAY_NAMES, birthday_distance_ok
from streamproc.engine.calc import SaleCalc, SaleContext, SaleEngine
from streamproc.engine.processor import Outcome, Processor
from streamproc.engine.reference import ReferenceEngine, _SaleRun
from streamproc.engine.stateview import StateView

APPLIED, NOT_APPLIED, HELD_OUT = "applied", "not applied", "held out"


@dataclass
class Verdict:
    campaign_id: str
    verdict: str  # applied / not applied / held out
    reason: str
    gives: str  # the campaign's value in words
    discount: int = 0
    points: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "verdict": self.verdict, "reason": self.reason,
                "gives": self.gives, "discount": self.discount, "points": self.points}


class _Recording:
    """Delegates to the real engine and keeps the context it was given."""

    def __init__(self, engine: SaleEngine) -> None:
        self.engine = engine
        self.name = engine.name
        self.ctx: SaleContext | None = None

    def calc_sale(self, receipt: Receipt, ctx: SaleContext) -> SaleCalc:
        self.ctx = copy.deepcopy(ctx)
        return self.engine.calc_sale(receipt, ctx)


class _ExplainRun(_SaleRun):
    """The reference calculation with a note of why each campaign gave nothing."""

    def __init__(self, engine: ReferenceEngine, receipt: Receipt, ctx: SaleContext) -> None:
        super().__init__(engine, receipt, ctx)
        self.why: dict[str, str] = {}

    def note(self, c: Campaign, text: str) -> None:
        self.why.setdefault(c.id, text)

    def _coverage(self, c: Campaign, target, exclusive: bool) -> str | None:
        """Why no line can take the campaign's discount, or None when some can."""
        cov = [self.covers(target, i) for i in range(self.n)]
        if not any(cov):
            return "no line on the receipt is in its target"
        if not any(cov[i] and self.can_discount[i] for i in range(self.n)):
            return "the lines in its target are restricted for discounts"
        if not any(cov[i] and self.can_discount[i] and not self.locked[i]
                   for i in range(self.n)):
            return "exclusive: its lines were taken by an exclusive campaign"
        if exclusive and not any(self.discountable(True, i) and cov[i] for i in range(self.n)):
            return "exclusive: its lines already have a discount"
        return None

    def apply_line_discount(self, c: Campaign) -> None:
        if c.type != "bundle":
            why = self._coverage(c, c.target, c.exclusive)
            if why:
                self.note(c, why)
                return
        raw = self.raw_line_discounts(c)
        if sum(raw) <= 0:
            self.note(c, {"n_for_m": f"fewer than {c.buy} units in its target",
                          "bundle": "no complete set on the receipt"}.get(
                c.type, "its lines get no discount at these prices"))
            return
        room = self.clip_and_cap(c, raw, None)
        if sum(room) <= 0:
            self.note(c, f"line cap: its lines have no room left under the maximum of "
                      f"{percent(self.p.max_line_discount_bps)} off a line")
            return
        self.give_discount(c, self.clip_and_cap(c, raw, c.per_receipt))

    def apply_threshold(self, c: Campaign) -> None:
        why = self._coverage(c, c.target, c.exclusive)
        if why:
            self.note(c, why)
            return
        cov = [self.discountable(c.exclusive, i) and self.covers(c.target, i)
               for i in range(self.n)]
        base = sum(self.amount[i] - self.disc[i] for i in range(self.n) if cov[i])
        if base < c.min_amount:
            self.note(c, f"its lines come to {money(base)} after discounts, below the minimum "
                      f"{money(c.min_amount)}")
            return
        super().apply_threshold(c)
        if c.id not in self.gave and c.id not in self.out.held_out and \
                c.id not in self.out.budget_exhausted:
            self.note(c, f"line cap: its lines have no room left under the maximum of "
                      f"{percent(self.p.max_line_discount_bps)} off a line")

    def give_discount(self, c: Campaign, amt: list[int]) -> None:
        super().give_discount(c, amt)
        self._after(c, sum(amt))

    def _after(self, c: Campaign, cost: int) -> None:
        if c.id in self.out.held_out:
            self.note(c, f"holdout: the customer is in its control group (bucket "
                      f"{holdout_bucket(c.id, self.ctx.customer_id or '')} < "
                      f"{c.holdout_bps})")
        elif c.id in self.out.budget_exhausted and c.id not in self.gave:
            self.note(c, f"budget: its cost here, {money(cost)}, does not fit the "
                      f"{money(self.budget_left.get(c.id, 0))} left")

    def fixed_points(self) -> None:
        super().fixed_points()
        after = [self.amount[i] - self.disc[i] for i in range(self.n)]
        for c in self.p.campaigns:
            if c.type not in ("bonus_points", "sku_points", "next_purchase_offer") or \
                    c.id in self.gave or not self.eligible(c):
                continue
            cov = [self.covers(c.target, i) for i in range(self.n)]
            if not any(cov):
                self.note(c, "no line on the receipt is in its target")
            elif not any(cov[i] and self.can_accrue[i] for i in range(self.n)):
                self.note(c, "the lines in its target are restricted for points")
            elif c.type != "sku_points" and sum(after[i] for i in range(self.n)
                                                 if cov[i] and self.can_accrue[i]) \
                    < c.min_amount:
                self.note(c, f"its lines come to less than the minimum {money(c.min_amount)}")
            else:
                self._after(c, c.points or c.points_per_unit)

    def accrue(self) -> None:
        super().accrue()
        granted = {cid for cid, _, _ in self.out.grants}
        for c in self.p.campaigns:
            if c.type != "points_multiplier" or c.id in granted or not self.eligible(c):
                continue
            cov = [self.covers(c.target, i) and self.can_accrue[i] for i in range(self.n)]
            if not any(self.covers(c.target, i) for i in range(self.n)):
                self.note(c, "no line on the receipt is in its target")
            elif not any(cov):
                self.note(c, "the lines in its target are restricted for points")
            else:
                self._after(c, 0)
                self.note(c, "a higher multiplier won its lines, or they earn no points")


def condition_failed(run: _SaleRun, c: Campaign, p: Program) -> str | None:
    """The first entry condition (spec section 4) the receipt fails, in words."""
    r, ctx = run.r, run.ctx
    ts = r.ts_us
    if c.active_from_us is not None and ts < c.active_from_us:
        return f"window: starts later ({window_text(c, p)})"
    if c.active_until_us is not None and ts >= c.active_until_us:
        return f"window: already over ({window_text(c, p)})"
    if c.schedule is not None and not c.schedule.allows(run.weekday, run.minute):
        return (f"schedule: the receipt is on {DAY_NAMES[run.weekday]} "
                f"{run.minute // 60:02d}:{run.minute % 60:02d}, outside its days and hours")
    if c.stores is not None and r.store_id not in c.stores:
        return f"store: {r.store_id or 'no store'} is not one of its {len(c.stores)} stores"
    a = c.audience
    if run.anon:
        if c.type not in DISCOUNT_TYPES:
            return "audience: points never go to an anonymous receipt"
        if not a.anonymous:
            return "audience: card holders only, and the receipt is anonymous"
        if c.per_customer is not None:
            return "per-customer limit: it needs a customer, and the receipt is anonymous"
        if a.tiers is not None or a.segments is not None or a.first_purchase \
                or a.birthday_window_days is not None:
            return "audience: it needs a known customer, and the receipt is anonymous"
    else:
        if a.tiers is not None and p.tier_name(ctx.tier) not in a.tiers:
            return f"audience: tier {p.tier_name(ctx.tier)}, needs {'/'.join(sorted(a.tiers))}"
        if a.segments is not None and not (a.segments & ctx.segments):
            return f"audience: segments {sorted(ctx.segments) or 'none'}, needs one of " \
                f"{sorted(a.segments)}"
        if a.first_purchase and ctx.has_sale:
            return "audience: first purchase only, and the customer has bought before"
        if a.birthday_window_days is not None:
            if ctx.birthday is None:
                return "audience: birthday campaign, and the customer's birthday is unknown"
            if not birthday_distance_ok(run.local_date, ctx.birthday.month, ctx.birthday.day,
                                        a.birthday_window_days):
                return f"audience: birthday {ctx.birthday.isoformat()} is more than " \
                    f"{a.birthday_window_days} days from {run.local_date.isoformat()}"
        if c.per_customer is not None and ctx.uses.get(c.id, 0) >= c.per_customer:
            return f"per-customer limit: used {ctx.uses.get(c.id, 0)} of {c.per_customer}"
    if c.coupon_codes and c.id not in run.coupon_for:
        mine = [x for x in r.coupons if x in c.coupon_codes]
        if mine and c.single_use:
            return f"coupon: {mine[0]} was already used (single use)"
        return "coupon: the receipt carries none of its codes"
    return None


def explain(program: Program, engine: SaleEngine, receipt: Receipt, view: StateView,
            raw: bytes = b"") -> tuple[Outcome, list[Verdict]]:
    """The receipt's real outcome and a verdict for every campaign."""
    rec = _Recording(engine)
    outcome = Processor(program, rec).process(receipt, view, raw, None)
    result = outcome.result
    verdicts: list[Verdict] = []
    if rec.ctx is None or not isinstance(result, AppliedResult):
        why = "a return gives back what its sale got; campaigns do not run on it" \
            if receipt.kind == "return" else f"the receipt is {outcome.status}"
        return outcome, [Verdict(c.id, NOT_APPLIED, why, campaign_value(c))
                         for c in program.campaigns]
    run = _ExplainRun(ReferenceEngine(program), receipt, rec.ctx)
    run.run()
    given: dict[str, list[int]] = {}
    for a in result.applied:
        d = given.setdefault(a.campaign_id, [0, 0])
        d[0 if a.kind == "discount" else 1] += a.amount
    order = {c.id: (0 if c.type in STAGE_A_TYPES else 1 if c.type in DISCOUNT_TYPES else 2)
             for c in program.campaigns}
    for c in sorted(program.campaigns, key=lambda c: (order[c.id], -c.priority, c.id)):
        gives = campaign_value(c)
        if c.id in given:
            disc, pts = given[c.id]
            what = ", ".join(x for x in (f"discount {money(disc)}" if disc else "",
                                         f"points {money(pts)}" if pts else "") if x)
            verdicts.append(Verdict(c.id, APPLIED, what, gives, disc, pts))
            continue
        if c.id in result.held_out:
            verdicts.append(Verdict(c.id, HELD_OUT, run.why.get(c.id, "holdout"), gives))
            continue
        if c.id in run.out.offers_issued:
            verdicts.append(Verdict(c.id, APPLIED, "issued its personal offer", gives))
            continue
        why = condition_failed(run, c, program) or run.why.get(c.id) or \
            "its conditions held but it gave nothing on these lines"
        verdicts.append(Verdict(c.id, NOT_APPLIED, why, gives))
    return outcome, verdicts
