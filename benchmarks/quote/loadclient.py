"""An open-loop HTTP/1.1 load generator for the quote server (run as its own process).

    python benchmarks/quote/loadclient.py --port P --bodies bodies.jsonl --token T
        --rate 1000 --duration 30 [--warmup 5] [--connections 64] [--path /v1/quote]

Request i is due at t0 + i/rate whatever happened to the others (open loop), and its latency
is measured from that due time to the last byte of its answer: a slow answer delays nothing
else, and queueing behind busy connections counts (no coordinated omission). Keep-alive
connections, requests pre-encoded, responses read by Content-Length, the garbage collector off
(a collection would stall the sender, and the stall would count against the server): the
client's own cost per request is a few tens of microseconds, and it reports its CPU time so a
run shows what share of the machine the measuring took. Prints one JSON object: counts,
statuses, percentiles, CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import time
from pathlib import Path


def _requests(bodies: list[bytes], path: str, token: str) -> list[bytes]:
    if path != "/v1/quote":
        return [f"GET {path} HTTP/1.1\r\nHost: quote\r\n\r\n".encode()]
    head = (f"POST {path} HTTP/1.1\r\nHost: quote\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: ")
    return [head.encode() + str(len(b)).encode() + b"\r\n\r\n" + b for b in bodies]


async def _worker(port: int, queue: asyncio.Queue, reqs: list[bytes], lat: list[float],
                  series: list[tuple[float, float]], statuses: dict[int, int],
                  warm_until: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = len(reqs)
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            i, due = item
            writer.write(reqs[i % n])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            at = head.lower().find(b"content-length:")
            clen = int(head[at + 15:head.index(b"\r\n", at)]) if at >= 0 else 0
            await reader.readexactly(clen)
            done = time.perf_counter()
            if due >= warm_until:
                lat.append(done - due)
                series.append((due - warm_until, done - due))
                statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def _pct(sorted_lat: list[float], p: float) -> float:
    if not sorted_lat:
        return float("nan")
    k = min(len(sorted_lat) - 1, max(0, math.ceil(p / 100 * len(sorted_lat)) - 1))
    return sorted_lat[k]


async def run(args: argparse.Namespace) -> dict:
    bodies = [ln for ln in Path(args.bodies).read_bytes().splitlines() if ln.strip()]
    reqs = _requests(bodies, args.path, args.token)
    queue: asyncio.Queue = asyncio.Queue()
    lat: list[float] = []
    series: list[tuple[float, float]] = []
    statuses: dict[int, int] = {}
    total = int(args.rate * (args.warmup + args.duration))
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.2
    warm_until = t0 + args.warmup
    workers = [asyncio.create_task(_worker(args.port, queue, reqs, lat, series, statuses,
                                       warm_until))
               for _ in range(args.connections)]
    await asyncio.sleep(0.1)
    interval = 1.0 / args.rate
    max_backlog = 0
    for i in range(total):
        due = t0 + i * interval
        wait = due - time.perf_counter()
        if wait > 0.0005:
            await asyncio.sleep(wait)
        queue.put_nowait((i, due))
        max_backlog = max(max_backlog, queue.qsize())
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    end = time.perf_counter()
    cpu = time.process_time() - cpu0
    lat.sort()
    measured = len(lat)
    worst: dict[int, float] = {}  # the slowest answer of each second: where the tail comes from
    for t, latency in series:
        worst[int(t)] = max(worst.get(int(t), 0.0), latency)
    return {
        "path": args.path, "rate_asked": args.rate, "duration_s": args.duration,
        "connections": args.connections, "requests": measured,
        "achieved_rps": measured / max(1e-9, end - warm_until),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "max_queue": max_backlog,
        "latency_ms": {name: _pct(lat, p) * 1000 for name, p in
                       (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9), ("max", 100))},
        "client_cpu_pct": 100 * cpu / max(1e-9, end - t0),
        "mean_ms": (sum(lat) / measured * 1000) if measured else float("nan"),
        "worst_ms_by_second": [round(worst.get(i, 0.0) * 1000, 2)
                               for i in range(int(args.duration))],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bodies", required=True)
    ap.add_argument("--token", default="")
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--path", default="/v1/quote")
    try:  # the client's own overhead counts in every latency: keep it small
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    gc.disable()  # bounded by the run's requests; a collection would be a stall of the client's
    with asyncio.Runner(loop_factory=factory) as runner:
        print(json.dumps(runner.run(run(ap.parse_args()))))


if __name__ == "__main__":
    main()
