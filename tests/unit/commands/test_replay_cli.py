"""`streamproc replay` reproduces the spec's worked examples exactly, on both engines, and
writes its report and chart; rejects carry their origin."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streamproc.cli import main

GOLDEN = Path(__file__).parents[2] / "golden"


def _expected_view(result: dict) -> dict:
    if result["status"] == "duplicate":
        return {"receipt_id": result["receipt_id"], "status": "duplicate"}
    keys = ("receipt_id", "status", "total", "discount", "redeemed", "paid", "accrued",
            "balance", "tier", "lines")
    out = {k: result[k] for k in keys}
    out["event_types"] = sorted(e["type"] for e in result["events"])
    out["coupons_rejected"] = [[c["code"], c["reason"]] for c in result["coupons"]["rejected"]]
    out["held_out"] = result["held_out"]
    return out


@pytest.mark.parametrize("engine", ["reference", "compiled"])
@pytest.mark.parametrize("case", ["", "stacking"])
def test_replay_reproduces_expected(tmp_path, engine, case, capsys):
    d = GOLDEN / case if case else GOLDEN
    out, rej, rep = tmp_path / "out.jsonl", tmp_path / "rej.jsonl", tmp_path / "report.json"
    args = ["replay", "--program", str(d / "program.yaml"), "--receipts",
            str(d / "receipts.jsonl"), "--out", str(out), "--rejects", str(rej),
            "--report", str(rep), "--engine", engine, "--no-progress"]
    if (d / "customers.jsonl").exists():
        args += ["--customers", str(d / "customers.jsonl")]
    assert main(args) == 0
    results = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    rejects = [orjson.loads(x) for x in rej.read_bytes().splitlines()]
    reject_lines = {r["line"]: r for r in rejects}
    got = []
    res_iter = iter(results)
    lines = [x for x in (d / "receipts.jsonl").read_bytes().splitlines() if x.strip()]
    for no, _ in enumerate(lines, 1):
        if no in reject_lines:
            got.append({"status": "rejected", "reason": reject_lines[no]["reason"]})
        else:
            got.append(_expected_view(next(res_iter)))
    expected = [orjson.loads(x) for x in (d / "expected.jsonl").read_bytes().splitlines()]
    assert got == expected
    report = orjson.loads(rep.read_bytes())
    assert report["reconciles"] and report["messages"] == len(lines)
    assert report["engine"] == engine
    assert rep.with_suffix(".png").stat().st_size > 1000
    assert "replay summary" in capsys.readouterr().out


def test_replay_refuses_bad_program_without_traceback(tmp_path, capsys):
    bad = tmp_path / "p.yaml"
    bad.write_text("program: {id: x}\ncampaigns:\n  - {id: a, type: n_for_m, buy: 2, pay: 3}\n")
    assert main(["replay", "--program", str(bad), "--receipts", "nope.jsonl"]) == 2
    err = capsys.readouterr().err
    assert "campaign 'a'" in err and "pay" in err and str(bad) in err
