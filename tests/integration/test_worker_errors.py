"""Bad input through the real worker: poison messages go to the dead-letter topic with their
reason and origin while the stream goes on, and the metrics endpoint counts exactly what was
sent, by status and by reason."""

from __future__ import annotations

import asyncio
import urllib.request

import orjson
import pytest
from e2e_support import WorkerProcess, produce, read_until, worker_env

from streamproc.tools.devstack import create_topics

pytestmark = pytest.mark.integration
PROGRAM = "tests/golden/program.yaml"


def _sale(rid: str, cid: str | None, ts: str, qty: int = 1) -> bytes:
    return orjson.dumps({"receipt_id": rid, "customer_id": cid, "store_id": "S1", "ts": ts,
                         "lines": [{"line_no": 1, "sku": "SP1", "category": "sport/shoes",
                                    "qty": qty, "unit_price": 100000}]})


def _return(rid: str, cid: str, original: str, ts: str, qty: int = 1) -> bytes:
    return orjson.dumps({"receipt_id": rid, "customer_id": cid, "ts": ts, "kind": "return",
                         "original_receipt_id": original,
                         "lines": [{"line_no": 1, "qty": qty}]})


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("streamproc_") and " " in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_poison_messages_and_metrics(tmp_path, kafka_bootstrap, redis_url):
    prefix = "poison"
    create_topics(kafka_bootstrap, {f"{prefix}-receipts": 2, f"{prefix}-customers": 2,
                                    f"{prefix}-receipt-results": 2,
                                    f"{prefix}-loyalty-events": 2, f"{prefix}-receipts-dlq": 1},
                  compacted={f"{prefix}-customers"})
    ts = "2026-03-02T10:00:00+03:00"
    later = "2026-03-03T10:00:00+03:00"
    messages = [
        (b"C1", _sale("G1", "C1", ts, qty=2)),
        (b"C1", b'{"receipt_id": "B1", "ts": '),                          # invalid_json
        (b"C1", b'{"receipt_id": "B2", "ts": "2026-03-02T10:00:00+03:00", "lines": [{"line_no":'
                b' 1, "sku": "X", "category": "c", "qty": NaN, "unit_price": 1}]}'),  # invalid
        (b"C2", _sale("B3", "C2", ts, qty=0)),                            # schema (qty)
        (b"C2", orjson.dumps({"receipt_id": "B4", "lines": []})),         # schema (ts)
        (b"C1", _return("B5", "C1", "NO-SUCH-SALE", later)),              # unknown original
        (b"C1", _return("B6", "C1", "G1", later, qty=3)),                 # exceeds the sale
        (b"C2", _return("B7", "C2", "G1", later)),                        # another's sale
        (b"C1", _return("G2", "C1", "G1", later, qty=1)),                 # a good return
        (b"C1", _sale("G1", "C1", ts, qty=2)),                            # duplicate
        (b"G3", _sale("G3", None, later)),                                # anonymous
        (b"C2", _sale("G4", "C2", later)),
    ]
    want_dlq = {"B1": "invalid_json", "B2": "invalid_json", "B3": "schema", "B4": "schema",
                "B5": "unknown_original_receipt", "B6": "return_exceeds_sale",
                "B7": "unknown_original_receipt"}
    env = worker_env(kafka_bootstrap, redis_url, PROGRAM, prefix, partitions=2)
    w = WorkerProcess(tmp_path, "w", env).start()
    try:
        asyncio.run(produce(kafka_bootstrap, f"{prefix}-receipts", messages))

        def problem() -> str | None:
            return None if w.alive() else f"worker died:\n{w.tail()}"

        dlq = asyncio.run(read_until(kafka_bootstrap, f"{prefix}-receipts-dlq",
                                     lambda r: len(r) >= len(want_dlq), 120, problem))
        results = asyncio.run(read_until(kafka_bootstrap, f"{prefix}-receipt-results",
                                         lambda r: len(r) >= 5, 120, problem))
        # every poison message: its reason, a detail, the raw text and where it came from
        sent = {v: k for k, v in messages}
        by_raw = {}
        for rec in dlq:
            d = orjson.loads(rec.value)
            assert d["topic"] == f"{prefix}-receipts"
            assert isinstance(d["partition"], int) and isinstance(d["offset"], int)
            assert d["detail"]
            by_raw[d["raw"].encode()] = d["reason"]
            assert d["raw"].encode() in sent
        got = {}
        for raw, reason in by_raw.items():
            rid = next(k for k in want_dlq if f'"{k}"'.encode() in raw)
            got[rid] = reason
        assert got == want_dlq
        # the stream went on: the good receipts after the poison ones have their results
        res = [orjson.loads(r.value) for r in results]
        assert [(r["receipt_id"], r["status"]) for r in res if r["receipt_id"] == "G1"] == \
            [("G1", "applied"), ("G1", "duplicate")]
        assert {r["receipt_id"] for r in res} == {"G1", "G2", "G3", "G4"}
        ret = next(r for r in res if r["receipt_id"] == "G2")
        assert ret["total"] == -100000 and ret["accrued"] < 0
        # metrics count exactly what was sent, by status and by reason
        m = _metrics(w.metrics_port)  # counted before the results were produced
        assert m['streamproc_receipts_total{status="applied"}'] == 4
        assert m['streamproc_receipts_total{status="duplicate"}'] == 1
        assert m['streamproc_receipts_total{status="rejected"}'] == len(want_dlq)
        for reason in set(want_dlq.values()):
            assert m[f'streamproc_dlq_total{{reason="{reason}"}}'] == \
                list(want_dlq.values()).count(reason)
        assert m['streamproc_dlq_total{reason="schema"}'] == 2
        base = sum(a["amount"] for r in res for a in r.get("applied", ())
                   if a["campaign_id"] == "base" and r["status"] == "applied")
        assert base > 0 and m['streamproc_points_minor_units_total{campaign="base"}'] == base
        reversed_ = m['streamproc_points_reversed_minor_units_total{campaign="returns"}']
        assert reversed_ == -ret["accrued"]
        assert any(k.startswith("streamproc_worker_info") and 'engine="compiled"' in k
                   for k in m)
        ready = urllib.request.urlopen(f"http://127.0.0.1:{w.metrics_port}/readyz", timeout=5)
        assert ready.status == 200
    finally:
        w.stop()
