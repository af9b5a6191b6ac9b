"""The table `streamproc whatif` ends with: totals side by side, the campaigns that change
most, the holdout effects, and the files written."""

from __future__ import annotations

from pathlib import Path

from streamproc.replay.compare import campaign_rows, holdout_effect, totals
from streamproc.replay.summary import _money


def print_summary(run, written: list[Path], console) -> None:
    from rich.table import Table

    b, c = totals(run.baseline), totals(run.candidate)
    t = Table(title=f"whatif: {b['program_id']} ({b['program_version']}) -> "
              f"{c['program_id']} ({c['program_version']})")
    for col, just in (("money and points, major units, net of returns", "left"),
                      ("baseline", "right"), ("candidate", "right"), ("change", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for key, label in (("discount", "discount given"), ("points_issued", "points issued"),
                       ("points_redeemed", "points redeemed"),
                       ("points_expired", "points expired"), ("cost", "cost (discount + points)"),
                       ("liability_end", "points liability at end"), ("paid", "paid by customers")):
        t.add_row(label, _money(b[key]), _money(c[key]), _money(c[key] - b[key]))
    for key in ("applied", "duplicate", "rejected"):
        t.add_row(f"receipts {key}", f"{b[key]:,}", f"{c[key]:,}", "")
    t.add_row("customers at end", f"{b['customers_end']:,}", f"{c['customers_end']:,}", "")
    rate = run.messages / run.seconds if run.seconds else 0.0
    t.add_row("messages / time", f"{run.messages:,}", f"{run.seconds:.2f} s",
              f"{rate:,.0f}/s")
    console.print(t)
    console.print(f"starting state: {run.start}")
    rows = campaign_rows(run.baseline, run.candidate)
    changed = sorted((r for r in rows if r["cost_change"] or r["in_baseline"] !=
                      r["in_candidate"]), key=lambda r: -abs(r["cost_change"]))
    ct = Table(title=f"campaigns that change ({len(changed)} of {len(rows)})")
    for col in ("campaign", "receipts b -> c", "cost baseline", "cost candidate", "change"):
        ct.add_column(col, justify="left" if col == "campaign" else "right")
    for r in changed[:15]:
        mark = "" if r["in_baseline"] and r["in_candidate"] else \
            " (new)" if r["in_candidate"] else " (removed)"
        ct.add_row(r["campaign_id"] + mark, f"{r['baseline_receipts']:,} -> "
                   f"{r['candidate_receipts']:,}",
                   _money(r["baseline_discount"] + r["baseline_points"]),
                   _money(r["candidate_discount"] + r["candidate_points"]),
                   _money(r["cost_change"]))
    console.print(ct)
    for camp in run.candidate.program.campaigns:
        if camp.holdout_bps:
            h = holdout_effect(run.candidate.tally, camp.id)
            ci = "" if h["ci95_low"] is None else \
                f" (95 % CI {h['ci95_low'] / 100:,.2f} .. {h['ci95_high'] / 100:,.2f})"
            diff = "n/a" if h["difference"] is None else _money(h["difference"])
            console.print(f"holdout {camp.id}: treated {h['treated_customers']:,} customers "
                          f"spend {_money(h['treated_spend_per_customer'])} each, held out "
                          f"{h['held_out_customers']:,} spend "
                          f"{_money(h['held_out_spend_per_customer'])}; difference {diff}{ci}")
    console.print("written: " + ", ".join(str(p) for p in written))
