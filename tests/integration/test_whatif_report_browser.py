"""report.html of `streamproc whatif` opens in a real headless Chromium without a console
error or a network request, and its screenshot shows the charts (not a blank page)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml
from cdp_support import open_page
from matplotlib import image

from streamproc.cli import main
from streamproc.tools.loadgen import LoadgenConfig, customer_messages, generate_messages

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RETAIL = ROOT / "examples" / "retail-chain.yaml"
CANDIDATE_RGB = (0x2E, 0x86, 0xDE)  # replay/svg.py CAND_COLOR


def test_report_opens_without_errors_and_renders(tmp_path, capsys):
    cfg = LoadgenConfig(seed=5, receipts=3000, customers=400, days=30)
    rec, cus = tmp_path / "r.jsonl", tmp_path / "c.jsonl"
    rec.write_bytes(b"".join(v + b"\n" for _, v in generate_messages(cfg)))
    cus.write_bytes(b"".join(v + b"\n" for _, v in customer_messages(cfg)))
    doc = yaml.safe_load(RETAIL.read_text())
    coffee = next(c for c in doc["campaigns"] if c["id"] == "coffee-budget-25")
    coffee["limits"] = {"budget": 200_000}
    cand = tmp_path / "candidate.yaml"
    cand.write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    assert main(["whatif", "--baseline", str(RETAIL), "--candidate", str(cand), "--receipts",
                 str(rec), "--customers", str(cus), "--out-dir", str(out),
                 "--no-progress"]) == 0
    capsys.readouterr()
    html = out / "report.html"
    comparison = orjson.loads((out / "comparison.json").read_bytes())
    page = open_page(html.as_uri(), {
        "svgs": "[...document.querySelectorAll('svg')].map(s => "
                "[s.getBoundingClientRect().width, s.getBoundingClientRect().height])",
        "text": "document.body.innerText",
        "bars": "document.querySelectorAll('svg rect').length",
        "lines": "document.querySelectorAll('svg polyline').length",
    })
    assert page.errors == []
    assert all(u.startswith(("file:", "about:", "data:")) for u in page.requests), page.requests
    svgs = page.values["svgs"]
    assert len(svgs) >= 4 and all(w > 100 and h > 100 for w, h in svgs)
    assert page.values["bars"] > 2 * 32 and page.values["lines"] >= 3
    text = page.values["text"]
    for side in ("baseline", "candidate"):
        assert comparison[side]["program_version"] in text
    day = next(r for r in comparison["campaigns"]
               if r["campaign_id"] == "coffee-budget-25")["candidate_budget_exhausted_day"]
    assert day and f"candidate runs out {day}" in text
    (tmp_path / "report.png").write_bytes(page.png)
    px = image.imread(io.BytesIO(page.png), format="png")[..., :3]
    rgb = (px * 255).round().astype(np.int16)
    non_white = (rgb.min(axis=2) < 240).mean()
    assert non_white > 0.02, non_white  # not a blank page
    cand_px = (np.abs(rgb - np.array(CANDIDATE_RGB)).max(axis=2) <= 8).sum()
    assert cand_px > 2000, cand_px  # the candidate's bars and lines are drawn
