"""whatif against one replay on the standard workload: `python benchmarks/whatif_speed.py
--receipts 200000`. Runs `streamproc replay` (no output files, then with --out results) and
`streamproc whatif` as child processes, alternately, and reports wall and CPU seconds (user +
system, from the children's rusage) with the ratios. The candidate changes one campaign
(meat-weekly-15: 15 % -> 25 %). Figures go to benchmarks/README.md."""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT / "examples" / "retail-chain.yaml"


def timed(cmd: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--receipts", type=int, default=200_000)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--dir", default=".run/bench-whatif")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--skip-out", action="store_true", help="leave out `replay --out`")
    args = ap.parse_args()
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    rec, cus = d / f"r{args.receipts}.jsonl", d / f"c{args.receipts}.jsonl"
    sp = [sys.executable, "-m", "streamproc"]
    if not rec.exists():
        subprocess.run([*sp, "loadgen", "--receipts", str(args.receipts), "--customers",
                        str(args.customers), "--out", str(rec), "--customers-out", str(cus),
                        "--no-progress"], check=True, stdout=subprocess.DEVNULL)
    text = RETAIL.read_text()
    i = text.index("- id: meat-weekly-15")
    j = text.index("percent_bps: 1500", i)
    cand = d / "candidate.yaml"
    cand.write_text(text[:j] + "percent_bps: 2500" + text[j + len("percent_bps: 1500"):])
    common = ["--receipts", str(rec), "--customers", str(cus), "--no-progress"]
    runs = {
        "replay": [*sp, "replay", "--program", str(RETAIL), *common],
        "replay --out": [*sp, "replay", "--program", str(RETAIL), *common,
                         "--out", str(d / "results.jsonl")],
        "whatif": [*sp, "whatif", "--baseline", str(RETAIL), "--candidate", str(cand),
                   *common, "--out-dir", str(d / "whatif")],
    }
    if args.skip_out:
        del runs["replay --out"]
    got: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
    for _ in range(args.rounds):
        for name, cmd in runs.items():
            got[name].append(timed(cmd))
            print(f"{name}: wall {got[name][-1][0]:.1f} s, cpu {got[name][-1][1]:.1f} s",
                  flush=True)
    best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in got.items()}
    w0, c0 = best["replay"]
    print(f"\n{args.receipts:,} receipts, best of {args.rounds}")
    print(f"{'run':<14}{'wall s':>10}{'cpu s':>10}{'wall/replay':>13}{'cpu/replay':>12}")
    for k, (w, c) in best.items():
        print(f"{k:<14}{w:>10.1f}{c:>10.1f}{w / w0:>13.2f}{c / c0:>12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
