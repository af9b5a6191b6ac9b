"""Receipt records as packed, versioned bytes: all of one customer's records in one value.

A key per receipt cost ~370 bytes of Redis a receipt (key, expiry entry, JSON of every line),
two thirds of the memory per customer. A customer's records are read together anyway (a
batch loads the customer), so they live in one value under the customer's key (`sp:h:{P}:C1`),
rewritten when one changes and pruned of records past the return window; an anonymous
receipt, which only the duplicate rule reads, gets a one-record value of its own
(`sp:a:{P}:R1`). Layout (docs/state-model.md, "Receipt records"):

```
byte    format version = 1
u       n records
n x (u rid length, rid UTF-8 (length 0: the id the key names, an anonymous receipt's),
     byte kind (bit 0: 0 sale, 1 return; bit 1: the time step is in whole seconds),
     s ts - previous record's ts (the first: from 0; in seconds with bit 1),
     u n lines, n x line, u n rate buckets, n x s bucket id)
line:   byte flags, [s line_no] (absent: the previous line's + 1, the first's 1),
        s qty, s amount, [s discount], [s redeemed], [s accrued], [s returned], [s spend]
flags:  bit 0 line_no follows, bit 1 discount, bit 2 redeemed, bit 3 accrued,
        bit 4 returned (each: the field follows, else 0), bits 5-6 spend: 0 = amount -
        discount - redeemed, 1 = 0, 2 = follows
```
The customer id is the key's, not stored (anonymous: none); a record's origin is not kept
(answers to redeliveries are kept by origin, `sp:o`).

This module is the readable reference. The store goes through `pack_fast` / `unpack_fast` /
`merge_fast`: the compiled twins (`_fc_records.pxi`: the same bytes; a batch's write splices
byte ranges, keeping the records it did not change, instead of decoding and re-packing them
all), which hand anything they are not sure of (corrupt or non-canonical bytes) back to
this code, so errors are this code's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from streamproc.engine.model import ReceiptRecord, SaleLine
from streamproc.engine.stateformat import CorruptState, _i64, _put, _unzz, _wrap, _zz

FORMAT_VERSION = 1
KINDS = ("sale", "return")


class CorruptRecords(CorruptState):
    """The bytes are not receipt records this code can read."""


def pack(records: Iterable[ReceiptRecord], named: str | None = None) -> bytes:
    """Records as one value, in the order given (their customer id is the key's; `named`: the
    receipt id the key names, an anonymous receipt's, written as length 0)."""
    recs = list(records)
    out = bytearray((FORMAT_VERSION,))
    _put(out, len(recs))
    prev_ts = 0
    for r in recs:
        rid = b"" if r.receipt_id == named else r.receipt_id.encode()
        _put(out, len(rid))
        out += rid
        ts = _i64(r.ts_us, "ts")
        step = ts - prev_ts
        secs = step % 1_000_000 == 0
        out.append(KINDS.index(r.kind) | secs << 1)
        _put(out, _zz(step // 1_000_000 if secs else step))
        prev_ts = ts
        _put(out, len(r.lines))
        prev_no = 0
        for ln in r.lines:
            vals = [_i64(v, "line") for v in (ln.line_no, ln.qty, ln.amount, ln.discount,
                                               ln.redeemed, ln.accrued, ln.returned, ln.spend)]
            no, qty, amount, disc, red, acc, ret, spend = vals
            flags = (no != prev_no + 1) | (disc != 0) << 1 | (red != 0) << 2 \
                | (acc != 0) << 3 | (ret != 0) << 4
            if spend == 0 and amount - disc - red != 0:
                flags |= 1 << 5
            elif spend != amount - disc - red:
                flags |= 2 << 5
            out.append(flags)
            if flags & 1:
                _put(out, _zz(no))
            _put(out, _zz(qty))
            _put(out, _zz(amount))
            for bit, v in ((1, disc), (2, red), (3, acc), (4, ret)):
                if flags >> bit & 1:
                    _put(out, _zz(v))
            if flags >> 5 == 2:
                _put(out, _zz(spend))
            prev_no = no
        _put(out, len(r.rate_buckets))
        for b in r.rate_buckets:
            _put(out, _zz(_i64(b, "rate bucket")))
    return bytes(out)


class _Reader:
    def __init__(self, b: bytes) -> None:
        self.b, self.i = b, 0

    def byte(self) -> int:
        if self.i >= len(self.b):
            raise CorruptRecords("truncated")
        self.i += 1
        return self.b[self.i - 1]

    def u(self) -> int:
        x = shift = 0
        while True:
            c = self.byte()
            x |= (c & 0x7F) << shift
            if c < 0x80:
                break
            shift += 7
            if shift > 63:
                raise CorruptRecords("varint past 64 bits")
        if x >> 64:
            raise CorruptRecords("varint past 64 bits")
        return x

    def count(self) -> int:
        n = self.u()
        if n > len(self.b):
            raise CorruptRecords(f"count {n} past the value's length")
        return n

    def s(self) -> int:
        return _unzz(self.u())


def unpack(raw: bytes, customer_id: str | None, named: str | None = None
           ) -> dict[str, ReceiptRecord]:
    """The records of one value, by receipt id, in stored order (`named`: as in `pack`)."""
    if not raw or raw[0] != FORMAT_VERSION:
        raise CorruptRecords(f"unknown receipt records format {raw[:1]!r}")
    rd = _Reader(raw)
    rd.i = 1
    out: dict[str, ReceiptRecord] = {}
    ts = 0
    for _ in range(rd.count()):
        n = rd.count()
        if rd.i + n > len(raw):
            raise CorruptRecords("truncated")
        try:
            rid = raw[rd.i:rd.i + n].decode()
        except UnicodeDecodeError as exc:
            raise CorruptRecords("receipt id: bad UTF-8") from exc
        rd.i += n
        if n == 0:
            if named is None:
                raise CorruptRecords("a receipt id of length 0 where the key names none")
            rid = named
        kind = rd.byte()
        if kind >> 2:
            raise CorruptRecords(f"unknown record kind {kind}")
        ts = _wrap(ts + (rd.s() * 1_000_000 if kind & 2 else rd.s()))
        kind &= 1
        lines = []
        no = 0
        for _ in range(rd.count()):
            flags = rd.byte()
            if flags >> 7 or flags >> 5 == 3:
                raise CorruptRecords(f"unknown line flags {flags:#x}")
            no = rd.s() if flags & 1 else no + 1
            qty, amount = rd.s(), rd.s()
            disc, red, acc, ret = (rd.s() if flags >> bit & 1 else 0 for bit in (1, 2, 3, 4))
            mode = flags >> 5
            spend = amount - disc - red if mode == 0 else 0 if mode == 1 else rd.s()
            lines.append(SaleLine(no, qty, amount, disc, red, acc, spend, ret))
        buckets = [rd.s() for _ in range(rd.count())]
        out[rid] = ReceiptRecord(rid, customer_id, ts, KINDS[kind], lines, buckets)
    if rd.i != len(raw):
        raise CorruptRecords(f"{len(raw) - rd.i} trailing bytes")
    return out


def prune(records: dict[str, ReceiptRecord], window_us: int) -> list[ReceiptRecord]:
    """The records a later receipt of the customer can still meet: no older than the return
    window (plus a day for late receipts) before the newest, the in-memory replay's horizon."""
    if not records:
        return []
    newest = max(r.ts_us for r in records.values())
    horizon = newest - window_us - 86_400_000_000
    return [r for r in records.values() if r.ts_us >= horizon]


def merge(raw: bytes, new: Mapping[str, ReceiptRecord], customer_id: str | None,
          named: str | None, window_us: int) -> bytes:
    """A set's value after a batch: the records read (`raw`; b"": none) updated by those put
    since (an id already there keeps its place, else appended), pruned, packed."""
    got = unpack(raw, customer_id, named) if raw else {}
    got.update(new)
    return pack(prune(got, window_us), named)


_c_pack: Callable[[list[ReceiptRecord], str | None], bytes | None] | None = None
_c_unpack: Callable[[bytes, str | None, str | None], dict[str, ReceiptRecord] | None] | None
_c_unpack = None
_c_splice: Callable[[bytes, bytes, str | None, int], bytes | None] | None = None
try:
    from streamproc import _fastcalc

    _c_pack, _c_splice = _fastcalc.pack_records, _fastcalc.splice_records
    _c_unpack = _fastcalc.unpack_records
except ImportError:  # no compiled module (a worker refuses to start so; an older build is
    pass  # refused by engine.selection): the reference, as `stateformat.state_codec`


def unpack_fast(raw: bytes, customer_id: str | None, named: str | None = None
                ) -> dict[str, ReceiptRecord]:
    """`unpack`, compiled where it can be (the same records, the same errors)."""
    got = _c_unpack(raw, customer_id, named) if _c_unpack is not None else None
    return got if got is not None else unpack(raw, customer_id, named)


def pack_fast(records: Iterable[ReceiptRecord], named: str | None = None) -> bytes:
    """`pack`, compiled where it can be (the same bytes, the same errors)."""
    if _c_pack is None:
        return pack(records, named)
    recs = list(records)
    got = _c_pack(recs, named)
    return got if got is not None else pack(recs, named)


def merge_fast(raw: bytes, new: Mapping[str, ReceiptRecord], customer_id: str | None,
               named: str | None, window_us: int) -> bytes:
    """`merge` without decoding the records read: the bytes of the unchanged ones are kept."""
    if _c_pack is not None and _c_splice is not None:
        packed = _c_pack(list(new.values()), named)
        if packed is not None:
            got = _c_splice(raw, packed, named, window_us)
            if got is not None:
                return got
    return merge(raw, new, customer_id, named, window_us)
