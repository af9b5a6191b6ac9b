"""`streamproc replay`: the same engine over a file, in file order (spec section 8).

The marketer's what-if on last month's receipts, and the reference the streaming results
must equal. Timer events fire on the latest receipt time read.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from streamproc.domain.deadletter import internal_reject, raw_fields
from streamproc.domain.program import Program
from streamproc.domain.receipt import Receipt, Reject, parse_profile
from streamproc.domain.result import Event
from streamproc.engine.model import CustomerState
from streamproc.engine.processor import REJECTED, Outcome, SaleEngine, make_processor
from streamproc.replay.report import RunReport
from streamproc.state.memory import MemoryState

_NONE_FIRED: list[dict[str, Any]] = []  # shared, never appended to
FREEZE_EVERY = 5_000  # messages between gc.freeze() calls (benchmarks/README.md, Replay)
log = logging.getLogger(__name__)


def read_messages(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw message) for each non-blank line of a JSONL file."""
    with open(path, "rb") as fh:
        for no, line in enumerate(fh, 1):
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                yield no, raw


@dataclass
class Sinks:
    results: IO[bytes] | None = None
    events: IO[bytes] | None = None
    rejects: IO[bytes] | None = None

    def write(self, o: Outcome, source: str, no: int, timer_events: list[dict]) -> None:
        """`o` and the timer events it let fire; a reject says where it was read."""
        if o.status == REJECTED:
            if self.rejects is not None:
                assert o.reject is not None
                self.rejects.write(orjson.dumps({**o.reject, "file": source, "line": no})
                                   + b"\n")
        elif self.results is not None:
            self.results.write(o.result_json() + b"\n")
        if self.events is not None:
            write, dumps = self.events.write, orjson.dumps
            for ev in o.events:
                write(dumps(ev) + b"\n")
            for ev in timer_events:
                write(dumps(ev) + b"\n")


class TimerQueue:
    """Customers by their next due timer, fired as the replay's clock moves."""

    def __init__(self, state: MemoryState,
                 next_due: Callable[[CustomerState], int | None],
                 fire_due: Callable[[CustomerState, int, bool], list[Event]],
                 text: bool = True) -> None:
        """`next_due` / `fire_due`: the processor's (`timers.next_due` / `fire_due`, or their
        compiled twins)."""
        self.text = text  # False: events without ids and times (`timers.fire_due`)
        self.state = state
        self.next_due = next_due
        self.fire_due = fire_due
        self.heap: list[tuple[int, str]] = []
        self.due: dict[str, int] = {}
        self.failures = 0

    def reschedule(self, customer_id: str, st: CustomerState | None = None) -> None:
        if st is None:
            st = self.state.customers.get(customer_id) or self.state.customer(customer_id)
        nd = self.next_due(st)
        if nd is None:
            self.due.pop(customer_id, None)
            return
        if self.due.get(customer_id) != nd:
            self.due[customer_id] = nd
            heapq.heappush(self.heap, (nd, customer_id))

    def fire(self, now_us: int) -> list[Event]:
        out: list[Event] = []
        heap = self.heap
        if not heap or heap[0][0] > now_us:
            return out
        due = self.due
        while heap and heap[0][0] <= now_us:
            at, cid = heapq.heappop(heap)
            if due.get(cid) != at:
                continue  # stale entry
            del due[cid]
            try:
                st = self.state.customer(cid)
                out.extend(self.fire_due(st, now_us, self.text))
                self.reschedule(cid, st)
            except Exception as exc:  # one customer's timers; the others go on
                self.failures += 1
                log.error("timers failed for customer %r", cid, exc_info=exc)
        return out


class Replay:
    """Runs messages through a processor over in-memory state and counts what happened."""

    def __init__(self, program: Program, engine: SaleEngine, state: MemoryState | None = None):
        self.program = program
        self.processor = make_processor(program, engine)
        self.state = state or MemoryState()
        self.report = RunReport()
        self.clock_us: int | None = None
        self.timers: Any
        self.loop: Any = None  # the compiled loop (`_fastcalc.ReplayLoop`), a chunk a call
        parts = getattr(self.processor, "replay_parts", None)
        if parts is not None:
            # an exact MemoryState: the loop reads and writes its dicts itself (MemView)
            records = self.state.receipts.raw() if type(self.state) is MemoryState else None
            self.timers, self.loop = parts(self.state, self.report, self._failed, records)
        else:
            self.timers = TimerQueue(self.state, self.processor.next_due,
                                     self.processor.fire_due)

    def load_profiles(self, path: str | Path, rejects: IO[bytes] | None = None) -> None:
        for no, raw in read_messages(path):
            try:
                self.state.put_profile(parse_profile(raw))
                self.report.profiles += 1
            except Reject as rej:
                self.report.profiles_rejected += 1
                if rejects is not None:
                    rejects.write(orjson.dumps({"reason": rej.reason, "detail": rej.detail,
                                                **raw_fields(raw),
                                                "file": str(path), "line": no}) + b"\n")

    def run(self, messages: Iterable[tuple[int, bytes]], source: str = "",
            sinks: Sinks | None = None, on_message: Callable[[], None] | None = None) -> RunReport:
        sinks = sinks or Sinks()
        started = time.perf_counter()
        if self.loop is not None:
            self._run_chunks(messages, source, sinks, on_message)
        else:
            for n, (no, raw) in enumerate(messages, 1):
                self.step(no, raw, source, sinks)
                if on_message is not None:
                    on_message()
                if n % FREEZE_EVERY == 0:
                    # The state is a heap of acyclic records (refcounting frees them): keep
                    # the cyclic collector from re-traversing it again and again as it grows.
                    gc.freeze()
        self.report.seconds = time.perf_counter() - started
        self.finish()
        return self.report

    def _run_chunks(self, messages: Iterable[tuple[int, bytes]], source: str, sinks: Sinks,
                    on_message: Callable[[], None] | None) -> None:
        """`step` for every message, FREEZE_EVERY messages a call into the compiled loop,
        which writes their lines into buffers that go to the sinks a chunk at a time."""
        bufs = [None if f is None else bytearray()
                for f in (sinks.results, sinks.events, sinks.rejects)]
        it = iter(messages)
        while chunk := list(itertools.islice(it, FREEZE_EVERY)):
            self.clock_us = self.loop.run_chunk(chunk, source, self.clock_us, *bufs)
            for f, buf in zip((sinks.results, sinks.events, sinks.rejects), bufs, strict=True):
                if f is not None and buf:
                    f.write(buf)
                    buf.clear()
            if on_message is not None:
                for _ in range(len(chunk)):
                    on_message()
            gc.freeze()  # as `run` does: the state's records stay out of the collector's way

    def _failed(self, no: int, raw: bytes, exc: Exception, source: str = "") -> Outcome:
        """The outcome of a message whose processing raised: a reject, never a traceback."""
        log.error("line %s:%s failed; written to the rejects", source, no, exc_info=exc)
        return self.processor.rejected(internal_reject(exc, "compute"), raw)

    def step(self, no: int, raw: bytes, source: str = "", sinks: Sinks | None = None,
             receipt: Receipt | None = None, count: bool = True
             ) -> tuple[Outcome, list[dict[str, Any]]]:
        """One message (already decoded when `receipt` is given: `whatif` decodes once for
        two programs, and counts in its own tally); returns its outcome and the timer events
        it let fire."""
        try:
            if receipt is None:
                o = self.processor.process_raw(raw, self.state, origin=f"{source}:{no}")
            else:
                o = self.processor.process(receipt, self.state, raw, f"{source}:{no}")
        except Exception as exc:  # a bad line is a reject, never a traceback
            o = self._failed(no, raw, exc, source)
        if count:
            self.report.count(o)
        fired: list[dict[str, Any]] = _NONE_FIRED
        r = o.receipt
        if r is not None:
            ts = r.ts_us
            clock = self.clock_us
            if clock is None or ts > clock:
                self.clock_us = clock = ts
            cid = r.customer_id
            if cid is not None and o.status != REJECTED:
                self.timers.reschedule(cid)
            fired = self.timers.fire(clock)
            if count and fired:
                self.report.count_timer_events(fired)
        if sinks is not None:
            sinks.write(o, source, no, fired)
        if no % 50_000 == 0 and self.clock_us is not None:
            self.forget_old_receipts(self.clock_us)
        return o, fired

    def forget_old_receipts(self, now_us: int) -> None:
        """Receipts older than the return window (plus a day of slack for late ones) can no
        longer be duplicated or returned: drop them so a month's replay stays small."""
        horizon = now_us - self.program.return_window_us - 86_400_000_000
        self.state.receipts.forget_before(horizon)

    def finish(self) -> None:
        """Liability and tiers at the end of the run."""
        rep = self.report
        rep.customers = len(self.state.customers)
        for st in self.state.customers.values():
            active, pending = st.balance()
            rep.liability_active += active
            rep.liability_pending += pending
            rep.tiers[self.program.tier_name(self.program.tier_for(st.spend)) or "-"] += 1
        rep.liability = rep.liability_active + rep.liability_pending
