"""Benchmark fixtures: the standard workload (retail-chain program; 1, 8, 40-line receipts)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import Workload, load_workload

_CACHE: dict[int, Workload] = {}


def workload_for(lines: int) -> Workload:
    if lines not in _CACHE:
        _CACHE[lines] = load_workload(lines, n=1000)
    return _CACHE[lines]


@pytest.fixture(params=[1, 8, 40], ids=lambda n: f"{n}lines")
def workload(request: pytest.FixtureRequest) -> Workload:
    return workload_for(request.param)
