"""The receipts loop rides out a failed delivery against the real broker: when the records of a
batch do not reach Kafka, it does not exit; it reads the same messages again from the committed
offsets (Redis would answer them from their stored outputs) and goes on, so every message is
handled and the committed offsets end at the end of the topic."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaTimeoutError
from e2e_support import produce

from streamproc.stream.receipts_loop import ReceiptsLoop
from streamproc.tools.devstack import create_topics

pytestmark = pytest.mark.integration


async def _committed(bootstrap: str, topic: str, group: str) -> int:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                         enable_auto_commit=False)
    await c.start()
    try:
        return await c.committed(TopicPartition(topic, 0)) or 0
    finally:
        await c.stop()


def test_a_failed_delivery_rereads_from_the_committed_offsets(kafka_bootstrap):
    topic, group = "rl-receipts", "rl-group"
    create_topics(kafka_bootstrap, {topic: 1})
    n = 300
    asyncio.run(produce(kafka_bootstrap, topic, [(b"k", b"%d" % i) for i in range(n)]))

    async def main() -> tuple[list[int], int, int]:
        handled: list[int] = []
        failures = {"left": 2}

        async def handle(msgs):
            handled.extend(m.offset for m in msgs)
            fut = asyncio.get_running_loop().create_future()
            if failures["left"] > 0 and msgs[0].offset >= 100:
                failures["left"] -= 1
                fut.set_exception(KafkaTimeoutError("delivery timed out"))
            else:
                fut.set_result(None)
            return fut, set()  # (delivery, partitions whose fence refused the write)

        loop = ReceiptsLoop(kafka_bootstrap, topic, group, batch_size=50, wait_ms=100,
                            handle=handle, commit_interval_s=0.0)
        task = asyncio.create_task(loop.run())
        deadline = time.monotonic() + 120
        while len(set(handled)) < n or failures["left"] or loop.pending or loop.offsets:
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "the loop never caught up after the errors"
            await asyncio.sleep(0.05)  # polling the loop's state for the condition
        loop.stopping = True
        await asyncio.wait_for(task, 30)
        return handled, loop.kafka_errors, await _committed(kafka_bootstrap, topic, group)

    handled, errors, committed = asyncio.run(main())
    assert errors == 2
    assert set(handled) == set(range(n))
    assert committed == n
    again = [o for o in set(handled) if handled.count(o) > 1]
    assert again and min(again) >= 100  # only what had not been committed was read again


def test_a_failing_rewind_is_retried_before_any_batch_is_read(kafka_bootstrap):
    """The rewind itself meets Kafka errors (the committed offsets cannot be read): the loop
    does not exit and reads no batch until a rewind has succeeded, so nothing after the failed
    batch is committed past it."""
    topic, group = "rl-rewind", "rl-rewind-group"
    create_topics(kafka_bootstrap, {topic: 1})
    n = 200
    asyncio.run(produce(kafka_bootstrap, topic, [(b"k", b"%d" % i) for i in range(n)]))

    async def main() -> tuple[list[int], int, int, int]:
        handled: list[int] = []
        failed = {"delivery": False, "committed": 0}

        async def handle(msgs):
            handled.extend(m.offset for m in msgs)
            fut = asyncio.get_running_loop().create_future()
            if not failed["delivery"] and msgs[0].offset >= 100:
                failed["delivery"] = True
                fut.set_exception(KafkaTimeoutError("delivery timed out"))
            else:
                fut.set_result(None)
            return fut, set()

        loop = ReceiptsLoop(kafka_bootstrap, topic, group, batch_size=50, wait_ms=100,
                            handle=handle, commit_interval_s=0.0)
        real_committed = loop.consumer.committed

        async def committed(tp):  # the first two reads of the rewind fail
            if failed["delivery"] and failed["committed"] < 2:
                failed["committed"] += 1
                raise KafkaTimeoutError("committed offsets not readable")
            return await real_committed(tp)

        loop.consumer.committed = committed  # type: ignore[method-assign]
        task = asyncio.create_task(loop.run())
        deadline = time.monotonic() + 120
        while len(set(handled)) < n or failed["committed"] < 2 or loop.pending or loop.offsets:
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "the loop never caught up after the rewind"
            await asyncio.sleep(0.05)  # polling the loop's state for the condition
        loop.stopping = True
        await asyncio.wait_for(task, 30)
        return handled, loop.kafka_errors, failed["committed"], await _committed(
            kafka_bootstrap, topic, group)

    handled, errors, rewind_failures, committed = asyncio.run(main())
    assert rewind_failures == 2 and errors == 3  # the delivery, then the rewind twice
    assert set(handled) == set(range(n)) and committed == n
    first_again = next(i for i, o in enumerate(handled) if handled.index(o) != i)
    assert handled[first_again] >= 100  # read again from the committed offset, not past it
