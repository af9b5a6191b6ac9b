# ====================================================================== result JSON
# Included by _fastcalc.pyx. A receipt's result (domain/result.py records, events as dicts)
# written straight to JSON bytes, exactly as `orjson.dumps(result)` writes them: keys in field
# order, no spaces, strings as UTF-8 with orjson's escapes. Anything else (an int past
# int64, a float, an unknown type) returns None and the caller uses orjson. Checked byte for
# byte against orjson by the whole-stream differential test and
# tests/unit/engine/test_result_json.py.

from libc.stdio cimport snprintf

cdef dict _J_FIELDS = {}


cdef _j_register(cls):
    fields = []
    for f in cls.__dataclass_fields__:
        owner = next(c for c in cls.__mro__ if f in c.__dict__)  # a subclass inherits slots
        fields.append((f, _slot_offset(owner, f)))
    _J_FIELDS[cls] = tuple(fields)


for _cls in (_LineResult, _AppliedEntry, _Balance, _Coupons, _CouponRejected, _AppliedResult,
             _ReturnResult, _DuplicateResult):
    _j_register(_cls)

cdef const char *_J_HEX = b"0123456789abcdef"


cdef int _j_raw(_wbuf *w, const char *s, Py_ssize_t n) except -1:
    return _wb_bytes(w, s, n)


cdef int _j_str(_wbuf *w, object s) except -1:
    cdef Py_ssize_t n, i, start = 0
    cdef const unsigned char *u = <const unsigned char *>PyUnicode_AsUTF8AndSize(s, &n)
    cdef unsigned char c
    cdef char esc[6]
    _wb_byte(w, 34)
    for i in range(n):
        c = u[i]
        if c >= 0x20 and c != 34 and c != 92:
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
    cdef char num[24]
    cdef int ovf = 0, k
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
        k = snprintf(num, 24, "%lld", v)
        _wb_bytes(w, num, k)
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
        _wb_byte(w, 123)
        for i in range(len(fields)):
            if i:
                _wb_byte(w, 44)
            name, off = fields[i]
            _j_str(w, name)
            _wb_byte(w, 58)
            if _j_value(w, _get(o, off)):
                return 1
        _wb_byte(w, 125)
    return 0


def encode_json(o):
    """`orjson.dumps(o)` for results and events (None when `o` holds something else)."""
    cdef _wbuf w
    w.p = NULL
    w.n = 0
    w.cap = 0
    try:
        if _j_value(&w, o):
            return None
        return (<char *>w.p)[:w.n]
    finally:
        free(w.p)
