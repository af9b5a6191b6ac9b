"""`streamproc replay` in one process, side by side: reference vs compiled processor, 20 vs 400
campaigns, and where a receipt's time goes. Figures go to benchmarks/README.md (Replay).

    python benchmarks/replay_speed.py                    # --receipts 30000 --reference 10000
    python benchmarks/replay_speed.py --memory 1000000   # peak RSS of `streamproc replay`

Receipts and profiles come from `streamproc loadgen` (seed 42, cached in .run/bench-replay);
the standard program is examples/retail-chain.yaml. Each run reads the messages into memory
first, then times `Replay.run` from the raw bytes to result and event bytes (sinks into
memory) in thread CPU time, so time spent descheduled by other jobs on the shared VM is not
counted. The campaign runs use synthetic programs: the retail chain's accrual and tiers with
N random campaigns (percent_off, amount_off, sku_points, points_multiplier; a tenth of them
budgeted): the same 20 on one to three random SKUs of the loadgen catalogue, the rest on SKUs
no receipt carries; the same receipts.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT / "examples" / "retail-chain.yaml"


def loadgen(d: Path, n: int, customers: int) -> tuple[Path, Path]:
    rec, cus = d / f"r{n}.jsonl", d / f"c{n}.jsonl"
    if not rec.exists():
        subprocess.run([sys.executable, "-m", "streamproc", "loadgen", "--receipts", str(n),
                        "--customers", str(customers), "--out", str(rec), "--customers-out",
                        str(cus), "--no-progress"], check=True, stdout=subprocess.DEVNULL)
    return rec, cus


def random_program(n: int, live: int = 20, seed: int = 1) -> dict[str, Any]:
    """The retail chain's settings with `n` random campaigns: the first `live` on the loadgen
    catalogue, the others on SKUs no receipt carries (a chain runs hundreds of campaigns and
    a receipt meets a few: what is measured is the cost of the ones it does not meet)."""
    from streamproc.tools.chain import CATEGORIES

    rnd = random.Random(seed)
    doc = yaml.safe_load(RETAIL.read_text())
    skus = [f"{prefix}{i:03d}" for _, prefix, count, *_ in CATEGORIES for i in range(count)]
    camps = []
    for k in range(n):
        kind = rnd.choice(["percent_off", "amount_off", "sku_points", "points_multiplier"])
        c: dict[str, Any] = {"id": f"r{k:04d}", "type": kind, "priority": rnd.randint(0, 50),
                             "target": {"skus": rnd.sample(skus, rnd.randint(1, 3)) if k < live
                                        else [f"99{rnd.randrange(100000):05d}"]}}
        if kind == "percent_off":
            c["percent_bps"] = rnd.choice([500, 1000, 1500, 2000])
        elif kind == "amount_off":
            c["amount"] = rnd.choice([500, 1000, 2000])
        elif kind == "sku_points":
            c["points_per_unit"] = rnd.choice([100, 500, 1000])
        else:
            c["multiplier_bps"] = rnd.choice([15000, 20000, 30000])
        if k % 10 == 0:
            c["limits"] = {"budget": rnd.choice([100_000, 1_000_000, 10_000_000])}
        camps.append(c)
    doc["campaigns"] = camps
    return dict(doc)


def replay_cpu(program: Any, engine_name: str, msgs: list[tuple[int, bytes]],
               profiles: Path) -> tuple[float, int]:
    """Thread CPU seconds of one in-memory replay, and the result bytes it wrote."""
    from streamproc.engine.selection import make_engine
    from streamproc.replay.in_memory import Replay, Sinks

    replay = Replay(program, make_engine(program, engine_name))
    replay.load_profiles(profiles)
    out, ev, rej = io.BytesIO(), io.BytesIO(), io.BytesIO()
    gc.collect()
    t0 = time.thread_time()
    replay.run(msgs, "bench", Sinks(out, ev, rej))
    return time.thread_time() - t0, len(out.getvalue())


def budget(program: Any, msgs: list[tuple[int, bytes]], profiles: Path) -> list[tuple[str, float]]:
    """µs a message for each stage of the compiled path, measured one stage at a time."""
    import orjson

    from streamproc._fastcalc import encode_json, parse_receipt
    from streamproc.domain.receipt import Reject, parse_profile
    from streamproc.engine.processor import Processor, make_processor
    from streamproc.engine.selection import make_engine
    from streamproc.engine.stateformat import state_codec
    from streamproc.replay.in_memory import FREEZE_EVERY, read_messages
    from streamproc.state.memory import MemoryState

    raws = [m for _, m in msgs]
    n = len(raws)
    profs = [parse_profile(m) for _, m in read_messages(profiles)]
    eng = make_engine(program, "compiled")
    rows: list[tuple[str, float]] = []

    def timed(label: str, fn: Any) -> None:
        gc.collect()
        gc.freeze()  # the fixtures are not the measured code's garbage
        t0 = time.thread_time()
        fn()
        rows.append((label, (time.thread_time() - t0) / n * 1e6))

    def decode() -> None:
        for m in raws:
            with contextlib.suppress(Reject):
                parse_receipt(m)

    timed("decode (compiled parse_receipt: orjson + validation + Receipt)", decode)
    state = MemoryState()
    for p in profs:
        state.put_profile(p)
    caught: list[Any] = []

    class Spy:
        name = "compiled"

        def calc_sale(self, r: Any, ctx: Any) -> Any:
            caught.append((r, ctx))
            return eng.calc_sale(r, ctx)

    spy = Processor(program, Spy())  # type: ignore[arg-type]
    for m in raws:
        spy.process_raw(m, state)
    timed("compute (FastEngine.calc_sale on the run's contexts)",
          lambda: [eng.calc_sale(r, c) for r, c in caught])
    enc, dec = state_codec()
    sts = list(state.customers.values())
    blobs = [enc(s) for s in sts]
    scale = len(sts) / n  # customers per message: state in/out is per customer touched
    timed("state in (decode_state, each customer once)",
          lambda: [dec(s.customer_id, b) for s, b in zip(sts, blobs, strict=True)])
    rows[-1] = (rows[-1][0], rows[-1][1] / scale if scale else 0.0)
    timed("state out (encode_state, each customer once)", lambda: [enc(s) for s in sts])
    rows[-1] = (rows[-1][0], rows[-1][1] / scale if scale else 0.0)
    fp = make_processor(program, eng)
    state = MemoryState()
    for p in profs:
        state.put_profile(p)
    outs: list[Any] = []

    def process() -> None:
        for i in range(0, n, FREEZE_EVERY):  # frozen as the replay does
            outs.extend(fp.process_many(raws[i:i + FREEZE_EVERY], state))
            gc.freeze()

    timed("FastProcessor.process_many (decode + context + compute + bookkeeping + result "
          "record + its JSON)", process)
    applied = [o.result for o in outs if o.result is not None]
    timed("result JSON, compiled writer (_fastcalc.encode_json; inside process_many)",
          lambda: [encode_json(r) for r in applied])
    timed("result JSON, orjson of the typed result (the reference's way)",
          lambda: [orjson.dumps(r) for r in applied])
    timed("encode events (orjson)", lambda: [orjson.dumps(e) for o in outs for e in o.events])
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--receipts", type=int, default=30_000)
    ap.add_argument("--reference", type=int, default=10_000,
                    help="receipts the reference replays (it is slow), the first of the file")
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--dir", default=str(ROOT / ".run" / "bench-replay"))
    ap.add_argument("--memory", type=int, default=0,
                    help="instead: peak RSS of `streamproc replay` over this many receipts")
    args = ap.parse_args()
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    from streamproc.domain.program import load_program, program_from_dict
    from streamproc.replay.in_memory import read_messages

    if args.memory:
        rec, cus = loadgen(d, args.memory, max(args.customers, args.memory // 10))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "streamproc", "replay", "--program", str(RETAIL),
                        "--receipts", str(rec), "--customers", str(cus), "--no-progress"],
                       check=True, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"replay of {args.memory:,} receipts: wall {time.perf_counter() - t0:.0f} s, "
              f"cpu {after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime:.0f} s,"
              f" peak RSS {after.ru_maxrss / 1024:,.0f} MiB")
        return 0
    rec, cus = loadgen(d, args.receipts, args.customers)
    msgs = list(read_messages(rec))
    retail = load_program(RETAIL)
    rows = []
    n_ref = min(args.reference, len(msgs))
    for name, m in (("reference", msgs[:n_ref]), ("compiled", msgs[:n_ref]),
                    ("compiled", msgs)):
        cpu, size = replay_cpu(retail, name, m, cus)
        rows.append((f"retail-chain (32 campaigns), {name}, {len(m):,} receipts", len(m) / cpu))
        print(f"{rows[-1][0]}: {rows[-1][1]:,.0f} receipts/s ({size:,} result bytes)",
              flush=True)
    camp = {}
    for n in (20, 400):
        prog = program_from_dict(random_program(n))
        cpu, _ = replay_cpu(prog, "compiled", msgs, cus)
        camp[n] = len(msgs) / cpu
        rows.append((f"{n} random campaigns, compiled, {len(msgs):,} receipts", camp[n]))
        print(f"{rows[-1][0]}: {camp[n]:,.0f} receipts/s", flush=True)
    stages = budget(retail, msgs, cus)
    print("\n| run | receipts/s |\n| --- | ---: |")
    for label, rate in rows:
        print(f"| {label} | {rate:,.0f} |")
    print(f"\ncompiled / reference (same {n_ref:,} receipts): {rows[1][1] / rows[0][1]:.1f}x;"
          f" 400 / 20 campaigns slowdown: {camp[20] / camp[400]:.2f}x")
    print("\n| stage (compiled path, retail-chain) | µs a message |\n| --- | ---: |")
    for label, us in stages:
        print(f"| {label} | {us:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
