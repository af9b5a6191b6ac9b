"""pytest-benchmark: calc, decode and decode+calc for both engines, in one run, with ratios.

    pytest benchmarks/ --benchmark-group-by=param:workload -q

One round = the whole workload (1000 receipts), so ops/s x 1000 = receipts/s. The compiled
engine runs as `calc_sale` (one SaleCalc a receipt), `calc_batch`, `calc_flat` (flat
`CalcBatch`, buffers reused) and `calc_decoded` (on `decode_batch`/`pack_contexts` C
arrays); decoding runs through `engine.selection.make_decoder` (reference
`domain.receipt.parse_receipt` vs compiled `_fastcalc.parse_receipt`). The ratio test reports
compiled/reference for each receipt size (calc_sale and calc_flat) and checks the compiled
engine is faster.
"""

from __future__ import annotations

import time

import pytest

from streamproc.engine.selection import make_decoder, make_engine
from workload import Workload

ENGINES = ["reference", "compiled"]


def _calc_all(engine, w: Workload) -> None:
    calc = engine.calc_sale
    for r, c in zip(w.receipts, w.contexts, strict=True):
        calc(r, c)


def _decode_calc_all(engine, w: Workload, parse) -> None:
    calc = engine.calc_sale
    for raw, c in zip(w.raws, w.contexts, strict=True):
        calc(parse(raw), c)


def _decode_all(parse, w: Workload) -> None:
    for raw in w.raws:
        parse(raw)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_calc(benchmark, workload: Workload, engine_name: str) -> None:
    engine = make_engine(workload.program, engine_name)
    _calc_all(engine, workload)
    benchmark.extra_info["receipts_per_round"] = len(workload.receipts)
    benchmark.pedantic(_calc_all, args=(engine, workload), rounds=3 if engine_name ==
                       "reference" else 10, iterations=1)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_decode_calc(benchmark, workload: Workload, engine_name: str) -> None:
    engine = make_engine(workload.program, engine_name)
    _calc_all(engine, workload)
    benchmark.extra_info["receipts_per_round"] = len(workload.receipts)
    benchmark.pedantic(_decode_calc_all, args=(engine, workload, make_decoder(engine_name)),
                       rounds=3 if engine_name == "reference" else 10, iterations=1)


@pytest.mark.parametrize("decoder_name", ENGINES)
def test_decode(benchmark, workload: Workload, decoder_name: str) -> None:
    benchmark.extra_info["receipts_per_round"] = len(workload.receipts)
    benchmark.pedantic(_decode_all, args=(make_decoder(decoder_name), workload),
                       rounds=5 if decoder_name == "reference" else 10, iterations=1)


def test_compiled_batch(benchmark, workload: Workload) -> None:
    engine = make_engine(workload.program)
    benchmark.extra_info["receipts_per_round"] = len(workload.receipts)
    benchmark.pedantic(engine.calc_batch, args=(workload.receipts, workload.contexts),
                       rounds=10, iterations=1)


def test_compiled_flat(benchmark, workload: Workload) -> None:
    engine = make_engine(workload.program)
    out = engine.calc_flat(workload.receipts, workload.contexts)
    benchmark.extra_info["receipts_per_round"] = len(workload.receipts)
    benchmark.pedantic(lambda: engine.calc_flat(workload.receipts, workload.contexts, out=out),
                       rounds=10, iterations=1)


def test_compiled_decoded(benchmark, workload: Workload) -> None:
    """`calc_decoded` on `decode_batch` + `pack_contexts` output (made before timing)."""
    engine = make_engine(workload.program)
    db = engine.decode_batch(workload.raws)
    fc = engine.pack_contexts(workload.contexts)
    out = engine.calc_decoded(db, fc)
    benchmark.extra_info["receipts_per_round"] = len(workload.receipts)
    benchmark.pedantic(lambda: engine.calc_decoded(db, fc, out=out), rounds=10, iterations=1)


def _flat_all(engine, w: Workload) -> None:
    engine.calc_flat(w.receipts, w.contexts)


def _best(fn, *args, repeat: int) -> float:
    """Best of `repeat` runs in thread CPU time (other jobs on a shared machine not counted)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.thread_time()
        fn(*args)
        best = min(best, time.thread_time() - t)
    return best


def test_ratio(workload: Workload, record_property) -> None:
    ref = make_engine(workload.program, "reference")
    fast = make_engine(workload.program, "compiled")
    # each engine on its own decoder's receipts, as in the processor (equal values; the
    # compiled decoder's lines carry the canonical sku/category objects the engine looks up)
    parse = make_decoder("compiled")
    own = Workload(workload.program, workload.raws, [parse(raw) for raw in workload.raws],
                   workload.contexts)
    assert own.receipts == workload.receipts
    _calc_all(fast, own)
    n = len(workload.receipts)
    t_ref = _best(_calc_all, ref, workload, repeat=2)
    t_fast = _best(_calc_all, fast, own, repeat=5)
    t_flat = _best(_flat_all, fast, own, repeat=5)
    db = fast.decode_batch(workload.raws)
    fc = fast.pack_contexts(workload.contexts)
    t_dec = _best(fast.calc_decoded, db, fc, repeat=5)
    ratio = t_ref / t_fast
    lines = len(workload.receipts[0].lines)
    record_property(f"ratio_{lines}", ratio)
    record_property(f"ratio_flat_{lines}", t_ref / t_flat)
    record_property(f"ratio_decoded_{lines}", t_ref / t_dec)
    print(f"\n{lines} lines: reference {n / t_ref:,.0f}/s, compiled {n / t_fast:,.0f}/s "
          f"(calc_flat {n / t_flat:,.0f}/s, calc_decoded {n / t_dec:,.0f}/s), ratio {ratio:.1f}x "
          f"(calc_flat {t_ref / t_flat:.1f}x, calc_decoded {t_ref / t_dec:.1f}x)")
    assert ratio > 5  # the goal is 30x on 8 lines; see benchmarks/README.md
