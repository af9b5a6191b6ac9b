"""The compiled replay loop (`_fastcalc.ReplayLoop`, a chunk of messages a call) writes exactly
what the per-message loop (`Replay.step`) writes, on loadgen workloads: profiles, returns,
duplicates, bad lines, coupons, redemptions and timers (short activation and expiry so they
fire), the clean-up of old receipt records and chunk boundaries included. Three runs of one
stream: the reference processor, the compiled processor through `step`, and through the
chunks; results, events, rejects, the final state and the run report must be identical.
(tests/unit/engine/test_processor_stream.py runs random streams through both paths too.)"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from streamproc.domain.program import program_from_dict
from streamproc.engine.selection import make_engine
from streamproc.engine.stateformat import encode_state
from streamproc.replay import in_memory
from streamproc.replay.in_memory import Replay, Sinks
from streamproc.tools.loadgen import LoadgenConfig, customer_messages, generate_messages

ROOT = Path(__file__).resolve().parents[3]
RETAIL = ROOT / "examples" / "retail-chain.yaml"


def _program(short_timers: bool):
    doc = yaml.safe_load(RETAIL.read_text())
    if short_timers:  # activations, expiry notices and expiries within the month
        doc["program"]["accrual"].update(activation_days=1, expiry_days=4)
        doc["program"]["notify"] = {"expiring_days_before": 2}
        doc["program"]["returns"] = {"window_days": 2}  # the records' clean-up drops some
        for c in doc["campaigns"]:
            if c.get("expiry_days"):
                c["expiry_days"] = 3
    return program_from_dict(doc)


def _run(program, engine: str, msgs, profiles: Path, path: str) -> tuple:
    replay = Replay(program, make_engine(program, engine))
    out, ev, rej = io.BytesIO(), io.BytesIO(), io.BytesIO()
    replay.load_profiles(profiles, rej)
    if path == "step":
        replay.loop = None  # the per-message loop, over the same compiled processor
    assert (replay.loop is not None) == (path == "chunks")
    replay.run(iter(msgs), "w", Sinks(out, ev, rej))
    st = replay.state
    final = {
        "customers": {k: encode_state(v) for k, v in st.customers.items()},
        "stored": {k: st.receipts.stored(k) for k in st.receipts},
        "budgets": dict(st.budgets), "coupons": dict(st.coupons),
        "exhausted": sorted(st.exhausted), "clock": replay.clock_us,
        "timer_failures": replay.timers.failures,
    }
    report = replay.report.to_dict()
    del report["seconds"]
    # the report's JSON keeps the counters' order: compare it as written
    return out.getvalue(), ev.getvalue(), rej.getvalue(), final, list(report.items())


@pytest.mark.parametrize(("seed", "short_timers"), [(3, True), (8, False)])
def test_chunks_write_what_the_message_loop_writes(tmp_path, monkeypatch, seed, short_timers):
    cfg = LoadgenConfig(seed=seed, receipts=3000, customers=150, days=30, bad_share_bps=300,
                        duplicate_share_bps=300, return_share_bps=600)
    profiles = tmp_path / "c.jsonl"
    profiles.write_bytes(b"".join(v + b"\n" for _, v in customer_messages(cfg)))
    # line numbers 25 apart: the records' clean-up (every 50,000th line) runs within the run
    msgs = [(25 * i, v) for i, (_, v) in enumerate(generate_messages(cfg), 1)]
    monkeypatch.setattr(in_memory, "FREEZE_EVERY", 700)  # chunks: 700, 700, ..., 200
    program = _program(short_timers)
    want = _run(program, "reference", msgs, profiles, "reference")
    step = _run(program, "compiled", msgs, profiles, "step")
    got = _run(program, "compiled", msgs, profiles, "chunks")
    assert want[0].count(b"\n") > 2000 and want[2].count(b"\n") > 5  # results, rejects
    if short_timers:
        assert b"points_expired" in want[1] and b"points_expiring_soon" in want[1]
    assert b"points_activated" in want[1]
    if short_timers:  # old records were dropped
        applied = dict(want[4])["receipts_by_status"]["applied"]
        assert len(want[3]["stored"]) < applied // 2
    for a, b, c, what in zip(want, step, got, ("results", "events", "rejects", "state",
                                               "report"), strict=True):
        assert b == a, f"{what}: per-message compiled loop differs from the reference"
        assert c == a, f"{what}: compiled chunks differ from the reference"


def test_the_loops_view_is_the_memory_state():
    """`_fastcalc.MemView` (the compiled loop's view of a MemoryState) answers every
    `StateView` call as the state does, and its writes land in the state."""
    from streamproc._fastcalc import MemView
    from streamproc.domain.receipt import Profile
    from streamproc.engine.model import ReceiptRecord
    from streamproc.engine.stateview import StateView
    from streamproc.state.memory import MemoryState

    wanted = {n for n in vars(StateView) if not n.startswith("_")} | {"put_receipt_blob"}
    assert wanted <= {n for n in dir(MemView) if not n.startswith("_")}
    a, b = MemoryState(), MemoryState()
    v = MemView(b, b.receipts.raw())
    for s in (a, b):
        s.put_profile(Profile("C1", None, frozenset({"x"})))
    for s in (a, v):
        s.add_budget_spent("c", 5)
        s.add_budget_spent("c", 7)
        s.use_coupon("K", "R1")
        s.note_exhausted("c")
        s.put_receipt_blob("R1", 10, b'["C1",10,"sale",[],[],"o"]')
        s.put_receipt(ReceiptRecord("R2", "C1", 11, "return", [], [], None))
        s.customer("C2").sales = 3
    for name, args in [("customer", ("C2",)), ("customer", ("C3",)), ("profile", ("C1",)),
                       ("profile", ("C9",)), ("receipt", ("R1",)), ("receipt", ("R2",)),
                       ("receipt", ("R9",)), ("budget_spent", ("c",)), ("budget_spent", ("d",)),
                       ("coupon_used", ("K",)), ("coupon_used", ("L",)),
                       ("exhausted_noted", ("c",)), ("exhausted_noted", ("d",)),
                       ("stored_output", ("R1",))]:
        assert getattr(v, name)(*args) == getattr(a, name)(*args), name
    assert v.budgets_left([("c", 20), ("d", 3)]) == {"c": 8, "d": 3}
    assert (b.customers, b.budgets, b.coupons, b.exhausted) == \
        (a.customers, a.budgets, a.coupons, a.exhausted)
    assert {k: b.receipts.stored(k) for k in b.receipts} == \
        {k: a.receipts.stored(k) for k in a.receipts}
