"""A stale owner writes nothing: a worker SIGSTOPped past its session timeout loses its
partitions to the other worker (a newer group generation takes their fences); SIGCONTed with a
batch in hand, its writes are refused by the fence, and the stream still equals the replay.
The worker stops itself at the exact point (a failpoint: `stream/failpoints.py`), so the pause
always lands with a batch in hand, never between batches."""

from __future__ import annotations

import asyncio
import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest
import redis
from e2e_support import WorkerProcess, first_dead, produce, read_stream, replay_oracle, worker_env
from test_worker_stream import _compare, _contested, _setup, _wait_profiles

from streamproc.tools.loadgen import LoadgenConfig

pytestmark = pytest.mark.integration
PROGRAM = str(Path(__file__).parents[2] / "examples" / "retail-chain.yaml")
SESSION_TIMEOUT_S = 10  # aiokafka's default session.timeout.ms


def _metric(w: WorkerProcess, name: str) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{w.metrics_port}/metrics",
                                      timeout=2).read().decode()
    except OSError:
        return 0.0
    m = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def _run_state(pid: int) -> str:
    """The process's state letter from /proc (T: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _fences(url: str, prefix: str, partitions: int = 6) -> dict[int, tuple[int, str]]:
    """Each partition's owner key: (group generation, member id)."""
    client = redis.Redis.from_url(url)
    try:
        raw = {p: client.get(f"{prefix}:f:{{{p}}}") for p in range(partitions)}
    finally:
        client.close()
    return {p: (int(v.split()[0]), v.split()[1].decode()) for p, v in raw.items() if v}


def _wait(cond, what: str, timeout: float, alive) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert (msg := alive()) is None, msg
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)  # polling /proc and Redis for the condition


def test_a_stale_owner_writes_nothing(tmp_path, kafka_bootstrap, redis_url):
    prefix = "fence"
    cfg = LoadgenConfig(seed=31, receipts=40_000, customers=4_000, days=15)
    receipts, customers, rpath, cpath = _setup(tmp_path, kafka_bootstrap, prefix, cfg)
    oracle = replay_oracle(PROGRAM, rpath, cpath)
    env = worker_env(kafka_bootstrap, redis_url, PROGRAM, prefix, batch_size=2000)
    asyncio.run(produce(kafka_bootstrap, f"{prefix}-customers", customers))
    # `a` pauses itself (SIGSTOP) with its 2nd batch in hand, before applying it
    a = WorkerProcess(tmp_path, "a", {**env, "STREAMPROC_FAILPOINTS": "before_apply=stop@2"})
    b = WorkerProcess(tmp_path, "b", env)
    a.start()
    b.start()

    problem = first_dead([a, b])

    try:
        _wait_profiles(redis_url, prefix, len(customers), [a, b])
        # both own receipts partitions before any receipt is sent: a worker that joins late
        # may find the other has drained its share already, and never see a 2nd batch
        _wait(lambda: len(f := _fences(redis_url, prefix)) == 6
              and len({m for _, m in f.values()}) == 2,
              "both workers own receipts partitions", 120, problem)
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", receipts[:20_000]))
        pid = a.proc.pid  # type: ignore[union-attr]
        _wait(lambda: _run_state(pid) == "T", "a paused itself", 120, problem)
        paused_at = max(g for g, _ in _fences(redis_url, prefix).values())
        # past the session timeout `b` takes every partition: a newer generation, one member
        _wait(lambda: len(f := _fences(redis_url, prefix)) == 6
              and len({m for _, m in f.values()}) == 1
              and min(g for g, _ in f.values()) > paused_at,
              "b owns every partition", SESSION_TIMEOUT_S + 60, problem)
        a.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        # resumed, `a` applies the batch in hand with its old generation: refused
        _wait(lambda: _metric(a, "streamproc_fenced_writes_total") > 0,
              "a's stale write was refused", 60, problem)
        assert "belong to another worker now" in a.log.read_text()
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", receipts[20_000:]))

        stream, dlq = read_stream(kafka_bootstrap, prefix, oracle, [a, b], timeout=400)
    finally:
        for w in (a, b):
            if w.alive():
                w.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
            w.stop()
    # nothing applied twice, nothing lost: the refused writes left no trace
    _compare(stream, dlq, oracle, _contested(receipts), redis_url, prefix, len(receipts))
