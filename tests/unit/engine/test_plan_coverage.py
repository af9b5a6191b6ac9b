"""`Plan.coverage` (targets indexed by SKU and category) says for every target exactly what
`Target.covers` says, on random targets and lines (categories with '/' paths, exclusions,
empty and missing lists, targets on any line)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc.domain.program import Target, load_program
from streamproc.engine.plan import compile_plan

PLAN = compile_plan(load_program(Path(__file__).resolve().parents[3] / "examples"
                                 / "retail-chain.yaml"))

NAMES = st.sampled_from(["a", "b", "a/b", "a/b/c", "ab", "a/", "/a", "", "b/a", "a//b"])
SKUS = st.sampled_from(["s1", "s2", "s3", ""])


@st.composite
def targets(draw: st.DrawFn) -> Target:
    return Target(
        skus=draw(st.none() | st.frozensets(SKUS, max_size=3)),
        categories=draw(st.none() | st.lists(NAMES, max_size=3).map(tuple)),
        exclude_skus=draw(st.frozensets(SKUS, max_size=2)),
        exclude_categories=tuple(draw(st.lists(NAMES, max_size=2))),
    )


@settings(max_examples=300, deadline=None)
@given(ts=st.lists(targets(), min_size=1, max_size=12), sku=SKUS, category=NAMES)
def test_coverage_is_covers(ts: list[Target], sku: str, category: str) -> None:
    plan = dataclasses.replace(PLAN, targets=list(ts), rows={}, _index=None)
    got = plan.coverage(sku, category)
    assert got[0] == 0
    assert list(got[1:]) == [1 if t.covers(sku, category) else 0 for t in ts]
