"""Variant (b): a Faust passthrough agent, configured like the streamproc worker.

One agent (concurrency 1) over BENCH_IN with `value_serializer="raw"`: `take_events` batches of
BENCH_BATCH (within BENCH_WITHIN_MS), every value (and key) produced unchanged to BENCH_OUT with
the worker's own kind of producer (aiokafka, acks=all, idempotent, linger 5 ms), all acks awaited
before the batch returns to faust (which then may commit). The difference to the streamproc
worker is exactly the loyalty work: decode, engine, Redis.

    BENCH_BOOTSTRAP=127.0.0.1:9092 BENCH_IN=receipts BENCH_OUT=out-b BENCH_GROUP=bench-b \
        python benchmarks/e2e/passthrough_faust.py worker -l warn --without-web
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

env = os.environ
BATCH = int(env.get("BENCH_BATCH", "500"))
WITHIN = int(env.get("BENCH_WITHIN_MS", "50")) / 1000.0
OUT = env.get("BENCH_OUT", "bench-out-b")
PARTITIONS = int(env.get("BENCH_PARTITIONS", "6"))
BOOTSTRAP = env.get("BENCH_BOOTSTRAP", "127.0.0.1:9092")

app = faust.App(
    env.get("BENCH_GROUP", "bench-b"),
    broker=f"kafka://{BOOTSTRAP}",
    value_serializer="raw",
    key_serializer="raw",
    store="memory://",
    web_enabled=False,
    web_tables_enabled=False,
    topic_partitions=PARTITIONS,
    datadir=env.get("BENCH_DATADIR", ".run/bench-faust"),
    consumer_auto_offset_reset="earliest",
    # the streamproc worker's settings (src/streamproc/stream/app.py)
    stream_buffer_maxsize=max(4096, 4 * BATCH),
    broker_commit_every=max(1000, 2 * BATCH),
    broker_commit_interval=1.0,
    broker_max_poll_records=max(500, BATCH),
)
source = app.topic(env.get("BENCH_IN", "receipts"), key_type=bytes, value_type=bytes,
                   partitions=PARTITIONS)
_producer: list[AIOKafkaProducer] = []


async def producer() -> AIOKafkaProducer:
    if not _producer:
        p = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all",
                             enable_idempotence=True, linger_ms=5, max_batch_size=1 << 20)
        await p.start()
        _producer.append(p)
    return _producer[0]


@app.agent(source, concurrency=1)
async def passthrough(stream: Any) -> None:
    async for events in stream.take_events(BATCH, within=WITHIN):
        p = await producer()
        futs = [await p.send(OUT, e.message.value, key=e.message.key) for e in events]
        await asyncio.gather(*futs)


if __name__ == "__main__":
    app.main()
