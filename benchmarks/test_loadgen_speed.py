"""pytest-benchmark: how fast `streamproc loadgen` writes receipts (it feeds the demo and every
benchmark's backlog, so a slow generator hides in their set-up times).

    pytest benchmarks/test_loadgen_speed.py -q

One round = 30,000 receipts of 5,000 customers to a JSONL file: ops/s x 30,000 = receipts/s.
"""

from __future__ import annotations

from pathlib import Path

from streamproc.tools.loadgen import LoadgenConfig, generate_receipts, write_jsonl

N = 30_000


def test_generation_speed(benchmark, tmp_path: Path) -> None:
    cfg = LoadgenConfig(receipts=N, customers=5_000)
    n = benchmark.pedantic(lambda: write_jsonl(tmp_path / "r.jsonl", generate_receipts(cfg),
                                               progress=False), rounds=3, iterations=1)
    assert n == N
