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
    from streamproc.config import settings_from
    from streamproc.domain.program import ProgramError, load_program
    from streamproc.engine.fast import make_engine
    from streamproc.engine.loader import CompiledEngineMissing

    s = settings_from(args)
    if not s.program:
        print("worker: no program file (--program or STREAMPROC_PROGRAM)", file=sys.stderr)
        return 2
    try:
        program = load_program(s.program)
        engine = make_engine(program, s.engine)
    except ProgramError as exc:
        print(f"worker: program refused, not starting ({len(exc.errors)} error(s)):",
              file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return 2
    except CompiledEngineMissing as exc:
        print(f"worker: not starting: {exc}", file=sys.stderr)
        return 3
    if args.create_topics:
        from streamproc.devstack import create_topics

        create_topics(s.kafka, {s.receipts_topic: s.partitions, s.customers_topic: s.partitions,
                                s.results_topic: s.partitions, s.events_topic: s.partitions,
                                s.dlq_topic: 1}, compacted={s.customers_topic})
    from streamproc.stream.app import run_worker

    return run_worker(s, program, engine)
