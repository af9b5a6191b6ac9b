"""One batch of Kafka messages in, the records to produce out: decode, compute, commit to Redis.

No faust here: the Faust agent (`streamproc.stream`) and `replay --redis` both drive this.
A batch is applied to Redis with one atomic, idempotent, fenced call per Kafka partition it
spans, after its claims on shared budgets and codes (docs/state-model.md); a claim answered
otherwise than assumed, or a conflict (the state moved under us), recomputes the batch, and
Redis errors are retried with backoff, without a limit (`state/redis/retry.py`): only
liveness decides when a worker that cannot reach Redis is replaced. Data never stops a batch:
a message whose decoding, computation or rendering fails for any reason goes to the dead-letter
topic (`internal`, or `too_large` when its result would not fit the topic), and the batch is
recomputed without it so none of its partial changes reach Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import heapq
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from streamproc.domain.deadletter import internal_reject, raw_fields, too_large
from streamproc.domain.program import Program
from streamproc.domain.receipt import (
    INVALID_JSON,
    MAX_ID,
    SCHEMA,
    Profile,
    Receipt,
    Reject,
    parse_profile,
)
from streamproc.domain.result import AppliedResult, decode_result
from streamproc.engine import timers
from streamproc.engine.processor import APPLIED, REJECTED, Outcome, SaleEngine, make_processor
from streamproc.errors import StreamprocError
from streamproc.state.errors import Conflict
from streamproc.state.redis.erase import erase_profiles
from streamproc.state.redis.retry import is_transient
from streamproc.state.redis.store import GRANTED, REFUSED, BatchView, RedisStore

log = logging.getLogger(__name__)

# a record must fit the topic's max.message.bytes (broker default 1048588) with its batch header
DEFAULT_MAX_RECORD_BYTES = 1_000_000
TOMBSTONE = "message has no value (a tombstone)"
# spec section 2: a receipt's key is its customer_id (receipt_id when anonymous); another key
# puts it on a partition where it races the customer's other receipts
MISKEYED = "key: must be the receipt's customer_id (its receipt_id when anonymous), not "


class _MessageFailed(Exception):
    """Message `index` of the batch failed: recompute the batch with it as a reject."""

    def __init__(self, index: int, reject: Reject) -> None:
        super().__init__(reject.detail)
        self.index = index
        self.reject = reject


class BatchMetrics(Protocol):
    """What the batch pipeline reports to metrics (`LoyaltyMetrics` is one)."""

    def count_redis_error(self, op: str) -> None: ...
    def count_failure(self, stage: str) -> None: ...
    def count_profiles(self, outcome: str, n: int) -> None: ...
    def count_claim_conflict(self, n: int = 1) -> None: ...


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a batch is processed.

    A batch builds tens of thousands of short-lived, acyclic objects (refcounting frees them
    when it ends); the collector's passes in the middle of it walked everything the batch
    holds, again and again (measured: ~40 % of the batch path's CPU, benchmarks/README.md).
    Any cycle made meanwhile is collected after the batch; backoff waits (`_wait`) run with
    the collector on, since an outage may last.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


async def _wait(seconds: float) -> None:
    """A backoff wait with the cyclic collector on, even in the middle of a paused batch."""
    was = gc.isenabled()
    gc.enable()
    try:
        await asyncio.sleep(seconds)
    finally:
        if not was:
            gc.disable()


def message_failure(stage: str, exc: BaseException, origin: str,
                    metrics: BatchMetrics | None) -> Reject:
    """Log one message's unexpected error once (with its origin and stack), count it, and
    return the `internal` reject its dead-letter record carries (no stack there)."""
    log.error("%s failed for message %s; it goes to the dead-letter topic", stage, origin,
              exc_info=exc)
    if metrics is not None:
        metrics.count_failure(stage)
    return internal_reject(exc, stage)


def compute_message(processor: Any, r: Receipt, view: BatchView, raw: bytes, origin: str,
                    partition: int, limit: int, metrics: BatchMetrics | None) -> Outcome:
    """One message computed on a batch's view, as the stream computes it (the batch, a quote);
    raises the `Reject` its dead letter carries when it cannot be answered: `internal` for an
    unexpected error, `too_large` when its result would not fit the topic."""
    view.at(r.receipt_id, partition, r.customer_id)
    size = 0
    try:
        o = processor.process(r, view, raw, origin)
        if o.status != REJECTED:
            size = len(o.result_json()) + len(r.customer_id or r.receipt_id)
    except Exception as exc:
        raise message_failure("compute", exc, origin, metrics) from None
    if size > limit:
        raise too_large("result", size, limit)
    return o


def _detached(rej: Reject) -> Reject:
    """A reject to keep with the batch's messages, without its traceback and the exception it
    was raised while handling (the decoder's `ValueError`, with its own traceback): those hold
    the frames that hold the batch, so the batch would hold itself and wait, whole, for the
    cyclic collector instead of being freed when it ends (measured: a malformed message in
    almost every batch of the loadgen workload, and the collector's pass over each batch
    ~20 % of the batch path's CPU, benchmarks/README.md)."""
    return dataclasses.replace(rej)  # the same reject, never raised


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
    fenced: set[int] = field(default_factory=set)  # partitions another worker owns now
    kept: dict[int, list[str]] = field(default_factory=dict)  # answers stored, by partition
    claimed: list[str] = field(default_factory=list)  # receipts whose claims were made


class _BatchTimers:
    """Replay clock timers inside a batch: after each receipt, the batch's customers whose
    next announcement is due by the latest receipt time fire, as the in-memory replay does.
    (Customers outside the batch cannot change during it: `fire_timers` catches them up.)"""

    def __init__(self, bp: BatchProcessor, view: BatchView) -> None:
        self.program = bp.program
        self.next_due = bp.processor.next_due
        self.clock = bp.replay_clock or 0
        self.heap: list[tuple[int, str]] = []
        self.records: list[tuple[bytes, bytes]] = []
        for cid, st in view.customers.items():  # due later in the batch, before their receipt
            due = self.next_due(st)
            if due is not None:
                self.heap.append((due, cid))
        heapq.heapify(self.heap)

    def after(self, o: Outcome, view: BatchView, metrics: BatchMetrics | None = None) -> None:
        if o.receipt is None:
            return
        self.clock = max(self.clock, o.receipt.ts_us)
        cid = o.receipt.customer_id
        if cid is not None and o.status != REJECTED and cid in view.customers:
            due = self.next_due(view.customers[cid])
            if due is not None:
                heapq.heappush(self.heap, (due, cid))
        while self.heap and self.heap[0][0] <= self.clock:
            _, due_cid = heapq.heappop(self.heap)
            st = view.customers[due_cid]
            try:
                fired = [(due_cid.encode(), orjson.dumps(ev))
                         for ev in timers.fire_due(st, self.program, self.clock)]
            except Exception as exc:  # one customer's timers, never the batch
                _timer_failed(due_cid, exc, metrics)
                continue
            self.records.extend(fired)
            view.touch(st)
            nxt = self.next_due(st)
            if nxt is not None and nxt > self.clock:
                heapq.heappush(self.heap, (nxt, due_cid))


class RetryBudgetExceeded(StreamprocError, RuntimeError):
    """Redis stayed unavailable (or kept conflicting) for longer than the worker may wait."""


class BatchProcessor:
    """Applies batches of receipt messages to Redis state and says what to produce.

    Each message's partition is its state's partition: the Kafka partition in a stream, the
    producers' placement of its key in a file replay or a quote (`partition_by_key`)."""

    def __init__(self, program: Program, engine: SaleEngine, store: RedisStore,
                 max_conflicts: int = 20, max_retry_seconds: float | None = None,
                 metrics: BatchMetrics | None = None, replay_clock: bool = False,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 partition_by_key: bool = False,
                 fences: Callable[[], dict[int, str] | None] = lambda: None,
                 on_wait: Callable[[bool], None] = lambda _: None) -> None:
        self.program = program
        self.processor = make_processor(program, engine)  # FastProcessor when compiled
        self.store = store
        store.next_due = self.processor.next_due  # the same answer (a differential test)
        self.max_conflicts = max_conflicts
        self.max_retry_seconds = max_retry_seconds
        self.metrics = metrics
        self.max_record_bytes = max_record_bytes
        self.partition_by_key = partition_by_key
        self.fences = fences  # partition -> this member's fence token (a stream)
        self.on_wait = on_wait  # told while a batch waits for Redis (readiness)
        # a replay fires timers on the latest receipt time read, after every receipt (spec 6);
        # a stream fires them on the wall clock (`fire_timers`)
        self.replay_clock: int | None = 0 if replay_clock else None

    def _partitions(self, parsed, by_key: bool) -> list[int]:
        if not by_key:
            return [m.partition for m, _, _ in parsed]
        place = self.store.partition_of
        return [place(r.customer_id or r.receipt_id) if r is not None else 0
                for _, r, _ in parsed]

    async def process(self, msgs: Sequence[InMessage]) -> BatchOutput:
        with collector_paused():
            return await self._process(msgs)

    async def _process(self, msgs: Sequence[InMessage]) -> BatchOutput:
        parsed, _ = self._parse(msgs)
        parts = self._partitions(parsed, self.partition_by_key)
        out = BatchOutput()
        outcomes = await self._compute_and_commit(parsed, parts, out)
        self._render(parsed, outcomes, out, parts)
        return out

    async def preview(self, msgs: Sequence[InMessage]) -> BatchOutput:
        """What `process` would produce for `msgs` from the current state, writing nothing:
        the same load and computation on a view that is then dropped (the quote API). One
        attempt: a Redis error is raised to the caller, which answers rather than waits."""
        parsed, receipts = self._parse(msgs)
        parts = self._partitions(parsed, True)
        out = BatchOutput()
        if receipts:
            while True:
                try:
                    _, outcomes, _ = await self._compute(parsed, parts, out, {}, timers=False,
                                                         answers=False)
                    break
                except _MessageFailed as failed:
                    receipts = self._exclude(parsed, failed)
        else:  # every message failed to decode: nothing to load
            outcomes = [self.processor.rejected(rej, m.value) for m, _, rej in parsed]
        self._render(parsed, outcomes, out)
        return out

    def _parse(self, msgs: Sequence[InMessage]):
        parsed: list[tuple[InMessage, Receipt | None, Reject | None]] = []
        decode = self.processor.decode
        for m in msgs:
            if m.value is None:
                parsed.append((m, None, Reject(INVALID_JSON, TOMBSTONE)))
                continue
            try:
                r = decode(m.value)
                if m.key is not None and m.key != (r.customer_id or r.receipt_id).encode():
                    raise Reject(SCHEMA, MISKEYED + repr(m.key[:64]))
                parsed.append((m, r, None))
            except Reject as rej:
                parsed.append((m, None, _detached(rej)))
            except Exception as exc:
                parsed.append((m, None, message_failure("decode", exc, m.origin, self.metrics)))
        return parsed, [r for _, r, _ in parsed if r is not None]

    @staticmethod
    def _exclude(parsed, failed: _MessageFailed) -> list[Receipt]:
        """Turn the failed message into a reject; the receipts left to load and compute."""
        parsed[failed.index] = (parsed[failed.index][0], None, _detached(failed.reject))
        return [r for _, r, _ in parsed if r is not None]

    async def _compute(self, parsed, parts: list[int], out: BatchOutput,
                       claims: dict[tuple[str, str], tuple[str, int]], timers: bool = True,
                       answers: bool = True):
        """Load the state the batch touches and compute every message on it (no write),
        knowing the claims answered so far. With `answers`, a message answered before (a
        redelivery) gets its stored answer, and every new answer is kept by origin."""
        items = [(p, r, m.origin) if answers else (p, r)
                 for p, (m, r, _) in zip(parts, parsed, strict=True) if r is not None]
        t0 = time.perf_counter()
        view = await self.store.load(items)
        out.redis_seconds += time.perf_counter() - t0
        view.claims = claims
        self.store.settle_claims(view)
        outcomes: list[Outcome] = []
        timers_in_batch = _BatchTimers(self, view) \
            if timers and self.replay_clock is not None else None
        limit = self.max_record_bytes
        with collector_paused():  # `preview` computes outside `process`
            self._compute_all(parsed, parts, view, outcomes, timers_in_batch, answers, limit)
        return view, outcomes, timers_in_batch

    def _compute_all(self, parsed, parts: list[int], view: BatchView, outcomes: list[Outcome],
                     timers_in_batch: _BatchTimers | None, answers: bool, limit: int) -> None:
        for i, (m, r, rej) in enumerate(parsed):
            if r is None:
                outcomes.append(self.processor.rejected(rej, m.value))
                continue
            origin = m.origin
            stored = view.output_for(origin) if answers else None
            if stored is not None:  # redelivered: the first answer, whatever happened since
                outcomes.append(_stored_outcome(r, stored))
                continue
            try:
                o = compute_message(self.processor, r, view, m.value, origin, parts[i],
                                    limit, self.metrics)
            except Reject as rej:
                raise _MessageFailed(i, rej) from None
            outcomes.append(o)
            if answers and self.store.keep_outputs:
                view.keep_answer(parts[i], origin, _answer(o))
            if timers_in_batch is not None:
                timers_in_batch.after(o, view, self.metrics)

    async def _compute_and_commit(self, parsed, parts: list[int],
                                  out: BatchOutput) -> list[Outcome]:
        claims: dict[tuple[str, str], tuple[str, int]] = {}
        started = time.monotonic()
        delay = 0.05
        waited = False
        while True:
            try:
                view, outcomes, timers_in_batch = await self._compute(parsed, parts, out, claims)
                if timers_in_batch is not None:
                    out.timer_events = timers_in_batch.records
                t0 = time.perf_counter()
                if view.wants and self._settle(view, await self.store.claim(view.wants),
                                               claims):
                    out.redis_seconds += time.perf_counter() - t0
                    out.conflicts += 1  # a shared budget or code went elsewhere: recompute
                    if self.metrics is not None:
                        self.metrics.count_claim_conflict()
                    continue
                out.fenced = await self.store.commit(view, self.fences())
                for origin, (p, _) in view.new_outputs.items():
                    if p not in out.fenced:  # dropped once their offsets are committed
                        out.kept.setdefault(p, []).append(origin)
                # claims too: once committed, no other computation of them will ask again
                # (a fenced partition's new owner will: its claims stay)
                asked = [rid for rid, _ in claims] + [rid for rid, _, _, _ in view.wants]
                out.claimed = [rid for rid in dict.fromkeys(asked)
                               if view.rpart.get(rid) not in out.fenced]
                out.redis_seconds += time.perf_counter() - t0
                if timers_in_batch is not None:
                    self.replay_clock = timers_in_batch.clock
                if waited:
                    self.on_wait(False)
                return outcomes
            except _MessageFailed as failed:  # recompute from a fresh load without it
                self._exclude(parsed, failed)
            except Conflict as exc:
                out.conflicts += 1
                if out.conflicts > self.max_conflicts:  # contention, not data: wait a little
                    if self.max_retry_seconds is not None:
                        raise RetryBudgetExceeded(f"batch kept conflicting: {exc}") from exc
                    log.warning("batch conflicted %d times (%s); recomputing in %.2fs",
                                out.conflicts, exc, delay)
                    await _wait(delay)
                    delay = min(delay * 2, 5.0)
                else:
                    log.info("state moved during the batch (%s); recomputing", exc)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if self.metrics is not None:
                    self.metrics.count_redis_error("apply_batch")
                waited = True
                self.on_wait(True)
                if self.max_retry_seconds is not None and \
                        time.monotonic() - started > self.max_retry_seconds:
                    raise RetryBudgetExceeded(f"Redis unavailable: {exc}") from exc
                log.warning("Redis unavailable (%s); retrying in %.2fs", exc, delay)
                await _wait(delay)
                delay = min(delay * 2, 5.0)

    @staticmethod
    def _settle(view: Any, answers: list[str],
                claims: dict[tuple[str, str], tuple[str, int]]) -> bool:
        """Record the claims' answers; say whether any differs from what the computation
        assumed (then the batch is computed again, knowing them)."""
        changed = False
        for (rid, kind, name, amount), ans in zip(view.wants, answers, strict=True):
            if kind == "c":
                claims[(rid, "c:" + name)] = (ans, 0)
                changed |= ans != GRANTED
            else:
                claims[(rid, "b:" + name)] = (ans, amount if ans == GRANTED else 0)
                changed |= ans != (GRANTED if kind == "b" else REFUSED)
        return changed

    def _render(self, parsed, outcomes: list[Outcome], out: BatchOutput,
                parts: list[int] | None = None) -> None:
        dumps = orjson.dumps
        fenced = out.fenced
        for i, ((m, r, _), o) in enumerate(zip(parsed, outcomes, strict=True)):
            if fenced and parts is not None and parts[i] in fenced:
                continue  # another worker owns this partition now: it answers these
            out.outcomes.append(o)
            if o.status == REJECTED:
                out.dlq.append((m.key, dead_letter(o.reject or {}, m, self.max_record_bytes)))
                continue
            key = (r.customer_id or r.receipt_id).encode()
            out.results.append((key, o.result_json()))
            if o.status == APPLIED:
                for ev in o.events:
                    out.events.append((key, dumps(ev)))


_RESULT, _REJECT = b"R", b"J"


def _answer(o: Outcome) -> bytes:
    """What a message was answered, as stored for a redelivery: a result or a reject."""
    if o.status == REJECTED:
        return _REJECT + orjson.dumps(o.reject)
    return _RESULT + o.result_json()


def _stored_outcome(r: Receipt, stored: bytes) -> Outcome:
    """The outcome of a redelivered message, from its stored answer (byte-identical)."""
    if stored[:1] == _REJECT:
        return Outcome(REJECTED, reject=orjson.loads(stored[1:]), receipt=r, redelivered=True)
    raw = stored[1:]
    result = decode_result(raw)
    events = result.events if isinstance(result, AppliedResult) else []
    return Outcome(result.status, result, events, receipt=r, redelivered=True, encoded=raw)


def dead_letter(reject: dict[str, Any], m: InMessage,
                max_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> bytes:
    """A dead-letter record: the reject and the message's origin. Already bounded by
    `raw_fields` (64 KiB of the message); should it still not fit, it keeps only 1 KiB."""
    rec = {**reject, "topic": m.topic, "partition": m.partition, "offset": m.offset}
    data = orjson.dumps(rec)
    if len(data) + len(m.key or b"") > max_bytes:
        rec["raw"] = rec.get("raw", "")[:1024]
        rec["detail"] = str(rec.get("detail", ""))[:1024]
        data = orjson.dumps(rec)
    return data


async def apply_profiles(
    store: RedisStore, msgs: Sequence[InMessage], metrics: BatchMetrics | None = None,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> list[tuple[bytes | None, bytes]]:
    """Store customer profiles, erase those whose message is a tombstone (null value, keyed
    by the customer id: how the compacted topic deletes a customer); return DLQ records for
    the ones that break the format. The latest message per customer wins, as on the topic."""
    latest: dict[str, Profile | None] = {}
    dlq = []
    for m in msgs:
        try:
            if m.value is None:
                try:
                    cid = (m.key or b"").decode("utf-8")
                except UnicodeDecodeError:
                    cid = ""
                if not 1 <= len(cid) <= MAX_ID:
                    raise Reject(SCHEMA, "tombstone: its key must be a customer id of "
                                         f"1..{MAX_ID} characters")
                latest[cid] = None
            else:
                p = parse_profile(m.value)
                latest[p.customer_id] = p
        except Reject as rej:
            dlq.append((m.key, dead_letter({"reason": rej.reason, "detail": rej.detail,
                                            **raw_fields(m.value)}, m, max_bytes)))
        except Exception as exc:
            failed = message_failure("profile", exc, m.origin, metrics)
            dlq.append((m.key, dead_letter({"reason": failed.reason, "detail": failed.detail,
                                            **raw_fields(m.value)}, m, max_bytes)))
    good = [p for p in latest.values() if p is not None]
    gone = [cid for cid, p in latest.items() if p is None]
    if good:
        await store.put_profiles(good)
    if gone:
        await erase_profiles(store, gone)
    if metrics is not None:
        metrics.count_profiles("stored", len(good))
        metrics.count_profiles("erased", len(gone))
        metrics.count_profiles("rejected", len(dlq))
    return dlq


@dataclass
class TimerRecords:
    """Timer events to produce; once Kafka has them, `clear_timer_outbox` takes them out of
    the outbox."""

    records: list[tuple[bytes, bytes]] = field(default_factory=list)
    written: dict[int, list[str]] = field(default_factory=dict)  # partition -> event ids


async def fire_timers(store: RedisStore, program: Program, now_us: int,
                      partitions: Iterable[int], limit: int = 500,
                      fences: dict[int, str] | None = None,
                      metrics: BatchMetrics | None = None,
                      outbox: bool = True) -> TimerRecords:
    """Announce the point transitions due by `now_us` (activation, expiry warning, expiry) in
    the given partitions and mark them announced. With `outbox`, the events are written in the
    same atomic call as the marks and stay there until Kafka has them (`clear_timer_outbox`):
    events left by a crash or an outage are sent again first, with the same ids. Timer entries
    of customers who are gone are removed. A partition whose fence refuses the write (another
    worker owns it now) gives nothing. Raises `Conflict` when a receipt moved one of the
    customers meanwhile (try again on the next tick)."""
    out = TimerRecords()
    for p in partitions:
        token = (fences or {}).get(p, "")
        if outbox:
            left = await store.outbox(p)
            if left:
                out.records += [(orjson.loads(v)["customer_id"].encode(), v) for _, v in left]
                out.written.setdefault(p, []).extend(eid for eid, _ in left)
        due = await store.due_customers(p, now_us, limit)
        if not due:
            continue
        view = await store.load_customers(p, due)
        await store.drop_timers(p, [c for c in due if c not in view.customers])
        fired: list[tuple[str, bytes]] = []
        for cid, st in view.customers.items():
            try:
                evs = [(ev["event_id"], orjson.dumps(ev))
                       for ev in timers.fire_due(st, program, now_us)]
            except Exception as exc:  # this customer's timers only: the others go on
                _timer_failed(cid, exc, metrics)
                continue  # not touched: nothing of it is written, the next tick tries again
            fired.extend(evs)
            view.touch(st)
        if outbox:
            view.keep_timer_events(p, fired)
        if p in await store.commit(view, {p: token} if token else None):
            continue
        out.records += [(orjson.loads(v)["customer_id"].encode(), v) for _, v in fired]
        if outbox and fired:
            out.written.setdefault(p, []).extend(eid for eid, _ in fired)
    return out


async def clear_timer_outbox(store: RedisStore, sent: TimerRecords) -> None:
    """Kafka has these timer events: they leave the outbox."""
    for p, ids in sent.written.items():
        await store.clear_outbox(p, ids)


_TIMER_FAILURES_LOGGED: set[str] = set()


def _timer_failed(cid: str, exc: BaseException, metrics: BatchMetrics | None) -> None:
    """Count every failure; log each customer's once per process (it recurs every tick)."""
    if metrics is not None:
        metrics.count_failure("timer")
    if cid not in _TIMER_FAILURES_LOGGED and len(_TIMER_FAILURES_LOGGED) < 10_000:
        _TIMER_FAILURES_LOGGED.add(cid)
        log.error("timers failed for customer %r; the other customers go on", cid,
                  exc_info=exc)
