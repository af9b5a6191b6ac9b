"""The end-to-end benchmark against the ceiling (Kafka 3.9.1 + redis-server, started here).

    python benchmarks/e2e/run.py [--receipts 1000000] [--rate 10000] [--duration 30]
                                 [--only a,b,c,d,e] [--cap 120] [--out DIR] [--no-readme]

1. Starts its own broker (full JIT, `STREAMPROC_KAFKA_JVM_FLAGS`, default
   "-Xms1g -Xmx1g -XX:+UseG1GC") and redis-server on free ports under .run/e2e-bench.
2. Pre-loads a backlog of N generated receipts (tools.loadgen; cached in .cache/e2e keyed by
   seed and count) into `receipts` (6 partitions) and the customers' profiles into `customers`.
3. Catch-up throughput, one variant after the other, each ONE process with its own consumer
   group from the beginning of the same backlog and its own output topic(s):
     (a) raw aiokafka passthrough (passthrough_aiokafka.py) - the ceiling
     (b) Faust passthrough agent (passthrough_faust.py)
     (c) streamproc worker, reference engine      (Redis flushed before)
     (d) streamproc worker, compiled engine       (Redis flushed before)
   Output topics use LogAppendTime; every second the output topics' end offsets (records the
   variant produced) and the group's committed offsets are sampled. A variant is done when its
   committed offsets reach the backlog end, or stopped at `--cap` seconds (its rate is then the
   rate over what it processed).
4. Latency at a steady rate, for (d) and (a): a fresh process (started and idle before) on its
   own empty input topic; the producer sends `--rate` receipts/s for `--duration` s (the
   continuation of the backlog's receipts), stamping each record with its send time;
   latency = output record's LogAppendTime - input record's send time, matched by receipt_id.
5. Where time goes: the batch path (`processing.batch.BatchProcessor`, compiled engine, real
   Redis, no Kafka) timed and under cProfile, and the (d) worker itself under cProfile while it
   catches up (`--profile-worker-s`).

Writes DIR/results.json, DIR/throughput.png (DIR defaults to benchmarks/e2e) and the
"End to end" section of benchmarks/README.md (between its markers), and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from harness import (
    BATCH,
    BENCH_JVM_FLAGS,
    HERE,
    IN_LINGER_MS,
    MARK_END,
    MARK_START,
    OUT_LINGER_MS,
    PARTITIONS,
    REPO,
    VARIANTS,
    Kafka,
    load_workload,
    log,
    produce_backlog,
)
from report import (
    cpu_budget,
    goal_checks,
    machine_info,
    plot,
    print_table,
    readme_section,
    write_readme,
)
from variants import Bench, cprofile_worker, profile_batch_path, profile_worker

from streamproc.tools.devstack import KafkaBroker, RedisServer

# ----------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    only = [v.strip() for v in args.only.split(",") if v.strip()]
    bad = [v for v in only if v not in VARIANTS]
    if bad:
        raise SystemExit(f"--only: unknown variant(s) {bad}")
    steady_n = int(args.rate * args.duration)
    customers = args.customers or max(1000, args.receipts // 10)
    msgs, profiles = load_workload(args.seed, args.receipts + steady_n, customers,
                                   REPO / ".cache" / "e2e")
    backlog, live = msgs[:args.receipts], msgs[args.receipts:]
    run_dir = REPO / ".run" / "e2e-bench"
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "state").mkdir(parents=True)
    jvm_flags = os.environ.get("STREAMPROC_KAFKA_JVM_FLAGS", BENCH_JVM_FLAGS)
    broker = KafkaBroker(run_dir / "kafka", jvm_flags=jvm_flags.split())
    redis = RedisServer(run_dir / "redis")
    res: dict[str, Any] = {
        "settings": {"receipts": args.receipts, "rate": args.rate, "duration": args.duration,
                     "cap": args.cap, "seed": args.seed, "customers": customers,
                     "partitions": PARTITIONS, "batch": BATCH, "batch_wait_ms": 50,
                     "out_linger_ms": OUT_LINGER_MS, "in_linger_ms": IN_LINGER_MS,
                     "sample_s": args.sample_s, "only": only,
                     "avg_receipt_bytes": round(sum(len(v) for _, v in backlog)
                                                / max(1, len(backlog)))},
        "catch_up": {}, "latency": {}, "profile": {},
    }
    try:
        t0 = time.monotonic()
        redis.start()
        broker.start(timeout=180)
        log(f"kafka {broker.bootstrap} ready in {broker.started_in:.1f}s, redis {redis.url}")
        res["machine"] = machine_info(redis.port, jvm_flags)
        k = Kafka(broker.bootstrap)
        await k.start()
        try:
            await k.create({"receipts": PARTITIONS, "customers": PARTITIONS},
                           compacted=["customers"])
            dt = await produce_backlog(broker.bootstrap, "customers", profiles)
            dt = await produce_backlog(broker.bootstrap, "receipts", backlog)
            log(f"backlog: {len(backlog):,} receipts loaded in {dt:.1f}s"
                f" ({len(backlog) / dt:,.0f}/s)")
            res["settings"]["backlog_load_rate"] = round(len(backlog) / dt, 1)
            ends = await k.ends(["receipts"])
            backlog_end = {tp.partition: off for tp, off in ends.items()}
            res["settings"]["partition_sizes"] = [backlog_end[p] for p in sorted(backlog_end)]
            bench = Bench(args, run_dir, k, redis.url, redis.port, broker.pid, redis.pid)
            for v in only:
                log(f"catch-up ({v}) {VARIANTS[v]} ...")
                c = await bench.catch_up(v, backlog_end)
                res["catch_up"][v] = c
                log(f"  ({v}) {c['state']}: {c['processed']:,} in {c['active_seconds']}s"
                    f" -> {c['rate']:,.0f}/s ({c['rate_incl_startup']:,.0f}/s incl. start-up)")
            for v in ("d", "a"):
                if v in only and live:
                    log(f"steady {args.rate:,}/s for {args.duration}s through ({v}) ...")
                    lt = await bench.steady(v, live)
                    res["latency"][v] = lt
                    log(f"  ({v}) p50 {lt.get('p50_ms')} p95 {lt.get('p95_ms')} p99"
                        f" {lt.get('p99_ms')} ms at {lt['achieved_rate']:,.0f}/s")
            if args.profile_receipts:
                log(f"profile: batch path over {args.profile_receipts:,} receipts ...")
                res["profile"]["batch_path"] = await profile_batch_path(
                    redis.url, backlog[:args.profile_receipts])
                log(f"  batch path {res['profile']['batch_path']['rate']:,.0f}/s")
            if args.profile_worker_s and "d" in only:
                log(f"profile: worker (d) under cProfile for {args.profile_worker_s}s ...")
                res["profile"]["worker"] = await profile_worker(bench, args.profile_worker_s)
        finally:
            await k.stop()
        res["total_seconds"] = round(time.monotonic() - t0, 1)
    finally:
        broker.stop(remove=False)
        redis.stop(remove=False)
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    res["finished"] = time.strftime("%Y-%m-%d %H:%M")
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--receipts", type=int, default=1_000_000, help="backlog size")
    p.add_argument("--rate", type=int, default=10_000, help="steady input rate, receipts/s")
    p.add_argument("--duration", type=float, default=30.0, help="steady phase, seconds")
    p.add_argument("--only", default="a,b,c,d,e", help="variants, e.g. a,d")
    p.add_argument("--cap", type=float, default=120.0, help="time limit a variant, seconds")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--customers", type=int, default=0, help="default receipts/10, >= 1000")
    p.add_argument("--sample-s", type=float, default=1.0, help="sampling interval")
    p.add_argument("--profile-receipts", type=int, default=50_000,
                   help="batch-path profile size (0: skip)")
    p.add_argument("--profile-worker-s", type=float, default=30.0,
                   help="seconds of the (d) worker under cProfile (0: skip)")
    p.add_argument("--out", type=Path, default=HERE, help="where results.json/throughput.png go")
    p.add_argument("--readme", type=Path, default=HERE.parent / "README.md")
    p.add_argument("--no-readme", action="store_true", help="do not touch the README")
    p.add_argument("--keep", action="store_true", help="keep .run/e2e-bench (logs)")
    p.add_argument("--report-only", action="store_true",
                   help="no measurement: redo table, plot and README from OUT/results.json")
    p.add_argument("--cprofile-worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cprofile_worker:
        cprofile_worker(args.cprofile_worker)
        return 0
    if args.report_only:
        res = json.loads((args.out / "results.json").read_text())
    else:
        res = asyncio.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    plot(res, args.out / "throughput.png")
    table = print_table(res)
    print()
    print(table)
    budget = cpu_budget(res)
    if budget:
        print()
        print("\n".join(budget))
    for g in goal_checks(res):
        print("-", g.replace("**", ""))
    if not args.no_readme:
        write_readme(args.readme, readme_section(res))
        log(f"wrote {args.readme} (section between {MARK_START} and {MARK_END})")
    log(f"wrote {args.out / 'results.json'} and {args.out / 'throughput.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
