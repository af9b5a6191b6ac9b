"""A stop request ends the worker in bounded time even when the broker is gone: faust's consumer
thread would otherwise wait on the dead broker forever and SIGTERM would never end the pod."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from e2e_support import WorkerProcess, worker_env

from streamproc.tools.devstack import KafkaBroker, RedisServer, create_topics

pytestmark = pytest.mark.integration
PROGRAM = str(Path(__file__).parents[2] / "tests" / "golden" / "program.yaml")


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_sigterm_with_the_broker_gone_ends_the_worker_within_its_shutdown_timeout(tmp_path):
    broker = KafkaBroker(tmp_path / "kafka")  # its own broker: this test kills it
    redis_server = RedisServer(tmp_path / "redis").start()
    try:
        broker.start(timeout=120)
        prefix = "stop"
        create_topics(broker.bootstrap, {f"{prefix}-receipts": 2, f"{prefix}-customers": 2,
                                         f"{prefix}-receipt-results": 2,
                                         f"{prefix}-loyalty-events": 2,
                                         f"{prefix}-receipts-dlq": 1})
        env = worker_env(broker.bootstrap, redis_server.url, PROGRAM, prefix, partitions=2)
        env["STREAMPROC_SHUTDOWN_TIMEOUT_S"] = "5"
        w = WorkerProcess(tmp_path, "w", env).start()
        deadline = time.monotonic() + 90
        while not _ready(w.metrics_port):
            assert w.alive() and time.monotonic() < deadline, w.tail()
            time.sleep(0.2)  # polling the worker's readiness endpoint
        assert broker.pid is not None
        broker_pid = broker.pid
        subprocess.run(["kill", "-KILL", str(broker_pid)], check=True)
        started = time.monotonic()
        w.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        try:
            w.proc.wait(60)  # type: ignore[union-attr]
        finally:
            w.kill()
        took = time.monotonic() - started
        assert took < 30, f"the worker took {took:.0f} s to stop:\n{w.tail()}"
    finally:
        broker.stop()
        redis_server.stop()
