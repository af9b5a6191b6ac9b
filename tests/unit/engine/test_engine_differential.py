"""Differential tests: the compiled engine must compute every receipt exactly like the reference.

Random programs (every campaign type and condition) x random receipt streams go through the
`Processor` twice, once per engine, each on its own `MemoryState`; outcomes, events, rejects and
the final state must be identical. A calc-level test compares `SaleCalc`s directly for random
`SaleContext`s (offers, budgets, uses). Set HYPOTHESIS_PROFILE=nightly for 20x more cases.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproc._fastcalc import parse_receipt
from streamproc._fastcalc import receipt_from_obj as compiled_receipt_from_obj
from streamproc.domain import program as program_mod
from streamproc.domain import receipt as receipt_mod
from streamproc.domain.program import program_from_dict
from streamproc.domain.receipt import Profile, receipt_from_obj
from streamproc.engine.calc import SaleCalc, SaleContext
from streamproc.engine.processor import Processor
from streamproc.engine.reference import ReferenceEngine
from streamproc.engine.selection import load_fast_engine
from streamproc.state.memory import MemoryState

SCALE = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "nightly" else 1
settings.register_profile("nightly", max_examples=20 * 100, deadline=None)
SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.filter_too_much],
    "derandomize": False,
}

CATS = ["dairy", "dairy/cheese", "dairy/cheese/hard", "dairy/milk", "dairyx", "meat",
        "meat/sausage", "tobacco", "alcohol", "alcohol/wine"]
SKUS = ["s1", "s2", "s3", "s4", "s5", "s6"]
SEGMENTS = ["parents", "pets", "sport"]
TIER_NAMES = ["basic", "silver", "gold"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
STORES = ["S1", "S2", "S3"]
CUSTOMERS = ["C1", "C2", "K3", "Ж4"]
BASE_TS = 1_793_000_000  # 2026-10-26, seconds
TYPES = ["percent_off", "amount_off", "fixed_price", "n_for_m", "bundle", "threshold_discount",
         "bonus_points", "sku_points", "points_multiplier", "next_purchase_offer"]
BIG_AMOUNTS = [0, 1, 7, 99, 1000, 45900, 10**6, 10**9, 10**12, 10**16, 10**18, 10**20]


@pytest.fixture(autouse=True, scope="module")
def _engine_beyond_decoder_bounds():
    """The engines' arithmetic is exact past the decoder's and the loader's bounds (totals,
    redemptions and campaign amounts past 2^53, instants before 2000): lift those bounds here so
    these tests keep reaching it. The compiled decoder hands such receipts to the Python one,
    which reads the lifted bounds."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(program_mod, "MAX_SAFE_INT", 2**200)
        mp.setattr(receipt_mod, "MAX_SAFE_INT", 2**200)
        mp.setattr(receipt_mod, "TS_MIN_US", -(2**70))
        mp.setattr(receipt_mod, "TS_MAX_US", 2**70)
        yield


def small_or_big(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(lo, hi), st.sampled_from([x for x in BIG_AMOUNTS if x >= lo]))


@st.composite
def targets(draw: st.DrawFn, required: bool = False) -> dict | None:
    if not required and draw(st.booleans()):
        return None
    t: dict = {}
    if draw(st.booleans()):
        t["skus"] = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3))
    if draw(st.booleans()):
        t["categories"] = draw(st.lists(st.sampled_from(CATS), min_size=1, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        ex: dict = {}
        if draw(st.booleans()):
            ex["skus"] = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=2))
        if draw(st.booleans()):
            ex["categories"] = draw(st.lists(st.sampled_from(CATS), min_size=1, max_size=2))
        t["exclude"] = ex
    return t


def iso(sec: int) -> str:
    return date(1970, 1, 1).isoformat() if sec == 0 else \
        f"{(date(1970, 1, 1) + timedelta(seconds=sec)).isoformat()}"


@st.composite
def campaigns(draw: st.DrawFn, i: int, has_tiers: bool) -> dict:
    ctype = draw(st.sampled_from(TYPES))
    c: dict = {"id": f"c{i}", "type": ctype}
    if draw(st.booleans()):
        c["priority"] = draw(st.integers(-1, 3))
    if draw(st.integers(0, 3)) == 0:
        c["exclusive"] = True
    if draw(st.integers(0, 5)) == 0:
        a = {}
        if draw(st.booleans()):
            a["from"] = iso(BASE_TS + draw(st.integers(-3, 6)) * 86400)
        if draw(st.booleans()):
            a["until"] = f"{iso(BASE_TS + draw(st.integers(7, 12)) * 86400)}T12:00:00+03:00"
        c["active"] = a
    if draw(st.integers(0, 4)) == 0:
        s: dict = {}
        if draw(st.booleans()):
            s["days"] = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=4))
        if draw(st.booleans()):
            h1, h2 = draw(st.integers(0, 23)), draw(st.integers(0, 23))
            m1, m2 = draw(st.sampled_from([0, 30])), draw(st.sampled_from([0, 15]))
            if (h1, m1) != (h2, m2):
                s["hours"] = f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"
        c["schedule"] = s
    if draw(st.integers(0, 5)) == 0:
        c["stores"] = draw(st.lists(st.sampled_from(STORES), min_size=1, max_size=2))
    if draw(st.integers(0, 2)) == 0:
        a = {}
        if has_tiers and draw(st.integers(0, 3)) == 0:
            a["tiers"] = draw(st.lists(st.sampled_from(TIER_NAMES), min_size=1, max_size=2))
        if draw(st.integers(0, 3)) == 0:
            a["segments"] = draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=2))
        if draw(st.integers(0, 4)) == 0:
            a["first_purchase"] = True
        if draw(st.integers(0, 4)) == 0:
            a["birthday_window_days"] = draw(st.integers(0, 5))
        if draw(st.booleans()):
            a["anonymous"] = draw(st.booleans())
        c["audience"] = a
    if draw(st.integers(0, 3)) == 0:
        codes = [f"CP{i}A"] + ([f"CP{i}B"] if draw(st.booleans()) else [])
        c["coupon"] = {"codes": codes, "single_use": draw(st.booleans())}
    if draw(st.booleans()):
        lim: dict = {}
        if draw(st.booleans()):
            lim["per_customer"] = draw(st.integers(1, 3))
        if draw(st.booleans()):
            lim["per_receipt"] = draw(small_or_big(0, 50000))
        if draw(st.booleans()):
            lim["budget"] = draw(small_or_big(0, 200000))
        c["limits"] = lim
    if draw(st.integers(0, 3)) == 0:
        c["holdout_bps"] = draw(st.sampled_from([0, 1, 2818, 5000, 9999, 10000]))
    if ctype in ("bonus_points", "sku_points", "points_multiplier", "next_purchase_offer"):
        if draw(st.booleans()):
            c["activation_days"] = draw(st.integers(0, 3))
        if draw(st.booleans()):
            c["expiry_days"] = draw(st.one_of(st.none(), st.integers(1, 20)))
    pct = st.one_of(st.integers(1, 10000), st.sampled_from([1, 3333, 5000, 9999, 10000]))
    if ctype == "bundle":
        c["components"] = [
            {"target": draw(targets(required=True)), "qty": draw(st.sampled_from([1, 1, 2, 3]))}
            for _ in range(draw(st.integers(1, 3)))]
        c["percent_bps"] = draw(pct)
        if draw(st.booleans()):
            c["max_sets"] = draw(st.integers(1, 3))
    else:
        t = draw(targets())
        if t is not None:
            c["target"] = t
    if ctype == "percent_off":
        c["percent_bps"] = draw(pct)
    elif ctype == "amount_off":
        c["amount"] = draw(small_or_big(1, 20000))
    elif ctype == "fixed_price":
        c["price"] = draw(small_or_big(0, 20000))
    elif ctype == "n_for_m":
        buy = draw(st.one_of(st.integers(1, 6), st.sampled_from([100000, 10**12])))
        c["buy"], c["pay"] = buy, draw(st.integers(0, min(buy - 1, 10**6)))
    elif ctype == "threshold_discount":
        c["min_amount"] = draw(small_or_big(0, 100000))
        if draw(st.booleans()):
            c["percent_bps"] = draw(pct)
        else:
            c["amount"] = draw(small_or_big(1, 50000))
    elif ctype == "bonus_points":
        if draw(st.booleans()):
            c["min_amount"] = draw(small_or_big(0, 100000))
        c["points"] = draw(st.one_of(st.integers(1, 20000), st.sampled_from([10**15])))
    elif ctype == "sku_points":
        c["points_per_unit"] = draw(st.one_of(st.integers(1, 500), st.sampled_from([10**9])))
    elif ctype == "points_multiplier":
        c["multiplier_bps"] = draw(st.one_of(st.integers(10001, 100000),
                                             st.sampled_from([15000, 20000, 30000, 100000])))
    elif ctype == "next_purchase_offer":
        if draw(st.booleans()):
            c["min_amount"] = draw(small_or_big(0, 100000))
        o: dict = {"valid_days": draw(st.integers(1, 5))}
        if draw(st.booleans()):
            o["type"] = "percent_off"
            o["percent_bps"] = draw(pct)
        else:
            o["type"] = "points_multiplier"
            o["multiplier_bps"] = draw(st.sampled_from([10001, 15000, 20000, 100000]))
        if draw(st.booleans()):
            o["uses"] = draw(st.one_of(st.none(), st.integers(1, 3)))
        t = draw(targets())
        if t is not None:
            o["target"] = t
        c["offer"] = o
    return c


@st.composite
def programs(draw: st.DrawFn) -> dict:
    has_tiers = draw(st.booleans())
    prog: dict = {
        "id": "p",
        "timezone": draw(st.sampled_from(["UTC", "Europe/Moscow", "Asia/Kolkata",
                                          "America/New_York"])),
        "accrual": {"rate_bps": draw(st.sampled_from([0, 1, 300, 500, 9999, 10000])),
                    "on_redeemed": draw(st.booleans()),
                    "activation_days": draw(st.integers(0, 2)),
                    "expiry_days": draw(st.one_of(st.none(), st.integers(1, 30)))},
        "redemption": {"max_share_bps": draw(st.sampled_from([0, 3000, 5000, 10000])),
                       "min_payable": draw(small_or_big(0, 1000))},
        "max_line_discount_bps": draw(st.sampled_from([10000, 10000, 9999, 7000, 5000, 1])),
        "returns": {"window_days": draw(st.integers(1, 30))},
    }
    if has_tiers:
        prog["tiers"] = [{"name": "basic", "min_spend": 0, "rate_bps": 300},
                         {"name": "silver", "min_spend": draw(st.integers(1, 50000)),
                          "rate_bps": 500},
                         {"name": "gold", "min_spend": 10**6, "rate_bps": 10000}]
    if draw(st.booleans()):
        prog["restricted"] = [
            {"category": "tobacco", "accrual": False, "redemption": False, "discounts": False},
            {"category": draw(st.sampled_from(["alcohol", "dairy/cheese"])),
             "accrual": draw(st.booleans()), "redemption": draw(st.booleans()),
             "discounts": draw(st.booleans())}]
    n = draw(st.integers(1, 10))
    return {"program": prog, "campaigns": [draw(campaigns(i, has_tiers)) for i in range(n)]}


qtys = st.one_of(st.integers(1, 7), st.sampled_from([1, 2, 3, 6, 100000]))
prices = st.one_of(st.integers(0, 60000), st.sampled_from([0, 1, 99, 4590, 10**10]))


@st.composite
def sale_lines(draw: st.DrawFn) -> list[dict]:
    n = draw(st.one_of(st.integers(1, 6), st.sampled_from([12])))
    nos = draw(st.permutations(list(range(1, n + 1)))) if draw(st.booleans()) else \
        list(range(1, n + 1))
    return [{"line_no": no, "sku": draw(st.sampled_from(SKUS)),
             "category": draw(st.sampled_from(CATS)), "qty": draw(qtys),
             "unit_price": draw(prices)} for no in nos]


def ts_text(sec: int, tz: str) -> str:
    from datetime import datetime, timezone
    off = {"+03:00": 3, "+00:00": 0, "-05:00": -5}[tz]
    dt = datetime.fromtimestamp(sec, timezone(timedelta(hours=off)))
    return dt.isoformat()


@st.composite
def streams(draw: st.DrawFn, n_campaigns: int) -> list[bytes]:
    codes = [f"CP{i}{s}" for i in range(n_campaigns) for s in "AB"] + ["NOPE"]
    msgs: list[bytes] = []
    sales: list[dict] = []
    t = BASE_TS + draw(st.integers(0, 86400 * 3))
    for _ in range(draw(st.integers(1, 10))):
        roll = draw(st.integers(0, 9))
        t += draw(st.sampled_from([0, 60, 3600, 86400 // 3, 86400, 86400 * 5, -3600]))
        tz = draw(st.sampled_from(["+03:00", "+00:00", "-05:00"]))
        if roll == 0 and msgs:
            msgs.append(draw(st.sampled_from(msgs)))  # a duplicate (or a resent reject)
            continue
        if roll == 1 and sales:
            sale = draw(st.sampled_from(sales))
            lines = draw(st.lists(st.sampled_from(sale["lines"]), min_size=1, max_size=2,
                                  unique_by=lambda x: x["line_no"]))
            msgs.append(orjson.dumps({
                "receipt_id": f"R{len(msgs)}", "kind": "return", "ts": ts_text(t, tz),
                "customer_id": sale.get("customer_id"),
                "original_receipt_id": sale["receipt_id"],
                "lines": [{"line_no": x["line_no"],
                           "qty": draw(st.integers(1, max(1, x["qty"] // 2 + 1)))}
                          for x in lines]}))
            continue
        sale = {"receipt_id": f"R{len(msgs)}", "ts": ts_text(t, tz), "lines": draw(sale_lines())}
        cust = draw(st.sampled_from([*CUSTOMERS, None]))
        if cust is not None:
            sale["customer_id"] = cust
        if draw(st.booleans()):
            sale["store_id"] = draw(st.sampled_from(STORES))
        if draw(st.booleans()):
            sale["redeem"] = draw(st.one_of(st.integers(0, 100000),
                                            st.sampled_from([10**6, 10**18])))
        if draw(st.booleans()):
            sale["coupons"] = draw(st.lists(st.sampled_from(codes), max_size=4))
        sales.append(sale)
        msgs.append(orjson.dumps(sale))
    return msgs


@st.composite
def profiles(draw: st.DrawFn) -> list[Profile]:
    out = []
    for cid in CUSTOMERS:
        if draw(st.booleans()):
            bday = draw(st.one_of(st.none(), st.dates(date(1960, 1, 1), date(2008, 12, 31)),
                                  st.sampled_from([date(2000, 2, 29), date(1990, 10, 28),
                                                   date(1985, 11, 1), date(1999, 12, 31)])))
            segs = frozenset(draw(st.lists(st.sampled_from(SEGMENTS), max_size=2)))
            out.append(Profile(cid, bday, segs))
    return out


def state_obj(s: MemoryState) -> dict:
    return {
        "customers": {k: v.to_obj() for k, v in s.customers.items()},
        "receipts": {k: v.to_obj() for k, v in s.receipts.items()},
        "budgets": dict(s.budgets), "coupons": dict(s.coupons), "exhausted": sorted(s.exhausted),
    }


def outcome_obj(o) -> tuple:
    return (o.status, o.result, o.events, o.reject)


@st.composite
def padded_programs(draw: st.DrawFn) -> dict:
    """A drawn program among hundreds of campaigns (copies of its own, any type, with
    budgets, holdouts, coupons, offers and priorities that interleave), most on SKUs no receipt
    carries, a few on the receipts' targets or on none: the compiled engine visits only the
    campaigns a receipt's lines can meet, and what it skips must change nothing."""
    import copy
    import random

    doc = draw(programs())
    rnd = random.Random(draw(st.integers(0, 2**32)))
    live = doc["campaigns"]
    n = len(live)
    away = {"skus": ["zz0"]}

    def off(t: dict) -> dict:
        return {"skus": [f"zz{rnd.randrange(1000)}"]} if t is not None else away

    for j in range(n, n + draw(st.integers(100, 400))):
        c = copy.deepcopy(rnd.choice(live))
        c["id"] = f"c{j}"
        c["priority"] = rnd.randint(-1, 3)
        if "coupon" in c:
            c["coupon"]["codes"] = [f"CP{j}{x}" for x in "AB"[:len(c["coupon"]["codes"])]]
        roll = rnd.randrange(20)
        if roll > 1:  # most: on SKUs no receipt carries
            if "components" in c:
                for comp in c["components"]:
                    comp["target"] = off(comp["target"]) if rnd.randrange(3) else comp["target"]
                if all("zz" not in str(comp["target"]) for comp in c["components"]):
                    c["components"][0]["target"] = off(None)
            else:
                c["target"] = off(c.get("target"))
            if "offer" in c:
                c["offer"]["target"] = off(c["offer"].get("target"))
        elif roll == 1 and "components" not in c:  # on every line
            c.pop("target", None)
        doc["campaigns"].append(c)
    return doc


@settings(max_examples=1500 * SCALE, **SETTINGS)
@given(doc=programs(), data=st.data())
def test_processor_differential(doc: dict, data: st.DataObject) -> None:
    same_processing(doc, data)


@settings(max_examples=60 * SCALE, **SETTINGS)
@given(doc=padded_programs(), data=st.data())
def test_processor_differential_many_campaigns(doc: dict, data: st.DataObject) -> None:
    same_processing(doc, data)


def same_processing(doc: dict, data: st.DataObject) -> None:
    """The compiled processor's outcomes and state are the reference's, message by message."""
    program = program_from_dict(doc)
    msgs = data.draw(streams(len(doc["campaigns"])))
    profs = data.draw(profiles())
    ref, fast = Processor(program, ReferenceEngine(program)), \
        Processor(program, load_fast_engine(program))
    s_ref, s_fast = MemoryState(), MemoryState()
    for p in profs:
        s_ref.put_profile(p)
        s_fast.put_profile(p)
    for raw in msgs:
        a = ref.process_raw(raw, s_ref)
        b = fast.process_raw(raw, s_fast)
        assert outcome_obj(a) == outcome_obj(b), raw
        if a.calc is not None:
            assert list(a.calc.budget_spent.items()) == list(b.calc.budget_spent.items())
    assert state_obj(s_ref) == state_obj(s_fast)


@st.composite
def contexts(draw: st.DrawFn, program) -> SaleContext:
    budgets = {c.id: draw(st.one_of(st.integers(0, 100000), st.sampled_from([0, 1, 10**20])))
               for c in program.campaigns if c.budget is not None}
    cust = draw(st.sampled_from([*CUSTOMERS, None]))
    if cust is None:
        return SaleContext(None, budget_left=budgets)
    offer_ids = [c.id for c in program.campaigns if c.offer is not None] + ["c99", "c0"]
    offers = {}
    for cid in draw(st.lists(st.sampled_from(offer_ids), max_size=3, unique=True)):
        issued = (BASE_TS + draw(st.integers(-10, 10)) * 86400) * 10**6
        offers[cid] = (issued, issued + draw(st.integers(0, 10)) * 86400 * 10**6,
                       draw(st.one_of(st.none(), st.integers(0, 2))))
    codes = [code for c in program.campaigns for code in c.coupon_codes]
    return SaleContext(
        cust,
        tier=draw(st.integers(0, max(0, len(program.tiers) - 1))),
        active_balance=draw(st.one_of(st.integers(-5000, 100000), st.sampled_from([10**19]))),
        has_sale=draw(st.booleans()),
        birthday=draw(st.one_of(st.none(), st.dates(date(1960, 1, 1), date(2008, 12, 31)))),
        segments=frozenset(draw(st.lists(st.sampled_from(SEGMENTS), max_size=2))),
        uses={c.id: draw(st.integers(0, 3)) for c in program.campaigns
              if draw(st.booleans())},
        offers=offers,
        budget_left=budgets,
        used_codes=frozenset(draw(st.lists(st.sampled_from(codes), max_size=2))
                             if codes else []),
    )


def calc_obj(c) -> tuple:
    return (c.line_discount, c.line_redeemed, c.line_accrued, c.line_spend, c.discounts, c.grants,
            c.redeemed, c.offers_used, c.offers_issued, c.coupons_accepted, c.coupons_rejected,
            c.held_out, list(c.budget_spent.items()), c.budget_exhausted, c.gave)


@settings(max_examples=1000 * SCALE, **SETTINGS)
@given(doc=programs(), data=st.data())
def test_calc_differential(doc: dict, data: st.DataObject) -> None:
    same_calc(doc, data)


@settings(max_examples=100 * SCALE, **SETTINGS)
@given(doc=padded_programs(), data=st.data())
def test_calc_differential_many_campaigns(doc: dict, data: st.DataObject) -> None:
    same_calc(doc, data)


def same_calc(doc: dict, data: st.DataObject) -> None:
    """The compiled engine's `SaleCalc` is the reference's, sale by sale and over many."""
    program = program_from_dict(doc)
    ref, fast = ReferenceEngine(program), load_fast_engine(program)
    codes = [f"CP{i}{s}" for i in range(len(doc["campaigns"])) for s in "AB"] + ["NOPE"]
    receipts, ctxs, want = [], [], []
    for _ in range(3):
        sale = {"receipt_id": "R", "lines": data.draw(sale_lines()),
                "ts": ts_text(BASE_TS + data.draw(st.integers(-86400 * 3, 86400 * 12)),
                              data.draw(st.sampled_from(["+03:00", "-05:00"]))),
                "store_id": data.draw(st.sampled_from([*STORES, None])),
                "redeem": data.draw(small_or_big(0, 100000)),
                "coupons": data.draw(st.lists(st.sampled_from(codes), max_size=4))}
        receipt = receipt_from_obj(sale)
        ctx = data.draw(contexts(program))
        a = calc_obj(ref.calc_sale(receipt, ctx))
        b = calc_obj(fast.calc_sale(receipt, ctx))
        assert a == b
        again = fast.calc_sale(receipt, ctx)  # nothing left over from the last sale
        assert type(again) is SaleCalc and calc_obj(again) == a
        # the compiled decoder's lines (canonical sku/category objects, found by address)
        assert calc_obj(fast.calc_sale(compiled_receipt_from_obj(sale), ctx)) == a
        receipts.append(receipt)
        ctxs.append(ctx)
        want.append(a)
    # one engine over many sales: nothing of one sale leaks into the next
    again = [calc_obj(fast.calc_sale(r, x))
             for r, x in zip(receipts[::-1] * 2, ctxs[::-1] * 2, strict=True)]
    assert again == want[::-1] * 2
    # offers that are not (int64, int64, int | None) tuples take the Python path
    odd = [SaleContext(**{f: getattr(x, f) for f in SaleContext.__slots__}) for x in ctxs]
    for x in odd:
        x.offers = {cid: [i, e, u] for cid, (i, e, u) in x.offers.items()}
    assert [calc_obj(fast.calc_sale(r, x)) for r, x in zip(receipts, odd, strict=True)] == want


# ---------------------------------------------------------------- 128-bit boundaries


def _boundary_program(mld: int, rate: int, on_redeemed: bool) -> dict:
    return {
        "program": {"id": "big", "timezone": "UTC", "max_line_discount_bps": mld,
                    "accrual": {"rate_bps": rate, "on_redeemed": on_redeemed},
                    "redemption": {"max_share_bps": 9999, "min_payable": 0}},
        "campaigns": [
            {"id": "p1", "type": "percent_off", "percent_bps": 9999, "priority": 5,
             "target": {"skus": ["s1"]}},
            {"id": "b1", "type": "bundle", "percent_bps": 9999,
             "components": [{"target": {"skus": ["s2"]}, "qty": 3}]},
            {"id": "n1", "type": "n_for_m", "buy": 3, "pay": 1, "target": {"skus": ["s3"]}},
            {"id": "t1", "type": "threshold_discount", "min_amount": 0, "percent_bps": 9999,
             "target": {"skus": ["s1", "s2", "s3"]}, "limits": {"per_receipt": 10**18 - 7}},
            {"id": "t2", "type": "threshold_discount", "min_amount": 0, "amount": 10**20,
             "target": {"skus": ["s2", "s3"]}},
            {"id": "m1", "type": "points_multiplier", "multiplier_bps": 100000,
             "limits": {"per_receipt": 4 * 10**17 + 3}},
            {"id": "m2", "type": "points_multiplier", "multiplier_bps": 99999},
            {"id": "k1", "type": "sku_points", "points_per_unit": 10**9},
        ],
    }


@pytest.mark.parametrize("mld", [10000, 9999, 1])
@pytest.mark.parametrize("rate", [10000, 9999])
@pytest.mark.parametrize("on_redeemed", [True, False])
def test_boundary_amounts(mld: int, rate: int, on_redeemed: bool) -> None:
    program = program_from_dict(_boundary_program(mld, rate, on_redeemed))
    ref, fast = ReferenceEngine(program), load_fast_engine(program)
    lines = [{"line_no": i, "sku": SKUS[i % 4], "category": "dairy", "qty": 100000 - i % 3,
              "unit_price": 10**10 - i % 7} for i in range(500)]
    receipt = receipt_from_obj({"receipt_id": "B", "ts": "2026-11-01T10:00:00+00:00",
                                "lines": lines, "redeem": 10**30, "customer_id": "C1"})
    for balance in (10**30, 3 * 10**17 + 11, 0):
        ctx = SaleContext("C1", active_balance=balance)
        a = ref.calc_sale(receipt, ctx)
        assert calc_obj(a) == calc_obj(fast.calc_sale(receipt, ctx))
    # amount * bps (10^15 * 10^4) and base * rate * mult pass 2^63 on these lines
    assert max(ln.amount for ln in receipt.lines) * 9999 > 2**63


def test_many_line_records() -> None:
    """Thousands of (sku, category) pairs, each seen four times as fresh strings: the compiled
    engine's line-record table grows, is probed past collisions and cleared when full, with
    lines from either decoder, without changing results."""
    from pathlib import Path

    from streamproc.domain.program import load_program

    program = load_program(Path(__file__).resolve().parents[3] / "examples" / "retail-chain.yaml")
    ref, fast = ReferenceEngine(program), load_fast_engine(program)
    fast.rec_limit = 700  # the table is cleared (and rebuilt) several times a round
    cats = ["dairy/cheese", "alcohol/wine", "tobacco", "bakery", "pets/food", "Жcat"]
    for rnd in range(4):
        raws, ctxs, want = [], [], []
        # rounds 0 and 2: the reference decoder (fresh str objects, found by value); rounds 1
        # and 3: the compiled one (canonical objects, found by address)
        decode = receipt_from_obj if rnd % 2 == 0 else compiled_receipt_from_obj
        for r in range(60):
            lines = [{"line_no": k, "sku": f"46{(r * 40 + k) % 1500:05d}",
                      "category": cats[(r + k) % len(cats)], "qty": 1 + k % 3,
                      "unit_price": 1000 + 17 * k} for k in range(40)]
            raw = orjson.dumps({"receipt_id": f"R{r}", "ts": "2026-11-03T10:00:00+03:00",
                                "customer_id": "C1", "lines": lines})
            receipt = decode(orjson.loads(raw))  # fresh str objects each round
            ctx = SaleContext("C1", tier=0, active_balance=10**6, budget_left={
                c.id: 10**9 for c in program.campaigns if c.budget is not None})
            assert calc_obj(fast.calc_sale(receipt, ctx)) == calc_obj(ref.calc_sale(receipt, ctx))
            raws.append(raw)
            ctxs.append(ctx)
            want.append(calc_obj(ref.calc_sale(receipt, ctx)))
        # again from the raw bytes through the compiled decoder: the records of the round were
        # cleared and rebuilt while it ran, the results are the same
        again = [calc_obj(fast.calc_sale(parse_receipt(raw), c))
                 for raw, c in zip(raws, ctxs, strict=True)]
        assert again == want


def test_local_time_before_1970() -> None:
    """The per-minute local-time cache keys by floor(ts / minute): the last seconds of 1969
    and the first of 1970 are different minutes (and weekdays) of the program's time zone."""
    program = program_from_dict({
        "program": {"id": "t", "timezone": "UTC"},
        "campaigns": [{"id": "thu", "type": "percent_off", "percent_bps": 1000,
                       "schedule": {"days": ["thu"]}},
                      {"id": "late", "type": "percent_off", "percent_bps": 500,
                       "schedule": {"hours": "23:59-00:00"}}],
    })
    ref, fast = ReferenceEngine(program), load_fast_engine(program)
    for ts in ("1969-12-31T23:59:30Z", "1970-01-01T00:00:30Z", "1969-12-31T23:59:59.5Z"):
        receipt = receipt_from_obj({"receipt_id": "R", "ts": ts, "customer_id": "C1", "lines": [
            {"line_no": 1, "sku": "s1", "category": "dairy", "qty": 1, "unit_price": 10000}]})
        ctx = SaleContext("C1")
        assert calc_obj(fast.calc_sale(receipt, ctx)) == calc_obj(ref.calc_sale(receipt, ctx))
