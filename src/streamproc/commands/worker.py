"""`streamproc worker`: the streaming worker (Faust) over Kafka, state in Redis."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamproc.config import WorkerSettings

EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: Kafka or Redis unreachable or refusing us


def register(sub: argparse._SubParsersAction) -> None:
    from streamproc.config import add_worker_flags

    p = sub.add_parser("worker", help="run a streaming worker (Faust) over Kafka and Redis",
                       description="Every flag also reads from STREAMPROC_<FLAG>.")
    add_worker_flags(p)
    p.add_argument("--create-topics", action="store_true",
                   help="create the topics if missing (development; ops usually own topics)")
    p.set_defaults(func=run)


def _state_dir(path: str) -> str | None:
    """The absolute, writable state folder (faust's datadir), or None after saying why not."""
    import os
    from pathlib import Path

    d = Path(path).expanduser().absolute()
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        print(f"worker: state dir {d} is not writable ({exc.strerror}); set "
              "STREAMPROC_STATE_DIR to a writable absolute path", file=sys.stderr)
        return None
    return os.fspath(d)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from streamproc.commands._startup import load_program_and_engine
    from streamproc.config import SettingsError, kafka_client_kwargs, settings_from
    from streamproc.observability import logs

    try:
        s = settings_from(args)
    except SettingsError as exc:
        print(f"worker: bad setting: {exc}", file=sys.stderr)
        return 2
    if not s.program:
        print("worker: no program file (--program or STREAMPROC_PROGRAM)", file=sys.stderr)
        return 2
    logs.setup(s.log_level, s.log_format)
    loaded = load_program_and_engine(s.program, s.engine, "worker")
    if isinstance(loaded, int):
        return loaded
    program, engine = loaded
    state_dir = _state_dir(s.state_dir)
    if state_dir is None:
        return 2
    s.state_dir = state_dir
    from streamproc.stream.preflight import Refused, Unreachable

    try:
        asyncio.run(_wait_for_servers(s))
    except (Refused, Unreachable) as exc:
        print(f"worker: not starting: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if args.create_topics:
        from streamproc.tools.devstack import create_topics

        create_topics(s.kafka, {s.receipts_topic: s.partitions, s.customers_topic: s.partitions,
                                s.results_topic: s.partitions, s.events_topic: s.partitions,
                                s.dlq_topic: 1}, compacted={s.customers_topic},
                      client_kwargs=kafka_client_kwargs(s))
    from streamproc.stream.app import run_worker

    return run_worker(s, program, engine)


async def _wait_for_servers(s: WorkerSettings) -> None:
    """The start-up check, with the health endpoint answering meanwhile (alive, not ready): a
    worker waiting for its broker or Redis is not a dead one for its orchestrator to restart."""
    import contextlib
    import logging

    from streamproc.observability.http import make_app, parse_addr, serve, stop
    from streamproc.observability.metrics import LoyaltyMetrics
    from streamproc.stream.preflight import preflight

    host, port = parse_addr(s.metrics_addr)
    runner = None
    try:
        runner = await serve(make_app(LoyaltyMetrics(), lambda: False, lambda: True), host, port,
                             announce=False)
    except OSError as exc:  # the port taken: the check goes on, the worker's own start says so
        logging.getLogger("streamproc.worker").debug("health endpoint not served while "
                                                     "waiting: %s", exc)
    try:
        await preflight(s)
    finally:
        if runner is not None:
            with contextlib.suppress(Exception):
                await stop(runner)
