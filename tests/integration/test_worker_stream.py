"""The worker end to end against the real broker and redis-server.

- Stream equals replay: the same generated receipts through Kafka (6 partitions, 2 worker
  processes) give the same results, contract field by field, and the same final balances, as
  the in-memory replay of the same file.
- Crash safety: workers SIGKILLed at random moments and restarted end identical to the replay:
  no receipt lost, none applied twice; counts reconcile.

Single-use coupons are shared by all customers, so their winner depends on the order between
partitions (spec section 7): customers who presented one are left out of the comparison.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import orjson
import pytest
import redis
from e2e_support import (
    WorkerProcess,
    produce,
    read_stream,
    replay_oracle,
    worker_env,
)

from streamproc.domain.program import load_program
from streamproc.state.redis.records import unpack
from streamproc.state.redis.store import read_customer
from streamproc.tools.devstack import create_topics
from streamproc.tools.loadgen import LoadgenConfig, customer_messages, generate_messages

pytestmark = pytest.mark.integration
PROGRAM = str(Path(__file__).parents[2] / "examples" / "retail-chain.yaml")


def _setup(tmp: Path, bootstrap: str, prefix: str, cfg: LoadgenConfig):
    create_topics(bootstrap, {f"{prefix}-receipts": 6, f"{prefix}-customers": 6,
                              f"{prefix}-receipt-results": 6, f"{prefix}-loyalty-events": 6,
                              f"{prefix}-receipts-dlq": 1}, compacted={f"{prefix}-customers"})
    receipts = list(generate_messages(cfg))
    customers = list(customer_messages(cfg))
    rpath, cpath = tmp / "receipts.jsonl", tmp / "customers.jsonl"
    rpath.write_bytes(b"".join(v + b"\n" for _, v in receipts))
    cpath.write_bytes(b"".join(v + b"\n" for _, v in customers))
    return receipts, customers, rpath, cpath


def _contested(receipts) -> set[str]:
    """Customers (or anonymous receipt ids) that presented a single-use code."""
    program = load_program(PROGRAM)
    single = {code for c in program.campaigns if c.single_use for code in c.coupon_codes}
    out = set()
    for _, raw in receipts:
        try:
            o = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(o, dict) and set(o.get("coupons") or ()) & single:
            out.add(o.get("customer_id") or o.get("receipt_id"))
    return out


def _who(result: dict) -> str:
    return result.get("customer_id") or result["receipt_id"]


def _compare(stream_results, stream_dlq, oracle, contested, redis_url, prefix, n_in,
             cluster: bool = False):
    results, rejects, state = oracle
    want: dict[str, set[bytes]] = {}
    for r in results:
        want.setdefault(r["receipt_id"], set()).add(orjson.dumps(r, option=orjson.OPT_SORT_KEYS))
    got: dict[str, set[bytes]] = {}
    for rec in stream_results:
        r = orjson.loads(rec.value)
        got.setdefault(r["receipt_id"], set()).add(orjson.dumps(r, option=orjson.OPT_SORT_KEYS))
    assert set(got) == set(want), "the stream and the replay saw different receipts"
    compared = 0
    for rid, variants in want.items():
        sample = orjson.loads(next(iter(variants)))
        if _who(sample) in contested:
            continue
        assert got[rid] == variants, f"receipt {rid}: stream {got[rid]} != replay {variants}"
        compared += 1
    assert compared > 0.8 * len(want)
    # rejects: same reasons for the same raw messages, each exactly once
    dlq = {(orjson.loads(r.value)["partition"], orjson.loads(r.value)["offset"]):
           orjson.loads(r.value) for r in stream_dlq}
    assert sorted((d["reason"], d["raw"]) for d in dlq.values()) == \
        sorted((d["reason"], d["raw"]) for d in rejects)
    # counts reconcile: every message in is exactly one of applied, duplicate, rejected; the
    # stream gave every receipt the replay's answer(s) and rejected the same messages once
    assert n_in == len(results) + len(rejects) == len(results) + len(dlq)
    # final balances
    checked = 0
    for cid, st in state.customers.items():
        if cid in contested:
            continue
        red = read_customer(redis_url, cid, prefix, cluster=cluster)
        assert red is not None, f"customer {cid} missing in Redis"
        assert (red.balance(), red.debt, red.spend, red.sales) == \
            (st.balance(), st.debt, st.spend, st.sales), f"customer {cid}"
        checked += 1
    assert checked > 0.8 * len(state.customers)


def _applied(redis_url: str, prefix: str) -> int:
    """Receipts applied so far (their records in Redis: each customer's packed ones, and an
    anonymous receipt's own key)."""
    client = redis.Redis.from_url(redis_url)
    try:
        n = sum(1 for _ in client.scan_iter(f"{prefix}:a:*", count=5000))
        for key in client.scan_iter(f"{prefix}:h:*", count=5000):
            raw = client.get(key)
            n += len(unpack(raw, None)) if raw is not None else 0
        return n
    finally:
        client.close()


def _wait_profiles(redis_url: str, prefix: str, n: int, workers, timeout: float = 120,
                   cluster: bool = False) -> None:
    client = redis.RedisCluster.from_url(redis_url) if cluster else redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while sum(1 for _ in client.scan_iter(f"{prefix}:p:*", count=1000)) < n:
            for w in workers:
                assert w.alive(), f"worker died:\n{w.tail()}"
            assert time.monotonic() < deadline, "profiles did not arrive"
            time.sleep(0.2)
    finally:
        client.close()


def test_stream_equals_replay(tmp_path, kafka_bootstrap, redis_url):
    prefix = "eq"
    cfg = LoadgenConfig(seed=11, receipts=12_000, customers=2_000, days=10)
    receipts, customers, rpath, cpath = _setup(tmp_path, kafka_bootstrap, prefix, cfg)
    oracle = replay_oracle(PROGRAM, rpath, cpath)
    env = worker_env(kafka_bootstrap, redis_url, PROGRAM, prefix)
    asyncio.run(produce(kafka_bootstrap, f"{prefix}-customers", customers))
    workers = [WorkerProcess(tmp_path, f"w{i}", env).start() for i in range(2)]
    try:
        _wait_profiles(redis_url, prefix, len(customers), workers)
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", receipts))
        n_results = len(oracle[0])

        stream, dlq = read_stream(kafka_bootstrap, prefix, oracle, workers, at_least=n_results)
    finally:
        for w in workers:
            w.stop()
    assert len(stream) == n_results, "no redelivery without a crash: one result per message"
    _compare(stream, dlq, oracle, _contested(receipts), redis_url, prefix, len(receipts))
    # the answers kept for redelivery and the budget claims went once the offsets committed
    client = redis.Redis.from_url(redis_url)
    try:
        left = [k for pattern in (f"{prefix}:o:*", f"{prefix}:g:{{g}}:k:*")
                for k in client.scan_iter(pattern, count=5000)]
    finally:
        client.close()
    assert not left, f"{len(left)} answers or claims outlived their commit: {left[:3]}"


def test_crash_safety_sigkill(tmp_path, kafka_bootstrap, redis_url):
    prefix = "crash"
    cfg = LoadgenConfig(seed=23, receipts=50_000, customers=5_000, days=20)
    receipts, customers, rpath, cpath = _setup(tmp_path, kafka_bootstrap, prefix, cfg)
    oracle = replay_oracle(PROGRAM, rpath, cpath)
    env = worker_env(kafka_bootstrap, redis_url, PROGRAM, prefix, batch_size=250)
    asyncio.run(produce(kafka_bootstrap, f"{prefix}-customers", customers))
    workers = [WorkerProcess(tmp_path, f"w{i}", env).start() for i in range(2)]
    rnd = random.Random(5)
    kills = 0
    last_kill_applied = 0
    want_ids = {r["receipt_id"] for r in oracle[0]}
    try:
        _wait_profiles(redis_url, prefix, len(customers), workers)
        # the receipts arrive in ten chunks and a worker is killed between chunks, after a
        # random pause: every kill lands while receipts are still being worked off
        chunks = [receipts[i:i + 5000] for i in range(0, len(receipts), 5000)]
        for i, chunk in enumerate(chunks):
            asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", chunk))
            if i < 7:
                time.sleep(rnd.uniform(0.5, 2.0))
                victim = rnd.choice(workers)
                victim.kill()
                kills += 1
                last_kill_applied = _applied(redis_url, prefix)
                victim.start()
        assert kills >= 5
        assert last_kill_applied < len(want_ids), "the last kill came after the work was done"

        stream, dlq = read_stream(kafka_bootstrap, prefix, oracle, workers, timeout=400)
    finally:
        for w in workers:
            w.stop()
    _compare(stream, dlq, oracle, _contested(receipts), redis_url, prefix, len(receipts))
