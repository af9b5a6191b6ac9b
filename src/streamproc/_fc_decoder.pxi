# The compiled receipt decoder (spec section 2), included by _fastcalc.pyx.

# ====================================================================== receipt validation
# `receipt_from_obj` / `parse_receipt`: the compiled twin of streamproc.domain.receipt's.
#
# The compiled path accepts exactly what the Python validator accepts and builds the same
# `Receipt` and `Line` objects (slots written directly, lines sorted by line_no). It only ever
# *accepts*: whenever anything is off (a wrong type, a value out of range, a duplicate line_no,
# a subclass instead of the exact built-in type, a timestamp in another ISO 8601 spelling than
# `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM)`), it hands the object to the Python validator,
# which raises the `Reject` (same reason and detail) or, for the rare valid spellings the fast
# path does not know, builds the `Receipt`. So rejects are identical by construction, and the
# differential test (tests/unit/test_decode_differential.py) checks the accepting path.

from streamproc.domain import receipt as _receipt_mod

import orjson as _orjson

_py_receipt_from_obj = _receipt_mod.receipt_from_obj
_py_parse_receipt = _receipt_mod.parse_receipt
_orjson_loads = _orjson.loads
_JSONDecodeError = _orjson.JSONDecodeError


cdef extern from *:
    """
    typedef struct { int64_t key; int32_t idx; } fp_key;
    static int fp_key_cmp(const void *pa, const void *pb) {
        const fp_key *a = (const fp_key *)pa, *b = (const fp_key *)pb;
        if (a->key != b->key) return a->key < b->key ? -1 : 1;
        return (a->idx > b->idx) - (a->idx < b->idx);
    }
    static void fp_sort_keys(fp_key *k, int n) { qsort(k, n, sizeof(fp_key), fp_key_cmp); }
    """
    ctypedef struct fp_key:
        int64_t key
        int32_t idx
    void fp_sort_keys(fp_key *k, int n) nogil

DEF MAX_LINES = 500
DEF MAX_QTY = 100000
DEF MAX_UNIT_PRICE = 10000000000
DEF MAX_COUPONS = 20
DEF MAX_ID = 64
DEF MAX_TEXT = 256
DEF MAX_SAFE_INT = 9007199254740991
DEF TS_MIN_US = 946684800000000
DEF TS_MAX_US = 4102444800000000

if (_receipt_mod.MAX_LINES, _receipt_mod.MAX_QTY, _receipt_mod.MAX_UNIT_PRICE,
        _receipt_mod.MAX_COUPONS, _receipt_mod.MAX_ID, _receipt_mod.MAX_TEXT,
        _receipt_mod.MAX_SAFE_INT, _receipt_mod.TS_MIN_US, _receipt_mod.TS_MAX_US) != (
        MAX_LINES, MAX_QTY, MAX_UNIT_PRICE, MAX_COUPONS, MAX_ID, MAX_TEXT, MAX_SAFE_INT,
        TS_MIN_US, TS_MAX_US):
    raise ImportError("receipt limits changed: update streamproc._fastcalc")
_R_FIELDS = ("receipt_id", "ts_us", "ts", "lines", "customer_id", "store_id", "kind", "redeem",
             "coupons", "original_receipt_id")
_L_FIELDS = ("line_no", "qty", "sku", "category", "unit_price")
if list(Receipt.__dataclass_fields__) != list(_R_FIELDS) or \
        list(Line.__dataclass_fields__) != list(_L_FIELDS):
    raise ImportError("Receipt/Line fields changed: update streamproc._fastcalc")
if Receipt.__init__ is object.__init__ or hasattr(Receipt, "__post_init__") or \
        hasattr(Line, "__post_init__"):
    raise ImportError("Receipt/Line construction changed: update streamproc._fastcalc")

cdef Py_ssize_t R_RID = _slot_offset(Receipt, "receipt_id")
cdef Py_ssize_t R_TS_TEXT = _slot_offset(Receipt, "ts")
cdef Py_ssize_t R_CUST = _slot_offset(Receipt, "customer_id")
cdef Py_ssize_t R_KIND = _slot_offset(Receipt, "kind")
cdef Py_ssize_t R_ORIG = _slot_offset(Receipt, "original_receipt_id")
cdef PyTypeObject *_receipt_type = <PyTypeObject *>Receipt
cdef PyTypeObject *_line_type = <PyTypeObject *>Line
_empty_str = ""
_zero = 0


cdef inline int _digits(const unsigned char *s, int n, int64_t *out) noexcept:
    """Parse n ASCII digits; 0 when one is not a digit."""
    cdef int i
    cdef int64_t v = 0
    for i in range(n):
        if s[i] < 48 or s[i] > 57:
            return 0
        v = v * 10 + (s[i] - 48)
    out[0] = v
    return 1


cdef int _fast_ts(str ts, int64_t *out) except -1:
    """`YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)` to epoch microseconds; 0 for any other text.

    Returns 1 only for text that `datetime.fromisoformat` reads with an offset, to the same
    instant, inside the receipt window (the instant and the wall-clock time as written);
    anything else (other spellings, invalid dates, out of the window) returns 0 for the
    Python path.
    """
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(ts)
    cdef const unsigned char *s
    cdef int64_t y, mo, d, h, mi, sec, frac = 0, oh, om, off, dim, wall
    cdef int p, nf, _k
    if n < 20 or n > 32 or PyUnicode_KIND(ts) != PyUnicode_1BYTE_KIND:
        return 0
    s = <const unsigned char *>PyUnicode_DATA(ts)
    if s[4] != 45 or s[7] != 45 or s[10] != 84 or s[13] != 58 or s[16] != 58:  # - - T : :
        return 0
    if not (_digits(s, 4, &y) and _digits(s + 5, 2, &mo) and _digits(s + 8, 2, &d)
            and _digits(s + 11, 2, &h) and _digits(s + 14, 2, &mi)
            and _digits(s + 17, 2, &sec)):
        return 0
    if y < 1 or mo < 1 or mo > 12 or d < 1 or h > 23 or mi > 59 or sec > 59:
        return 0
    if mo == 2:
        dim = 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    elif mo == 4 or mo == 6 or mo == 9 or mo == 11:
        dim = 30
    else:
        dim = 31
    if d > dim:
        return 0
    p = 19
    if s[p] == 46:  # '.'
        p += 1
        nf = 0
        while p < n and 48 <= s[p] <= 57:
            frac = frac * 10 + (s[p] - 48)
            nf += 1
            p += 1
        if nf < 1 or nf > 6:
            return 0
        for _k in range(6 - nf):
            frac *= 10
    if p == n - 1 and s[p] == 90:  # 'Z'
        off = 0
    elif p == n - 6 and (s[p] == 43 or s[p] == 45) and s[p + 3] == 58:
        if not (_digits(s + p + 1, 2, &oh) and _digits(s + p + 4, 2, &om)):
            return 0
        if oh > 23 or om > 59:
            return 0
        off = oh * 3600 + om * 60
        if s[p] == 45:
            off = -off
    else:
        return 0
    wall = (_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000000 + frac
    out[0] = wall - off * 1000000
    return (TS_MIN_US <= wall < TS_MAX_US) and (TS_MIN_US <= out[0] < TS_MAX_US)


cdef inline bint _is_id(object v) noexcept:
    cdef Py_ssize_t n
    if type(v) is not str:
        return False
    n = PyUnicode_GET_LENGTH(v)
    return 1 <= n <= MAX_ID


cdef inline bint _is_text(object v) noexcept:
    cdef Py_ssize_t n
    if type(v) is not str:
        return False
    n = PyUnicode_GET_LENGTH(v)
    return 1 <= n <= MAX_TEXT


cdef inline bint _int_range(object v, int64_t lo, int64_t hi, int64_t *out) except -1:
    cdef int overflow = 0
    cdef long long x
    if type(v) is not int:
        return False
    x = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow:
        return False
    out[0] = x
    return lo <= x <= hi


cdef inline object _alloc(PyTypeObject *tp):
    cdef PyObject *p = tp.tp_alloc(tp, 0)
    cdef object o = <object>p
    Py_XDECREF(p)  # <object> took its own reference
    return o


cdef object _fast_receipt(object obj):
    """The Receipt when the fast path can vouch for it, else None (let Python decide)."""
    cdef dict d
    cdef list lines_raw, lines
    cdef Py_ssize_t n, i
    cdef int64_t ts_us, v, prev = 0, total = 0, q
    cdef bint sale, ordered = True
    cdef fp_key *keys = NULL
    if type(obj) is not dict:
        return None
    d = <dict>obj
    receipt_id = d.get("receipt_id")
    if not _is_id(receipt_id):
        return None
    ts = d.get("ts")
    if type(ts) is not str or not _fast_ts(<str>ts, &ts_us):
        return None
    customer_id = d.get("customer_id")
    if customer_id is not None and not _is_id(customer_id):
        return None
    store_id = d.get("store_id")
    if store_id is not None and (type(store_id) is not str
                                 or PyUnicode_GET_LENGTH(store_id) > MAX_ID):
        return None
    kind = d.get("kind", "sale")
    if type(kind) is not str:
        return None
    if kind == "sale":
        sale = True
        original = None
    elif kind == "return":
        sale = False
        original = d.get("original_receipt_id")
        if not _is_id(original):
            return None
    else:
        return None
    lr = d.get("lines")
    if type(lr) is not list:
        return None
    lines_raw = <list>lr
    n = len(lines_raw)
    if n < 1 or n > MAX_LINES:
        return None
    redeem = d.get("redeem", 0)
    if redeem is None:
        redeem = 0
    if not _int_range(redeem, 0, MAX_SAFE_INT, &v):
        return None
    coupons = d.get("coupons")
    if coupons is None or (type(coupons) is list and not coupons):
        coupons_t = ()
    else:
        if type(coupons) is not list or len(<list>coupons) > MAX_COUPONS:
            return None
        for c in <list>coupons:
            if not _is_text(c):
                return None
        coupons_t = tuple(<list>coupons)

    lines = [None] * n
    keys = <fp_key *>malloc(n * sizeof(fp_key))
    if keys == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            lo = lines_raw[i]
            if type(lo) is not dict:
                return None
            ln = <dict>lo
            line_no = ln.get("line_no")
            if not _int_range(line_no, -MAX_SAFE_INT, MAX_SAFE_INT, &v):
                return None
            keys[i].key = v
            keys[i].idx = <int32_t>i
            if i and v <= prev:
                ordered = False
            prev = v
            qty = ln.get("qty")
            if not _int_range(qty, 1, MAX_QTY, &q):
                return None
            line = _alloc(_line_type)
            _set(line, L_LINE_NO, line_no)
            _set(line, L_QTY, qty)
            if sale:
                sku = ln.get("sku")
                cat = ln.get("category")
                price = ln.get("unit_price")
                if not _is_text(sku) or not _is_text(cat) or \
                        not _int_range(price, 0, MAX_UNIT_PRICE, &v):
                    return None
                total += q * v  # <= 500 * 10^15: no overflow
                _set(line, L_SKU, _intern(sku))  # canonical objects: the engine finds
                _set(line, L_CAT, _intern(cat))  # the line record by their addresses
                _set(line, L_PRICE, price)
            else:
                _set(line, L_SKU, _empty_str)
                _set(line, L_CAT, _empty_str)
                _set(line, L_PRICE, _zero)
            lines[i] = line
        if total > MAX_SAFE_INT:
            return None
        if not ordered:
            fp_sort_keys(keys, <int>n)
            for i in range(1, n):
                if keys[i].key == keys[i - 1].key:
                    return None  # duplicate line_no
            lines = [lines[keys[i].idx] for i in range(n)]
    finally:
        free(keys)

    r = _alloc(_receipt_type)
    _set(r, R_RID, receipt_id)
    _set(r, R_TS, ts_us)
    _set(r, R_TS_TEXT, ts)
    _set(r, R_LINES, tuple(lines))
    _set(r, R_CUST, customer_id)
    _set(r, R_STORE, store_id)
    _set(r, R_KIND, kind)
    _set(r, R_REDEEM, redeem)
    _set(r, R_COUPONS, coupons_t)
    _set(r, R_ORIG, original)
    return r


def receipt_from_obj(obj):
    """`streamproc.domain.receipt.receipt_from_obj`, compiled: same Receipt or same Reject."""
    r = _fast_receipt(obj)
    if r is None:
        return _py_receipt_from_obj(obj)
    return r


def parse_receipt(raw):
    """`streamproc.domain.receipt.parse_receipt`, compiled: the scanner (`_fc_scan.pxi`), else
    orjson.loads + `receipt_from_obj`."""
    if type(raw) is bytes:
        r = _scan_receipt(raw)
        if r is not None:
            return r
    try:
        obj = _orjson_loads(raw)
    except _JSONDecodeError:
        return _py_parse_receipt(raw)  # raises the same Reject(invalid_json, ...)
    r = _fast_receipt(obj)
    if r is None:
        return _py_receipt_from_obj(obj)
    return r
