"""A quote is what the stream then does: random generated workloads go through the real worker
(real Kafka, real redis-server) one receipt at a time, and each receipt is quoted just before
it is produced. Every quote must equal the worker's result for it, field by field (or the
worker's dead-letter reason and detail for a 422), and the quotes must leave Redis untouched.

One at a time, nothing happens between a quote and its sale, so budgets and single-use codes
must agree too (docs/quote-api.md says what a quote does not promise when tills race).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from pathlib import Path

import aiohttp
import orjson
import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from e2e_support import WorkerProcess, produce, worker_env
from quote_support import QuoteServer, write_tokens

from streamproc.tools.devstack import create_topics
from streamproc.tools.loadgen import LoadgenConfig, customer_messages, generate_messages

pytestmark = pytest.mark.integration
PROGRAM = str(Path(__file__).parents[2] / "examples" / "retail-chain.yaml")


def _fresh_seed() -> int:
    """New each run, and the same in every pytest-xdist worker of one run (they must collect
    the same test ids): taken from the run's id when there is one."""
    if "QUOTE_TEST_SEED" in os.environ:
        return int(os.environ["QUOTE_TEST_SEED"])
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run:
        return int(hashlib.sha256(run.encode()).hexdigest()[:8], 16) % (2**31 - 1) + 1
    return random.SystemRandom().randrange(1, 2**31)


# one fixed workload and one new each run (its seed is in the test id and every failure)
SEEDS = [7, _fresh_seed()]


def _snapshot(client: redis.Redis, prefix: str) -> dict[bytes, bytes]:
    """Every key but the stored answers (`:o:`) and the receipts' budget/code claims (`:k:`),
    which the worker drops on its own once their offsets commit, and the partitions' fences
    (`:f:`) and layout, which it writes whenever partitions are assigned to it: any of these
    can change between two snapshots without the quote's doing (seen: a fence written while
    a quote was asked)."""
    transient = (f"{prefix}:o:".encode(), f"{prefix}:g:{{g}}:k:".encode(),
                 f"{prefix}:f:".encode(), f"{prefix}:layout".encode())
    return {k: client.dump(k) for k in client.scan_iter(f"{prefix}:*", count=1000)
            if not k.startswith(transient)}


async def _quote_then_stream(bootstrap: str, prefix: str, port: int, token: str,
                             messages: list[tuple[bytes | None, bytes]], worker: WorkerProcess,
                             redis_url: str, seed: int) -> dict[str, int]:
    """Quote, produce, wait for the worker's answer, compare; one message at a time."""
    results_topic, dlq_topic = f"{prefix}-receipt-results", f"{prefix}-receipts-dlq"
    consumer = AIOKafkaConsumer(results_topic, dlq_topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    rcli = redis.Redis.from_url(redis_url)
    counts: dict[str, int] = {}
    await consumer.start()
    await producer.start()
    url = f"http://127.0.0.1:{port}/v1/quote"
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            for i, (key, raw) in enumerate(messages):
                before = _snapshot(rcli, prefix) if i % 25 == 0 else None
                async with http.post(url, data=raw) as resp:
                    status, body = resp.status, await resp.read()
                assert status in (200, 422), (status, body)
                if before is not None:
                    assert _snapshot(rcli, prefix) == before, "a quote changed Redis"
                await producer.send_and_wait(f"{prefix}-receipts", raw, key=key)
                record = await _next_record(consumer, worker)
                where = f"seed {seed}, message {i}: {raw[:120]!r}"
                if status == 200:
                    assert record.topic == results_topic, f"{where}: quoted, then rejected"
                    quote, streamed = orjson.loads(body), orjson.loads(record.value)
                    assert quote == streamed, f"{where}:\nquote  {quote}\nstream {streamed}"
                    counts[quote["status"]] = counts.get(quote["status"], 0) + 1
                    if quote["status"] == "applied" and quote.get("customer_id"):
                        counts["identified"] = counts.get("identified", 0) + 1
                else:
                    assert record.topic == dlq_topic, f"{where}: rejected by the quote only"
                    quote, dead = orjson.loads(body), orjson.loads(record.value)
                    assert (quote["reason"], quote["detail"]) == \
                        (dead["reason"], dead["detail"]), where
                    counts[quote["reason"]] = counts.get(quote["reason"], 0) + 1
    finally:
        await producer.stop()
        await consumer.stop()
        rcli.close()
    return counts


async def _next_record(consumer: AIOKafkaConsumer, worker: WorkerProcess):
    """The worker's one answer to the message just produced (a result or a dead letter)."""
    for _ in range(240):  # up to 60 s of 250 ms polls
        got = await consumer.getmany(timeout_ms=250, max_records=1)
        for recs in got.values():
            return recs[0]
        assert worker.alive(), f"worker died:\n{worker.tail()}"
    raise AssertionError("the worker gave no answer within 60 s")


def _wait_profiles(url: str, prefix: str, n: int, worker: WorkerProcess) -> None:
    client = redis.Redis.from_url(url)
    try:
        for _ in range(600):
            if sum(1 for _ in client.scan_iter(f"{prefix}:p:*", count=1000)) >= n:
                return
            assert worker.alive(), f"worker died:\n{worker.tail()}"
            asyncio.run(asyncio.sleep(0.1))  # polling Redis for the worker's writes
        raise AssertionError("profiles did not arrive")
    finally:
        client.close()


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_every_quote_equals_the_streams_result(tmp_path, kafka_bootstrap, redis_url, seed):
    prefix = f"qs{seed}"
    cfg = LoadgenConfig(seed=seed, receipts=220, customers=20, days=12, stores=5,
                        return_share_bps=900, duplicate_share_bps=300, bad_share_bps=250,
                        coupon_share_bps=2500, redeem_share_bps=2500)
    create_topics(kafka_bootstrap, {f"{prefix}-receipts": 1, f"{prefix}-customers": 1,
                                    f"{prefix}-receipt-results": 1,
                                    f"{prefix}-loyalty-events": 1, f"{prefix}-receipts-dlq": 1},
                  compacted={f"{prefix}-customers"})
    messages = list(generate_messages(cfg))
    customers = list(customer_messages(cfg))
    env = worker_env(kafka_bootstrap, redis_url, PROGRAM, prefix, partitions=1)
    env["STREAMPROC_BATCH_WAIT_MS"] = "5"
    worker = WorkerProcess(tmp_path, "w", env).start()
    token = write_tokens(tmp_path / "tokens", 1)[0]
    server = QuoteServer(tmp_path, PROGRAM, redis_url, prefix, tmp_path / "tokens",
                         "--quote-timeout-ms", "2000", log_level="warn")
    try:
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-customers", customers))
        _wait_profiles(redis_url, prefix, len(customers), worker)
        counts = asyncio.run(_quote_then_stream(kafka_bootstrap, prefix, server.port, token,
                                                messages, worker, redis_url, seed))
    finally:
        worker.stop()
        assert server.stop() == 0, server.log_text()
    assert sum(counts.values()) - counts.get("identified", 0) == len(messages)
    # the workload reached the paths that matter: customers with history, duplicates, rejects
    assert counts.get("identified", 0) > 100, counts
    assert counts.get("duplicate", 0) > 0, counts
    assert counts.get("schema", 0) + counts.get("invalid_json", 0) > 0, counts
