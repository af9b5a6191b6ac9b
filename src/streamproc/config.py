"""Worker settings: every flag also reads from `STREAMPROC_<FLAG>` (flags win)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import Field, dataclass, fields
from typing import Any


@dataclass
class WorkerSettings:
    program: str = ""
    kafka: str = "127.0.0.1:9092"
    redis: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "sp"
    group: str = "streamproc-worker"
    receipts_topic: str = "receipts"
    customers_topic: str = "customers"
    results_topic: str = "receipt-results"
    events_topic: str = "loyalty-events"
    dlq_topic: str = "receipts-dlq"
    partitions: int = 6
    batch_size: int = 500
    batch_wait_ms: int = 50
    metrics_addr: str = "0.0.0.0:9100"
    engine: str = "compiled"
    consumer: str = "direct"  # receipts via aiokafka getmany ("direct") or a faust agent
    timer_interval_s: float = 1.0
    output_ttl_s: int = 86_400
    # the largest record the output topics take (their max.message.bytes; the broker's default
    # is 1048588): a result that would not fit goes to the dead-letter topic as `too_large`
    max_record_bytes: int = 1_000_000
    state_dir: str = ".run/worker"
    log_level: str = "warn"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""
    redis_password: str = ""

    SECRET = ("kafka_sasl_password", "redis_password")

    def redacted(self) -> dict[str, object]:
        return {f.name: ("***" if f.name in self.SECRET and getattr(self, f.name) else
                         getattr(self, f.name)) for f in fields(self)}


def _kind(f: Field[Any]) -> Callable[[str], Any]:
    """How a setting's text (flag or variable) becomes its value."""
    return {"int": int, "float": float}.get(str(f.type), str)


def add_worker_flags(p: argparse.ArgumentParser, cls: type = WorkerSettings) -> None:
    """A flag per field of `cls` (the worker's settings, or another command's own)."""
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        env = "STREAMPROC_" + f.name.upper()
        p.add_argument(flag, type=_kind(f), default=None,
                       help=f"(env {env}, default {f.default!r})")


def settings_from(args: argparse.Namespace, environ: dict[str, str] | None = None,
                  cls: type = WorkerSettings) -> Any:
    """Flags first, then STREAMPROC_* variables, then defaults (a `cls`, WorkerSettings)."""
    env = os.environ if environ is None else environ
    values = {}
    for f in fields(cls):
        v = getattr(args, f.name, None)
        if v is None:
            raw = env.get("STREAMPROC_" + f.name.upper())
            if raw is not None:
                v = _kind(f)(raw)
        if v is not None:
            values[f.name] = v
    return cls(**values)


def redis_url(s: WorkerSettings) -> str:
    """The Redis URL with `redis_password` in it when the URL carries none (worker, quotes)."""
    if s.redis_password and "@" not in s.redis.split("//", 1)[-1]:
        scheme, rest = s.redis.split("//", 1)
        return f"{scheme}//:{s.redis_password}@{rest}"
    return s.redis
