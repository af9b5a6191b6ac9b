"""Program files that must be refused (spec section 4), each error naming the file, the campaign
id and the field; all errors reported together; `streamproc check` exits 2 without a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rules_helpers import program_dict

from streamproc.cli import main
from streamproc.domain.program import ProgramError, load_program, program_from_dict

ROOT = Path(__file__).resolve().parents[3]
SOURCE = "shop.yaml"
TIERS = [{"name": "basic", "min_spend": 0, "rate_bps": 100},
         {"name": "silver", "min_spend": 1000, "rate_bps": 200}]


def errors_for(campaigns: list[dict], **program_fields) -> list[str]:
    doc = program_dict(campaigns, tiers=TIERS, **program_fields)
    with pytest.raises(ProgramError) as exc:
        program_from_dict(doc, source=SOURCE)
    return exc.value.errors


def pct(**kw) -> dict:
    return {"id": "c1", "type": "percent_off", "percent_bps": 1000, **kw}


def tgt(**target) -> dict:
    return pct(target=target)


def assert_names(errors: list[str], campaign: str, field: str) -> None:
    """One error names the file, the campaign and the field."""
    hits = [e for e in errors if SOURCE in e and f"'{campaign}'" in e and f"'{field}'" in e]
    assert hits, errors


CAMPAIGN_ERRORS = [
    ("unknown type", {"id": "c1", "type": "percent_of", "percent_bps": 1}, "type"),
    ("missing percent_bps", {"id": "c1", "type": "percent_off"}, "percent_bps"),
    ("percent over 100 %", pct(percent_bps=10001), "percent_bps"),
    ("pay == buy", {"id": "c1", "type": "n_for_m", "buy": 3, "pay": 3}, "pay"),
    ("pay > buy", {"id": "c1", "type": "n_for_m", "buy": 2, "pay": 5}, "pay"),
    ("unknown tier", pct(audience={"tiers": ["platinum"]}), "audience.tiers"),
    ("multiplier x1", {"id": "c1", "type": "points_multiplier", "multiplier_bps": 10000},
     "multiplier_bps"),
    ("multiplier above x10", {"id": "c1", "type": "points_multiplier",
                              "multiplier_bps": 100001}, "multiplier_bps"),
    ("empty stores", pct(stores=[]), "stores"),
    ("empty segments", pct(audience={"segments": []}), "audience.segments"),
    ("empty tiers", pct(audience={"tiers": []}), "audience.tiers"),
    ("empty codes", pct(coupon={"codes": []}), "coupon.codes"),
    ("empty components", {"id": "c1", "type": "bundle", "percent_bps": 1000,
                          "components": []}, "components"),
    ("empty target skus", tgt(skus=[]), "target.skus"),
    ("empty target categories", tgt(categories=[]), "target.categories"),
    ("empty exclude skus", tgt(exclude={"skus": []}), "target.exclude.skus"),
    ("empty exclude categories", tgt(exclude={"categories": []}),
     "target.exclude.categories"),
    ("hours start == end", pct(schedule={"hours": "10:00-10:00"}), "schedule.hours"),
    ("hours without minutes", pct(schedule={"hours": "18-21"}), "schedule.hours"),
    ("hours out of range", pct(schedule={"hours": "18:00-24:30"}), "schedule.hours"),
    ("unknown day", pct(schedule={"days": ["mon", "monday"]}), "schedule.days"),
    ("typo in a field", {"id": "c1", "type": "percent_off", "percent_bsp": 1000,
                         "percent_bps": 1000}, "percent_bsp"),
    ("typo in a nested field", pct(limits={"budjet": 100}), "limits.budjet"),
    ("until before from", pct(active={"from": "2026-03-02", "until": "2026-03-01"}),
     "active.until"),
    ("until equal to from", pct(active={"from": "2026-03-01", "until": "2026-03-01"}),
     "active.until"),
    ("active not a date", pct(active={"from": "next monday"}), "active.from"),
    ("threshold with both forms", {"id": "c1", "type": "threshold_discount",
                                   "min_amount": 0, "percent_bps": 1, "amount": 1},
     "percent_bps"),
]


@pytest.mark.parametrize(("case", "campaign", "field"), CAMPAIGN_ERRORS,
                         ids=[c[0] for c in CAMPAIGN_ERRORS])
def test_campaign_errors_name_file_campaign_and_field(case, campaign, field):
    assert_names(errors_for([campaign]), "c1", field)


def test_duplicate_campaign_ids_are_refused():
    assert_names(errors_for([pct(), pct(percent_bps=500)]), "c1", "id")


def test_a_coupon_code_given_to_two_campaigns_is_refused():
    errors = errors_for([pct(coupon={"codes": ["A", "B"]}),
                         pct(id="c2", coupon={"codes": ["C", "A"]})])
    assert_names(errors, "c2", "coupon.codes")
    assert any("'A'" in e and "c1" in e for e in errors)


@pytest.mark.parametrize("bad_id", ["Bad", "has space", "x" * 65, "", 7, None])
def test_campaign_id_must_match_the_pattern(bad_id):
    errors = errors_for([pct(id=bad_id)])
    # there is no valid id to name: the error names the campaign's position and the field
    assert any(SOURCE in e and "campaigns[0]" in e and "'id'" in e for e in errors), errors


@pytest.mark.parametrize(("fields", "field"), [
    ({"tiers": []}, "program.tiers"),
    ({"tiers": [{"name": "basic", "min_spend": 100, "rate_bps": 1}]},
     "program.tiers[0].min_spend"),
    ({"timezone": "Mars/Olympus"}, "program.timezone"),
    ({"restricted": []}, "program.restricted"),
    ({"max_line_discount_bps": 10001}, "program.max_line_discount_bps"),
    ({"acrual": {"rate_bps": 1}}, "program.acrual"),
])
def test_program_level_errors_name_the_file_and_field(fields, field):
    doc = program_dict([pct()], **fields)
    with pytest.raises(ProgramError) as exc:
        program_from_dict(doc, source=SOURCE)
    assert any(SOURCE in e and "program" in e and f"'{field}'" in e
               for e in exc.value.errors), exc.value.errors


def test_values_at_the_limits_are_accepted():
    doc = program_dict([
        {"id": "m-lo", "type": "points_multiplier", "multiplier_bps": 10001},
        {"id": "m-hi", "type": "points_multiplier", "multiplier_bps": 100000},
        {"id": "n", "type": "n_for_m", "buy": 3, "pay": 2},
        {"id": "night", "type": "percent_off", "percent_bps": 10000,
         "schedule": {"days": ["sun"], "hours": "23:59-00:00"}},
        {"id": "a_b-9", "type": "percent_off", "percent_bps": 1, "active": {"from": "2026-03-01"}},
        {"id": "x" * 64, "type": "amount_off", "amount": 1},
    ], tiers=TIERS)
    prog = program_from_dict(doc, source=SOURCE)
    assert len(prog.campaigns) == 6


def test_several_errors_are_reported_together():
    errors = errors_for([
        {"id": "c1", "type": "percent_off"},
        {"id": "c2", "type": "n_for_m", "buy": 2, "pay": 2},
        pct(id="c3", schedule={"days": ["funday"]}),
    ], timezone="Nowhere/Town")
    assert_names(errors, "c1", "percent_bps")
    assert_names(errors, "c2", "pay")
    assert_names(errors, "c3", "schedule.days")
    assert any("'program.timezone'" in e for e in errors)
    assert len(errors) == 4


def test_load_program_names_the_file_path(tmp_path):
    path = tmp_path / "chain.yaml"
    path.write_text(yaml.safe_dump(program_dict([{"id": "c9", "type": "bogus"}])))
    with pytest.raises(ProgramError) as exc:
        load_program(path)
    assert any(str(path) in e and "'c9'" in e and "'type'" in e for e in exc.value.errors)


# ----------------------------------------------------------------------------- CLI


def test_check_command_refuses_a_bad_file_with_exit_2_and_no_traceback(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(program_dict([
        {"id": "c1", "type": "n_for_m", "buy": 2, "pay": 3},
        {"id": "c2", "type": "points_multiplier", "multiplier_bps": 10000}])))
    assert main(["check", str(path)]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text
    assert str(path) in text and "'c1'" in text and "'pay'" in text
    assert "'c2'" in text and "'multiplier_bps'" in text


def test_check_command_on_a_broken_yaml_file_exits_2(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("program: {id: x\ncampaigns: [")
    assert main(["check", str(path)]) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and str(path) in out.err


@pytest.mark.parametrize("rel", ["tests/golden/program.yaml", "examples/retail-chain.yaml"])
def test_check_command_accepts_the_shipped_programs(rel, capsys):
    assert main(["check", str(ROOT / rel)]) == 0
    assert "OK" in capsys.readouterr().out
