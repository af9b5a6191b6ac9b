"""One message's failure stays that message's, against a real redis-server: an error while
computing a receipt sends it to the dead-letter topic as `internal` and none of its partial
changes reach Redis; a result too large for its topic goes there as `too_large`; dead-letter
records keep 64 KiB of the message with its length and SHA-256; a tombstone on `customers`
erases the profile and `erase_customer` the whole customer."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from streamproc.domain.program import program_from_dict
from streamproc.domain.receipt import Profile
from streamproc.engine.selection import make_engine
from streamproc.processing.batch import BatchProcessor, InMessage, apply_profiles
from streamproc.state.redis.erase import erase_customer
from streamproc.state.redis.records import unpack
from streamproc.state.redis.store import RedisStore, read_customer

pytestmark = pytest.mark.integration

PROGRAM = {"program": {"id": "t", "timezone": "UTC", "accrual": {"rate_bps": 500}},
           "campaigns": [{"id": "ten-off", "type": "amount_off", "amount": 100,
                          "limits": {"budget": 10_000}}]}


def _sale(rid: str, cid: str | None, day: int = 1, **kw) -> bytes:
    return orjson.dumps({"receipt_id": rid, "customer_id": cid, "ts": f"2026-05-{day:02d}T12:00Z",
                         "lines": [{"line_no": 1, "sku": "A", "category": "food", "qty": 3,
                                    "unit_price": 5000}], **kw})


def _msgs(raws: list[bytes | None], topic: str = "receipts") -> list[InMessage]:
    return [InMessage(topic, 0, i, None, r) for i, r in enumerate(raws)]  # type: ignore[arg-type]


class Exploding:
    """The real engine, except that it raises for one receipt id after the state moved."""

    def __init__(self, engine, boom: str) -> None:
        self.engine, self.boom, self.name = engine, boom, engine.name

    def calc_sale(self, receipt, ctx):
        if receipt.receipt_id == self.boom:
            raise OverflowError("date value out of range")
        return self.engine.calc_sale(receipt, ctx)


@pytest.fixture
async def store(redis_url):
    program = program_from_dict(PROGRAM)
    s = RedisStore(redis_url, program, prefix="bf")
    await s.client.flushdb()
    yield s
    await s.close()


async def test_a_failing_receipt_goes_to_the_dlq_and_changes_nothing(store, redis_url):
    program = store.program
    bp = BatchProcessor(program, Exploding(make_engine(program), "BOOM"), store,
                        partition_by_key=True)
    out = await bp.process(_msgs([_sale("R1", "C1"), _sale("BOOM", "C1", 2, redeem=10),
                                  _sale("R2", "C1", 3), None, b"\xff\xfe"]))
    assert [o.status for o in out.outcomes] == ["applied", "rejected", "applied", "rejected",
                                                "rejected"]
    dlq = [orjson.loads(v) for _, v in out.dlq]
    assert [d["reason"] for d in dlq] == ["internal", "invalid_json", "invalid_json"]
    assert dlq[0]["detail"] == "compute: OverflowError: date value out of range"
    assert "Traceback" not in dlq[0]["detail"] and dlq[0]["offset"] == 1
    assert dlq[1]["detail"] == "message has no value (a tombstone)"
    st = read_customer(redis_url, "C1", prefix="bf")
    assert st is not None and st.sales == 2  # R1 and R2; nothing of BOOM
    recs = unpack(await store.client.get(store.keys.records(store.partition_of("C1"), "C1")),
                  "C1")
    assert sorted(recs) == ["R1", "R2"], "no record of BOOM"
    spent = int(await store.client.hget("bf:g:{g}:budget", "ten-off"))
    assert spent == 2 * 300  # two receipts' discounts, not three


async def test_a_result_too_large_for_its_topic_is_a_dead_letter(store, redis_url):
    program = store.program
    bp = BatchProcessor(program, make_engine(program), store, max_record_bytes=2000,
                        partition_by_key=True)
    lines = [{"line_no": i, "sku": "s" * 200, "category": "food", "qty": 1, "unit_price": 10}
             for i in range(40)]
    big = orjson.dumps({"receipt_id": "BIG", "customer_id": "C2", "ts": "2026-05-01T12:00Z",
                        "lines": lines})
    out = await bp.process(_msgs([big, _sale("R3", "C2")]))
    assert [o.status for o in out.outcomes] == ["rejected", "applied"]
    (rec,) = [orjson.loads(v) for _, v in out.dlq]
    assert rec["reason"] == "too_large" and "2000-byte limit" in rec["detail"]
    assert all(len(v) <= 2000 for _, v in out.results)
    assert read_customer(redis_url, "C2", prefix="bf").sales == 1


async def test_dead_letter_records_keep_64_kib_length_and_hash(store):
    program = store.program
    bp = BatchProcessor(program, make_engine(program), store)
    raw = bytes(range(32)) * 6400 + b"\xff" * 1000  # ~200 KiB of control bytes, bad UTF-8
    out = await bp.process(_msgs([raw]))
    (rec,) = [orjson.loads(v) for _, v in out.dlq]
    assert rec["reason"] == "invalid_json"
    assert rec["raw_bytes"] == len(raw) and rec["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert rec["raw"] == raw[:65536].decode("utf-8", "replace")
    assert len(out.dlq[0][1]) < 6 * 65536 + 1000  # JSON escapes at most 6 bytes per byte


async def test_tombstones_erase_profiles_and_erase_removes_the_customer(store, redis_url):
    program = store.program
    await store.put_profiles([Profile("C5", None, frozenset({"pets"})),
                              Profile("C6", None, frozenset())])
    # receipts on the partition producers put their key on, as in a stream
    bp = BatchProcessor(program, make_engine(program), store, partition_by_key=True)
    await bp.process(_msgs([_sale("R5", "C5")]))
    place = store.partition_of
    tomb = [InMessage("customers", 0, 0, b"C6", None),  # type: ignore[arg-type]
            InMessage("customers", 0, 1, None, None),  # type: ignore[arg-type]
            InMessage("customers", 0, 2, b"C7", b'{"customer_id": "C7", "segments": []}'),
            InMessage("customers", 0, 3, b"C7", None)]  # type: ignore[arg-type]
    dlq = await apply_profiles(store, tomb)
    assert [orjson.loads(v)["reason"] for _, v in dlq] == ["schema"]  # the unkeyed tombstone
    assert await store.client.exists(f"bf:p:{{{place('C6')}}}:C6",
                                     f"bf:p:{{{place('C7')}}}:C7") == 0
    assert await store.client.exists(f"bf:p:{{{place('C5')}}}:C5") == 1
    liability = await store.liability()
    points = sum(read_customer(redis_url, "C5", prefix="bf").balance())
    assert points > 0
    erased = await erase_customer(store.client, store.keys, "C5", place("C5"))
    assert (erased.profile, erased.state, erased.points, erased.records) == (True, True, points,
                                                                             True)
    assert "profile" in erased.describe() and "loyalty state" in erased.describe()
    assert "receipt records" in erased.describe()
    assert await store.client.exists(store.keys.records(place("C5"), "C5")) == 0
    assert read_customer(redis_url, "C5", prefix="bf") is None
    assert await store.liability() == liability - points
    assert await store.client.zscore(store.keys.timers(place("C5")), "C5") is None
    again = await erase_customer(store.client, store.keys, "C5", place("C5"))
    assert not (again.profile or again.state) and "nothing" in again.describe()


def test_erase_command_says_what_it_removed(redis_url, redis_client, capsys):
    from streamproc.cli import main
    from streamproc.state.partitioning import Placement

    # where a worker with the default layout (6 partitions, murmur2) keeps C9's profile
    redis_client.set(f"cli:p:{{{Placement(6)('C9')}}}:C9", b'{"birthday": null, "segments": []}')
    assert main(["erase", "C9", "--redis", redis_url, "--prefix", "cli"]) == 0
    assert capsys.readouterr().out.strip() == "customer 'C9': removed profile"
    assert main(["erase", "C9", "--redis", redis_url, "--prefix", "cli"]) == 0
    assert "nothing stored, nothing removed" in capsys.readouterr().out


def test_erase_command_without_redis_says_so(capsys):
    from streamproc.cli import main
    from streamproc.tools.devstack import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    assert main(["erase", "C9", "--redis", url]) == 69
    err = capsys.readouterr().err
    assert err.startswith("erase: cannot reach Redis") and "Traceback" not in err


async def test_one_customers_timer_failure_does_not_stop_the_others(store, monkeypatch):
    from streamproc.engine import timers
    from streamproc.observability.metrics import LoyaltyMetrics
    from streamproc.processing.batch import clear_timer_outbox, fire_timers

    program = store.program
    bp = BatchProcessor(program, make_engine(program), store)
    await bp.process(_msgs([_sale("T1", "C-OK"), _sale("T2", "C-BAD")]))
    real = timers.fire_due

    def fire_due(st, prog, now_us):
        if st.customer_id == "C-BAD":
            raise OverflowError("date value out of range")
        return real(st, prog, now_us)

    monkeypatch.setattr(timers, "fire_due", fire_due)
    metrics = LoyaltyMetrics()
    now = 1_900_000_000_000_000
    first = await fire_timers(store, program, now, [0], metrics=metrics)
    assert {k for k, _ in first.records} == {b"C-OK"}
    assert metrics.failures.labels(stage="timer")._value.get() == 1
    await clear_timer_outbox(store, first)  # Kafka has them
    monkeypatch.setattr(timers, "fire_due", real)  # fixed: the next tick announces it
    again = await fire_timers(store, program, now, [0], metrics=metrics)
    assert {k for k, _ in again.records} == {b"C-BAD"}


async def test_a_receipt_keyed_other_than_its_customer_is_rejected(store):
    program = store.program
    bp = BatchProcessor(program, make_engine(program), store)
    msgs = [InMessage("receipts", 0, 0, b"C1", _sale("K1", "C1")),
            InMessage("receipts", 0, 1, b"C2", _sale("K2", "C1")),  # mis-keyed
            InMessage("receipts", 0, 2, b"K3", _sale("K3", None)),  # anonymous: its receipt id
            InMessage("receipts", 0, 3, None, _sale("K4", "C1", 2))]  # unkeyed: accepted
    out = await bp.process(msgs)
    assert [o.status for o in out.outcomes] == ["applied", "rejected", "applied", "applied"]
    (rec,) = [orjson.loads(v) for _, v in out.dlq]
    assert rec["reason"] == "schema" and rec["detail"].startswith("key: must be the receipt's")
