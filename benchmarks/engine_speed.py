"""Engine speed table: receipts/s of the reference and compiled engines, and their ratio.

    python benchmarks/engine_speed.py [--n 2000] [--repeat 5] [--profile]

For 1, 8 and 40-line receipts of the standard workload (benchmarks/workload.py), on one core:
- calc: `calc_sale(receipt, ctx)` on decoded receipts (compiled also as `calc_batch`);
- decode+calc: `orjson.loads` + `receipt_from_obj` + `calc_sale` from the raw JSON bytes;
- decode: `orjson.loads` + `receipt_from_obj` alone (the part no engine can speed up).
Each figure is the best of `--repeat` runs. `--profile` prints cProfile notes for the
compiled engine's decode+calc path.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from streamproc.domain.receipt import receipt_from_obj
from streamproc.engine.fast import make_engine
from workload import LINE_COUNTS, Workload, load_workload


def best_rate(fn: Callable[[], object], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return count / best


def measure(w: Workload, repeat: int) -> dict[str, float]:
    rs, cs, raws = w.receipts, w.contexts, w.raws
    out: dict[str, float] = {}
    for name in ("reference", "compiled"):
        eng = make_engine(w.program, name)
        calc = eng.calc_sale
        rep = max(1, repeat // 2) if name == "reference" else repeat
        for r, c in zip(rs, cs, strict=True):  # warm caches (interned lines, local time)
            calc(r, c)

        def calc_only(calc=calc) -> None:
            for r, c in zip(rs, cs, strict=True):
                calc(r, c)

        def decode_calc(calc=calc) -> None:
            for raw, c in zip(raws, cs, strict=True):
                calc(receipt_from_obj(orjson.loads(raw)), c)

        out[f"{name}/calc"] = best_rate(calc_only, len(rs), rep)
        out[f"{name}/decode+calc"] = best_rate(decode_calc, len(rs), rep)
        if name == "compiled":
            out["compiled/calc_batch"] = best_rate(lambda eng=eng: eng.calc_batch(rs, cs),
                                                   len(rs), rep)

    def decode() -> None:
        for raw in raws:
            receipt_from_obj(orjson.loads(raw))

    out["decode"] = best_rate(decode, len(rs), repeat)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="receipts per workload")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    for lines in LINE_COUNTS:
        w = load_workload(lines, args.n)
        m = measure(w, args.repeat)
        rows.append((lines, m))
    print(f"{'lines':>5} {'path':<12} {'reference/s':>12} {'compiled/s':>12} {'batch/s':>12} "
          f"{'ratio':>7}")
    for lines, m in rows:
        for path in ("calc", "decode+calc"):
            ref, fast = m[f"reference/{path}"], m[f"compiled/{path}"]
            batch = f"{m['compiled/calc_batch']:12,.0f}" if path == "calc" else " " * 12
            print(f"{lines:>5} {path:<12} {ref:12,.0f} {fast:12,.0f} {batch} {fast / ref:6.1f}x")
        print(f"{lines:>5} {'decode only':<12} {m['decode']:12,.0f}")
    if args.profile:
        w = load_workload(8, args.n)
        eng = make_engine(w.program)
        prof = cProfile.Profile()
        prof.enable()
        for raw, c in zip(w.raws, w.contexts, strict=True):
            eng.calc_sale(receipt_from_obj(orjson.loads(raw)), c)
        prof.disable()
        print("\nprofile: compiled decode+calc, 8 lines (cProfile, tottime)")
        pstats.Stats(prof).sort_stats("tottime").print_stats(8)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
