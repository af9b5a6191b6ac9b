"""`whatif --state-from` reads a live store without changing it: every key DUMPed before and
after is byte-for-byte the same; and starting from the snapshot gives the same comparison as
building that state by a warm-up replay of the same earlier receipts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis
import yaml

from streamproc.cli import main
from streamproc.tools.loadgen import LoadgenConfig, customer_messages, generate_messages

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RETAIL = ROOT / "examples" / "retail-chain.yaml"


def dump_all(client: redis.Redis) -> dict[bytes, tuple[bytes, int]]:
    """Every key's DUMP (type, value, encoding) and whether it has a TTL."""
    out = {}
    for key in client.scan_iter(count=1000):
        out[key] = (client.dump(key), client.ttl(key) >= 0)
    return out


def test_state_from_redis_is_read_only_and_equals_warmup(tmp_path, redis_url, redis_client,
                                                         capsys):
    cfg = LoadgenConfig(seed=21, receipts=3000, customers=300, days=30)
    lines = [v for _, v in generate_messages(cfg)]
    early, late = tmp_path / "early.jsonl", tmp_path / "late.jsonl"
    early.write_bytes(b"".join(v + b"\n" for v in lines[:1500]))
    late.write_bytes(b"".join(v + b"\n" for v in lines[1500:]))
    cus = tmp_path / "c.jsonl"
    cus.write_bytes(b"".join(v + b"\n" for _, v in customer_messages(cfg)))
    doc = yaml.safe_load(RETAIL.read_text())
    next(c for c in doc["campaigns"] if c["id"] == "gold-x1-5")["multiplier_bps"] = 20000
    cand = tmp_path / "candidate.yaml"
    cand.write_text(yaml.safe_dump(doc))

    # the live store: the earlier receipts applied by the worker's batch path
    assert main(["replay", "--program", str(RETAIL), "--receipts", str(early), "--customers",
                 str(cus), "--redis", redis_url, "--no-progress"]) == 0
    before = dump_all(redis_client)
    assert len(before) > 300
    dirty_before = redis_client.info("persistence")["rdb_changes_since_last_save"]

    snap, warm = tmp_path / "snap", tmp_path / "warm"
    common = ["whatif", "--baseline", str(RETAIL), "--candidate", str(cand), "--receipts",
              str(late), "--no-progress"]
    assert main([*common, "--state-from", redis_url, "--out-dir", str(snap)]) == 0
    after = dump_all(redis_client)
    assert after.keys() == before.keys()
    changed = [k for k in before if before[k] != after[k]]
    assert changed == []
    # and Redis counted no change to its data at all
    assert redis_client.info("persistence")["rdb_changes_since_last_save"] == dirty_before

    # explain reads one customer from the same store, read-only too
    def parsed(v: bytes) -> dict:
        try:
            o = orjson.loads(v)
        except orjson.JSONDecodeError:
            return {}
        return o if isinstance(o, dict) else {}

    known = {parsed(v).get("customer_id") for v in lines[:1500]} - {None}
    raw = next(v for v in lines[1500:] if parsed(v).get("kind", "sale") == "sale"
               and parsed(v).get("customer_id") in known and "lines" in parsed(v))
    capsys.readouterr()
    assert main(["explain", "--program", str(RETAIL), "--receipt", raw.decode(),
                 "--state-from", redis_url, "--json"]) == 0
    explained = orjson.loads(capsys.readouterr().out)
    welcome = next(c for c in explained["campaigns"] if c["campaign_id"] == "welcome-bonus")
    assert welcome["reason"].startswith("audience: first purchase only")  # not a new customer
    assert dump_all(redis_client) == before
    assert redis_client.info("persistence")["rdb_changes_since_last_save"] == dirty_before

    assert main([*common, "--warmup", str(early), "--customers", str(cus),
                 "--out-dir", str(warm)]) == 0
    a = orjson.loads((snap / "comparison.json").read_bytes())
    b = orjson.loads((warm / "comparison.json").read_bytes())
    for side in ("baseline", "candidate"):
        for k in ("discount", "points_issued", "points_redeemed", "points_expired",
                  "liability_end", "customers_end", "applied", "duplicate", "rejected"):
            assert a[side][k] == b[side][k], (side, k)
    assert a["campaigns"] == b["campaigns"]
    assert "snapshot" in a["start"] and "warm-up" in b["start"]
    # the snapshot mattered: returns of earlier sales were found, customers were not new
    assert a["baseline"]["customers_end"] > 0
    assert a["baseline"]["rejected"] < 20
