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
    assert main([*args, "--out", str(mem), "--rejects", str(mem_rej)]) == 0
    assert main([*args, "--out", str(red), "--rejects", str(red_rej), "--redis", redis_url]) == 0
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
