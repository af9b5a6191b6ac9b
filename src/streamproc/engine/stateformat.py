"""A customer's state as packed, versioned bytes (the readable twin of the compiled codec).

The Redis store keeps each customer as one blob in this format; JSON was parsed and rebuilt
for every customer of every batch. `streamproc._fastcalc.encode_state`/`decode_state` write
and read exactly the same bytes (tests/unit/engine/test_stateformat.py); the layout is in
docs/state-model.md. Integers are LEB128 varints (signed ones zigzag-coded), times are
deltas (from the clock, from activation, from issue), strings are named once in a table.
"""

from __future__ import annotations

from collections.abc import Callable

from streamproc.engine.model import Bucket, CustomerState, Offer
from streamproc.errors import StreamprocError

FORMAT_VERSION = 1
_MASK = (1 << 64) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


class CorruptState(StreamprocError, ValueError):
    """The bytes are not a customer state this code can read."""


def _i64(x: int, what: str) -> int:
    if type(x) is not int:
        raise ValueError(f"{what}: not an int")
    if not _I64_MIN <= x <= _I64_MAX:
        raise ValueError(f"{what}: {x} is outside int64")
    return x


def _zz(x: int) -> int:
    """Zigzag of a wrapped 64-bit value (x may be any int; it is taken mod 2**64)."""
    x &= _MASK
    if x >> 63:
        x -= 1 << 64
    return ((x << 1) ^ (x >> 63)) & _MASK


def _unzz(u: int) -> int:
    return (u >> 1) ^ -(u & 1)


def _wrap(x: int) -> int:
    x &= _MASK
    return x - (1 << 64) if x >> 63 else x


def _put(out: bytearray, u: int) -> None:
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)


def encode_state(st: CustomerState) -> bytes:
    """`st` as bytes (its `customer_id` is the key, not in the blob)."""
    out = bytearray((FORMAT_VERSION,))
    clock = st.clock_us
    base = 0 if clock is None else _i64(clock, "clock")
    _put(out, 0 if clock is None else 1)
    if clock is not None:
        _put(out, _zz(clock))
    for v, name in ((st.version, "version"), (st.next_bucket, "next_bucket"),
                    (st.sales, "sales")):
        if _i64(v, name) < 0:
            raise ValueError(f"{name}: {v} is negative")
    _put(out, st.version)
    _put(out, st.next_bucket)
    _put(out, _zz(_i64(st.debt, "debt")))
    _put(out, _zz(_i64(st.spend, "spend")))
    _put(out, st.sales)
    table: dict[str, int] = {}

    def idx(s: str) -> int:
        if type(s) is not str:
            raise ValueError(f"not a str: {s!r}")
        i = table.get(s)
        if i is None:
            i = table[s] = len(table)
        return i

    body = bytearray()
    _put(body, len(st.uses))
    for cid, n in st.uses.items():
        _put(body, idx(cid))
        _put(body, _zz(_i64(n, "uses")))
    _put(body, len(st.offers))
    for cid, o in st.offers.items():
        if o.campaign_id != cid:
            raise ValueError(f"offer {o.campaign_id!r} filed under {cid!r}")
        _put(body, idx(cid))
        issued = _i64(o.issued_us, "issued")
        _put(body, _zz(issued - base))
        _put(body, _zz(_i64(o.expires_us, "expires") - issued))
        if o.uses_left is None:
            body.append(0)
        else:
            body.append(1)
            _put(body, _zz(_i64(o.uses_left, "uses_left")))
    _put(body, len(st.buckets))
    for b in st.buckets:
        if b.id < 0:
            raise ValueError(f"bucket id {b.id} is negative")
        if not (0 <= b.kind <= 3 and 0 <= b.state <= 3 and 0 <= b.notes <= 7):
            raise ValueError(f"bucket {b.id}: kind/state/notes out of range")
        _put(body, _i64(b.id, "bucket id"))
        _put(body, idx(b.receipt_id))
        _put(body, idx(b.campaign_id))
        exp_us = b.exp_us
        has_exp = exp_us is not None
        body.append(b.kind | b.state << 2 | b.notes << 4 | (0x80 if has_exp else 0))
        _put(body, _zz(_i64(b.amount, "amount")))
        act = _i64(b.act_us, "act")
        _put(body, _zz(act - base))
        if exp_us is not None:
            _put(body, _zz(_i64(exp_us, "exp") - act))
        _put(body, _zz(_i64(b.burnt, "burnt")))
    _put(out, len(table))
    for s in table:
        u = s.encode("utf-8")
        _put(out, len(u))
        out += u
    out += body
    return bytes(out)


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def u(self) -> int:
        buf, pos, x, shift = self.buf, self.pos, 0, 0
        while True:
            if pos >= len(buf):
                raise CorruptState("customer state: truncated")
            c = buf[pos]
            pos += 1
            if shift == 63 and c > 1:
                raise CorruptState("customer state: varint overflows 64 bits")
            x |= (c & 0x7F) << shift
            if c < 0x80:
                break
            shift += 7
        self.pos = pos
        return x

    def s(self) -> int:
        return _unzz(self.u())

    def i64(self) -> int:
        x = self.u()
        if x > _I64_MAX:
            raise CorruptState("customer state: value outside int64")
        return x

    def byte(self) -> int:
        if self.pos >= len(self.buf):
            raise CorruptState("customer state: truncated")
        self.pos += 1
        return self.buf[self.pos - 1]


def decode_state(customer_id: str, blob: bytes) -> CustomerState:
    """The `CustomerState` in `blob` (raises `CorruptState` for anything else)."""
    if not blob or blob[0] != FORMAT_VERSION:
        raise CorruptState(f"customer state: unknown format {blob[:1]!r}")
    r = _Reader(blob)
    r.pos = 1
    flags = r.u()
    if flags > 1:
        raise CorruptState("customer state: unknown flags")
    clock = r.s() if flags else None
    base = clock or 0
    st = CustomerState(customer_id, clock)
    st.version = r.i64()
    st.next_bucket = r.i64()
    st.debt = r.s()
    st.spend = r.s()
    st.sales = r.i64()
    n = r.u()
    names: list[str] = []
    for _ in range(n):
        ln = r.u()
        end = r.pos + ln
        if end > len(blob):
            raise CorruptState("customer state: truncated")
        try:
            names.append(blob[r.pos:end].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise CorruptState("customer state: bad utf-8") from exc
        r.pos = end

    def name() -> str:
        i = r.u()
        if i >= len(names):
            raise CorruptState("customer state: bad string index")
        return names[i]

    for _ in range(r.u()):
        cid = name()
        st.uses[cid] = r.s()
    for _ in range(r.u()):
        cid = name()
        issued = _wrap(base + r.s())
        expires = _wrap(issued + r.s())
        has = r.byte()
        if has > 1:
            raise CorruptState("customer state: bad offer flags")
        st.offers[cid] = Offer(cid, issued, expires, r.s() if has else None)
    for _ in range(r.u()):
        bid = r.i64()
        rid = name()
        cid = name()
        packed = r.byte()
        amount = r.s()
        act = _wrap(base + r.s())
        exp = _wrap(act + r.s()) if packed & 0x80 else None
        burnt = r.s()
        st.buckets.append(Bucket(bid, rid, cid, packed & 3, amount, act, exp, (packed >> 2) & 3,
                                 burnt, (packed >> 4) & 7))
    if r.pos != len(blob):
        raise CorruptState("customer state: trailing bytes")
    return st


def state_codec() -> tuple[Callable[[CustomerState], bytes], Callable[[str, bytes], CustomerState]]:
    """(encode, decode): the compiled codec when the extension is built, else this module's.

    Both write and read the same bytes, so a store may use either; the compiled one is ~10x
    faster (benchmarks/README.md).
    """
    try:
        from streamproc import _fastcalc
    except ImportError:
        return encode_state, decode_state
    return _fastcalc.encode_state, _fastcalc.decode_state
