"""The compiled result writer (`_fastcalc.encode_json`) writes exactly what orjson writes."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc._fastcalc import encode_json
from streamproc.domain.result import (
    AppliedEntry,
    AppliedResult,
    Balance,
    CouponRejected,
    Coupons,
    DuplicateResult,
    LineResult,
    ReturnResult,
)

I64 = st.integers(-(1 << 63), (1 << 63) - 1)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
SCALAR = st.one_of(st.none(), st.booleans(), I64, TEXT)
EVENT = st.dictionaries(TEXT, SCALAR, max_size=6)


@st.composite
def results(draw: st.DrawFn) -> AppliedResult:
    cls = draw(st.sampled_from([AppliedResult, ReturnResult]))
    args = [draw(TEXT), draw(st.one_of(st.none(), TEXT)), "applied",
            *[draw(I64) for _ in range(5)],
            draw(st.lists(st.builds(LineResult, I64, I64, I64, I64, I64), max_size=4)),
            draw(st.lists(st.builds(AppliedEntry, TEXT, TEXT, I64), max_size=3)), draw(I64),
            Coupons(draw(st.lists(TEXT, max_size=2)),
                    draw(st.lists(st.builds(CouponRejected, TEXT, TEXT), max_size=2))),
            draw(st.lists(TEXT, max_size=2)),
            draw(st.one_of(st.none(), st.builds(Balance, I64, I64))),
            draw(st.one_of(st.none(), TEXT)), draw(st.lists(EVENT, max_size=3)), draw(TEXT)]
    if cls is ReturnResult:
        args.append(draw(TEXT))
    return cls(*args)


@settings(max_examples=300, deadline=None)
@given(results())
def test_results_as_orjson_writes_them(r: AppliedResult) -> None:
    assert encode_json(r) == orjson.dumps(r)


@settings(max_examples=300, deadline=None)
@given(EVENT)
def test_events_as_orjson_writes_them(ev: dict) -> None:
    assert encode_json(ev) == orjson.dumps(ev)


def test_what_it_does_not_know_is_left_to_orjson() -> None:
    assert encode_json(DuplicateResult("R", None)) == orjson.dumps(DuplicateResult("R", None))
    assert encode_json({"a": 1 << 63}) is None  # past int64: orjson decides
    assert encode_json({"a": 1.5}) is None
    assert encode_json({1: 2}) is None
