"""`python -m streamproc.tools.demo` (`make demo`): the whole product here, in a few minutes.

1. starts its own Kafka broker and redis-server on free ports in `.run/demo/` and creates the
   topics (receipts 6 partitions, customers 6 compacted, receipt-results 6, loyalty-events 6,
   receipts-dlq 1);
2. produces the customer profiles, starts two `streamproc worker` processes with
   `examples/retail-chain.yaml`, waits until both are ready and every profile is in Redis;
3. streams the generated receipts into Kafka while reading `receipt-results` and `receipts-dlq`,
   showing live progress, receipts/s and consumer lag;
4. when every message is accounted for (results + DLQ = messages in) prints a summary
   (reconciliation, DLQ reasons, throughput, latency, cost per campaign, points liability,
   where metrics and logs are, one customer's balance) and writes `summary.json` and
   `throughput.png`;
5. stops everything it started, also on Ctrl-C or errors (`--keep` leaves it running).

Exit status: 0 when the counts reconcile, 1 when they do not (or the timeout passed),
2 when a worker died, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from streamproc.errors import StreamprocError
from streamproc.tools.demo_support import (
    DemoWorker,
    Tracker,
    by_label,
    campaigns_from,
    http_get,
    live_table,
    parse_metrics,
    percentile,
    print_summary,
    read_topic,
    watch_lag,
    write_plot,
)
from streamproc.tools.devstack import (
    REPO_ROOT,
    KafkaBroker,
    RedisServer,
    cmd_down,
    fetch_kafka_jars,
)
from streamproc.tools.loadgen import (
    LoadgenConfig,
    LoadgenStats,
    customer_messages,
    generate_messages,
)
from streamproc.tools.process import stop_all

PROGRAM = REPO_ROOT / "examples" / "retail-chain.yaml"
TOPICS = {"receipts": 6, "customers": 6, "receipt-results": 6, "loyalty-events": 6,
          "receipts-dlq": 1}
GROUP = "streamproc-worker"
PREFIX = "sp"
DEFAULT_RECEIPTS = 200_000


class WorkerDied(StreamprocError, RuntimeError):
    pass


class Stack:
    """Everything the demo starts, so `stop` can end it whatever happened."""

    def __init__(self, run_dir: Path, keep: bool) -> None:
        self.dir = run_dir
        self.keep = keep
        self.kafka = KafkaBroker(run_dir / "kafka")
        self.redis = RedisServer(run_dir / "redis")
        self.workers: list[DemoWorker] = []

    def worker_env(self, program: Path) -> dict[str, str]:
        return {"STREAMPROC_KAFKA": self.kafka.bootstrap, "STREAMPROC_REDIS": self.redis.url,
                "STREAMPROC_PROGRAM": str(program), "STREAMPROC_GROUP": GROUP,
                "STREAMPROC_REDIS_PREFIX": PREFIX, "STREAMPROC_PARTITIONS": "6"}

    def check_workers(self) -> None:
        for w in self.workers:
            if not w.alive():
                code = w.proc.returncode if w.proc else None
                raise WorkerDied(f"worker {w.name} exited with {code}; log {w.log}:\n{w.tail()}")

    def save_state(self) -> None:
        """`<dir>/stack.json` in devstack's format: `python -m streamproc.tools.devstack down|status
        --dir <dir>` then work on the demo stack too."""
        st: dict[str, Any] = {  # `down` stops in this order: workers before the broker
            w.name: dict(pid=w.proc.pid, url=f"{w.url}/metrics", log=str(w.log))
            for w in self.workers if w.proc is not None}
        st["kafka"] = dict(pid=self.kafka.pid, bootstrap=self.kafka.bootstrap,
                           log=str(self.kafka.server_log))
        st["redis"] = dict(pid=self.redis.pid, url=self.redis.url, log=str(self.redis.log_path))
        st = {k: v for k, v in st.items() if v["pid"] is not None}
        (self.dir / "stack.json").write_text(json.dumps(st, indent=2) + "\n")

    def stop(self) -> None:
        stop_all(self.workers)
        self.kafka.stop(remove=False)
        self.redis.stop(remove=False)
        shutil.rmtree(self.kafka.run_dir / "data", ignore_errors=True)  # keep the logs only


# --------------------------------------------------------------------------- async helpers


async def wait_ready(stack: Stack, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(stack.workers)
    while pending:
        stack.check_workers()
        if time.monotonic() > deadline:
            raise TimeoutError(f"workers not ready after {timeout:.0f}s: "
                               + ", ".join(f"{w.name} (log {w.log})" for w in pending))
        for w in list(pending):
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                if (await http_get(f"{w.url}/readyz"))[0] == 200:
                    pending.remove(w)
        await asyncio.sleep(0.2)


async def wait_profiles(stack: Stack, n: int, timeout: float = 120.0) -> None:
    import redis.asyncio as aredis

    r = aredis.Redis.from_url(stack.redis.url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            got = 0
            async for _ in r.scan_iter(f"{PREFIX}:p:*", count=5000):
                got += 1
            if got >= n:
                return
            stack.check_workers()
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {got} of {n} customer profiles reached Redis")
            await asyncio.sleep(0.3)
    finally:
        await r.aclose()


async def scrape_all(stack: Stack) -> list[dict]:
    return [parse_metrics((await http_get(f"{w.url}/metrics"))[1]) for w in stack.workers]


# --------------------------------------------------------------------------- the run


async def run(args: argparse.Namespace, stack: Stack, console: Console) -> int:
    from streamproc.tools.devstack import acreate_topics
    from streamproc.tools.kafka_io import produce

    t_start = time.monotonic()
    timings: dict[str, float] = {}
    console.rule("[bold]streamproc demo")
    with console.status("Kafka jars, redis-server and the Kafka broker..."):
        fetch_kafka_jars()
        stack.redis.start(detach=stack.keep)
        stack.kafka.start(detach=stack.keep)
        await acreate_topics(stack.kafka.bootstrap, TOPICS, compacted={"customers"})
    timings["stack_start_s"] = time.monotonic() - t_start
    console.print(f"Kafka {stack.kafka.bootstrap} and Redis {stack.redis.url} up in "
                  f"{timings['stack_start_s']:.1f}s; topics: "
                  + ", ".join(f"{t} ({p})" for t, p in TOPICS.items()))

    cfg = LoadgenConfig(receipts=args.receipts)
    profiles = list(customer_messages(cfg))
    t = time.monotonic()
    with console.status(f"{len(profiles):,} customer profiles, two workers..."):
        await produce(stack.kafka.bootstrap, "customers", profiles, progress=False)
        env = stack.worker_env(PROGRAM)
        stack.workers = [DemoWorker(stack.dir, f"worker-{i}", env, stack.keep).start()
                         for i in (1, 2)]
        await wait_ready(stack)
        await wait_profiles(stack, len(profiles))
    timings["workers_ready_s"] = time.monotonic() - t
    console.print(f"2 workers ready, {len(profiles):,} profiles in Redis after "
                  f"{timings['workers_ready_s']:.1f}s; metrics on "
                  + ", ".join(f"{w.url}/metrics" for w in stack.workers))

    tracker = Tracker(total=args.receipts)
    stats = LoadgenStats()

    async def source():
        for i, (key, value) in enumerate(generate_messages(cfg, stats)):
            tracker.note_sent(value)
            yield key, value
            if not i % 500:
                await asyncio.sleep(0)  # let the readers and the display run

    bs = stack.kafka.bootstrap
    t0 = time.time()
    tasks = [asyncio.create_task(read_topic(bs, "receipt-results", tracker.note_result)),
             asyncio.create_task(read_topic(bs, "receipts-dlq", tracker.note_dlq)),
             asyncio.create_task(watch_lag(bs, tracker, "receipts", TOPICS["receipts"], GROUP))]
    producer = asyncio.create_task(
        produce(bs, "receipts", source(), rate=args.rate, progress=False,
                         total=args.receipts))
    timed_out = False
    try:
        with Live(live_table(tracker, "streaming", 0), console=console,
                  refresh_per_second=4) as live:
            last_sample = 0.0
            while tracker.done < args.receipts:
                await asyncio.sleep(0.25)
                if producer.done() and producer.exception():
                    raise producer.exception()  # type: ignore[misc]
                stack.check_workers()
                now = time.time()
                if now - last_sample >= 1.0:
                    tracker.sample(t0)
                    last_sample = now
                if now - t0 > args.timeout:
                    timed_out = True
                    break
                live.update(live_table(tracker, "streaming", now - t0))
            tracker.sample(t0)
            live.update(live_table(tracker, "timed out" if timed_out else "done", time.time() - t0))
        console.print()
        await producer
    finally:
        for task in (*tasks, producer):
            task.cancel()
        await asyncio.gather(*tasks, producer, return_exceptions=True)
    timings["streaming_s"] = time.time() - t0

    # the workers count a batch right after producing its results: wait until they caught up
    deadline = time.monotonic() + 15
    while True:
        scrapes = await scrape_all(stack)
        counted = by_label(scrapes, "streamproc_receipts_total", "status")
        if sum(counted.values()) >= tracker.done or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    timings["total_s"] = time.monotonic() - t_start
    summary = await build_summary(args, stack, tracker, stats, scrapes, timings, timed_out,
                                  console.width)
    print_summary(console, summary)
    out = stack.dir / "summary.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    write_plot(tracker.samples, stack.dir / "throughput.png")
    console.print(f"Written: {out} and {stack.dir / 'throughput.png'}")
    return 0 if summary["reconciliation"]["ok"] else 1


async def build_summary(args: argparse.Namespace, stack: Stack, tr: Tracker, stats: LoadgenStats,
                        scrapes: list[dict], timings: dict[str, float], timed_out: bool,
                        console_width: int = 100) -> dict[str, Any]:
    import redis.asyncio as aredis

    from streamproc.state.redis.keys import Keys

    topics = {k: tr.status.get(k, 0) for k in ("applied", "duplicate")}
    topics["rejected"] = sum(tr.dlq.values())
    metrics = {k: int(v) for k, v in
               by_label(scrapes, "streamproc_receipts_total", "status").items()}
    ok = (not timed_out and sum(topics.values()) == tr.sent == args.receipts
          and sum(metrics.values()) == args.receipts)
    r = aredis.Redis.from_url(stack.redis.url)
    try:
        n = int(await r.hget(Keys(PREFIX).layout, "partitions") or 6)
        keys = [Keys(PREFIX).liability(p) for p in range(n)]
        liability = sum(int(v or 0) for v in await r.mget(keys))
    finally:
        await r.aclose()
    engines = sorted({dict(lbl).get("engine", "?") for s in scrapes for (n, lbl) in s
                      if n == "streamproc_worker_info"})
    # an example customer with a handful of receipts: enough history, a short bucket list
    cid = min(tr.per_customer, key=lambda c: (abs(tr.per_customer[c] - 5), c), default=None)
    balance = ""
    if cid:
        cmd = [sys.executable, "-m", "streamproc", "balance", cid, "--redis", stack.redis.url,
               "--program", str(PROGRAM), "--prefix", PREFIX]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "COLUMNS": str(console_width)})
        balance = (p.stdout + p.stderr).rstrip()
    p50, p99 = percentile(tr.latencies, 50), percentile(tr.latencies, 99)
    per_worker = [int(sum(v for (n, _), v in s.items() if n == "streamproc_receipts_total"))
                  for s in scrapes]
    return {
        "messages_in": args.receipts,
        "rate_limit": args.rate,
        "timed_out": timed_out,
        "reconciliation": {"topics": topics, "metrics": metrics, "ok": ok,
                           "expected_duplicates": stats.duplicates, "expected_bad": stats.bad},
        "loadgen": dict(stats.as_rows()),
        "dlq_by_reason": dict(tr.dlq.most_common()),
        "throughput_receipts_per_s": round(tr.throughput(), 1),
        "peak_receipts_per_s_5s": round(max((p["rate"] for p in tr.samples), default=0.0), 1),
        "latency_s": {"p50": p50, "p99": p99, "max": max(tr.latencies, default=None),
                      "measured": len(tr.latencies)},
        "campaigns": campaigns_from(scrapes),
        "points_liability": liability,
        "workers": [{"name": w.name, "metrics": f"{w.url}/metrics", "log": str(w.log),
                     "receipts": n} for w, n in zip(stack.workers, per_worker, strict=True)],
        "engine": ",".join(engines),
        "kafka": stack.kafka.bootstrap, "redis": stack.redis.url,
        "kafka_log": str(stack.kafka.server_log), "redis_log": str(stack.redis.log_path),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "example_customer": {"customer_id": cid,
                             "receipts": tr.per_customer.get(cid, 0) if cid else 0,
                             "balance_output": balance},
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m streamproc.tools.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--receipts", type=int, default=DEFAULT_RECEIPTS,
                   help=f"receipts to stream (default {DEFAULT_RECEIPTS:,})")
    p.add_argument("--rate", type=float, default=None,
                   help="receipts/s to produce (default: as fast as possible, a burst)")
    p.add_argument("--timeout", type=float, default=240.0,
                   help="seconds to wait for every result once streaming starts (default 240)")
    p.add_argument("--dir", default=".run/demo", help="run folder (default .run/demo)")
    p.add_argument("--keep", action="store_true",
                   help="leave Kafka, Redis and the workers running and print how to connect")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    run_dir = Path(args.dir).resolve()
    cmd_down(run_dir, quiet=True)  # a stack left by `--keep` and the previous run's files
    run_dir.mkdir(parents=True)
    stack = Stack(run_dir, args.keep)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # retries while leaders settle
    rc, interrupted = 1, False
    try:
        rc = asyncio.run(run(args, stack, console))
    except KeyboardInterrupt:
        rc, interrupted = 130, True
        console.print("[yellow]interrupted[/]: stopping everything the demo started")
    except WorkerDied as exc:
        rc = 2
        console.print(f"[red bold]A worker died.[/] {exc}", markup=True, highlight=False)
    except Exception as exc:
        console.print_exception(show_locals=False)
        console.print(f"[red bold]demo failed:[/] {exc}", highlight=False)
    finally:
        if args.keep and not interrupted:
            stack.save_state()
            console.print(f"[bold]--keep[/]: the stack is still running.\n"
                          f"  Kafka   {stack.kafka.bootstrap}\n  Redis   {stack.redis.url}\n"
                          + "".join(f"  {w.name} {w.url}/metrics  (log {w.log})\n"
                                    for w in stack.workers)
                          + f"  e.g.    streamproc balance C000001 --redis {stack.redis.url}"
                          f" --program {PROGRAM}\n"
                          f"  stop:   python -m streamproc.tools.devstack down --dir {run_dir}")
        else:
            with console.status("stopping workers, Kafka and Redis..."):
                stack.stop()
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
