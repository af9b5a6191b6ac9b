"""A batch's messages must be freed by reference counting when the batch ends: a reject kept
with them that still carries its traceback (or the decoder's exception it was raised from)
holds the frames that hold the batch, and the whole batch then waits for the cyclic
collector, whose pass over it cost the worker ~20 % of its CPU (benchmarks/README.md)."""

from __future__ import annotations

import gc

import orjson

from streamproc.domain.program import program_from_dict
from streamproc.engine.selection import make_engine
from streamproc.processing.batch import BatchProcessor, InMessage
from streamproc.state.redis.store import RedisStore

PROGRAM = {"program": {"id": "t", "timezone": "UTC", "accrual": {"rate_bps": 500}},
           "campaigns": []}
GOOD = orjson.dumps({"receipt_id": "R1", "customer_id": "C1", "ts": "2026-05-01T12:00:00Z",
                     "lines": [{"line_no": 1, "sku": "A", "category": "food", "qty": 1,
                                "unit_price": 100}]})
BAD = [b"{not json", orjson.dumps({"receipt_id": "R2"}), b"[]",
       orjson.dumps({"receipt_id": "R3", "customer_id": "C3", "ts": "yesterday", "lines": []})]


def test_parsed_messages_with_rejects_hold_no_cycle():
    program = program_from_dict(PROGRAM)
    for engine in ("reference", "compiled"):
        # no Redis is reached: parsing only (the client connects on first use)
        store = RedisStore("redis://127.0.0.1:1/0", program)
        bp = BatchProcessor(program, make_engine(program, engine), store)
        msgs = [InMessage("receipts", 0, i, None, v) for i, v in enumerate([GOOD, *BAD])]
        was = gc.isenabled()
        gc.disable()
        try:
            gc.collect()
            parsed, _ = bp._parse(msgs)
            assert sum(rej is not None for _, _, rej in parsed) == len(BAD), engine
            del parsed
            assert gc.collect() == 0, f"{engine}: the parsed batch was left to the collector"
        finally:
            if was:
                gc.enable()
