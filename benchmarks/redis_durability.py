"""What "durable before commit" costs: the batch path against Redis with each durability mode.

    PYTHONPATH=src python3 benchmarks/redis_durability.py [--receipts 20000] [--commit-every 1]

Each mode gets a fresh redis-server (AOF on, in a temporary directory on this machine's disk):
- none:  appendfsync everysec, nothing awaited before the offset commit;
- fsync: appendfsync always (every write's reply comes after its fsync);
- wait:  appendfsync everysec plus one replica; `WAIT 1 1000` after a marker write before each
         commit (`RedisStore.durable("wait")`).
The same receipts go through `BatchProcessor.process` in batches of 500 (compiled engine,
`examples/retail-chain.yaml`), with a commit point every `--commit-every` batches (the worker
commits once a second: several batches under load, one when idle). Receipts/s and the cost of
one durability wait are reported, as ratios to `none` in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from streamproc.domain.program import load_program
from streamproc.engine.selection import make_engine
from streamproc.processing.batch import BatchProcessor, InMessage
from streamproc.state.redis.store import RedisStore
from streamproc.tools.devstack import ensure_redis_installed, free_port
from streamproc.tools.loadgen import LoadgenConfig, generate_messages

PROGRAM = Path(__file__).parents[1] / "examples" / "retail-chain.yaml"
BATCH = 500


def _server(d: Path, port: int, fsync: str, replica_of: int | None = None) -> subprocess.Popen:
    args = [ensure_redis_installed(), "--port", str(port), "--bind", "127.0.0.1", "--dir",
            str(d), "--appendonly", "yes", "--appendfsync", fsync, "--save", ""]
    if replica_of is not None:
        args += ["--replicaof", "127.0.0.1", str(replica_of)]
    d.mkdir(parents=True, exist_ok=True)
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    import redis

    c = redis.Redis(port=port)
    for _ in range(200):
        try:
            c.ping()
            if replica_of is not None:
                while c.info("replication").get("master_link_status") != "up":
                    time.sleep(0.05)  # waiting for the replica's initial sync, then measure
            return p
        except redis.ConnectionError:
            time.sleep(0.05)  # waiting for the server to accept connections
    raise RuntimeError("redis-server did not start")


async def _run(mode: str, batches: list[list[InMessage]], commit_every: int, port: int
               ) -> tuple[float, float, int]:
    program = load_program(str(PROGRAM))
    store = RedisStore(f"redis://127.0.0.1:{port}/0", program, prefix="dur")
    bp = BatchProcessor(program, make_engine(program), store)
    waits: list[float] = []
    t0 = time.perf_counter()
    for i, b in enumerate(track(batches, description=f"{mode:>5}", transient=True)):
        await bp.process(b)
        if (i + 1) % commit_every == 0 or i == len(batches) - 1:
            w0 = time.perf_counter()
            await store.durable(mode)
            waits.append(time.perf_counter() - w0)
    total = time.perf_counter() - t0
    await store.close()
    return total, sum(waits) / len(waits), len(waits)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--receipts", type=int, default=20_000)
    ap.add_argument("--commit-every", type=int, default=1, help="batches per commit point")
    args = ap.parse_args()
    msgs = [v for _, v in generate_messages(LoadgenConfig(seed=3, receipts=args.receipts,
                                                           customers=args.receipts // 10))]
    batches = [[InMessage("receipts", 0, i + j, None, v)
                for j, v in enumerate(msgs[i:i + BATCH])] for i in range(0, len(msgs), BATCH)]
    rows = []
    for mode in ("none", "fsync", "wait"):
        tmp = Path(tempfile.mkdtemp(prefix=f"dur-{mode}-"))
        port = free_port()
        procs = [_server(tmp / "primary", port, "always" if mode == "fsync" else "everysec")]
        if mode == "wait":
            procs.append(_server(tmp / "replica", free_port(), "everysec", replica_of=port))
        try:
            rows.append((mode, *asyncio.run(_run(mode, batches, args.commit_every, port))))
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
            shutil.rmtree(tmp, ignore_errors=True)
    base = rows[0][1]
    t = Table(title=f"{args.receipts} receipts, batches of {BATCH}, a commit point every "
                    f"{args.commit_every} batch(es)")
    for col in ("mode", "receipts/s", "vs none", "wait per commit (ms)", "commits"):
        t.add_column(col, justify="right")
    for mode, total, wait, n in rows:
        t.add_row(mode, f"{args.receipts / total:,.0f}", f"{base / total:.2f}",
                  f"{wait * 1e3:.2f}", str(n))
    Console().print(t)


if __name__ == "__main__":
    main()
