"""`streamproc replay`: a program over a receipts file, with a progress bar and a summary."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="run the program over a receipts file (what-if, reference)")
    p.add_argument("--program", required=True)
    p.add_argument("--receipts", required=True)
    p.add_argument("--customers", help="customer profiles JSONL, loaded first")
    p.add_argument("--out", help="results JSONL")
    p.add_argument("--events", help="events JSONL")
    p.add_argument("--rejects", help="rejects JSONL")
    p.add_argument("--report", help="report JSON; a PNG chart of cost per campaign beside it")
    p.add_argument("--engine", choices=("compiled", "reference"), default="compiled")
    p.add_argument("--redis", help="use this Redis (URL) as the state store instead of memory")
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
    from streamproc.replay import Replay, Sinks, read_messages
    from streamproc.report import plot_campaign_cost

    err = Console(stderr=True)
    loaded = load_program_and_engine(args.program, args.engine, "replay")
    if isinstance(loaded, int):
        return loaded
    program, engine = loaded
    for f in (args.receipts, args.customers):
        if f and not Path(f).is_file():
            print(f"no such file: {f}", file=sys.stderr)
            return 2
    if args.redis:
        from streamproc.replay_redis import run_redis_replay

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


def print_summary(report, engine_name: str, args: argparse.Namespace, console) -> None:
    from rich.table import Table

    t = Table(title=f"replay summary ({engine_name} engine)")
    t.add_column("what")
    t.add_column("value", justify="right")
    rate = report.messages / report.seconds if report.seconds else 0.0
    t.add_row("messages in", f"{report.messages:,}")
    for s in ("applied", "duplicate", "rejected"):
        t.add_row(f"  {s}", f"{report.by_status[s]:,}")
    for reason, n in sorted(report.rejects_by_reason.items()):
        t.add_row(f"    {reason}", f"{n:,}")
    t.add_row("reconciles (in = applied + duplicate + rejected)",
              "yes" if report.reconciles else "[red]NO[/]")
    t.add_row("discount given", _money(report.total_discount))
    t.add_row("points accrued (net of returns)", _money(report.total_accrued))
    t.add_row("points redeemed (net of returns)", _money(report.total_redeemed))
    t.add_row("points liability at end", _money(report.liability))
    t.add_row("customers", f"{report.customers:,}")
    t.add_row("tiers", ", ".join(f"{k}: {v:,}" for k, v in sorted(report.tiers.items())))
    t.add_row("timer events", f"{report.timer_events:,}")
    t.add_row("time", f"{report.seconds:.2f} s ({rate:,.0f} receipts/s)")
    console.print(t)
    top = Table(title="cost per campaign (top 15)")
    top.add_column("campaign")
    top.add_column("discount", justify="right")
    top.add_column("points", justify="right")
    names = sorted(set(report.discount_by_campaign) | set(report.points_by_campaign),
                   key=lambda c: -(report.discount_by_campaign[c] + report.points_by_campaign[c]))
    for c in names[:15]:
        top.add_row(c, _money(report.discount_by_campaign[c]), _money(report.points_by_campaign[c]))
    console.print(top)
    outs = [f"{k}: {getattr(args, k)}" for k in ("out", "events", "rejects", "report")
            if getattr(args, k)]
    if outs:
        console.print("written: " + ", ".join(outs))
    print(file=sys.stderr, end="")


def _money(units: int) -> str:
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // 100:,}.{units % 100:02d}"
