"""The worker's cost per receipt at its Redis boundary, on both sides of it.

    PYTHONPATH=src python3 benchmarks/batch_path.py [--receipts 20000] [--customers 1500]

`BatchProcessor.process` (compiled engine, `examples/retail-chain.yaml`, the worker's store
settings: state cache on, answers kept by origin) over loadgen receipts in batches of 500,
each message on the partition its key is placed on (6), against a redis-server this script
starts and stops. Profiles are stored first, as the worker's profile agent would. After every
`--commit-every` batches the committed messages' answers and claims are dropped, as the
worker does after an offset commit. No Kafka: what is left is the worker's own CPU and
Redis's.

Reported, per receipt: this process's CPU (`time.thread_time` of the thread running the
batches, the event loop's: the progress bar draws from another), redis-server's CPU
(`INFO cpu` used_cpu_user + used_cpu_sys, before and after), and where Redis spent it:
each Lua script's execution time from the slow log (by SHA; threshold 50 µs: every script
call, not the commands inside)
and `INFO commandstats` (commands inside scripts included). The default workload (1,500
customers for 20,000 receipts) gives ~13 receipts a customer by the end, as the e2e backlog's
1.3M receipts over 100,000 customers.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.progress import track
from rich.table import Table

from streamproc.domain.program import load_program
from streamproc.engine.selection import make_engine
from streamproc.processing.batch import (
    BatchProcessor,
    InMessage,
    apply_profiles,
    collector_paused,
)
from streamproc.state.redis import store as store_mod
from streamproc.state.redis.store import RedisStore
from streamproc.tools.devstack import RedisServer
from streamproc.tools.loadgen import LoadgenConfig, customer_messages, generate_messages

PROGRAM = Path(__file__).parents[1] / "examples" / "retail-chain.yaml"
BATCH = 500
# the slow log's threshold: every script call (hundreds of µs and more), not the commands
# scripts make (1-2 µs each; logging those would cost Redis more than they do)
SLOWLOG_US = 50


def _script_names() -> dict[str, str]:
    """SHA1 of each script the store sends -> its name (the slow log names them by SHA)."""
    names = {}
    for name in dir(store_mod):
        if name.startswith("LUA_"):
            text = getattr(store_mod, name)
            names[hashlib.sha1(text.encode()).hexdigest()] = name[4:].lower()
    return names


def _cpu(c: redis.Redis) -> float:
    info = c.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _run(url: str, receipts: list[tuple[bytes | None, bytes]],
               profiles: list[tuple[bytes | None, bytes]], commit_every: int,
               sync: redis.Redis) -> dict[str, Any]:
    program = load_program(str(PROGRAM))
    store = RedisStore(url, program, cache_state=True)
    bp = BatchProcessor(program, make_engine(program, "compiled"), store)
    await apply_profiles(store, [InMessage("customers", 0, i, k, v)
                                 for i, (k, v) in enumerate(profiles)])
    place = store.partition_of
    ims = []
    offsets: dict[int, int] = defaultdict(int)
    for k, v in receipts:
        p = place(k.decode()) if k else 0
        ims.append(InMessage("receipts", p, offsets[p], k, v))
        offsets[p] += 1
    batches = [ims[i:i + BATCH] for i in range(0, len(ims), BATCH)]
    sync.config_resetstat()
    sync.slowlog_reset()
    # the loop's thread only: the progress bar redraws from a thread of its own
    redis0, cpu0, t0 = _cpu(sync), time.thread_time(), time.perf_counter()
    kept: dict[int, list[str]] = {}
    claimed: list[str] = []
    out_n = 0
    for i, b in enumerate(track(batches, description="batches", transient=True,
                                refresh_per_second=2)):
        with collector_paused():  # as the worker: until the batch's objects are gone
            o = await bp.process(b)
            out_n += len(o.results) + len(o.dlq)
            for p, origins in o.kept.items():
                kept.setdefault(p, []).extend(origins)
            claimed.extend(o.claimed)
            del o
        if (i + 1) % commit_every == 0 or i == len(batches) - 1:
            await store.drop_outputs(kept)
            await store.drop_claims(claimed)
            kept, claimed = {}, []
    wall = time.perf_counter() - t0
    cpu = time.thread_time() - cpu0
    redis_cpu = _cpu(sync) - redis0
    await store.close()
    return {"wall": wall, "cpu": cpu, "redis_cpu": redis_cpu, "outputs": out_n}


def _script_stats(sync: redis.Redis) -> dict[str, tuple[int, int]]:
    names = _script_names()
    got: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in sync.slowlog_get(1_000_000):
        cmd = e["command"].split()
        what = cmd[0].decode().lower() if cmd else "?"
        if what == "evalsha" and len(cmd) > 1:
            what = names.get(cmd[1].decode(), "evalsha " + cmd[1].decode()[:8])
        elif what == "eval":
            what = "eval (take_partitions)"
        got[what][0] += 1
        got[what][1] += int(e["duration"])
    return {k: (v[0], v[1]) for k, v in got.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--receipts", type=int, default=20_000)
    ap.add_argument("--customers", type=int, default=1_500)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--commit-every", type=int, default=4,
                    help="batches per offset commit (the worker commits once a second)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs, each on a fresh redis-server; the run of least worker CPU is "
                         "shown (a shared machine only ever adds time)")
    args = ap.parse_args()
    cfg = LoadgenConfig(seed=args.seed, receipts=args.receipts, customers=args.customers)
    receipts = list(generate_messages(cfg))
    profiles = list(customer_messages(cfg))
    console = Console()
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="batch-path-") as d:
            srv = RedisServer(d).start()
            try:
                sync = redis.Redis(port=srv.port)
                sync.config_set("slowlog-log-slower-than", SLOWLOG_US)
                sync.config_set("slowlog-max-len", 1_000_000)
                res = asyncio.run(_run(srv.url, receipts, profiles, args.commit_every, sync))
                runs.append((res, _script_stats(sync), sync.info("commandstats"),
                             sync.info("memory")["used_memory"]))
                sync.close()
            finally:
                srv.stop()
    n = len(receipts)
    if args.repeat > 1:
        console.print("runs, µs a receipt (worker / redis-server CPU): " + ", ".join(
            f"{r['cpu'] / n * 1e6:.1f} / {r['redis_cpu'] / n * 1e6:.1f}" for r, *_ in runs))
    res, scripts, cmdstats, mem = min(runs, key=lambda r: r[0]["cpu"])
    redis_min = min(r["redis_cpu"] for r, *_ in runs)
    t = Table(title=f"batch path: {n:,} receipts, {args.customers:,} customers, batches of "
                    f"{BATCH}, answers dropped every {args.commit_every} batches"
                    + (f"; the least of {args.repeat} runs" if args.repeat > 1 else ""))
    for col in ("", "total s", "µs a receipt"):
        t.add_column(col, justify="right")
    t.add_row("worker process CPU", f"{res['cpu']:.2f}", f"{res['cpu'] / n * 1e6:.1f}")
    t.add_row("redis-server CPU", f"{redis_min:.2f}", f"{redis_min / n * 1e6:.1f}")
    t.add_row("wall", f"{res['wall']:.2f}", f"{res['wall'] / n * 1e6:.1f}")
    console.print(t)
    console.print(f"{n / res['wall']:,.0f} receipts/s wall; {res['outputs']:,} outputs; "
                  f"Redis used_memory {mem / 1e6:.1f} MB")
    s = Table(title=f"Redis time by command (slow log: calls of {SLOWLOG_US} µs or more, "
                    "execution only)")
    for col in ("command", "calls", "µs a call", "µs a receipt"):
        s.add_column(col, justify="right")
    for what, (calls, us) in sorted(scripts.items(), key=lambda kv: -kv[1][1]):
        s.add_row(what, f"{calls:,}", f"{us / calls:,.0f}", f"{us / n:.2f}")
    console.print(s)
    c = Table(title="INFO commandstats (commands inside scripts included)")
    for col in ("command", "calls", "µs a call", "µs a receipt"):
        c.add_column(col, justify="right")
    rows = sorted(cmdstats.items(), key=lambda kv: -kv[1]["usec"])
    for name, st in rows[:14]:
        c.add_row(name.removeprefix("cmdstat_"), f"{st['calls']:,}",
                  f"{st['usec_per_call']:.2f}", f"{st['usec'] / n:.2f}")
    console.print(c)


if __name__ == "__main__":
    main()
