"""A real Faust worker (subprocess) between two topics of the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamproc.tools.process import terminate

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
N = 50


@pytest.fixture
def faust_worker(kafka_bootstrap: str, make_topics, tmp_path: Path):
    """Start faust_echo_app as `faust worker`; yield (in_topic, out_topic, proc, log_path)."""
    topic_in, topic_out = make_topics("echo-in"), make_topics("echo-out")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "ECHO_APP_ID": f"echo-{topic_in}",
        "ECHO_BROKER": kafka_bootstrap,
        "ECHO_IN": topic_in,
        "ECHO_OUT": topic_out,
        "ECHO_DATADIR": str(tmp_path / "faust-data"),
    }
    log_path = tmp_path / "faust-worker.log"
    cmd = [sys.executable, "-m", "faust", "-A", "faust_echo_app", "worker", "--without-web",
           "-l", "warn"]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield topic_in, topic_out, proc, log_path
    finally:
        terminate(proc.pid, 30.0, proc)


async def test_faust_agent_round_trip(kafka_bootstrap: str, faust_worker) -> None:
    topic_in, topic_out, proc, log_path = faust_worker
    sent = [(f"k{i % 5}".encode(), f"receipt {i}".encode()) for i in range(N)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in sent:
            await producer.send(topic_in, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()

    got: list[tuple[bytes, bytes]] = []
    consumer = AIOKafkaConsumer(
        topic_out, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 90  # faust worker start + group join + processing
        while len(got) < N:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"got {len(got)}/{N} from {topic_out}; worker rc={proc.poll()}; log:\n"
                    + log_path.read_text(errors="replace")[-4000:]
                )
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                got.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()

    assert got == [(k, v.upper() + b"!") for k, v in sent]
    assert proc.poll() is None, "the worker should still be running"
