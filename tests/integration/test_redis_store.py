"""The Redis store's guarantees, against a real redis-server: an atomic batch apply that
refuses to write over state that moved, budgets that never overshoot under concurrent workers,
and redelivery that gives the same answer without applying anything twice."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from streamproc.domain.program import program_from_dict
from streamproc.domain.receipt import parse_receipt
from streamproc.engine.processor import Processor
from streamproc.engine.selection import make_engine
from streamproc.processing.batch import BatchProcessor, InMessage
from streamproc.state.redis.store import Conflict, RedisStore

pytestmark = pytest.mark.integration

PROGRAM = {
    "program": {"id": "t", "timezone": "UTC", "accrual": {"rate_bps": 500}},
    "campaigns": [
        {"id": "ten-off", "type": "amount_off", "amount": 1000, "limits": {"budget": 10_000}},
    ],
}


def _sale(rid: str, cid: str, day: int = 1) -> bytes:
    return orjson.dumps({"receipt_id": rid, "customer_id": cid,
                         "ts": f"2026-05-{day:02d}T12:00:00Z",
                         "lines": [{"line_no": 1, "sku": "A", "category": "food", "qty": 3,
                                    "unit_price": 5000}]})


def _msgs(raws: list[bytes], start: int = 0) -> list[InMessage]:
    return [InMessage("receipts", 0, start + i, None, r) for i, r in enumerate(raws)]


async def test_a_batch_never_writes_over_state_that_moved(redis_url, redis_client):
    program = program_from_dict(PROGRAM)
    proc = Processor(program, make_engine(program))
    store = RedisStore(redis_url, program, prefix="cas")
    try:
        r1, r2 = parse_receipt(_sale("R1", "C1")), parse_receipt(_sale("R2", "C1", 2))
        a = await store.load([r1])
        b = await store.load([r2])  # a stale owner: read before `a` was written
        proc.process(r1, a, origin="receipts/0/0")
        proc.process(r2, b, origin="receipts/1/0")
        await store.commit(a)
        with pytest.raises(Conflict):
            await store.commit(b)
        assert redis_client.exists("cas:r:{R2}") == 0, "nothing of the refused batch was written"
        fresh = await store.load([r2])
        assert fresh.customers["C1"].sales == 1 and fresh.customers["C1"].version == 1
    finally:
        await store.close()


async def test_budget_never_overshoots_with_concurrent_workers(redis_url, redis_client):
    """Two workers, each with its own store and customers, race for one budget of 10,000: each
    receipt would cost 3,000, so exactly three fit and the fourth finds the budget exhausted."""
    program = program_from_dict(PROGRAM)
    workers = [BatchProcessor(program, make_engine(program),
                              RedisStore(redis_url, program, prefix="bud")) for _ in range(2)]
    try:
        batches = [[_sale(f"W{w}R{i}", f"W{w}C{i}") for i in range(j, j + 2)]
                   for w in range(2) for j in (0, 2, 4)]
        outs = await asyncio.gather(*[
            workers[k % 2].process(_msgs(b, 10 * k)) for k, b in enumerate(batches)])
        results = [orjson.loads(v) for o in outs for _, v in o.results]
        events = [orjson.loads(v) for o in outs for _, v in o.events]
        given = sum(a["amount"] for r in results for a in r["applied"]
                    if a["campaign_id"] == "ten-off")
        assert given == 9_000
        assert int(redis_client.hget("bud:g:{g}:budget", "ten-off")) == 9_000
        assert [e["type"] for e in events].count("campaign_budget_exhausted") == 1
        # all six batches read the budget before any wrote it: the losers were recomputed
        assert sum(o.conflicts for o in outs) >= 1
    finally:
        for w in workers:
            await w.store.close()


async def test_redelivery_gives_the_same_answer_and_applies_nothing(redis_url, redis_client):
    program = program_from_dict(PROGRAM)
    store = RedisStore(redis_url, program, prefix="redo")
    bp = BatchProcessor(program, make_engine(program), store)
    try:
        raws = [_sale("R1", "C1"), _sale("R2", "C1", 2), _sale("R1", "C1"), b"{nope"]
        first = await bp.process(_msgs(raws))
        state_before = redis_client.hgetall("redo:c:{C1}")
        again = await bp.process(_msgs(raws))  # the same messages, same offsets: a redelivery
        assert again.results == first.results and again.events == first.events
        assert again.dlq == first.dlq
        assert redis_client.hgetall("redo:c:{C1}") == state_before
        assert [orjson.loads(v)["status"] for _, v in first.results] == \
            ["applied", "applied", "duplicate"]
        # a resend of R1 from a new offset is a duplicate, not a redelivery
        resend = await bp.process(_msgs([_sale("R1", "C1")], start=100))
        assert orjson.loads(resend.results[0][1])["status"] == "duplicate"
    finally:
        await store.close()
