"""Smoke test of the quote benchmark: `benchmarks/quote/run.py` with tiny numbers completes, every
quote it sends is answered 200, and it writes its results and its README section (into a
temporary folder; the real README is left alone). About 30 s: redis-server (over its unix socket,
as a sidecar), history, server pinned to a core, load client, and wrk and vegeta when installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "quote" / "run.py"


def test_quote_bench_runs_small(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\n## Engine\n\nkept as it is\n")
    cmd = [sys.executable, str(RUN), "--history", "3000", "--rate", "200", "--sweep", "100",
           "--duration", "2", "--max-duration", "2", "--out", str(tmp_path),
           "--readme", str(readme), "--pin", "--redis-socket",
           *(["--vegeta"] if shutil.which("vegeta") else [])]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert set(res["open_loop"]) == {"quote@100", "quote@200", "healthz@200"}
    for name, run in res["open_loop"].items():
        assert set(run["statuses"]) == {"200"}, (name, run["statuses"])
        assert run["requests"] == run["rate_asked"] * 2, (name, run["requests"])
        lat = run["latency_ms"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"], (name, lat)
        assert run["client_cpu_pct"] > 0, name
    if shutil.which("vegeta"):
        vg = res["vegeta"]
        assert set(vg["statuses"]) == {"200"} and vg["requests"] == 400, vg
    assert res["bodies"] > 10 and res["customers"] > 100
    if shutil.which("wrk"):
        assert res["max"]["quote"]["rps"] > 0 and res["max"]["quote"]["non_2xx"] == 0
    text = readme.read_text()
    assert "## Engine\n\nkept as it is" in text
    assert text.count("<!-- quote:start -->") == 1 and "## Quote API" in text
    assert "| POST /v1/quote at 200/s |" in text and "over a unix socket" in text
