# ====================================================================== result JSON
# Included by _fastcalc.pyx. A receipt's result (domain/result.py records, events as dicts)
# written straight to JSON bytes, exactly as `orjson.dumps(result)` writes them: keys in field
# order, no spaces, strings as UTF-8 with orjson's escapes. Anything else (an int past
# int64, a float, an unknown type) returns None and the caller uses orjson. Checked byte for
# byte against orjson by the whole-stream differential test and
# tests/unit/engine/test_result_json.py.

cdef dict _J_FIELDS = {}


cdef _j_register(cls):
    """Per record type: its fields' JSON keys, written once (`{"name":`, then `,"name":`),
    and slot offsets."""
    fields = []
    for i, f in enumerate(cls.__dataclass_fields__):
        owner = next(c for c in cls.__mro__ if f in c.__dict__)  # a subclass inherits slots
        key = ("{" if i == 0 else ",").encode() + _orjson.dumps(f) + b":"
        fields.append((key, _slot_offset(owner, f)))
    _J_FIELDS[cls] = tuple(fields)


for _cls in (_LineResult, _AppliedEntry, _Balance, _Coupons, _CouponRejected, _AppliedResult,
             _ReturnResult, _DuplicateResult):
    _j_register(_cls)

cdef const char *_J_HEX = b"0123456789abcdef"
# per byte: 1 when a JSON string must escape it (controls, quote, backslash)
cdef unsigned char _J_ESC[256]
for _k in range(256):
    _J_ESC[_k] = 1 if _k < 0x20 or _k == 34 or _k == 92 else 0


cdef inline int _j_int(_wbuf *w, long long v) except -1:
    """Append `v` in decimal (what "%lld" writes)."""
    cdef char tmp[24]
    cdef int k = 24
    cdef unsigned long long u = (<unsigned long long>0 - <unsigned long long>v) if v < 0 \
        else <unsigned long long>v
    while True:
        k -= 1
        tmp[k] = <char>(48 + u % 10)
        u //= 10
        if u == 0:
            break
    if v < 0:
        k -= 1
        tmp[k] = 45
    return _wb_bytes(w, &tmp[k], 24 - k)


cdef int _j_raw(_wbuf *w, const char *s, Py_ssize_t n) except -1:
    return _wb_bytes(w, s, n)


cdef int _j_str(_wbuf *w, object s) except -1:
    cdef Py_ssize_t n, i, start = 0
    cdef const unsigned char *u = <const unsigned char *>PyUnicode_AsUTF8AndSize(s, &n)
    cdef unsigned char c
    cdef char esc[6]
    _wb_byte(w, 34)
    if w.n + n + 2 > w.cap:
        _wb_grow(w, n + 2)
    for i in range(n):
        c = u[i]
        if not _J_ESC[c]:
            continue
        if i > start:
            _wb_bytes(w, <const char *>&u[start], i - start)
        start = i + 1
        if c == 34:
            _wb_bytes(w, b'\\"', 2)
        elif c == 92:
            _wb_bytes(w, b"\\\\", 2)
        elif c == 8:
            _wb_bytes(w, b"\\b", 2)
        elif c == 9:
            _wb_bytes(w, b"\\t", 2)
        elif c == 10:
            _wb_bytes(w, b"\\n", 2)
        elif c == 12:
            _wb_bytes(w, b"\\f", 2)
        elif c == 13:
            _wb_bytes(w, b"\\r", 2)
        else:
            esc[0] = 92
            esc[1] = 117
            esc[2] = 48
            esc[3] = 48
            esc[4] = _J_HEX[c >> 4]
            esc[5] = _J_HEX[c & 15]
            _wb_bytes(w, esc, 6)
    if n > start:
        _wb_bytes(w, <const char *>&u[start], n - start)
    _wb_byte(w, 34)
    return 0


cdef int _j_value(_wbuf *w, object o) except -1:
    """Append `o` as JSON; 1 when it has a value orjson would write differently or refuse."""
    cdef int ovf = 0
    cdef long long v
    cdef Py_ssize_t i, m
    cdef tuple fields
    cdef PyObject *pf
    t = type(o)
    if o is None:
        _wb_bytes(w, b"null", 4)
    elif t is str:
        _j_str(w, o)
    elif t is bool:
        if o:
            _wb_bytes(w, b"true", 4)
        else:
            _wb_bytes(w, b"false", 5)
    elif t is int:
        v = PyLong_AsLongLongAndOverflow(o, &ovf)
        if ovf:
            return 1
        _j_int(w, v)
    elif t is list:
        _wb_byte(w, 91)
        m = len(<list>o)
        for i in range(m):
            if i:
                _wb_byte(w, 44)
            if _j_value(w, (<list>o)[i]):
                return 1
        _wb_byte(w, 93)
    elif t is dict:
        _wb_byte(w, 123)
        i = 0
        for key, val in (<dict>o).items():
            if type(key) is not str:
                return 1
            if i:
                _wb_byte(w, 44)
            i += 1
            _j_str(w, key)
            _wb_byte(w, 58)
            if _j_value(w, val):
                return 1
        _wb_byte(w, 125)
    else:
        pf = PyDict_GetItemWithError(_J_FIELDS, t)
        if pf == NULL:
            return 1
        fields = <tuple><object>pf
        for i in range(len(fields)):
            key, off = <tuple>fields[i]
            _wb_bytes(w, PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))
            if _j_value(w, _get(o, <Py_ssize_t>off)):
                return 1
        _wb_byte(w, 125)
    return 0


cdef _wbuf _j_buf  # reused by the calls (a nested one, from a finalizer, gets its own)
_j_buf.p = NULL
_j_buf.n = 0
_j_buf.cap = 0
cdef bint _j_busy = False


def encode_json(o):
    """`orjson.dumps(o)` for results and events (None when `o` holds something else)."""
    global _j_busy
    cdef _wbuf own
    cdef _wbuf *w = &_j_buf
    cdef bint shared = not _j_busy
    if shared:
        _j_busy = True
    else:
        own.p = NULL
        own.cap = 0
        w = &own
    w.n = 0
    try:
        if _j_value(w, o):
            return None
        return (<char *>w.p)[:w.n]
    finally:
        if not shared or w.cap > 1 << 20:  # an outsized buffer is not kept
            free(w.p)
            w.p = NULL
            w.cap = 0
        if shared:
            _j_busy = False
