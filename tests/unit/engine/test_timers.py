"""Timer events (spec section 6): points_activated, points_expiring_soon and points_expired,
each once per bucket, with deterministic ids, fired by `timers.fire_due` or by a `Replay` on the
latest receipt time read -- and never changing what a receipt computes.
"""

from __future__ import annotations

import io

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from rules_helpers import Engine, accrual, at, line, program_dict, res, ret, sale

from streamproc.domain.program import program_from_dict
from streamproc.domain.timeutil import US_PER_DAY, parse_ts
from streamproc.engine.reference import ReferenceEngine
from streamproc.engine.timers import fire_due
from streamproc.replay.in_memory import Replay, Sinks

# 10 % points, pending 5 days, then active 30 days; a notice 10 days before expiry
DOC = program_dict(accrual=accrual(rate_bps=1000, activation_days=5, expiry_days=30),
                   notify={"expiring_days_before": 10})


def us(ts: str) -> int:
    return parse_ts(ts)


def one_bucket() -> Engine:
    """K1 with one bucket of 100 points made at day 0 12:00: active at day 5, notice at
    day 25 (35 - 10), expired at day 35."""
    e = Engine(DOC)
    res(e.send(sale("S1", "K1", at(0), [line(1, 1000)])))
    return e


def fire(e: Engine, ts: str, cid: str = "K1") -> list[tuple[str, int, int]]:
    """(type, amount, event time) of what fires for `cid` by `ts`."""
    evs = fire_due(e.state.customers[cid], e.program, us(ts))
    return [(ev["type"], ev["amount"], us(ev["ts"])) for ev in evs]


def test_each_transition_fires_at_its_time_once_per_bucket():
    e = one_bucket()
    assert fire(e, at(4, 23, 59, 59)) == []
    assert fire(e, at(5)) == [("points_activated", 100, us(at(5)))]
    assert fire(e, at(5)) == []                   # fired again: nothing new
    assert fire(e, at(24, 23, 59, 59)) == []
    assert fire(e, at(25)) == [("points_expiring_soon", 100, us(at(25)))]
    assert fire(e, at(34)) == []
    assert fire(e, at(35)) == [("points_expired", 100, us(at(35)))]
    assert fire(e, at(35)) == [] and fire(e, at(400)) == []


def test_expiring_soon_notice_carries_the_expiry_time():
    e = one_bucket()
    fire(e, at(5))
    (ev,) = fire_due(e.state.customers["K1"], e.program, us(at(25)))
    assert ev["type"] == "points_expiring_soon" and ev["customer_id"] == "K1"
    assert us(ev["expires_at"]) == us(at(35))


def test_firing_late_reports_each_transition_once_and_skips_a_stale_notice():
    e = one_bucket()
    # the clock jumps past expiry: activation and expiry are reported; a notice that the
    # points "will expire" after they already have is no news (engine's choice, kept)
    assert fire(e, at(40)) == [("points_activated", 100, us(at(5))),
                               ("points_expired", 100, us(at(35)))]
    assert fire(e, at(41)) == []


def test_expired_amount_is_what_was_left_in_the_bucket():
    e = Engine(program_dict(accrual=accrual(rate_bps=1000, expiry_days=30)))
    res(e.send(sale("S1", "K1", at(0), [line(1, 1000)])))          # 100 active at once
    assert fire(e, at(0)) == [("points_activated", 100, us(at(0)))]
    r = res(e.send(sale("S2", "K1", at(1), [line(1, 1000)], redeem=40)))
    assert r["redeemed"] == 40  # taken from S1's bucket, the only active one
    expired = [f for f in fire(e, at(30)) if f[0] == "points_expired"]
    assert expired == [("points_expired", 60, us(at(30)))]  # 100 - 40


def test_event_ids_are_deterministic_and_unique():
    def ids() -> list[str]:
        e = one_bucket()
        res(e.send(sale("S2", "K1", at(1), [line(1, 500)])))
        evs = []
        for day in (10, 30, 40):
            evs += fire_due(e.state.customers["K1"], e.program, us(at(day)))
        return [ev["event_id"] for ev in evs]

    first, second = ids(), ids()
    assert first == second
    assert len(first) == len(set(first)) == 6  # 2 buckets x activated, soon, expired


# ----------------------------------------------------------------------------- replay


def replay(messages: list[bytes]) -> tuple[Replay, list[dict], list[dict]]:
    prog = program_from_dict(DOC)
    rp = Replay(prog, ReferenceEngine(prog))
    results, events = io.BytesIO(), io.BytesIO()
    rp.run(enumerate(messages, 1), source="t.jsonl",
           sinks=Sinks(results=results, events=events))

    def load(buf: io.BytesIO) -> list[dict]:
        return [orjson.loads(x) for x in buf.getvalue().splitlines()]

    return rp, load(results), load(events)


MESSAGES = [
    sale("S1", "K1", at(0), [line(1, 1000)]),   # K1: 100, active d5, notice d25, expiry d35
    sale("S2", "K2", at(6), [line(1, 2000)]),   # K2: 200, active d11, notice d31, expiry d41
    sale("S3", "K2", at(26), [line(1, 500)]),   # K2: 50, active d31, ...
    sale("S4", "K2", at(36), [line(1, 100)]),   # clock d36
]


def test_replay_fires_timers_on_the_latest_receipt_time():
    rp, _, events = replay(MESSAGES)
    timer = sorted((ev["customer_id"], us(ev["ts"]) // US_PER_DAY, ev["type"], ev["amount"])
                   for ev in events if ev["type"].startswith("points_")
                   and ev["type"] != "points_accrued")
    d = us(at(0)) // US_PER_DAY
    assert timer == sorted([
        ("K1", d + 5, "points_activated", 100), ("K1", d + 25, "points_expiring_soon", 100),
        ("K1", d + 35, "points_expired", 100),
        ("K2", d + 11, "points_activated", 200), ("K2", d + 31, "points_expiring_soon", 200),
        ("K2", d + 31, "points_activated", 50),
    ])
    assert rp.report.timer_events == 6


def test_timers_never_change_what_a_receipt_computes():
    msgs = [
        sale("S1", "K1", at(0), [line(1, 1000)]),
        sale("S2", "K1", at(6), [line(1, 2000)], redeem=50),
        ret("RT", "K1", at(7), "S2", [(1, 1)]),
        sale("S3", "K2", at(8), [line(1, 700)]),
        sale("S4", "K1", at(20), [line(1, 300)], redeem=1000),
        sale("S5", "K1", at(40), [line(1, 100)], redeem=1000),
        sale("S6", "K2", at(60), [line(1, 100)], redeem=1000),
    ]
    plain = Engine(DOC)
    expected = [res(plain.send(m)) for m in msgs]
    # the same receipts with timers fired after each one, at its time and far ahead
    noisy = Engine(DOC)
    got = []
    for m in msgs:
        got.append(res(noisy.send(m)))
        for cid in list(noisy.state.customers):
            st = noisy.state.customers[cid]
            fire_due(st, noisy.program, us(orjson.loads(m)["ts"]))
            fire_due(st, noisy.program, us(orjson.loads(m)["ts"]) + 1000 * US_PER_DAY)
    assert got == expected
    # and a replay, which fires on its own clock, gives the same results too
    _, results, _ = replay(msgs)
    assert results == [orjson.loads(orjson.dumps(r)) for r in expected]


BUCKET_TIMES = st.integers(0, 60 * US_PER_DAY)


@st.composite
def customers(draw):
    """A customer with random buckets (states, notes, times, amounts) and a clock to fire at."""
    from streamproc.engine.model import Bucket, CustomerState

    cst = CustomerState("K1")
    for bid in range(1, draw(st.integers(0, 8)) + 1):
        act = draw(BUCKET_TIMES)
        exp = draw(st.one_of(st.none(), st.integers(act, act + 40 * US_PER_DAY)))
        cst.buckets.append(Bucket(bid, f"S{bid}", draw(st.sampled_from(["base", "c1"])),
                                  draw(st.integers(0, 2)), draw(st.integers(0, 500)), act, exp,
                                  draw(st.integers(0, 2)), draw(st.integers(0, 300)),
                                  draw(st.integers(0, 7))))
    cst.next_bucket = len(cst.buckets) + 1
    return cst, draw(BUCKET_TIMES), draw(st.sampled_from([None, 1, 3, 10])), draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(customers())
def test_compiled_fire_due_is_the_reference(case):
    """`_fastcalc.fire_due` (the compiled replay's timers) against `timers.fire_due`: the same
    events in the same order and the same buckets (notes, pruning) after."""
    import copy

    from streamproc import _fastcalc

    cst, now, notify, text = case
    program = program_from_dict(program_dict(
        accrual=accrual(rate_bps=1000, activation_days=5, expiry_days=30),
        notify={} if notify is None else {"expiring_days_before": notify}))
    mine = copy.deepcopy(cst)
    want = fire_due(cst, program, now, text)
    got = _fastcalc.fire_due(mine, program, now, text)
    assert got == want
    assert mine == cst


@settings(max_examples=300, deadline=None)
@given(customers())
def test_compiled_next_due_is_the_reference(case):
    """`_fastcalc.next_due` (what the Redis store and the replays schedule with) against
    `timers.next_due`, on random buckets with and without an expiry warning."""
    from streamproc import _fastcalc
    from streamproc.engine.timers import next_due

    cst, _, notify, _ = case
    program = program_from_dict(program_dict(
        accrual=accrual(rate_bps=1000, activation_days=5, expiry_days=30),
        notify={} if notify is None else {"expiring_days_before": notify}))
    assert _fastcalc.next_due(cst, program) == next_due(cst, program)
