"""`streamproc replay --redis` runs the same batches as the worker over the same store: the
worked examples come out exactly as in memory, and `streamproc balance` reads what it wrote."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streamproc.cli import main

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).parents[1] / "golden"


@pytest.mark.parametrize("case", ["", "stacking"])
def test_replay_with_redis_equals_memory(tmp_path, redis_url, redis_client, case, capsys):
    d = GOLDEN / case if case else GOLDEN
    args = ["replay", "--program", str(d / "program.yaml"), "--receipts",
            str(d / "receipts.jsonl"), "--no-progress"]
    if (d / "customers.jsonl").exists():
        args += ["--customers", str(d / "customers.jsonl")]
    mem, red = tmp_path / "mem.jsonl", tmp_path / "redis.jsonl"
    mem_rej, red_rej = tmp_path / "mem-rej.jsonl", tmp_path / "redis-rej.jsonl"
    rep_mem, rep_red = tmp_path / "mem.json", tmp_path / "redis.json"
    ev_mem, ev_red = tmp_path / "mem-ev.jsonl", tmp_path / "redis-ev.jsonl"
    assert main([*args, "--out", str(mem), "--rejects", str(mem_rej), "--report", str(rep_mem),
                 "--events", str(ev_mem)]) == 0
    assert main([*args, "--out", str(red), "--rejects", str(red_rej), "--report", str(rep_red),
                 "--events", str(ev_red), "--redis", redis_url]) == 0
    a, b = orjson.loads(rep_mem.read_bytes()), orjson.loads(rep_red.read_bytes())
    for key in ("receipts_by_status", "points_liability", "discount_by_campaign",
                "points_by_campaign", "events_by_type", "timer_events"):
        want = a[key]["total"] if key == "points_liability" else a[key]
        got = b[key]["total"] if key == "points_liability" else b[key]
        assert got == want, key
    # the same events, timers included (a replay fires them on the latest receipt time read)
    assert sorted(x for x in ev_red.read_bytes().splitlines()) == \
        sorted(x for x in ev_mem.read_bytes().splitlines())
    assert [orjson.loads(x) for x in red.read_bytes().splitlines()] == \
        [orjson.loads(x) for x in mem.read_bytes().splitlines()]
    assert [orjson.loads(x)["reason"] for x in red_rej.read_bytes().splitlines()] == \
        [orjson.loads(x)["reason"] for x in mem_rej.read_bytes().splitlines()]
    capsys.readouterr()
    cid = "K1" if case else "C1"
    last = [orjson.loads(x) for x in mem.read_bytes().splitlines()
            if orjson.loads(x).get("customer_id") == cid
            and orjson.loads(x)["status"] == "applied"][-1]
    assert main(["balance", cid, "--redis", redis_url, "--program",
                 str(d / "program.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"active {last['balance']['active']}, pending {last['balance']['pending']}" in out
    assert main(["balance", "NOBODY", "--redis", redis_url]) == 1


def test_generated_month_same_results_and_events(tmp_path, redis_url, redis_client):
    """A generated stream (returns, duplicates, redemptions, bad messages): results and every
    event, timers included, are the same from Redis as from memory."""
    from streamproc.tools.loadgen import LoadgenConfig, customer_messages, generate_messages

    cfg = LoadgenConfig(seed=9, receipts=5000, customers=600, days=30)
    rec, cus = tmp_path / "r.jsonl", tmp_path / "c.jsonl"
    rec.write_bytes(b"".join(v + b"\n" for _, v in generate_messages(cfg)))
    cus.write_bytes(b"".join(v + b"\n" for _, v in customer_messages(cfg)))
    program = str(Path(__file__).parents[2] / "examples" / "retail-chain.yaml")
    outs = {}
    for name, extra in (("mem", []), ("redis", ["--redis", redis_url])):
        out, ev = tmp_path / f"{name}.jsonl", tmp_path / f"{name}-ev.jsonl"
        assert main(["replay", "--program", program, "--receipts", str(rec), "--customers",
                     str(cus), "--out", str(out), "--events", str(ev), "--no-progress",
                     *extra]) == 0
        outs[name] = (out.read_bytes(), sorted(ev.read_bytes().splitlines()))
    assert outs["redis"][0] == outs["mem"][0]
    assert outs["redis"][1] == outs["mem"][1]
    assert any(b"points_activated" in e for e in outs["mem"][1])
