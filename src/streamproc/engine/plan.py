"""Compile a validated `Program` into a flat plan for the compiled engine (`_fastcalc`).

The plan is built once per program load. Campaigns keep the program's order (priority, then
id); every parameter becomes a plain integer in a per-field list (the compiled engine copies
them into C arrays), and every target the calculation can ask about (campaign targets, bundle
component targets, offer targets) gets an index. A line is described by its (sku, category):
its restriction flags and whether each target covers it. That record is computed once per
distinct (sku, category) and cached (`Plan.row`), so a receipt's coverage is a few lookups.

Integer parameters the contract leaves unbounded are clamped where clamping cannot change any
result (e.g. an `amount_off` above the largest unit price gives the same discount as one just
above it); the ones whose value can reach an output (`points`, `points_per_unit`) must fit
the engine's 64-bit arithmetic, else `PlanError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamproc.domain.fnv import FNV_OFFSET, FNV_PRIME, MASK64
from streamproc.domain.program import Campaign, Program, Target
from streamproc.errors import StreamprocError

# campaign type codes (the order of the calculation's stages)
T_PERCENT_OFF, T_AMOUNT_OFF, T_FIXED_PRICE, T_N_FOR_M, T_BUNDLE = 0, 1, 2, 3, 4
T_THRESHOLD, T_BONUS, T_SKU_POINTS, T_MULTIPLIER, T_OFFER = 5, 6, 7, 8, 9
TYPE_CODES = {
    "percent_off": T_PERCENT_OFF, "amount_off": T_AMOUNT_OFF, "fixed_price": T_FIXED_PRICE,
    "n_for_m": T_N_FOR_M, "bundle": T_BUNDLE, "threshold_discount": T_THRESHOLD,
    "bonus_points": T_BONUS, "sku_points": T_SKU_POINTS, "points_multiplier": T_MULTIPLIER,
    "next_purchase_offer": T_OFFER,
}
# offer kinds of a next_purchase_offer campaign
OFFER_NONE, OFFER_PERCENT, OFFER_MULT = 0, 1, 2

# line restriction flags (first byte of a line record)
F_ACCRUE, F_REDEEM, F_DISCOUNT = 1, 2, 4

NONE = -1  # "no value" for optional integer parameters
BIG = 1 << 62  # above any amount a receipt can reach (500 * 100000 * 10^10 = 5 * 10^17)
MAX_UNITS = 500 * 100_000  # units on a receipt at most
PRICE_CLAMP = 10**10 + 1  # above any unit price
COUNT_CLAMP = 10**9  # above any unit count on a receipt
MAX_POINTS = 1 << 62
ROW_CACHE_MAX = 200_000


def _category_keys(category: str) -> list[str]:
    """The target categories that match `category` (`domain.program.category_matches`): the
    category itself and each of its prefixes that ends before a '/'."""
    return [category] + [category[:i] for i, ch in enumerate(category) if ch == "/"]


class _TargetIndex:
    """Targets by what they name (byte positions in a line record: target index + 1)."""

    def __init__(self, targets: list[Target]) -> None:
        self.any: list[int] = []
        self.sku: dict[str, list[int]] = {}
        self.cat: dict[str, list[int]] = {}
        self.ex_sku: dict[str, list[int]] = {}
        self.ex_cat: dict[str, list[int]] = {}
        for k, t in enumerate(targets, 1):
            if t.skus is None and t.categories is None:
                self.any.append(k)
            for s in t.skus or ():
                self.sku.setdefault(s, []).append(k)
            for c in t.categories or ():
                self.cat.setdefault(c, []).append(k)
            for s in t.exclude_skus:
                self.ex_sku.setdefault(s, []).append(k)
            for c in t.exclude_categories:
                self.ex_cat.setdefault(c, []).append(k)


class PlanError(StreamprocError, ValueError):
    """A program parameter outside what the compiled engine computes exactly."""


def _clamp(v: int | None, hi: int) -> int:
    return NONE if v is None else min(v, hi)


def fnv_prefix(campaign_id: str) -> int:
    """FNV-1a 64 state after the bytes of `campaign_id + ':'` (the holdout hash's prefix)."""
    h = FNV_OFFSET
    for b in (campaign_id + ":").encode():
        h ^= b
        h = (h * FNV_PRIME) & MASK64
    return h


@dataclass
class Plan:
    program: Program
    campaigns: tuple[Campaign, ...]
    ids: list[str]
    targets: list[Target]
    # per campaign, in program order
    ctype: list[int] = field(default_factory=list)
    exclusive: list[int] = field(default_factory=list)
    percent_bps: list[int] = field(default_factory=list)
    amount: list[int] = field(default_factory=list)
    price: list[int] = field(default_factory=list)
    buy: list[int] = field(default_factory=list)
    pay: list[int] = field(default_factory=list)
    min_amount: list[int] = field(default_factory=list)
    points: list[int] = field(default_factory=list)
    points_per_unit: list[int] = field(default_factory=list)
    multiplier_bps: list[int] = field(default_factory=list)
    max_sets: list[int] = field(default_factory=list)
    per_receipt: list[int] = field(default_factory=list)
    per_customer: list[int] = field(default_factory=list)
    has_budget: list[int] = field(default_factory=list)
    holdout_bps: list[int] = field(default_factory=list)
    fnv: list[int] = field(default_factory=list)
    has_from: list[int] = field(default_factory=list)
    active_from: list[int] = field(default_factory=list)
    has_until: list[int] = field(default_factory=list)
    active_until: list[int] = field(default_factory=list)
    sched_days: list[int] = field(default_factory=list)  # bitmask, 127 = every day
    sched_start: list[int] = field(default_factory=list)  # minutes, NONE = all day
    sched_end: list[int] = field(default_factory=list)
    stores: list[frozenset[str] | None] = field(default_factory=list)
    anon_ok: list[int] = field(default_factory=list)
    tiers_mask: list[int] = field(default_factory=list)  # NONE = any tier
    segments: list[frozenset[str] | None] = field(default_factory=list)
    first_purchase: list[int] = field(default_factory=list)
    birthday_window: list[int] = field(default_factory=list)
    has_coupon: list[int] = field(default_factory=list)
    target: list[int] = field(default_factory=list)  # target index, NONE for bundles
    offer_kind: list[int] = field(default_factory=list)
    offer_target: list[int] = field(default_factory=list)
    offer_percent_bps: list[int] = field(default_factory=list)
    offer_multiplier_bps: list[int] = field(default_factory=list)
    comp_start: list[int] = field(default_factory=list)
    comp_count: list[int] = field(default_factory=list)
    # bundle components, flattened
    comp_target: list[int] = field(default_factory=list)
    comp_qty: list[int] = field(default_factory=list)
    # points_multiplier campaigns and multiplier offers, by (-multiplier, -priority, id)
    mult_order: list[int] = field(default_factory=list)
    # program level
    index: dict[str, int] = field(default_factory=dict)
    code_owner: dict[str, int] = field(default_factory=dict)
    single_use: list[int] = field(default_factory=list)
    tier_rates: list[int] = field(default_factory=list)
    rows: dict[tuple[str, str], bytes] = field(default_factory=dict)
    _index: _TargetIndex | None = field(default=None, repr=False, compare=False)

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    def coverage(self, sku: str, category: str) -> bytearray:
        """A zero byte, then `Target.covers(sku, category)` of every target as 0/1, from an
        index of the targets by SKU and category: the work grows with the targets that name
        the line, not with all of them (a chain runs hundreds of campaigns). Held to `covers`
        by tests/unit/engine/test_plan_coverage.py."""
        ix = self._index
        if ix is None:
            ix = self._index = _TargetIndex(self.targets)
        cov = bytearray(len(self.targets) + 1)
        for k in ix.any:
            cov[k] = 1
        for k in ix.sku.get(sku, ()):
            cov[k] = 1
        cats = _category_keys(category)
        for c in cats:
            for k in ix.cat.get(c, ()):
                cov[k] = 1
        for k in ix.ex_sku.get(sku, ()):
            cov[k] = 0
        for c in cats:
            for k in ix.ex_cat.get(c, ()):
                cov[k] = 0
        return cov

    def row(self, sku: str, category: str) -> bytes:
        """The line record of (sku, category): restriction flags, then one byte per target."""
        key = (sku, category)
        rec = self.rows.get(key)
        if rec is None:
            acc, red, dis = self.program.restriction(category)
            flags = (F_ACCRUE if acc else 0) | (F_REDEEM if red else 0) | \
                (F_DISCOUNT if dis else 0)
            cov = self.coverage(sku, category)
            cov[0] = flags
            rec = bytes(cov)
            if len(self.rows) >= ROW_CACHE_MAX:
                self.rows.clear()
            self.rows[key] = rec
        return rec


def compile_plan(program: Program) -> Plan:
    """Flatten `program` into a `Plan` (raises `PlanError` for out-of-range parameters)."""
    targets: list[Target] = []
    t_index: dict[Target, int] = {}

    def tix(t: Target) -> int:
        k = t_index.get(t)
        if k is None:
            k = t_index[t] = len(targets)
            targets.append(t)
        return k

    cs = program.campaigns
    plan = Plan(program, cs, [c.id for c in cs], targets)
    tier_names = [t.name for t in program.tiers]
    for k, c in enumerate(cs):
        plan.index[c.id] = k
        plan.ctype.append(TYPE_CODES[c.type])
        plan.exclusive.append(int(c.exclusive))
        plan.percent_bps.append(c.percent_bps)
        plan.amount.append(min(c.amount, PRICE_CLAMP if c.type == "amount_off" else BIG))
        plan.price.append(min(c.price, PRICE_CLAMP))
        plan.buy.append(min(c.buy, COUNT_CLAMP))
        plan.pay.append(min(c.pay, COUNT_CLAMP))
        plan.min_amount.append(min(c.min_amount, BIG))
        if c.points > MAX_POINTS or c.points_per_unit * MAX_UNITS > MAX_POINTS:
            raise PlanError(f"campaign '{c.id}': points beyond the compiled engine's range")
        plan.points.append(c.points)
        plan.points_per_unit.append(c.points_per_unit)
        plan.multiplier_bps.append(c.multiplier_bps)
        plan.max_sets.append(_clamp(c.max_sets, COUNT_CLAMP))
        plan.per_receipt.append(_clamp(c.per_receipt, BIG))
        plan.per_customer.append(NONE if c.per_customer is None else c.per_customer)
        plan.has_budget.append(int(c.budget is not None))
        plan.holdout_bps.append(c.holdout_bps)
        plan.fnv.append(fnv_prefix(c.id))
        plan.has_from.append(int(c.active_from_us is not None))
        plan.active_from.append(c.active_from_us or 0)
        plan.has_until.append(int(c.active_until_us is not None))
        plan.active_until.append(c.active_until_us or 0)
        s = c.schedule
        if s is None:
            plan.sched_days.append(127)
            plan.sched_start.append(NONE)
            plan.sched_end.append(NONE)
        else:
            plan.sched_days.append(127 if s.days is None else sum(1 << d for d in s.days))
            if s.start_min is None or s.end_min is None:
                plan.sched_start.append(NONE)
                plan.sched_end.append(NONE)
            else:
                plan.sched_start.append(s.start_min)
                plan.sched_end.append(s.end_min)
        plan.stores.append(c.stores)
        a = c.audience
        plan.anon_ok.append(int(a.anonymous))
        if a.tiers is None:
            plan.tiers_mask.append(NONE)
        else:
            plan.tiers_mask.append(sum(1 << i for i, n in enumerate(tier_names) if n in a.tiers))
        plan.segments.append(a.segments)
        plan.first_purchase.append(int(a.first_purchase))
        plan.birthday_window.append(NONE if a.birthday_window_days is None
                                    else a.birthday_window_days)
        plan.has_coupon.append(int(bool(c.coupon_codes)))
        plan.target.append(NONE if c.type == "bundle" else tix(c.target))
        o = c.offer
        if o is None:
            plan.offer_kind.append(OFFER_NONE)
            plan.offer_target.append(NONE)
            plan.offer_percent_bps.append(0)
            plan.offer_multiplier_bps.append(0)
        else:
            plan.offer_kind.append(OFFER_PERCENT if o.type == "percent_off" else OFFER_MULT)
            plan.offer_target.append(tix(o.target))
            plan.offer_percent_bps.append(o.percent_bps)
            plan.offer_multiplier_bps.append(o.multiplier_bps)
        plan.comp_start.append(len(plan.comp_target))
        plan.comp_count.append(len(c.components))
        for comp in c.components:
            plan.comp_target.append(tix(comp.target))
            plan.comp_qty.append(min(comp.qty, COUNT_CLAMP))
        for code in c.coupon_codes:
            plan.code_owner[code] = k
        plan.single_use.append(int(c.single_use))
    mults = []
    for k, c in enumerate(cs):
        if c.type == "points_multiplier":
            mults.append((-c.multiplier_bps, -c.priority, c.id, k))
        elif c.offer is not None and c.offer.type == "points_multiplier":
            mults.append((-c.offer.multiplier_bps, -c.priority, c.id, k))
    mults.sort()
    plan.mult_order = [m[3] for m in mults]
    plan.tier_rates = [t.rate_bps for t in program.tiers] or [program.rate_bps]
    return plan
