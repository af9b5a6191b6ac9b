"""The program loader's bounds: every day count at most 3650, money and points within 2^53 - 1,
the file at most 1 MiB, no YAML alias bomb, and error messages that quote values only briefly;
each refusal names the file, the campaign and the field (spec section 4 and 7)."""

from __future__ import annotations

import copy

import pytest
import yaml
from rules_helpers import program_dict

from streamproc.cli import main
from streamproc.domain.program import MAX_DAYS, ProgramError, load_program, program_from_dict
from streamproc.domain.program_file import MAX_FILE_BYTES, MAX_NODES

SOURCE = "chain.yaml"
SAFE = 2**53 - 1
TIERS = [{"name": "basic", "min_spend": 0, "rate_bps": 100}]

PCT = {"id": "c1", "type": "percent_off", "percent_bps": 1000}
BONUS = {"id": "c1", "type": "bonus_points", "points": 5}
OFFER = {"id": "c1", "type": "next_purchase_offer", "min_amount": 0,
         "offer": {"type": "percent_off", "percent_bps": 500, "valid_days": 7}}


def _set(doc: dict, path: str, value: object) -> dict:
    doc = copy.deepcopy(doc)
    *head, last = path.split(".")
    node = doc
    for key in head:
        node = node.setdefault(key, {})
    node[last] = value
    return doc


def _prog(campaign: dict | None = None) -> dict:
    return program_dict([campaign] if campaign else [], tiers=TIERS)


# (document, path into it, field named in the error, campaign named or None, lo, hi)
DAY_FIELDS = [
    (_prog(), "program.accrual.activation_days", "program.accrual.activation_days", None),
    (_prog(), "program.accrual.expiry_days", "program.accrual.expiry_days", None),
    (_prog(), "program.returns.window_days", "program.returns.window_days", None),
    (_prog(), "program.notify.expiring_days_before", "program.notify.expiring_days_before",
     None),
    (_prog(BONUS), "campaigns.0.activation_days", "activation_days", "c1"),
    (_prog(BONUS), "campaigns.0.expiry_days", "expiry_days", "c1"),
    (_prog(OFFER), "campaigns.0.offer.valid_days", "offer.valid_days", "c1"),
    (_prog(PCT), "campaigns.0.audience.birthday_window_days", "audience.birthday_window_days",
     "c1"),
]
AMOUNT_FIELDS = [
    (_prog(), "program.redemption.min_payable", "program.redemption.min_payable", None),
    (_prog({"id": "c1", "type": "amount_off", "amount": 1}), "campaigns.0.amount", "amount",
     "c1"),
    (_prog({"id": "c1", "type": "fixed_price", "price": 1}), "campaigns.0.price", "price", "c1"),
    (_prog({"id": "c1", "type": "threshold_discount", "min_amount": 1, "amount": 1}),
     "campaigns.0.min_amount", "min_amount", "c1"),
    (_prog({"id": "c1", "type": "threshold_discount", "min_amount": 1, "amount": 1}),
     "campaigns.0.amount", "amount", "c1"),
    (_prog(BONUS), "campaigns.0.points", "points", "c1"),
    (_prog(BONUS), "campaigns.0.min_amount", "min_amount", "c1"),
    (_prog({"id": "c1", "type": "sku_points", "points_per_unit": 1}),
     "campaigns.0.points_per_unit", "points_per_unit", "c1"),
    (_prog(OFFER), "campaigns.0.min_amount", "min_amount", "c1"),
    (_prog(PCT), "campaigns.0.limits.per_receipt", "limits.per_receipt", "c1"),
    (_prog(PCT), "campaigns.0.limits.budget", "limits.budget", "c1"),
    (_prog(PCT), "campaigns.0.limits.per_customer", "limits.per_customer", "c1"),
    (_prog(PCT), "campaigns.0.priority", "priority", "c1"),
]


def _place(doc: dict, path: str, value: object) -> dict:
    if path.startswith("campaigns.0."):
        doc = copy.deepcopy(doc)
        doc["campaigns"][0] = _set(doc["campaigns"][0], path[len("campaigns.0."):], value)
        return doc
    return _set(doc, path, value)


def _errors(doc: dict) -> list[str]:
    with pytest.raises(ProgramError) as exc:
        program_from_dict(doc, source=SOURCE)
    return exc.value.errors


def _named(errors: list[str], field: str, campaign: str | None) -> None:
    scope = f"campaign '{campaign}'" if campaign else "program"
    assert any(e.startswith(f"{SOURCE}: {scope}: field '{field}'") for e in errors), errors


@pytest.mark.parametrize(("doc", "path", "field", "campaign"), DAY_FIELDS,
                         ids=[f[1] for f in DAY_FIELDS])
def test_day_counts_stop_at_ten_years(doc, path, field, campaign):
    program_from_dict(_place(doc, path, MAX_DAYS), source=SOURCE)  # the bound itself is fine
    for bad in (MAX_DAYS + 1, 9_999_999, 10**30):
        errors = _errors(_place(doc, path, bad))
        _named(errors, field, campaign)
        assert any(f"..{MAX_DAYS})" in e for e in errors), errors


@pytest.mark.parametrize(("doc", "path", "field", "campaign"), AMOUNT_FIELDS,
                         ids=[f[1] for f in AMOUNT_FIELDS])
def test_money_and_points_stay_within_2_53(doc, path, field, campaign):
    program_from_dict(_place(doc, path, SAFE), source=SOURCE)
    for bad in (SAFE + 1, 10**30):
        _named(_errors(_place(doc, path, bad)), field, campaign)


def test_tier_spend_stays_within_2_53():
    tiers = [*TIERS, {"name": "gold", "min_spend": SAFE + 1, "rate_bps": 200}]
    _named(_errors(program_dict([], tiers=tiers)), "program.tiers[1].min_spend", None)


def test_the_issue_example_expiry_of_9999999_days_is_refused():
    errors = _errors(_prog({**BONUS, "expiry_days": 9999999}))
    _named(errors, "expiry_days", "c1")


def test_quoted_values_are_cut_short():
    huge = "x" * 100_000
    errors = _errors(_prog({**PCT, "percent_bps": huge, "schedule": {"hours": huge},
                            huge: 1, "audience": {"tiers": [huge]}}) | {})
    assert len(errors) == 4
    assert all(len(e) < 400 for e in errors), [len(e) for e in errors]
    assert any("(100002 characters)" in e for e in errors)
    big = 10**5000
    errors = _errors(_prog({**PCT, "percent_bps": big}))
    assert all(len(e) < 400 for e in errors)
    _named(errors, "percent_bps", "c1")


def test_a_file_over_1_mib_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    text = yaml.safe_dump(_prog(PCT))
    path.write_text(text + "#" + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(ProgramError) as exc:
        load_program(path)
    assert exc.value.errors == [f"{path}: program: file is larger than {MAX_FILE_BYTES} bytes"]
    path.write_text(text + "#" + "x" * (MAX_FILE_BYTES - len(text) - 3) + "\n")
    assert load_program(path).campaigns[0].id == "c1"  # just under the cap


BOMB = """\
program: {id: t, timezone: UTC}
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_a_yaml_alias_bomb_is_refused(tmp_path, capsys):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    with pytest.raises(ProgramError) as exc:
        load_program(path)
    (msg,) = exc.value.errors
    assert msg.startswith(f"{path}: program: YAML expands to ") and "alias bomb" in msg
    assert main(["check", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_reasonable_anchors_still_work(tmp_path):
    """Anchors that share a target between campaigns expand to a few nodes: accepted."""
    path = tmp_path / "anchors.yaml"
    path.write_text("""\
program: {id: t, timezone: UTC}
campaigns:
  - {id: a, type: percent_off, percent_bps: 100, target: &dairy {categories: [dairy]}}
  - {id: b, type: amount_off, amount: 5, target: *dairy}
""")
    prog = load_program(path)
    assert [c.target.categories for c in prog.campaigns] == [("dairy",), ("dairy",)]
    assert MAX_NODES >= 10_000


def test_check_refuses_each_bound_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(_prog({**BONUS, "expiry_days": 9999999})))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "'c1'" in err and "'expiry_days'" in err
