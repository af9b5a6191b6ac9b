"""`streamproc worker`: the streaming worker (Faust) over Kafka, state in Redis."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from streamproc.config import add_worker_flags

    p = sub.add_parser("worker", help="run a streaming worker (Faust) over Kafka and Redis",
                       description="Every flag also reads from STREAMPROC_<FLAG>.")
    add_worker_flags(p)
    p.add_argument("--create-topics", action="store_true",
                   help="create the topics if missing (development; ops usually own topics)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from streamproc.commands._startup import load_program_and_engine
    from streamproc.config import settings_from

    s = settings_from(args)
    if not s.program:
        print("worker: no program file (--program or STREAMPROC_PROGRAM)", file=sys.stderr)
        return 2
    loaded = load_program_and_engine(s.program, s.engine, "worker")
    if isinstance(loaded, int):
        return loaded
    program, engine = loaded
    if args.create_topics:
        from streamproc.tools.devstack import create_topics

        create_topics(s.kafka, {s.receipts_topic: s.partitions, s.customers_topic: s.partitions,
                                s.results_topic: s.partitions, s.events_topic: s.partitions,
                                s.dlq_topic: 1}, compacted={s.customers_topic})
    from streamproc.stream.app import run_worker

    return run_worker(s, program, engine)
