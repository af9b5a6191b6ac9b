"""Discount rules of spec sections 4 and 5 (stages A and B), one rule per test.

Each expected number is worked out by hand from the spec's rule in the comment next to it.
The default program (rules_helpers) gives no points, so only discounts move.
"""

from __future__ import annotations

import pytest
from rules_helpers import (
    Engine,
    applied,
    at,
    discounts,
    event_types,
    line,
    one,
    percent_off,
    program_dict,
    res,
    ret,
    run,
    sale,
)

from streamproc.domain.fnv import holdout_bucket
from streamproc.domain.receipt import Profile

# ----------------------------------------------------------------------------- types table


def test_percent_off_floors_each_line_amount_once():
    doc = program_dict([percent_off("p10", 1000, {"categories": ["dairy"]})])
    r = one(doc, sale("R1", "K1", at(), [line(1, 335, qty=3, category="dairy"),
                                          line(2, 1000, category="meat")]))
    # line 1: floor(1005 * 1000 / 10000) = floor(100.5) = 100 (per unit it would be 3*33 = 99)
    # line 2: not in the target
    assert discounts(r) == [100, 0]
    assert applied(r) == {("p10", "discount"): 100}
    assert r["total"] == 2005 and r["discount"] == 100 and r["paid"] == 1905


def test_amount_off_is_min_of_amount_and_unit_price_per_unit():
    doc = program_dict([{"id": "a5", "type": "amount_off", "amount": 500}])
    r = one(doc, sale("R1", "K1", at(), [line(1, 300, qty=2), line(2, 1000, qty=3)]))
    # line 1: 2 units * min(500, 300) = 600; line 2: 3 units * min(500, 1000) = 1500
    assert discounts(r) == [600, 1500]


def test_fixed_price_is_unit_price_minus_price_never_negative():
    doc = program_dict([{"id": "fp", "type": "fixed_price", "price": 700}])
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000, qty=2), line(2, 500, qty=4)]))
    # line 1: 2 * max(0, 1000 - 700) = 600; line 2: max(0, 500 - 700) = 0
    assert discounts(r) == [600, 0]


def test_n_for_m_sorts_units_by_price_and_frees_the_cheapest_of_full_groups():
    doc = program_dict([{"id": "n32", "type": "n_for_m", "buy": 3, "pay": 2}])
    r = one(doc, sale("R1", "K1", at(), [line(1, 100, qty=2), line(2, 300),
                                          line(3, 200, qty=4)]))
    # units high first: 300(L2) 200 200 200 200(L3) 100 100(L1)
    # group 1 [300, 200, 200] -> one 200 free (L3); group 2 [200, 200, 100] -> 100 free (L1);
    # the 7th unit (100, L1) is a partial group and gets nothing.
    assert discounts(r) == [100, 0, 200]


def test_n_for_m_equal_prices_are_ordered_by_line_no():
    doc = program_dict([{"id": "n32", "type": "n_for_m", "buy": 3, "pay": 2}])
    r = one(doc, sale("R1", "K1", at(), [line(1, 100), line(2, 100), line(3, 100),
                                          line(4, 100)]))
    # order L1 L2 L3 L4: group [L1, L2, L3] frees its last (cheapest) unit, L3; L4 is partial
    assert discounts(r) == [0, 0, 100, 0]


def test_n_for_m_partial_group_gets_nothing_and_qty_spreads_over_lines():
    doc = program_dict([{"id": "n21", "type": "n_for_m", "buy": 2, "pay": 1,
                         "target": {"categories": ["y"]}}])
    r = one(doc, sale("R1", "K1", at(), [line(1, 90, qty=3, category="y"),
                                          line(2, 50, qty=2, category="y"),
                                          line(3, 10, category="z")]))
    # covered units: 90 90 90 (L1) 50 50 (L2) -> groups [90,90] [90,50] and a partial [50]
    # free: one 90 (L1) and one 50 (L2); L3 is not covered
    assert discounts(r) == [90, 50, 0]
    r = one(doc, sale("R2", "K1", at(), [line(1, 90, category="y")]))
    assert discounts(r) == [0]  # a single unit never makes a full group


def bundle(max_sets: int | None = None) -> dict:
    c = {"id": "set", "type": "bundle", "percent_bps": 1000,
         "components": [{"target": {"categories": ["a"]}, "qty": 1},
                        {"target": {"categories": ["b"]}, "qty": 2}]}
    if max_sets is not None:
        c["max_sets"] = max_sets
    return c


BUNDLE_LINES = [line(1, 1000, qty=3, category="a"), line(2, 505, category="b"),
                line(3, 300, qty=5, category="b")]


def test_bundle_forms_sets_in_line_no_order_up_to_max_sets():
    r = one(program_dict([bundle(max_sets=2)]), sale("R1", "K1", at(), BUNDLE_LINES))
    # set 1: a from L1, b from L2 (1) + L3 (1); set 2: a from L1, b from L3 (2); max 2 sets
    # per unit floor(price * 1000 / 10000): L1 2 * 100 = 200, L2 1 * 50 = 50, L3 3 * 30 = 90
    assert discounts(r) == [200, 50, 90]


def test_bundle_without_max_sets_takes_every_full_set():
    r = one(program_dict([bundle()]), sale("R1", "K1", at(), BUNDLE_LINES))
    # a third set: a from L1 (its last unit), b from L3 (units 4 and 5); no 4th a unit
    # L1 3 * 100 = 300, L2 1 * 50 = 50, L3 5 * 30 = 150
    assert discounts(r) == [300, 50, 150]


def test_bundle_never_reuses_a_unit_in_two_components():
    doc = program_dict([{"id": "pair", "type": "bundle", "percent_bps": 5000,
                         "components": [{"target": {"categories": ["x"]}, "qty": 1},
                                        {"target": {"categories": ["x"]}, "qty": 1}]}])
    r = one(doc, sale("R1", "K1", at(), [line(1, 100, qty=3, category="x")]))
    # units 1+2 make one set; unit 3 alone cannot: 2 * floor(100 * 5000 / 10000) = 100
    assert discounts(r) == [100]


def threshold(cid: str = "th", min_amount: int = 1000, **kw) -> dict:
    return {"id": cid, "type": "threshold_discount", "min_amount": min_amount, **kw}


def test_threshold_percent_at_min_amount_passes_and_one_less_fails():
    doc = program_dict([threshold(percent_bps=1000)])
    r = one(doc, sale("R1", "K1", at(), [line(1, 600), line(2, 400)]))
    # 600 + 400 = 1000 >= 1000: floor(1000 * 10 %) = 100 split 600:400 -> 60 / 40
    assert discounts(r) == [60, 40]
    r = one(doc, sale("R1", "K1", at(), [line(1, 600), line(2, 399)]))
    assert discounts(r) == [0, 0]  # 999 < 1000


def test_threshold_amount_split_by_largest_remainder_ties_to_lower_line_no():
    doc = program_dict([threshold(amount=100, min_amount=0)])
    r = one(doc, sale("R1", "K1", at(), [line(1, 300), line(2, 300), line(3, 300)]))
    # 100 / 3 = 33.33 each -> 33 33 33, the spare unit goes to the tie's lowest line_no
    assert discounts(r) == [34, 33, 33]
    doc = program_dict([threshold(amount=7, min_amount=0)])
    r = one(doc, sale("R1", "K1", at(), [line(1, 500), line(2, 300), line(3, 200)]))
    # 7 * 500/1000 = 3.5, 7 * 300/1000 = 2.1, 7 * 200/1000 = 1.4 -> 3 2 1 (6);
    # the spare unit goes to the largest fraction (.5, line 1)
    assert discounts(r) == [4, 2, 1]


def test_threshold_counts_amounts_after_line_discounts():
    doc = program_dict([percent_off("half", 5000, {"skus": ["sku1"]}),
                        threshold(amount=90)])
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000), line(2, 400)]))
    # stage A: line 1 -> 500 off; stage B sees 500 + 400 = 900 < 1000: no threshold
    assert discounts(r) == [500, 0]
    r = one(doc, sale("R1", "K1", at(), [line(1, 1200), line(2, 400)]))
    # stage B sees 600 + 400 = 1000: 90 split 600:400 -> 54 / 36 on top of stage A's 600
    assert discounts(r) == [654, 36]


# ----------------------------------------------------------------------------- stacking


def test_priority_order_and_ties_by_id_decide_which_exclusive_campaign_wins():
    # equal priority: "a-off" sorts before "b-off", takes the line and locks it
    doc = program_dict([percent_off("b-off", 2000, exclusive=True),
                        percent_off("a-off", 1000, exclusive=True)])
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000)]))
    assert applied(r) == {("a-off", "discount"): 100}  # floor(1000 * 10 %)
    # a higher priority goes first whatever its id
    doc = program_dict([percent_off("z-off", 2000, exclusive=True, priority=5),
                        percent_off("a-off", 1000, exclusive=True)])
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000)]))
    assert applied(r) == {("z-off", "discount"): 200}  # floor(1000 * 20 %)


def test_exclusive_skips_discounted_lines_and_locks_the_lines_it_discounts():
    doc = program_dict([
        percent_off("first", 1000, {"skus": ["sku1"]}, priority=10),
        percent_off("excl", 2000, exclusive=True, priority=5),
        percent_off("last", 500, priority=0),
    ])
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000), line(2, 1000)]))
    # line 1: first 100; excl skips it (already discounted); last adds floor(1000*5%) = 50
    # line 2: excl 200 and locks it; last gives it nothing
    assert discounts(r) == [150, 200]
    assert applied(r) == {("first", "discount"): 100, ("excl", "discount"): 200,
                          ("last", "discount"): 50}


def test_line_cap_cuts_the_lowest_priority_campaign():
    doc = program_dict([percent_off("hi", 2000, priority=10), percent_off("lo", 2000)],
                       max_line_discount_bps=3000)
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000)]))
    # cap floor(1000 * 30 %) = 300: hi takes 200 first, lo is clipped from 200 to 100
    assert discounts(r) == [300]
    assert applied(r) == {("hi", "discount"): 200, ("lo", "discount"): 100}


def test_threshold_share_cut_by_line_cap_is_dropped():
    doc = program_dict([percent_off("p", 5000, {"skus": ["sku1"]}),
                        threshold(amount=100, min_amount=0)], max_line_discount_bps=5000)
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000), line(2, 500)]))
    # stage A: line 1 -> 500 (its whole 50 % room). Stage B: 100 split 500:500 -> 50 / 50;
    # line 1 has no room left, its 50 is dropped (not moved to line 2)
    assert discounts(r) == [500, 50]
    assert applied(r)[("th", "discount")] == 50


def test_per_receipt_cap_is_split_in_proportion_to_what_each_line_would_get():
    doc = program_dict([percent_off("p", 1000, limits={"per_receipt": 300})])
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000), line(2, 2000), line(3, 4000)]))
    # uncapped 100 / 200 / 400 = 700 > 300: 300*100/700 = 42.86, 85.71, 171.43 -> 42 85 171
    # (298), 2 spare units to the largest fractions .86 (L1) and .71 (L2)
    assert discounts(r) == [43, 86, 171]


def test_restricted_categories_never_get_a_discount():
    doc = program_dict([percent_off("all", 1000), threshold(amount=100, min_amount=1000)],
                       restricted=[{"category": "tobacco", "discounts": False}])
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000, category="tobacco"),
                                          line(2, 1000, category="tobacco/cigars"),
                                          line(3, 900)]))
    # only line 3 is covered: 10 % -> 90; the threshold sees 900 - 90 = 810 < 1000
    assert discounts(r) == [0, 0, 90]


def test_category_prefix_matches_itself_and_children_only():
    doc = program_dict([percent_off("d", 1000, {"categories": ["dairy"]})])
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000, category="dairy"),
                                          line(2, 1000, category="dairy/milk"),
                                          line(3, 1000, category="dairyx"),
                                          line(4, 1000, category="food/dairy")]))
    assert discounts(r) == [100, 100, 0, 0]


def test_target_exclude_lists_remove_skus_and_categories():
    doc = program_dict([percent_off("d", 1000, {
        "categories": ["dairy"], "exclude": {"skus": ["s2"], "categories": ["dairy/cheese"]}})])
    r = one(doc, sale("R1", "K1", at(), [
        line(1, 1000, sku="s1", category="dairy/milk"),
        line(2, 1000, sku="s2", category="dairy/milk"),
        line(3, 1000, sku="s3", category="dairy/cheese/hard"),
        line(4, 1000, sku="s4", category="dairy")]))
    assert discounts(r) == [100, 0, 0, 100]


def test_target_skus_and_categories_are_either_or():
    doc = program_dict([percent_off("d", 1000, {"skus": ["s9"], "categories": ["meat"]})])
    r = one(doc, sale("R1", "K1", at(), [line(1, 1000, sku="s9", category="x"),
                                          line(2, 1000, sku="s1", category="meat"),
                                          line(3, 1000, sku="s1", category="x")]))
    assert discounts(r) == [100, 100, 0]


# ----------------------------------------------------------------------------- conditions


def test_stores_list_limits_a_campaign_to_those_stores():
    doc = program_dict([percent_off("s1only", 1000, stores=["S1"])])
    assert discounts(one(doc, sale("R1", "K1", at(), [line(1, 1000)], store_id="S1"))) == [100]
    assert discounts(one(doc, sale("R1", "K1", at(), [line(1, 1000)], store_id="S2"))) == [0]
    assert discounts(one(doc, sale("R1", "K1", at(), [line(1, 1000)]))) == [0]  # no store


@pytest.mark.parametrize(("ts", "expected"), [
    ("2026-02-28T20:59:59+00:00", 0),    # 23:59:59 Moscow on 28 Feb: before `from`
    ("2026-02-28T21:00:00+00:00", 100),  # 00:00 Moscow on 1 Mar: `from` included
    ("2026-03-01T23:59:59+03:00", 100),
    ("2026-03-01T21:00:00+00:00", 0),    # 00:00 Moscow on 2 Mar: `until` excluded
])
def test_active_window_is_half_open_and_bare_dates_are_midnight_in_program_tz(ts, expected):
    doc = program_dict([percent_off("day", 1000,
                                    active={"from": "2026-03-01", "until": "2026-03-02"})],
                       timezone="Europe/Moscow")
    assert discounts(one(doc, sale("R1", "K1", ts, [line(1, 1000)]))) == [expected]


def test_active_timestamp_without_offset_is_read_in_program_tz():
    doc = program_dict([percent_off("eve", 1000, active={"from": "2026-03-01T18:00:00"})],
                       timezone="Europe/Moscow")
    # 18:00 Moscow is 15:00 UTC
    assert discounts(one(doc, sale("R1", "K1", "2026-03-01T14:59:00+00:00",
                                   [line(1, 1000)]))) == [0]
    assert discounts(one(doc, sale("R1", "K1", "2026-03-01T15:00:00+00:00",
                                   [line(1, 1000)]))) == [100]


def test_schedule_days_are_read_in_program_local_time():
    doc = program_dict([percent_off("mon", 1000, schedule={"days": ["mon"]})],
                       timezone="Europe/Moscow")
    # 2026-01-05 is a Monday
    assert discounts(one(doc, sale("R1", "K1", "2026-01-05T12:00:00+03:00",
                                   [line(1, 1000)]))) == [100]
    assert discounts(one(doc, sale("R1", "K1", "2026-01-06T12:00:00+03:00",
                                   [line(1, 1000)]))) == [0]
    # Monday 22:30 UTC is Tuesday 01:30 in Moscow
    assert discounts(one(doc, sale("R1", "K1", "2026-01-05T22:30:00+00:00",
                                   [line(1, 1000)]))) == [0]


def test_schedule_hours_are_read_with_summer_time():
    """Berlin in July is UTC+2 (UTC+1 at the epoch, and in winter): 18:00 local is 16:00 UTC."""
    doc = program_dict([percent_off("hh", 1000, schedule={"hours": "18:00-21:00"})],
                       timezone="Europe/Berlin")
    got = [discounts(one(doc, sale("R1", "K1", f"2026-07-01T{t}+00:00", [line(1, 1000)])))[0]
           for t in ("15:59:59", "16:00:00", "18:59:59", "19:00:00")]
    assert got == [0, 100, 100, 0]
    winter = [discounts(one(doc, sale("R1", "K1", f"2026-01-07T{t}+00:00", [line(1, 1000)])))[0]
              for t in ("16:59:59", "17:00:00")]
    assert winter == [0, 100]


@pytest.mark.parametrize(("hhmm", "expected"), [
    ("21:59", 0), ("22:00", 100), ("23:30", 100), ("00:00", 100), ("01:59", 100),
    ("02:00", 0), ("12:00", 0),
])
def test_schedule_hours_wrap_past_midnight(hhmm, expected):
    doc = program_dict([percent_off("night", 1000, schedule={"hours": "22:00-02:00"})])
    r = one(doc, sale("R1", "K1", f"2026-01-07T{hhmm}:00+00:00", [line(1, 1000)]))
    assert discounts(r) == [expected]


def test_schedule_hours_start_included_end_excluded():
    doc = program_dict([percent_off("hh", 1000, schedule={"hours": "18:00-21:00"})])
    got = [discounts(one(doc, sale("R1", "K1", f"2026-01-07T{t}+00:00", [line(1, 1000)])))[0]
           for t in ("17:59:59", "18:00:00", "20:59:59", "21:00:00")]
    assert got == [0, 100, 100, 0]


# ----------------------------------------------------------------------------- coupons


def test_coupon_verdicts_unknown_used_not_applicable_accepted():
    doc = program_dict([
        percent_off("vip", 1000, coupon={"codes": ["A", "B"], "single_use": True}),
        percent_off("meat", 1000, {"categories": ["meat"]}, coupon={"codes": ["X"]}),
    ])
    e = Engine(doc)
    r1 = res(e.send(sale("R1", "K1", at(), [line(1, 1000)], coupons=["A", "B", "ZZZ", "X"])))
    # vip applies once, with its first code A; B is its other code on the receipt;
    # X's campaign covers no line here, so it gives nothing
    assert r1["coupons"] == {"accepted": ["A"], "rejected": [
        {"code": "B", "reason": "not_applicable"}, {"code": "ZZZ", "reason": "unknown"},
        {"code": "X", "reason": "not_applicable"}]}
    assert discounts(r1) == [100]
    assert [e_["code"] for e_ in r1["events"] if e_["type"] == "coupon_redeemed"] == ["A"]
    # single-use works once across all customers
    r2 = res(e.send(sale("R2", "K2", at(1), [line(1, 1000)], coupons=["A"])))
    assert r2["coupons"] == {"accepted": [], "rejected": [{"code": "A", "reason": "used"}]}
    assert discounts(r2) == [0]
    # B was never used: it still works
    r3 = res(e.send(sale("R3", "K2", at(2), [line(1, 1000)], coupons=["B"])))
    assert r3["coupons"]["accepted"] == ["B"] and discounts(r3) == [100]
    # a coupon campaign never applies without its code; the same code twice gets one verdict
    r4 = res(e.send(sale("R4", "K3", at(3), [line(1, 1000, category="meat")])))
    assert discounts(r4) == [0]
    r5 = res(e.send(sale("R5", "K3", at(4), [line(1, 1000, category="meat")],
                         coupons=["X", "X"])))
    assert r5["coupons"] == {"accepted": ["X"], "rejected": []} and discounts(r5) == [100]
    assert event_types(r5).count("coupon_redeemed") == 1


# ----------------------------------------------------------------------------- limits


def test_budget_applies_only_whole_cost_and_exhaustion_is_reported_once():
    doc = program_dict([percent_off("b", 1000, limits={"budget": 250})])
    e = Engine(doc)
    r1 = res(e.send(sale("R1", "K1", at(), [line(1, 2000)])))
    assert discounts(r1) == [200]  # budget left 250 - 200 = 50
    # the return gives no budget back
    res(e.send(ret("RET1", "K1", at(0, 13), "R1", [(1, 1)])))
    r2 = res(e.send(sale("R2", "K2", at(1), [line(1, 1000)])))
    # cost 100 > 50 left: nothing (no partial 50), and the exhaustion event
    assert discounts(r2) == [0]
    exhausted = [ev for ev in r2["events"] if ev["type"] == "campaign_budget_exhausted"]
    assert [ev["campaign_id"] for ev in exhausted] == ["b"]
    r3 = res(e.send(sale("R3", "K3", at(2), [line(1, 500)])))
    assert discounts(r3) == [50]  # cost 50 == 50 left: fits exactly, budget now 0
    r4 = res(e.send(sale("R4", "K4", at(3), [line(1, 10)])))
    assert discounts(r4) == [0]  # cost 1 > 0
    assert "campaign_budget_exhausted" not in event_types(r4)  # once per campaign


def ids_on_each_side(campaign_id: str, bps: int) -> tuple[str, str]:
    """A customer id inside the holdout (bucket < bps) and one outside it."""
    inside = outside = None
    for k in range(1, 200):
        cid = f"K{k}"
        b = holdout_bucket(campaign_id, cid)
        if b < bps and inside is None:
            inside = cid
        if b >= bps and outside is None:
            outside = cid
    assert inside and outside
    return inside, outside


def test_holdout_by_fnv1a_bucket_and_held_out_listed():
    doc = program_dict([percent_off("ho", 1000, {"categories": ["x"]}, holdout_bps=5000)])
    inside, outside = ids_on_each_side("ho", 5000)
    e = Engine(doc)
    r_in = res(e.send(sale("R1", inside, at(), [line(1, 1000, category="x")])))
    assert discounts(r_in) == [0] and r_in["held_out"] == ["ho"]
    r_out = res(e.send(sale("R2", outside, at(), [line(1, 1000, category="x")])))
    assert discounts(r_out) == [100] and r_out["held_out"] == []
    # held out but it would have given nothing (no covered line): not listed
    r_none = res(e.send(sale("R3", inside, at(1), [line(1, 1000, category="y")])))
    assert r_none["held_out"] == []
    # anonymous receipts are never held out
    r_anon = res(e.send(sale("R4", None, at(), [line(1, 1000, category="x")])))
    assert discounts(r_anon) == [100] and r_anon["held_out"] == []


def test_holdout_boundary_bucket_equal_to_bps_is_not_held_out():
    _, outside = ids_on_each_side("ho", 5000)
    b = holdout_bucket("ho", outside)
    doc = program_dict([percent_off("ho", 1000, holdout_bps=b)])
    # bucket == B is not below B: applied
    assert discounts(one(doc, sale("R1", outside, at(), [line(1, 1000)]))) == [100]
    doc = program_dict([percent_off("ho", 1000, holdout_bps=b + 1)])
    assert discounts(one(doc, sale("R1", outside, at(), [line(1, 1000)]))) == [0]


def test_per_customer_limit_counts_receipts_where_the_campaign_gave_something():
    doc = program_dict([percent_off("two", 1000, {"categories": ["x"]},
                                    limits={"per_customer": 2})])
    e = Engine(doc)
    got = [discounts(res(e.send(sale(f"R{i}", "K1", at(i), [line(1, 1000, category=c)]))))[0]
           for i, c in enumerate(["x", "y", "x", "x"])]
    # R0 uses 1; R1 gives nothing (not counted); R2 uses 2; R3 is over the limit
    assert got == [100, 0, 100, 0]
    # another customer has her own count
    assert discounts(res(e.send(sale("R9", "K2", at(9), [line(1, 1000, category="x")])))) \
        == [100]


# ----------------------------------------------------------------------------- audience


def test_audience_tiers_use_the_tier_at_the_start_of_the_receipt():
    doc = program_dict([percent_off("silver-only", 1000, audience={"tiers": ["silver"]})],
                       tiers=[{"name": "basic", "min_spend": 0, "rate_bps": 0},
                              {"name": "silver", "min_spend": 1000, "rate_bps": 0}])
    e = Engine(doc)
    r1 = res(e.send(sale("R1", "K1", at(), [line(1, 1000)])))
    assert discounts(r1) == [0] and r1["tier"] == "silver"  # basic at the start; spend 1000
    r2 = res(e.send(sale("R2", "K1", at(1), [line(1, 1000)])))
    assert discounts(r2) == [100]


def test_audience_segments_any_of():
    doc = program_dict([percent_off("pets", 1000, audience={"segments": ["pets", "kids"]})])
    profiles = [Profile("K1", None, frozenset({"pets", "sport"})),
                Profile("K2", None, frozenset({"sport"}))]
    out = run(doc, [sale("R1", "K1", at(), [line(1, 1000)]),
                    sale("R2", "K2", at(), [line(1, 1000)]),
                    sale("R3", "K3", at(), [line(1, 1000)]),  # no profile: no segments
                    sale("R4", None, at(), [line(1, 1000)])], profiles)
    assert [discounts(res(o))[0] for o in out] == [100, 0, 0, 0]


def test_audience_first_purchase_only_on_the_customers_first_sale():
    doc = program_dict([percent_off("welcome", 1000, audience={"first_purchase": True})])
    out = run(doc, [sale("R1", "K1", at(), [line(1, 1000)]),
                    sale("R2", "K1", at(1), [line(1, 1000)]),
                    sale("R3", None, at(), [line(1, 1000)])])
    assert [discounts(res(o))[0] for o in out] == [100, 0, 0]


def test_audience_anonymous_false_excludes_anonymous_receipts_default_includes_them():
    doc = program_dict([percent_off("cards", 1000, audience={"anonymous": False}),
                        percent_off("open", 500)])
    out = run(doc, [sale("R1", None, at(), [line(1, 1000)]),
                    sale("R2", "K1", at(), [line(1, 1000)])])
    assert applied(res(out[0])) == {("open", "discount"): 50}
    assert applied(res(out[1])) == {("cards", "discount"): 100, ("open", "discount"): 50}


# ----------------------------------------------------------------------------- coverage


def test_exclusive_threshold_does_not_count_already_discounted_lines():
    lines = [line(1, 1000), line(2, 600)]
    first = percent_off("p10", 1000, {"skus": ["sku1"]})
    doc = program_dict([first, threshold(amount=100, exclusive=True)])
    # line 1 has a discount, so the exclusive threshold does not cover it: 600 < 1000
    assert discounts(one(doc, sale("R1", "K1", at(), lines))) == [100, 0]
    doc = program_dict([first, threshold(amount=100)])
    # not exclusive: 900 + 600 = 1500 >= 1000, 100 split 900:600 -> 60 / 40
    assert discounts(one(doc, sale("R1", "K1", at(), lines))) == [160, 40]


def test_lines_locked_by_an_exclusive_campaign_do_not_form_groups():
    doc = program_dict([percent_off("lock", 1000, {"skus": ["sku1"]}, exclusive=True,
                                    priority=5),
                        {"id": "n21", "type": "n_for_m", "buy": 2, "pay": 1}])
    r = one(doc, sale("R1", "K1", at(), [line(1, 100), line(2, 100), line(3, 100)]))
    # line 1 is locked (10 off); the group is [line 2, line 3]: line 3 free
    assert discounts(r) == [10, 0, 100]
