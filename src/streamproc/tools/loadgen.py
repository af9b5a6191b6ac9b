"""A deterministic synthetic retail chain: customers, a catalogue and a stream of POS receipts.

Everything here follows the receipt and profile formats of docs/spec.md (sections 2 and 3) and
matches `examples/retail-chain.yaml`: its categories, SKUs and coupon codes exist in the
generated catalogue and receipts.

Determinism: every random draw comes from one `random.Random` per stream, seeded from
`LoadgenConfig.seed` (never the global `random`), so the same config gives the same bytes.
The catalogue (SKUs, categories, prices) does not depend on the seed: it is the same chain in
every run, as the program refers to its SKUs.

What a run of `receipts` messages holds (shares in basis points of all messages):
- sales; `anonymous_share_bps` of them without a card (`customer_id: null`);
- returns (`return_share_bps`): partial or whole returns of an earlier sale of the same
  customer generated earlier in the same run, 1 hour to 29 days after it, never more units
  than were sold and not yet returned;
- exact duplicates (`duplicate_share_bps`): the bytes of one of the last few hundred sales;
- bad messages (`bad_share_bps`): not JSON, schema errors (qty 0, missing ts, ...), returns of
  unknown receipts.

Kafka keys (spec section 2): a receipt's key is its `customer_id`, or its `receipt_id` when
anonymous. `generate_messages` yields `(key, value)` pairs with that key (for a bad message, the
key of the receipt it was made from); `receipt_key(raw)` recovers the key from a message's bytes
(None when they are not a JSON object), e.g. to produce a JSONL file to Kafka.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from streamproc.tools.chain import (
    BASKET_SIZES,
    HOURLY_TRAFFIC,
    MULTI_USE_CODES,
    REDEEM_AMOUNTS,
    SEGMENT_BASKETS,
    SEGMENTS,
    SINGLE_USE_CODES,
    TABLE_SIZE,
    UNKNOWN_CODES,
    build_catalogue,
    pick_table,
    sku_weights,
)
from streamproc.tools.progress import progress_bar

# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class LoadgenConfig:
    """What to generate. Shares are basis points of all `receipts` messages (10000 = 100 %),
    except `anonymous_share_bps`, which is a share of the sales."""

    seed: int = 42
    receipts: int = 200_000
    customers: int = 20_000
    stores: int = 50
    start: str = "2026-11-01T08:00:00+03:00"
    days: int = 30
    anonymous_share_bps: int = 1500
    bad_share_bps: int = 20
    return_share_bps: int = 300
    duplicate_share_bps: int = 50
    redeem_share_bps: int = 700  # identified sales that ask to pay with points
    coupon_share_bps: int = 400  # sales that carry coupon codes
    profile_share_bps: int = 9000  # customers who have a profile record
    terminals_per_store: int = 8

    def __post_init__(self) -> None:
        if self.receipts < 0:
            raise ValueError("receipts must be >= 0")
        if self.customers < 1 or self.stores < 1 or self.days < 1 or self.terminals_per_store < 1:
            raise ValueError("customers, stores, days and terminals_per_store must be >= 1")
        start = dt.datetime.fromisoformat(self.start)
        if start.utcoffset() is None:
            raise ValueError(f"start needs an offset: {self.start!r}")
        shares = (self.bad_share_bps, self.duplicate_share_bps, self.return_share_bps)
        for name in (
            "anonymous_share_bps", "bad_share_bps", "return_share_bps", "duplicate_share_bps",
            "redeem_share_bps", "coupon_share_bps", "profile_share_bps",
        ):  # fmt: skip
            if not 0 <= getattr(self, name) <= 10000:
                raise ValueError(f"{name} must be within 0..10000")
        if sum(shares) > 10000:
            raise ValueError("bad + duplicate + return shares exceed 10000 bps")


@dataclass
class LoadgenStats:
    """Counts of what a run produced, filled in while it is consumed."""

    messages: int = 0
    sales: int = 0
    anonymous: int = 0
    returns: int = 0
    duplicates: int = 0
    bad: int = 0
    bad_by_kind: dict[str, int] = field(default_factory=dict)
    redeem_requests: int = 0
    with_coupons: int = 0
    lines: int = 0

    def as_rows(self) -> list[tuple[str, int]]:
        rows = [
            ("messages", self.messages),
            ("sales", self.sales),
            ("  anonymous", self.anonymous),
            ("  with redeem", self.redeem_requests),
            ("  with coupons", self.with_coupons),
            ("  lines", self.lines),
            ("returns", self.returns),
            ("duplicates", self.duplicates),
            ("bad", self.bad),
        ]
        rows += [(f"  {k}", v) for k, v in sorted(self.bad_by_kind.items())]
        return rows


# ----------------------------------------------------------------------------- generation limits

_RETURN_MIN_AGE = 3600  # a return comes at least an hour after its sale
_RETURN_MAX_AGE = 29 * 86400  # and within the 30-day return window, with a day to spare
_DUP_RING = 256  # duplicates repeat one of the last few hundred sales
_RETURNABLE_RING = 20_000  # sales that may still be returned


# ----------------------------------------------------------------------------- customers


@dataclass(frozen=True)
class Customer:
    customer_id: str
    birthday: str | None
    segments: tuple[str, ...]
    home_store: int  # index into the stores
    has_profile: bool


def _customer_rng(cfg: LoadgenConfig) -> random.Random:
    return random.Random(f"loadgen:{cfg.seed}:customers")


def build_customers(cfg: LoadgenConfig) -> list[Customer]:
    """The chain's cardholders, `C000001`...; about 0.3 % were born on 29 February."""
    rng = _customer_rng(cfg)
    out: list[Customer] = []
    for n in range(1, cfg.customers + 1):
        year = rng.randint(1950, 2008)
        if rng.random() < 0.003:
            year = rng.choice((1952, 1960, 1972, 1984, 1988, 1996, 2000, 2004))
            birthday = f"{year}-02-29"
        else:
            day = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))
            birthday = day.isoformat()
        segs = tuple(s for s, p in SEGMENTS if rng.random() < p)
        home = rng.randrange(cfg.stores)
        has_profile = rng.random() * 10000 < cfg.profile_share_bps
        out.append(Customer(f"C{n:06d}", birthday, segs, home, has_profile))
    return out


def generate_customers(cfg: LoadgenConfig) -> Iterator[dict]:
    """Profile records (spec section 3) of the customers who have one (`profile_share_bps`)."""
    for c in build_customers(cfg):
        if c.has_profile:
            yield {
                "customer_id": c.customer_id,
                "birthday": c.birthday,
                "segments": list(c.segments),
            }


def customer_messages(cfg: LoadgenConfig) -> Iterator[tuple[bytes, bytes]]:
    """`(key, value)` pairs for the compacted `customers` topic."""
    for p in generate_customers(cfg):
        yield p["customer_id"].encode(), orjson.dumps(p)


# ----------------------------------------------------------------------------- time


class _Clock:
    """Receipt times from `start` to the local midnight that ends day `days` (with the defaults,
    2026-11-01 08:00 .. 2026-12-01 00:00), spread by local clock hour as `HOURLY_TRAFFIC`, in
    slot order (so they grow; receipts add a little jitter). Formats ISO 8601 strings in the
    offset of `start` (Moscow has no DST, so a fixed offset is exact)."""

    def __init__(self, cfg: LoadgenConfig) -> None:
        start = dt.datetime.fromisoformat(cfg.start)
        offset = start.utcoffset()
        if offset is None:
            raise ValueError(f"start needs an offset: {cfg.start!r}")
        self.n = max(1, cfg.receipts)
        days = max(1, cfg.days)
        self.start_sod = start.hour * 3600 + start.minute * 60 + start.second
        off = int(offset.total_seconds())
        sign = "+" if off >= 0 else "-"
        self.suffix = f"{sign}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
        first = start.date()
        self.dates = [(first + dt.timedelta(days=d)).isoformat() for d in range(days + 3)]
        self.hhmm = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]
        self.ss = [f"{s:02d}" for s in range(60)]
        self.span = days * 86400 - self.start_sod
        if self.span <= 0:
            raise ValueError("days must reach past the start time")
        # Buckets at local clock-hour boundaries: (offset from start, length, cumulative share).
        starts: list[int] = []
        lengths: list[int] = []
        weights: list[float] = []
        t = 0
        while t < self.span:
            local = self.start_sod + t
            length = min(3600 - local % 3600, self.span - t)
            starts.append(t)
            lengths.append(length)
            weights.append(HOURLY_TRAFFIC[local // 3600 % 24] * length)
            t += length
        total = sum(weights)
        acc = 0.0
        cum = []
        for w in weights:
            acc += w
            cum.append(acc / total)
        cum[-1] = 1.0
        self.b_start, self.b_len, self.b_cum = starts, lengths, cum
        self.b_lo = [0.0, *cum[:-1]]

    def offset(self, i: int) -> int:
        """Seconds after `start` of the i-th of `n` receipt slots."""
        u = (i + 0.5) / self.n
        b = bisect.bisect_right(self.b_cum, u)
        if b >= len(self.b_cum):
            b = len(self.b_cum) - 1
        lo = self.b_lo[b]
        frac = (u - lo) / (self.b_cum[b] - lo)
        return self.b_start[b] + int(frac * self.b_len[b])

    def clamp(self, off: int) -> int:
        """Keep jittered times inside the run's window."""
        return 0 if off < 0 else (self.span - 1 if off >= self.span else off)

    def format(self, off: int) -> str:
        local = self.start_sod + off
        day, sod = divmod(local, 86400)
        return f"{self.dates[day]}T{self.hhmm[sod // 60]}{self.ss[sod % 60]}{self.suffix}"


# ----------------------------------------------------------------------------- receipts


def receipt_key(raw: bytes) -> bytes | None:
    """The Kafka key of a receipt message: `customer_id`, or `receipt_id` when anonymous;
    None when the bytes are not a JSON object with either."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(msg, dict):
        return None
    key = msg.get("customer_id") or msg.get("receipt_id")
    return key.encode() if isinstance(key, str) and key else None


def generate_receipts(cfg: LoadgenConfig, stats: LoadgenStats | None = None) -> Iterator[bytes]:
    """Receipt messages as raw JSON bytes (orjson), one per message, bad ones included."""
    for _key, value in generate_messages(cfg, stats):
        yield value


def generate_messages(
    cfg: LoadgenConfig, stats: LoadgenStats | None = None
) -> Iterator[tuple[bytes | None, bytes]]:
    """`(key, value)` pairs of the `receipts` topic; see the module docstring."""
    st = stats if stats is not None else LoadgenStats()
    rng = random.Random(f"loadgen:{cfg.seed}:receipts")
    rnd = rng.random
    catalogue = build_catalogue()
    cat_skus = [(s.sku, s.category, s.unit_price, s.qty_profile) for s in catalogue]
    main_table = sku_weights(catalogue, None)
    seg_tables = {seg: (p, sku_weights(catalogue, cats)) for seg, p, cats in SEGMENT_BASKETS}
    size_table = pick_table([s for s, _ in BASKET_SIZES], [w for _, w in BASKET_SIZES])
    customers = build_customers(cfg)
    cust_ids = [c.customer_id for c in customers]
    cust_home = [c.home_store for c in customers]
    cust_extra = [tuple(seg_tables[s] for s in c.segments if s in seg_tables) for c in customers]
    n_cust = len(customers)
    stores = [f"S{k:03d}" for k in range(1, cfg.stores + 1)]
    store_seq = [0] * cfg.stores
    terminals = max(1, cfg.terminals_per_store)
    clock = _Clock(cfg)
    fmt = clock.format
    clamp = clock.clamp

    bad_cut = cfg.bad_share_bps
    dup_cut = bad_cut + cfg.duplicate_share_bps
    ret_cut = dup_cut + cfg.return_share_bps
    anon_bps = cfg.anonymous_share_bps
    redeem_bps = cfg.redeem_share_bps
    coupon_bps = cfg.coupon_share_bps

    recent_sales: deque[tuple[bytes | None, bytes]] = deque(maxlen=_DUP_RING)
    # Returnable sales: [receipt_id, customer index, ts offset, {line_no: qty left}]
    returnable: list[list] = []
    returnable_pos = 0

    def new_receipt_id(store: int) -> str:
        store_seq[store] += 1
        term = int(rnd() * terminals) + 1
        return f"{stores[store]}-T{term:02d}-{store_seq[store]:06d}"

    def make_sale(off: int, anonymous: bool) -> tuple[bytes, dict, int, int]:
        cust = -1 if anonymous else int(n_cust * rnd() ** 2.2)  # a few customers shop a lot
        store = cust_home[cust] if cust >= 0 and rnd() < 0.8 else int(rnd() * len(stores))
        rid = new_receipt_id(store)
        size = size_table[int(rnd() * TABLE_SIZE)]
        picks = [main_table[int(rnd() * TABLE_SIZE)] for _ in range(size)]
        if cust >= 0:
            for p, table in cust_extra[cust]:
                if rnd() < p:
                    picks.append(table[int(rnd() * TABLE_SIZE)])
                    if rnd() < 0.3:
                        picks.append(table[int(rnd() * TABLE_SIZE)])
        lines = []
        for ln, k in enumerate(picks, 1):
            sku, cat, price, qp = cat_skus[k]
            lines.append(
                {
                    "line_no": ln,
                    "sku": sku,
                    "category": cat,
                    "qty": qp[int(rnd() * len(qp))],
                    "unit_price": price,
                }
            )
        jitter = int(rnd() * 181) - 90
        ts_off = clamp(off + jitter)
        msg: dict[str, object] = {
            "receipt_id": rid,
            "store_id": stores[store],
            "customer_id": None if anonymous else cust_ids[cust],
            "ts": fmt(ts_off),
            "kind": "sale",
            "lines": lines,
        }
        if not anonymous and rnd() * 10000 < redeem_bps:
            msg["redeem"] = REDEEM_AMOUNTS[int(rnd() * len(REDEEM_AMOUNTS))]
        if rnd() * 10000 < coupon_bps:
            msg["coupons"] = _coupons(rnd)
        key = rid.encode() if anonymous else cust_ids[cust].encode()
        return key, msg, ts_off, cust

    def find_return(off: int) -> tuple[list, int] | None:
        n = len(returnable)
        for _ in range(8):
            if not n:
                return None
            j = n - 1 - int(n * rnd() ** 3)  # mostly recent sales come back
            rec = returnable[j]
            age = off - rec[2]
            if age > _RETURN_MAX_AGE or not rec[3]:
                continue
            ts_off = max(off, rec[2] + _RETURN_MIN_AGE)
            if ts_off - rec[2] > _RETURN_MAX_AGE:
                continue
            return rec, ts_off
        return None

    for i in range(cfg.receipts):
        off = clock.offset(i)
        roll = rnd() * 10000
        st.messages += 1
        if roll < bad_cut:
            key, msg, _, _ = make_sale(off, anonymous=rnd() * 10000 < anon_bps)
            kind, raw = _make_bad(rnd, msg)
            key = receipt_key(raw) or key  # not JSON: the key of the receipt it came from
            st.bad += 1
            st.bad_by_kind[kind] = st.bad_by_kind.get(kind, 0) + 1
            yield key, raw
            continue
        if roll < dup_cut and recent_sales:
            st.duplicates += 1
            yield recent_sales[int(rnd() * len(recent_sales))]
            continue
        if roll < ret_cut and roll >= dup_cut:
            found = find_return(off)
            if found is not None:
                rec, ts_off = found
                rid_o, cust, _sale_off, left = rec
                ret_lines = []
                whole = rnd() < 0.3
                chosen = sorted(left)
                if not whole and len(chosen) > 1:
                    chosen = sorted(rng.sample(chosen, 1 + int(rnd() * min(3, len(chosen)))))
                for line_no in chosen:
                    q_left = left[line_no]
                    q = q_left if whole else 1 + int(rnd() * q_left)
                    ret_lines.append({"line_no": line_no, "qty": q})
                    if q == q_left:
                        del left[line_no]
                    else:
                        left[line_no] = q_left - q
                store = cust_home[cust] if rnd() < 0.9 else int(rnd() * len(stores))
                msg = {
                    "receipt_id": new_receipt_id(store),
                    "store_id": stores[store],
                    "customer_id": cust_ids[cust],
                    "ts": fmt(ts_off),
                    "kind": "return",
                    "original_receipt_id": rid_o,
                    "lines": ret_lines,
                }
                st.returns += 1
                yield cust_ids[cust].encode(), orjson.dumps(msg)
                continue
        anonymous = rnd() * 10000 < anon_bps
        key, msg, ts_off, cust = make_sale(off, anonymous)
        raw = orjson.dumps(msg)
        st.sales += 1
        st.lines += len(msg["lines"])
        if anonymous:
            st.anonymous += 1
        else:
            if "redeem" in msg:
                st.redeem_requests += 1
            rec = [
                msg["receipt_id"],
                cust,
                ts_off,
                {ln["line_no"]: ln["qty"] for ln in msg["lines"]},
            ]
            if len(returnable) < _RETURNABLE_RING:
                returnable.append(rec)
            else:
                returnable[returnable_pos] = rec
                returnable_pos = (returnable_pos + 1) % _RETURNABLE_RING
        if "coupons" in msg:
            st.with_coupons += 1
        recent_sales.append((key, raw))
        yield key, raw


def _coupons(rnd: Callable[[], float]) -> list[str]:
    out = []
    for _ in range(1 if rnd() < 0.85 else 2):
        r = rnd()
        if r < 0.5:
            code = MULTI_USE_CODES[int(rnd() * len(MULTI_USE_CODES))]
        elif r < 0.75:
            code = SINGLE_USE_CODES[int(rnd() * len(SINGLE_USE_CODES))]
        else:
            code = UNKNOWN_CODES[int(rnd() * len(UNKNOWN_CODES))]
        if code not in out:
            out.append(code)
    return out


_SCHEMA_ERRORS = (
    "qty_zero",
    "qty_too_big",
    "missing_ts",
    "ts_without_offset",
    "negative_price",
    "float_price",
    "empty_lines",
    "duplicate_line_no",
    "long_receipt_id",
    "missing_sku",
    "bad_kind",
    "empty_customer_id",
    "too_many_coupons",
)


def _make_bad(rnd: Callable[[], float], msg: dict) -> tuple[str, bytes]:
    """Spoil a fresh sale: (kind, raw bytes). Kinds: `invalid_json`, `schema`,
    `unknown_original_receipt`."""
    r = rnd()
    if r < 0.35:
        raw = orjson.dumps(msg)
        v = int(rnd() * 4)
        if v == 0:
            raw = raw[: max(1, int(len(raw) * (0.2 + 0.6 * rnd())))]  # cut off in transit
        elif v == 1:
            raw = raw[:-1] + b',"redeem":NaN}'  # NaN is not JSON
        elif v == 2:
            raw = raw[:-1] + b",}"  # trailing comma
        else:
            raw = b"POS heartbeat " + msg["receipt_id"].encode()
        return "invalid_json", raw
    if r < 0.85:
        what = _SCHEMA_ERRORS[int(rnd() * len(_SCHEMA_ERRORS))]
        lines = msg["lines"]
        line = lines[int(rnd() * len(lines))]
        if what == "qty_zero":
            line["qty"] = 0
        elif what == "qty_too_big":
            line["qty"] = 100_001
        elif what == "missing_ts":
            del msg["ts"]
        elif what == "ts_without_offset":
            msg["ts"] = msg["ts"][:19]
        elif what == "negative_price":
            line["unit_price"] = -line["unit_price"]
        elif what == "float_price":
            line["unit_price"] = line["unit_price"] + 0.5
        elif what == "empty_lines":
            msg["lines"] = []
        elif what == "duplicate_line_no":
            lines.append(dict(lines[0]))
        elif what == "long_receipt_id":
            msg["receipt_id"] = (msg["receipt_id"] + "-") * 6
        elif what == "missing_sku":
            del line["sku"]
        elif what == "bad_kind":
            msg["kind"] = "refund"
        elif what == "empty_customer_id":
            msg["customer_id"] = ""
        else:
            msg["coupons"] = [f"CODE{k}" for k in range(21)]
        return "schema", orjson.dumps(msg)
    ret = {
        "receipt_id": msg["receipt_id"],
        "store_id": msg["store_id"],
        "customer_id": msg["customer_id"] or f"C{int(rnd() * 999999):06d}",
        "ts": msg["ts"],
        "kind": "return",
        "original_receipt_id": f"LOST-{msg['receipt_id']}",
        "lines": [{"line_no": 1, "qty": 1}],
    }
    return "unknown_original_receipt", orjson.dumps(ret)


# ----------------------------------------------------------------------------- writers


def write_jsonl(
    path: str | Path,
    iterable: Iterable[bytes | dict],
    progress: bool = True,
    total: int | None = None,
    description: str = "writing",
) -> int:
    """Write one message per line (bytes as they are, dicts through orjson); returns the count.
    A progress bar (rich) is shown when `progress` is true."""
    n = 0
    step = 2048
    with open(path, "wb", buffering=1 << 20) as f:
        write = f.write
        if not progress:
            for item in iterable:
                write(item if isinstance(item, bytes) else orjson.dumps(item))
                write(b"\n")
                n += 1
            return n
        with progress_bar(total, description) as bar:
            task = bar.add_task(description, total=total)
            for item in iterable:
                write(item if isinstance(item, bytes) else orjson.dumps(item))
                write(b"\n")
                n += 1
                if not n % step:
                    bar.advance(task, step)
            bar.update(task, completed=n)
    return n
