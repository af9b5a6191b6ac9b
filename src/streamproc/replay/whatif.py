"""`streamproc whatif`: a candidate program against the current one, in one pass.

Both programs see the same receipts, in file order, from the same starting state (empty, built
by a silent warm-up replay of earlier receipts under the baseline, or a read-only snapshot of
the live Redis), each with its own processor and its own in-memory state, so every figure is
the one a separate `streamproc replay` of that program would give. Each receipt is decoded
once and handed to both.
"""

from __future__ import annotations

import copy
import gc
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamproc.domain.program import Program
from streamproc.domain.receipt import Receipt, Reject
from streamproc.engine.calc import SaleEngine
from streamproc.engine.selection import make_decoder
from streamproc.replay.compare import SideResult, Tally
from streamproc.replay.in_memory import FREEZE_EVERY, Replay, read_messages
from streamproc.state.memory import MemoryState


@dataclass
class WhatIfRun:
    baseline: SideResult
    candidate: SideResult
    seconds: float
    messages: int
    start: str  # where the starting state came from
    start_customers: int
    notes: list[str] = field(default_factory=list)


def _fresh(program: Program, engine: SaleEngine, state: MemoryState,
           clock_us: int | None) -> Replay:
    rep = Replay(program, engine, state)
    rep.clock_us = clock_us
    rep.timers.text = False  # only the tally reads the timer events: no ids or times
    for cid in state.customers:  # timers of customers that exist before the run
        rep.timers.reschedule(cid)
    return rep


def warm_up(program: Program, engine: SaleEngine, state: MemoryState, path: str | Path,
            on_message: Callable[[], None] | None = None) -> int | None:
    """Replay earlier receipts under `program` into `state`, silently; returns the clock."""
    rep = _fresh(program, engine, state, None)
    rep.run(read_messages(path), source=str(path), on_message=on_message)
    return rep.clock_us


class WhatIf:
    """Two replays stepped together over one stream of messages."""

    def __init__(self, baseline: Program, candidate: Program, engine_of: Callable[[Program],
                 SaleEngine], start: MemoryState | None = None, clock_us: int | None = None,
                 decoder: str = "compiled") -> None:
        start = start or MemoryState()
        self.start_customers = len(start.customers)
        # each side gets its own copy: the programs must never see each other's changes
        self.base = _fresh(baseline, engine_of(baseline), copy.deepcopy(start), clock_us)
        self.cand = _fresh(candidate, engine_of(candidate), start, clock_us)
        self.base_tally = Tally(baseline)
        self.cand_tally = Tally(candidate)
        self.decode = make_decoder(decoder)
        self.messages = 0

    def step(self, no: int, raw: bytes, source: str) -> None:
        receipt: Receipt | None
        try:
            receipt = self.decode(raw)
        except (Reject, Exception):
            receipt = None  # each side rejects it the same way, through its own processor
        for rep, tally in ((self.base, self.base_tally), (self.cand, self.cand_tally)):
            o, fired = rep.step(no, raw, source, None, receipt, count=False)
            tally.add(o, fired)
        self.messages += 1
        if no % 50_000 == 0:
            for rep, tally in ((self.base, self.base_tally), (self.cand, self.cand_tally)):
                if rep.clock_us is not None:
                    tally.forget_before(rep.clock_us - rep.program.return_window_us
                                        - 86_400_000_000)

    def run(self, messages: Iterable[tuple[int, bytes]], source: str,
            on_message: Callable[[], None] | None = None) -> tuple[float, int]:
        started = time.perf_counter()
        # Two states of long-lived objects: the default collector thresholds would traverse
        # them over and over (measured: a third of the run); the starting state is frozen
        # out of collection, then what the run keeps every FREEZE_EVERY messages, as the
        # replay does, and young objects are collected less often.
        threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        try:
            for n, (no, raw) in enumerate(messages, 1):
                self.step(no, raw, source)
                if on_message is not None:
                    on_message()
                if n % FREEZE_EVERY == 0:
                    gc.freeze()
        finally:
            gc.set_threshold(*threshold)
            gc.unfreeze()
        return time.perf_counter() - started, self.messages

    def result(self, seconds: float, start: str) -> WhatIfRun:
        sides = []
        for rep, tally in ((self.base, self.base_tally), (self.cand, self.cand_tally)):
            rep.finish()
            sides.append(SideResult(rep.program, tally, dict(rep.state.budgets),
                                    rep.report.liability, rep.report.customers))
        return WhatIfRun(sides[0], sides[1], seconds, self.messages, start,
                         self.start_customers)


def load_profiles_into(state: MemoryState, path: str | Path, program: Program,
                       engine: SaleEngine) -> tuple[int, int]:
    """Customer profiles into the starting state; (loaded, rejected)."""
    rep = Replay(program, engine, state)
    rep.load_profiles(path)
    return rep.report.profiles, rep.report.profiles_rejected


def describe_start(kind: str, detail: str, customers: int) -> str:
    return {"empty": "empty state (every customer new)",
            "warmup": f"warm-up replay of {detail} under the baseline ({customers:,} customers)",
            "redis": f"read-only snapshot of {detail} ({customers:,} customers)"}[kind]


def json_ready(run: WhatIfRun) -> dict[str, Any]:
    from streamproc.replay.compare import holdout_effect, totals

    held = {}
    for name, side in (("baseline", run.baseline), ("candidate", run.candidate)):
        held[name] = [holdout_effect(side.tally, c.id) for c in side.program.campaigns
                      if c.holdout_bps]
    return {
        "baseline": totals(run.baseline),
        "candidate": totals(run.candidate),
        "difference": {k: totals(run.candidate)[k] - totals(run.baseline)[k]
                       for k in ("discount", "points_issued", "points_redeemed",
                                 "points_expired", "cost", "liability_end", "paid")},
        "holdout": held,
        "start": run.start,
        "messages": run.messages,
        "seconds": round(run.seconds, 3),
        "units": "money and points in minor units, net of returns",
    }
