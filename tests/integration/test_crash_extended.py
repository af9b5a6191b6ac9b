"""Crash test, extended: 2 workers with timers at their default interval; workers SIGKILLed
(at least 5 times: once by itself at a failpoint, between its apply and its commit, so a
redelivery is certain; the others at random moments), redis-server SIGKILLed twice (AOF with
`appendfsync everysec`) and the broker restarted once, all while receipts are being worked
off. Results and receipt events equal the replay's, balances too; every timer event whose mark
is in Redis is in `loyalty-events` with one payload per id (the outbox); redeliveries did
happen (metric).

Own broker and own redis-server (both are restarted here). A SIGKILLed redis-server keeps what
it wrote to its AOF (the kernel has it); what it loses is a machine crash's business, which
`--redis-durability` is for (docs/state-model.md).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
import redis
from e2e_support import (
    WorkerProcess,
    first_dead,
    produce,
    read_all,
    read_stream,
    replay_oracle,
    worker_env,
)
from test_worker_fence import _fences, _wait
from test_worker_stream import _compare, _contested, _setup, _wait_profiles

from streamproc.engine.model import EXPIRED, NOTE_ACTIVATED, NOTE_EXPIRED
from streamproc.state.redis.store import read_customer
from streamproc.tools.devstack import KafkaBroker, RedisServer
from streamproc.tools.loadgen import LoadgenConfig

# 2.5-6 min on the shared 2-core machine (own broker start, a broker restart, two Redis kills)
pytestmark = [pytest.mark.integration, pytest.mark.slow]
PROGRAM = str(Path(__file__).parents[2] / "examples" / "retail-chain.yaml")
TIMER_TYPES = ("points_activated", "points_expiring_soon", "points_expired")


def _redelivered(w: WorkerProcess) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{w.metrics_port}/metrics",
                                      timeout=2).read().decode()
    except OSError:
        return 0.0
    m = re.search(r"^streamproc_redelivered_total ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def _wait_ready(w: WorkerProcess, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{w.metrics_port}/readyz",
                                        timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:  # not listening yet, or 503
            pass
        assert w.alive() and time.monotonic() < deadline, f"{w.name} never ready:\n{w.tail()}"
        time.sleep(0.2)  # polling the worker's readiness endpoint


def _kill_redis(server: RedisServer) -> None:
    """SIGKILL (a SIGTERM would flush and prove nothing), then start it on its AOF again."""
    assert server.pid is not None and server.proc is not None
    os.kill(server.pid, signal.SIGKILL)
    server.proc.wait(10)
    server.pid = server.child = None
    server.start()


def test_crash_extended(tmp_path):
    broker = KafkaBroker(tmp_path / "kafka").start(timeout=120)
    server = RedisServer(tmp_path / "redis", appendonly=True,
                         extra_args=["--appendfsync", "everysec"]).start()
    bootstrap, url, prefix = broker.bootstrap, server.url, "xc"
    workers: list[WorkerProcess] = []
    try:
        cfg = LoadgenConfig(seed=41, receipts=27_000, customers=3_000, days=20)
        receipts, customers, rpath, cpath = _setup(tmp_path, bootstrap, prefix, cfg)
        oracle = replay_oracle(PROGRAM, rpath, cpath)
        env = worker_env(bootstrap, url, PROGRAM, prefix, batch_size=250)
        env["STREAMPROC_TIMER_INTERVAL_S"] = "1.0"  # the default
        asyncio.run(produce(bootstrap, f"{prefix}-customers", customers))
        # w0 SIGKILLs itself once, with its 2nd batch in Redis but neither in Kafka nor
        # committed (a failpoint): whoever owns those partitions next must redeliver
        workers = [WorkerProcess(tmp_path, "w0", {**env, "STREAMPROC_FAILPOINTS":
                                                  "after_apply=kill@2"}).start(),
                   WorkerProcess(tmp_path, "w1", env).start()]
        _wait_profiles(url, prefix, len(customers), workers)
        # both own receipts partitions before any receipt is sent: a worker that joins late
        # may find the other has drained its share of the first chunk, never reach its 2nd
        # batch, and the test would wait for a failpoint that cannot fire (CI, 2026-12-03)
        _wait(lambda: len(f := _fences(url, prefix)) == 6
              and len({m for _, m in f.values()}) == 2,
              "both workers own receipts partitions", 120, first_dead(workers))
        redelivered: dict[tuple[str, int], float] = {}

        def scrape() -> None:
            for w in workers:
                if w.alive():
                    key = (w.name, w.proc.pid)  # type: ignore[union-attr]
                    redelivered[key] = max(redelivered.get(key, 0.0), _redelivered(w))

        rnd = random.Random(8)
        # between chunks, one disruption each, while the previous chunk is worked off
        plan = ["failpoint", "redis", "worker", "broker", "worker", "redis", "worker",
                "worker"]
        chunks = [receipts[i:i + 3000] for i in range(0, len(receipts), 3000)]
        kills = {"worker": 0, "redis": 0, "broker": 0}
        for i, chunk in enumerate(chunks):
            asyncio.run(produce(bootstrap, f"{prefix}-receipts", chunk))
            if i >= len(plan):
                continue
            time.sleep(rnd.uniform(0.5, 1.5))  # let the chunk be in flight
            scrape()
            what = plan[i]
            if what == "failpoint":
                w0 = workers[0]
                assert w0.proc is not None and w0.proc.wait(120) == -signal.SIGKILL, \
                    f"w0 did not kill itself at its failpoint:\n{w0.tail()}"
                del w0.env["STREAMPROC_FAILPOINTS"]
                w0.start()
                _wait_ready(w0)
                deadline = time.monotonic() + 120
                while not any(_redelivered(w) > 0 for w in workers):
                    assert time.monotonic() < deadline, "the failpoint's batch never came again"
                    time.sleep(0.5)  # polling the workers' metrics
                scrape()
                what = "worker"
            elif what == "worker":
                victim = rnd.choice(workers)
                victim.kill()
                victim.start()
                # the next disruption waits until it is up again (a worker starting while the
                # broker is away exits in faust's start-up, and is restarted by its pod)
                _wait_ready(victim)
            elif what == "redis":
                _kill_redis(server)
            else:
                broker.stop(remove=False)
                broker.start(timeout=120)
            kills[what] += 1
        assert kills == {"worker": 5, "redis": 2, "broker": 1}

        problem = first_dead(workers)
        stream, dlq = read_stream(bootstrap, prefix, oracle, workers, timeout=500)
        contested = _contested(receipts)
        # results (with their receipt events) and balances equal the replay
        _compare(stream, dlq, oracle, contested, url, prefix, len(receipts))
        # the marks first (timers keep firing on the wall clock meanwhile), then the timer
        # outboxes seen empty: every event announced by then has reached Kafka
        finals = {cid: read_customer(url, cid, prefix) for cid in oracle[2].customers
                  if cid not in contested}
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 60
        while any(client.hlen(f"{prefix}:x:{{{p}}}") for p in range(6)):
            assert problem() is None and time.monotonic() < deadline, "outbox not emptied"
            time.sleep(0.2)  # polling Redis for the workers' next timer ticks
        client.close()
        scrape()
        events = asyncio.run(read_all(bootstrap, f"{prefix}-loyalty-events"))
    finally:
        for w in workers:
            w.stop()
        broker.stop()
        server.stop()
    assert sum(redelivered.values()) > 0, "no redelivery happened: the kills proved nothing"
    by_id: dict[str, set[bytes]] = {}
    for rec in events:
        ev = orjson.loads(rec.value)
        by_id.setdefault(ev["event_id"], set()).add(
            orjson.dumps(ev, option=orjson.OPT_SORT_KEYS))
    # every receipt event of the replay is in the topic, as the replay has it
    for r in oracle[0]:
        if (r.get("customer_id") or r["receipt_id"]) in contested:
            continue
        for ev in r.get("events", []):
            assert by_id.get(ev["event_id"]) == {orjson.dumps(ev, option=orjson.OPT_SORT_KEYS)}
    # timer events: one payload per id, and none whose mark is in Redis is missing
    timer_ids = [i for i, v in by_id.items() if orjson.loads(next(iter(v)))["type"]
                 in TIMER_TYPES]
    assert timer_ids, "the timers fired nothing: the test proved nothing about them"
    assert all(len(by_id[i]) == 1 for i in timer_ids), "a timer event id with two payloads"
    missing = []
    for cid, st in finals.items():
        assert st is not None
        for b in st.buckets:
            if b.state != EXPIRED and b.notes & NOTE_ACTIVATED and b.amount > 0:
                missing.append(f"{cid}/b{b.id}/points_activated")
            if b.state == EXPIRED and b.notes & NOTE_EXPIRED and b.burnt > 0:
                missing.append(f"{cid}/b{b.id}/points_expired")
    missing = [i for i in missing if i not in by_id]
    assert not missing, f"{len(missing)} announced timer events never reached Kafka: " \
        f"{missing[:5]}"
