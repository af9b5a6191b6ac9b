# ====================================================================== replay loop
# Included by _fastcalc.pyx. `streamproc replay`'s per-message loop for the compiled processor,
# a chunk of messages per call: `ReplayLoop.run_chunk` does what `replay.in_memory.Replay.step`
# + `RunReport.count` + `Sinks.write` do for each message (process, the replay clock, timers,
# the report's counts, the result / event / reject bytes) without a Python frame a message.
# `TimerHeap` is `replay.in_memory.TimerQueue` over the compiled timers. The readable loop in
# replay/in_memory.py stays the reference path (`--engine reference`); the whole-stream
# differential test (tests/unit/engine/test_processor_stream.py) requires identical bytes.

import logging as _logging
from cpython.object cimport PyObject_RichCompareBool, Py_LT
from cpython.dict cimport PyDict_SetItem

cdef object _rlog = _logging.getLogger("streamproc.replay.in_memory")
# `Outcome` (a slots dataclass built by the processor) read by slot offset
cdef Py_ssize_t O_STATUS = _slot_offset(_Outcome, "status")
cdef Py_ssize_t O_RESULT = _slot_offset(_Outcome, "result")
cdef Py_ssize_t O_EVENTS = _slot_offset(_Outcome, "events")
cdef Py_ssize_t O_REJECT = _slot_offset(_Outcome, "reject")
cdef Py_ssize_t O_RECEIPT = _slot_offset(_Outcome, "receipt")
cdef Py_ssize_t O_ENCODED = _slot_offset(_Outcome, "encoded")
cdef int64_t _FORGET_SLACK = 86_400_000_000  # a day past the return window (Replay)


cdef struct _hent:
    int64_t at
    PyObject *cid  # owned


cdef inline bint _h_less(_hent *a, _hent *b) except -1:
    """(at, customer id) order, as heapq orders the reference's tuples."""
    if a.at != b.at:
        return a.at < b.at
    return PyObject_RichCompareBool(<object>a.cid, <object>b.cid, Py_LT)


cdef class TimerHeap:
    """Customers by their next due timer, fired as the replay's clock moves (the compiled
    `TimerQueue`: same interface, same events in the same order)."""

    cdef _hent *h
    cdef Py_ssize_t n, cap
    cdef readonly dict due
    cdef public bint text
    cdef public Py_ssize_t failures
    cdef object state
    cdef dict customers
    cdef object notify
    cdef object tz

    def __cinit__(self):
        self.h = NULL
        self.n = 0
        self.cap = 0

    def __init__(self, state, FastProcessor processor not None, bint text=True):
        self.state = state
        self.customers = state.customers
        self.notify = processor.notify
        self.tz = processor.tz
        self.text = text
        self.failures = 0
        self.due = {}

    def __dealloc__(self):
        cdef Py_ssize_t i
        for i in range(self.n):
            Py_XDECREF(self.h[i].cid)
        free(self.h)

    cdef int _push(self, int64_t at, object cid) except -1:
        cdef _hent *q
        cdef _hent e
        cdef Py_ssize_t i, parent
        if self.n == self.cap:
            q = <_hent *>realloc(self.h, (self.cap * 2 + 64) * sizeof(_hent))
            if q == NULL:
                raise MemoryError()
            self.h = q
            self.cap = self.cap * 2 + 64
        Py_INCREF(cid)
        e.at = at
        e.cid = <PyObject *>cid
        i = self.n
        self.n += 1
        while i > 0:
            parent = (i - 1) >> 1
            if not _h_less(&e, &self.h[parent]):
                break
            self.h[i] = self.h[parent]
            i = parent
        self.h[i] = e
        return 0

    cdef object _pop(self, int64_t *at):
        """The smallest entry's customer id (a new reference); its time in `at`."""
        cdef _hent top = self.h[0], last
        cdef Py_ssize_t i = 0, c, n
        self.n -= 1
        n = self.n
        if n > 0:
            last = self.h[n]
            while True:
                c = 2 * i + 1
                if c >= n:
                    break
                if c + 1 < n and _h_less(&self.h[c + 1], &self.h[c]):
                    c += 1
                if not _h_less(&self.h[c], &last):
                    break
                self.h[i] = self.h[c]
                i = c
            self.h[i] = last
        at[0] = top.at
        cid = <object>top.cid
        Py_XDECREF(top.cid)  # `cid` holds its own reference now
        return cid

    cdef object _customer(self, cid):
        cdef PyObject *p = PyDict_GetItemWithError(self.customers, cid)
        if p != NULL:
            return <object>p
        return self.state.customer(cid)

    cdef int _resched(self, cid, st) except -1:
        cdef PyObject *p
        if st is None:
            st = self._customer(cid)
        nd = _t_next_due(st, self.notify)
        if nd is None:
            self.due.pop(cid, None)
            return 0
        p = PyDict_GetItemWithError(self.due, cid)
        if p == NULL or not (<object>p == nd):
            PyDict_SetItem(self.due, cid, nd)
            self._push(<int64_t>nd, cid)
        return 0

    def reschedule(self, customer_id, st=None):
        self._resched(customer_id, st)

    cpdef list fire(self, now_us):
        cdef list out = []
        cdef int64_t now = now_us, at
        cdef PyObject *p
        if self.n == 0 or self.h[0].at > now:
            return out
        while self.n and self.h[0].at <= now:
            cid = self._pop(&at)
            p = PyDict_GetItemWithError(self.due, cid)
            if p == NULL or <int64_t>(<object>p) != at:
                continue  # stale entry
            del self.due[cid]
            try:
                st = self.state.customer(cid)
                out.extend(_t_fire_due(st, self.notify, now, self.tz, self.text))
                self._resched(cid, st)
            except Exception as exc:  # one customer's timers; the others go on
                self.failures += 1
                _rlog.error("timers failed for customer %r", cid, exc_info=exc)
        return out


cdef int _event_line(_wbuf *w, object ev) except -1:
    """Append `orjson.dumps(ev)` and a newline: the C writer, orjson where it cannot say."""
    cdef Py_ssize_t n0 = w.n
    try:
        bad = _j_value(w, ev)
    except UnicodeEncodeError:
        bad = 1
    if bad:
        w.n = n0
        b = _orjson_dumps(ev)
        _wb_bytes(w, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
    _wb_byte(w, 10)
    return 0


cdef inline int _cnt(object d, key, amount) except -1:
    """`Counter[key] += amount` without `__missing__` (first-seen order kept)."""
    cdef PyObject *p = PyDict_GetItemWithError(d, key)
    if p == NULL:
        PyDict_SetItem(d, key, amount)
    else:
        PyDict_SetItem(d, key, <object>p + amount)
    return 0


cdef class MemView:
    """`state.memory.MemoryState`'s `StateView` methods over the same dicts and the same kept
    record bytes (`PackedRecords.raw()`), for the compiled replay loop: a C call each, where
    the state's own methods cost a Python frame each (about ten a receipt). What it does not
    keep itself (new customers, decoding and putting a record) it asks the state."""

    cdef object state
    cdef dict customers, profiles, budgets, coupons, records
    cdef set exhausted

    def __init__(self, state, dict records not None):
        self.state = state
        self.customers = state.customers
        self.profiles = state.profiles
        self.budgets = state.budgets
        self.coupons = state.coupons
        self.exhausted = state.exhausted
        self.records = records

    def customer(self, customer_id):
        cdef PyObject *p = PyDict_GetItemWithError(self.customers, customer_id)
        if p != NULL:
            return <object>p
        return self.state.customer(customer_id)

    def profile(self, customer_id):
        return self.profiles.get(customer_id)

    def receipt(self, receipt_id):
        if receipt_id not in self.records:
            return None
        return self.state.receipt(receipt_id)

    def put_receipt(self, rec):
        self.state.put_receipt(rec)

    def put_receipt_blob(self, receipt_id, ts_us, blob):
        self.records[receipt_id] = (ts_us, blob)

    def budget_spent(self, campaign_id):
        return self.budgets.get(campaign_id, 0)

    def budgets_left(self, list budgeted):
        """{campaign id: budget - `budget_spent`} for (campaign id, budget) pairs, one call."""
        cdef dict out = {}
        cdef PyObject *p
        for item in budgeted:
            cid, budget = <tuple>item
            p = PyDict_GetItemWithError(self.budgets, cid)
            PyDict_SetItem(out, cid, budget - (<object>p if p != NULL else 0))
        return out

    def add_budget_spent(self, campaign_id, amount):
        self.budgets[campaign_id] = self.budgets.get(campaign_id, 0) + amount

    def coupon_used(self, code):
        return code in self.coupons

    def use_coupon(self, code, receipt_id):
        self.coupons[code] = receipt_id

    def exhausted_noted(self, campaign_id):
        return campaign_id in self.exhausted

    def note_exhausted(self, campaign_id):
        self.exhausted.add(campaign_id)

    def touch(self, st):
        pass

    def stored_output(self, receipt_id):
        return None  # a replay in memory never sees a redelivery

    def keep_output(self, receipt_id, outcome):
        pass


cdef class ReplayLoop:
    """`Replay.step` over chunks of messages for a `FastProcessor` (replay/in_memory.py)."""

    cdef FastProcessor proc
    cdef object state
    cdef object view
    cdef TimerHeap timers
    cdef object report
    cdef object on_error

    def __init__(self, FastProcessor processor not None, state, TimerHeap timers not None,
                 report, on_error, view=None):
        """`on_error(no, raw, exc, source)`: the outcome of a message whose processing raised;
        `view`: what the processor reads and writes (`state` itself when None)."""
        self.proc = processor
        self.state = state
        self.view = state if view is None else view
        self.timers = timers
        self.report = report
        self.on_error = on_error

    def run_chunk(self, list msgs, str source, clock_us, bytearray results,
                  bytearray events, bytearray rejects):
        """(line number, raw) messages through the processor; appends their result, event and
        reject lines to the buffers (None: not written); returns the replay clock after."""
        cdef FastProcessor proc = self.proc
        cdef TimerHeap timers = self.timers
        rep = self.report
        # Counters (dict subclasses): written with the dict calls, never `__missing__`
        by_status, by_reason = rep.by_status, rep.rejects_by_reason
        by_type, disc, pts = rep.events_by_type, rep.discount_by_campaign, rep.points_by_campaign
        cdef Py_ssize_t messages = 0, returns = 0, timer_events = 0
        cdef list fired, evs
        cdef bint have_clock = clock_us is not None
        cdef int64_t clock = clock_us if have_clock else 0, ts
        sales = discount = redeemed = accrued = 0
        state = self.state
        view = self.view
        window = proc.window_us
        cdef _wbuf ew  # the chunk's event lines
        ew.p = NULL
        ew.n = 0
        ew.cap = 0
        try:
            for item in msgs:
                no, raw = <tuple>item
                try:
                    o = proc.process_raw(raw, view, f"{source}:{no}")
                except Exception as exc:  # a bad line is a reject, never a traceback
                    o = self.on_error(no, raw, exc, source)
                if type(o) is not _Outcome:
                    raise TypeError(f"not an Outcome: {type(o).__name__}")
                # RunReport.count
                messages += 1
                status = _get(o, O_STATUS)
                _cnt(by_status, status, 1)
                if status == _REJECTED:
                    _cnt(by_reason, _get(o, O_REJECT)["reason"], 1)
                elif status == _APPLIED:
                    r = _get(o, O_RESULT)
                    for ev in _get(o, O_EVENTS):
                        _cnt(by_type, ev["type"], 1)
                    total = r.total
                    if total < 0:
                        returns += 1
                    else:
                        sales = sales + total
                    discount = discount + r.discount
                    redeemed = redeemed + r.redeemed
                    accrued = accrued + r.accrued
                    for a in r.applied:
                        _cnt(disc if a.kind == "discount" else pts, a.campaign_id, a.amount)
                # the replay clock and timers
                fired = None
                rec = _get(o, O_RECEIPT)
                if rec is not None:
                    ts = _get(rec, R_TS) if type(rec) is Receipt else rec.ts_us
                    if not have_clock or ts > clock:
                        clock = ts
                        have_clock = True
                    cid = _get(rec, R_CUST) if type(rec) is Receipt else rec.customer_id
                    if cid is not None and status != _REJECTED:
                        timers._resched(cid, None)
                    fired = timers.fire(clock)
                    if fired:
                        timer_events += len(fired)
                        for ev in fired:
                            _cnt(by_type, ev["type"], 1)
                # Sinks.write
                if status == _REJECTED:
                    if rejects is not None:
                        line = dict(_get(o, O_REJECT))
                        line["file"] = source
                        line["line"] = no
                        rejects += _orjson_dumps(line)
                        rejects += b"\n"
                elif results is not None:
                    enc = _get(o, O_ENCODED)
                    results += enc if enc is not None else o.result_json()
                    results += b"\n"
                if events is not None:
                    for ev in _get(o, O_EVENTS):
                        _event_line(&ew, ev)
                    if fired:
                        for ev in fired:
                            _event_line(&ew, ev)
                if no % 50_000 == 0 and have_clock:
                    state.receipts.forget_before(clock - window - _FORGET_SLACK)
            if ew.n:
                events += (<char *>ew.p)[:ew.n]
        finally:
            free(ew.p)
        rep.messages += messages
        rep.returns += returns
        rep.timer_events += timer_events
        rep.total_sales += sales
        rep.total_discount += discount
        rep.total_redeemed += redeemed
        rep.total_accrued += accrued
        return clock if have_clock else None
