"""Helpers for end-to-end tests: worker processes, topic readers, the in-memory replay oracle."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamproc.domain.program import load_program
from streamproc.engine.selection import make_engine
from streamproc.replay.in_memory import Replay, Sinks, read_messages
from streamproc.state.memory import MemoryState
from streamproc.tools.devstack import free_port

TOPICS = ("receipts", "customers", "receipt-results", "loyalty-events", "receipts-dlq")


class WorkerProcess:
    """`streamproc worker` in a child process, with its own metrics port and log."""

    def __init__(self, run_dir: Path, name: str, env: dict[str, str]) -> None:
        self.run_dir = run_dir
        self.name = name
        self.env = env
        self.metrics_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = run_dir / f"{name}.log"

    def start(self) -> WorkerProcess:
        env = {**os.environ, **self.env,
               "STREAMPROC_METRICS_ADDR": f"127.0.0.1:{self.metrics_port}",
               "STREAMPROC_STATE_DIR": str(self.run_dir / self.name)}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "streamproc", "worker"],
                                         env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
            self.proc.wait(10)  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            try:
                self.proc.wait(30)  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def worker_env(bootstrap: str, redis_url: str, program: str, prefix: str,
               partitions: int = 6, engine: str = "compiled", batch_size: int = 500) -> dict:
    return {
        "STREAMPROC_KAFKA": bootstrap, "STREAMPROC_REDIS": redis_url,
        "STREAMPROC_PROGRAM": program, "STREAMPROC_GROUP": f"{prefix}-worker",
        "STREAMPROC_RECEIPTS_TOPIC": f"{prefix}-receipts",
        "STREAMPROC_CUSTOMERS_TOPIC": f"{prefix}-customers",
        "STREAMPROC_RESULTS_TOPIC": f"{prefix}-receipt-results",
        "STREAMPROC_EVENTS_TOPIC": f"{prefix}-loyalty-events",
        "STREAMPROC_DLQ_TOPIC": f"{prefix}-receipts-dlq",
        "STREAMPROC_PARTITIONS": str(partitions), "STREAMPROC_ENGINE": engine,
        "STREAMPROC_BATCH_SIZE": str(batch_size), "STREAMPROC_REDIS_PREFIX": prefix,
        "STREAMPROC_TIMER_INTERVAL_S": "3600",
    }


async def produce(bootstrap: str, topic: str, pairs: list[tuple[bytes | None, bytes]]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, max_batch_size=1 << 20,
                         acks="all")
    await p.start()
    try:
        futs = [await p.send(topic, value=v, key=k) for k, v in pairs]
        await asyncio.gather(*futs)
    finally:
        await p.stop()


async def read_until(bootstrap: str, topic: str, done: Callable[[list[Any]], bool],
                     timeout: float, alive: Callable[[], str | None] = lambda: None
                     ) -> list[Any]:
    """Read a topic from the start until `done(records)` holds; fail after `timeout` seconds,
    or as soon as `alive()` reports a problem (a worker that died)."""
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, group_id=None)
    await c.start()
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while not done(out):
            problem = alive()
            if problem:
                raise AssertionError(problem)
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out reading {topic}: {len(out)} records")
            batch = await c.getmany(timeout_ms=500, max_records=5000)
            for recs in batch.values():
                out.extend(recs)
    finally:
        await c.stop()
    return out


def replay_oracle(program_path: str, receipts: Path, customers: Path | None,
                  engine: str = "compiled") -> tuple[list[dict], list[dict], MemoryState]:
    """The in-memory replay of the same file: (results, rejects, final state)."""
    program = load_program(program_path)
    rp = Replay(program, make_engine(program, engine))
    if customers is not None:
        rp.load_profiles(customers)
    import io

    res, rej = io.BytesIO(), io.BytesIO()
    rp.run(read_messages(receipts), source=str(receipts), sinks=Sinks(results=res, rejects=rej))
    return ([orjson.loads(x) for x in res.getvalue().splitlines()],
            [orjson.loads(x) for x in rej.getvalue().splitlines()], rp.state)


async def read_all(bootstrap: str, topic: str, timeout: float = 30) -> list[Any]:
    """Everything in a topic right now: read from the start up to the end offsets."""
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, group_id=None)
    await c.start()
    out: list[Any] = []
    try:
        parts = c.assignment()
        while not parts:
            await asyncio.sleep(0.05)  # assignment is immediate without a group; poll briefly
            parts = c.assignment()
        ends = await c.end_offsets(list(parts))
        deadline = time.monotonic() + timeout
        async def behind() -> bool:
            for tp, end in ends.items():
                if await c.position(tp) < end:
                    return True
            return False

        while await behind():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out reading {topic} to its end")
            for recs in (await c.getmany(timeout_ms=500)).values():
                out.extend(recs)
    finally:
        await c.stop()
    return out
