"""Point timers in the stream fire on the wall clock, once per bucket, from Redis's timer index."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
import redis
from e2e_support import WorkerProcess, produce, read_all, read_until, worker_env

from streamproc.state.redis.store import read_customer
from streamproc.tools.devstack import create_topics
from streamproc.tools.loadgen import receipt_key

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).parents[1] / "golden"


def test_activation_events_fire_once_per_bucket(tmp_path, kafka_bootstrap, redis_url):
    prefix = "timers"
    create_topics(kafka_bootstrap, {f"{prefix}-receipts": 1, f"{prefix}-customers": 1,
                                    f"{prefix}-receipt-results": 1,
                                    f"{prefix}-loyalty-events": 1, f"{prefix}-receipts-dlq": 1})
    raws = [x for x in (GOLDEN / "receipts.jsonl").read_bytes().splitlines() if x.strip()]
    env = worker_env(kafka_bootstrap, redis_url, str(GOLDEN / "program.yaml"), prefix,
                     partitions=1)
    env["STREAMPROC_TIMER_INTERVAL_S"] = "0.2"
    w = WorkerProcess(tmp_path, "w", env).start()
    try:
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts",
                            [(receipt_key(r), r) for r in raws]))

        def problem() -> str | None:
            return None if w.alive() else f"worker died:\n{w.tail()}"

        # The examples run in March 2026: by today's wall clock every pending bucket with points
        # left has activated (R2's rate-based buckets: 689 left after the return; R3's 10965;
        # R4's refund of 12025 is active at once and so announced too), none has expired yet.
        def activated(recs) -> list[dict]:
            evs = [orjson.loads(r.value) for r in recs]
            return [e for e in evs if e["type"] == "points_activated"]

        recs = asyncio.run(read_until(
            kafka_bootstrap, f"{prefix}-loyalty-events",
            lambda r: sum(a["amount"] for a in activated(r)) >= 689 + 10965 + 12025,
            timeout=60, alive=problem))
        # the timer index moves C1 to its next event (an expiry warning, next year) only once
        # the announcements are committed: after that, nothing more may come
        r = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 30
        while (r.zscore(f"{prefix}:t:{{0}}", "C1") or 0) <= time.time() * 1e6:
            assert w.alive() and time.monotonic() < deadline, "timer index never moved on"
            time.sleep(0.05)
        r.close()
        recs = asyncio.run(read_all(kafka_bootstrap, f"{prefix}-loyalty-events"))
    finally:
        w.stop()
    acts = activated(recs)
    ids = [a["event_id"] for a in acts]
    assert len(ids) == len(set(ids)), "an activation was announced twice"
    assert sorted(a["amount"] for a in acts) == sorted([689, 10965, 12025])
    assert all(a["customer_id"] == "C1" for a in acts)
    # timers only announce: C1's own clock (29 March) still has R3's points pending
    st = read_customer(redis_url, "C1", prefix)
    assert st is not None and st.balance() == (12025, 11654)
