"""Variant (a), the ceiling: a raw aiokafka consume-to-produce passthrough.

Consumes BENCH_IN with its own group from the beginning, produces every value (and key)
unchanged to BENCH_OUT, batch by batch: `getmany(max_records=BENCH_BATCH)`, one `send` future
per record, wait for all acks (acks=all), commit the batch's offsets (at most every
BENCH_COMMIT_S seconds). Like the worker: nothing is committed before Kafka has the output.

    BENCH_BOOTSTRAP=127.0.0.1:9092 BENCH_IN=receipts BENCH_OUT=out-a BENCH_GROUP=bench-a \
        python benchmarks/e2e/passthrough_aiokafka.py

Runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def main() -> None:
    env = os.environ
    bootstrap = env["BENCH_BOOTSTRAP"]
    batch = int(env.get("BENCH_BATCH", "500"))
    commit_s = float(env.get("BENCH_COMMIT_S", "1.0"))
    out = env["BENCH_OUT"]
    consumer = AIOKafkaConsumer(
        env["BENCH_IN"],
        bootstrap_servers=bootstrap,
        group_id=env["BENCH_GROUP"],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=batch,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=int(env.get("BENCH_LINGER_MS", "5")),
        max_batch_size=1 << 20,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    await producer.start()
    last_commit = time.monotonic()
    dirty = False
    try:
        while not stop.is_set():
            got = await consumer.getmany(timeout_ms=50, max_records=batch)
            if got:
                send = producer.send
                futs = [await send(out, r.value, key=r.key) for recs in got.values() for r in recs]
                await asyncio.gather(*futs)
                dirty = True
            if dirty and time.monotonic() - last_commit >= commit_s:
                await consumer.commit()
                last_commit = time.monotonic()
                dirty = False
        if dirty:
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main())
