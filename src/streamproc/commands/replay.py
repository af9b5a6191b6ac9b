"""`streamproc replay`: a program over a receipts file, with a progress bar and a summary."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from streamproc.config import add_redis_flags

    p = sub.add_parser("replay", help="run the program over a receipts file (what-if, reference)")
    p.add_argument("--program", required=True)
    p.add_argument("--receipts", required=True)
    p.add_argument("--customers", help="customer profiles JSONL, loaded first")
    p.add_argument("--out", help="results JSONL")
    p.add_argument("--events", help="events JSONL")
    p.add_argument("--rejects", help="rejects JSONL")
    p.add_argument("--report", help="report JSON; a PNG chart of cost per campaign beside it")
    p.add_argument("--engine", choices=("compiled", "reference"), default="compiled")
    add_redis_flags(p, "use this Redis (URL) as the state store instead of memory", None)
    p.add_argument("--partitions", type=int, default=int(os.environ.get(
        "STREAMPROC_PARTITIONS", "6")), help="with --redis: the receipts topic's partition "
        "count, to place each customer's state as a worker would")
    p.add_argument("--partitioner", choices=("murmur2", "crc32"),
                   default=os.environ.get("STREAMPROC_PARTITIONER", "murmur2"),
                   help="with --redis: the producers' partitioner")
    p.add_argument("--redis-cluster", action="store_true",
                   default=os.environ.get("STREAMPROC_REDIS_CLUSTER", "") not in ("", "0"))
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _count_lines(path: str) -> int:
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def run(args: argparse.Namespace) -> int:
    import orjson
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from streamproc.commands._startup import load_program_and_engine
    from streamproc.replay.in_memory import Replay, Sinks, read_messages
    from streamproc.replay.report import plot_campaign_cost
    from streamproc.replay.summary import print_summary

    err = Console(stderr=True)
    loaded = load_program_and_engine(args.program, args.engine, "replay")
    if isinstance(loaded, int):
        return loaded
    program, engine = loaded
    for f in (args.receipts, args.customers):
        if f and not Path(f).is_file():
            print(f"no such file: {f}", file=sys.stderr)
            return 2
    for flag in ("out", "events", "rejects", "report"):  # refused now, not after the run
        f = getattr(args, flag)
        if f and not Path(f).parent.is_dir():
            print(f"--{flag} {f}: no such folder {str(Path(f).parent)!r}", file=sys.stderr)
            return 2
        if f and Path(f).is_dir():
            print(f"--{flag} {f}: is a folder, not a file", file=sys.stderr)
            return 2
    if args.redis:
        from streamproc.replay.in_redis import run_redis_replay

        return run_redis_replay(args, program, engine)
    with contextlib.ExitStack() as stack:
        def open_out(path: str | None):
            return stack.enter_context(open(path, "wb")) if path else None

        sinks = Sinks(open_out(args.out), open_out(args.events), open_out(args.rejects))
        replay = Replay(program, engine)
        if args.customers:
            replay.load_profiles(args.customers, sinks.rejects)
        total = _count_lines(args.receipts)
        progress = Progress(TextColumn("[bold]replay[/]"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=err, disable=args.no_progress)
        with progress:
            task = progress.add_task("replay", total=total)
            counter = {"n": 0}

            def tick() -> None:
                counter["n"] += 1
                if counter["n"] % 2000 == 0:
                    progress.update(task, completed=counter["n"])

            report = replay.run(read_messages(args.receipts), source=args.receipts, sinks=sinks,
                                on_message=tick)
            progress.update(task, completed=total)
    rep = report.to_dict()
    rep["engine"] = engine.name
    rep["program"] = program.id
    if args.report:
        Path(args.report).write_bytes(orjson.dumps(rep, option=orjson.OPT_INDENT_2))
        png = str(Path(args.report).with_suffix(".png"))
        plot_campaign_cost(report, png, f"{program.id}: cost per campaign")
    print_summary(report, engine.name, args, Console())
    return 0 if report.reconciles else 1
