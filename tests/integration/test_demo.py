"""`python -m streamproc.tools.demo` end to end, small: its own broker, Redis and two workers.

Runs the demo as a user would (a subprocess, its own run folder) with 3,000 receipts and checks
the exit status, that the summary reconciles (messages in = applied + duplicate + rejected,
from the topics and from the workers' metrics), and that the plot was written. The stack must
be gone afterwards: nothing the demo started may outlive it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
RECEIPTS = 3000


def test_demo_small_run(tmp_path):
    run_dir = tmp_path / "demo"
    cmd = [sys.executable, "-m", "streamproc.tools.demo", "--receipts", str(RECEIPTS),
           "--timeout", "120", "--dir", str(run_dir)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                       env={**os.environ, "COLUMNS": "120"})
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-6000:]

    s = json.loads((run_dir / "summary.json").read_text())
    rec = s["reconciliation"]
    assert rec["ok"] is True
    assert s["messages_in"] == RECEIPTS
    assert sum(rec["topics"].values()) == RECEIPTS
    assert sum(rec["metrics"].values()) == RECEIPTS
    assert rec["topics"] == rec["metrics"]
    assert rec["topics"]["rejected"] == sum(s["dlq_by_reason"].values()) == rec["expected_bad"]
    assert rec["topics"]["duplicate"] == rec["expected_duplicates"]
    assert s["latency_s"]["p50"] is not None and s["latency_s"]["p99"] >= s["latency_s"]["p50"]
    assert s["throughput_receipts_per_s"] > 0
    assert len(s["workers"]) == 2 and all(w["receipts"] > 0 for w in s["workers"])
    assert any(c["campaign"] == "base" and c["points"] > 0 for c in s["campaigns"])
    assert s["points_liability"] > 0
    assert s["example_customer"]["customer_id"] in s["example_customer"]["balance_output"]

    png = run_dir / "throughput.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Reconciled" in out
    for w in s["workers"]:
        assert Path(w["log"]).exists()

    # everything stopped: the broker and Redis (their command lines name the run folder) and
    # the workers (their metrics ports no longer answer)
    leftover = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", f"processes left running: {leftover.stdout}"
    for w in s["workers"]:
        host, port = w["metrics"].split("//")[1].split("/")[0].split(":")
        with socket.socket() as sock:
            assert sock.connect_ex((host, int(port))) != 0, f"{w['name']} still serves metrics"
