"""Shared C-level helpers of `streamproc._fastcalc` (cimported by its parts, no Python API).

Reading and writing the `__slots__` of the domain's dataclasses by byte offset (the compiled
code builds and reads `Receipt`, `Line`, `SaleCalc`, `CustomerState`... without attribute
lookups), the CPython calls the parts share, the proleptic Gregorian day count and the
birthday window on it, and reading a small exact int.
"""

from libc.stdint cimport int64_t
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object o, Py_ssize_t *size) except NULL
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    ctypedef struct PyTypeObject:
        PyObject *(*tp_alloc)(PyTypeObject *, Py_ssize_t) except NULL
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1
    unsigned long long PyLong_AsUnsignedLongLong(object o) except? -1
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    unsigned int PyUnicode_KIND(object o)
    void *PyUnicode_DATA(object o)
    int PyUnicode_1BYTE_KIND


cdef inline Py_ssize_t _slot_offset(type cls, str name) except -1:
    """Byte offset of a __slots__ field (dataclass(slots=True)) in `cls`'s instances."""
    d = cls.__dict__[name]
    if type(d).__name__ != "member_descriptor":
        raise TypeError(f"{cls.__name__}.{name} is not a slot")
    return (<PyMemberDescrObject *><PyObject *>d).d_member.offset


cdef inline object _new_obj(object cls):
    """`object.__new__(cls)` for a record type of slots (its fields unset until `_set`),
    without the Python call."""
    cdef PyTypeObject *tp = <PyTypeObject *><PyObject *>cls
    cdef PyObject *p = tp.tp_alloc(tp, 0)
    cdef object o = <object>p
    Py_XDECREF(p)  # <object> took its own reference
    return o


cdef inline object _get(object o, Py_ssize_t off):
    """Read a slot by offset (the caller checked the exact type)."""
    cdef PyObject *p = (<PyObject **>((<char *><PyObject *>o) + off))[0]
    if p == NULL:
        raise AttributeError("unset slot")
    return <object>p


cdef inline void _set(object o, Py_ssize_t off, object v):
    cdef PyObject **slot = <PyObject **>((<char *><PyObject *>o) + off)
    cdef PyObject *old = slot[0]
    Py_INCREF(v)
    slot[0] = <PyObject *>v
    Py_XDECREF(old)


cdef inline PyObject *_getp(object o, Py_ssize_t off) except NULL:
    """A slot's object, borrowed (the caller checked the exact type)."""
    cdef PyObject *p = (<PyObject **>((<char *><PyObject *>o) + off))[0]
    if p == NULL:
        raise AttributeError("unset slot")
    return p


cdef inline int64_t _days_from_civil(int64_t y, int64_t m, int64_t d) noexcept:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline bint _bday_ok(int64_t y, int64_t m, int64_t d, int64_t bm, int64_t bd,
                          int64_t window) noexcept:
    """timeutil.birthday_distance_ok(date(y, m, d), bm, bd, window) for 2 <= y <= 9998."""
    cdef int64_t day = _days_from_civil(y, m, d), year, dd, diff
    for year in range(y - 1, y + 2):
        dd = bd
        if bm == 2 and bd == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
            dd = 28
        diff = _days_from_civil(year, bm, dd) - day
        if (diff if diff >= 0 else -diff) <= window:
            return True
    return False


cdef inline int _small_int(object o, int64_t *out) noexcept:
    """1 and *out = o when `o` is an exact int within int64, else 0."""
    cdef int ovf = 0
    cdef long long x
    if type(o) is not int:
        return 0
    x = PyLong_AsLongLongAndOverflow(o, &ovf)
    if ovf:
        return 0
    out[0] = x
    return 1


cdef inline int64_t _floor_div(int64_t a, int64_t b) noexcept:
    """a // b rounded down, as Python's (cdivision truncates towards zero)."""
    cdef int64_t q = a // b
    if q * b > a:
        q -= 1
    return q
