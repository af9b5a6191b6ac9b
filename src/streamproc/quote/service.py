"""One quote: the result the stream would give a receipt now, computed by the stream's own code.

A quote computes what `BatchProcessor.preview` of a one-message batch computes: the stream's
processor and engine (`make_processor`, the worker's), on the batch's `BatchView` of the same
state, with the batch's rules for a message that fails (dead-letter rejects `internal` and
`too_large`); the view is dropped afterwards. Nothing is written to Redis. Only the load is the
quote's own (`state.redis.quote_load`): one Redis call instead of the batch's two, reading the
shared budgets only when a line can reach a budgeted campaign (`engine.budget_reach`); if the
computation asks for a budget all the same, the receipt is computed again on a load that has
them, so the answer never depends on the shortcut.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import orjson

from streamproc.domain.program import Program
from streamproc.domain.receipt import Receipt, Reject
from streamproc.engine.budget_reach import BudgetReach
from streamproc.engine.processor import REJECTED, Outcome, SaleEngine, make_processor
from streamproc.errors import StreamprocError
from streamproc.processing.batch import (
    DEFAULT_MAX_RECORD_BYTES,
    compute_message,
    message_failure,
)
from streamproc.state.errors import StateError
from streamproc.state.redis.quote_load import QuoteLoader
from streamproc.state.redis.store import BatchView, RedisStore

# what a quote answers 503 for: a Redis that is slow, gone or failing
# (the store raises every Redis error as a StateError)
_UNAVAILABLE: tuple[type[BaseException], ...] = (TimeoutError, StateError)
QUOTE_TOPIC = "quote"  # a quote's origin never equals a stream message's: no redelivery path
QUOTE_ORIGIN = f"{QUOTE_TOPIC}/-1/-1"
_ASKS_BUDGET = ("b", "x")  # a claim on a budget, or its exhaustion (`BatchView.wants`)


class Unavailable(StreamprocError):
    """Redis did not answer in time or failed: the quote cannot be computed now."""


@dataclass(frozen=True, slots=True)
class Answer:
    http_status: int  # 200: a result (applied or duplicate); 422: the receipt is rejected
    body: bytes
    status: str  # applied, duplicate or rejected
    redis_seconds: float


class QuoteService:
    """Computes quotes against one Redis; holds no state of its own between quotes."""

    def __init__(self, program: Program, engine: SaleEngine, store: RedisStore,
                 timeout_s: float = 0.25,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self.store = store
        self.processor = make_processor(program, engine)  # the worker's (compiled when it is)
        self.loader = QuoteLoader(store)
        self.reach = BudgetReach(program)
        self.timeout_s = timeout_s
        self.max_record_bytes = max_record_bytes

    async def quote(self, raw: bytes) -> Answer:
        o, redis_seconds = await self._outcome(raw)
        if o.status == REJECTED:
            rej = o.reject or {}
            body = orjson.dumps({"reason": rej.get("reason"), "detail": rej.get("detail")})
            return Answer(422, body, o.status, redis_seconds)
        return Answer(200, o.result_json(), o.status, redis_seconds)

    async def _outcome(self, raw: bytes) -> tuple[Outcome, float]:
        processor = self.processor
        try:
            r = processor.decode(raw)
        except Reject as rej:
            return processor.rejected(rej, raw), 0.0
        except Exception as exc:
            return processor.rejected(message_failure("decode", exc, QUOTE_ORIGIN, None),
                                      raw), 0.0
        store = self.store
        if not store.layout_known:  # place keys as the workers recorded, once known
            with contextlib.suppress(Exception):  # Redis down: the quote itself says so
                async with asyncio.timeout(self.timeout_s):
                    await store.adopt_layout()
        p = store.partition_of(r.customer_id or r.receipt_id)
        budgets = self.reach.touches(r)
        try:
            async with asyncio.timeout(self.timeout_s):
                t0 = time.perf_counter()
                view = await self.loader.load(p, r, budgets)
                redis_seconds = time.perf_counter() - t0
                o = self._compute(r, view, raw, p)
                if not budgets and any(w[1] in _ASKS_BUDGET for w in view.wants):
                    # a budget mattered after all: compute again on a view that has them
                    t0 = time.perf_counter()
                    view = await self.loader.load(p, r, True)
                    redis_seconds += time.perf_counter() - t0
                    o = self._compute(r, view, raw, p)
        except _UNAVAILABLE as exc:
            raise Unavailable(exc.__class__.__name__) from exc
        return o, redis_seconds

    def _compute(self, r: Receipt, view: BatchView, raw: bytes, p: int) -> Outcome:
        """The batch's computation of one message (`compute_message`), rejects included."""
        try:
            return compute_message(self.processor, r, view, raw, QUOTE_ORIGIN, p,
                                   self.max_record_bytes, None)
        except Reject as rej:
            return self.processor.rejected(rej, raw)

    async def ready(self, timeout_s: float = 1.0) -> bool:
        """Redis answers a PING within `timeout_s`."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.store.ping()
        except _UNAVAILABLE:
            return False

    async def close(self) -> None:
        await self.loader.aclose()
        await self.store.close()
