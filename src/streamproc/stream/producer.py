"""Produce a batch's records as record batches, one per topic-partition, and wait for them.

aiokafka's `send()` costs tens of microseconds a message in Python (a future, a murmur2 hash in
pure Python, accumulator bookkeeping); a receipt makes about 3.5 messages (its result and its
events). Appending to a `BatchBuilder` per partition and sending each batch once costs a few
microseconds a message. Partitions follow the Java client's default (murmur2 of the key), so a
customer's results and events land where any other Kafka client would put them; key -> partition
is cached because the same customers come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

_CACHE_MAX = 500_000


class BatchProducer:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.partitions: dict[str, list[int]] = {}
        self.cache: dict[tuple[int, bytes], int] = {}

    async def _partitions(self, topic: str) -> list[int]:
        parts = self.partitions.get(topic)
        if parts is None:
            parts = self.partitions[topic] = sorted(await self.producer.partitions_for(topic))
        return parts

    def _partition(self, parts: list[int], key: bytes | None, i: int) -> int:
        if key is None:
            return parts[i % len(parts)]
        ck = (len(parts), key)
        p = self.cache.get(ck)
        if p is None:
            if len(self.cache) >= _CACHE_MAX:
                self.cache.clear()
            p = self.cache[ck] = parts[(murmur2(key) & 0x7FFFFFFF) % len(parts)]
        return p

    async def send_all(self, topic: str, records: Iterable[tuple[bytes | None, bytes]]
                       ) -> list[asyncio.Future]:
        """Queue every record; return the futures of their batches' delivery."""
        parts = await self._partitions(topic)
        builders: dict[int, object] = {}
        futures: list[asyncio.Future] = []
        for i, (key, value) in enumerate(records):
            p = self._partition(parts, key, i)
            b = builders.get(p)
            if b is None:
                b = builders[p] = self.producer.create_batch()
            if b.append(key=key, value=value, timestamp=None) is None:  # type: ignore[attr-defined]
                futures.append(await self.producer.send_batch(b, topic, partition=p))
                b = builders[p] = self.producer.create_batch()
                if b.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(f"a record of {len(value)} bytes does not fit a batch")
        for p, b in builders.items():
            futures.append(await self.producer.send_batch(b, topic, partition=p))
        return futures
