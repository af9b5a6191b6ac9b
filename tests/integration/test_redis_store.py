"""The Redis store's guarantees, against a real redis-server: an atomic batch apply that
refuses to write over state that moved, a fence that refuses a stale owner outright, budgets
claimed idempotently that never overshoot under many concurrent appliers, timer events kept in
an outbox until Kafka has them, and redelivery that gives the same answer without applying
anything twice."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from streamproc.domain.program import program_from_dict
from streamproc.domain.receipt import parse_receipt
from streamproc.engine.processor import Processor
from streamproc.engine.selection import make_engine
from streamproc.processing.batch import (
    BatchProcessor,
    InMessage,
    clear_timer_outbox,
    fire_timers,
)
from streamproc.state.redis.records import unpack
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


def _msgs(raws: list[bytes], start: int = 0, partition: int = 0) -> list[InMessage]:
    return [InMessage("receipts", partition, start + i, None, r) for i, r in enumerate(raws)]


async def test_a_batch_never_writes_over_state_that_moved(redis_url, redis_client):
    program = program_from_dict(PROGRAM)
    proc = Processor(program, make_engine(program))
    store = RedisStore(redis_url, program, prefix="cas")
    try:
        r1, r2 = parse_receipt(_sale("R1", "C1")), parse_receipt(_sale("R2", "C1", 2))
        a = await store.load([(0, r1)])
        b = await store.load([(0, r2)])  # read before `a` was written
        a.at("R1", 0, "C1")
        proc.process(r1, a, origin="receipts/0/0")
        b.at("R2", 0, "C1")
        proc.process(r2, b, origin="receipts/0/1")
        await store.commit(a)
        with pytest.raises(Conflict):
            await store.commit(b)
        assert sorted(unpack(redis_client.get("cas:h:{0}:C1"), "C1")) == ["R1"], \
            "nothing of the refused batch written"
        fresh = await store.load([(0, r2)])
        assert fresh.customers["C1"].sales == 1 and fresh.customers["C1"].version == 1
    finally:
        await store.close()


async def test_a_customers_records_move_only_with_its_version(redis_url, redis_client):
    """A customer's receipt records are guarded by the customer's version, not by their own
    bytes: a batch that changed only the records still writes the state (version + 1), so a
    batch that read the records before it is refused."""
    program = program_from_dict(PROGRAM)
    proc = Processor(program, make_engine(program))
    store = RedisStore(redis_url, program, prefix="recv")
    try:
        r1, r2 = parse_receipt(_sale("R1", "C1")), parse_receipt(_sale("R2", "C1", 2))
        a = await store.load([(0, r1)])
        b = await store.load([(0, r2)])
        a.at("R1", 0, "C1")
        proc.process(r1, a, origin="receipts/0/0")
        a.dirty_customers.clear()  # as if only the records had changed
        b.at("R2", 0, "C1")
        proc.process(r2, b, origin="receipts/0/1")
        await store.commit(a)
        assert (await store.load([(0, r1)])).loaded_version["C1"] == 1, \
            "the state was written with the records"
        with pytest.raises(Conflict):
            await store.commit(b)
        assert sorted(unpack(redis_client.get("recv:h:{0}:C1"), "C1")) == ["R1"]
    finally:
        await store.close()


async def test_an_anonymous_record_that_moved_refuses_the_batch(redis_url, redis_client):
    """An anonymous receipt's record has no customer version: its own bytes guard it."""
    program = program_from_dict(PROGRAM)
    proc = Processor(program, make_engine(program))
    store = RedisStore(redis_url, program, prefix="anon")
    try:
        raw = orjson.dumps({**orjson.loads(_sale("R9", "x")), "customer_id": None})
        r = parse_receipt(raw)
        a, b = await store.load([(0, r)]), await store.load([(0, r)])
        for view, origin in ((a, "receipts/0/0"), (b, "receipts/0/1")):
            view.at("R9", 0, None)
            proc.process(r, view, origin=origin)
        await store.commit(a)
        with pytest.raises(Conflict, match="receipt"):
            await store.commit(b)
        assert redis_client.exists("anon:a:{0}:R9")
    finally:
        await store.close()


async def test_a_stale_owner_is_refused_outright(redis_url, redis_client):
    """The fence: once a newer generation owns the partition, the old owner's write is refused
    whatever it read, and an older generation can never take the partition back."""
    program = program_from_dict(PROGRAM)
    store = RedisStore(redis_url, program, prefix="fence")
    bp = BatchProcessor(program, make_engine(program), store)
    try:
        old = await store.take_partitions([0, 1], 7, "member-a")
        new = await store.take_partitions([0], 8, "member-b")
        assert await store.take_partitions([0], 7, "member-a") == old
        assert redis_client.get("fence:f:{0}") == new.encode(), "an older generation lost"
        bp.fences = lambda: {0: old, 1: old}
        out = await bp.process(_msgs([_sale("R1", "C1")]) + _msgs([_sale("R2", "C2")], 0, 1))
        assert out.fenced == {0}
        assert [orjson.loads(v)["receipt_id"] for _, v in out.results] == ["R2"], \
            "nothing of the refused partition is produced"
        assert not list(redis_client.scan_iter("fence:[cro]:{0}:*")), "partition 0 untouched"
        assert redis_client.exists("fence:c:{1}:C2"), "partition 1 is still ours"
        bp.fences = lambda: {0: new}
        again = await bp.process(_msgs([_sale("R1", "C1")]))
        assert again.fenced == set() and redis_client.exists("fence:c:{0}:C1")
    finally:
        await store.close()


async def test_twelve_appliers_share_one_budget(redis_url, redis_client):
    """12 appliers, each with its own store, race for one budget of 10,000 at 3,000 a
    receipt: none fails, exactly three receipts get it, the budget is never overspent and
    `campaign_budget_exhausted` is emitted once. A claim asked again answers the same."""
    program = program_from_dict(PROGRAM)
    workers = [BatchProcessor(program, make_engine(program),
                              RedisStore(redis_url, program, prefix="bud")) for _ in range(12)]
    try:
        outs = await asyncio.gather(*[
            w.process(_msgs([_sale(f"W{k}R{i}", f"W{k}C{i}") for i in range(3)], 10 * k, k % 6))
            for k, w in enumerate(workers)])
        results = [orjson.loads(v) for o in outs for _, v in o.results]
        events = [orjson.loads(v) for o in outs for _, v in o.events]
        given = [r["receipt_id"] for r in results for a in r["applied"]
                 if a["campaign_id"] == "ten-off"]
        assert len(given) == 3 and len(results) == 36
        assert int(redis_client.hget("bud:g:{g}:budget", "ten-off")) == 9_000
        assert [e["type"] for e in events].count("campaign_budget_exhausted") == 1
        assert sum(o.conflicts for o in outs) >= 1, "some appliers assumed the budget was there"
        # asked again, every receipt's claim gives its first answer, and spends nothing more
        exhausted_by = next(e["event_id"].split("/")[0] for e in events
                            if e["type"] == "campaign_budget_exhausted")
        rids = [r["receipt_id"] for r in results]
        answers = await workers[0].store.claim([(rid, "b", "ten-off", 3000) for rid in rids])
        assert answers == ["g" if rid in given else "f" if rid == exhausted_by else "r"
                           for rid in rids]
        assert int(redis_client.hget("bud:g:{g}:budget", "ten-off")) == 9_000
        # once the offsets are committed the claims go (the worker drops them then)
        claimed = [rid for o in outs for rid in o.claimed]
        assert sorted(claimed) == sorted(rids)
        await workers[0].store.drop_claims(claimed)
        assert not list(redis_client.scan_iter("bud:g:{g}:k:*"))
        assert int(redis_client.hget("bud:g:{g}:budget", "ten-off")) == 9_000
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
        state_before = redis_client.get("redo:c:{0}:C1")
        again = await bp.process(_msgs(raws))  # the same messages, same offsets: a redelivery
        assert again.results == first.results and again.events == first.events
        assert again.dlq == first.dlq
        assert redis_client.get("redo:c:{0}:C1") == state_before
        assert [orjson.loads(v)["status"] for _, v in first.results] == \
            ["applied", "applied", "duplicate"]
        # a resend of R1 from a new offset is a duplicate, not a redelivery
        resend = await bp.process(_msgs([_sale("R1", "C1")], start=100))
        assert orjson.loads(resend.results[0][1])["status"] == "duplicate"
    finally:
        await store.close()


async def test_timer_events_stay_in_the_outbox_until_kafka_has_them(redis_url, redis_client):
    """Fired events are written with their marks; until cleared they come again, same ids.
    An orphan at the head of the timer index (a customer who is gone) is removed and stops
    nobody."""
    program = program_from_dict(PROGRAM)
    store = RedisStore(redis_url, program, prefix="tmo")
    bp = BatchProcessor(program, make_engine(program), store)
    try:
        await bp.process(_msgs([_sale("R1", "C1")]))
        redis_client.zadd("tmo:t:{0}", {"GONE": 1})
        now = 2_000_000_000_000_000  # 2033: R1's points have activated
        first = await fire_timers(store, program, now, [0])
        ids = [orjson.loads(v)["event_id"] for _, v in first.records]
        assert ids and all(i.startswith("C1/") for i in ids)
        assert redis_client.zscore("tmo:t:{0}", "GONE") is None, "the orphan is gone"
        assert sorted(k.decode() for k in redis_client.hkeys("tmo:x:{0}")) == sorted(ids)
        # a crash before Kafka had them: the next tick sends the same events again
        again = await fire_timers(store, program, now, [0])
        assert [orjson.loads(v)["event_id"] for _, v in again.records] == sorted(ids)
        await clear_timer_outbox(store, again)
        assert redis_client.hlen("tmo:x:{0}") == 0
        assert (await fire_timers(store, program, now, [0])).records == []
    finally:
        await store.close()


def _return(rid: str, cid: str, sale: str, day: int) -> bytes:
    return orjson.dumps({"receipt_id": rid, "customer_id": cid, "kind": "return",
                         "original_receipt_id": sale, "ts": f"2026-05-{day:02d}T13:00:00Z",
                         "lines": [{"line_no": 1, "sku": "A", "category": "food", "qty": 1,
                                    "unit_price": 5000}]})


async def test_redelivery_after_a_day_is_the_first_answer_not_a_duplicate(redis_url,
                                                                          redis_client):
    """Answers are kept by origin until the offsets commit (a week at most, for what a crash
    leaves): a worker down for more than a day still answers a redelivery as the first time,
    events included, and the answers go once the offsets are committed."""
    program = program_from_dict(PROGRAM)
    store = RedisStore(redis_url, program, prefix="rd1")
    bp = BatchProcessor(program, make_engine(program), store)
    try:
        first = await bp.process(_msgs([_sale("R1", "C1")]))
        key, field = store.keys.answer(0, "receipts/0/0")
        assert redis_client.hexists(key, field), "the answer is kept"
        assert redis_client.pttl(key) > 2 * 86_400_000, "kept past a day"
        again = await bp.process(_msgs([_sale("R1", "C1")]))
        assert again.results == first.results and again.events == first.events
        assert orjson.loads(again.results[0][1])["status"] == "applied"
        assert again.outcomes[0].redelivered
        await store.drop_outputs(first.kept)  # committed: no redelivery will ask again
        assert redis_client.exists(key) == 0
    finally:
        await store.close()


async def test_committed_answers_and_claims_dropped_by_partition(redis_url, redis_client):
    """An HDEL per answers' hash (and chunk) drops exactly the answers named, across
    partitions and hashes, and a hash goes with its last answer; an UNLINK per chunk drops
    the claims named."""
    from streamproc.state.redis import store as store_mod

    program = program_from_dict(PROGRAM)
    store = RedisStore(redis_url, program, prefix="dr1")
    k = store.keys
    far = f"receipts/0/{3 << 16}"  # another hash of the same source partition
    kept = {0: [f"receipts/0/{i}" for i in range(5)] + [far], 3: ["receipts/3/7"]}
    for p, os_ in {**kept, 1: ["receipts/1/1"], 2: ["receipts/0/4"]}.items():
        for o in os_:
            redis_client.hset(*k.answer(p, o), b"x")
    redis_client.hset(*k.answer(0, "receipts/0/9"), b"x")  # not committed yet
    for rid in ("R1", "R2", "R3"):
        redis_client.set(k.claims(rid), b"x")
    old = store_mod.DROP_CHUNK
    store_mod.DROP_CHUNK = 2  # several chunks a partition
    try:
        await store.drop_outputs(kept)
        await store.drop_claims(["R1", "R3"])
    finally:
        store_mod.DROP_CHUNK = old
        await store.close()
    assert [redis_client.hexists(*k.answer(p, o)) for p, os_ in kept.items() for o in os_] \
        == [False] * 7
    assert [redis_client.hexists(*k.answer(p, o)) for p, o in
            ((1, "receipts/1/1"), (2, "receipts/0/4"), (0, "receipts/0/9"))] == [True] * 3
    assert not redis_client.exists(k.answer(0, far)[0]), "the hash went with its last answer"
    assert k.answer(0, far)[0] != k.answer(0, "receipts/0/9")[0]
    assert [redis_client.exists(k.claims(r)) for r in ("R1", "R2", "R3")] == [0, 1, 0]


async def test_a_return_rejected_before_its_sale_stays_rejected_when_redelivered(
        redis_url, redis_client):
    program = program_from_dict(PROGRAM)
    store = RedisStore(redis_url, program, prefix="rd2")
    bp = BatchProcessor(program, make_engine(program), store)
    try:
        early = _msgs([_return("T1", "C1", "S1", 3)])  # its sale has not arrived yet
        first = await bp.process(early)
        assert [orjson.loads(v)["reason"] for _, v in first.dlq] == ["unknown_original_receipt"]
        await bp.process(_msgs([_sale("S1", "C1", 2)], start=1))
        state = redis_client.get("rd2:c:{0}:C1")
        again = await bp.process(early)  # the return redelivered, the sale now known
        assert again.dlq == first.dlq and again.results == [], "still the first answer"
        assert redis_client.get("rd2:c:{0}:C1") == state, "nothing applied"
    finally:
        await store.close()


async def test_a_reused_receipt_id_does_not_make_its_first_occurrence_apply_again(
        redis_url, redis_client):
    """R1 again more than the return window later is a new receipt (applied); redelivering
    the first R1 gives its first answer and counts nothing twice."""
    program = program_from_dict(PROGRAM)
    store = RedisStore(redis_url, program, prefix="rd3")
    bp = BatchProcessor(program, make_engine(program), store)
    later = orjson.dumps({**orjson.loads(_sale("R1", "C1")), "ts": "2026-09-01T12:00:00Z"})
    try:
        first = await bp.process(_msgs([_sale("R1", "C1")]))
        reuse = await bp.process(_msgs([later], start=1))
        assert orjson.loads(reuse.results[0][1])["status"] == "applied"
        sales = await store.load([(0, parse_receipt(later))])
        assert sales.customers["C1"].sales == 2
        again = await bp.process(_msgs([_sale("R1", "C1")]))
        assert again.results == first.results and again.events == first.events
        after = await store.load([(0, parse_receipt(later))])
        assert after.customers["C1"].sales == 2 and \
            after.customers["C1"].balance() == sales.customers["C1"].balance()
    finally:
        await store.close()


async def test_state_held_in_memory_is_read_once_and_dropped_when_it_moved(redis_url,
                                                                          redis_client):
    """With `cache_state`, a batch reads Redis only for customers it has not seen; a state
    changed behind the worker's back (an erase) is found by the version guard, dropped, and
    read again."""
    program = program_from_dict(PROGRAM)
    store = RedisStore(redis_url, program, prefix="mem", cache_state=True)
    bp = BatchProcessor(program, make_engine(program), store)
    try:
        await bp.process(_msgs([_sale("R1", "C1")]))
        assert store.cache is not None and "C1" in store.cache[0]
        # the same version, then bytes no reader accepts: were it read, the batch would fail
        redis_client.append("mem:c:{0}:C1", b"\xff")
        second = await bp.process(_msgs([_sale("R2", "C1", 2)], start=1))
        assert orjson.loads(second.results[0][1])["status"] == "applied"
        redis_client.delete("mem:c:{0}:C1")  # erased behind the worker's back
        third = await bp.process(_msgs([_sale("R3", "C1", 3)], start=2))
        assert third.conflicts == 1, "the guard saw the state had moved"
        fresh = await store.load([(0, parse_receipt(_sale("R4", "C1", 4)))])
        assert fresh.customers["C1"].sales == 1, "read again from Redis: a new customer"
        store.forget([0])
        assert 0 not in store.cache
    finally:
        await store.close()


async def test_a_state_held_decoded_is_reused_and_never_seen_changed_by_a_view_dropped(
        redis_url, redis_client, monkeypatch):
    """A customer held in memory is handed to the next batch decoded, as its last write left
    it (its blob is not decoded again); a view computed on and dropped without a write (a
    claim answered otherwise, a failed message, a quote) leaves no trace: the next load
    starts from the state as written."""
    from streamproc.state.redis import store as store_mod

    program = program_from_dict(PROGRAM)
    proc = Processor(program, make_engine(program))
    store = RedisStore(redis_url, program, prefix="dec", cache_state=True)
    bp = BatchProcessor(program, make_engine(program), store)
    try:
        await bp.process(_msgs([_sale("R1", "C1")]))
        held = store.decoded[0]["C1"]
        assert held.sales == 1 and held.version == store.cache[0]["C1"][0]  # type: ignore[index]

        def no_decode(cid, blob):
            raise AssertionError(f"{cid}'s blob decoded again")

        monkeypatch.setattr(store_mod, "decode_state", no_decode)
        r2 = parse_receipt(_sale("R2", "C1", 2))
        dropped = await store.load([(0, r2, "receipts/0/1")])
        assert dropped.customers["C1"] is held
        dropped.at("R2", 0, "C1")
        proc.process(r2, dropped, origin="receipts/0/1")
        assert held.sales == 2, "the dropped view computed on the object it was handed"
        monkeypatch.undo()
        fresh = await store.load([(0, r2, "receipts/0/1")])
        assert fresh.customers["C1"] is not held
        assert fresh.customers["C1"].sales == 1, "the state as written, not the dropped view's"
        again = await bp.process(_msgs([_sale("R2", "C1", 2)], start=1))
        assert orjson.loads(again.results[0][1])["status"] == "applied"
        assert store.decoded[0]["C1"].sales == 2
        assert redis_client.get("dec:c:{0}:C1") == store.cache[0]["C1"][1]  # type: ignore[index]
    finally:
        await store.close()


async def test_a_profile_is_decoded_again_only_when_its_bytes_changed(redis_url):
    """Profiles held decoded by the bytes read: a changed profile is seen by the next batch,
    an erased one is gone."""
    from streamproc.domain.receipt import Profile

    program = program_from_dict(PROGRAM)
    store = RedisStore(redis_url, program, prefix="prof", cache_state=True)
    r = parse_receipt(_sale("R1", "C1"))
    p = store.partition_of("C1")  # where the profile agent puts it
    try:
        await store.put_profiles([Profile("C1", None, frozenset({"gold"}))])
        first = (await store.load([(p, r)])).profiles["C1"]
        assert first is not None and first.segments == {"gold"}
        assert (await store.load([(p, r)])).profiles["C1"] is first
        await store.put_profiles([Profile("C1", None, frozenset({"silver"}))])
        changed = (await store.load([(p, r)])).profiles["C1"]
        assert changed is not None and changed.segments == {"silver"}
        await store.client.delete(store.keys.profile(p, "C1"))
        assert (await store.load([(p, r)])).profiles["C1"] is None
    finally:
        await store.close()
