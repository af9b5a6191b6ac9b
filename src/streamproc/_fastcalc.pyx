# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The compiled hot path: the module the rest of the code imports (stub: `_fastcalc.pyi`).

One extension module, split by concern into textual parts (see docs/decisions.md):
- `_fc_engine.pxi`: `FastEngine`, spec section 5 for one sale, exactly like the reference;
  `_fc_sale.pxi`: its stages (loading the lines, conditions, discounts, points);
- `_fc_decoder.pxi`: `receipt_from_obj` / `parse_receipt`, the compiled receipt decoder;
- `_fc_state.pxi`: the packed customer state format (`encode_state` / `decode_state`);
- `_fc_records.pxi`: the packed receipt records (`pack_records` / `unpack_records` /
  `splice_records`);
- `_fc_ledger.pxi`: buckets, settlement and timers over `CustomerState`;
- `_fc_processor.pxi`: `FastProcessor`, the twin of `engine.processor.Processor`;
- `_fc_json.pxi`: the result and event JSON writer;
- shared C-level helpers in `.pxd` files: `_fc_common.pxd` (slot access, CPython calls, the
  day count) and `_fc_math.pxd` (128-bit arithmetic, splits and sorts of the engine).
This file holds the imports every part uses and the canonical SKU/category table that the
decoder fills and the engine's line-record table is keyed by.
"""

from libc.stdint cimport int64_t, uint64_t, int32_t, uint8_t
from libc.stdlib cimport malloc, free, realloc
from libc.string cimport memcmp, memcpy, memset
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from cpython.dict cimport PyDict_GetItemWithError
from cpython.tuple cimport PyTuple_GET_SIZE, PyTuple_GET_ITEM
from cpython.datetime cimport (import_datetime, PyDate_CheckExact, PyDateTime_GET_YEAR,
                               PyDateTime_GET_MONTH, PyDateTime_GET_DAY)

from streamproc.domain.timeutil import birthday_distance_ok, from_us
from streamproc.domain.receipt import Line, Receipt
from streamproc.engine.calc import SaleCalc, SaleContext
from streamproc.engine.plan import compile_plan

COMPILED = True
import_datetime()

from streamproc._fc_common cimport (PyTypeObject, PyLong_AsLongLongAndOverflow,
                                    PyLong_AsUnsignedLongLong, PyUnicode_GET_LENGTH,
                                    PyUnicode_KIND, PyUnicode_DATA, PyUnicode_1BYTE_KIND,
                                    PyUnicode_AsUTF8AndSize, _slot_offset, _get, _set, _getp,
                                    _days_from_civil, _bday_ok, _small_int)
from streamproc._fc_math cimport (fc_rem, fc_unit, fc_item, fc_md, fc_md3, fc_split,
                                  fc_sort_units, fc_lslot, fc_phash)


# Canonical str objects of SKUs and categories, shared by the compiled decoder (which puts
# them in the `Line`s it builds) and every FastEngine (whose line-record table is keyed by
# the canonical objects' addresses, so a decoded line finds its record without touching its
# strings). Only a speed-up: a line with other (equal) str objects takes the value path.
cdef dict _canon = {}
DEF CANON_MAX = 262144


cdef inline object _intern(object s):
    """The canonical object equal to the exact str `s` (`s` itself when first seen)."""
    cdef PyObject *c = PyDict_GetItemWithError(_canon, s)
    if c != NULL:
        return <object>c
    if len(_canon) >= CANON_MAX:
        _canon.clear()
    _canon[s] = s
    return s


include "_fc_engine.pxi"
include "_fc_sale.pxi"
include "_fc_decoder.pxi"
include "_fc_state.pxi"
include "_fc_ledger.pxi"
include "_fc_processor.pxi"
include "_fc_records.pxi"
include "_fc_json.pxi"
