"""The synthetic chain generator: determinism, shares, and every message as the spec wants it."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import orjson
import pytest
import yaml

from streamproc.domain.result import AppliedResult
from streamproc.tools.chain import (
    MULTI_USE_CODES,
    SINGLE_USE_CODES,
    UNKNOWN_CODES,
    build_catalogue,
    catalogue_categories,
)
from streamproc.tools.loadgen import (
    LoadgenConfig,
    LoadgenStats,
    customer_messages,
    generate_customers,
    generate_messages,
    generate_receipts,
    receipt_key,
    write_jsonl,
)

ROOT = Path(__file__).resolve().parents[3]
PROGRAM = ROOT / "examples" / "retail-chain.yaml"
SMALL = LoadgenConfig(receipts=20_000, customers=3_000)
WINDOW_START = dt.datetime.fromisoformat("2026-11-01T08:00:00+03:00")
WINDOW_END = dt.datetime.fromisoformat("2026-12-01T00:00:00+03:00")
DAY = 86400


# ----------------------------------------------------------------------------- a spec validator


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _id_ok(v: object) -> bool:
    return isinstance(v, str) and 1 <= len(v) <= 64


def spec_error(msg: object) -> str | None:
    """Spec section 2, as a small independent check: None when the message is a valid receipt."""
    if not isinstance(msg, dict):
        return "not an object"
    if not _id_ok(msg.get("receipt_id")):
        return "receipt_id"
    ts = msg.get("ts")
    if not isinstance(ts, str):
        return "ts"
    try:
        parsed = dt.datetime.fromisoformat(ts)
    except ValueError:
        return "ts"
    if parsed.utcoffset() is None:
        return "ts offset"
    if "store_id" in msg and not isinstance(msg["store_id"], str):
        return "store_id"
    cid = msg.get("customer_id")
    if cid is not None and not (isinstance(cid, str) and cid):
        return "customer_id"
    kind = msg.get("kind", "sale")
    if kind not in ("sale", "return"):
        return "kind"
    lines = msg.get("lines")
    if not isinstance(lines, list) or not 1 <= len(lines) <= 500:
        return "lines"
    seen = set()
    for line in lines:
        if not isinstance(line, dict):
            return "line"
        ln = line.get("line_no")
        if not _is_int(ln) or ln in seen:
            return "line_no"
        seen.add(ln)
        qty = line.get("qty")
        if not _is_int(qty) or not 1 <= qty <= 100_000:
            return "qty"
        if kind == "sale":
            for f in ("sku", "category"):
                if not (isinstance(line.get(f), str) and line[f]):
                    return f
            price = line.get("unit_price")
            if not _is_int(price) or not 0 <= price <= 10**10:
                return "unit_price"
    if kind == "return" and not _id_ok(msg.get("original_receipt_id")):
        return "original_receipt_id"
    if "redeem" in msg and not (_is_int(msg["redeem"]) and msg["redeem"] >= 0):
        return "redeem"
    coupons = msg.get("coupons", [])
    if not isinstance(coupons, list) or len(coupons) > 20:
        return "coupons"
    if not all(isinstance(c, str) and c for c in coupons):
        return "coupons"
    return None


def _ts(msg: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(msg["ts"])


class Checked:
    """One pass over a run: sorts every message into sale / return / duplicate / bad, checking
    returns against the sales generated before them."""

    def __init__(self, cfg: LoadgenConfig) -> None:
        self.cfg = cfg
        self.stats = LoadgenStats()
        self.pairs = list(generate_messages(cfg, self.stats))
        self.sales: dict[str, dict] = {}
        self.returns: list[dict] = []
        self.duplicates = 0
        self.bad: list[bytes] = []
        self.bad_reasons: Counter[str] = Counter()
        self.problems: list[str] = []
        seen_raw: set[bytes] = set()
        returned: Counter[tuple[str, int]] = Counter()
        for key, raw in self.pairs:
            if raw in seen_raw:
                self.duplicates += 1
                continue
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError:
                self._bad(raw, "invalid_json")
                continue
            if spec_error(msg) is not None:
                self._bad(raw, "schema")
                continue
            seen_raw.add(raw)
            expected_key = (msg.get("customer_id") or msg["receipt_id"]).encode()
            if key != expected_key or receipt_key(raw) != expected_key:
                self.problems.append(f"key of {msg['receipt_id']}")
            if msg.get("kind", "sale") == "sale":
                if msg["receipt_id"] in self.sales:
                    self.problems.append(f"receipt_id reused: {msg['receipt_id']}")
                self.sales[msg["receipt_id"]] = msg
                continue
            sale = self.sales.get(msg["original_receipt_id"])
            if sale is None:
                self._bad(raw, "unknown_original_receipt")
                continue
            self.returns.append(msg)
            rid = msg["receipt_id"]
            if sale["customer_id"] is None or sale["customer_id"] != msg["customer_id"]:
                self.problems.append(f"{rid}: not the sale's customer")
            age = (_ts(msg) - _ts(sale)).total_seconds()
            if not 0 < age < 30 * DAY:
                self.problems.append(f"{rid}: {age / DAY:.2f} days after its sale")
            sold = {ln["line_no"]: ln["qty"] for ln in sale["lines"]}
            for ln in msg["lines"]:
                k = (sale["receipt_id"], ln["line_no"])
                returned[k] += ln["qty"]
                if ln["line_no"] not in sold:
                    self.problems.append(f"{rid}: line {ln['line_no']} not in the sale")
                elif returned[k] > sold[ln["line_no"]]:
                    self.problems.append(f"{rid}: returns more than sold")

    def _bad(self, raw: bytes, reason: str) -> None:
        self.bad.append(raw)
        self.bad_reasons[reason] += 1


@pytest.fixture(scope="module")
def small() -> Checked:
    return Checked(SMALL)


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes() -> None:
    cfg = LoadgenConfig(receipts=3_000, customers=500)
    assert list(generate_receipts(cfg)) == list(generate_receipts(cfg))
    assert list(generate_customers(cfg)) == list(generate_customers(cfg))


def test_different_seed_differs() -> None:
    a = list(generate_receipts(LoadgenConfig(receipts=2_000, customers=500, seed=1)))
    b = list(generate_receipts(LoadgenConfig(receipts=2_000, customers=500, seed=2)))
    assert len(a) == len(b) == 2_000
    assert a != b
    assert sum(x == y for x, y in zip(a, b, strict=True)) < 20


def test_generate_receipts_matches_messages() -> None:
    cfg = LoadgenConfig(receipts=1_000, customers=300)
    assert list(generate_receipts(cfg)) == [v for _, v in generate_messages(cfg)]


# ----------------------------------------------------------------------------- contents


def test_every_good_message_follows_the_spec(small: Checked) -> None:
    assert not small.problems, small.problems[:10]
    assert len(small.pairs) == SMALL.receipts == small.stats.messages
    assert len(small.sales) == small.stats.sales
    assert len(small.returns) == small.stats.returns
    assert small.duplicates == small.stats.duplicates
    assert len(small.bad) == small.stats.bad
    assert dict(small.bad_reasons) == small.stats.bad_by_kind


def test_shares_roughly_as_configured(small: Checked) -> None:
    n = SMALL.receipts
    st = small.stats
    assert st.sales + st.returns + st.duplicates + st.bad == n
    assert abs(st.returns - n * 0.03) < n * 0.006
    assert abs(st.duplicates - n * 0.005) < n * 0.002
    assert abs(st.bad - n * 0.002) < n * 0.0012
    assert abs(st.anonymous / st.sales - 0.15) < 0.015
    assert 0.04 < st.redeem_requests / (st.sales - st.anonymous) < 0.10
    assert 0.02 < st.with_coupons / st.sales < 0.06


def test_bad_share_is_configurable() -> None:
    cfg = LoadgenConfig(receipts=10_000, customers=1_000, bad_share_bps=500)
    chk = Checked(cfg)
    assert not chk.problems
    assert abs(len(chk.bad) - 500) < 100
    assert set(chk.bad_reasons) == {"invalid_json", "schema", "unknown_original_receipt"}
    none = Checked(LoadgenConfig(receipts=5_000, customers=1_000, bad_share_bps=0))
    assert not none.bad


def test_returns_are_partial_and_whole(small: Checked) -> None:
    partial = whole = 0
    for r in small.returns:
        sale = small.sales[r["original_receipt_id"]]
        sold = sum(ln["qty"] for ln in sale["lines"])
        if sum(ln["qty"] for ln in r["lines"]) < sold:
            partial += 1
        else:
            whole += 1
    assert partial > whole > 0


def test_duplicates_repeat_recent_sales(small: Checked) -> None:
    seen: dict[bytes, int] = {}
    for i, (_key, raw) in enumerate(small.pairs):
        if raw in seen:
            msg = orjson.loads(raw)
            assert msg.get("kind", "sale") == "sale"
            assert i - seen[raw] < 2_000
        else:
            seen[raw] = i


def test_times_cover_the_window_in_order(small: Checked) -> None:
    times = [_ts(m) for m in small.sales.values()]
    assert min(times) >= WINDOW_START
    assert max(times) < WINDOW_END
    assert {t.date() for t in times} == {dt.date(2026, 11, d) for d in range(1, 31)}, (
        "every day of November"
    )
    assert all(t.utcoffset() == dt.timedelta(hours=3) for t in times)
    running = times[0]
    for t in times:
        assert (running - t).total_seconds() <= 200  # monotonic-ish: jitter only
        running = max(running, t)
    hours = Counter(t.hour for t in times)
    assert hours[19] > 10 * hours[3] > 0  # evening rush, a trickle at night


def test_baskets_and_prices_look_like_a_grocery(small: Checked) -> None:
    sizes = [len(m["lines"]) for m in small.sales.values()]
    assert 7.0 < sum(sizes) / len(sizes) < 9.5
    assert sum(1 <= s <= 15 for s in sizes) / len(sizes) > 0.85
    totals = [sum(ln["qty"] * ln["unit_price"] for ln in m["lines"]) for m in small.sales.values()]
    avg_rub = sum(totals) / len(totals) / 100
    assert 1000 < avg_rub < 4000


def test_coupons_and_redeem(small: Checked) -> None:
    codes = Counter(c for m in small.sales.values() for c in m.get("coupons", []))
    known = set(MULTI_USE_CODES) | set(SINGLE_USE_CODES)
    assert any(c in known for c in codes) and any(c in UNKNOWN_CODES for c in codes)
    assert set(codes) <= known | set(UNKNOWN_CODES)
    anon_redeem = [m for m in small.sales.values() if m["customer_id"] is None and "redeem" in m]
    assert not anon_redeem


def test_customers_profiles() -> None:
    cfg = LoadgenConfig(customers=20_000)
    profiles = list(generate_customers(cfg))
    assert 0.85 < len(profiles) / cfg.customers < 0.95
    ids = [p["customer_id"] for p in profiles]
    assert len(set(ids)) == len(ids)
    feb29 = 0
    segments: Counter[str] = Counter()
    for p in profiles:
        assert set(p) == {"customer_id", "birthday", "segments"}
        dt.date.fromisoformat(p["birthday"])  # a real date
        feb29 += p["birthday"].endswith("-02-29")
        segments.update(p["segments"])
    assert feb29 > 10
    assert {"parents", "pets", "students", "sport"} <= set(segments)
    pairs = list(customer_messages(LoadgenConfig(customers=100)))
    assert all(k == orjson.loads(v)["customer_id"].encode() for k, v in pairs)


def test_receipt_key() -> None:
    assert receipt_key(b'{"receipt_id": "R1", "customer_id": "C1"}') == b"C1"
    assert receipt_key(b'{"receipt_id": "R1", "customer_id": null}') == b"R1"
    assert receipt_key(b'{"receipt_id": "R1"}') == b"R1"
    assert receipt_key(b"not json") is None
    assert receipt_key(b"[1, 2]") is None


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        LoadgenConfig(start="2026-11-01T08:00:00")
    with pytest.raises(ValueError):
        LoadgenConfig(bad_share_bps=20_000)
    with pytest.raises(ValueError):
        LoadgenConfig(stores=0)


# ----------------------------------------------------------------------------- the program


def _program() -> dict:
    return yaml.safe_load(PROGRAM.read_text())


def _targets(c: dict) -> list[dict]:
    out = [c[k] for k in ("target",) if k in c]
    out += [comp["target"] for comp in c.get("components", [])]
    if "offer" in c and "target" in c["offer"]:
        out.append(c["offer"]["target"])
    return out


def test_program_targets_exist_in_the_catalogue() -> None:
    cats = catalogue_categories()
    skus = {s.sku for s in build_catalogue()}
    program = _program()
    for c in program["campaigns"]:
        for t in _targets(c):
            for cat in t.get("categories", []) + t.get("exclude", {}).get("categories", []):
                assert any(x == cat or x.startswith(cat + "/") for x in cats), (c["id"], cat)
            for sku in t.get("skus", []) + t.get("exclude", {}).get("skus", []):
                assert sku in skus, (c["id"], sku)
    for r in program["program"]["restricted"]:
        assert any(x.startswith(r["category"] + "/") for x in cats)


def test_sku_campaigns_give_something_on_catalogue_prices() -> None:
    price = {s.sku: s.unit_price for s in build_catalogue()}
    for c in _program()["campaigns"]:
        if c["type"] in ("fixed_price", "amount_off") and "skus" in c.get("target", {}):
            cut = c.get("price", 0)
            assert all(price[sku] > cut for sku in c["target"]["skus"]), c["id"]


def test_coupon_codes_match_the_program() -> None:
    codes = {}
    for c in _program()["campaigns"]:
        for code in c.get("coupon", {}).get("codes", []):
            codes[code] = c["coupon"]["single_use"]
    assert {k for k, v in codes.items() if not v} == set(MULTI_USE_CODES)
    assert {k for k, v in codes.items() if v} == set(SINGLE_USE_CODES)
    assert not set(UNKNOWN_CODES) & set(codes)


def test_budgeted_campaign_does_not_run_out_on_the_default_month(small: Checked) -> None:
    camp = next(c for c in _program()["campaigns"] if "budget" in c.get("limits", {}))
    cats = camp["target"]["categories"]
    # Upper bound of its cost: its percentage of every covered line, before any cap.
    cost = sum(
        ln["qty"] * ln["unit_price"] * camp["percent_bps"] // 10000
        for m in small.sales.values()
        for ln in m["lines"]
        if any(ln["category"] == c or ln["category"].startswith(c + "/") for c in cats)
    )
    scaled = cost * LoadgenConfig().receipts / SMALL.receipts
    assert scaled < 0.8 * camp["limits"]["budget"]


# ----------------------------------------------------------------------------- writers


def test_write_jsonl(tmp_path: Path) -> None:
    cfg = LoadgenConfig(receipts=2_000, customers=300)
    out = tmp_path / "r.jsonl"
    n = write_jsonl(out, generate_receipts(cfg), progress=True, total=cfg.receipts)
    assert n == 2_000
    assert out.read_bytes().split(b"\n")[:-1] == list(generate_receipts(cfg))
    n = write_jsonl(tmp_path / "c.jsonl", generate_customers(cfg), progress=False)
    lines = (tmp_path / "c.jsonl").read_bytes().splitlines()
    assert n == len(lines) and orjson.loads(lines[0])["customer_id"].startswith("C")


# ----------------------------------------------------------------------------- with the engine


def test_reference_engine_rejects_exactly_the_bad_messages() -> None:
    """Through the reference engine (when it is there): rejects are the bad messages, by
    reason, duplicates are duplicates, and every campaign of the program gives something."""
    try:
        from streamproc.domain.program import load_program
        from streamproc.domain.receipt import parse_profile
        from streamproc.engine.processor import Processor
        from streamproc.engine.reference import ReferenceEngine
        from streamproc.state.memory import MemoryState

        program = load_program(PROGRAM)
        proc = Processor(program, ReferenceEngine(program))
        view = MemoryState()
    except (ImportError, AttributeError, TypeError) as exc:
        pytest.skip(f"reference engine not usable here: {exc}")
    cfg = LoadgenConfig(receipts=12_000, customers=1_500, bad_share_bps=100)
    for _key, value in customer_messages(cfg):
        view.put_profile(parse_profile(value))
    stats = LoadgenStats()
    status: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    campaigns: set[str] = set()
    for raw in generate_receipts(cfg, stats):
        out = proc.process_raw(raw, view)
        status[out.status] += 1
        if out.reject:
            reasons[out.reject["reason"]] += 1
        if isinstance(out.result, AppliedResult):
            campaigns |= {a.campaign_id for a in out.result.applied}
    assert dict(reasons) == stats.bad_by_kind
    assert status["duplicate"] == stats.duplicates
    assert status["applied"] == stats.sales + stats.returns
    expected = {c["id"] for c in _program()["campaigns"]}
    assert len(expected - campaigns) <= 3, sorted(expected - campaigns)
