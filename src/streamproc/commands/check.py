"""`streamproc check PROGRAM`: validate a program file and show what it holds."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate a program file and list its campaigns")
    p.add_argument("program", help="the program file (YAML or JSON)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from streamproc.domain.program import STAGE_A_TYPES, STAGE_B_TYPES, ProgramError, load_program

    try:
        prog = load_program(args.program)
    except ProgramError as exc:
        print(f"program refused: {len(exc.errors)} error(s)", file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return 2
    console = Console()
    console.print(f"[bold]{prog.id}[/] ({args.program}) timezone {prog.timezone}: OK")
    tiers = ", ".join(f"{t.name}≥{t.min_spend} @{t.rate_bps}bps" for t in prog.tiers) or \
        f"flat {prog.rate_bps}bps"
    console.print(f"accrual: {tiers}; activation {prog.activation_days}d, expiry "
                  f"{prog.expiry_days or 'never'}; redemption ≤{prog.max_share_bps}bps, "
                  f"min payable {prog.min_payable}")
    table = Table(title=f"{len(prog.campaigns)} campaigns, in calculation order")
    for col in ("stage", "priority", "id", "type", "exclusive", "conditions"):
        table.add_column(col)

    def stage(t: str) -> str:
        return "A" if t in STAGE_A_TYPES else "B" if t in STAGE_B_TYPES else "points"

    for c in sorted(prog.campaigns, key=lambda c: ({"A": 0, "B": 1, "points": 2}[stage(c.type)],
                                                   -c.priority, c.id)):
        cond = []
        if c.schedule:
            cond.append("schedule")
        if c.active_from_us or c.active_until_us:
            cond.append("active window")
        if c.stores:
            cond.append(f"{len(c.stores)} stores")
        if c.coupon_codes:
            cond.append("coupon" + (" single-use" if c.single_use else ""))
        if c.budget is not None:
            cond.append(f"budget {c.budget}")
        if c.per_customer is not None:
            cond.append(f"≤{c.per_customer}/customer")
        if c.per_receipt is not None:
            cond.append(f"≤{c.per_receipt}/receipt")
        if c.holdout_bps:
            cond.append(f"holdout {c.holdout_bps}bps")
        a = c.audience
        if a.tiers or a.segments or a.first_purchase or a.birthday_window_days is not None:
            cond.append("audience")
        table.add_row(stage(c.type), str(c.priority), c.id, c.type,
                      "yes" if c.exclusive else "", ", ".join(cond))
    console.print(table)
    return 0
