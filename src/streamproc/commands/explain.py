"""`streamproc explain`: for one receipt, every campaign and why it applied or not."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="why each campaign applied to one receipt or not")
    p.add_argument("--program", required=True)
    p.add_argument("--receipt", required=True,
                   help="the receipt as JSON text, or a file holding it")
    p.add_argument("--state-from", metavar="redis://URL",
                   help="the customer's state from this Redis, read-only")
    p.add_argument("--prefix", default="sp", help="key prefix of the Redis store (default sp)")
    p.add_argument("--warmup", metavar="FILE", help="earlier receipts replayed first, silently")
    p.add_argument("--customers", help="customer profiles JSONL")
    p.add_argument("--engine", choices=("compiled", "reference"), default="compiled")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import orjson
    from rich.console import Console
    from rich.table import Table

    from streamproc.commands._startup import load_program_and_engine
    from streamproc.domain.receipt import Reject
    from streamproc.domain.result import AppliedResult
    from streamproc.engine.explain import explain
    from streamproc.engine.selection import make_decoder
    from streamproc.replay.summary import _money
    from streamproc.replay.whatif import load_profiles_into, warm_up
    from streamproc.state.memory import MemoryState

    loaded = load_program_and_engine(args.program, args.engine, "explain")
    if isinstance(loaded, int):
        return loaded
    program, engine = loaded
    text = args.receipt.strip()
    raw = text.encode() if text.startswith("{") else Path(text).read_bytes().strip() \
        if Path(text).is_file() else None
    if raw is None:
        print(f"explain: --receipt is neither JSON nor a file: {text[:60]!r}", file=sys.stderr)
        return 2
    try:
        receipt = make_decoder(args.engine)(raw)
    except Reject as rej:
        print(f"explain: the receipt is rejected ({rej.reason}): {rej.detail}", file=sys.stderr)
        return 1
    state = MemoryState()
    if args.state_from:
        from streamproc.state.redis.snapshot import read_for_receipt

        ids = [receipt.receipt_id] + ([receipt.original_receipt_id]
                                      if receipt.original_receipt_id else [])
        state = read_for_receipt(args.state_from, program, receipt.customer_id, ids,
                                 args.prefix)
    elif args.warmup:
        warm_up(program, engine, state, args.warmup)
    if args.customers:
        load_profiles_into(state, args.customers, program, engine)
    outcome, verdicts = explain(program, engine, receipt, state, raw)
    result = outcome.result
    if args.json:
        doc = {"program_version": program.version, "status": outcome.status,
               "result": orjson.loads(outcome.result_json()) if result is not None else None,
               "campaigns": [v.to_dict() for v in verdicts]}
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    console = Console()
    t = Table(title=f"{receipt.receipt_id} under {program.id} ({program.version}): "
              f"{outcome.status}")
    for col in ("campaign", "verdict", "why", "gives"):
        t.add_column(col, overflow="fold")
    colors = {"applied": "green", "held out": "yellow", "not applied": "dim"}
    for v in verdicts:
        t.add_row(v.campaign_id, f"[{colors[v.verdict]}]{v.verdict}[/]", v.reason, v.gives)
    console.print(t)
    if isinstance(result, AppliedResult):
        console.print(f"total {_money(result.total)}, discount {_money(result.discount)}, "
                      f"redeemed {_money(result.redeemed)}, paid {_money(result.paid)}, "
                      f"points {_money(result.accrued)}; coupons accepted "
                      f"{result.coupons.accepted or 'none'}, rejected "
                      f"{[(c.code, c.reason) for c in result.coupons.rejected] or 'none'}")
    return 0
