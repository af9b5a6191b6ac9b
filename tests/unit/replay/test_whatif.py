"""`streamproc whatif` in one pass gives, for every campaign of either program, exactly the
figures of two separate `streamproc replay` runs of the two programs (interactions included),
counted here independently from the replays' results files."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest
import yaml

from streamproc.cli import main
from streamproc.domain.money import split_largest_remainder
from streamproc.tools.loadgen import LoadgenConfig, customer_messages, generate_messages

ROOT = Path(__file__).resolve().parents[3]
RETAIL = ROOT / "examples" / "retail-chain.yaml"
RATE_TYPES = {"points_multiplier", "next_purchase_offer"}


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    d = tmp_path_factory.mktemp("whatif")
    cfg = LoadgenConfig(seed=13, receipts=4000, customers=500, days=30)
    (d / "r.jsonl").write_bytes(b"".join(v + b"\n" for _, v in generate_messages(cfg)))
    (d / "c.jsonl").write_bytes(b"".join(v + b"\n" for _, v in customer_messages(cfg)))
    return d


def _candidate(tmp: Path, change) -> Path:
    doc = yaml.safe_load(RETAIL.read_text())
    change(doc)
    p = tmp / "candidate.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def _camp(doc, cid):
    return next(c for c in doc["campaigns"] if c["id"] == cid)


def figures_from_results(results: Path, program: Path) -> tuple[dict, Counter]:
    """Per-campaign figures by the definitions of docs/whatif.md, from a results file."""
    types = {c["id"]: c["type"] for c in yaml.safe_load(program.read_text())["campaigns"]}
    by: dict[str, Counter] = defaultdict(Counter)
    customers: dict[str, set] = defaultdict(set)
    sales: dict[str, tuple[list, list]] = {}
    totals: Counter = Counter()
    for line in results.read_bytes().splitlines():
        r = orjson.loads(line)
        if r["status"] != "applied":
            continue
        totals["discount"] += r["discount"]
        totals["points_issued"] += r["accrued"]
        totals["points_redeemed"] += r["redeemed"]
        totals["paid"] += r["paid"]
        if "original_receipt_id" in r:
            disc, rate = sales.get(r["original_receipt_id"], ([], []))
            for entries, back, what in ((disc, -r["discount"], "discount"),
                                        (rate, -r["accrued"], "points")):
                if back > 0 and entries:
                    for (cid, _), share in zip(entries, split_largest_remainder(
                            back, [a for _, a in entries]), strict=True):
                        by[cid][what] -= share
            continue
        disc, rate = [], []
        for cid in dict.fromkeys(a["campaign_id"] for a in r["applied"]):
            if cid != "base":
                by[cid]["receipts"] += 1
                if r["customer_id"]:
                    customers[cid].add(r["customer_id"])
        for a in r["applied"]:
            cid = a["campaign_id"]
            if a["kind"] == "discount":
                by[cid]["discount"] += a["amount"]
                disc.append((cid, a["amount"]))
            else:
                if cid != "base":
                    by[cid]["points"] += a["amount"]
                if cid == "base" or types[cid] in RATE_TYPES:
                    rate.append((cid, a["amount"]))
        for cid in r["held_out"]:
            by[cid]["held_out"] += 1
        if r["customer_id"] and (disc or rate):
            sales[r["receipt_id"]] = (disc, rate)
    for cid, s in customers.items():
        by[cid]["customers"] = len(s)
    by.pop("base", None)
    return by, totals


def _replay(program: Path, workload: Path, out: Path) -> dict:
    rep = out.with_suffix(".json")
    assert main(["replay", "--program", str(program), "--receipts", str(workload / "r.jsonl"),
                 "--customers", str(workload / "c.jsonl"), "--out", str(out),
                 "--report", str(rep), "--no-progress"]) == 0
    return orjson.loads(rep.read_bytes())


CHANGES = {
    "meat 15 % -> 25 %": lambda d: _camp(d, "meat-weekly-15").update(percent_bps=2500),
    "coffee budget runs out": lambda d: _camp(d, "coffee-budget-25").update(
        limits={"budget": 300_000}),
    "new campaign that never fires": lambda d: d["campaigns"].append(
        {"id": "future-x2", "type": "points_multiplier", "multiplier_bps": 20000,
         "active": {"from": "2030-01-01"}}),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_whatif_equals_two_replays(workload, tmp_path, change, capsys):
    cand = _candidate(tmp_path, CHANGES[change])
    out = tmp_path / "out"
    assert main(["whatif", "--baseline", str(RETAIL), "--candidate", str(cand),
                 "--receipts", str(workload / "r.jsonl"), "--customers",
                 str(workload / "c.jsonl"), "--out-dir", str(out), "--no-progress"]) == 0
    assert "whatif:" in capsys.readouterr().out
    rows = {r["campaign_id"]: r for r in csv.DictReader((out / "comparison.csv").open())}
    doc = orjson.loads((out / "comparison.json").read_bytes())
    ids = {c["id"] for c in yaml.safe_load(RETAIL.read_text())["campaigns"]} | \
        {c["id"] for c in yaml.safe_load(cand.read_text())["campaigns"]}
    assert set(rows) == ids  # campaigns that never fired included
    for side, program in (("baseline", RETAIL), ("candidate", cand)):
        report = _replay(program, workload, tmp_path / f"{side}.jsonl")
        want, tot = figures_from_results(tmp_path / f"{side}.jsonl", program)
        for cid in ids:
            row, w = rows[cid], want.get(cid, Counter())
            for col in ("receipts", "customers", "discount", "points", "held_out"):
                assert int(row[f"{side}_{col}"]) == w[col], (side, cid, col)
        t = doc[side]
        assert t["discount"] == tot["discount"] == report["discount_total"]
        assert t["points_issued"] == tot["points_issued"] == report["accrued_total"]
        assert t["points_redeemed"] == tot["points_redeemed"] == report["redeemed_total"]
        assert t["liability_end"] == report["points_liability"]["total"]
        assert t["paid"] == tot["paid"]
        # the campaigns' net figures add up to the totals (base points are the rest)
        assert sum(int(r[f"{side}_discount"]) for r in rows.values()) == t["discount"]
    changed = {cid for cid, r in rows.items()
               if (r["baseline_discount"], r["baseline_points"]) !=
               (r["candidate_discount"], r["candidate_points"])}
    if change == "new campaign that never fires":
        assert changed == set() and rows["future-x2"]["in_baseline"] == "false"
        assert rows["future-x2"]["candidate_receipts"] == "0"
    else:
        assert changed  # the change shows
    if change == "coffee budget runs out":
        r = rows["coffee-budget-25"]
        assert r["candidate_budget_used_bps"] == str(
            int(r["candidate_budget_spent"]) * 10_000 // 300_000)
        assert r["candidate_budget_exhausted_day"].startswith("2026-11-")
        assert r["baseline_budget_exhausted_day"] == ""
    assert doc["baseline"]["program_version"] != doc["candidate"]["program_version"]
