"""Smoke test of the end-to-end benchmark: `benchmarks/e2e/run.py` with tiny numbers completes
and writes its results (into a temporary folder; the README is left alone).

It starts its own broker and redis-server and four variants one after another: about 1.5-2
minutes, hence `slow`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "e2e" / "run.py"


def test_e2e_bench_runs_small(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\n## Engine\n\nkept as it is\n")
    cmd = [sys.executable, str(RUN), "--receipts", "3000", "--duration", "3", "--rate", "500",
           "--cap", "60", "--profile-receipts", "1000", "--profile-worker-s", "5",
           "--out", str(tmp_path), "--readme", str(readme)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=540)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert set(res["catch_up"]) == {"a", "b", "c", "d", "e"}
    for v, c in res["catch_up"].items():
        assert c["state"] == "done", (v, c)
        assert c["processed"] == 3000 and c["rate"] > 0, (v, c)
        assert c["series"], v
    for v in ("a", "d"):
        lat = res["latency"][v]
        assert lat["sent"] == 1500 and lat["matched"] > 1400, lat
        assert 0 <= lat["p50_ms"] <= lat["p99_ms"], lat
    assert res["profile"]["batch_path"]["top_tottime"]
    assert res["profile"]["worker"]["top_tottime"]
    assert (tmp_path / "throughput.png").stat().st_size > 10_000
    text = readme.read_text()
    assert "## Engine\n\nkept as it is" in text
    assert text.count("<!-- e2e:start -->") == 1 and "## End to end" in text
    assert "| (d) streamproc worker, compiled engine |" in text
