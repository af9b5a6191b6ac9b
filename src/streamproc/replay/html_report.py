"""`report.html` of `streamproc whatif`: one self-contained page a marketer opens from a mail
or a shared folder. Charts are inline SVG, styles inline, no script and nothing fetched, so it
renders the same offline and in a locked-down browser."""

from __future__ import annotations

from html import escape
from itertools import accumulate
from pathlib import Path
from typing import Any

from streamproc.replay.svg import BASE_COLOR, CAND_COLOR, hbars, lines, money_label

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#222;
background:#fff;max-width:1000px}
h1{font-size:22px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px}td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f5f7}.muted{color:#666;font-size:12px}.up{color:#b03a2e}.down{color:#1e8449}
"""


def _td(v: Any, numeric: bool = True, money: bool = True) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and money:
        cls = ' class="n"'
        return f"<td{cls}>{money_label(v)}</td>"
    return f'<td{" class=n" if numeric else ""}>{escape(str(v))}</td>'


def _change(v: int) -> str:
    cls = "up" if v > 0 else "down" if v < 0 else ""
    sign = "+" if v > 0 else ""
    return f'<td class="n {cls}">{sign}{money_label(v)}</td>'


def _totals_table(doc: dict[str, Any]) -> str:
    b, c = doc["baseline"], doc["candidate"]
    rows = [("discount given", "discount"), ("points issued", "points_issued"),
            ("points redeemed", "points_redeemed"), ("points expired", "points_expired"),
            ("cost (discount + points issued)", "cost"),
            ("outstanding points liability at the end", "liability_end"),
            ("paid by customers", "paid")]
    out = ["<table><tr><th>net of returns, major units</th><th>baseline</th>"
           "<th>candidate</th><th>change</th></tr>"]
    for label, k in rows:
        out.append(f"<tr><td>{label}</td>{_td(b[k])}{_td(c[k])}{_change(c[k] - b[k])}</tr>")
    for k in ("applied", "duplicate", "rejected"):
        out.append(f"<tr><td>receipts {k}</td><td class=n>{b[k]:,}</td>"
                   f"<td class=n>{c[k]:,}</td><td></td></tr>")
    out.append("</table>")
    return "".join(out)


def _campaign_table(rows: list[dict[str, Any]]) -> str:
    out = ["<table><tr><th>campaign</th><th>receipts<br>baseline</th><th>receipts<br>"
           "candidate</th><th>customers<br>baseline</th><th>customers<br>candidate</th>"
           "<th>cost<br>baseline</th><th>cost<br>candidate</th><th>change</th>"
           "<th>budget used<br>candidate</th><th>held out<br>candidate</th></tr>"]
    for r in rows:
        name = r["campaign_id"] + ("" if r["in_baseline"] and r["in_candidate"] else
                                   " (new)" if r["in_candidate"] else " (removed)")
        used = r["candidate_budget_used_bps"]
        used_text = "" if used == "" else f"{used // 100}.{used % 100:02d} %"
        out.append(
            f"<tr><td>{escape(name)}</td><td class=n>{r['baseline_receipts']:,}</td>"
            f"<td class=n>{r['candidate_receipts']:,}</td>"
            f"<td class=n>{r['baseline_customers']:,}</td>"
            f"<td class=n>{r['candidate_customers']:,}</td>"
            f"{_td(r['baseline_discount'] + r['baseline_points'])}"
            f"{_td(r['candidate_discount'] + r['candidate_points'])}{_change(r['cost_change'])}"
            f"<td class=n>{used_text}</td><td class=n>{r['candidate_held_out']:,}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _holdout_table(doc: dict[str, Any]) -> str:
    items = [(side, h) for side in ("baseline", "candidate") for h in doc["holdout"][side]]
    if not items:
        return "<p class=muted>No campaign of either program has a holdout.</p>"
    out = ["<table><tr><th>program</th><th>campaign</th><th>treated customers</th>"
           "<th>spend per treated customer</th><th>held-out customers</th>"
           "<th>spend per held-out customer</th><th>difference</th><th>95 % interval</th></tr>"]
    for side, h in items:
        ci = "" if h["ci95_low"] is None else \
            f"{h['ci95_low'] / 100:,.2f} … {h['ci95_high'] / 100:,.2f}"
        diff = "n/a" if h["difference"] is None else money_label(h["difference"])
        out.append(f"<tr><td>{side}</td><td>{escape(h['campaign_id'])}</td>"
                   f"<td class=n>{h['treated_customers']:,}</td>"
                   f"{_td(h['treated_spend_per_customer'])}"
                   f"<td class=n>{h['held_out_customers']:,}</td>"
                   f"{_td(h['held_out_spend_per_customer'])}<td class=n>{diff}</td>"
                   f"<td class=n>{ci}</td></tr>")
    out.append("</table><p class=muted>Spend = money paid over the run, net of returns, by "
               "the customers the campaign gave something to (treated) and by those it would "
               "have but for the holdout (held out). The interval is a normal approximation "
               "(Welch); it is statistics, computed in floating point, unlike every money "
               "figure.</p>")
    return "".join(out)


def _cumulative_charts(run, rows: list[dict[str, Any]]) -> list[str]:
    bt, ct = run.baseline.tally, run.candidate.tally
    days = sorted(set(bt.daily_cost) | set(ct.daily_cost))
    if not days:
        return ["<p class=muted>No applied receipts.</p>"]
    charts = [lines(days, [("baseline", BASE_COLOR, list(accumulate(bt.daily_cost[d]
                                                                    for d in days))),
                           ("candidate", CAND_COLOR, list(accumulate(ct.daily_cost[d]
                                                                     for d in days)))],
                    "Cumulative cost (discount + points, net), by day")]
    for r in rows:
        sides = [(name, side) for name, side in (("baseline", run.baseline),
                                                 ("candidate", run.candidate))
                 if r[f"{name}_budget_spent"] != ""]
        if not sides:
            continue
        series, hlines, markers = [], [], []
        for name, side in sides:
            cid = r["campaign_id"]
            daily = side.tally.daily_budget.get(cid, {})
            start = side.budget_spent.get(cid, 0) - sum(daily.values())
            color = BASE_COLOR if name == "baseline" else CAND_COLOR
            series.append((name, color, list(accumulate((daily.get(d, 0) for d in days),
                                                        initial=start))[1:]))
            budget = side.program.campaign(cid).budget
            hlines.append((f"{name} budget", budget, color))
            day = r[f"{name}_budget_exhausted_day"]
            if day in days:
                markers.append((days.index(day), f"{name} runs out {day}", color))
        title = f"Budget of {r['campaign_id']}: cumulative spend, budget line, day it runs out"
        charts.append(lines(days, series, title, hlines, markers))
        runs_out = [f"{n}: runs out {r[f'{n}_budget_exhausted_day']}"
                    if r[f"{n}_budget_exhausted_day"] else f"{n}: lasts the whole run"
                    for n, _ in sides]
        charts.append(f"<p class=muted>{escape(r['campaign_id'])}: "
                      f"{escape('; '.join(runs_out))}</p>")
    return charts


def render(run, rows: list[dict[str, Any]], doc: dict[str, Any]) -> str:
    b, c = doc["baseline"], doc["candidate"]
    shown = sorted(rows, key=lambda r: -max(r["baseline_discount"] + r["baseline_points"],
                                            r["candidate_discount"] + r["candidate_points"]))
    labels = [r["campaign_id"] for r in shown]
    cost = hbars(labels, [("baseline", BASE_COLOR, [r["baseline_discount"] + r["baseline_points"]
                                                    for r in shown]),
                          ("candidate", CAND_COLOR, [r["candidate_discount"]
                                                     + r["candidate_points"] for r in shown])],
                 "Cost per campaign (discount + points, net of returns)")
    reach_rows = sorted(rows, key=lambda r: -max(r["baseline_customers"],
                                                 r["candidate_customers"]))
    reach = hbars([r["campaign_id"] for r in reach_rows],
                  [("baseline", BASE_COLOR, [r["baseline_customers"] for r in reach_rows]),
                   ("candidate", CAND_COLOR, [r["candidate_customers"] for r in reach_rows])],
                  "Reach: customers each campaign gave something to", fmt=lambda v: f"{v:,}")
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width, initial-scale=1'>",
        f"<title>whatif: {escape(c['program_id'])} against {escape(b['program_id'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>What if: candidate <code>{escape(c['program_file'])}</code> against baseline "
        f"<code>{escape(b['program_file'])}</code></h1>",
        f"<p>Baseline <b>{escape(b['program_id'])}</b> version <code>"
        f"{escape(b['program_version'])}</code>; candidate <b>{escape(c['program_id'])}</b> "
        f"version <code>{escape(c['program_version'])}</code>. {doc['messages']:,} messages, "
        f"starting from {escape(doc['start'])}. Money and points in major units (1 point = "
        "1 unit), net of returns.</p>",
        "<h2>Totals</h2>", _totals_table(doc),
        "<h2>Cost per campaign</h2>", cost,
        "<h2>Cost over time</h2>", *_cumulative_charts(run, rows),
        "<h2>Reach</h2>", reach,
        "<h2>Holdout: what the campaign changes</h2>", _holdout_table(doc),
        "<h2>Every campaign</h2>", _campaign_table(shown),
        "<p class=muted>A return gives back its sale's discount and rate-based points, split "
        "over the sale's campaigns in proportion to what each gave on it (docs/whatif.md). "
        "comparison.csv and comparison.json hold the same figures in minor units.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(run, rows: list[dict[str, Any]], doc: dict[str, Any], path: Path) -> None:
    path.write_text(render(run, rows, doc), encoding="utf-8")
