"""The standard engine workload: the retail-chain program and receipts of 1, 8 and 40 lines.

Receipts are deterministic (seeded): SKUs and categories hit the program's targets (promotion
SKUs, category prefixes, restricted tobacco and alcohol), most receipts belong to customers
with tiers, balances, segments, birthdays and personal offers, some are anonymous, some carry
coupon codes and ask to pay with points.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import orjson

from streamproc.domain.program import Program, load_program
from streamproc.domain.receipt import Receipt, receipt_from_obj
from streamproc.engine.calc import SaleContext
from streamproc.state.memory import MemoryState

ROOT = Path(__file__).resolve().parents[1]
PROGRAM_PATH = ROOT / "examples" / "retail-chain.yaml"
LINE_COUNTS = (1, 8, 40)
CATEGORIES = [
    "dairy/cheese", "dairy/cheese/hard", "dairy/yogurt", "dairy/milk", "meat/sausage",
    "meat/fresh", "bakery", "bakery/bread", "produce", "produce/fruit", "drinks/water",
    "drinks/coffee", "alcohol", "alcohol/wine", "household", "baby", "pets", "pets/food",
    "sport", "food/sport-nutrition", "tobacco", "grocery/cereal", "frozen",
]
SEGMENTS = ["parents", "pets", "students", "sport"]


@dataclass
class Workload:
    program: Program
    raws: list[bytes]
    receipts: list[Receipt]
    contexts: list[SaleContext]


def _program_skus(program: Program) -> list[str]:
    skus: set[str] = set()
    for c in program.campaigns:
        for t in [c.target, *(comp.target for comp in c.components),
                  *([c.offer.target] if c.offer else [])]:
            skus |= set(t.skus or ())
    return sorted(skus)


def load_workload(lines: int, n: int = 2000, seed: int = 7,
                  program_path: Path = PROGRAM_PATH) -> Workload:
    program = load_program(program_path)
    rnd = random.Random(seed * 1000 + lines)
    skus = _program_skus(program) + [f"46{k:05d}" for k in range(400)]
    codes = [code for c in program.campaigns for code in c.coupon_codes] + ["NOPE1"]
    budgeted = [c for c in program.campaigns if c.budget is not None]
    offer_ids = [c.id for c in program.campaigns if c.offer is not None]
    tz = timezone(timedelta(hours=3))
    start = datetime(2026, 11, 2, 8, 0, tzinfo=tz)
    raws, receipts, contexts = [], [], []
    for i in range(n):
        ts = start + timedelta(minutes=rnd.randrange(0, 60 * 24 * 27))
        anon = rnd.random() < 0.15
        msg: dict = {
            "receipt_id": f"S{rnd.randrange(1, 60):03d}-T{i:07d}",
            "store_id": f"S{rnd.randrange(1, 60):03d}",
            "ts": ts.isoformat(),
            "lines": [{"line_no": k + 1, "sku": rnd.choice(skus),
                       "category": rnd.choice(CATEGORIES), "qty": rnd.choice([1, 1, 1, 2, 3, 6]),
                       "unit_price": rnd.randrange(1000, 300000)} for k in range(lines)],
        }
        if not anon:
            msg["customer_id"] = f"C{rnd.randrange(1, 100000):06d}"
            if rnd.random() < 0.2:
                msg["redeem"] = rnd.randrange(0, 50000)
        if rnd.random() < 0.1:
            msg["coupons"] = rnd.sample(codes, 2)
        raw = orjson.dumps(msg)
        r = receipt_from_obj(orjson.loads(raw))
        budget_left = {c.id: c.budget // 2 for c in budgeted}  # type: ignore[operator]
        if anon:
            ctx = SaleContext(None, budget_left=budget_left)
        else:
            ts_us = r.ts_us
            offers = {}
            for cid in offer_ids:
                if rnd.random() < 0.3:
                    offers[cid] = (ts_us - 86_400_000_000, ts_us + 86_400_000_000 * 3,
                                   rnd.choice([None, 1, 2]))
            ctx = SaleContext(
                r.customer_id, tier=rnd.randrange(0, max(1, len(program.tiers))),
                active_balance=rnd.randrange(0, 100000), has_sale=rnd.random() < 0.9,
                birthday=date(1990, 11, rnd.randrange(1, 30)) if rnd.random() < 0.5 else None,
                segments=frozenset(rnd.sample(SEGMENTS, rnd.randrange(0, 3))),
                uses={c.id: 1 for c in program.campaigns[:3]}, offers=offers,
                budget_left=budget_left, used_codes=frozenset(codes[:1]),
            )
        raws.append(raw)
        receipts.append(r)
        contexts.append(ctx)
    return Workload(program, raws, receipts, contexts)


def process_all(proc, raws: list[bytes]) -> None:
    """The whole receipt as the worker and the replay run it: a fresh in-memory state, every
    raw message through the processor (the compiled one a batch at a time)."""
    state = MemoryState()
    many = getattr(proc, "process_many", None)
    if many is not None:
        many(raws, state)
    else:
        for raw in raws:
            proc.process_raw(raw, state)
