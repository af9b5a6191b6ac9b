"""`streamproc state migrate`: a keyspace of the old layout (tagged per customer and receipt,
one timer index, one liability counter, a JSON key a receipt record) moves under the partition
tags, records packed per customer, and the worker's batch path finds everything there: the
customer, its profile, the sale a return names, its timer, an anonymous receipt's record."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from streamproc.cli import main
from streamproc.domain.program import program_from_dict
from streamproc.engine.selection import make_engine
from streamproc.processing.batch import BatchProcessor, InMessage
from streamproc.state.partitioning import Placement
from streamproc.state.redis.records import unpack
from streamproc.state.redis.store import RedisStore, read_customer
from streamproc.state.redis.store import decode_state as decode

pytestmark = pytest.mark.integration

PROGRAM = {"program": {"id": "t", "timezone": "UTC", "accrual": {"rate_bps": 500}}}


def _sale(rid: str, cid: str | None) -> bytes:
    return orjson.dumps({"receipt_id": rid, "customer_id": cid, "ts": "2026-05-01T12:00:00Z",
                         "lines": [{"line_no": 1, "sku": "A", "category": "food", "qty": 2,
                                    "unit_price": 5000}]})


async def _old_layout(url: str, client) -> dict[str, int]:
    """Write state with the batch path, then rename every key back to the old layout."""
    program = program_from_dict(PROGRAM)
    store = RedisStore(url, program, prefix="mig", keep_outputs=False)
    bp = BatchProcessor(program, make_engine(program), store, partition_by_key=True)
    await bp.process([InMessage("receipts", 0, i, None, _sale(f"R{i}", f"C{i % 7}"))
                      for i in range(40)]
                     + [InMessage("receipts", 0, 40, None, _sale("ANON1", None))])
    balances = {}
    for i in range(7):
        st = read_customer(url, f"C{i}", "mig", partitions=6)
        balances[f"C{i}"] = sum(st.balance())
    await store.close()
    for raw in list(client.scan_iter(match="mig:*")):
        key = raw.decode()
        kind, rest = key[4], key[6:]
        if kind == "c":  # a hash of version and blob, as the old layout kept a customer
            ident = rest.split("}:", 1)[1]
            blob = client.get(key)
            client.unlink(key)
            client.hset(f"mig:c:{{{ident}}}", mapping={"v": decode(ident, blob).version,
                                                       "s": blob})
        elif kind == "p":
            ident = rest.split("}:", 1)[1]
            client.rename(key, f"mig:{kind}:{{{ident}}}")
        elif kind in "ha":  # records: back to a JSON key a receipt, as format 1 wrote them
            ident = rest.split("}:", 1)[1]
            raw = client.get(key)
            recs = unpack(raw, ident) if kind == "h" else unpack(raw, None, ident)
            for rid, rec in recs.items():
                client.set(f"mig:r:{{{rid}}}", orjson.dumps(rec.to_obj()), px=86_400_000)
            client.unlink(key)
    timers = {}
    for p in range(6):
        timers.update({m.decode(): s for m, s in client.zscan_iter(f"mig:t:{{{p}}}")})
        client.unlink(f"mig:t:{{{p}}}", f"mig:l:{{{p}}}")
    client.zadd("mig:g:{g}:timers", timers)
    client.set("mig:g:{g}:liability", sum(balances.values()))
    client.delete("mig:layout")
    return balances


def test_old_layout_migrates_to_partitions(redis_url, redis_client):
    balances = asyncio.run(_old_layout(redis_url, redis_client))
    assert redis_client.exists("mig:c:{C1}") and redis_client.exists("mig:r:{R1}")
    assert read_customer(redis_url, "C1", "mig", partitions=6) is None, "not yet where looked"
    assert main(["state", "migrate", "--redis", redis_url, "--prefix", "mig",
                 "--partitions", "6"]) == 0
    assert not redis_client.exists("mig:c:{C1}", "mig:r:{R1}", "mig:g:{g}:timers")
    assert not list(redis_client.scan_iter(match="mig:r:*")), "every record packed"
    place = Placement(6)
    assert redis_client.type(f"mig:c:{{{place('C1')}}}:C1") == b"string"
    c1 = redis_client.get(f"mig:h:{{{place('C1')}}}:C1")
    assert sorted(unpack(c1, "C1")) == sorted(f"R{i}" for i in range(40) if i % 7 == 1)
    assert 0 < redis_client.pttl(f"mig:h:{{{place('C1')}}}:C1") <= 86_400_000
    anon = unpack(redis_client.get(f"mig:a:{{{place('ANON1')}}}:ANON1"), None, "ANON1")
    assert list(anon) == ["ANON1"] and anon["ANON1"].customer_id is None
    for cid, points in balances.items():
        st = read_customer(redis_url, cid, "mig")  # the layout recorded by the migration
        assert st is not None and sum(st.balance()) == points
    assert redis_client.zscore(f"mig:t:{{{place('C1')}}}", "C1") is not None
    total = sum(int(redis_client.get(f"mig:l:{{{p}}}") or 0) for p in range(6))
    assert total == sum(balances.values())

    async def return_after_migration() -> dict:
        program = program_from_dict(PROGRAM)
        store = RedisStore(redis_url, program, prefix="mig")
        await store.adopt_layout()
        bp = BatchProcessor(program, make_engine(program), store, partition_by_key=True)
        ret = orjson.dumps({"receipt_id": "RET1", "customer_id": "C1", "kind": "return",
                            "original_receipt_id": "R1", "ts": "2026-05-02T12:00:00Z",
                            "lines": [{"line_no": 1, "sku": "A", "category": "food",
                                       "qty": 1, "unit_price": 5000}]})
        again = _sale("ANON1", None)  # the anonymous sale resent: its record was kept
        out = await bp.process([InMessage("receipts", 0, 100, None, ret),
                                InMessage("receipts", 0, 101, None, again)])
        await store.close()
        return [orjson.loads(v) for _, v in out.results]

    res, anon_again = asyncio.run(return_after_migration())
    assert res["status"] == "applied" and res["original_receipt_id"] == "R1"
    assert anon_again["status"] == "duplicate"
