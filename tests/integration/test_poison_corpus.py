"""A poison corpus through the real worker: 25 kinds of bad messages (every case of issue 11:
timestamps past what a timezone can hold, tombstones on both topics, huge and control-byte
messages, bad UTF-8, deep JSON, NaN, huge numbers, wrong types, empty values, mis-keyed and
too-large ones) interleaved with 10k generated receipts, through 2 worker processes with the
timers at their default interval, and a customer whose stored bucket expires past year 9999
(as an older, unbounded program could leave it).

No worker exits; every bad message is in the dead-letter topic once, with its reason; the
good receipts' results and the final balances equal `streamproc replay` of the good ones;
messages in = applied + duplicate + rejected, counted on the topics and in the metrics.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
import redis
from e2e_support import WorkerProcess, produce, read_until, replay_oracle, worker_env

from streamproc.domain.program import load_program
from streamproc.engine.model import Bucket, CustomerState
from streamproc.engine.stateformat import state_codec
from streamproc.state.partitioning import Placement
from streamproc.state.redis.store import read_customer
from streamproc.tools.devstack import create_topics
from streamproc.tools.loadgen import LoadgenConfig, customer_messages, generate_messages

pytestmark = pytest.mark.integration
PROGRAM = str(Path(__file__).parents[2] / "examples" / "retail-chain.yaml")
MAX_RECORD = 30_000  # STREAMPROC_MAX_RECORD_BYTES here: a 500-line receipt's result is larger
OLD_CUSTOMER = "ZZ-OLD"
ERASED = "ZZ-ERASED"
TS = "2026-11-05T12:00:00+03:00"


def _sale(rid: str, cid: str | None = "C-POISON", n_lines: int = 1, **kw) -> dict:
    return {"receipt_id": rid, "customer_id": cid, "store_id": "S001", "ts": TS,
            "lines": [{"line_no": i + 1, "sku": f"SKU{i}", "category": "grocery", "qty": 1,
                       "unit_price": 1000} for i in range(n_lines)], **kw}


def _j(obj: object) -> bytes:
    return orjson.dumps(obj)


def receipt_poison() -> list[tuple[str, bytes | None, bytes | None, str]]:
    """(kind, key, value, reason) on the receipts topic."""
    P = b"C-POISON"
    return [
        ("ts year 9999", P, _j(_sale("P01", ts="9999-12-31T23:59:59.9999999+00:00")), "schema"),
        ("ts year 1 (.NET)", P, _j(_sale("P02", ts="0001-01-01T00:00:00+00:00")), "schema"),
        ("ts written in 1999", P, _j(_sale("P03", ts="1999-12-31T23:30:00-01:00")), "schema"),
        ("ts a number", P, _j(_sale("P04", ts=1767225600)), "schema"),
        ("tombstone", P, None, "invalid_json"),
        ("200 KB of control bytes", P, bytes(range(32)) * 6400, "invalid_json"),
        ("300 KB customer_id", None, _j(_sale("P07", "c" * 300_000)), "schema"),
        ("bad UTF-8", P, b'{"receipt_id": "P08\xff\xfe", "ts": "' + TS.encode() + b'"}',
         "invalid_json"),
        ("deep JSON", P, b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
        ("NaN", P, _j(_sale("P10"))[:-1] + b', "redeem": NaN}', "invalid_json"),
        ("huge price", P, _j(_sale("P11")).replace(b'"unit_price":1000',
                                                   b'"unit_price":' + b"9" * 40), "schema"),
        ("redeem past 2^53", P, _j(_sale("P12", redeem=2**60)), "schema"),
        ("lines a string", P, _j({**_sale("P13"), "lines": "abc"}), "schema"),
        ("customer_id a number", b"7", _j(_sale("P14", 7)), "schema"),  # type: ignore[arg-type]
        ("empty value", P, b"", "invalid_json"),
        ("empty object", P, b"{}", "schema"),
        ("900 KB receipt", P, _j({**_sale("P17"), "lines": [{
            "line_no": 1, "sku": "s" * 900_000, "category": "grocery", "qty": 1,
            "unit_price": 1}]}), "schema"),
        ("mis-keyed", b"C-SOMEONE-ELSE", _j(_sale("P18")), "schema"),
        ("501 lines", P, _j(_sale("P19", n_lines=501)), "schema"),
        ("line_no 2^53", P, _j({**_sale("P20"), "lines": [{
            "line_no": 2**53, "sku": "s", "category": "c", "qty": 1, "unit_price": 1}]}),
         "schema"),
        ("a JSON array", P, b"[1, 2, 3]", "schema"),
        ("a lone surrogate", P, b'{"receipt_id": "\\ud800", "ts": "' + TS.encode() + b'"}',
         "invalid_json"),
        ("unknown original", P, _j({"receipt_id": "P23", "customer_id": "C-POISON", "ts": TS,
                                    "kind": "return", "original_receipt_id": "NOPE",
                                    "lines": [{"line_no": 1, "qty": 1}]}),
         "unknown_original_receipt"),
        ("result too large", b"P24", _j(_sale("P24", None, n_lines=500)), "too_large"),
    ]


def customer_poison() -> list[tuple[str, bytes | None, bytes | None, str]]:
    return [
        ("tombstone with an empty key", b"", None, "schema"),
        ("tombstone keyed with bad UTF-8", b"\xff\xfe", None, "schema"),
        ("profile with a 31 February", b"C-BDAY",
         _j({"customer_id": "C-BDAY", "birthday": "1990-02-31"}), "schema"),
    ]


def _seed_old_customer(client: redis.Redis, prefix: str) -> None:
    """A bucket an older, unbounded program stored: activates now, expires past year 9999."""
    encode, _ = state_codec()
    act = 1_780_000_000_000_000  # 2026-05-28
    st = CustomerState(OLD_CUSTOMER, clock_us=act, next_bucket=2,
                       buckets=[Bucket(1, "OLD-R", "base", 0, 700, act, 10**18)])
    st.version = 1
    p = Placement(6)(OLD_CUSTOMER)  # its partition, as producers place its key
    client.set(f"{prefix}:c:{{{p}}}:{OLD_CUSTOMER}", encode(st))
    client.zadd(f"{prefix}:t:{{{p}}}", {OLD_CUSTOMER: act})


def _origin(rec: dict) -> tuple[str, int, int]:
    """Where a dead letter's message was read: the same message gives the same record."""
    return rec["topic"], rec["partition"], rec["offset"]


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("streamproc_") and " " in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_poison_corpus(tmp_path, kafka_bootstrap, redis_url):
    started = time.monotonic()
    prefix = "pc"
    create_topics(kafka_bootstrap, {f"{prefix}-receipts": 6, f"{prefix}-customers": 6,
                                    f"{prefix}-receipt-results": 6,
                                    f"{prefix}-loyalty-events": 6, f"{prefix}-receipts-dlq": 1},
                  compacted={f"{prefix}-customers"})
    cfg = LoadgenConfig(seed=37, receipts=10_000, customers=1_500, days=10)
    good = list(generate_messages(cfg))
    customers = list(customer_messages(cfg))
    rpath, cpath = tmp_path / "receipts.jsonl", tmp_path / "customers.jsonl"
    rpath.write_bytes(b"".join(v + b"\n" for _, v in good))
    cpath.write_bytes(b"".join(v + b"\n" for _, v in customers))
    results, rejects, state = replay_oracle(PROGRAM, rpath, cpath)
    assert max(len(orjson.dumps(r)) for r in results) < MAX_RECORD / 2

    poison = receipt_poison()
    assert len(poison) + len(customer_poison()) >= 20
    rnd = random.Random(3)
    messages = list(good)
    for _, key, value, _ in poison:
        messages.insert(rnd.randrange(len(messages) + 1), (key, value))  # type: ignore[arg-type]
    n_in = len(messages)

    client = redis.Redis.from_url(redis_url)
    _seed_old_customer(client, prefix)
    env = worker_env(kafka_bootstrap, redis_url, PROGRAM, prefix)
    env["STREAMPROC_TIMER_INTERVAL_S"] = "1.0"  # the default
    env["STREAMPROC_MAX_RECORD_BYTES"] = str(MAX_RECORD)
    profiles = [*customers, (ERASED.encode(), _j({"customer_id": ERASED}))]
    asyncio.run(produce(kafka_bootstrap, f"{prefix}-customers", profiles))
    workers = [WorkerProcess(tmp_path, f"w{i}", env).start() for i in range(2)]

    def problem() -> str | None:
        for w in workers:
            if not w.alive():
                return f"worker {w.name} exited:\n{w.tail()}"
        return None

    try:
        deadline = time.monotonic() + 90
        erased_key = f"{prefix}:p:{{{Placement(6)(ERASED)}}}:{ERASED}"
        while client.exists(erased_key) == 0 or \
                sum(1 for _ in client.scan_iter(f"{prefix}:p:*", count=1000)) < len(profiles):
            assert problem() is None, problem()
            assert time.monotonic() < deadline, "profiles did not arrive"
            time.sleep(0.2)
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", messages))
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-customers",
                            [(k, v) for _, k, v, _ in customer_poison()]  # type: ignore[misc]
                            + [(ERASED.encode(), None)]))  # type: ignore[list-item]
        want_ids = {r["receipt_id"] for r in results}
        n_dlq = len(rejects) + len(poison) + len(customer_poison())
        stream = asyncio.run(read_until(
            kafka_bootstrap, f"{prefix}-receipt-results",
            lambda recs: {orjson.loads(x.value)["receipt_id"] for x in recs} >= want_ids,
            timeout=240, alive=problem))
        dlq = asyncio.run(read_until(
            kafka_bootstrap, f"{prefix}-receipts-dlq",
            lambda recs: len({_origin(orjson.loads(x.value)) for x in recs}) >= n_dlq,
            timeout=60, alive=problem))
        old_events = asyncio.run(read_until(
            kafka_bootstrap, f"{prefix}-loyalty-events",
            lambda recs: any(orjson.loads(x.value)["customer_id"] == OLD_CUSTOMER
                             for x in recs), timeout=60, alive=problem))
        deadline = time.monotonic() + 30
        while client.exists(erased_key):
            assert problem() is None and time.monotonic() < deadline, "tombstone not applied"
            time.sleep(0.2)
        metrics = [_metrics(w.metrics_port) for w in workers]
        assert problem() is None, problem()
    finally:
        for w in workers:
            w.stop()
    for w in workers:
        assert "unrecoverable" not in w.log.read_text(errors="replace"), w.tail()

    # a message handled twice (a rebalance that lost a commit, a produce redone from the
    # committed offsets: both happen on a loaded machine) repeats its records byte for byte
    records_seen = [orjson.loads(r.value) for r in dlq]
    unique: dict[tuple, dict] = {}
    for rec in records_seen:
        assert unique.setdefault(_origin(rec), rec) == rec, f"two dead letters for {rec}"
    records = list(unique.values())
    # every bad message is in the DLQ once, with its reason (found by its SHA-256)
    assert len(records) == n_dlq
    by_sha = {}
    for rec in records:
        assert rec["raw_sha256"] not in by_sha or rec["raw"] == "", rec
        by_sha.setdefault(rec["raw_sha256"], []).append(rec)
        assert len(orjson.dumps(rec)) <= MAX_RECORD
        assert "Traceback" not in rec["detail"]
    for kind, _, value, reason in [*poison, *customer_poison()]:
        sha = hashlib.sha256(value or b"").hexdigest()
        got = [r["reason"] for r in by_sha.get(sha, [])]
        assert reason in got, f"{kind}: {got}"
        rec = next(r for r in by_sha[sha] if r["reason"] == reason)
        assert rec["raw_bytes"] == len(value or b"")
        assert (value or b"").decode("utf-8", "replace").startswith(rec["raw"][:1000])
    bad_raws = sorted((r["reason"], r["raw"]) for r in records
                      if r["topic"] == f"{prefix}-receipts"
                      and (r["raw_sha256"], r["reason"]) not in
                      {(hashlib.sha256(v or b"").hexdigest(), why) for _, _, v, why in poison})
    assert bad_raws == sorted((r["reason"], r["raw"]) for r in rejects)

    # the good receipts: results equal the replay's (single-use codes aside: spec section 7)
    program = load_program(PROGRAM)
    single = {code for c in program.campaigns if c.single_use for code in c.coupon_codes}
    contested = set()
    for _, raw in good:
        try:
            o = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(o, dict) and set(o.get("coupons") or ()) & single:
            contested.add(o.get("customer_id") or o.get("receipt_id"))
    got: dict[str, list] = {}
    for rec in stream:
        r = orjson.loads(rec.value)
        got.setdefault(r["receipt_id"], []).append(r)
    # one result per good receipt, and a receipt handled again repeats its first answer
    extra = len(stream) - len(results)
    assert extra >= 0, extra
    want: dict[str, list] = {}
    for r in results:
        want.setdefault(r["receipt_id"], []).append(r)
    for rid, rs in got.items():
        if (rs[0].get("customer_id") or rid) not in contested:
            assert all(r in want[rid] for r in rs), rid
    compared = 0
    for r in results:
        if (r.get("customer_id") or r["receipt_id"]) in contested:
            continue
        assert r in got[r["receipt_id"]], r["receipt_id"]
        compared += 1
    assert compared > 0.8 * len(results)
    checked = 0
    for cid, st in state.customers.items():
        if cid in contested:
            continue
        red = read_customer(redis_url, cid, prefix)
        assert red is not None and (red.balance(), red.debt, red.spend, red.sales) == \
            (st.balance(), st.debt, st.spend, st.sales), cid
        checked += 1
    assert checked > 0.8 * len(state.customers)

    # in = applied + duplicate + rejected: on the topics and in the metrics
    # (each handling counted, repeats included: the metrics count what the workers did)
    receipt_dlq = [r for r in records if r["topic"] == f"{prefix}-receipts"]
    receipt_dlq_seen = [r for r in records_seen if r["topic"] == f"{prefix}-receipts"]
    assert n_in == len(results) + len(receipt_dlq)
    total = {s: sum(m.get(f'streamproc_receipts_total{{status="{s}"}}', 0) for m in metrics)
             for s in ("applied", "duplicate", "rejected")}
    assert total["applied"] + total["duplicate"] == len(stream)
    assert total["rejected"] == len(receipt_dlq_seen)
    assert sum(total.values()) == n_in + extra + len(receipt_dlq_seen) - len(receipt_dlq)
    for reason in {r["reason"] for r in receipt_dlq}:
        counted = sum(m.get(f'streamproc_dlq_total{{reason="{reason}"}}', 0) for m in metrics)
        assert counted == sum(r["reason"] == reason for r in receipt_dlq_seen), reason

    # the old bucket's expiry date was clamped, not raised; the customer tombstone erased
    (ev,) = [orjson.loads(x.value) for x in old_events
             if orjson.loads(x.value)["customer_id"] == OLD_CUSTOMER]
    assert ev["type"] == "points_activated" and ev["expires_at"].startswith("9999-12-30")
    client.close()
    print(f"poison corpus: {n_in} messages, {len(records)} dead letters, "
          f"{time.monotonic() - started:.1f}s")
