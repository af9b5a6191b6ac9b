"""Engine speed table: receipts/s of the reference and compiled engines, and their ratio.

    python benchmarks/engine_speed.py [--n 2000] [--repeat 5] [--profile] [--no-gc-freeze]

For 1, 8 and 40-line receipts of the standard workload (benchmarks/workload.py), on one core:
- calc: `calc_sale(receipt, ctx)` on decoded receipts, one `SaleCalc` a receipt; the compiled
  engine also as `calc_batch` (a list of `SaleCalc`) and `calc_flat` (one `CalcBatch` of flat
  C buffers, reused across runs via `out=`; no Python object per receipt). Each engine gets
  the receipts of its own decoder (as in the processor); `calc_flat` is also measured on the
  reference decoder's receipts (last lines of the output);
- decode: `parse_receipt(raw)` = `orjson.loads` + validation, with the reference validator
  (`domain.receipt`) and the compiled one (`_fastcalc.parse_receipt`), and `orjson.loads` alone;
- decode+calc: reference decode + reference calc vs compiled decode + compiled `calc_sale`;
- decoded-batch path: `calc_decoded(batch, flat_contexts)` on the compiled decoder's
  `decode_batch(raws)` (lines as C arrays) and `pack_contexts(contexts)` (contexts as C
  arrays), both made before timing; `decode_batch` and `pack_contexts` timed on their own,
  and all three together from the raw bytes and `SaleContext`s.
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

from streamproc.engine.selection import make_decoder, make_engine
from workload import LINE_COUNTS, Workload, load_workload


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
        if name == "compiled":
            out["compiled/calc_batch"] = best_rate(
                lambda eng=eng, rs=rs: eng.calc_batch(rs, cs), len(rs), rep)
            batch = eng.calc_flat(rs, cs)
            out["compiled/calc_flat"] = best_rate(
                lambda eng=eng, batch=batch, rs=rs: eng.calc_flat(rs, cs, out=batch), len(rs),
                rep)
            # the same on the reference decoder's receipts (lines found by value)
            ref_rs = w.receipts
            eng.calc_flat(ref_rs, cs, out=batch)
            out["compiled/calc_flat_refdec"] = best_rate(
                lambda eng=eng, batch=batch, ref_rs=ref_rs: eng.calc_flat(ref_rs, cs, out=batch),
                len(rs), rep)
            # the decoded-batch path: the raw bytes decoded straight into C arrays
            # (`decode_batch`), the contexts packed once (`pack_contexts`); `calc_decoded`
            # reads only those C arrays (and Python objects for coupons, see the README)
            db = eng.decode_batch(raws)
            fc = eng.pack_contexts(cs)
            eng.calc_decoded(db, fc, out=batch)
            assert batch.calcs() == [calc(r, c) for r, c in zip(rs, cs, strict=True)]
            out["compiled/calc_decoded"] = best_rate(
                lambda eng=eng, batch=batch, db=db, fc=fc: eng.calc_decoded(db, fc, out=batch),
                len(rs), rep)

            def decode_batch(eng=eng, db=db) -> None:
                db.clear()
                eng.decode_batch(raws, out=db)

            def pack_contexts(eng=eng, fc=fc) -> None:
                fc.clear()
                eng.pack_contexts(cs, out=fc)

            def all_three(eng=eng, db=db, fc=fc, batch=batch) -> None:
                decode_batch()
                pack_contexts()
                eng.calc_decoded(db, fc, out=batch)

            out["compiled/decode_batch"] = best_rate(decode_batch, len(rs), rep)
            out["compiled/pack_contexts"] = best_rate(pack_contexts, len(rs), rep)
            out["compiled/decode_batch+pack+calc"] = best_rate(all_three, len(rs), rep)

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
    print(f"{'lines':>5} {'path':<12} {'reference/s':>12} {'compiled/s':>12} {'batch/s':>12} "
          f"{'flat/s':>12} {'ratio':>7} {'flat ratio':>10}")
    for lines, m in rows:
        for path in ("calc", "decode", "decode+calc"):
            ref, fast = m[f"reference/{path}"], m[f"compiled/{path}"]
            if path == "calc":
                extra = (f"{m['compiled/calc_batch']:12,.0f} {m['compiled/calc_flat']:12,.0f} "
                         f"{fast / ref:6.1f}x {m['compiled/calc_flat'] / ref:9.1f}x")
            else:
                extra = f"{'':12} {'':12} {fast / ref:6.1f}x"
            print(f"{lines:>5} {path:<12} {ref:12,.0f} {fast:12,.0f} {extra}")
        print(f"{lines:>5} {'orjson.loads':<12} {'':12} {m['orjson.loads']:12,.0f}")
    print("\ncompiled calc_flat on the reference decoder's receipts (line records by value):")
    for lines, m in rows:
        ref, f = m["reference/calc"], m["compiled/calc_flat_refdec"]
        print(f"{lines:>5} lines {f:12,.0f}/s {f / ref:6.1f}x")
    print("\ndecoded-batch path (compiled): calc_decoded on decode_batch + pack_contexts output;"
          "\n  the decode and packing, and all three from raw bytes + SaleContexts:")
    print(f"{'lines':>5} {'calc_decoded/s':>15} {'vs ref':>7} {'vs flat':>7} "
          f"{'decode_batch/s':>15} {'pack_ctx/s':>12} {'all three/s':>12}")
    for lines, m in rows:
        d = m["compiled/calc_decoded"]
        print(f"{lines:>5} {d:15,.0f} {d / m['reference/calc']:6.1f}x "
              f"{d / m['compiled/calc_flat']:6.2f}x {m['compiled/decode_batch']:15,.0f} "
              f"{m['compiled/pack_contexts']:12,.0f} {m['compiled/decode_batch+pack+calc']:12,.0f}")
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
