"""Receipts produced by a librdkafka client (confluent-kafka's default partitioner,
`consistent_random`: CRC-32 of the key) land where `--partitioner crc32` says, so the worker
keeps each customer's state under that partition and `balance` finds every customer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from e2e_support import WorkerProcess, read_all, read_until, replay_oracle, worker_env

from streamproc.state.partitioning import Placement
from streamproc.state.redis.store import read_customer
from streamproc.tools.devstack import create_topics
from streamproc.tools.loadgen import LoadgenConfig, generate_messages

pytestmark = pytest.mark.integration
PROGRAM = str(Path(__file__).parents[2] / "examples" / "retail-chain.yaml")


def _produce_librdkafka(bootstrap: str, topic: str, pairs) -> None:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    p = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 10})
    for key, value in pairs:  # no partition given: the client's default partitioner places it
        p.produce(topic, value=value, key=key)
        p.poll(0)
    assert p.flush(30) == 0


def test_librdkafka_partitioner_finds_every_customer(tmp_path, kafka_bootstrap, redis_url):
    prefix = "crc"
    create_topics(kafka_bootstrap, {f"{prefix}-receipts": 6, f"{prefix}-customers": 6,
                                    f"{prefix}-receipt-results": 6,
                                    f"{prefix}-loyalty-events": 6, f"{prefix}-receipts-dlq": 1})
    cfg = LoadgenConfig(seed=7, receipts=1500, customers=300, days=3, bad_share_bps=0,
                        coupon_share_bps=0)
    msgs = list(generate_messages(cfg))
    rpath = tmp_path / "receipts.jsonl"
    rpath.write_bytes(b"".join(v + b"\n" for _, v in msgs))
    results, _, state = replay_oracle(PROGRAM, rpath, None)
    _produce_librdkafka(kafka_bootstrap, f"{prefix}-receipts", msgs)
    placed = asyncio.run(read_all(kafka_bootstrap, f"{prefix}-receipts"))
    crc = Placement(6, "crc32")
    assert all(r.partition == crc(r.key.decode()) for r in placed), "librdkafka uses CRC-32"
    env = worker_env(kafka_bootstrap, redis_url, PROGRAM, prefix)
    env["STREAMPROC_PARTITIONER"] = "crc32"
    w = WorkerProcess(tmp_path, "w", env).start()
    try:
        want = {r["receipt_id"] for r in results}
        asyncio.run(read_until(
            kafka_bootstrap, f"{prefix}-receipt-results",
            lambda recs: {orjson.loads(x.value)["receipt_id"] for x in recs} >= want,
            timeout=120, alive=lambda: None if w.alive() else f"worker died:\n{w.tail()}"))
    finally:
        w.stop()
    missing = [cid for cid in state.customers if read_customer(redis_url, cid, prefix) is None]
    assert not missing, f"{len(missing)} customers not found where the layout says"
    # and the partitioner matters: looked up the murmur2 way, most customers are elsewhere
    wrong = sum(read_customer(redis_url, cid, prefix, partitioner="murmur2") is None
                for cid in state.customers)
    assert wrong > len(state.customers) // 2
    for cid, st in state.customers.items():
        red = read_customer(redis_url, cid, prefix)
        assert red is not None and red.balance() == st.balance(), cid
