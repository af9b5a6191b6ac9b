"""Points rules of spec sections 1, 4 and 5: accrual, multipliers, tiers, fixed grants, offers,
redemption, buckets over time, birthdays and anonymous receipts.

Each expected number is worked out by hand from the spec's rule in the comment next to it.
"""

from __future__ import annotations

import pytest
from rules_helpers import (
    Engine,
    accrual,
    applied,
    at,
    balance,
    discounts,
    event_types,
    line,
    one,
    percent_off,
    program_dict,
    res,
    sale,
)

from streamproc.domain.fnv import holdout_bucket
from streamproc.domain.receipt import Profile


def mult(cid: str, bps: int, target: dict | None = None, **kw) -> dict:
    c = {"id": cid, "type": "points_multiplier", "multiplier_bps": bps, **kw}
    if target is not None:
        c["target"] = target
    return c


def bonus(cid: str, points: int, **kw) -> dict:
    return {"id": cid, "type": "bonus_points", "points": points, **kw}


def sku_points(cid: str, sku: str, per_unit: int, **kw) -> dict:
    return {"id": cid, "type": "sku_points", "target": {"skus": [sku]},
            "points_per_unit": per_unit, **kw}


def seeded(doc_campaigns: list[dict], points: int = 5000, **program_fields) -> Engine:
    """An engine whose customer K1 holds `points` active points (a first-purchase gift)."""
    doc = program_dict([*doc_campaigns,
                        bonus("seed", points, audience={"first_purchase": True})],
                       **program_fields)
    e = Engine(doc)
    r = res(e.send(sale("SEED", "K1", at(0, 9), [line(1, 0)])))  # free: no base points
    assert balance(r) == (points, 0)
    return e


# ----------------------------------------------------------------------------- accrual


def test_rate_and_multiplier_are_rounded_once_and_extra_goes_to_the_multiplier():
    doc = program_dict([mult("x15", 15000)], accrual=accrual(rate_bps=300))
    r = one(doc, sale("R1", "K1", at(), [line(1, 3333)]))
    # floor(3333 * 300 * 15000 / 1e8) = floor(149.985) = 149
    # (step by step: floor(3333 * 3 %) = 99, floor(99 * 1.5) = 148 -- not the rule)
    # base part floor(3333 * 300 / 10000) = 99; the 50 above it belong to x15
    assert r["accrued"] == 149
    assert r["lines"][0]["accrued"] == 149
    assert applied(r) == {("base", "points"): 99, ("x15", "points"): 50}
    accrued = [ev for ev in r["events"] if ev["type"] == "points_accrued"]
    assert [ev["amount"] for ev in accrued] == [149]  # one event with the receipt's total


def test_highest_multiplier_on_a_line_wins():
    doc = program_dict([mult("m2", 20000), mult("m3", 30000, {"categories": ["a"]})],
                       accrual=accrual(rate_bps=1000))
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000, category="a"),
                                          line(2, 1000, category="b")]))
    # base 10 %: 100 + 100; line 1 x3 -> 300 (m3 +200), line 2 x2 -> 200 (m2 +100)
    assert [ln["accrued"] for ln in r["lines"]] == [300, 200]
    assert applied(r) == {("base", "points"): 200, ("m3", "points"): 200,
                          ("m2", "points"): 100}


def test_equal_multipliers_go_to_higher_priority_then_lower_id():
    line1 = [line(1, 1000)]
    doc = program_dict([mult("ma", 20000), mult("mb", 20000, priority=5)],
                       accrual=accrual(rate_bps=1000))
    r = one(doc, sale("R1", "K1", at(), line1))
    assert applied(r) == {("base", "points"): 100, ("mb", "points"): 100}
    doc = program_dict([mult("mb", 20000), mult("ma", 20000)], accrual=accrual(rate_bps=1000))
    r = one(doc, sale("R1", "K1", at(), line1))
    assert applied(r) == {("base", "points"): 100, ("ma", "points"): 100}


def test_held_out_multiplier_keeps_the_base_rate():
    inside = next(f"K{k}" for k in range(1, 100) if holdout_bucket("mx", f"K{k}") < 5000)
    outside = next(f"K{k}" for k in range(1, 100) if holdout_bucket("mx", f"K{k}") >= 5000)
    doc = program_dict([mult("mx", 20000, holdout_bps=5000)], accrual=accrual(rate_bps=1000))
    e = Engine(doc)
    r_in = res(e.send(sale("R1", inside, at(), [line(1, 1000)])))
    assert r_in["accrued"] == 100 and r_in["held_out"] == ["mx"]  # base 10 % only
    r_out = res(e.send(sale("R2", outside, at(), [line(1, 1000)])))
    assert r_out["accrued"] == 200 and r_out["held_out"] == []


def test_multiplier_over_budget_gives_nothing_and_does_not_fall_back_to_a_lower_one():
    doc = program_dict([mult("m3", 30000, limits={"budget": 150}), mult("m2", 20000)],
                       accrual=accrual(rate_bps=1000))
    e = Engine(doc)
    r = res(e.send(sale("R1", "K1", at(), [line(1, 1000)])))
    # m3 wins the line; its extra 300 - 100 = 200 > 150 budget: the line keeps the base rate
    assert r["accrued"] == 100
    assert applied(r) == {("base", "points"): 100}
    assert "campaign_budget_exhausted" in event_types(r)
    r = res(e.send(sale("R2", "K2", at(), [line(1, 500)])))
    # extra floor(500 * 10 % * 3) - 50 = 100 <= 150: fits
    assert applied(r) == {("base", "points"): 50, ("m3", "points"): 100}


@pytest.mark.parametrize(("on_redeemed", "expected"), [(False, 400), (True, 500)])
def test_on_redeemed_decides_whether_the_part_paid_with_points_earns(on_redeemed, expected):
    e = seeded([], points=1000, accrual=accrual(rate_bps=1000, on_redeemed=on_redeemed))
    r = res(e.send(sale("R2", "K1", at(1), [line(1, 5000)], redeem=1000)))
    # 1000 redeemed; false: 10 % of 5000 - 1000 = 400; true: 10 % of 5000 = 500
    assert r["redeemed"] == 1000 and r["paid"] == 4000
    assert r["accrued"] == expected


def test_tier_rate_at_start_of_receipt_then_tier_up_with_event():
    doc = program_dict(tiers=[{"name": "basic", "min_spend": 0, "rate_bps": 100},
                              {"name": "silver", "min_spend": 10000, "rate_bps": 500}])
    e = Engine(doc)
    r1 = res(e.send(sale("R1", "K1", at(), [line(1, 20000)])))
    # basic at the start: floor(20000 * 1 %) = 200; spend 20000 >= 10000 -> silver
    assert r1["accrued"] == 200 and r1["tier"] == "silver"
    changed = [ev for ev in r1["events"] if ev["type"] == "tier_changed"]
    assert [(ev["from"], ev["to"]) for ev in changed] == [("basic", "silver")]
    r2 = res(e.send(sale("R2", "K1", at(1), [line(1, 1000)])))
    assert r2["accrued"] == 50 and "tier_changed" not in event_types(r2)  # 5 % of 1000
    # exactly min_spend is enough: 9999 + 1
    r3 = res(e.send(sale("R3", "K2", at(), [line(1, 9999)])))
    r4 = res(e.send(sale("R4", "K2", at(1), [line(1, 1)])))
    assert (r3["tier"], r4["tier"]) == ("basic", "silver")


def test_restricted_accrual_lines_earn_nothing_and_do_not_cover_fixed_grants():
    doc = program_dict([bonus("gift", 500), bonus("big", 300, min_amount=1000),
                        {"id": "wine-pts", "type": "sku_points",
                         "target": {"categories": ["alcohol"]}, "points_per_unit": 10}],
                       accrual=accrual(rate_bps=1000),
                       restricted=[{"category": "alcohol", "accrual": False}])
    e = Engine(doc)
    r1 = res(e.send(sale("R1", "K1", at(), [line(1, 5000, category="alcohol/wine")])))
    # no covered line for any point campaign, no base points
    assert r1["accrued"] == 0 and r1["applied"] == []
    assert "points_accrued" not in event_types(r1)
    r2 = res(e.send(sale("R2", "K1", at(1), [line(1, 5000, category="alcohol"),
                                              line(2, 100)])))
    # base floor(100 * 10 %) = 10; gift covers line 2; big sees 100 < 1000 (wine not counted)
    assert [ln["accrued"] for ln in r2["lines"]] == [0, 10]
    assert applied(r2) == {("base", "points"): 10, ("gift", "points"): 500}
    assert r2["accrued"] == 510


def test_bonus_points_min_amount_on_covered_lines_after_discounts():
    doc = program_dict([bonus("big", 300, min_amount=1000),
                        percent_off("p10", 1000, {"skus": ["d"]}),
                        bonus("xbig", 70, min_amount=1000, target={"categories": ["x"]})])
    e = Engine(doc)
    assert res(e.send(sale("R1", "K1", at(), [line(1, 1000)])))["accrued"] == 300  # 1000
    assert res(e.send(sale("R2", "K1", at(), [line(1, 999)])))["accrued"] == 0
    # 1100 - 10 % = 990 < 1000
    assert res(e.send(sale("R3", "K1", at(), [line(1, 1100, sku="d")])))["accrued"] == 0
    # xbig counts only its target's lines: 600 < 1000 (big sees 1200 and gives 300)
    r = res(e.send(sale("R4", "K1", at(), [line(1, 600, category="x"), line(2, 600)])))
    assert applied(r) == {("big", "points"): 300}


def test_sku_points_per_covered_unit_belong_to_the_receipt_not_the_lines():
    doc = program_dict([sku_points("sp", "s1", 7)])
    r = one(doc, sale("R1", "K1", at(), [line(1, 100, qty=3, sku="s1"),
                                          line(2, 100, qty=2, sku="s1"),
                                          line(3, 100, qty=5, sku="s2")]))
    # (3 + 2) units * 7 = 35; the lines' `accrued` hold rate-based points only (rate 0 here)
    assert r["accrued"] == 35 and [ln["accrued"] for ln in r["lines"]] == [0, 0, 0]


# ----------------------------------------------------------------------------- offers


def offer_campaign(priority: int = 0, uses: int | None = 2, **offer) -> dict:
    spec = {"type": "percent_off", "target": {"categories": ["food"]}, "percent_bps": 1000,
            "valid_days": 10, "uses": uses, **offer}
    return {"id": "npo", "type": "next_purchase_offer", "priority": priority,
            "target": {"categories": ["sport"]}, "min_amount": 1000, "offer": spec}


def food(rid: str, cid: str, ts: str) -> bytes:
    return sale(rid, cid, ts, [line(1, 500, category="food")])


def sport(rid: str, cid: str, ts: str, price: int = 1000) -> bytes:
    return sale(rid, cid, ts, [line(1, price, category="sport")])


def test_next_purchase_offer_is_issued_used_and_counts_uses():
    e = Engine(program_dict([offer_campaign()]))
    r0 = res(e.send(sport("R0", "K1", at(0), price=999)))
    assert "offer_issued" not in event_types(r0)  # 999 < min_amount
    r1 = res(e.send(sport("R1", "K1", at(0, 13))))
    assert "offer_issued" in event_types(r1)
    got = []
    for i in (1, 2, 3):
        r = res(e.send(food(f"F{i}", "K1", at(i))))
        got.append((discounts(r)[0], "offer_used" in event_types(r)))
    # 10 % of 500 = 50 on the first two food receipts (uses 2), nothing on the third
    assert got == [(50, True), (50, True), (0, False)]


def test_next_purchase_offer_validity_end_is_excluded():
    e = Engine(program_dict([offer_campaign()]))
    res(e.send(sport("S2", "K2", at(0))))
    res(e.send(sport("S3", "K3", at(0))))
    # issued day 0 12:00, valid 10 days: works before day 10 12:00, not at it
    assert discounts(res(e.send(food("F2", "K2", at(9, 23, 59, 59)))))[0] == 50
    assert discounts(res(e.send(food("F3", "K3", at(10)))))[0] == 0


def test_new_offer_from_the_same_campaign_replaces_the_earlier_one():
    e = Engine(program_dict([offer_campaign()]))
    res(e.send(sport("S1", "K4", at(0))))            # offer A: 2 uses, until day 10 12:00
    assert discounts(res(e.send(food("F1", "K4", at(1)))))[0] == 50   # A: 1 use left
    res(e.send(sport("S2", "K4", at(2))))            # offer B replaces A: 2 uses, until day 12
    # day 11: A would have expired; B works twice, and only twice
    got = [discounts(res(e.send(food(f"G{i}", "K4", at(11, 12 + i)))))[0] for i in range(3)]
    assert got == [50, 50, 0]


@pytest.mark.parametrize(("priority", "expected", "used"), [(5, 100, True), (1, 200, False)])
def test_personal_offer_runs_in_stage_a_at_its_campaigns_priority(priority, expected, used):
    doc = program_dict([offer_campaign(priority=priority),
                        percent_off("excl", 2000, {"categories": ["food"]}, exclusive=True,
                                    priority=3)])
    e = Engine(doc)
    res(e.send(sport("S1", "K1", at(0))))
    r = res(e.send(sale("F1", "K1", at(1), [line(1, 1000, category="food")])))
    # priority 5: the offer's 10 % (100) comes first, the exclusive campaign skips the line;
    # priority 1: the exclusive 20 % (200) comes first and locks the line, the offer is unused
    assert discounts(r) == [expected]
    assert ("offer_used" in event_types(r)) is used


def test_points_multiplier_offer_extra_belongs_to_the_issuing_campaign():
    npo = offer_campaign()
    npo["offer"] = {"type": "points_multiplier", "multiplier_bps": 30000, "valid_days": 10}
    e = Engine(program_dict([npo], accrual=accrual(rate_bps=1000)))
    r1 = res(e.send(sport("S1", "K1", at(0))))
    assert r1["accrued"] == 100  # 10 % of 1000; the offer only works on later receipts
    r2 = res(e.send(food("F1", "K1", at(1))))
    # 500 * 10 % * 3 = 150: base 50, npo +100
    assert applied(r2) == {("base", "points"): 50, ("npo", "points"): 100}


# ----------------------------------------------------------------------------- redemption


@pytest.mark.parametrize(("price", "redeem", "expected"), [
    (1000, 200, 200),       # min(200, 5000, 300, 900): the request
    (1000, 5000, 300),      # min(5000, 5000, floor(1000 * 30 %) = 300, 900): the share cap
    (140, 5000, 40),        # min(5000, 5000, 42, 140 - 100 = 40): min_payable
    (50, 5000, 0),          # 50 - 100 < 0: never below 0
    (100000, 10000, 5000),  # min(10000, 5000, 30000, 99900): the active balance
])
def test_redemption_is_the_smallest_of_request_balance_share_and_due(price, redeem, expected):
    e = seeded([], redemption={"max_share_bps": 3000, "min_payable": 100})
    r = res(e.send(sale("R2", "K1", at(1), [line(1, price)], redeem=redeem)))
    assert r["redeemed"] == expected
    assert r["redeem_requested"] == redeem
    assert r["paid"] == price - expected
    assert balance(r) == (5000 - expected, 0)
    assert ("points_redeemed" in event_types(r)) is (expected > 0)


def test_redemption_split_over_eligible_lines_by_amount_after_discounts():
    e = seeded([percent_off("p10", 1000, {"skus": ["b"]})],
               restricted=[{"category": "gift", "redemption": False}])
    lines = [line(1, 1000, sku="a"), line(2, 500, sku="b"), line(3, 2000, category="gift")]
    r = res(e.send(sale("R2", "K1", at(1), lines, redeem=100)))
    # eligible 1000 and 450 (the gift card line is not): 100 * 1000/1450 = 68.97,
    # 100 * 450/1450 = 31.03 -> 68 + 31, the spare unit to the larger fraction (line 1)
    assert [ln["redeemed"] for ln in r["lines"]] == [69, 31, 0]
    r = res(e.send(sale("R3", "K1", at(2), lines, redeem=5000)))
    # the share cap is 100 % of the eligible 1450: the gift card line is paid in money
    assert r["redeemed"] == 1450
    assert [ln["redeemed"] for ln in r["lines"]] == [1000, 450, 0]


def test_buckets_are_spent_soonest_expiry_first_and_never_expiring_last():
    doc = program_dict([sku_points("never", "n", 100, expiry_days=None),
                        sku_points("long", "l", 100, expiry_days=100),
                        sku_points("short", "s", 100, expiry_days=10)])
    e = Engine(doc)
    r = res(e.send(sale("R1", "K1", at(0), [line(1, 0, sku="n"), line(2, 0, sku="l"),
                                            line(3, 0, sku="s")])))
    assert balance(r) == (300, 0)
    r = res(e.send(sale("R2", "K1", at(1), [line(1, 1000)], redeem=150)))
    # 150 taken: short 100 (expires day 10), then long 50 (day 100); never untouched
    assert r["redeemed"] == 150 and balance(r) == (150, 0)
    # day 11: short expired empty, nothing lost; day 101: long's last 50 expire
    assert balance(res(e.send(sale("R3", "K1", at(11), [line(1, 1)])))) == (150, 0)
    assert balance(res(e.send(sale("R4", "K1", at(101), [line(1, 1)])))) == (100, 0)


def test_pending_points_are_not_spendable_until_activation():
    doc = program_dict([bonus("seed", 1000, audience={"first_purchase": True})],
                       accrual=accrual(activation_days=14))
    e = Engine(doc)
    assert balance(res(e.send(sale("R1", "K1", at(0), [line(1, 100)])))) == (0, 1000)
    r = res(e.send(sale("R2", "K1", at(13, 23, 59), [line(1, 1000)], redeem=500)))
    assert r["redeemed"] == 0 and balance(r) == (0, 1000)
    # day 0 12:00 + 14 * 24 h: active
    r = res(e.send(sale("R3", "K1", at(14), [line(1, 1000)], redeem=500)))
    assert r["redeemed"] == 500 and balance(r) == (500, 0)


def test_expired_points_are_gone_for_a_later_receipt():
    doc = program_dict([bonus("seed", 1000, audience={"first_purchase": True})],
                       accrual=accrual(expiry_days=30))
    e = Engine(doc)
    assert balance(res(e.send(sale("R1", "K1", at(0), [line(1, 100)])))) == (1000, 0)
    assert balance(res(e.send(sale("R2", "K1", at(29, 23, 59), [line(1, 1)])))) == (1000, 0)
    r = res(e.send(sale("R3", "K1", at(30), [line(1, 1000)], redeem=100)))
    assert r["redeemed"] == 0 and balance(r) == (0, 0)  # active until day 30 12:00, excluded


# ----------------------------------------------------------------------------- audience


@pytest.mark.parametrize(("birthday", "day", "expected"), [
    ("2000-02-29", "2026-02-25", 100),  # 2026 has no 29 Feb: 28 Feb - 3 days
    ("2000-02-29", "2026-02-24", 0),
    ("2000-02-29", "2026-03-03", 100),  # 28 Feb + 3 days
    ("2000-02-29", "2026-03-04", 0),
    ("2000-02-29", "2028-02-26", 100),  # leap year: 29 Feb - 3 days
    ("2000-02-29", "2028-02-25", 0),    # 4 days before 29 Feb
    ("1990-12-31", "2027-01-03", 100),  # across the year end: 31 Dec 2026 + 3 days
    ("1990-12-31", "2027-01-04", 0),
    ("1990-01-02", "2026-12-30", 100),  # across the year end: 2 Jan 2027 - 3 days
    ("1990-01-02", "2026-12-29", 0),    # 4 days before 2 Jan 2027, 361 after 2 Jan 2026
    ("1990-06-15", "2026-06-15", 100),
])
def test_birthday_window_either_side(birthday, day, expected):
    from datetime import date

    doc = program_dict([bonus("bday", 100, audience={"birthday_window_days": 3})])
    prof = Profile("K1", date.fromisoformat(birthday), frozenset())
    r = one(doc, sale("R1", "K1", f"{day}T12:00:00+00:00", [line(1, 100)]), [prof])
    assert r["accrued"] == expected


def test_birthday_date_is_read_in_program_timezone_and_needs_a_profile():
    from datetime import date

    doc = program_dict([bonus("bday", 100, audience={"birthday_window_days": 0})],
                       timezone="Europe/Moscow")
    prof = Profile("K1", date(1990, 6, 15), frozenset())
    # 14 June 22:00 UTC is 15 June 01:00 in Moscow
    assert one(doc, sale("R1", "K1", "2026-06-14T22:00:00+00:00", [line(1, 1)]),
               [prof])["accrued"] == 100
    assert one(doc, sale("R1", "K1", "2026-06-14T20:00:00+00:00", [line(1, 1)]),
               [prof])["accrued"] == 0
    assert one(doc, sale("R1", "K2", "2026-06-15T12:00:00+03:00", [line(1, 1)]),
               [prof])["accrued"] == 0  # K2 has no profile, no birthday


def test_anonymous_receipt_gets_no_points_no_balance_no_tier():
    doc = program_dict([bonus("gift", 500, audience={"anonymous": True}),
                        sku_points("sp", "sku1", 10), mult("m2", 20000),
                        percent_off("p10", 1000)],
                       accrual=accrual(rate_bps=1000),
                       tiers=[{"name": "basic", "min_spend": 0, "rate_bps": 1000}])
    r = one(doc, sale("R1", None, at(), [line(1, 1000)], redeem=500))
    assert r["customer_id"] is None
    assert r["accrued"] == 0 and r["redeemed"] == 0 and r["lines"][0]["accrued"] == 0
    assert applied(r) == {("p10", "discount"): 100}  # discounts still apply
    assert r["balance"] is None and r["tier"] is None
    assert r["events"] == []


def test_personal_offer_uses_its_campaigns_per_receipt_cap():
    npo = offer_campaign()
    npo["limits"] = {"per_receipt": 30}
    e = Engine(program_dict([npo]))
    res(e.send(sport("S1", "K1", at(0))))
    # 10 % of 500 = 50, capped at 30 by the issuing campaign's per_receipt
    assert discounts(res(e.send(food("F1", "K1", at(1)))))[0] == 30


def test_a_late_receipt_never_moves_the_customers_points_back():
    doc = program_dict([bonus("seed", 1000, audience={"first_purchase": True})],
                       accrual=accrual(activation_days=5))
    e = Engine(doc)
    res(e.send(sale("R1", "K1", at(0), [line(1, 0)])))           # 1000 pending until day 5
    assert balance(res(e.send(sale("R2", "K1", at(6), [line(1, 0)])))) == (1000, 0)
    # a receipt stamped day 3 arrives late: the clock stays at day 6, the points stay active
    r = res(e.send(sale("R3", "K1", at(3), [line(1, 1000)], redeem=400)))
    assert r["redeemed"] == 400 and balance(r) == (600, 0)
