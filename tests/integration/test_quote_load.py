"""A quote's own load (`state.redis.quote_load`): the same answers as the batch's two-call load
(`BatchProcessor.preview`) in one Redis call on a standalone Redis; on Redis Cluster one call
unless the receipt reaches a budget or carries a single-use code (then the batch's two)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from streamproc.domain.program import load_program
from streamproc.domain.receipt import Reject, parse_receipt
from streamproc.engine.selection import make_engine
from streamproc.processing.batch import BatchProcessor, InMessage
from streamproc.quote.service import QuoteService
from streamproc.state.redis.store import RedisStore
from streamproc.tools.loadgen import LoadgenConfig, generate_messages

pytestmark = pytest.mark.integration
PROGRAM = str(Path(__file__).parents[2] / "examples" / "retail-chain.yaml")
HISTORY = 2500


def _workload() -> tuple[list[bytes], list[bytes]]:
    msgs = [v for _, v in generate_messages(LoadgenConfig(seed=21, receipts=HISTORY + 700,
                                                          customers=300, days=10))]
    bodies = []
    for raw in msgs[HISTORY:]:
        try:
            if parse_receipt(raw).kind == "sale":
                bodies.append(raw)
        except Reject:
            continue
    return msgs[:HISTORY], bodies


async def _quotes(url: str, prefix: str, cluster: bool, history: list[bytes],
                  bodies: list[bytes], blind: bool = False) -> list[tuple[bytes, int, bool, bytes]]:
    """Apply the history as the worker does; then quote every body twice, with the quote's load
    and with the batch's preview (the reference), and exhaust the coffee budget half-way.
    Returns (body, Redis calls of the quote's load, whether the receipt reaches the shared
    keys, the answer)."""
    program = load_program(PROGRAM)
    engine = make_engine(program)
    store = RedisStore(url, program, prefix=prefix, cluster=cluster)
    bp = BatchProcessor(program, engine, store, partition_by_key=True)
    qstore = RedisStore(url, program, prefix=prefix, cluster=cluster)
    svc = QuoteService(program, engine, qstore, timeout_s=10)
    if blind:  # the reach says no budget for every receipt: the answers must not change
        svc.reach.touches = lambda r: False  # type: ignore[method-assign]
    seen = []
    try:
        for i in range(0, len(history), 250):
            await bp.process([InMessage("receipts", 0, i + j, None, v)
                              for j, v in enumerate(history[i:i + 250])])
        for n, raw in enumerate(bodies):
            if n == len(bodies) // 2:  # 1 left in the coffee budget: its discounts stop
                budget = program.campaign("coffee-budget-25").budget or 0
                await store.client.hset(store.keys.budget, "coffee-budget-25", budget - 1)
            before = svc.loader.calls
            got = await svc.quote(raw)
            (want,) = (await bp.preview([InMessage("quote", -1, -1, None, raw)])).outcomes
            assert got.status == want.status, raw
            if want.status != "rejected":
                assert got.body == want.result_json(), raw
            else:
                assert orjson.loads(got.body)["reason"] == (want.reject or {})["reason"]
            r = parse_receipt(raw)
            shared = svc.reach.touches(r) or any(c in qstore.single_use for c in r.coupons)
            seen.append((raw, svc.loader.calls - before, shared, got.body))
    finally:
        await store.close()
        await qstore.close()
    return seen


def test_one_call_per_quote_on_a_standalone_redis(redis_url):
    history, bodies = _workload()
    seen = asyncio.run(_quotes(redis_url, "ql1", False, history, bodies))
    assert [calls for _, calls, _, _ in seen] == [1] * len(seen)
    # the workload has receipts that read the shared keys and receipts that do not
    assert {shared for _, _, shared, _ in seen} == {True, False}
    # a single-use code spent in the history is refused, one spent nowhere accepted
    assert any(b'"used"' in answer for _, _, _, answer in seen)
    assert any(b'"coupon_redeemed"' in answer and b"GIFT-" in answer
               for _, _, _, answer in seen)
    # the coffee budget ran out half-way: coffee discounts before, none after
    coffee = [b'"coffee-budget-25"' in answer for raw, _, _, answer in seen
              if b"drinks/coffee" in raw]
    half = len(coffee) // 2
    assert any(coffee[:half // 2]) and not any(coffee[-half // 2:])


def test_without_the_reach_a_budget_asked_for_is_read_again(redis_url):
    history, bodies = _workload()
    seen = asyncio.run(_quotes(redis_url, "ql2", False, history, bodies, blind=True))
    # coffee receipts ask for the budget during the computation: loaded again, same answers
    again = [raw for raw, calls, _, _ in seen if calls == 2]
    assert again and all(b"drinks/coffee" in raw for raw in again)
    assert {calls for _, calls, _, _ in seen} == {1, 2}


def test_on_a_cluster_two_calls_only_for_the_shared_keys(redis_cluster):
    history, bodies = _workload()
    seen = asyncio.run(_quotes(redis_cluster.url, "ql3", True, history, bodies))
    assert all(calls == (2 if shared else 1) for _, calls, shared, _ in seen)
    assert {calls for _, calls, _, _ in seen} == {1, 2}


def test_a_quote_answers_unavailable_while_redis_is_gone_and_again_once_it_is_back(tmp_path):
    from streamproc.quote.service import Unavailable
    from streamproc.tools.devstack import RedisServer

    _, bodies = _workload()
    server = RedisServer(tmp_path / "redis").start()
    program = load_program(PROGRAM)

    async def main() -> list[str]:
        store = RedisStore(server.url, program, prefix="qlr")
        svc = QuoteService(program, make_engine(program), store, timeout_s=2)
        seen = []
        try:
            seen.append((await svc.quote(bodies[0])).status)
            await asyncio.to_thread(server.stop, False)  # the pipelined connection is cut
            try:
                await svc.quote(bodies[1])
            except Unavailable:
                seen.append("unavailable")
            await asyncio.to_thread(server.start)  # the same port: the next quote reconnects
            seen.append((await svc.quote(bodies[2])).status)
        finally:
            await svc.close()
        return seen

    try:
        assert asyncio.run(main()) == ["applied", "unavailable", "applied"]
    finally:
        server.stop()
