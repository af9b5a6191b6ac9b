"""A stale owner writes nothing: a worker SIGSTOPped past its session timeout loses its
partitions to the other worker (a newer group generation takes their fences); SIGCONTed with a
batch in hand, its writes are refused by the fence, and the stream still equals the replay."""

from __future__ import annotations

import asyncio
import re
import signal
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from e2e_support import WorkerProcess, produce, read_until, replay_oracle, worker_env
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


def test_a_stale_owner_writes_nothing(tmp_path, kafka_bootstrap, redis_url):
    prefix = "fence"
    cfg = LoadgenConfig(seed=31, receipts=40_000, customers=4_000, days=15)
    receipts, customers, rpath, cpath = _setup(tmp_path, kafka_bootstrap, prefix, cfg)
    oracle = replay_oracle(PROGRAM, rpath, cpath)
    env = worker_env(kafka_bootstrap, redis_url, PROGRAM, prefix, batch_size=2000)
    asyncio.run(produce(kafka_bootstrap, f"{prefix}-customers", customers))
    a, b = (WorkerProcess(tmp_path, n, env).start() for n in ("a", "b"))
    want_ids = {r["receipt_id"] for r in oracle[0]}
    try:
        _wait_profiles(redis_url, prefix, len(customers), [a, b])
        sent = 20_000
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", receipts[:sent]))
        # pause `a` in the middle of its work, past the session timeout: its partitions go
        # to `b`; resumed, it finishes the batch in hand, and the fence refuses it. A pause
        # can land between batches (then `a` learns of the rebalance first): try again.
        for _ in range(8):  # in the full suite 4 tries all landed between batches
            time.sleep(1.5)
            a.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
            time.sleep(SESSION_TIMEOUT_S + 6)
            a.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline \
                    and _metric(a, "streamproc_fenced_writes_total") == 0:
                time.sleep(0.5)  # polling the worker's metrics endpoint
            if _metric(a, "streamproc_fenced_writes_total") > 0:
                break
            asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", receipts[sent:sent + 5000]))
            sent += 5000
        fenced = _metric(a, "streamproc_fenced_writes_total")
        assert fenced > 0, f"no stale write was attempted:\n{a.tail()}"
        assert "belong to another worker now" in a.log.read_text()
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", receipts[sent:]))

        def problem() -> str | None:
            for w in (a, b):
                if not w.alive():
                    return f"worker {w.name} died:\n{w.tail()}"
            return None

        stream = asyncio.run(read_until(
            kafka_bootstrap, f"{prefix}-receipt-results",
            lambda recs: {orjson.loads(x.value)["receipt_id"] for x in recs} >= want_ids,
            timeout=400, alive=problem))
        dlq = asyncio.run(read_until(
            kafka_bootstrap, f"{prefix}-receipts-dlq",
            lambda recs: len({(orjson.loads(x.value)["partition"],
                               orjson.loads(x.value)["offset"]) for x in recs})
            >= len(oracle[1]), timeout=120, alive=problem))
    finally:
        for w in (a, b):
            if w.alive():
                w.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
            w.stop()
    # nothing applied twice, nothing lost: the refused writes left no trace
    _compare(stream, dlq, oracle, _contested(receipts), redis_url, prefix, len(receipts))
