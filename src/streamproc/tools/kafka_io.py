"""Kafka in and out for the tools, the benchmarks and the tests: one producer, two readers.

`produce` sends `(key, value)` pairs (rate-limited, with a progress bar if asked);
`read_until` reads a topic from the start until a condition holds (a count, or any test of
the records) and `read_all` reads what a topic holds right now, up to its end offsets.
The worker has its own producer and reader (`streamproc.stream`); nothing here is imported
by it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from streamproc.errors import StreamprocError
from streamproc.tools.progress import progress_bar

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, ConsumerRecord

Pair = tuple[bytes | None, bytes]


class ReadTimeout(StreamprocError, TimeoutError):
    """A topic did not hold what was waited for in time (or its writer died)."""


class TokenBucket:
    """At most `rate` tokens a second on average, bursts up to `burst` (default rate / 10)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = max(1.0, burst if burst is not None else self.rate / 10)
        self.tokens = self.burst
        self.last: float | None = None

    async def take(self, n: float = 1.0) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.last is None:
            self.last = now
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        self.tokens -= n
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / self.rate)


async def produce(
    bootstrap: str,
    topic: str,
    pairs: Iterable[Pair] | AsyncIterator[Pair],
    rate: float | None = None,
    progress: bool = False,
    total: int | None = None,
    linger_ms: int = 10,
    max_batch_size: int = 1 << 20,
    in_flight: int = 20_000,
    acks: int | str = 1,
) -> int:
    """Send `(key, value)` pairs to `topic` with aiokafka; returns how many were sent (acked).
    `rate` limits messages per second (token bucket). Batches linger `linger_ms` and grow to
    `max_batch_size` bytes; at most `in_flight` sends wait for their acks at once; a progress
    bar when `progress`."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=linger_ms,
        max_batch_size=max_batch_size,
        max_request_size=max(max_batch_size, 1 << 20),
        acks=acks,
    )
    await producer.start()
    bucket = TokenBucket(rate) if rate else None
    sent = 0
    pending: list[asyncio.Future] = []
    bar = progress_bar(total, f"-> {topic}") if progress else None
    task = bar.add_task(f"-> {topic}", total=total) if bar is not None else None

    async def drain() -> None:
        nonlocal sent
        results = await asyncio.gather(*pending)
        sent += len(results)
        if bar is not None and task is not None:
            bar.update(task, completed=sent)
        pending.clear()

    async def items() -> AsyncIterator[Pair]:
        if hasattr(pairs, "__aiter__"):
            async for kv in pairs:
                yield kv
        else:
            for kv in pairs:
                yield kv

    try:
        if bar is not None:
            bar.start()
        async for key, value in items():
            if bucket is not None:
                await bucket.take()
            fut = await producer.send(topic, value=value, key=key)
            pending.append(fut)
            if len(pending) >= in_flight:
                await drain()
        await producer.flush()
        await drain()
    finally:
        if bar is not None:
            bar.stop()
        await producer.stop()
    return sent


def _consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                            enable_auto_commit=False, group_id=None)


async def read_until(bootstrap: str, topic: str,
                     done: int | Callable[[list[ConsumerRecord[Any, Any]]], bool],
                     timeout: float, alive: Callable[[], str | None] = lambda: None,
                     ) -> list[ConsumerRecord[Any, Any]]:
    """Read `topic` from the start until `done` records (a count, or `done(records)` holds);
    raise `ReadTimeout` after `timeout` seconds, or as soon as `alive()` reports a problem
    (a worker that died)."""
    finished = (lambda recs: len(recs) >= done) if isinstance(done, int) else done
    c = _consumer(bootstrap, topic)
    await c.start()
    out: list[ConsumerRecord[Any, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while not finished(out):
            problem = alive()
            if problem:
                raise ReadTimeout(problem)
            if time.monotonic() > deadline:
                raise ReadTimeout(f"timed out reading {topic}: {len(out)} records")
            batch = await c.getmany(timeout_ms=500, max_records=5000)
            for recs in batch.values():
                out.extend(recs)
    finally:
        await c.stop()
    return out


async def read_all(bootstrap: str, topic: str, timeout: float = 30,
                   ) -> list[ConsumerRecord[Any, Any]]:
    """Everything in `topic` right now: read from the start up to its end offsets."""
    c = _consumer(bootstrap, topic)
    await c.start()
    out: list[ConsumerRecord[Any, Any]] = []
    try:
        parts = c.assignment()
        deadline = time.monotonic() + timeout
        while not parts:  # assignment is immediate without a group; poll briefly
            if time.monotonic() > deadline:
                raise ReadTimeout(f"no partitions of {topic} assigned")
            await asyncio.sleep(0.05)
            parts = c.assignment()
        ends = await c.end_offsets(list(parts))

        async def behind() -> bool:
            for tp, end in ends.items():
                if await c.position(tp) < end:
                    return True
            return False

        while await behind():
            if time.monotonic() > deadline:
                raise ReadTimeout(f"timed out reading {topic} to its end")
            for recs in (await c.getmany(timeout_ms=500)).values():
                out.extend(recs)
    finally:
        await c.stop()
    return out
