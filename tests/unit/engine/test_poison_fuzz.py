"""Random bytes and random JSON shapes through both decoders and the processor: the only
outcomes are a result or a reject (spec section 7), never an exception, and both engines agree
on which. Every result and dead-letter record encodes, and stays under the record limit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from streamproc.domain import receipt as ref
from streamproc.domain.program import load_program
from streamproc.domain.receipt import REJECT_REASONS, Receipt, Reject
from streamproc.engine.processor import APPLIED, DUPLICATE, REJECTED, Processor
from streamproc.engine.selection import make_decoder, make_engine
from streamproc.state.memory import MemoryState

SCALE = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "nightly" else 1
SETTINGS = {"deadline": None, "max_examples": 300 * SCALE,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
PROGRAM = load_program(Path(__file__).parents[2] / "golden" / "program.yaml")
PROCESSORS = [Processor(PROGRAM, make_engine(PROGRAM, name)) for name in ("reference",
                                                                           "compiled")]
DECODERS = [ref.parse_receipt, make_decoder("compiled")]
KEYS = ["receipt_id", "ts", "customer_id", "store_id", "kind", "lines", "redeem", "coupons",
        "original_receipt_id"]
LINE_KEYS = ["line_no", "qty", "sku", "category", "unit_price"]

numbers = st.one_of(
    st.integers(), st.sampled_from([0, 1, -1, 2**53 - 1, 2**53, 2**63, -(2**63), 10**30,
                                    10**10, 10**10 + 1, 100_000, 100_001]),
    st.floats(allow_nan=True, allow_infinity=True))
texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "C1", "2026-03-02T10:00:00+03:00", "9999-12-31T23:59:59.9999999+00:00",
                     "0001-01-01T00:00:00+00:00", "2026-03-02T10:00:00-12:00", "sale", "return",
                     "dairy/cheese", "x" * 65, "x" * 257, "\ud800", "\x00"]))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=20)


@st.composite
def receipt_shapes(draw: st.DrawFn) -> object:
    """An object with the receipt's keys, each holding anything (often something plausible)."""
    obj: dict = {}
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True)):
        if key == "lines" and draw(st.booleans()):
            obj[key] = [{k: draw(st.one_of(scalars, json_values))
                         for k in draw(st.lists(st.sampled_from(LINE_KEYS), unique=True))}
                        for _ in range(draw(st.integers(0, 4)))]
        else:
            obj[key] = draw(json_values)
    return obj


def _text(obj: object) -> bytes:
    """JSON text as a producer might write it: big integers and NaN included."""
    try:
        return json.dumps(obj, allow_nan=True).encode("utf-8", "surrogatepass")
    except (ValueError, TypeError):
        return b"{"


def _golden() -> list[dict]:
    out = []
    for line in (Path(__file__).parents[2] / "golden" / "receipts.jsonl").read_bytes().split(
            b"\n"):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # the golden file's own bad lines
        if isinstance(obj, dict):
            out.append(obj)
    return out


GOLDEN = _golden()


@st.composite
def mutated_receipts(draw: st.DrawFn) -> object:
    """A real receipt with up to two fields (or line fields) replaced by anything."""
    obj = orjson.loads(orjson.dumps(draw(st.sampled_from(GOLDEN))))
    for _ in range(draw(st.integers(0, 2))):
        lines = obj.get("lines")
        if isinstance(lines, list) and lines and isinstance(lines[0], dict) and \
                draw(st.booleans()):
            lines[0][draw(st.sampled_from(LINE_KEYS))] = draw(json_values)
        else:
            obj[draw(st.sampled_from(KEYS))] = draw(json_values)
    return obj


raws = st.one_of(st.binary(max_size=200), st.builds(_text, json_values),
                 st.builds(_text, receipt_shapes()), st.builds(_text, mutated_receipts()))


def _decode_outcome(decode, raw: bytes) -> tuple:
    try:
        r = decode(raw)
    except Reject as rej:
        assert rej.reason in REJECT_REASONS
        return ("reject", rej.reason, rej.detail)
    assert type(r) is Receipt
    return ("ok", r)


@given(raws)
@settings(**SETTINGS)
def test_decoders_give_a_receipt_or_a_reject(raw: bytes) -> None:
    outcomes = [_decode_outcome(d, raw) for d in DECODERS]
    assert outcomes[0] == outcomes[1]


@given(st.lists(raws, min_size=1, max_size=4))
@settings(**SETTINGS)
def test_processor_gives_a_result_or_a_reject(batch: list[bytes]) -> None:
    seen = []
    for proc in PROCESSORS:
        state = MemoryState()
        statuses = []
        for i, raw in enumerate(batch):
            o = proc.process_raw(raw, state, origin=f"fuzz:{i}")
            assert o.status in (APPLIED, DUPLICATE, REJECTED)
            event(o.status)
            if o.status == REJECTED:
                assert o.reject is not None and o.reject["reason"] in REJECT_REASONS
                record = orjson.dumps(o.reject)
                assert len(record) < 1_000_000
                assert o.reject["raw_bytes"] == len(raw)
            else:
                assert len(o.result_json()) < 1_000_000
            statuses.append((o.status, o.result_json() if o.status != REJECTED else
                             o.reject["reason"]))  # type: ignore[index]
        seen.append(statuses)
    assert seen[0] == seen[1]
