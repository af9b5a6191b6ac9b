"""Helpers for end-to-end tests: worker processes, topic readers, the in-memory replay oracle."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from streamproc.domain.program import load_program
from streamproc.engine.selection import make_engine
from streamproc.replay.in_memory import Replay, Sinks, read_messages
from streamproc.state.memory import MemoryState
from streamproc.tools.devstack import free_port
from streamproc.tools.kafka_io import produce, read_all, read_until
from streamproc.tools.process import ChildProcess

__all__ = ["TOPICS", "WorkerProcess", "produce", "read_all", "read_until", "replay_oracle",
           "worker_env"]

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
