"""The reference engine: spec section 5 for one sale, written to be read next to the spec.

Pure Python, exact integers, no I/O. It is the executable contract and the oracle the
compiled engine (`streamproc._fastcalc`) is tested against; it is never a silent fallback.
"""

from __future__ import annotations

from streamproc.domain.fnv import holdout_bucket
from streamproc.domain.money import BPS, split_largest_remainder
from streamproc.domain.program import STAGE_A_TYPES, Campaign, Program, Target
from streamproc.domain.receipt import Receipt
from streamproc.domain.timeutil import birthday_distance_ok, from_us
from streamproc.engine.calc import SaleCalc, SaleContext

RATE_DIV = BPS * BPS


class ReferenceEngine:
    """Computes sales with the readable reference of the contract."""

    name = "reference"

    def __init__(self, program: Program) -> None:
        self.program = program
        self.code_owner = {code: c for c in program.campaigns for code in c.coupon_codes}

    def calc_sale(self, receipt: Receipt, ctx: SaleContext) -> SaleCalc:
        return _SaleRun(self, receipt, ctx).run()


class _SaleRun:
    """One sale's calculation, step by step."""

    def __init__(self, engine: ReferenceEngine, receipt: Receipt, ctx: SaleContext) -> None:
        p = engine.program
        self.p = p
        self.engine = engine
        self.r = receipt
        self.ctx = ctx
        self.anon = ctx.customer_id is None
        n = len(receipt.lines)
        self.n = n
        self.amount = [ln.amount for ln in receipt.lines]
        self.disc = [0] * n
        self.locked = [False] * n
        self.cap = [a * p.max_line_discount_bps // BPS for a in self.amount]
        flags = [p.restriction(ln.category) for ln in receipt.lines]
        self.can_accrue = [f[0] for f in flags]
        self.can_redeem = [f[1] for f in flags]
        self.can_discount = [f[2] for f in flags]
        self.out = SaleCalc([0] * n, [0] * n, [0] * n, [0] * n)
        self.budget_left = dict(ctx.budget_left)
        dt = from_us(receipt.ts_us, p.tz)
        self.weekday, self.minute, self.local_date = dt.weekday(), dt.hour * 60 + dt.minute, \
            dt.date()
        self.gave: set[str] = set()

    # ------------------------------------------------------------------ conditions
    def eligible(self, c: Campaign) -> bool:
        ts = self.r.ts_us
        if c.active_from_us is not None and ts < c.active_from_us:
            return False
        if c.active_until_us is not None and ts >= c.active_until_us:
            return False
        if c.schedule is not None and not c.schedule.allows(self.weekday, self.minute):
            return False
        if c.stores is not None and self.r.store_id not in c.stores:
            return False
        a = c.audience
        if self.anon:
            if not a.anonymous or c.per_customer is not None:
                return False
            if a.tiers is not None or a.segments is not None or a.first_purchase \
                    or a.birthday_window_days is not None:
                return False
        else:
            ctx = self.ctx
            if a.tiers is not None and self.p.tier_name(ctx.tier) not in a.tiers:
                return False
            if a.segments is not None and not (a.segments & ctx.segments):
                return False
            if a.first_purchase and ctx.has_sale:
                return False
            if a.birthday_window_days is not None and (
                ctx.birthday is None or not birthday_distance_ok(
                    self.local_date, ctx.birthday.month, ctx.birthday.day,
                    a.birthday_window_days)):
                return False
            if c.per_customer is not None and ctx.uses.get(c.id, 0) >= c.per_customer:
                return False
        return not c.coupon_codes or c.id in self.coupon_for

    def held_out(self, c: Campaign) -> bool:
        return (not self.anon and c.holdout_bps > 0
                and holdout_bucket(c.id, self.ctx.customer_id) < c.holdout_bps)  # type: ignore[arg-type]

    def fits_budget(self, cid: str, budget: int | None, cost: int) -> bool:
        """Spend `cost` of the campaign's budget if it fits; note exhaustion if not."""
        if budget is None:
            return True
        if cost > self.budget_left[cid]:
            if cid not in self.out.budget_exhausted:
                self.out.budget_exhausted.append(cid)
            return False
        self.budget_left[cid] -= cost
        self.out.budget_spent[cid] = self.out.budget_spent.get(cid, 0) + cost
        return True

    def covers(self, t: Target, i: int) -> bool:
        ln = self.r.lines[i]
        return t.covers(ln.sku, ln.category)

    def discountable(self, c_exclusive: bool, i: int) -> bool:
        return self.can_discount[i] and not self.locked[i] and not (
            c_exclusive and self.disc[i] > 0)

    # ------------------------------------------------------------------ coupons
    def pick_coupons(self) -> None:
        """Each campaign applies with the first usable of its codes on the receipt."""
        self.coupon_for: dict[str, str] = {}
        self.code_verdict: dict[str, str | None] = {}
        for code in dict.fromkeys(self.r.coupons):
            c = self.engine.code_owner.get(code)
            if c is None:
                self.code_verdict[code] = "unknown"
            elif c.single_use and code in self.ctx.used_codes:
                self.code_verdict[code] = "used"
            elif c.id in self.coupon_for:
                self.code_verdict[code] = "not_applicable"
            else:
                self.coupon_for[c.id] = code
                self.code_verdict[code] = None  # decided once the campaign has run

    def settle_coupons(self) -> None:
        for code, verdict in self.code_verdict.items():
            if verdict is None:
                c = self.engine.code_owner[code]
                if c.id in self.gave:
                    self.out.coupons_accepted.append(code)
                    continue
                verdict = "not_applicable"
            self.out.coupons_rejected.append((code, verdict))

    # ------------------------------------------------------------------ run
    def run(self) -> SaleCalc:
        self.pick_coupons()
        stage_a: list[tuple[int, str, Campaign | None, Campaign]] = []
        for c in self.p.campaigns:
            if c.type in STAGE_A_TYPES and self.eligible(c):
                stage_a.append((-c.priority, c.id, None, c))
        for cid, c in self._offers("percent_off"):
            stage_a.append((-c.priority, cid, c, c))
        stage_a.sort(key=lambda e: (e[0], e[1]))
        for _, _, offer_of, c in stage_a:
            if offer_of is not None:
                self.apply_offer_discount(c)
            else:
                self.apply_line_discount(c)
        for c in self.p.campaigns:
            if c.type == "threshold_discount" and self.eligible(c):
                self.apply_threshold(c)
        self.redeem()
        if not self.anon:
            self.accrue()
            self.fixed_points()
        self.settle_coupons()
        self.out.gave = [c.id for c in self.p.campaigns if c.id in self.gave]
        return self.out

    def _offers(self, otype: str) -> list[tuple[str, Campaign]]:
        found: list[tuple[str, Campaign]] = []
        if self.anon:
            return found
        ts = self.r.ts_us
        for cid, (issued, expires, uses_left) in self.ctx.offers.items():
            if cid not in self.p._by_id:
                continue
            c = self.p.campaign(cid)
            if c.offer is None or c.offer.type != otype:
                continue
            if issued <= ts < expires and (uses_left is None or uses_left > 0):
                found.append((cid, c))
        return found

    # ------------------------------------------------------------------ stage A
    def raw_line_discounts(self, c: Campaign) -> list[int]:
        n, lines, raw = self.n, self.r.lines, [0] * self.n
        cov = [self.discountable(c.exclusive, i) and
               (c.type == "bundle" or self.covers(c.target, i)) for i in range(n)]
        if c.type == "percent_off":
            for i in range(n):
                if cov[i]:
                    raw[i] = self.amount[i] * c.percent_bps // BPS
        elif c.type == "amount_off":
            for i in range(n):
                if cov[i]:
                    raw[i] = lines[i].qty * min(c.amount, lines[i].unit_price)
        elif c.type == "fixed_price":
            for i in range(n):
                if cov[i]:
                    raw[i] = lines[i].qty * max(0, lines[i].unit_price - c.price)
        elif c.type == "n_for_m":
            raw = self.n_for_m(c, cov)
        elif c.type == "bundle":
            raw = self.bundle(c, cov)
        return raw

    def n_for_m(self, c: Campaign, cov: list[bool]) -> list[int]:
        """Units by price (high first, then line_no) form groups of `buy`; in each full group
        the `buy - pay` cheapest are free. Counted per line, never unit by unit."""
        raw = [0] * self.n
        order = sorted((i for i in range(self.n) if cov[i]),
                       key=lambda i: (-self.r.lines[i].unit_price, self.r.lines[i].line_no))
        total = sum(self.r.lines[i].qty for i in order)
        full_end = total - total % c.buy

        def free_before(k: int) -> int:  # free positions among the first k units
            return (k // c.buy) * (c.buy - c.pay) + max(0, k % c.buy - c.pay)

        start = 0
        for i in order:
            q = self.r.lines[i].qty
            end = min(start + q, full_end)
            if end > start:
                raw[i] = (free_before(end) - free_before(start)) * self.r.lines[i].unit_price
            start += q
        return raw

    def bundle(self, c: Campaign, cov: list[bool]) -> list[int]:
        """Sets form while every component can take its qty of units not yet in a set,
        units taken in line_no order."""
        n = self.n
        avail = [self.r.lines[i].qty if cov[i] else 0 for i in range(n)]
        comp_lines = [[i for i in range(n) if cov[i] and self.covers(comp.target, i)]
                      for comp in c.components]
        in_sets = [0] * n
        sets = 0
        max_sets = c.max_sets
        while max_sets is None or sets < max_sets:
            # fast path: every component's first line with units can serve k whole sets
            heads: list[int | None] = []
            for lines_c in comp_lines:
                head = next((i for i in lines_c if avail[i] > 0), None)
                heads.append(head)
            full = [h for h in heads if h is not None]
            if len(full) < len(heads):
                break
            need: dict[int, int] = {}
            for h, comp in zip(full, c.components, strict=True):
                need[h] = need.get(h, 0) + comp.qty
            k = min(avail[h] // q for h, q in need.items())
            if max_sets is not None:
                k = min(k, max_sets - sets)
            if k >= 1:
                for h, q in need.items():
                    avail[h] -= q * k
                    in_sets[h] += q * k
                sets += k
                continue
            # slow path: build one set unit by unit, or stop if it cannot form
            trial = avail[:]
            took = [0] * n
            ok = True
            for lines_c, comp in zip(comp_lines, c.components, strict=True):
                want = comp.qty
                for i in lines_c:
                    if not want:
                        break
                    t = min(want, trial[i])
                    trial[i] -= t
                    took[i] += t
                    want -= t
                if want:
                    ok = False
                    break
            if not ok:
                break
            avail = trial
            for i in range(n):
                in_sets[i] += took[i]
            sets += 1
        return [in_sets[i] * (self.r.lines[i].unit_price * c.percent_bps // BPS)
                for i in range(n)]

    def clip_and_cap(self, c: Campaign, raw: list[int], per_receipt: int | None) -> list[int]:
        """Clip to each line's room under the line cap, then apply the per-receipt cap."""
        amt = [min(raw[i], max(0, self.cap[i] - self.disc[i])) for i in range(self.n)]
        total = sum(amt)
        if per_receipt is not None and total > per_receipt:
            amt = split_largest_remainder(per_receipt, amt)
        return amt

    def commit_discount(self, c: Campaign, amt: list[int], exclusive: bool) -> None:
        total = sum(amt)
        for i in range(self.n):
            if amt[i]:
                self.disc[i] += amt[i]
                if exclusive:
                    self.locked[i] = True
        self._add_discount(c.id, total)

    def _add_discount(self, cid: str, total: int) -> None:
        for k, (x, a) in enumerate(self.out.discounts):
            if x == cid:
                self.out.discounts[k] = (x, a + total)
                return
        self.out.discounts.append((cid, total))

    def apply_line_discount(self, c: Campaign) -> None:
        self.give_discount(c, self.clip_and_cap(c, self.raw_line_discounts(c), c.per_receipt))

    def give_discount(self, c: Campaign, amt: list[int]) -> None:
        """Holdout, then budget, then the discount (spec section 5, stages A and B)."""
        total = sum(amt)
        if total <= 0:
            return
        if self.held_out(c):
            self.out.held_out.append(c.id)
            return
        if not self.fits_budget(c.id, c.budget, total):
            return
        self.commit_discount(c, amt, c.exclusive)
        self.gave.add(c.id)

    def apply_offer_discount(self, c: Campaign) -> None:
        o = c.offer
        assert o is not None
        raw = [self.amount[i] * o.percent_bps // BPS
               if self.discountable(False, i) and self.covers(o.target, i) else 0
               for i in range(self.n)]
        amt = self.clip_and_cap(c, raw, c.per_receipt)
        total = sum(amt)
        if total <= 0 or not self.fits_budget(c.id, c.budget, total):
            return
        self.commit_discount(c, amt, False)
        self.out.offers_used.append(c.id)

    # ------------------------------------------------------------------ stage B
    def apply_threshold(self, c: Campaign) -> None:
        cov = [self.discountable(c.exclusive, i) and self.covers(c.target, i)
               for i in range(self.n)]
        after = [self.amount[i] - self.disc[i] if cov[i] else 0 for i in range(self.n)]
        base = sum(after)
        if not any(cov) or base < c.min_amount:
            return
        want = base * c.percent_bps // BPS if c.percent_bps else c.amount
        shares = split_largest_remainder(want, after)
        self.give_discount(c, self.clip_and_cap(c, shares, c.per_receipt))

    # ------------------------------------------------------------------ redemption
    def redeem(self) -> None:
        out = self.out
        out.line_discount = self.disc
        if self.anon:
            return
        after = [self.amount[i] - self.disc[i] for i in range(self.n)]
        due = sum(after)
        elig = [after[i] if self.can_redeem[i] else 0 for i in range(self.n)]
        redeemed = min(self.r.redeem, self.ctx.active_balance,
                       sum(elig) * self.p.max_share_bps // BPS, due - self.p.min_payable)
        redeemed = max(0, redeemed)
        if redeemed:
            out.line_redeemed = split_largest_remainder(redeemed, elig)
            out.redeemed = redeemed

    # ------------------------------------------------------------------ accrual
    def accrue(self) -> None:
        out, n, p = self.out, self.n, self.p
        rate = p.tier_rate(self.ctx.tier)
        base = [0] * n
        for i in range(n):
            if self.can_accrue[i]:
                b = self.amount[i] - self.disc[i]
                if not p.on_redeemed:
                    b -= out.line_redeemed[i]
                base[i] = b
                out.line_spend[i] = self.amount[i] - self.disc[i] - out.line_redeemed[i]
        base_pts = [base[i] * rate // BPS for i in range(n)]
        # the winning multiplier per line: highest, then higher priority, then lower id
        cands: list[tuple[int, int, str, Campaign, bool, Target]] = []
        for c in p.campaigns:
            if c.type == "points_multiplier" and self.eligible(c):
                cands.append((c.multiplier_bps, c.priority, c.id, c, False, c.target))
        for cid, c in self._offers("points_multiplier"):
            assert c.offer is not None
            cands.append((c.offer.multiplier_bps, c.priority, cid, c, True, c.offer.target))
        cands.sort(key=lambda e: (-e[0], -e[1], e[2]))
        winner: list[int | None] = [None] * n
        for i in range(n):
            if not self.can_accrue[i]:
                continue
            for k, cand in enumerate(cands):
                if self.covers(cand[5], i):
                    winner[i] = k
                    break
        extra_by: dict[int, list[int]] = {}
        for i in range(n):
            w = winner[i]
            if w is not None:
                mult = cands[w][0]
                extra_by.setdefault(w, [0] * n)[i] = base[i] * rate * mult // RATE_DIV - base_pts[i]
        accrued = base_pts[:]
        mult_grants: list[tuple[int, str, int, int]] = []
        for k in sorted(extra_by, key=lambda k: (-cands[k][1], cands[k][2])):
            mult, prio, cid, c, is_offer, _ = cands[k]
            extra = extra_by[k]
            total = sum(extra)
            if total <= 0:
                continue
            if c.per_receipt is not None and total > c.per_receipt:
                extra = split_largest_remainder(c.per_receipt, extra)
                total = c.per_receipt
            if not is_offer and self.held_out(c):
                out.held_out.append(cid)
                continue
            if not self.fits_budget(cid, c.budget, total):
                continue
            for i in range(n):
                accrued[i] += extra[i]
            mult_grants.append((-prio, cid, total, 0))
            if is_offer:
                out.offers_used.append(cid)
            else:
                self.gave.add(cid)
        out.line_accrued = accrued
        base_total = sum(base_pts)
        if base_total > 0:
            out.grants.append(("base", base_total, 0))
        for _, cid, total, kind in sorted(mult_grants):
            out.grants.append((cid, total, kind))

    def fixed_points(self) -> None:
        out, n = self.out, self.n
        after = [self.amount[i] - self.disc[i] for i in range(n)]
        for ctype in ("bonus_points", "sku_points", "next_purchase_offer"):
            for c in self.p.campaigns:
                if c.type != ctype or not self.eligible(c):
                    continue
                cov = [self.can_accrue[i] and self.covers(c.target, i) for i in range(n)]
                if not any(cov):
                    continue
                if ctype == "sku_points":
                    pts = sum(self.r.lines[i].qty for i in range(n) if cov[i]) * c.points_per_unit
                else:
                    if sum(after[i] for i in range(n) if cov[i]) < c.min_amount:
                        continue
                    pts = c.points
                if ctype == "next_purchase_offer":
                    if self.held_out(c):
                        out.held_out.append(c.id)
                        continue
                    out.offers_issued.append(c.id)
                    self.gave.add(c.id)
                    continue
                if c.per_receipt is not None:
                    pts = min(pts, c.per_receipt)
                if pts <= 0:
                    continue
                if self.held_out(c):
                    out.held_out.append(c.id)
                    continue
                if not self.fits_budget(c.id, c.budget, pts):
                    continue
                out.grants.append((c.id, pts, 1))
                self.gave.add(c.id)

