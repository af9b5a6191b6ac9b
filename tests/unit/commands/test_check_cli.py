"""`streamproc check` shows a program in business terms, warns without failing, and places
each error at its file line with a "did you mean" for misspelt fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.cli import main
from streamproc.domain.program_describe import money, multiplier, percent

ROOT = Path(__file__).resolve().parents[3]
RETAIL = ROOT / "examples" / "retail-chain.yaml"


def test_numbers_in_words():
    assert percent(1500) == "15 %" and percent(150) == "1.5 %" and percent(1234) == "12.34 %"
    assert money(150000) == "1,500.00" and money(8990) == "89.90" and money(-5) == "-0.05"
    assert multiplier(20000) == "x2" and multiplier(15000) == "x1.5"


@pytest.mark.parametrize("form", [["check", str(RETAIL)], ["check", "--program", str(RETAIL)]])
def test_both_forms_show_business_terms(form, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping inside table cells
    assert main([*form, "--at", "2026-11-20"]) == 0
    out = capsys.readouterr().out
    for text in ("15 % off meat/fresh", "3 for the price of 2: dairy/yogurt",
                 "200.00 off baskets from 1,500.00 of household", "x2 points",
                 "budget 10,000,000.00", "2026-10-25 – 2026-11-30", "10 % held out",
                 "gold from 50,000.00 at 7 %", "pay up to 30 % of a basket"):
        assert text in out, text
    assert "0 errors" in out
    from streamproc.domain.program import load_program

    assert f"version {load_program(RETAIL).version}" in out


def test_warnings_do_not_fail(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    p = tmp_path / "p.yaml"
    p.write_text(
        "program:\n  id: shop\n  redemption: {max_share_bps: 0}\n"
        "campaigns:\n"
        "  - id: old\n    type: percent_off\n    percent_bps: 1500\n"
        "    active: {from: '2026-01-01', until: '2026-02-01'}\n"
        "  - id: later\n    type: percent_off\n    percent_bps: 150\n"
        "    active: {from: '2027-01-01'}\n"
        "  - id: codes\n    type: percent_off\n    percent_bps: 100\n"
        "    coupon: {codes: [A1, A1]}\n")
    assert main(["check", str(p), "--at", "2026-06-01"]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert f"{p}:3: program: field 'program.redemption.max_share_bps'" in out
    assert "redemption is disabled" in out
    assert f"{p}:8: campaign 'old': field 'active.until': the window ended (2026-01-01 – " \
        "2026-01-31)" in out
    assert f"{p}:12: campaign 'later': field 'active.from': the window has not started" in out
    assert f"{p}:16: campaign 'codes'" in out and "A1 more than once" in out
    assert "1.5 % off everything" in out and "3 warning" not in out and "4 warning(s)" in out


def test_errors_have_lines_and_suggestions(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text(
        "program:\n  id: shop\n  accrual: {rate_bps: 300, activaton_days: 3}\n"
        "campaigns:\n"
        "  - id: cheese\n    type: percent_off\n    percent_bps: 150\n"
        "    target: {categorys: [dairy/cheese]}\n"
        "  - id: bad\n    type: n_for_m\n    buy: 2\n    pay: 3\n")
    assert main(["check", "--program", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}:3: program: field 'program.accrual.activaton_days': unknown field " \
        "(did you mean 'activation_days'?)" in err
    assert f"{p}:8: campaign 'cheese': field 'target.categorys': unknown field " \
        "(did you mean 'categories'?)" in err
    assert f"{p}:12: campaign 'bad': field 'pay'" in err


def test_check_needs_one_program(capsys):
    assert main(["check"]) == 2
    assert main(["check", str(RETAIL), "--program", "other.yaml"]) == 2
    assert "one program file" in capsys.readouterr().err
