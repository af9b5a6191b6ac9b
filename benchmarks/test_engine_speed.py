"""pytest-benchmark: calc-only and decode+calc for both engines, in one run, with ratios.

    pytest benchmarks/ --benchmark-group-by=param:workload -q

One round = the whole workload (1000 receipts), so ops/s x 1000 = receipts/s. The ratio test
reports compiled/reference for each receipt size and checks the compiled engine is faster.
"""

from __future__ import annotations

import time

import orjson
import pytest

from streamproc.domain.receipt import receipt_from_obj
from streamproc.engine.fast import make_engine
from workload import Workload

ENGINES = ["reference", "compiled"]


def _calc_all(engine, w: Workload) -> None:
    calc = engine.calc_sale
    for r, c in zip(w.receipts, w.contexts, strict=True):
        calc(r, c)


def _decode_calc_all(engine, w: Workload) -> None:
    calc = engine.calc_sale
    for raw, c in zip(w.raws, w.contexts, strict=True):
        calc(receipt_from_obj(orjson.loads(raw)), c)


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
    benchmark.pedantic(_decode_calc_all, args=(engine, workload), rounds=3 if engine_name ==
                       "reference" else 10, iterations=1)


def test_compiled_batch(benchmark, workload: Workload) -> None:
    engine = make_engine(workload.program)
    benchmark.extra_info["receipts_per_round"] = len(workload.receipts)
    benchmark.pedantic(engine.calc_batch, args=(workload.receipts, workload.contexts),
                       rounds=10, iterations=1)


def _best(fn, *args, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
    return best


def test_ratio(workload: Workload, record_property) -> None:
    ref = make_engine(workload.program, "reference")
    fast = make_engine(workload.program, "compiled")
    _calc_all(fast, workload)
    n = len(workload.receipts)
    t_ref = _best(_calc_all, ref, workload, repeat=2)
    t_fast = _best(_calc_all, fast, workload, repeat=5)
    ratio = t_ref / t_fast
    lines = len(workload.receipts[0].lines)
    record_property(f"ratio_{lines}", ratio)
    print(f"\n{lines} lines: reference {n / t_ref:,.0f}/s, compiled {n / t_fast:,.0f}/s, "
          f"ratio {ratio:.1f}x")
    assert ratio > 5  # the goal is 30x on 8 lines; see benchmarks/README.md
