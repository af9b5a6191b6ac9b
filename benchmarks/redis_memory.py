"""Redis memory per active customer, all keys included, after a replay into Redis.

    PYTHONPATH=src python3 benchmarks/redis_memory.py [--receipts 20000] [--customers 3000]

Starts an empty redis-server, runs `streamproc replay --redis` of generated receipts
(`examples/retail-chain.yaml`, the standard workload), then sums `MEMORY USAGE` of every key
by kind (customer state, profile, receipt record, timers, globals...) and reads `INFO memory`
(used_memory over the empty server's). Prints a table and the bytes per customer with state.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import redis
from rich.console import Console
from rich.table import Table

from streamproc.tools.devstack import ensure_redis_installed, free_port
from streamproc.tools.loadgen import LoadgenConfig, customer_messages, generate_messages

PROGRAM = Path(__file__).parents[1] / "examples" / "retail-chain.yaml"
KINDS = {"c": "customer state", "p": "profile", "h": "receipt records (per customer)",
         "a": "anonymous receipt record", "r": "receipt record (format 1)", "o": "stored answer",
         "t": "timers (per partition)", "l": "liability (per partition)",
         "f": "fence (per partition)", "x": "timer outbox", "g": "budgets, codes, claims",
         "layout": "layout"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--receipts", type=int, default=20_000)
    ap.add_argument("--customers", type=int, default=3_000)
    ap.add_argument("--days", type=int, default=18)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mem-"))
    cfg = LoadgenConfig(seed=42, receipts=args.receipts, customers=args.customers,
                        days=args.days)
    (tmp / "r.jsonl").write_bytes(b"".join(v + b"\n" for _, v in generate_messages(cfg)))
    (tmp / "c.jsonl").write_bytes(b"".join(v + b"\n" for _, v in customer_messages(cfg)))
    port = free_port()
    srv = subprocess.Popen([ensure_redis_installed(), "--port", str(port), "--bind",
                            "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                           stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)  # waiting for the server to accept connections
        empty = int(client.info("memory")["used_memory"])
        subprocess.run([sys.executable, "-m", "streamproc", "replay", "--program", str(PROGRAM),
                        "--receipts", str(tmp / "r.jsonl"), "--customers", str(tmp / "c.jsonl"),
                        "--redis", f"redis://127.0.0.1:{port}/0", "--no-progress"],
                       check=True, stdout=subprocess.DEVNULL)
        used = int(client.info("memory")["used_memory"]) - empty
        size: Counter[str] = Counter()
        count: Counter[str] = Counter()
        for key in client.scan_iter(count=5000):
            parts = key.decode().split(":")
            kind = parts[1] if len(parts) > 1 else "?"
            size[kind] += int(client.memory_usage(key, samples=0) or 0)
            count[kind] += 1
        customers = count["c"]
    finally:
        srv.terminate()
        srv.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    t = Table(title=f"{args.receipts} receipts, {customers} customers with state, "
                    f"{args.days} days")
    for col in ("keys", "count", "bytes (MEMORY USAGE)", "per key", "per customer"):
        t.add_column(col, justify="right")
    for kind, b in size.most_common():
        t.add_row(KINDS.get(kind, kind), f"{count[kind]:,}", f"{b:,}", f"{b / count[kind]:.0f}",
                  f"{b / customers:.0f}")
    t.add_row("all keys", f"{sum(count.values()):,}", f"{sum(size.values()):,}", "",
              f"{sum(size.values()) / customers:.0f}")
    t.add_row("INFO used_memory (over empty)", "", f"{used:,}", "", f"{used / customers:.0f}")
    Console().print(t)


if __name__ == "__main__":
    main()
