"""The receipts consumer: batches straight from aiokafka, offsets committed by hand.

Why not a faust agent: measured here, a Faust passthrough agent moves 4.7k msgs/s where a raw
aiokafka consume-to-produce loop moves 43k/s on the same broker (benchmarks/README.md, e2e):
faust puts every message through its conductor, channel queues and an Event, ~100 µs a message
before any loyalty work. The worker keeps faust for its app, profiles agent and timers, and reads
receipts with `getmany`, which also gives the exactly-once protocol what it needs: offsets are
committed only after a batch is in Redis and its results are acknowledged by Kafka, and a
rebalance waits for the batches in hand (the listener takes the same lock and flushes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from streamproc.processing.batch import InMessage

log = logging.getLogger("streamproc.worker")


class _Listener(ConsumerRebalanceListener):
    def __init__(self, loop: ReceiptsLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.loop.lock:  # the batch in hand finishes, is delivered and committed
            log.info("%s partitions revoked: %s", self.loop.topic,
                     sorted(tp.partition for tp in revoked))
            await self.loop.flush()
            self.loop.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s partitions assigned: %s", self.loop.topic,
                 sorted(tp.partition for tp in assigned))
        coord = self.loop.consumer._coordinator  # the generation this assignment belongs to
        gen, member = (coord.generation, coord.member_id) if coord is not None else (0, "")
        n = len(self.loop.consumer.partitions_for_topic(self.loop.topic) or ())
        # fence first: no batch of this generation runs before the partitions are ours
        self.loop.fences = await self.loop.on_assigned(
            sorted(tp.partition for tp in assigned), gen, member, n)
        self.loop.joined = True  # a member of the group now (even with no partition)


async def _no_fences(parts: list[int], gen: int, member: str, n: int) -> dict[int, str]:
    return {}


class ReceiptsLoop:
    """Consume, hand each batch to `handle` (which applies it to Redis and sends its records,
    returning their delivery and the partitions whose fence refused the write), and commit
    offsets only once those records are in Kafka (and `before_commit` returned: Redis has made
    the writes durable). On assignment `on_assigned` takes the partitions' fences.

    Not waiting for Kafka's acknowledgement batch by batch keeps its round trip off the
    critical path; a crash before a commit only means a redelivery, which the Redis store
    answers from stored outputs (docs/state-model.md)."""

    def __init__(self, bootstrap: str, topic: str, group: str, batch_size: int,
                 wait_ms: int,
                 handle: Callable[[list[InMessage]], Awaitable[tuple[Awaitable[Any], set[int]]]],
                 on_revoked: Callable[[set[TopicPartition]], None] = lambda _: None,
                 kafka_kwargs: dict[str, Any] | None = None,
                 commit_interval_s: float = 1.0,
                 on_assigned: Callable[[list[int], int, str, int],
                                       Awaitable[dict[int, str]]] = _no_fences,
                 before_commit: Callable[[], Awaitable[Any]] | None = None,
                 after_commit: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.topic = topic
        self.batch_size = batch_size
        self.wait_ms = wait_ms
        self.handle = handle
        self.on_revoked = on_revoked
        self.on_assigned = on_assigned
        self.before_commit = before_commit
        self.after_commit = after_commit
        self.fences: dict[int, str] = {}  # partition -> this member's fence token
        self.lock = asyncio.Lock()
        self.stopping = False
        self.joined = False  # readiness: the consumer has joined its group
        self.last_poll = time.monotonic()  # liveness: the loop came round recently
        # batches handled whose records are still on their way to Kafka, and their offsets:
        # committed together every `commit_interval_s`, when idle, on a rebalance, at the end
        self.pending: list[Awaitable[Any]] = []
        self.offsets: dict[TopicPartition, int] = {}
        self.last_commit = time.monotonic()
        self.commit_interval_s = commit_interval_s
        self.max_pending = 20
        self.kafka_errors = 0
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
            auto_offset_reset="earliest", max_poll_records=batch_size,
            fetch_max_bytes=64 << 20, max_partition_fetch_bytes=8 << 20,
            **(kafka_kwargs or {}))

    async def run(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=_Listener(self))
        delay = 0.1
        rewinding = False  # a batch failed: read again from the committed offsets first
        try:
            while not self.stopping:
                try:
                    if rewinding:
                        async with self.lock:
                            await self.rewind()
                        rewinding = False
                    await self._step()
                    delay = 0.1
                except KafkaError as exc:  # infrastructure: wait and redo, never exit
                    self.kafka_errors += 1
                    log.warning("Kafka error (%r); reading again from the committed offsets "
                                "in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                    rewinding = True  # until a rewind succeeds, no batch is read
            async with self.lock:
                await self.flush()
        finally:
            await self.consumer.stop()

    async def _step(self) -> None:
        data = await self.consumer.getmany(timeout_ms=self.wait_ms, max_records=self.batch_size)
        self.last_poll = time.monotonic()
        if data:
            async with self.lock:
                msgs = [InMessage(r.topic, r.partition, r.offset, r.key, r.value,
                                  r.timestamp) for recs in data.values() for r in recs]
                delivered, fenced = await self.handle(msgs)
                self.pending.append(delivered)
                for tp, recs in data.items():
                    if tp.partition not in fenced:  # else the new owner answers them
                        self.offsets[tp] = recs[-1].offset + 1
        if self.pending and (not data or len(self.pending) >= self.max_pending
                             or time.monotonic() - self.last_commit
                             >= self.commit_interval_s):
            async with self.lock:
                await self.flush()

    async def rewind(self) -> None:
        """Drop the batches whose records may not have reached Kafka and read their messages
        again from the committed offsets: Redis answers them from the stored outputs, so the
        same records are produced again (as after a crash, without the restart)."""
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)
            self.pending.clear()
        self.offsets.clear()
        for tp in self.assignment():
            committed = await self.consumer.committed(tp)
            try:
                if committed is None:
                    await self.consumer.seek_to_beginning(tp)
                else:
                    self.consumer.seek(tp, committed)
            except IllegalStateError:  # revoked meanwhile: its new owner reads from there
                log.info("%s was revoked while rewinding; its new owner reads it", tp)

    async def flush(self) -> None:
        """Wait until Kafka has every record of the batches handled so far, then commit their
        offsets. Called with the lock held: between batches, on a rebalance, at the end."""
        if self.pending:
            await asyncio.gather(*self.pending)
            self.pending.clear()
        if self.offsets:
            if self.before_commit is not None:
                await self.before_commit()  # Redis has the writes (durably, if configured)
            await self.consumer.commit({tp: OffsetAndMetadata(off, "")
                                        for tp, off in self.offsets.items()})
            self.offsets.clear()
            if self.after_commit is not None:
                await self.after_commit()  # e.g. answers kept for redelivery can go
        self.last_commit = time.monotonic()

    def kafka_ok(self) -> bool:
        """The group coordinator is known: aiokafka forgets it while the broker is away."""
        coord = self.consumer._coordinator
        return coord is not None and coord.coordinator_id is not None

    def owned_partitions(self) -> list[int]:
        """The receipts partitions this member owns (and holds fences for)."""
        return sorted(tp.partition for tp in self.assignment())

    def assignment(self) -> set[TopicPartition]:
        return set(self.consumer.assignment())

    async def lag(self) -> dict[TopicPartition, tuple[int, int | None]]:
        """Per assigned partition: (lag, committed offset)."""
        out = {}
        for tp in self.assignment():
            hw = self.consumer.highwater(tp)
            pos = await self.consumer.position(tp)
            committed = await self.consumer.committed(tp)
            if hw is not None and pos is not None:
                out[tp] = (max(0, hw - pos), committed)
        return out
