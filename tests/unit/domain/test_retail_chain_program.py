"""examples/retail-chain.yaml: the standard program uses every campaign type and condition of
spec section 4, in the strict format. A structural check with PyYAML; the real validator
(`streamproc.domain.program`) loads it too when it is there."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

PROGRAM = Path(__file__).resolve().parents[3] / "examples" / "retail-chain.yaml"

TYPES = {
    "percent_off": {"target", "percent_bps"},
    "amount_off": {"target", "amount"},
    "fixed_price": {"target", "price"},
    "n_for_m": {"target", "buy", "pay"},
    "bundle": {"components", "percent_bps", "max_sets"},
    "threshold_discount": {"target", "min_amount", "percent_bps", "amount"},
    "bonus_points": {"target", "min_amount", "points"},
    "sku_points": {"target", "points_per_unit"},
    "points_multiplier": {"target", "multiplier_bps"},
    "next_purchase_offer": {"target", "min_amount", "offer"},
}
REQUIRED = {
    "percent_off": {"percent_bps"},
    "amount_off": {"amount"},
    "fixed_price": {"price"},
    "n_for_m": {"buy", "pay"},
    "bundle": {"components", "percent_bps"},
    "threshold_discount": {"min_amount"},
    "bonus_points": {"points"},
    "sku_points": {"target", "points_per_unit"},
    "points_multiplier": {"multiplier_bps"},
    "next_purchase_offer": {"min_amount", "offer"},
}
POINT_TYPES = {"bonus_points", "sku_points", "points_multiplier", "next_purchase_offer"}
COMMON = {
    "id", "type", "name", "priority", "exclusive", "active", "schedule", "stores", "audience",
    "coupon", "limits", "holdout_bps",
}  # fmt: skip
POINT_FIELDS = {"activation_days", "expiry_days"}
DAYS = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@pytest.fixture(scope="module")
def doc() -> dict:
    return yaml.safe_load(PROGRAM.read_text())


@pytest.fixture(scope="module")
def campaigns(doc: dict) -> list[dict]:
    return doc["campaigns"]


def _check_target(t: object, where: str) -> None:
    assert isinstance(t, dict) and set(t) <= {"skus", "categories", "exclude"}, where
    for k in ("skus", "categories"):
        if k in t:
            assert t[k] and all(isinstance(x, str) and x for x in t[k]), where
    if "exclude" in t:
        ex = t["exclude"]
        assert set(ex) <= {"skus", "categories"}, where
        for v in ex.values():
            assert v and all(isinstance(x, str) and x for x in v), where


def test_program_section(doc: dict) -> None:
    p = doc["program"]
    assert p["timezone"] == "Europe/Moscow"
    assert [t["name"] for t in p["tiers"]] == ["basic", "silver", "gold"]
    assert p["tiers"][0]["min_spend"] == 0
    spends = [t["min_spend"] for t in p["tiers"]]
    assert spends == sorted(spends)
    assert p["accrual"]["activation_days"] == 14
    assert p["accrual"]["expiry_days"] == 365
    assert p["redemption"] == {"max_share_bps": 3000, "min_payable": 100}
    assert 0 < p["max_line_discount_bps"] <= 10000
    assert p["returns"] == {"window_days": 30}
    assert p["notify"] == {"expiring_days_before": 10}
    restricted = {r["category"]: r for r in p["restricted"]}
    assert restricted["tobacco"] == {
        "category": "tobacco", "accrual": False, "redemption": False, "discounts": False,
    }  # fmt: skip
    assert restricted["alcohol"]["accrual"] is False


def test_campaign_count_ids_and_types(campaigns: list[dict]) -> None:
    assert len(campaigns) >= 25
    ids = [c["id"] for c in campaigns]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9_-]{1,64}", i) for i in ids)
    assert set(Counter(c["type"] for c in campaigns)) == set(TYPES)
    offer_types = {c["offer"]["type"] for c in campaigns if c["type"] == "next_purchase_offer"}
    assert offer_types == {"percent_off", "points_multiplier"}


def test_strict_fields_per_type(campaigns: list[dict]) -> None:
    for c in campaigns:
        t = c["type"]
        allowed = COMMON | TYPES[t] | (POINT_FIELDS if t in POINT_TYPES else set())
        assert set(c) <= allowed, (c["id"], set(c) - allowed)
        assert REQUIRED[t] <= set(c), (c["id"], REQUIRED[t] - set(c))
        if "target" in c:
            _check_target(c["target"], c["id"])
        if t == "threshold_discount":
            assert ("percent_bps" in c) != ("amount" in c), c["id"]
        if "percent_bps" in c:
            assert 1 <= c["percent_bps"] <= 10000, c["id"]
        if "multiplier_bps" in c:
            assert 10001 <= c["multiplier_bps"] <= 100000, c["id"]
        if t == "n_for_m":
            assert 1 <= c["pay"] < c["buy"], c["id"]
        if t == "bundle":
            assert c["components"]
            for comp in c["components"]:
                assert set(comp) == {"target", "qty"} and comp["qty"] >= 1, c["id"]
                _check_target(comp["target"], c["id"])
        if t == "next_purchase_offer":
            offer = c["offer"]
            key = "percent_bps" if offer["type"] == "percent_off" else "multiplier_bps"
            assert set(offer) == {"type", "target", key, "valid_days", "uses"}, c["id"]
            _check_target(offer["target"], c["id"])
            assert offer["valid_days"] >= 1
            assert offer["uses"] is None or offer["uses"] >= 1


def test_conditions_are_well_formed(campaigns: list[dict]) -> None:
    codes: list[str] = []
    for c in campaigns:
        if "schedule" in c:
            s = c["schedule"]
            assert s and set(s) <= {"days", "hours"}, c["id"]
            assert set(s.get("days", [])) <= DAYS, c["id"]
            if "hours" in s:
                assert isinstance(s["hours"], str) and HOURS.match(s["hours"]), c["id"]
                start, end = s["hours"].split("-")
                assert start != end, c["id"]
        if "active" in c:
            assert set(c["active"]) <= {"from", "until"}, c["id"]
            for v in c["active"].values():
                assert isinstance(v, str), f"{c['id']}: quote dates so YAML keeps them strings"
        if "stores" in c:
            assert c["stores"] and all(isinstance(s, str) for s in c["stores"])
        if "audience" in c:
            a = c["audience"]
            assert set(a) <= {
                "tiers", "segments", "first_purchase", "birthday_window_days", "anonymous",
            }, c["id"]  # fmt: skip
            for k in ("tiers", "segments"):
                assert k not in a or a[k], c["id"]
        if "coupon" in c:
            assert set(c["coupon"]) == {"codes", "single_use"} and c["coupon"]["codes"]
            codes += c["coupon"]["codes"]
        if "limits" in c:
            assert set(c["limits"]) <= {"per_customer", "per_receipt", "budget"}, c["id"]
        if "holdout_bps" in c:
            assert 0 < c["holdout_bps"] < 10000
    assert len(codes) == len(set(codes)), "a coupon code belongs to one campaign"


def test_every_condition_is_used(doc: dict, campaigns: list[dict]) -> None:
    used: set[str] = set()
    for c in campaigns:
        used |= {k for k in ("priority", "exclusive", "stores", "holdout_bps") if k in c}
        used |= {k for k in ("activation_days", "expiry_days") if k in c}
        if "expiry_days" in c and c["expiry_days"] is None:
            used.add("expiry_days:null")
        used |= {f"active.{k}" for k in c.get("active", {})}
        used |= {f"schedule.{k}" for k in c.get("schedule", {})}
        hours = c.get("schedule", {}).get("hours")
        if hours and hours.split("-")[1] < hours.split("-")[0]:
            used.add("schedule.hours:wraps")
        used |= {f"audience.{k}" for k in c.get("audience", {})}
        if c.get("audience", {}).get("anonymous") is False:
            used.add("audience.anonymous:false")
        if c.get("audience", {}).get("first_purchase") is True:
            used.add("audience.first_purchase:true")
        if "coupon" in c:
            used.add(f"coupon.single_use:{c['coupon']['single_use']}")
        used |= {f"limits.{k}" for k in c.get("limits", {})}
        used |= {f"target.{k}" for k in c.get("target", {})}
        if c.get("exclusive") is True:
            used.add("exclusive:true")
    wanted = {
        "priority", "exclusive", "exclusive:true", "active.from", "active.until",
        "schedule.days", "schedule.hours", "schedule.hours:wraps", "stores",
        "audience.tiers", "audience.segments", "audience.first_purchase",
        "audience.first_purchase:true", "audience.birthday_window_days",
        "audience.anonymous:false", "coupon.single_use:True", "coupon.single_use:False",
        "limits.per_customer", "limits.per_receipt", "limits.budget", "holdout_bps",
        "activation_days", "expiry_days", "expiry_days:null",
        "target.skus", "target.categories", "target.exclude",
    }  # fmt: skip
    assert wanted <= used, sorted(wanted - used)


def test_trade_rules(doc: dict, campaigns: list[dict]) -> None:
    by_id = {c["id"]: c for c in campaigns}
    assert by_id["yogurt-3-for-2"]["buy"] == 3 and by_id["yogurt-3-for-2"]["pay"] == 2
    assert by_id["happy-hours-x2"]["multiplier_bps"] == 20000
    assert by_id["birthday-x3"]["multiplier_bps"] == 30000
    assert by_id["welcome-bonus"]["audience"] == {"first_purchase": True}
    assert any(
        c["type"] == "bundle"
        and {comp["target"]["categories"][0] for comp in c["components"]}
        == {"dairy/cheese", "meat/sausage"}
        for c in campaigns
    )
    # Most campaigns run through the loadgen's default month (November 2026).
    in_november = [
        c for c in campaigns
        if c.get("active", {}).get("from", "2026-11-01") <= "2026-11-01"
        and c.get("active", {}).get("until", "2026-12-01") >= "2026-12-01"
    ]  # fmt: skip
    assert len(in_november) >= 0.8 * len(campaigns)
    for c in campaigns:  # nothing targets the restricted tobacco
        for t in [c.get("target", {})] + [x["target"] for x in c.get("components", [])]:
            assert not any(x.startswith("tobacco") for x in t.get("categories", []))


def test_loads_through_the_real_validator() -> None:
    try:
        from streamproc.domain.program import load_program
    except ImportError as exc:
        pytest.skip(f"streamproc.domain.program not available yet: {exc}")
    program = load_program(PROGRAM)
    ids = [c.id for c in getattr(program, "campaigns", [])]
    assert len(ids) == len(yaml.safe_load(PROGRAM.read_text())["campaigns"])
