"""aiokafka against the real broker: what we produce comes back, in order per partition."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

pytestmark = pytest.mark.integration

N = 300
PARTITIONS = 3


async def test_produce_then_consume_with_group(kafka_bootstrap: str, make_topics) -> None:
    topic = make_topics("roundtrip", partitions=PARTITIONS)
    sent: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for i in range(N):
            key, value = f"customer-{i % 17}".encode(), f"receipt-{i:04d}".encode()
            futures.append((key, value, await producer.send(topic, value=value, key=key)))
        for key, value, fut in futures:
            meta = await fut
            sent[meta.partition].append((key, value))
    finally:
        await producer.stop()
    assert sum(map(len, sent.values())) == N
    assert len(sent) > 1, "17 keys should spread over more than one partition"

    got: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 60
        while sum(map(len, got.values())) < N:
            assert time.monotonic() < deadline, f"only {sum(map(len, got.values()))}/{N} arrived"
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                got[tp.partition].extend((r.key, r.value) for r in records)
        await consumer.commit()
        committed = {p: await consumer.committed(tp) for p, tp in _tps(consumer)}
    finally:
        await consumer.stop()

    assert dict(got) == dict(sent)  # same keys/values, same order within each partition
    keys_by_partition = {p: {k for k, _ in recs} for p, recs in got.items()}
    for p, keys in keys_by_partition.items():  # a key lives on exactly one partition
        others = set().union(*(v for q, v in keys_by_partition.items() if q != p))
        assert not keys & others
    assert committed == {p: len(recs) for p, recs in sent.items()}


def _tps(consumer: AIOKafkaConsumer):
    return sorted((tp.partition, tp) for tp in consumer.assignment())


async def test_auto_created_topic_works(kafka_bootstrap: str) -> None:
    """auto.create.topics.enable stays on (faust and quick scripts rely on it)."""
    topic = f"auto-{time.time_ns()}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        meta = await asyncio.wait_for(producer.send_and_wait(topic, b"hello"), 30)
    finally:
        await producer.stop()
    assert meta.topic == topic and meta.offset == 0
