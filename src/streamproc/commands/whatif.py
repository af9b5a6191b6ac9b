"""`streamproc whatif`: what a candidate program costs and changes against the current one,
over real receipts from real state; writes comparison.csv, comparison.json and report.html."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("whatif", help="compare a candidate program with the current one over "
                       "the same receipts (docs/whatif.md)")
    p.add_argument("--candidate", required=True, help="the new program file")
    p.add_argument("--baseline", required=True, help="the current program file")
    p.add_argument("--receipts", required=True, help="receipts JSONL, replayed in file order")
    p.add_argument("--customers", help="customer profiles JSONL, loaded first")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--state-from", metavar="redis://URL",
                       help="start from a read-only snapshot of this Redis (never written)")
    start.add_argument("--warmup", metavar="FILE",
                       help="earlier receipts replayed silently under the baseline first")
    p.add_argument("--prefix", default="sp", help="key prefix of the Redis store (default sp)")
    p.add_argument("--out-dir", required=True, help="where the comparison files go")
    p.add_argument("--engine", choices=("compiled", "reference"), default="compiled")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )

    from streamproc.commands._startup import load_program_and_engine
    from streamproc.commands.replay import _count_lines
    from streamproc.engine.selection import make_engine
    from streamproc.replay.whatif import WhatIf, describe_start, load_profiles_into, warm_up
    from streamproc.state.memory import MemoryState

    err = Console(stderr=True)
    loaded = []
    for path in (args.baseline, args.candidate):
        got = load_program_and_engine(path, args.engine, "whatif")
        if isinstance(got, int):
            return got
        loaded.append(got)
    (baseline, base_engine), (candidate, _) = loaded
    for f in (args.receipts, args.customers, args.warmup):
        if f and not Path(f).is_file():
            print(f"whatif: no such file: {f}", file=sys.stderr)
            return 2
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def bar(label: str) -> Progress:
        return Progress(TextColumn(f"[bold]{label}[/]"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=err, disable=args.no_progress)

    def ticker(progress: Progress, task: TaskID) -> tuple[dict[str, int], Callable[[], None]]:
        counter = {"n": 0}

        def tick() -> None:
            counter["n"] += 1
            if counter["n"] % 2000 == 0:
                progress.update(task, completed=counter["n"])
        return counter, tick

    state = MemoryState()
    clock = None
    kind, detail = "empty", ""
    if args.state_from:
        from streamproc.state.redis.snapshot import read_snapshot

        with bar("snapshot") as progress:
            task = progress.add_task("snapshot", total=None)
            state = read_snapshot(args.state_from, baseline, args.prefix,
                                  on_customer=lambda n: progress.advance(task, n))
        kind, detail = "redis", args.state_from
    elif args.warmup:
        total = _count_lines(args.warmup)
        with bar("warm-up") as progress:
            task = progress.add_task("warm-up", total=total)
            _, tick = ticker(progress, task)
            if args.customers:
                load_profiles_into(state, args.customers, baseline, base_engine)
            clock = warm_up(baseline, base_engine, state, args.warmup, on_message=tick)
            progress.update(task, completed=total)
        kind, detail = "warmup", args.warmup
    if args.customers and not args.warmup:
        load_profiles_into(state, args.customers, baseline, base_engine)
    start = describe_start(kind, detail, len(state.customers))

    whatif = WhatIf(baseline, candidate, lambda p: make_engine(p, args.engine), state, clock,
                    decoder=args.engine)
    total = _count_lines(args.receipts)
    with bar("whatif") as progress:
        task = progress.add_task("whatif", total=total)
        _, tick = ticker(progress, task)
        seconds, _ = whatif.run(_messages(args.receipts), str(args.receipts), on_message=tick)
        progress.update(task, completed=total)
    result = whatif.result(seconds, start)
    written = write_outputs(result, out)
    from streamproc.replay.whatif_summary import print_summary

    print_summary(result, written, Console())
    return 0


def _messages(path: str):
    from streamproc.replay.in_memory import read_messages

    return read_messages(path)


def write_outputs(result, out: Path) -> list[Path]:
    import orjson

    from streamproc.replay.compare import campaign_rows, write_csv
    from streamproc.replay.whatif import json_ready

    rows = campaign_rows(result.baseline, result.candidate)
    csv_path, json_path = out / "comparison.csv", out / "comparison.json"
    write_csv(rows, csv_path)
    doc = json_ready(result)
    doc["campaigns"] = rows
    json_path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    written = [csv_path, json_path]
    try:
        from streamproc.replay.html_report import write_report
    except ModuleNotFoundError:
        return written
    html = out / "report.html"
    write_report(result, rows, doc, html)
    return [*written, html]
