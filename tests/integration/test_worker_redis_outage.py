"""Redis goes away in the middle of the stream and comes back: the worker retries with backoff,
loses nothing and applies nothing twice (results equal the replay's)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
import redis
from e2e_support import WorkerProcess, produce, read_until, replay_oracle, worker_env

from streamproc.tools.devstack import RedisServer, create_topics
from streamproc.tools.loadgen import LoadgenConfig, generate_messages

pytestmark = pytest.mark.integration
PROGRAM = str(Path(__file__).parents[2] / "examples" / "retail-chain.yaml")


def _ready(w: WorkerProcess) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{w.metrics_port}/readyz", timeout=2) as r:
            return r.status == 200
    except OSError:  # urllib's HTTPError (a 503) is an OSError too
        return False


def _wait_ready(w: WorkerProcess, want: bool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _ready(w) != want:
        assert w.alive() and time.monotonic() < deadline, f"/readyz never became {want}"
        time.sleep(0.1)  # polling the worker's readiness endpoint


def test_worker_rides_out_a_redis_restart(tmp_path, kafka_bootstrap):
    prefix = "outage"
    server = RedisServer(tmp_path / "redis", appendonly=True).start()  # AOF: state survives
    create_topics(kafka_bootstrap, {f"{prefix}-receipts": 3, f"{prefix}-customers": 3,
                                    f"{prefix}-receipt-results": 3,
                                    f"{prefix}-loyalty-events": 3, f"{prefix}-receipts-dlq": 1})
    cfg = LoadgenConfig(seed=3, receipts=6000, customers=800, days=5, coupon_share_bps=0)
    msgs = list(generate_messages(cfg))
    rpath = tmp_path / "receipts.jsonl"
    rpath.write_bytes(b"".join(v + b"\n" for _, v in msgs))
    results, _, _ = replay_oracle(PROGRAM, rpath, None)
    env = worker_env(kafka_bootstrap, server.url, PROGRAM, prefix, partitions=3, batch_size=200)
    w = WorkerProcess(tmp_path, "w", env).start()
    try:
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", msgs[:3000]))
        client = redis.Redis.from_url(server.url)
        deadline = time.monotonic() + 60
        while sum(1 for _ in client.scan_iter(f"{prefix}:h:*", count=1000)) < 100:
            assert w.alive() and time.monotonic() < deadline, w.tail()
            time.sleep(0.05)
        client.close()
        server.stop(remove=False)  # Redis is gone while receipts keep coming
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", msgs[3000:]))
        assert w.alive(), "the worker must wait for Redis, not die"
        _wait_ready(w, False)  # readiness follows Redis: not ready while it waits for it
        server.start()
        _wait_ready(w, True)

        def problem() -> str | None:
            return None if w.alive() else f"worker died:\n{w.tail()}"

        want = {r["receipt_id"] for r in results}
        stream = asyncio.run(read_until(
            kafka_bootstrap, f"{prefix}-receipt-results",
            lambda recs: {orjson.loads(x.value)["receipt_id"] for x in recs} >= want,
            timeout=180, alive=problem))
    finally:
        w.stop()
        server.stop()
    got: dict[str, set[bytes]] = {}
    for rec in stream:
        r = orjson.loads(rec.value)
        got.setdefault(r["receipt_id"], set()).add(orjson.dumps(r, option=orjson.OPT_SORT_KEYS))
    exp: dict[str, set[bytes]] = {}
    for r in results:
        exp.setdefault(r["receipt_id"], set()).add(orjson.dumps(r, option=orjson.OPT_SORT_KEYS))
    assert got == exp
    assert "Redis unavailable" in w.log.read_text(), "the outage was seen and retried"
