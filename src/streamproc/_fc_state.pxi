# ====================================================================== customer state format
# Included by _fastcalc.pyx. `encode_state`/`decode_state`: the compiled twin of
# streamproc.engine.stateformat (same bytes, same errors; docs/state-model.md has the layout,
# tests/unit/engine/test_stateformat.py checks both codecs against each other).

from streamproc.engine import stateformat as _stfmt
from streamproc.engine.model import Bucket as _Bucket, CustomerState as _CState, Offer as _Offer

from cpython.unicode cimport PyUnicode_DecodeUTF8

DEF ST_VERSION = 1
if _stfmt.FORMAT_VERSION != ST_VERSION:
    raise ImportError("state format version changed: update streamproc._fc_state.pxi")
_CorruptState = _stfmt.CorruptState


cdef struct _wbuf:
    unsigned char *p
    Py_ssize_t n
    Py_ssize_t cap


cdef int _wb_grow(_wbuf *w, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap = w.cap * 2 if w.cap else 256
    cdef unsigned char *q
    while cap < w.n + need:
        cap *= 2
    q = <unsigned char *>realloc(w.p, cap)
    if q == NULL:
        raise MemoryError()
    w.p = q
    w.cap = cap
    return 0


cdef inline int _wb_u(_wbuf *w, uint64_t u) except -1:
    if w.n + 10 > w.cap:
        _wb_grow(w, 10)
    while u >= 0x80:
        w.p[w.n] = <unsigned char>((u & 0x7F) | 0x80)
        w.n += 1
        u >>= 7
    w.p[w.n] = <unsigned char>u
    w.n += 1
    return 0


cdef inline uint64_t _zz64(int64_t x) noexcept:
    return ((<uint64_t>x) << 1) ^ (<uint64_t>(x >> 63))


cdef inline int64_t _unzz64(uint64_t u) noexcept:
    return <int64_t>((u >> 1) ^ (<uint64_t>0 - (u & 1)))


cdef inline int64_t _st_i64(object x, str what) except? -1:
    cdef int ovf = 0
    cdef long long v
    if type(x) is not int:
        raise ValueError(f"{what}: not an int")
    v = PyLong_AsLongLongAndOverflow(x, &ovf)
    if ovf:
        raise ValueError(f"{what}: {x} is outside int64")
    return v


cdef inline int _wb_byte(_wbuf *w, int c) except -1:
    if w.n + 1 > w.cap:
        _wb_grow(w, 1)
    w.p[w.n] = <unsigned char>c
    w.n += 1
    return 0


cdef inline int _wb_bytes(_wbuf *w, const char *s, Py_ssize_t n) except -1:
    if w.n + n > w.cap:
        _wb_grow(w, n)
    memcpy(&w.p[w.n], s, n)
    w.n += n
    return 0


cdef inline Py_ssize_t _st_idx(dict table, list order, object s) except -1:
    cdef PyObject *p
    if type(s) is not str:
        raise ValueError(f"not a str: {s!r}")
    p = PyDict_GetItemWithError(table, s)
    if p != NULL:
        return <Py_ssize_t><object>p
    i = len(order)
    table[s] = i
    order.append(s)
    return i


def encode_state(st):
    """`st` (a CustomerState) as bytes: exactly `stateformat.encode_state(st)`."""
    cdef _wbuf body
    cdef _wbuf out
    cdef dict table = {}
    cdef list order = []
    cdef int64_t base = 0, v, issued, act
    cdef Py_ssize_t ln
    cdef const char *u
    body.p = NULL
    body.n = 0
    body.cap = 0
    out.p = NULL
    out.n = 0
    out.cap = 0
    try:
        _wb_u(&out, ST_VERSION)
        clock = st.clock_us
        _wb_u(&out, 0 if clock is None else 1)
        if clock is not None:
            base = _st_i64(clock, "clock")
            _wb_u(&out, _zz64(base))
        ver = st.version
        nb = st.next_bucket
        sales = st.sales
        for x, name in ((ver, "version"), (nb, "next_bucket"), (sales, "sales")):
            if _st_i64(x, name) < 0:
                raise ValueError(f"{name}: {x} is negative")
        _wb_u(&out, <uint64_t>_st_i64(ver, "version"))
        _wb_u(&out, <uint64_t>_st_i64(nb, "next_bucket"))
        _wb_u(&out, _zz64(_st_i64(st.debt, "debt")))
        _wb_u(&out, _zz64(_st_i64(st.spend, "spend")))
        _wb_u(&out, <uint64_t>_st_i64(sales, "sales"))
        uses = st.uses
        _wb_u(&body, len(uses))
        for cid, n in uses.items():
            _wb_u(&body, _st_idx(table, order, cid))
            _wb_u(&body, _zz64(_st_i64(n, "uses")))
        offers = st.offers
        _wb_u(&body, len(offers))
        for cid, o in offers.items():
            if o.campaign_id != cid:
                raise ValueError(f"offer {o.campaign_id!r} filed under {cid!r}")
            _wb_u(&body, _st_idx(table, order, cid))
            issued = _st_i64(o.issued_us, "issued")
            _wb_u(&body, _zz64(<int64_t>(<uint64_t>issued - <uint64_t>base)))
            v = _st_i64(o.expires_us, "expires")
            _wb_u(&body, _zz64(<int64_t>(<uint64_t>v - <uint64_t>issued)))
            ul = o.uses_left
            if ul is None:
                _wb_byte(&body, 0)
            else:
                _wb_byte(&body, 1)
                _wb_u(&body, _zz64(_st_i64(ul, "uses_left")))
        buckets = st.buckets
        _wb_u(&body, len(buckets))
        for b in buckets:
            bid = b.id
            if bid < 0:
                raise ValueError(f"bucket id {bid} is negative")
            kind, state, notes = b.kind, b.state, b.notes
            if not (0 <= kind <= 3 and 0 <= state <= 3 and 0 <= notes <= 7):
                raise ValueError(f"bucket {bid}: kind/state/notes out of range")
            _wb_u(&body, <uint64_t>_st_i64(bid, "bucket id"))
            _wb_u(&body, _st_idx(table, order, b.receipt_id))
            _wb_u(&body, _st_idx(table, order, b.campaign_id))
            exp = b.exp_us
            _wb_byte(&body, <int>kind | (<int>state << 2) | (<int>notes << 4)
                     | (0x80 if exp is not None else 0))
            _wb_u(&body, _zz64(_st_i64(b.amount, "amount")))
            act = _st_i64(b.act_us, "act")
            _wb_u(&body, _zz64(<int64_t>(<uint64_t>act - <uint64_t>base)))
            if exp is not None:
                v = _st_i64(exp, "exp")
                _wb_u(&body, _zz64(<int64_t>(<uint64_t>v - <uint64_t>act)))
            _wb_u(&body, _zz64(_st_i64(b.burnt, "burnt")))
        _wb_u(&out, len(order))
        for s in order:
            u = PyUnicode_AsUTF8AndSize(s, &ln)
            _wb_u(&out, <uint64_t>ln)
            _wb_bytes(&out, u, ln)
        _wb_bytes(&out, <const char *>body.p, body.n)
        return (<char *>out.p)[:out.n]
    finally:
        free(body.p)
        free(out.p)


cdef struct _rbuf:
    const unsigned char *p
    Py_ssize_t n
    Py_ssize_t pos


cdef uint64_t _rb_u(_rbuf *r) except? 0xFFFFFFFFFFFFFFFF:
    cdef uint64_t x = 0
    cdef int shift = 0
    cdef unsigned char c
    while True:
        if r.pos >= r.n:
            raise _CorruptState("customer state: truncated")
        c = r.p[r.pos]
        r.pos += 1
        if shift == 63 and c > 1:
            raise _CorruptState("customer state: varint overflows 64 bits")
        x |= (<uint64_t>(c & 0x7F)) << shift
        if c < 0x80:
            return x
        shift += 7


cdef inline int64_t _rb_i64(_rbuf *r) except? -1:
    cdef uint64_t x = _rb_u(r)
    if x > <uint64_t>I64_MAX:
        raise _CorruptState("customer state: value outside int64")
    return <int64_t>x


cdef inline int _rb_byte(_rbuf *r) except -1:
    if r.pos >= r.n:
        raise _CorruptState("customer state: truncated")
    r.pos += 1
    return r.p[r.pos - 1]


cdef inline object _rb_name(_rbuf *r, list names):
    cdef uint64_t i = _rb_u(r)
    if i >= <uint64_t>len(names):
        raise _CorruptState("customer state: bad string index")
    return names[i]


def decode_state(customer_id, blob):
    """The CustomerState in `blob`: exactly `stateformat.decode_state(customer_id, blob)`."""
    cdef _rbuf r
    cdef uint64_t flags, n, _j, ln
    cdef int64_t base = 0, clock = 0, issued, act, bid
    cdef int packed, has
    cdef list names = []
    if not isinstance(blob, bytes):
        blob = bytes(blob)
    r.p = <const unsigned char *>PyBytes_AS_STRING(blob)
    r.n = PyBytes_GET_SIZE(blob)
    r.pos = 0
    if r.n == 0 or r.p[0] != ST_VERSION:
        raise _CorruptState(f"customer state: unknown format {blob[:1]!r}")
    r.pos = 1
    flags = _rb_u(&r)
    if flags > 1:
        raise _CorruptState("customer state: unknown flags")
    if flags:
        clock = _unzz64(_rb_u(&r))
        base = clock
    st = _CState(customer_id, clock if flags else None)
    st.version = _rb_i64(&r)
    st.next_bucket = _rb_i64(&r)
    st.debt = _unzz64(_rb_u(&r))
    st.spend = _unzz64(_rb_u(&r))
    st.sales = _rb_i64(&r)
    n = _rb_u(&r)
    for _j in range(n):
        ln = _rb_u(&r)
        if ln > <uint64_t>(r.n - r.pos):
            raise _CorruptState("customer state: truncated")
        try:
            names.append(PyUnicode_DecodeUTF8(<const char *>&r.p[r.pos], <Py_ssize_t>ln,
                                              NULL))
        except UnicodeDecodeError as exc:
            raise _CorruptState("customer state: bad utf-8") from exc
        r.pos += <Py_ssize_t>ln
    uses = st.uses
    n = _rb_u(&r)
    for _j in range(n):
        cid = _rb_name(&r, names)
        uses[cid] = _unzz64(_rb_u(&r))
    offers = st.offers
    n = _rb_u(&r)
    for _j in range(n):
        cid = _rb_name(&r, names)
        issued = <int64_t>(<uint64_t>base + <uint64_t>_unzz64(_rb_u(&r)))
        act = <int64_t>(<uint64_t>issued + <uint64_t>_unzz64(_rb_u(&r)))
        has = _rb_byte(&r)
        if has > 1:
            raise _CorruptState("customer state: bad offer flags")
        offers[cid] = _Offer(cid, issued, act, _unzz64(_rb_u(&r)) if has else None)
    buckets = st.buckets
    n = _rb_u(&r)
    for _j in range(n):
        bid = _rb_i64(&r)
        rid = _rb_name(&r, names)
        cid = _rb_name(&r, names)
        packed = _rb_byte(&r)
        amount = _unzz64(_rb_u(&r))
        act = <int64_t>(<uint64_t>base + <uint64_t>_unzz64(_rb_u(&r)))
        if packed & 0x80:
            exp = <int64_t>(<uint64_t>act + <uint64_t>_unzz64(_rb_u(&r)))
        else:
            exp = None
        burnt = _unzz64(_rb_u(&r))
        buckets.append(_Bucket(bid, rid, cid, packed & 3, amount, act, exp, (packed >> 2) & 3,
                               burnt, (packed >> 4) & 7))
    if r.pos != r.n:
        raise _CorruptState("customer state: trailing bytes")
    return st
