"""One batch of Kafka messages in, the records to produce out: decode, compute, commit to Redis.

No faust here: the Faust agent (`streamproc.stream`) and `replay --redis` both drive this.
A batch is applied to Redis in one atomic, idempotent call; a conflict (the state moved under
us) recomputes the batch, transient Redis errors are retried with backoff, anything else is
raised for the caller to stop on (never skip a batch).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.exceptions as rexc

from streamproc.domain.program import Program
from streamproc.domain.receipt import Receipt, Reject, parse_profile
from streamproc.engine import timers
from streamproc.engine.processor import APPLIED, REJECTED, Outcome, Processor, SaleEngine
from streamproc.state.redis.store import Conflict, RedisStore

log = logging.getLogger(__name__)

TRANSIENT_REDIS = (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError,
                   rexc.TryAgainError, OSError)


@dataclass(slots=True)
class InMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int | None = None

    @property
    def origin(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass
class BatchOutput:
    results: list[tuple[bytes, bytes]] = field(default_factory=list)
    events: list[tuple[bytes, bytes]] = field(default_factory=list)
    dlq: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    conflicts: int = 0
    redis_seconds: float = 0.0
    timer_events: list[tuple[bytes, bytes]] = field(default_factory=list)


class _BatchTimers:
    """Replay clock timers inside a batch: after each receipt, the batch's customers whose
    next announcement is due by the latest receipt time fire, as the in-memory replay does.
    (Customers outside the batch cannot change during it: `fire_timers` catches them up.)"""

    def __init__(self, bp: BatchProcessor, view: Any) -> None:
        self.program = bp.program
        self.clock = bp.replay_clock or 0
        self.heap: list[tuple[int, str]] = []
        self.records: list[tuple[bytes, bytes]] = []
        for cid, st in view.customers.items():  # due later in the batch, before their receipt
            due = timers.next_due(st, self.program)
            if due is not None:
                self.heap.append((due, cid))
        heapq.heapify(self.heap)

    def after(self, o: Outcome, view: Any) -> None:
        if o.receipt is None:
            return
        self.clock = max(self.clock, o.receipt.ts_us)
        cid = o.receipt.customer_id
        if cid is not None and o.status != REJECTED and cid in view.customers:
            due = timers.next_due(view.customers[cid], self.program)
            if due is not None:
                heapq.heappush(self.heap, (due, cid))
        while self.heap and self.heap[0][0] <= self.clock:
            _, due_cid = heapq.heappop(self.heap)
            st = view.customers[due_cid]
            for ev in timers.fire_due(st, self.program, self.clock):
                self.records.append((due_cid.encode(), orjson.dumps(ev)))
            view.touch(st)
            nxt = timers.next_due(st, self.program)
            if nxt is not None and nxt > self.clock:
                heapq.heappush(self.heap, (nxt, due_cid))


class RetryBudgetExceeded(RuntimeError):
    """Redis stayed unavailable (or kept conflicting) for longer than the worker may wait."""


class BatchProcessor:
    """Applies batches of receipt messages to Redis state and says what to produce."""

    def __init__(self, program: Program, engine: SaleEngine, store: RedisStore,
                 max_conflicts: int = 20, max_retry_seconds: float = 120.0,
                 metrics: Any = None, replay_clock: bool = False) -> None:
        self.program = program
        self.processor = Processor(program, engine)
        self.store = store
        self.max_conflicts = max_conflicts
        self.max_retry_seconds = max_retry_seconds
        self.metrics = metrics
        # a replay fires timers on the latest receipt time read, after every receipt (spec 6);
        # a stream fires them on the wall clock (`fire_timers`)
        self.replay_clock: int | None = 0 if replay_clock else None

    async def process(self, msgs: Sequence[InMessage]) -> BatchOutput:
        parsed, receipts = self._parse(msgs)
        out = BatchOutput()
        outcomes = await self._compute_and_commit(parsed, receipts, out)
        self._render(parsed, outcomes, out)
        return out

    async def preview(self, msgs: Sequence[InMessage]) -> BatchOutput:
        """What `process` would produce for `msgs` from the current state, writing nothing:
        the same load and computation on a view that is then dropped (the quote API). One
        attempt: a Redis error is raised to the caller, which answers rather than waits."""
        parsed, receipts = self._parse(msgs)
        out = BatchOutput()
        if receipts:
            _, outcomes, _ = await self._compute(parsed, receipts, out, timers=False)
        else:  # every message failed to decode: nothing to load
            outcomes = [self.processor.rejected(rej, m.value) for m, _, rej in parsed]
        self._render(parsed, outcomes, out)
        return out

    def _parse(self, msgs: Sequence[InMessage]):
        parsed: list[tuple[InMessage, Receipt | None, Reject | None]] = []
        decode = self.processor.decode
        for m in msgs:
            try:
                parsed.append((m, decode(m.value), None))
            except Reject as rej:
                parsed.append((m, None, rej))
        return parsed, [r for _, r, _ in parsed if r is not None]

    async def _compute(self, parsed, receipts, out: BatchOutput, timers: bool = True):
        """Load the state the batch touches and compute every message on it (no write)."""
        t0 = time.perf_counter()
        view = await self.store.load(receipts)
        out.redis_seconds += time.perf_counter() - t0
        outcomes = []
        timers_in_batch = _BatchTimers(self, view) \
            if timers and self.replay_clock is not None else None
        for m, r, rej in parsed:
            if r is None:
                outcomes.append(self.processor.rejected(rej, m.value))
            else:
                o = self.processor.process(r, view, m.value, m.origin)
                outcomes.append(o)
                if timers_in_batch is not None:
                    timers_in_batch.after(o, view)
        return view, outcomes, timers_in_batch

    async def _compute_and_commit(self, parsed, receipts, out: BatchOutput) -> list[Outcome]:
        started = time.monotonic()
        delay = 0.05
        while True:
            try:
                view, outcomes, timers_in_batch = await self._compute(parsed, receipts, out)
                if timers_in_batch is not None:
                    out.timer_events = timers_in_batch.records
                t0 = time.perf_counter()
                await self.store.commit(view)
                out.redis_seconds += time.perf_counter() - t0
                if timers_in_batch is not None:
                    self.replay_clock = timers_in_batch.clock
                return outcomes
            except Conflict as exc:
                out.conflicts += 1
                if out.conflicts > self.max_conflicts:
                    raise RetryBudgetExceeded(f"batch kept conflicting: {exc}") from exc
                log.info("state moved during the batch (%s); recomputing", exc)
            except TRANSIENT_REDIS as exc:
                if self.metrics is not None:
                    self.metrics.count_redis_error("apply_batch")
                if time.monotonic() - started > self.max_retry_seconds:
                    raise RetryBudgetExceeded(f"Redis unavailable: {exc}") from exc
                log.warning("Redis error (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _render(self, parsed, outcomes: list[Outcome], out: BatchOutput) -> None:
        dumps = orjson.dumps
        for (m, r, _), o in zip(parsed, outcomes, strict=True):
            out.outcomes.append(o)
            if o.status == REJECTED:
                rec = dict(o.reject or {})
                rec.update(topic=m.topic, partition=m.partition, offset=m.offset)
                out.dlq.append((m.key, dumps(rec)))
                continue
            key = (r.customer_id or r.receipt_id).encode()
            out.results.append((key, o.result_json()))
            if o.status == APPLIED:
                for ev in o.events:
                    out.events.append((key, dumps(ev)))


async def apply_profiles(
    store: RedisStore, msgs: Sequence[InMessage]
) -> list[tuple[bytes | None, bytes]]:
    """Store customer profiles; return DLQ records for the ones that break the format."""
    good = []
    dlq = []
    for m in msgs:
        try:
            good.append(parse_profile(m.value))
        except Reject as rej:
            dlq.append((m.key, orjson.dumps({
                "reason": rej.reason, "detail": rej.detail,
                "raw": m.value.decode("utf-8", "replace"), "topic": m.topic,
                "partition": m.partition, "offset": m.offset})))
    if good:
        await store.put_profiles(good)
    return dlq


async def fire_timers(store: RedisStore, program: Program, now_us: int, limit: int = 500,
                      owns: Callable[[str], bool] | None = None) -> list[tuple[bytes, bytes]]:
    """Announce the point transitions due by `now_us` (activation, expiry warning, expiry) and
    mark them announced, atomically; return the event records to produce. `owns` keeps a
    worker to the customers of its own partitions. Raises `Conflict` when a receipt moved one
    of the customers meanwhile (try again on the next tick)."""
    due = await store.due_customers(now_us, limit)
    if owns is not None:
        due = [cid for cid in due if owns(cid)]
    if not due:
        return []
    view = await store.load_customers(due)
    records: list[tuple[bytes, bytes]] = []
    for cid, st in view.customers.items():
        for ev in timers.fire_due(st, program, now_us):
            records.append((cid.encode(), orjson.dumps(ev)))
        view.touch(st)
    await store.commit(view)
    return records
