"""Whole streams through both processors: the compiled `FastProcessor` must do exactly what the
readable `Processor` + reference engine does.

Random programs (every campaign type, budgets, single-use coupons, offers, tiers, restricted
categories, expiry and expiry notices) x random streams (sales, returns, duplicates, coupons,
redemptions, late tills, days-long gaps so timers fire, profiles) are replayed in memory
(`replay.in_memory.Replay`, timers on the replay clock) once per processor. Results, events
(receipt and timer), rejects and the final state (customers in the packed format, receipt
records, budgets, coupons, exhausted campaigns) must be byte-identical.
"""

from __future__ import annotations

import io

import orjson
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_engine_differential import SETTINGS, profiles, programs, streams

from streamproc.domain.program import ProgramError, program_from_dict
from streamproc.engine.processor import Processor, make_processor
from streamproc.engine.reference import ReferenceEngine
from streamproc.engine.selection import load_fast_engine
from streamproc.engine.stateformat import encode_state
from streamproc.replay.in_memory import Replay, Sinks
from streamproc.state.memory import MemoryState


def run(program, engine, msgs: list[bytes], profs) -> tuple[bytes, bytes, bytes, dict]:
    state = MemoryState()
    for p in profs:
        state.put_profile(p)
    replay = Replay(program, engine, state)
    out, ev, rej = io.BytesIO(), io.BytesIO(), io.BytesIO()
    replay.run(enumerate(msgs, 1), "s", Sinks(out, ev, rej))
    final = {
        "customers": {k: encode_state(v) for k, v in state.customers.items()},
        "receipts": {k: v.to_obj() for k, v in state.receipts.items()},
        # as kept: the compiled processor writes a sale's record bytes itself
        "stored": {k: state.receipts.stored(k) for k in state.receipts},
        "budgets": dict(state.budgets), "coupons": dict(state.coupons),
        "exhausted": sorted(state.exhausted),
        "report": {k: v for k, v in replay.report.to_dict().items() if k != "seconds"},
    }
    return out.getvalue(), ev.getvalue(), rej.getvalue(), final


@st.composite
def stream_cases(draw: st.DrawFn) -> tuple[dict, list[bytes], list]:
    doc = draw(programs())
    if draw(st.booleans()):
        doc["program"]["notify"] = {"expiring_days_before": draw(st.integers(1, 5))}
    msgs = draw(streams(len(doc["campaigns"])))
    if draw(st.booleans()):  # the same stream again, days later: expiries, timers, late tills
        shift = draw(st.sampled_from([2, 9, 31]))
        for raw in list(msgs):
            m = orjson.loads(raw) if raw.startswith(b"{") else None
            if not isinstance(m, dict) or not isinstance(m.get("ts"), str):
                continue
            m["receipt_id"] = f"{m.get('receipt_id')}x{shift}"
            if m.get("original_receipt_id"):
                m["original_receipt_id"] = f"{m['original_receipt_id']}x{shift}"
            day = int(m["ts"][8:10]) + shift
            month = int(m["ts"][5:7])
            while day > 28:
                day -= 28
                month += 1
            m["ts"] = f"{m['ts'][:5]}{month:02d}-{day:02d}{m['ts'][10:]}"
            msgs.append(orjson.dumps(m))
    return doc, msgs, draw(profiles())


@settings(max_examples=500, **SETTINGS)
@given(case=stream_cases())
def test_stream_differential(case) -> None:
    doc, msgs, profs = case
    try:
        program = program_from_dict(doc)
    except ProgramError:  # the shared strategy draws amounts past the program's bounds
        assume(False)
        return
    fast = load_fast_engine(program)
    assert type(make_processor(program, fast)).__name__ == "FastProcessor"
    assert type(make_processor(program, ReferenceEngine(program))) is Processor
    want = run(program, ReferenceEngine(program), msgs, profs)
    got = run(program, fast, msgs, profs)
    assert got[0] == want[0]  # results
    assert got[1] == want[1]  # events, receipt and timer
    assert got[2] == want[2]  # rejects
    assert got[3] == want[3]  # final state and report
