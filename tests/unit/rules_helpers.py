"""Small builders for the rule tests: a program dict, raw receipts, and a runner over memory.

Every rule test builds a tiny program inline, sends a few raw receipts through
`Processor(program, ReferenceEngine(program))` over a `MemoryState`, and checks the numbers the
spec's rule gives by hand. Each receipt also goes through the compiled `FastProcessor` on a
copy of the state as it was, which must give the same outcome and leave the same state (so
every rule test is a differential test of the compiled processor too). Default program: UTC,
no points (rate 0), points active at once and never expiring, redemption up to 100 % with
nothing payable in money, 30-day returns window.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from streamproc.domain.program import Program, program_from_dict
from streamproc.domain.receipt import Profile
from streamproc.engine.processor import Outcome, Processor, make_processor
from streamproc.engine.reference import ReferenceEngine
from streamproc.engine.selection import load_fast_engine
from streamproc.engine.stateformat import encode_state
from streamproc.state.memory import MemoryState

# 2026-01-05 is a Monday; "day N" below means N days after its midnight (UTC).
BASE = datetime(2026, 1, 5, tzinfo=UTC)


def at(day: float = 0, hh: int = 12, mm: int = 0, ss: int = 0) -> str:
    """ISO timestamp (UTC offset) of `day` days after Monday 2026-01-05, at hh:mm:ss."""
    dt = BASE + timedelta(days=day, hours=hh, minutes=mm, seconds=ss)
    return dt.isoformat()


def program_dict(campaigns: list[dict] | None = None, **fields: Any) -> dict:
    """A program document; keyword fields replace the program's top-level sections."""
    prog: dict[str, Any] = {
        "id": "t",
        "timezone": "UTC",
        "accrual": {"rate_bps": 0, "on_redeemed": False, "activation_days": 0,
                    "expiry_days": None},
        "redemption": {"max_share_bps": 10000, "min_payable": 0},
        "returns": {"window_days": 30},
    }
    prog.update(fields)
    return {"program": prog, "campaigns": list(campaigns or [])}


def accrual(rate_bps: int = 0, on_redeemed: bool = False, activation_days: int = 0,
            expiry_days: int | None = None) -> dict:
    return {"rate_bps": rate_bps, "on_redeemed": on_redeemed,
            "activation_days": activation_days, "expiry_days": expiry_days}


def line(no: int, unit_price: int, qty: int = 1, sku: str | None = None,
         category: str = "grocery") -> dict:
    return {"line_no": no, "sku": sku or f"sku{no}", "category": category, "qty": qty,
            "unit_price": unit_price}


def sale(rid: str, cid: str | None, ts: str, lines: list[dict], **kw: Any) -> bytes:
    """A raw sale message; `kw` adds fields such as redeem, coupons, store_id."""
    msg: dict[str, Any] = {"receipt_id": rid, "ts": ts, "lines": lines, **kw}
    if cid is not None:
        msg["customer_id"] = cid
    return orjson.dumps(msg)


def ret(rid: str, cid: str | None, ts: str, original: str,
        lines: list[tuple[int, int]]) -> bytes:
    """A raw return of (line_no, qty) pairs of sale `original`."""
    msg: dict[str, Any] = {"receipt_id": rid, "ts": ts, "kind": "return",
                           "original_receipt_id": original,
                           "lines": [{"line_no": n, "qty": q} for n, q in lines]}
    if cid is not None:
        msg["customer_id"] = cid
    return orjson.dumps(msg)


class Engine:
    """A program, a reference processor and a fresh in-memory state."""

    def __init__(self, doc: dict, profiles: list[Profile] | None = None) -> None:
        self.program: Program = program_from_dict(doc)
        self.processor = Processor(self.program, ReferenceEngine(self.program))
        self.state = MemoryState()
        self.fast = make_processor(self.program, load_fast_engine(self.program))
        for p in profiles or []:
            self.state.put_profile(p)

    def send(self, raw: bytes | str) -> Outcome:
        fast_state = copy.deepcopy(self.state)  # as the tests (and timers) left it
        o = self.processor.process_raw(raw, self.state)
        f = self.fast.process_raw(raw, fast_state)
        assert (f.status, f.reject, f.events) == (o.status, o.reject, o.events)
        if o.result is not None:
            assert f.result_json() == o.result_json()
        assert _state(fast_state) == _state(self.state)
        return o

    def send_all(self, raws: list[bytes]) -> list[Outcome]:
        return [self.send(r) for r in raws]


def _state(s: MemoryState) -> dict:
    return {"customers": {k: encode_state(v) for k, v in s.customers.items()},
            "receipts": {k: v.to_obj() for k, v in s.receipts.items()},
            "budgets": s.budgets, "coupons": s.coupons, "exhausted": s.exhausted}


def run(doc: dict, receipts: list[bytes], profiles: list[Profile] | None = None
        ) -> list[Outcome]:
    """Each receipt through a fresh engine over one MemoryState, in order."""
    return Engine(doc, profiles).send_all(receipts)


def one(doc: dict, receipt: bytes, profiles: list[Profile] | None = None) -> dict:
    """The result of a single receipt (asserts it was applied)."""
    o = run(doc, [receipt], profiles)[0]
    assert o.status == "applied", o.reject
    return orjson.loads(o.result_json())  # the section 6 JSON as it is sent


def res(o: Outcome) -> dict:
    assert o.status == "applied", o.reject
    return orjson.loads(o.result_json())  # the section 6 JSON as it is sent


def discounts(result: dict) -> list[int]:
    """Each line's discount, by ascending line_no."""
    return [ln["discount"] for ln in result["lines"]]


def applied(result: dict) -> dict[tuple[str, str], int]:
    """{(campaign_id, kind): amount} of a result's `applied` list."""
    return {(a["campaign_id"], a["kind"]): a["amount"] for a in result["applied"]}


def event_types(o: Outcome | dict) -> list[str]:
    events = o.events if isinstance(o, Outcome) else o["events"]
    return [e["type"] for e in events]


def balance(result: dict) -> tuple[int, int] | None:
    b = result["balance"]
    return None if b is None else (b["active"], b["pending"])


def percent_off(cid: str, percent_bps: int, target: dict | None = None, **kw: Any) -> dict:
    c = {"id": cid, "type": "percent_off", "percent_bps": percent_bps, **kw}
    if target is not None:
        c["target"] = target
    return c
