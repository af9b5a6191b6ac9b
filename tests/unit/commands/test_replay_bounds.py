"""`streamproc replay` under bad input: every bad line is a reject with its reason (never a
traceback), an unexpected error on one line is an `internal` reject and the rest goes on, and
an output path whose folder does not exist is refused before the run."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streamproc.cli import main
from streamproc.domain.program import load_program
from streamproc.engine.selection import make_engine
from streamproc.replay.in_memory import Replay, Sinks, read_messages

GOLDEN = Path(__file__).parents[2] / "golden"
PROGRAM = str(GOLDEN / "program.yaml")


def _sale(rid: str, **kw) -> dict:
    return {"receipt_id": rid, "customer_id": "C1", "ts": "2026-03-02T10:00:00+03:00",
            "lines": [{"line_no": 1, "sku": "S", "category": "food", "qty": 1,
                       "unit_price": 1000}], **kw}


BAD_LINES = [  # (line, reason)
    (b"\xff\xfe{", "invalid_json"),
    (b"null", "schema"),
    (b"[" * 5000 + b"]" * 5000, "invalid_json"),
    (b'{"receipt_id": "N", "redeem": NaN}', "invalid_json"),
    (orjson.dumps(_sale("TS1", ts="9999-12-31T23:59:59.999999+00:00")), "schema"),
    (orjson.dumps(_sale("TS2", ts="0001-01-01T00:00:00+00:00")), "schema"),
    (orjson.dumps(_sale("BIG", redeem=2**60)), "schema"),
    (orjson.dumps(_sale("CID", customer_id="c" * 300_000)), "schema"),
    (orjson.dumps(_sale("X" * 65)), "schema"),
    (b'{"receipt_id": "H", "lines": [{"line_no": 1, "qty": 100000000000000000000000}]}',
     "schema"),
    (orjson.dumps(_sale("LONG", note="x" * 900_000, kind="gift")), "schema"),
]


def test_every_bad_line_is_a_reject_with_its_reason(tmp_path, capsys):
    receipts = tmp_path / "r.jsonl"
    good = [orjson.dumps(_sale(f"G{i}")) for i in range(3)]
    lines = [good[0], *[b for b, _ in BAD_LINES], good[1], good[2]]
    receipts.write_bytes(b"\n".join(lines) + b"\n")
    rej, out = tmp_path / "rej.jsonl", tmp_path / "out.jsonl"
    code = main(["replay", "--program", PROGRAM, "--receipts", str(receipts), "--out", str(out),
                 "--rejects", str(rej), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err + captured.out
    rejects = [orjson.loads(x) for x in rej.read_bytes().splitlines()]
    assert [r["reason"] for r in rejects] == [reason for _, reason in BAD_LINES]
    assert [r["line"] for r in rejects] == list(range(2, 2 + len(BAD_LINES)))
    assert all(len(r["raw"].encode()) <= 65536 * 3 for r in rejects)
    assert [orjson.loads(x)["receipt_id"] for x in out.read_bytes().splitlines()] == \
        ["G0", "G1", "G2"]


class Exploding:
    def __init__(self, engine) -> None:
        self.engine, self.name = engine, engine.name

    def calc_sale(self, receipt, ctx):
        if receipt.receipt_id == "BOOM":
            raise ZeroDivisionError("integer division or modulo by zero")
        return self.engine.calc_sale(receipt, ctx)


def test_an_unexpected_error_on_one_line_is_an_internal_reject(tmp_path):
    program = load_program(PROGRAM)
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(_sale(r)) for r in ("A", "BOOM", "B")) + b"\n")
    rej = tmp_path / "rej.jsonl"
    with rej.open("wb") as fh:
        report = Replay(program, Exploding(make_engine(program, "reference"))).run(
            read_messages(path), source=str(path), sinks=Sinks(rejects=fh))
    (r,) = [orjson.loads(x) for x in rej.read_bytes().splitlines()]
    assert r["reason"] == "internal" and r["line"] == 2
    assert r["detail"] == "compute: ZeroDivisionError: integer division or modulo by zero"
    assert report.by_status == {"applied": 2, "rejected": 1}


@pytest.mark.parametrize("flag", ["--out", "--events", "--rejects", "--report"])
def test_an_output_in_a_missing_folder_is_refused_before_the_run(tmp_path, flag, capsys):
    missing = tmp_path / "nope" / "file.jsonl"
    other = tmp_path / "out.jsonl"
    args = ["replay", "--program", PROGRAM, "--receipts", str(GOLDEN / "receipts.jsonl"),
            "--no-progress", flag, str(missing)]
    if flag != "--out":
        args += ["--out", str(other)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{flag} {missing}: no such folder" in err and "Traceback" not in err
    assert not other.exists()  # nothing ran
