"""`streamproc explain`: every campaign gets a verdict and a reason; what it says applied is
exactly the real result's `applied` (compiled engine), over a generated month; each kind of
reason shows up where the spec says it must."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from streamproc.cli import main
from streamproc.domain.fnv import holdout_bucket
from streamproc.domain.program import load_program, program_from_dict
from streamproc.engine.explain import explain
from streamproc.engine.selection import make_decoder, make_engine
from streamproc.state.memory import MemoryState
from streamproc.tools.loadgen import LoadgenConfig, generate_messages

ROOT = Path(__file__).resolve().parents[3]
RETAIL = ROOT / "examples" / "retail-chain.yaml"
FALLBACK = "its conditions held but it gave nothing"


@pytest.mark.parametrize("engine", ["compiled", "reference"])
def test_explanations_match_results_over_a_month(engine):
    program = load_program(RETAIL)
    eng = make_engine(program, engine)
    decode = make_decoder(engine)
    state = MemoryState()
    reasons: Counter = Counter()
    n = 0
    for _, raw in generate_messages(LoadgenConfig(seed=3, receipts=1500, customers=200)):
        try:
            receipt = decode(raw)
        except Exception:
            continue
        outcome, verdicts = explain(program, eng, receipt, state, raw)
        assert {v.campaign_id for v in verdicts} == {c.id for c in program.campaigns}
        r = outcome.result
        if outcome.status != "applied" or receipt.kind == "return":
            continue
        n += 1
        applied = {a.campaign_id for a in r.applied} - {"base"}
        said = {v.campaign_id for v in verdicts if v.verdict == "applied"
                and v.reason != "issued its personal offer"}
        assert said == applied, receipt.receipt_id
        assert {v.campaign_id for v in verdicts if v.verdict == "held out"} == set(r.held_out)
        for v in verdicts:
            if v.verdict == "applied":
                amounts = [a.amount for a in r.applied if a.campaign_id == v.campaign_id]
                assert v.discount + v.points == sum(amounts) or not amounts
            reasons[v.reason.split(":")[0] if ":" in v.reason else v.reason[:30]] += 1
    assert n > 1000
    for kind in ("window", "schedule", "store", "audience", "coupon",
                 "no line on the receipt is in its target", "holdout"):
        assert any(k.startswith(kind[:30]) for k in reasons), (kind, reasons)
    assert reasons[FALLBACK[:30]] < n // 20, reasons  # nearly every miss is named


def _sale(rid, cid, lines, ts="2026-11-02T12:00:00+03:00", **kw):
    return orjson.dumps({"receipt_id": rid, "customer_id": cid, "store_id": "S1", "ts": ts,
                         "lines": [{"line_no": i + 1, "sku": s, "category": c, "qty": q,
                                    "unit_price": p} for i, (s, c, q, p) in enumerate(lines)],
                         **kw})


def _why(program, state, raw):
    receipt = make_decoder("reference")(raw)
    _, vs = explain(program, make_engine(program, "reference"), receipt, state, raw)
    return {v.campaign_id: (v.verdict, v.reason) for v in vs}


def test_each_reason():
    held = next(f"K{i}" for i in range(1000) if holdout_bucket("ho", f"K{i}") < 5000)
    free = next(f"K{i}" for i in range(1000) if holdout_bucket("ho", f"K{i}") >= 5000)
    program = program_from_dict({
        "program": {"id": "p", "timezone": "Europe/Moscow", "max_line_discount_bps": 5000,
                    "accrual": {"rate_bps": 100}},
        "campaigns": [
            {"id": "excl", "type": "percent_off", "priority": 50, "exclusive": True,
             "percent_bps": 5000, "target": {"categories": ["a"]}},
            {"id": "after-excl", "type": "percent_off", "priority": 40, "percent_bps": 1000,
             "target": {"categories": ["a"]}},
            {"id": "capped", "type": "percent_off", "priority": 30, "percent_bps": 6000,
             "target": {"categories": ["b"]}},
            {"id": "capped-2", "type": "percent_off", "priority": 20, "percent_bps": 1000,
             "target": {"categories": ["b"]}},
            {"id": "ho", "type": "percent_off", "priority": 10, "percent_bps": 1000,
             "holdout_bps": 5000, "target": {"categories": ["c"]}},
            {"id": "budget", "type": "percent_off", "priority": 5, "percent_bps": 1000,
             "limits": {"budget": 50}, "target": {"categories": ["c"]}},
            {"id": "once", "type": "bonus_points", "points": 100,
             "limits": {"per_customer": 1}},
            {"id": "code", "type": "percent_off", "percent_bps": 100,
             "coupon": {"codes": ["X1"]}},
            {"id": "big", "type": "threshold_discount", "min_amount": 10_000_000,
             "amount": 100},
        ]})
    state = MemoryState()
    w = _why(program, state, _sale("R1", held, [("s1", "a", 1, 1000), ("s2", "b", 1, 1000),
                                                ("s3", "c", 1, 1000)]))
    assert w["excl"][0] == "applied"
    assert w["after-excl"][1].startswith("exclusive")
    assert w["capped"][0] == "applied" and w["capped-2"][1].startswith("line cap")
    assert w["ho"] == ("held out", w["ho"][1]) and w["ho"][1].startswith("holdout")
    assert w["budget"][1].startswith("budget")  # 10 % of 1000 = 100 > 50
    assert w["once"][0] == "applied"
    assert w["code"][1].startswith("coupon")
    assert w["big"][1].startswith("its lines come to")
    w = _why(program, state, _sale("R2", held, [("s3", "c", 1, 100)], coupons=["X1"]))
    assert w["once"][1].startswith("per-customer limit: used 1 of 1")
    assert w["code"][0] == "applied"
    assert w["budget"][0] == "applied"  # 10 fits what is left
    w = _why(program, state, _sale("R3", free, [("s3", "c", 1, 1000)]))
    assert w["ho"][0] == "applied"
    w = _why(program, state, _sale("R4", None, [("s3", "c", 1, 1000)]))
    assert w["once"][1].startswith("audience: points never go to an anonymous receipt")


def test_cli_json_and_table(capsys):
    raw = next(v for _, v in generate_messages(LoadgenConfig(seed=1, receipts=20)))
    assert main(["explain", "--program", str(RETAIL), "--receipt", raw.decode(),
                 "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["program_version"] == load_program(RETAIL).version
    assert len(doc["campaigns"]) == 32
    assert main(["explain", "--program", str(RETAIL), "--receipt", raw.decode()]) == 0
    assert "verdict" in capsys.readouterr().out
    assert main(["explain", "--program", str(RETAIL), "--receipt", "{\"x\": 1}"]) == 1
