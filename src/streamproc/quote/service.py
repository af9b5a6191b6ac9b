"""One quote: the result the stream would give a receipt now, computed by the stream's own code.

A quote is `BatchProcessor.preview` of a one-message batch: the store's load (the same Lua call
and state format as the worker), the same processor and engine, on a view that is dropped
afterwards. Nothing is written to Redis; the apply script is never called.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import orjson

from streamproc.domain.program import Program
from streamproc.engine.processor import REJECTED, SaleEngine
from streamproc.errors import StreamprocError
from streamproc.processing.batch import BatchProcessor, InMessage
from streamproc.state.errors import StateError
from streamproc.state.redis.store import RedisStore

# what a quote answers 503 for: a Redis that is slow, gone or failing
# (the store raises every Redis error as a StateError)
_UNAVAILABLE: tuple[type[BaseException], ...] = (TimeoutError, StateError)
QUOTE_TOPIC = "quote"  # a quote's origin never equals a stream message's: no redelivery path


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
                 timeout_s: float = 0.25) -> None:
        self.store = store
        self.batch = BatchProcessor(program, engine, store)
        self.timeout_s = timeout_s

    async def quote(self, raw: bytes) -> Answer:
        msg = InMessage(QUOTE_TOPIC, -1, -1, None, raw)
        if not self.store.layout_known:  # place keys as the workers recorded, once known
            with contextlib.suppress(Exception):  # Redis down: the quote itself says so
                async with asyncio.timeout(self.timeout_s):
                    await self.store.adopt_layout()
        try:
            async with asyncio.timeout(self.timeout_s):
                out = await self.batch.preview([msg])
        except _UNAVAILABLE as exc:
            raise Unavailable(exc.__class__.__name__) from exc
        (o,) = out.outcomes
        if o.status == REJECTED:
            rej = o.reject or {}
            body = orjson.dumps({"reason": rej.get("reason"), "detail": rej.get("detail")})
            return Answer(422, body, o.status, out.redis_seconds)
        return Answer(200, o.result_json(), o.status, out.redis_seconds)

    async def ready(self, timeout_s: float = 1.0) -> bool:
        """Redis answers a PING within `timeout_s`."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.store.ping()
        except _UNAVAILABLE:
            return False

    async def close(self) -> None:
        await self.store.close()
