"""Returns and duplicates (spec sections 5 and 6): pro-rata reversal, clawback order, debt,
refunds, tiers, the returns window, rejected returns, and the idempotency key.

Each expected number is worked out by hand from the spec's rule in the comment next to it.
"""

from __future__ import annotations

import orjson
from rules_helpers import (
    Engine,
    accrual,
    at,
    balance,
    event_types,
    line,
    percent_off,
    program_dict,
    res,
    ret,
    sale,
)


def sku_points(cid: str, sku: str, per_unit: int, **kw) -> dict:
    return {"id": cid, "type": "sku_points", "target": {"skus": [sku]},
            "points_per_unit": per_unit, **kw}


NOACC = [{"category": "noacc", "accrual": False}]  # lines that never earn points


def noacc(price: int) -> dict:
    return line(1, price, category="noacc")


def reject_reason(o) -> str:
    assert o.status == "rejected", o.result
    return o.reject["reason"]


# ----------------------------------------------------------------------------- pro rata


def test_return_in_parts_ends_exactly_where_a_whole_return_does():
    doc = program_dict([percent_off("p10", 1000, {"skus": ["g"]}),
                        {"id": "seed", "type": "bonus_points", "points": 1000,
                         "target": {"skus": ["seed"]}}],
                       accrual=accrual(rate_bps=700))
    e = Engine(doc)
    for cid in ("K1", "K2"):
        res(e.send(sale(f"SEED-{cid}", cid, at(0), [line(1, 0, sku="seed")])))  # 1000 active
        r = res(e.send(sale(f"S-{cid}", cid, at(1), [line(1, 1234, qty=3, sku="g")],
                            redeem=100)))
        # amount 3702, discount floor(3702 * 10 %) = 370, redeemed 100,
        # points floor((3702 - 370 - 100) * 7 %) = floor(226.24) = 226
        assert (r["total"], r["discount"], r["redeemed"], r["accrued"]) == (3702, 370, 100, 226)
        assert balance(r) == (900 + 226, 0)
    # K1: one unit at a time. After R of 3 units, floor(x * R / 3) of x is reversed:
    # amount 1234 2468 3702, discount 123 246 370, redeemed 33 66 100, points 75 150 226
    steps = [res(e.send(ret(f"RT{i}", "K1", at(2, i), "S-K1", [(1, 1)]))) for i in (1, 2, 3)]
    assert [(s["total"], s["discount"], s["redeemed"], s["accrued"]) for s in steps] == [
        (-1234, -123, -33, -75), (-1234, -123, -33, -75), (-1234, -124, -34, -76)]
    assert [s["paid"] for s in steps] == [-1078, -1078, -1076]  # -(amount - disc - redeemed)
    # K2: all three units at once
    whole = res(e.send(ret("RT-K2", "K2", at(2, 3), "S-K2", [(1, 3)])))
    assert (whole["total"], whole["discount"], whole["redeemed"], whole["accrued"]) == (
        -3702, -370, -100, -226)
    for key in ("total", "discount", "redeemed", "accrued", "paid"):
        assert sum(s[key] for s in steps) == whole[key]
    # both end with the seed's 1000: 900 left + 100 refunded, the sale's 226 clawed back
    assert balance(steps[-1]) == balance(whole) == (1000, 0)
    assert e.state.customers["K1"].spend == e.state.customers["K2"].spend == 0


# ----------------------------------------------------------------------------- clawback


def test_clawback_takes_own_buckets_then_other_pending_then_active_never_first():
    doc = program_dict([sku_points("never", "n", 1, expiry_days=None),
                        sku_points("long", "l", 1, expiry_days=80),
                        sku_points("short", "s", 1, expiry_days=50),
                        sku_points("pend", "p", 1, activation_days=60)],
                       accrual=accrual(rate_bps=1000, expiry_days=30), restricted=NOACC)
    e = Engine(doc)
    res(e.send(sale("R1", "K1", at(0), [line(1, 0, qty=10, sku="n"),
                                        line(2, 0, qty=100, sku="l"),
                                        line(3, 0, qty=100, sku="s")])))
    res(e.send(sale("R2", "K1", at(1), [line(1, 0, qty=10, sku="p")])))  # pending 10
    res(e.send(sale("R3", "K1", at(2), [line(1, 0, qty=5, sku="p")])))   # pending 5 (newer)
    r = res(e.send(sale("S", "K1", at(3), [line(1, 1000, qty=2)])))
    assert r["accrued"] == 200 and balance(r) == (410, 15)  # 10 % of 2000, active at once
    # redeeming 150 takes the soonest expiry first: the sale's own points (day 33) -> 50 left
    r = res(e.send(sale("R4", "K1", at(4), [noacc(1000)], redeem=150)))
    assert r["redeemed"] == 150 and balance(r) == (260, 15)
    # the return claws back 200: own 50, pending 5 (R3) and 10 (R2), then active:
    # never-expiring 10, latest expiry (long) 100, then short 25 -> short keeps 75
    r = res(e.send(ret("RET", "K1", at(5), "S", [(1, 2)])))
    assert r["accrued"] == -200 and balance(r) == (75, 0)
    assert "balance_negative" not in event_types(r)
    clawed = [ev for ev in r["events"] if ev["type"] == "points_clawed_back"]
    assert [(ev["amount"], ev["original_receipt_id"]) for ev in clawed] == [(200, "S")]
    # short expires on day 50: what is left is the 75 of short, so nothing remains
    assert balance(res(e.send(sale("R5", "K1", at(51), [noacc(1)])))) == (0, 0)


def test_clawback_takes_the_sales_newest_own_bucket_first():
    doc = program_dict([{"id": "m2", "type": "points_multiplier", "multiplier_bps": 20000,
                         "target": {"skus": ["g"]}, "activation_days": 0}],
                       accrual=accrual(rate_bps=1000, activation_days=10))
    e = Engine(doc)
    res(e.send(sale("R0", "K1", at(0), [line(1, 1000)])))  # base 100, pending
    r = res(e.send(sale("S", "K1", at(1), [line(1, 500, qty=2, sku="g")])))
    # base 100 pending (made first), m2's 100 active at once (made later)
    assert balance(r) == (100, 200)
    r = res(e.send(ret("RET", "K1", at(2), "S", [(1, 1)])))
    # floor(200 * 1/2) = 100 from the newest own bucket: m2's active 100
    assert r["accrued"] == -100 and balance(r) == (0, 200)


def test_points_already_spent_become_debt_paid_off_by_later_activation():
    doc = program_dict([sku_points("slow", "slow", 300, activation_days=5)],
                       accrual=accrual(rate_bps=1000), restricted=NOACC)
    e = Engine(doc)
    assert balance(res(e.send(sale("S", "K1", at(0), [line(1, 1000)])))) == (100, 0)
    r = res(e.send(sale("R2", "K1", at(1), [noacc(1000)], redeem=100)))
    assert r["redeemed"] == 100 and balance(r) == (0, 0)
    r = res(e.send(ret("RET", "K1", at(2), "S", [(1, 1)])))
    # 100 to claw back, nothing left anywhere: a debt of 100, shown as active -100
    assert balance(r) == (-100, 0)
    neg = [ev for ev in r["events"] if ev["type"] == "balance_negative"]
    assert [ev["amount"] for ev in neg] == [-100]
    r = res(e.send(sale("R4", "K1", at(3), [noacc(1000), line(2, 0, sku="slow")], redeem=50)))
    assert r["redeemed"] == 0  # min(50, -100, ...) is below 0: 0
    assert balance(r) == (-100, 300)
    # day 8: slow's 300 activate and pay the debt first
    assert balance(res(e.send(sale("R5", "K1", at(8), [noacc(1)])))) == (200, 0)


def test_redeemed_points_come_back_active_with_the_programs_expiry():
    doc = program_dict([sku_points("gift", "gift", 500, activation_days=0, expiry_days=None)],
                       accrual=accrual(rate_bps=1000, activation_days=7, expiry_days=60))
    e = Engine(doc)
    res(e.send(sale("R1", "K1", at(0), [line(1, 0, sku="gift")])))
    r = res(e.send(sale("S", "K1", at(1), [line(1, 1000)], redeem=200)))
    # 200 from gift; 10 % of 800 = 80 pending until day 8
    assert r["redeemed"] == 200 and balance(r) == (300, 80)
    r = res(e.send(ret("RET", "K1", at(2), "S", [(1, 1)])))
    assert (r["total"], r["discount"], r["redeemed"], r["accrued"], r["paid"]) == (
        -1000, 0, -200, -80, -800)
    # 80 clawed from the sale's pending bucket; 200 refunded as active at once
    assert balance(r) == (500, 0)
    refunded = [ev for ev in r["events"] if ev["type"] == "points_refunded"]
    assert [ev["amount"] for ev in refunded] == [200]
    # the refund expires 60 days after the return (day 62 12:00); gift never does
    assert balance(res(e.send(sale("R3", "K1", at(61, 13), [line(1, 0)])))) == (500, 0)
    assert balance(res(e.send(sale("R4", "K1", at(62), [line(1, 0)])))) == (300, 0)


def test_spend_reversal_can_drop_the_tier():
    doc = program_dict(tiers=[{"name": "basic", "min_spend": 0, "rate_bps": 0},
                              {"name": "silver", "min_spend": 1000, "rate_bps": 0}])
    e = Engine(doc)
    assert res(e.send(sale("S", "K1", at(0), [line(1, 500, qty=3)])))["tier"] == "silver"
    r = res(e.send(ret("RET", "K1", at(1), "S", [(1, 2)])))
    # spend 1500 - floor(1500 * 2/3) = 500 < 1000
    assert r["tier"] == "basic"
    changed = [ev for ev in r["events"] if ev["type"] == "tier_changed"]
    assert [(ev["from"], ev["to"]) for ev in changed] == [("silver", "basic")]


def test_fixed_grants_and_issued_offers_stay_after_a_return():
    doc = program_dict([{"id": "gift", "type": "bonus_points", "points": 500},
                        sku_points("sp", "s", 7),
                        {"id": "npo", "type": "next_purchase_offer",
                         "offer": {"type": "percent_off", "percent_bps": 1000,
                                   "valid_days": 10}}],
                       accrual=accrual(rate_bps=1000))
    e = Engine(doc)
    r = res(e.send(sale("S", "K1", at(0), [line(1, 500, qty=2, sku="s")])))
    assert r["accrued"] == 100 + 14 + 500  # 10 % of 1000, 2 units * 7, gift
    r = res(e.send(ret("RET", "K1", at(1), "S", [(1, 2)])))
    assert r["accrued"] == -100 and r["lines"][0]["accrued"] == -100  # rate points only
    assert balance(r) == (514, 0)
    r = res(e.send(sale("S2", "K1", at(2), [line(1, 1000, sku="x")])))
    assert r["discount"] == 100  # the offer S issued still works


# ----------------------------------------------------------------------------- rejects


def test_return_window_boundary_then_the_sale_is_forgotten():
    e = Engine(program_dict())
    res(e.send(sale("S1", "K1", at(0), [line(1, 100)])))
    res(e.send(sale("S2", "K1", at(0), [line(1, 100)])))
    # exactly 30 * 24 h after the sale: still within the window (decision: inclusive, as the
    # duplicate window is); one second later: unknown original
    assert res(e.send(ret("RT1", "K1", at(30), "S1", [(1, 1)])))["total"] == -100
    o = e.send(ret("RT2", "K1", at(30, 12, 0, 1), "S2", [(1, 1)]))
    assert reject_reason(o) == "unknown_original_receipt"


def test_returns_of_someone_elses_anonymous_or_unknown_sale_are_unknown_originals():
    e = Engine(program_dict())
    res(e.send(sale("S1", "K1", at(0), [line(1, 100)])))
    res(e.send(sale("A1", None, at(0), [line(1, 100)])))
    res(e.send(ret("RT0", "K1", at(1), "S1", [(1, 1)])))
    for raw in (ret("X1", "K2", at(1), "S1", [(1, 1)]),      # another customer's sale
                ret("X2", "K1", at(1), "A1", [(1, 1)]),      # an anonymous sale
                ret("X3", None, at(1), "A1", [(1, 1)]),      # anonymous return of it
                ret("X4", "K1", at(1), "NOPE", [(1, 1)]),    # never seen
                ret("X5", "K1", at(1), "RT0", [(1, 1)])):    # a return, not a sale
        assert reject_reason(e.send(raw)) == "unknown_original_receipt"


def test_returning_more_than_sold_or_a_missing_line_exceeds_the_sale():
    e = Engine(program_dict())
    res(e.send(sale("S", "K1", at(0), [line(1, 100, qty=2), line(2, 50)])))
    assert reject_reason(e.send(ret("X1", "K1", at(1), "S", [(1, 3)]))) == "return_exceeds_sale"
    assert reject_reason(e.send(ret("X2", "K1", at(1), "S", [(9, 1)]))) == "return_exceeds_sale"
    # a good line next to a bad one: the whole return is rejected, nothing is reversed
    assert reject_reason(e.send(ret("X3", "K1", at(1), "S", [(2, 1), (1, 3)]))) \
        == "return_exceeds_sale"
    assert res(e.send(ret("RT1", "K1", at(1), "S", [(1, 1)])))["total"] == -100
    # 1 of 2 units left on line 1
    assert reject_reason(e.send(ret("X4", "K1", at(2), "S", [(1, 2)]))) == "return_exceeds_sale"
    r = res(e.send(ret("RT2", "K1", at(2), "S", [(1, 1), (2, 1)])))
    assert r["total"] == -150


# ----------------------------------------------------------------------------- duplicates


def test_duplicate_within_window_changes_nothing_and_outside_it_applies_again():
    e = Engine(program_dict(accrual=accrual(rate_bps=1000)))
    first = sale("R1", "K1", at(0), [line(1, 1000)])
    assert balance(res(e.send(first))) == (100, 0)
    d = e.send(first)
    assert d.status == "duplicate" and d.events == []
    assert orjson.loads(d.result_json()) == {"receipt_id": "R1", "customer_id": "K1",
                                            "status": "duplicate"}
    # same id 30 days later (inclusive): still a duplicate
    assert e.send(sale("R1", "K1", at(30), [line(1, 1000)])).status == "duplicate"
    r = res(e.send(sale("R2", "K1", at(30), [line(1, 10)])))
    assert balance(r) == (101, 0)  # 100 + floor(10 * 10 %): the duplicates added nothing
    # 31 days later the id is forgotten: applied again
    r = res(e.send(sale("R1", "K1", at(31), [line(1, 1000)])))
    assert balance(r) == (201, 0)


def test_duplicate_return_claws_back_once():
    e = Engine(program_dict(accrual=accrual(rate_bps=1000)))
    res(e.send(sale("S", "K1", at(0), [line(1, 500, qty=2)])))
    back = ret("RT", "K1", at(1), "S", [(1, 1)])
    assert balance(res(e.send(back))) == (50, 0)  # 100 - floor(100 * 1/2)
    assert e.send(back).status == "duplicate"
    assert balance(res(e.send(sale("R2", "K1", at(2), [line(1, 0)])))) == (50, 0)


def test_a_rejected_receipt_is_not_remembered_corrected_it_applies():
    e = Engine(program_dict())
    bad = e.send(sale("R1", "K1", at(0), [line(1, 100, qty=0)]))
    assert reject_reason(bad) == "schema"
    good = e.send(sale("R1", "K1", at(0), [line(1, 100, qty=1)]))
    assert good.status == "applied" and "first_purchase" in event_types(good)
