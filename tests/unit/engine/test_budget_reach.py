"""`BudgetReach`: a receipt it says no budget can reach gets the same calculation whatever the
budgets hold (the quote server skips reading them for it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rules_helpers import at, line, program_dict, ret, sale

from streamproc.domain.program import load_program, program_from_dict
from streamproc.domain.receipt import Reject, parse_receipt
from streamproc.engine.budget_reach import MAX_REMEMBERED, BudgetReach
from streamproc.engine.processor import Processor
from streamproc.engine.reference import ReferenceEngine
from streamproc.engine.selection import load_fast_engine
from streamproc.state.memory import MemoryState
from streamproc.tools.loadgen import LoadgenConfig, generate_messages

PROGRAM = Path(__file__).parents[3] / "examples" / "retail-chain.yaml"

CAMPAIGNS = [
    {"id": "dairy10", "type": "percent_off", "percent_bps": 1000,
     "target": {"categories": ["dairy"]}, "limits": {"budget": 100_000}},
    {"id": "set", "type": "bundle", "percent_bps": 1000, "limits": {"budget": 100_000},
     "components": [{"target": {"categories": ["a"]}, "qty": 1},
                    {"target": {"skus": ["b1"]}, "qty": 1}]},
    {"id": "npo", "type": "next_purchase_offer", "target": {"categories": ["sport"]},
     "min_amount": 1000, "limits": {"budget": 100_000},
     "offer": {"type": "percent_off", "target": {"categories": ["food"]},
               "percent_bps": 1000, "valid_days": 10}},
    {"id": "all5", "type": "percent_off", "percent_bps": 500},  # no budget: never counts
]


def _reach(lines: list[dict], campaigns: list[dict] = CAMPAIGNS) -> bool:
    program = program_from_dict(program_dict(campaigns))
    return BudgetReach(program).touches(parse_receipt(sale("R1", "K1", at(), lines)))


def test_a_line_in_any_target_of_a_budgeted_campaign_reaches_its_budget():
    assert _reach([line(1, 100, category="dairy/milk")])  # a subcategory of the target
    assert _reach([line(1, 100, category="a")])  # a bundle component's target
    assert _reach([line(1, 100, sku="b1", category="x")])  # ... by SKU
    assert _reach([line(1, 100, category="food")])  # a personal offer's target
    assert _reach([line(1, 100, category="grocery"), line(2, 100, category="dairy")])


def test_lines_outside_every_budgeted_target_reach_no_budget():
    assert not _reach([line(1, 100, category="grocery"), line(2, 100, category="dairyx")])
    assert not _reach([line(1, 100, category="b")])  # a bundle's own target is any line
    assert not _reach([line(1, 5000, category="sport")])  # issuing an offer costs no budget
    assert not _reach([line(1, 100, category="dairy")], CAMPAIGNS[3:])  # no budgeted campaign


def test_a_return_reaches_no_budget():
    program = program_from_dict(program_dict(CAMPAIGNS))
    r = parse_receipt(ret("R2", "K1", at(1), "R1", [(1, 1)]))
    assert not BudgetReach(program).touches(r)


def test_the_remembered_lines_stay_bounded():
    program = program_from_dict(program_dict(CAMPAIGNS))
    reach = BudgetReach(program)
    for i in range(MAX_REMEMBERED + 10):
        r = parse_receipt(sale(f"R{i}", "K1", at(), [line(1, 100, sku=f"s{i}")]))
        assert not reach.touches(r)
    assert len(reach._seen) <= MAX_REMEMBERED
    assert reach.touches(parse_receipt(sale("R", "K1", at(), [line(1, 1, category="dairy")])))


def test_on_the_standard_workload_budgets_matter_only_where_reach_says():
    """Every sale of a generated month, with its customer's state as the stream has it: the
    calculation with the budgets full and with them spent differs only on receipts the reach
    flags, and on those it does differ somewhere (the check can fail)."""
    program = load_program(PROGRAM)
    reach = BudgetReach(program)
    proc = Processor(program, ReferenceEngine(program))
    engines = [ReferenceEngine(program), load_fast_engine(program)]
    full = {c.id: c.budget for c in program.campaigns if c.budget is not None}
    spent = dict.fromkeys(full, 0)
    state = MemoryState()
    flagged = differed = quiet = 0
    cfg = LoadgenConfig(seed=5, receipts=3000, customers=400, days=10)
    for _, raw in generate_messages(cfg):
        try:
            r = parse_receipt(raw)
        except Reject:
            continue
        if r.kind == "sale":
            st = state.customers.get(r.customer_id) if r.customer_id else None
            ctx = proc.context(r, st, state)
            for engine in engines:
                a = engine.calc_sale(r, dataclasses.replace(ctx, budget_left=dict(full)))
                b = engine.calc_sale(r, dataclasses.replace(ctx, budget_left=dict(spent)))
                if reach.touches(r):
                    differed += a != b
                else:
                    assert a == b, r.receipt_id
                    assert not (a.budget_spent or a.budget_exhausted or b.budget_exhausted)
                    quiet += 1
            flagged += reach.touches(r)
        proc.process(r, state, raw)
    assert flagged and quiet and differed, (flagged, quiet, differed)
