"""The summary table a replay ends with: counts, reconciliation, money, top campaigns."""

from __future__ import annotations

import argparse
import sys


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
    top = Table(title="cost per campaign (top 15), gross of returns; the totals above are "
                "net (net per campaign: streamproc whatif, docs/whatif.md)")
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
