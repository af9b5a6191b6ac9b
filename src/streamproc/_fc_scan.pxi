# ====================================================================== receipt scanner
# Included by _fastcalc.pyx, after _fc_decoder.pxi. `_scan_receipt`: a receipt straight from
# its raw bytes, without the dicts `orjson.loads` builds for the receipt and every line.
#
# Like `_fast_receipt` it only ever *accepts*: it reads plain compact-or-spaced JSON (ASCII
# strings without escapes, integers of at most 18 digits, the receipt's own keys each at most
# once, unknown keys with scalar values) and applies `_fast_receipt`'s checks to the values;
# anything else (an escape, a non-ASCII byte, a float, a duplicate key, a nested unknown
# value, a value a check refuses) returns None and `parse_receipt` takes the orjson path,
# which decides. So what it accepts is what orjson + `_fast_receipt` would build, and every
# reject still comes from the Python validator (tests/unit/engine/test_decode_differential.py
# and the whole-stream differential tests run through it).

cdef struct _scan_t:
    const unsigned char *p
    const unsigned char *e

cdef struct _sline_t:
    int64_t no, qty, price
    const unsigned char *sku
    const unsigned char *cat
    Py_ssize_t skun, catn
    int seen

from libc.string cimport strlen
from cpython.unicode cimport PyUnicode_FromStringAndSize

cdef _sline_t _SL[MAX_LINES]  # the lines of the receipt being scanned
cdef fp_key _SKEYS[MAX_LINES]
cdef bint _scan_busy = False  # a scan from a finalizer run mid-scan takes the orjson path

DEF S_NO = 1
DEF S_QTY = 2
DEF S_PRICE = 4
DEF S_SKU = 8
DEF S_CAT = 16


cdef inline void _sws(_scan_t *s) noexcept:
    while s.p < s.e and (s.p[0] == 32 or s.p[0] == 10 or s.p[0] == 13 or s.p[0] == 9):
        s.p += 1


cdef inline bint _sch(_scan_t *s, unsigned char c) noexcept:
    """Whitespace, then `c` (consumed); False when something else comes."""
    _sws(s)
    if s.p < s.e and s.p[0] == c:
        s.p += 1
        return True
    return False


cdef inline bint _sstr(_scan_t *s, const unsigned char **a, Py_ssize_t *n) noexcept:
    """A string of printable ASCII without escapes: its bytes (`a`, `n`)."""
    cdef unsigned char c
    _sws(s)
    if s.p >= s.e or s.p[0] != 34:
        return False
    s.p += 1
    a[0] = s.p
    while s.p < s.e:
        c = s.p[0]
        if c == 34:
            n[0] = s.p - a[0]
            s.p += 1
            return True
        if c == 92 or c < 32 or c >= 128:
            return False
        s.p += 1
    return False


cdef inline bint _sint(_scan_t *s, int64_t *out) noexcept:
    """An integer of 1 to 18 digits, no leading zero, not -0, not followed by a fraction or
    an exponent (orjson's int)."""
    cdef bint neg = False
    cdef int64_t v = 0
    cdef int k = 0
    _sws(s)
    if s.p < s.e and s.p[0] == 45:
        neg = True
        s.p += 1
    while s.p < s.e and 48 <= s.p[0] <= 57:
        if k == 18 or (k == 1 and v == 0):
            return False  # too long for the fast path, or a leading zero
        v = v * 10 + (s.p[0] - 48)
        k += 1
        s.p += 1
    if k == 0 or (neg and v == 0):
        return False
    if s.p < s.e and (s.p[0] == 46 or s.p[0] == 101 or s.p[0] == 69):
        return False
    out[0] = -v if neg else v
    return True


cdef inline bint _snull(_scan_t *s) noexcept:
    """`null` (consumed) comes next."""
    _sws(s)
    if s.e - s.p >= 4 and memcmp(s.p, b"null", 4) == 0:
        s.p += 4
        return True
    return False


cdef inline bint _sscalar(_scan_t *s) noexcept:
    """Skip a plain string, an integer, true, false or null."""
    cdef const unsigned char *a
    cdef Py_ssize_t n
    cdef int64_t v
    _sws(s)
    if s.p >= s.e:
        return False
    if s.p[0] == 34:
        return _sstr(s, &a, &n)
    if s.e - s.p >= 4 and (memcmp(s.p, b"true", 4) == 0 or memcmp(s.p, b"null", 4) == 0):
        s.p += 4
        return True
    if s.e - s.p >= 5 and memcmp(s.p, b"false", 5) == 0:
        s.p += 5
        return True
    return _sint(s, &v)


cdef inline bint _is(const unsigned char *a, Py_ssize_t n, const char *k) noexcept:
    return n == <Py_ssize_t>strlen(k) and memcmp(a, k, n) == 0


cdef inline object _sobj(const unsigned char *a, Py_ssize_t n):
    return PyUnicode_FromStringAndSize(<const char *>a, n)


cdef bint _sline(_scan_t *s, _sline_t *ln) noexcept:
    """One line object into `ln` (its known keys at most once, no nulls)."""
    cdef const unsigned char *a
    cdef Py_ssize_t n
    cdef int bit
    cdef bint ok
    ln.seen = 0
    if not _sch(s, 123):
        return False
    if _sch(s, 125):
        return True
    while True:
        if not _sstr(s, &a, &n) or not _sch(s, 58):
            return False
        bit = 0
        if _is(a, n, "line_no"):
            bit = S_NO
            ok = _sint(s, &ln.no)
        elif _is(a, n, "qty"):
            bit = S_QTY
            ok = _sint(s, &ln.qty)
        elif _is(a, n, "unit_price"):
            bit = S_PRICE
            ok = _sint(s, &ln.price)
        elif _is(a, n, "sku"):
            bit = S_SKU
            ok = _sstr(s, &ln.sku, &ln.skun)
        elif _is(a, n, "category"):
            bit = S_CAT
            ok = _sstr(s, &ln.cat, &ln.catn)
        else:
            ok = _sscalar(s)
        if not ok or ln.seen & bit:
            return False
        ln.seen |= bit
        if _sch(s, 44):
            continue
        return _sch(s, 125)


cdef object _scan_receipt(bytes raw):
    """The Receipt of `raw` when the scanner can vouch for it, else None (see above)."""
    global _scan_busy
    if _scan_busy:
        return None
    _scan_busy = True
    try:
        return _scan(raw)
    finally:
        _scan_busy = False


cdef object _scan(bytes raw):
    cdef _scan_t s
    cdef const unsigned char *a
    cdef const unsigned char *rid_a = NULL
    cdef const unsigned char *ts_a = NULL
    cdef const unsigned char *cust_a = NULL
    cdef const unsigned char *store_a = NULL
    cdef const unsigned char *kind_a = NULL
    cdef const unsigned char *orig_a = NULL
    cdef Py_ssize_t n, rid_n = 0, ts_n = 0, cust_n = 0, store_n = 0, kind_n = 0, orig_n = 0
    cdef Py_ssize_t nl = 0, i
    cdef int seen = 0, bit
    cdef int64_t redeem_v = 0, ts_us, total = 0, prev = 0
    cdef bint sale, ordered = True, ok
    cdef _sline_t *ln
    cdef list coupons = None
    s.p = <const unsigned char *>PyBytes_AS_STRING(raw)
    s.e = s.p + PyBytes_GET_SIZE(raw)
    if not _sch(&s, 123):
        return None
    if _sch(&s, 125):
        return None  # no receipt_id
    while True:
        if not _sstr(&s, &a, &n) or not _sch(&s, 58):
            return None
        bit = 0
        ok = True
        if _is(a, n, "receipt_id"):
            bit = 1
            ok = _sstr(&s, &rid_a, &rid_n)
        elif _is(a, n, "ts"):
            bit = 2
            ok = _sstr(&s, &ts_a, &ts_n)
        elif _is(a, n, "customer_id"):
            bit = 4
            if not _snull(&s):
                ok = _sstr(&s, &cust_a, &cust_n)
        elif _is(a, n, "store_id"):
            bit = 8
            if not _snull(&s):
                ok = _sstr(&s, &store_a, &store_n)
        elif _is(a, n, "kind"):
            bit = 16
            ok = _sstr(&s, &kind_a, &kind_n)
        elif _is(a, n, "original_receipt_id"):
            bit = 32
            if not _snull(&s):
                ok = _sstr(&s, &orig_a, &orig_n)
        elif _is(a, n, "redeem"):
            bit = 64
            if not _snull(&s):
                ok = _sint(&s, &redeem_v) and 0 <= redeem_v <= MAX_SAFE_INT
        elif _is(a, n, "coupons"):
            bit = 128
            if not _snull(&s):
                if not _sch(&s, 91):
                    return None
                coupons = []
                if not _sch(&s, 93):
                    while True:
                        if not _sstr(&s, &a, &n) or not 1 <= n <= MAX_TEXT:
                            return None
                        coupons.append(_sobj(a, n))
                        if len(coupons) > MAX_COUPONS:
                            return None
                        if _sch(&s, 44):
                            continue
                        if not _sch(&s, 93):
                            return None
                        break
        elif _is(a, n, "lines"):
            bit = 256
            if not _sch(&s, 91):
                return None
            if not _sch(&s, 93):
                while True:
                    if nl == MAX_LINES or not _sline(&s, &_SL[nl]):
                        return None
                    nl += 1
                    if _sch(&s, 44):
                        continue
                    if not _sch(&s, 93):
                        return None
                    break
        else:
            ok = _sscalar(&s)
        if not ok or seen & bit:
            return None
        seen |= bit
        if _sch(&s, 44):
            continue
        if not _sch(&s, 125):
            return None
        break
    _sws(&s)
    if s.p != s.e:
        return None
    # _fast_receipt's checks, on the scanned values
    if rid_a == NULL or not 1 <= rid_n <= MAX_ID or ts_a == NULL:
        return None
    if cust_a != NULL and not 1 <= cust_n <= MAX_ID:
        return None
    if store_a != NULL and store_n > MAX_ID:
        return None
    if kind_a == NULL:
        if seen & 16:
            return None
        sale = True
    elif _is(kind_a, kind_n, "sale"):
        sale = True
    elif _is(kind_a, kind_n, "return"):
        sale = False
        if orig_a == NULL or not 1 <= orig_n <= MAX_ID:
            return None
    else:
        return None
    if nl < 1:
        return None
    ts = _sobj(ts_a, ts_n)
    if not _fast_ts(<str>ts, &ts_us):
        return None
    lines = [None] * nl
    for i in range(nl):
        ln = &_SL[i]
        if not ln.seen & S_NO or not -MAX_SAFE_INT <= ln.no <= MAX_SAFE_INT:
            return None
        if not ln.seen & S_QTY or not 1 <= ln.qty <= MAX_QTY:
            return None
        _SKEYS[i].key = ln.no
        _SKEYS[i].idx = <int32_t>i
        if i and ln.no <= prev:
            ordered = False
        prev = ln.no
        line = _alloc(_line_type)
        _set(line, L_LINE_NO, ln.no)
        _set(line, L_QTY, ln.qty)
        if sale:
            if (ln.seen & (S_SKU | S_CAT | S_PRICE)) != (S_SKU | S_CAT | S_PRICE) or \
                    not 1 <= ln.skun <= MAX_TEXT or not 1 <= ln.catn <= MAX_TEXT or \
                    not 0 <= ln.price <= MAX_UNIT_PRICE:
                return None
            total += ln.qty * ln.price  # <= 500 * 10^15: no overflow
            _set(line, L_SKU, _intern(_sobj(ln.sku, ln.skun)))
            _set(line, L_CAT, _intern(_sobj(ln.cat, ln.catn)))
            _set(line, L_PRICE, ln.price)
        else:
            _set(line, L_SKU, _empty_str)
            _set(line, L_CAT, _empty_str)
            _set(line, L_PRICE, _zero)
        lines[i] = line
    if total > MAX_SAFE_INT:
        return None
    if not ordered:
        fp_sort_keys(_SKEYS, <int>nl)
        for i in range(1, nl):
            if _SKEYS[i].key == _SKEYS[i - 1].key:
                return None  # duplicate line_no
        lines = [lines[_SKEYS[i].idx] for i in range(nl)]
    r = _alloc(_receipt_type)
    _set(r, R_RID, _sobj(rid_a, rid_n))
    _set(r, R_TS, ts_us)
    _set(r, R_TS_TEXT, ts)
    _set(r, R_LINES, tuple(lines))
    _set(r, R_CUST, None if cust_a == NULL else _sobj(cust_a, cust_n))
    _set(r, R_STORE, None if store_a == NULL else _sobj(store_a, store_n))
    _set(r, R_KIND, "sale" if sale else "return")
    _set(r, R_REDEEM, redeem_v)
    _set(r, R_COUPONS, () if not coupons else tuple(coupons))
    _set(r, R_ORIG, None if sale else _sobj(orig_a, orig_n))
    return r
