"""Pieces of `python -m streamproc.tools.demo`: worker processes, the run tracker (counts, latency,
samples over time), Prometheus scraping, and the tables, JSON and plot of the summary."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from streamproc.tools.devstack import free_port
from streamproc.tools.process import ChildProcess

# --------------------------------------------------------------------------- worker processes


class DemoWorker(ChildProcess):
    """`python -m streamproc worker` configured by STREAMPROC_* variables, its metrics on a
    port of its own; Ctrl-C reaches the demo only, which stops the workers."""

    def __init__(self, run_dir: Path, name: str, env: dict[str, str], detach: bool) -> None:
        self.port = free_port()
        super().__init__(
            name, [sys.executable, "-m", "streamproc", "worker"], run_dir / f"{name}.log",
            env={**env, "STREAMPROC_METRICS_ADDR": f"127.0.0.1:{self.port}",
                 "STREAMPROC_STATE_DIR": str(run_dir / name)},
            detach=detach, own_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# --------------------------------------------------------------------------- metrics


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Prometheus text format -> {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def by_label(scrapes: Iterable[Samples], name: str, label: str) -> dict[str, float]:
    """Sum `name` over workers, grouped by one label's value."""
    out: dict[str, float] = collections.defaultdict(float)
    for samples in scrapes:
        for (n, labels), v in samples.items():
            if n == name:
                out[dict(labels).get(label, "")] += v
    return dict(out)


# --------------------------------------------------------------------------- Kafka and HTTP


async def http_get(url: str) -> tuple[int, str]:
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s, \
            s.get(url) as r:
        return r.status, await r.text()


async def read_topic(bootstrap: str, topic: str, note: Any) -> None:
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, group_id=None, max_partition_fetch_bytes=4 << 20)
    await c.start()
    try:
        while True:
            for recs in (await c.getmany(timeout_ms=300, max_records=5000)).values():
                for rec in recs:
                    note(rec.value, rec.timestamp)
    finally:
        await c.stop()


async def watch_lag(bootstrap: str, tracker: Tracker, topic: str, partitions: int, group: str
                    ) -> None:
    """Receipts not yet committed by the worker group: end offsets minus committed offsets."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await probe.start()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    try:
        while True:
            with contextlib.suppress(Exception):  # best effort: a display, not a check
                ends = await probe.end_offsets(tps)
                done = await admin.list_consumer_group_offsets(group)
                tracker.lag = sum(max(0, ends[tp] - max(0, done[tp].offset if tp in done else 0))
                                  for tp in tps)
            await asyncio.sleep(1.0)
    finally:
        await probe.stop()
        await admin.close()



# --------------------------------------------------------------------------- the run


def _rid(raw: bytes) -> str | None:
    """The receipt_id of a message without decoding all of it (orjson writes no spaces)."""
    i = raw.find(b'"receipt_id":"')
    if i < 0:
        return None
    j = raw.find(b'"', i + 14)
    return raw[i + 14:j].decode(errors="replace") if j > 0 else None


@dataclass
class Tracker:
    """What the demo saw: messages sent, results and DLQ records read, latencies, samples."""

    total: int
    sent: int = 0
    t_first_send: float | None = None
    t_last_send: float | None = None
    t_last_result: float | None = None  # the last result's Kafka timestamp (s)
    status: collections.Counter[str] = field(default_factory=collections.Counter)
    dlq: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)
    sent_at: dict[str, collections.deque[float]] = field(default_factory=dict)
    per_customer: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: list[dict[str, float]] = field(default_factory=list)
    lag: int | None = None

    @property
    def done(self) -> int:
        return sum(self.status.values()) + sum(self.dlq.values())

    def note_sent(self, raw: bytes) -> None:
        now = time.time()
        if self.t_first_send is None:
            self.t_first_send = now
        self.t_last_send = now
        self.sent += 1
        rid = _rid(raw)
        if rid is not None:
            self.sent_at.setdefault(rid, collections.deque()).append(now)

    def note_result(self, value: bytes, timestamp_ms: int) -> None:
        r = orjson.loads(value)
        self.status[r["status"]] += 1
        if r.get("customer_id"):
            self.per_customer[r["customer_id"]] += 1
        ts = timestamp_ms / 1000.0
        self.t_last_result = max(self.t_last_result or ts, ts)
        q = self.sent_at.get(r["receipt_id"])
        if q:  # duplicates share a receipt_id: match them first-sent, first-answered
            self.latencies.append(max(0.0, ts - q.popleft()))

    def note_dlq(self, value: bytes, timestamp_ms: int) -> None:
        d = orjson.loads(value)
        self.dlq[d.get("reason", "?")] += 1
        ts = timestamp_ms / 1000.0
        self.t_last_result = max(self.t_last_result or ts, ts)

    def sample(self, t0: float, window: float = 5.0) -> dict[str, float]:
        """Record one point of the time series; `rate` is results/s over the last `window` s."""
        now = time.time()
        point = {"t": now - t0, "sent": self.sent, "done": self.done,
                 "lag": float(self.lag if self.lag is not None else -1)}
        old = [p for p in self.samples if point["t"] - p["t"] <= window]
        ref = old[0] if old else None
        dt = point["t"] - ref["t"] if ref else 0.0
        point["rate"] = (point["done"] - ref["done"]) / dt if ref and dt > 0 else 0.0
        self.samples.append(point)
        return point

    def throughput(self) -> float:
        if self.t_first_send is None or self.t_last_result is None:
            return 0.0
        return self.done / max(1e-9, self.t_last_result - self.t_first_send)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


# --------------------------------------------------------------------------- rendering


def live_table(tr: Tracker, stage: str, elapsed: float) -> Table:
    rate = tr.samples[-1]["rate"] if tr.samples else 0.0
    t = Table(title=f"streamproc demo - {stage} ({elapsed:.0f}s)", show_header=False,
              min_width=60)
    t.add_column("what", style="bold")
    t.add_column("value", justify="right")
    pct = 100 * tr.done / tr.total if tr.total else 100.0
    t.add_row("receipts produced", f"{tr.sent:,} / {tr.total:,}")
    t.add_row("results received", f"{sum(tr.status.values()):,}")
    t.add_row("dead-lettered (DLQ)", f"{sum(tr.dlq.values()):,}")
    t.add_row("accounted for", f"{tr.done:,}  ({pct:.1f} %)")
    t.add_row("receipts/s (last 5 s)", f"{rate:,.0f}")
    t.add_row("lag (receipts not committed)", "-" if tr.lag is None else f"{tr.lag:,}")
    p50 = percentile(tr.latencies[-5000:], 50)
    t.add_row("latency p50 (recent)", "-" if p50 is None else f"{p50:.2f} s")
    return t


def rub(minor: float) -> str:
    return f"{minor / 100:,.2f}"


def kv_table(title: str, rows: Iterable[tuple[str, Any]]) -> Table:
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column("", style="bold")
    t.add_column("")
    for k, v in rows:
        t.add_row(k, str(v))
    return t


def reconciliation_table(s: dict[str, Any]) -> Table:
    r = s["reconciliation"]
    t = Table(title="Reconciliation: messages in = applied + duplicate + rejected",
              title_justify="left")
    for col in ("", "from the topics", "workers' /metrics", "loadgen made"):
        t.add_column(col, justify="right" if col else "left")
    t.add_row("messages in", f"{s['messages_in']:,}", "", f"{s['messages_in']:,}")
    for k, expect in (("applied", ""), ("duplicate", r["expected_duplicates"]),
                      ("rejected", r["expected_bad"])):
        t.add_row(k, f"{r['topics'][k]:,}", f"{r['metrics'].get(k, 0):,}",
                  f"{expect:,}" if expect != "" else "")
    t.add_row("sum", f"{sum(r['topics'].values()):,}", f"{sum(r['metrics'].values()):,}", "")
    ok = "[green]OK[/]" if r["ok"] else "[red]FAILED[/]"
    t.add_row("check", ok, "", "")
    return t


def campaign_table(campaigns: list[dict[str, Any]], top: int = 12) -> Table:
    t = Table(title=f"Cost per campaign, top {min(top, len(campaigns))} of {len(campaigns)} "
                    "(discount in RUB, points; summed over both workers)", title_justify="left")
    cols = ["discount", "discount_reversed", "points", "points_reversed"]
    if not any(c[k] for c in campaigns for k in ("discount_reversed", "points_reversed")):
        cols = ["discount", "points"]  # the workers reported no reversals: no zero columns
    t.add_column("campaign")
    for col in cols:
        t.add_column(col.replace("_", " "), justify="right")
    for c in campaigns[:top]:
        t.add_row(c["campaign"], *(rub(c[k]) for k in cols))
    return t


def campaigns_from(scrapes: list[Samples]) -> list[dict[str, Any]]:
    cols = {"discount": "streamproc_discount_minor_units_total",
            "discount_reversed": "streamproc_discount_reversed_minor_units_total",
            "points": "streamproc_points_minor_units_total",
            "points_reversed": "streamproc_points_reversed_minor_units_total"}
    sums = {k: by_label(scrapes, n, "campaign") for k, n in cols.items()}
    names = set().union(*sums.values())
    rows: list[dict[str, Any]] = [{"campaign": c, **{k: int(sums[k].get(c, 0)) for k in cols}}
                                  for c in names]
    rows.sort(key=lambda r: -(r["discount"] + r["points"]))
    return rows


def write_plot(samples: list[dict[str, float]], path: Path) -> None:
    """receipts/s and consumer lag over time, two panels sharing the time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    t = [p["t"] for p in samples]
    ax1.plot(t, [p["rate"] for p in samples], color="tab:blue", label="results/s (5 s window)")
    ax1.set_ylabel("receipts/s")
    ax1.set_title("streamproc demo: throughput and consumer lag")
    ax1.grid(alpha=0.3)
    ax1.legend(loc="upper right")
    lag = [(p["t"], p["lag"]) for p in samples if p["lag"] >= 0]
    ax2.plot([x for x, _ in lag], [y for _, y in lag], color="tab:red", label="lag (receipts)")
    ax2.plot(t, [p["sent"] for p in samples], color="tab:gray", ls="--", label="produced")
    ax2.plot(t, [p["done"] for p in samples], color="tab:green", ls="--", label="accounted for")
    ax2.set_xlabel("seconds since the first receipt was produced")
    ax2.set_ylabel("messages")
    ax2.grid(alpha=0.3)
    ax2.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def print_summary(console: Console, s: dict[str, Any]) -> None:
    console.rule("[bold]Summary")
    console.print(reconciliation_table(s))
    console.print(kv_table("Dead-letter topic receipts-dlq, by reason",
                           [(k, f"{v:,}") for k, v in s["dlq_by_reason"].items()] or
                           [("(none)", "")]))
    lat, t = s["latency_s"], s["timings_s"]
    console.print(kv_table("Speed", [
        ("end to end", f"{s['throughput_receipts_per_s']:,.0f} receipts/s (first receipt "
                       "produced to last result)"),
        ("best 5 s", f"{s['peak_receipts_per_s_5s']:,.0f} receipts/s"),
        ("receipt -> result latency", f"p50 {lat['p50'] or 0:.2f} s, p99 {lat['p99'] or 0:.2f} s"
                                      f" ({lat['measured']:,} receipts)"),
        ("split between workers", " / ".join(f"{w['receipts']:,}" for w in s["workers"])),
        ("engine", s["engine"]),
        ("time", f"stack {t['stack_start_s']}s, workers {t['workers_ready_s']}s, "
                 f"streaming {t['streaming_s']}s, total {t['total_s']}s"),
    ]))
    console.print(campaign_table(s["campaigns"]))
    console.print(f"[bold]Points liability[/] (issued, not yet spent or burnt): "
                  f"{rub(s['points_liability'])} points\n")
    console.print(kv_table("Where to look", [
        *((f"{w['name']} metrics", w["metrics"]) for w in s["workers"]),
        *((f"{w['name']} log", w["log"]) for w in s["workers"]),
        ("kafka log", s["kafka_log"]), ("redis log", s["redis_log"]),
    ]))
    ex = s["example_customer"]
    if ex["customer_id"]:
        console.rule(f"streamproc balance {ex['customer_id']} ({ex['receipts']} receipts)")
        console.print(ex["balance_output"], markup=False, highlight=False)
    ok = s["reconciliation"]["ok"]
    console.print("[green bold]Reconciled[/]: every message in is exactly one of applied, "
                  "duplicate or rejected." if ok else
                  "[red bold]NOT reconciled[/]: see the table above.")
