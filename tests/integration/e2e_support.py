"""Helpers for end-to-end tests: worker processes, topic readers, the in-memory replay oracle."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from streamproc.domain.program import load_program
from streamproc.engine.selection import make_engine
from streamproc.replay.in_memory import Replay, Sinks, read_messages
from streamproc.state.memory import MemoryState
from streamproc.tools.devstack import free_port
from streamproc.tools.kafka_io import produce, read_all, read_until
from streamproc.tools.process import ChildProcess

__all__ = ["TOPICS", "WorkerProcess", "first_dead", "produce", "read_all", "read_stream",
           "read_until", "replay_oracle", "worker_env"]

TOPICS = ("receipts", "customers", "receipt-results", "loyalty-events", "receipts-dlq")


class WorkerProcess(ChildProcess):
    """`streamproc worker` in a child process, with its own metrics port and log."""

    def __init__(self, run_dir: Path, name: str, env: dict[str, str]) -> None:
        self.run_dir = run_dir
        self.metrics_port = free_port()
        super().__init__(
            name, [sys.executable, "-m", "streamproc", "worker"], run_dir / f"{name}.log",
            env={**env, "STREAMPROC_METRICS_ADDR": f"127.0.0.1:{self.metrics_port}",
                 "STREAMPROC_STATE_DIR": str(run_dir / name)})

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)


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


def first_dead(workers: Sequence[WorkerProcess]) -> Callable[[], str | None]:
    """For `read_until(alive=...)`: the first worker that died, with its log's tail."""
    def problem() -> str | None:
        for w in workers:
            if not w.alive():
                return f"worker {w.name} died:\n{w.tail()}"
        return None
    return problem


def read_stream(bootstrap: str, prefix: str, oracle: tuple[list[dict], list[dict], Any],
                workers: Sequence[WorkerProcess], timeout: float = 300,
                at_least: int = 0) -> tuple[list[Any], list[Any]]:
    """The results topic once it holds every receipt id of the replay, then the DLQ once it
    holds a record for as many (partition, offset) as the replay rejected (redeliveries can
    repeat records; `at_least`: and that many results); fails early if a worker dies."""
    want_ids = {r["receipt_id"] for r in oracle[0]}
    problem = first_dead(workers)
    stream = asyncio.run(read_until(
        bootstrap, f"{prefix}-receipt-results",
        lambda recs: len(recs) >= at_least
        and {orjson.loads(x.value)["receipt_id"] for x in recs} >= want_ids,
        timeout=timeout, alive=problem))
    dlq = asyncio.run(read_until(
        bootstrap, f"{prefix}-receipts-dlq",
        lambda recs: len({(orjson.loads(x.value)["partition"], orjson.loads(x.value)["offset"])
                          for x in recs}) >= len(oracle[1]),
        timeout=120, alive=problem))
    return stream, dlq
