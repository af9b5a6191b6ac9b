"""Engine speed table: receipts/s of the reference and compiled engines, and their ratio.

    python benchmarks/engine_speed.py [--n 2000] [--repeat 5] [--profile] [--no-gc-freeze]

For 1, 8 and 40-line receipts of the standard workload (benchmarks/workload.py), on one core:
- calc: `calc_sale(receipt, ctx)` on decoded receipts, one `SaleCalc` a receipt (each engine on
  the receipts of its own decoder, as in the processor);
- decode: `parse_receipt(raw)` = `orjson.loads` + validation, with the reference validator
  (`domain.receipt`) and the compiled one (`_fastcalc.parse_receipt`), and `orjson.loads` alone;
- decode+calc: reference decode + reference calc vs compiled decode + compiled `calc_sale`;
- process: the whole receipt in the processor (`make_processor`: the compiled
  `FastProcessor.process_many`, the worker's and the replay's path, vs the reference
  `Processor.process_raw`) from raw bytes on a fresh `MemoryState`.
Each figure is the best of `--repeat` runs, in thread CPU time. GC: the workload (receipts,
contexts, raw bytes) is moved out of the collector's generations with `gc.freeze()` before
measuring, so young-GC passes triggered by the measured code do not re-traverse the fixture
(the worker's own heap is small and short-lived); `--no-gc-freeze` measures without it.
`--profile` prints cProfile notes for the compiled decode+calc path.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
from collections.abc import Callable

import orjson

from streamproc.engine.processor import make_processor
from streamproc.engine.selection import make_decoder, make_engine
from workload import LINE_COUNTS, Workload, load_workload, process_all


def best_rate(fn: Callable[[], object], count: int, repeat: int) -> float:
    """count / the best of `repeat` runs, in this thread's CPU time (time.thread_time: on a
    shared machine, time the thread spends descheduled by other jobs is not counted)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t)
    return count / best


def measure(w: Workload, repeat: int) -> dict[str, float]:
    cs, raws = w.contexts, w.raws
    out: dict[str, float] = {}
    for name in ("reference", "compiled"):
        eng = make_engine(w.program, name)
        calc = eng.calc_sale
        parse = make_decoder(name)
        # each engine calculates the receipts its own decoder made (what the processor does);
        # equal values either way, but the compiled decoder's lines carry canonical sku and
        # category objects that the compiled engine finds its line records by
        rs = [parse(raw) for raw in raws]
        assert rs == w.receipts
        rep = max(1, repeat // 2) if name == "reference" else repeat
        for r, c in zip(rs, cs, strict=True):  # warm caches (interned lines, local time)
            calc(r, c)

        def calc_only(calc=calc, rs=rs) -> None:
            for r, c in zip(rs, cs, strict=True):
                calc(r, c)

        def decode(parse=parse) -> None:
            for raw in raws:
                parse(raw)

        def decode_calc(calc=calc, parse=parse) -> None:
            for raw, c in zip(raws, cs, strict=True):
                calc(parse(raw), c)

        out[f"{name}/calc"] = best_rate(calc_only, len(rs), rep)
        out[f"{name}/decode"] = best_rate(decode, len(rs), rep)
        out[f"{name}/decode+calc"] = best_rate(decode_calc, len(rs), rep)

        def process(eng=eng) -> None:
            process_all(make_processor(w.program, eng), raws)

        out[f"{name}/process"] = best_rate(process, len(rs), rep)

    def loads_only() -> None:
        for raw in raws:
            orjson.loads(raw)

    out["orjson.loads"] = best_rate(loads_only, len(rs), repeat)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="receipts per workload")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--no-gc-freeze", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    for lines in LINE_COUNTS:
        w = load_workload(lines, args.n)
        if not args.no_gc_freeze:
            gc.collect()
            gc.freeze()
        m = measure(w, args.repeat)
        if not args.no_gc_freeze:
            gc.unfreeze()
        rows.append((lines, m))
    print(f"{'lines':>5} {'path':<12} {'reference/s':>12} {'compiled/s':>12} {'ratio':>7}")
    for lines, m in rows:
        for path in ("calc", "decode", "decode+calc", "process"):
            ref, fast = m[f"reference/{path}"], m[f"compiled/{path}"]
            print(f"{lines:>5} {path:<12} {ref:12,.0f} {fast:12,.0f} {fast / ref:6.1f}x")
        print(f"{lines:>5} {'orjson.loads':<12} {'':12} {m['orjson.loads']:12,.0f}")
    if args.profile:
        w = load_workload(8, args.n)
        eng = make_engine(w.program)
        parse = make_decoder("compiled")
        prof = cProfile.Profile()
        prof.enable()
        for raw, c in zip(w.raws, w.contexts, strict=True):
            eng.calc_sale(parse(raw), c)
        prof.disable()
        print("\nprofile: compiled decode+calc, 8 lines (cProfile, tottime)")
        pstats.Stats(prof).sort_stats("tottime").print_stats(8)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
