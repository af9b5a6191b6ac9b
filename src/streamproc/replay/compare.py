"""Per-campaign figures of one program's run, net of returns, and the comparison of two runs.

A result's `applied` gives each campaign's discount and points on a sale; a return gives back
the sale's discount and rate-based points per line, not per campaign. A return's reversal is
therefore split over the sale's campaigns in proportion to what each gave on that sale (largest
remainder, spec section 1): discount over the discount campaigns, rate-based points over `base`
and the multiplier campaigns (fixed grants stay, spec section 5). So the campaigns' figures add
up exactly to the run's net totals. All money and points are integers in minor units.
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamproc.domain.money import split_largest_remainder
from streamproc.domain.program import Program
from streamproc.domain.result import AppliedResult, ReturnResult
from streamproc.domain.timeutil import from_us
from streamproc.engine.processor import APPLIED, Outcome

RATE_TYPES = ("points_multiplier", "next_purchase_offer")  # their points are rate-based
US_PER_MINUTE = 60_000_000  # zones' offsets are whole minutes (Kolkata: +05:30)


@dataclass
class CampaignFigures:
    receipts: int = 0  # receipts whose result lists the campaign in `applied`
    customers: set[str] = field(default_factory=set)
    discount: int = 0  # net of returns
    points: int = 0  # net of returns
    held_out: int = 0  # receipts where it would have given something but for the holdout
    held_out_customers: set[str] = field(default_factory=set)


class Tally:
    """Folds one program's outcomes into campaign figures, totals, days and holdout groups."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.by: dict[str, CampaignFigures] = defaultdict(CampaignFigures)
        self.sales: dict[str, tuple[int, list[tuple[str, int]], list[tuple[str, int]]]] = {}
        self.paid_by_customer: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()
        self.daily_cost: Counter[str] = Counter()  # local day -> discount + points, net
        self.daily_budget: dict[str, Counter[str]] = defaultdict(Counter)  # cid -> day -> spent
        self.exhausted_day: dict[str, str] = {}
        self._day_cache: dict[int, str] = {}
        self.rate_ids = {"base"} | {c.id for c in program.campaigns if c.type in RATE_TYPES}

    def day(self, ts_us: int) -> str:
        minute = ts_us // US_PER_MINUTE
        d = self._day_cache.get(minute)
        if d is None:
            d = self._day_cache[minute] = from_us(minute * US_PER_MINUTE,
                                                self.program.tz).date().isoformat()
        return d

    def is_rate(self, cid: str) -> bool:
        return cid in self.rate_ids

    def add(self, o: Outcome, timer_events: list[dict[str, Any]]) -> None:
        """Called twice a message by `whatif` (once a side), so written lean: one pass over
        the result's `applied`, the figures of the program's campaigns made up front."""
        t = self.totals
        t["messages"] += 1
        t[o.status] += 1
        for ev in timer_events:
            if ev["type"] == "points_expired":
                t["points_expired"] += ev.get("amount", 0)
        r = o.result
        if o.status != APPLIED or not isinstance(r, AppliedResult):
            return
        receipt = o.receipt
        assert receipt is not None
        ts = receipt.ts_us
        day = self._day_cache.get(ts // US_PER_MINUTE) or self.day(ts)
        discount, accrued, paid = r.discount, r.accrued, r.paid
        t["discount"] += discount
        t["points_issued"] += accrued
        t["points_redeemed"] += r.redeemed
        t["paid"] += paid
        self.daily_cost[day] += discount + accrued
        cust = r.customer_id
        if cust is not None:
            self.paid_by_customer[cust] += paid
        if isinstance(r, ReturnResult):
            t["returns"] += 1
            self._return(r)
            return
        t["sales"] += r.total
        disc: list[tuple[str, int]] = []
        rate: list[tuple[str, int]] = []
        by, rate_ids = self.by, self.rate_ids
        last = None
        seen: set[str] | None = None
        for a in r.applied:
            cid = a.campaign_id
            amount = a.amount
            if cid == "base":
                rate.append((cid, amount))
                continue
            f = by[cid]
            if cid != last:  # a campaign's entries count one receipt
                if seen is None:
                    seen = {cid}
                    new = True
                elif cid in seen:
                    new = False
                else:
                    seen.add(cid)
                    new = True
                if new:
                    f.receipts += 1
                    if cust is not None:
                        f.customers.add(cust)
                last = cid
            if a.kind == "discount":
                f.discount += amount
                disc.append((cid, amount))
            else:
                f.points += amount
                if cid in rate_ids:
                    rate.append((cid, amount))
        for cid in r.held_out:
            f = by[cid]
            f.held_out += 1
            if cust is not None:
                f.held_out_customers.add(cust)
        if cust is not None and (disc or rate):
            self.sales[r.receipt_id] = (ts, disc, rate)
        calc = o.calc
        if calc is not None:
            spent = calc.budget_spent
            if spent:
                for cid, amount in spent.items():
                    self.daily_budget[cid][day] += amount
            for cid in calc.budget_exhausted:  # the first receipt it no longer fitted
                self.exhausted_day.setdefault(cid, day)

    def _return(self, r: ReturnResult) -> None:
        sale = self.sales.get(r.original_receipt_id)
        if sale is None:
            return
        _, disc, rate = sale
        for entries, back, attr in ((disc, -r.discount, "discount"), (rate, -r.accrued, "points")):
            if back <= 0 or not entries:
                continue
            shares = split_largest_remainder(back, [a for _, a in entries])
            for (cid, _), share in zip(entries, shares, strict=True):
                if cid == "base":
                    continue
                f = self.by[cid]
                setattr(f, attr, getattr(f, attr) - share)

    def forget_before(self, horizon_us: int) -> None:
        """Sales that can no longer be returned."""
        old = [rid for rid, (ts, _, _) in self.sales.items() if ts < horizon_us]
        for rid in old:
            del self.sales[rid]


# ------------------------------------------------------------------ holdout statistics


@dataclass
class Group:
    n: int
    total: int  # money, minor units
    mean: int  # floor(total / n), minor units
    sd: float  # sample standard deviation (statistics, float)


def group(values: list[int]) -> Group:
    n = len(values)
    total = sum(values)
    if n == 0:
        return Group(0, 0, 0, 0.0)
    sq = sum(v * v for v in values)
    var = (n * sq - total * total) / (n * (n - 1)) if n > 1 else 0.0  # exact numerator
    return Group(n, total, total // n, math.sqrt(max(var, 0.0)))


def holdout_effect(tally: Tally, cid: str) -> dict[str, Any]:
    """Spend per customer (money paid over the run, net of returns) of the customers the
    campaign treated against those it held out, and the difference with a 95 % interval
    (Welch, normal approximation). Means are integer minor units; the interval is a float."""
    f = tally.by.get(cid, CampaignFigures())
    treated = group([tally.paid_by_customer[c] for c in f.customers])
    control = group([tally.paid_by_customer[c] for c in f.held_out_customers])
    out: dict[str, Any] = {
        "campaign_id": cid, "holdout_bps": tally.program.campaign(cid).holdout_bps,
        "treated_customers": treated.n, "treated_spend_per_customer": treated.mean,
        "held_out_customers": control.n, "held_out_spend_per_customer": control.mean,
        "difference": None, "ci95_low": None, "ci95_high": None,
    }
    if treated.n and control.n:
        # the difference of the means as an exact fraction, floored once
        diff = (treated.total * control.n - control.total * treated.n) // (treated.n * control.n)
        out["difference"] = diff
        if treated.n > 1 and control.n > 1:
            se = math.sqrt(treated.sd ** 2 / treated.n + control.sd ** 2 / control.n)
            exact = treated.total / treated.n - control.total / control.n
            out["ci95_low"] = round(exact - 1.96 * se, 2)
            out["ci95_high"] = round(exact + 1.96 * se, 2)
    return out


# ------------------------------------------------------------------ comparison

CSV_COLUMNS = (
    "campaign_id", "in_baseline", "in_candidate", "baseline_receipts", "candidate_receipts",
    "baseline_customers", "candidate_customers", "baseline_discount", "candidate_discount",
    "baseline_points", "candidate_points", "candidate_held_out", "candidate_budget_used_bps",
    "baseline_held_out", "baseline_budget_used_bps", "baseline_budget_spent",
    "candidate_budget_spent", "baseline_budget_exhausted_day", "candidate_budget_exhausted_day",
    "baseline_type", "candidate_type", "cost_change",
)


@dataclass
class SideResult:
    """One program's figures at the end of the run."""

    program: Program
    tally: Tally
    budget_spent: dict[str, int]  # campaign -> spent at the end (starting state included)
    liability: int
    customers: int


def _budget_bps(p: Program, cid: str, spent: dict[str, int]) -> int | str:
    if cid not in {c.id for c in p.campaigns}:
        return ""
    budget = p.campaign(cid).budget
    if budget is None:
        return ""
    return spent.get(cid, 0) * 10_000 // budget if budget else 10_000


def campaign_rows(base: SideResult, cand: SideResult) -> list[dict[str, Any]]:
    """One row per campaign of either program, in the candidate's then baseline's order,
    campaigns that never fired included."""
    ids = list(dict.fromkeys([c.id for c in cand.program.campaigns]
                             + [c.id for c in base.program.campaigns]))
    rows = []
    for cid in ids:
        row: dict[str, Any] = {"campaign_id": cid}
        for name, side in (("baseline", base), ("candidate", cand)):
            known = cid in {c.id for c in side.program.campaigns}
            f = side.tally.by.get(cid, CampaignFigures())
            row[f"in_{name}"] = known
            row[f"{name}_receipts"] = f.receipts
            row[f"{name}_customers"] = len(f.customers)
            row[f"{name}_discount"] = f.discount
            row[f"{name}_points"] = f.points
            row[f"{name}_held_out"] = f.held_out
            row[f"{name}_budget_used_bps"] = _budget_bps(side.program, cid, side.budget_spent)
            row[f"{name}_budget_spent"] = side.budget_spent.get(cid, "") if known and \
                side.program.campaign(cid).budget is not None else ""
            row[f"{name}_budget_exhausted_day"] = side.tally.exhausted_day.get(cid, "")
            row[f"{name}_type"] = side.program.campaign(cid).type if known else ""
        row["cost_change"] = (row["candidate_discount"] + row["candidate_points"]
                              - row["baseline_discount"] - row["baseline_points"])
        rows.append(row)
    return rows


def totals(side: SideResult) -> dict[str, Any]:
    t = side.tally.totals
    return {
        "program_id": side.program.id, "program_version": side.program.version,
        "program_file": side.program.source,
        "messages": t["messages"], "applied": t[APPLIED], "duplicate": t["duplicate"],
        "rejected": t["rejected"], "returns": t["returns"],
        "sales": t["sales"], "paid": t["paid"],
        "discount": t["discount"], "points_issued": t["points_issued"],
        "points_redeemed": t["points_redeemed"], "points_expired": t["points_expired"],
        "cost": t["discount"] + t["points_issued"],
        "liability_end": side.liability, "customers_end": side.customers,
    }


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
        w.writeheader()
        for row in rows:
            w.writerow({k: (str(v).lower() if isinstance(v, bool) else v)
                        for k, v in row.items() if k in CSV_COLUMNS})
