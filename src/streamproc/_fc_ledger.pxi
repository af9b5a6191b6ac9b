# ====================================================================== ledger and timers
# Included by _fastcalc.pyx. The compiled twin of streamproc.engine.ledger and of
# streamproc.engine.timers (next_due, fire_due): the same bucket bookkeeping over the same
# `Bucket` objects, with the orderings done on C keys instead of Python tuples and lambdas.
# Checked against the Python versions by test_timers.py, the whole-stream differential test
# (tests/unit/engine/test_processor_stream.py) and every rule test.

from streamproc.engine import ledger as _py_ledger
from streamproc.engine.model import (
    ACTIVE as _B_ACTIVE_PY, EXPIRED as _B_EXPIRED_PY, PENDING as _B_PENDING_PY,
    KIND_RATE as _KIND_RATE_PY, NOTE_ACTIVATED as _N_ACT_PY, NOTE_EXPIRING as _N_EXPG_PY,
    NOTE_EXPIRED as _N_EXPD_PY,
)

DEF B_PENDING = 0
DEF B_ACTIVE = 1
DEF B_EXPIRED = 2
DEF B_KIND_RATE = 0
DEF N_ACT = 1
DEF N_EXPG = 2
DEF N_EXPD = 4
if (_B_PENDING_PY, _B_ACTIVE_PY, _B_EXPIRED_PY, _KIND_RATE_PY, _N_ACT_PY, _N_EXPG_PY,
        _N_EXPD_PY) != (B_PENDING, B_ACTIVE, B_EXPIRED, B_KIND_RATE, N_ACT, N_EXPG, N_EXPD):
    raise ImportError("bucket states changed: update streamproc._fc_ledger.pxi")
cdef int64_t L_NEVER = 1 << 62
if _py_ledger._NEVER != L_NEVER:
    raise ImportError("ledger._NEVER changed: update streamproc._fc_ledger.pxi")

# Bucket fields read by slot offset in the scans below (every receipt scans its customer's
# buckets several times: settle, balance, timers), in declaration order; checked at import.
_BK_FIELDS = ("id", "receipt_id", "campaign_id", "kind", "amount", "act_us", "exp_us", "state",
              "burnt", "notes")
if tuple(_Bucket.__dataclass_fields__) != _BK_FIELDS:
    raise ImportError("Bucket changed: update streamproc._fc_ledger.pxi")
cdef Py_ssize_t BK_OFF[10]
for _k, _f in enumerate(_BK_FIELDS):
    BK_OFF[_k] = _slot_offset(_Bucket, _f)
DEF BK_ID = 0
DEF BK_KIND = 3
DEF BK_AMOUNT = 4
DEF BK_ACT = 5
DEF BK_EXP = 6
DEF BK_STATE = 7
DEF BK_BURNT = 8
DEF BK_NOTES = 9


cdef inline object _bk(object b, int k):
    """Field `k` of a `Bucket` (read by slot offset: the type is checked first)."""
    if type(b) is not _Bucket:
        raise TypeError(f"expected a Bucket, got {type(b).__name__}")
    return _get(b, BK_OFF[k])


cdef inline int64_t _bki(object b, int k) except? -1:
    """An int field of a `Bucket` (not exp_us, which may be None) as int64."""
    if type(b) is not _Bucket:
        raise TypeError(f"expected a Bucket, got {type(b).__name__}")
    return _get(b, BK_OFF[k])


cdef extern from *:
    """
    typedef struct { int64_t a; int64_t b; int64_t c; Py_ssize_t idx; } fl_key;
    static int fl_key_cmp(const void *pa, const void *pb) {
        const fl_key *x = (const fl_key *)pa, *y = (const fl_key *)pb;
        if (x->a != y->a) return x->a < y->a ? -1 : 1;
        if (x->b != y->b) return x->b < y->b ? -1 : 1;
        if (x->c != y->c) return x->c < y->c ? -1 : 1;
        return (x->idx > y->idx) - (x->idx < y->idx);
    }
    static void fl_sort(fl_key *k, Py_ssize_t n) {
        if (n <= 16) {
            Py_ssize_t i, j;
            for (i = 1; i < n; i++) {
                fl_key v = k[i];
                for (j = i - 1; j >= 0 && fl_key_cmp(&v, &k[j]) < 0; j--) k[j + 1] = k[j];
                k[j + 1] = v;
            }
        } else {
            qsort(k, n, sizeof(fl_key), fl_key_cmp);
        }
    }
    """
    ctypedef struct fl_key:
        int64_t a
        int64_t b
        int64_t c
        Py_ssize_t idx
    void fl_sort(fl_key *k, Py_ssize_t n) nogil


cdef class _Keys:
    """A reusable array of sort keys."""
    cdef fl_key *k
    cdef Py_ssize_t n, cap

    def __dealloc__(self):
        free(self.k)

    cdef int reset(self, Py_ssize_t need) except -1:
        cdef fl_key *q
        if need > self.cap:
            q = <fl_key *>realloc(self.k, max(need, 16) * sizeof(fl_key))
            if q == NULL:
                raise MemoryError()
            self.k = q
            self.cap = max(need, 16)
        self.n = 0
        return 0

    cdef inline void add(self, int64_t a, int64_t b, int64_t c, Py_ssize_t idx) noexcept:
        cdef fl_key *e = &self.k[self.n]
        e.a = a
        e.b = b
        e.c = c
        e.idx = idx
        self.n += 1


cdef _Keys _lkeys = _Keys()


cdef inline int64_t _exp_or_never(object exp) except? -1:
    return L_NEVER if exp is None else <int64_t>exp


cdef int _l_prune(st) except -1:
    """ledger.prune: drop buckets that hold nothing and have nothing left to announce."""
    cdef list bs = st.buckets
    cdef Py_ssize_t i, n = len(bs)
    for i in range(n):
        b = bs[i]
        if not (_bk(b, BK_AMOUNT) > 0 or (_bki(b, BK_STATE) == B_EXPIRED
                                          and _bk(b, BK_BURNT) > 0
                                          and not _bki(b, BK_NOTES) & 4)):
            break
    else:
        return 0
    st.buckets = [b for b in bs
                  if b.amount > 0 or (b.state == B_EXPIRED and b.burnt > 0 and not b.notes & 4)]
    return 0


cdef int _l_settle(st) except -1:
    """ledger.settle: activate and expire buckets due by the customer's clock, in time order."""
    clock_o = st.clock_us
    if clock_o is None:
        return 0
    cdef int64_t clock = clock_o, act, exp
    cdef list bs = st.buckets
    cdef Py_ssize_t i, n = len(bs)
    cdef int state
    cdef _Keys K = _lkeys
    cdef fl_key *e
    K.reset(2 * n)
    for i in range(n):
        b = bs[i]
        state = _bki(b, BK_STATE)
        if state == B_PENDING:
            act = _bki(b, BK_ACT)
            if act <= clock:
                K.add(act, 0, _bki(b, BK_ID), i)
                exp_o = _bk(b, BK_EXP)
                if exp_o is not None:
                    exp = exp_o
                    if exp <= clock:
                        K.add(exp, 1, _bki(b, BK_ID), i)
        elif state == B_ACTIVE:
            exp_o = _bk(b, BK_EXP)
            if exp_o is not None:
                exp = exp_o
                if exp <= clock:
                    K.add(exp, 1, _bki(b, BK_ID), i)
    if K.n == 0:
        return 0
    fl_sort(K.k, K.n)
    for i in range(K.n):
        e = &K.k[i]
        b = bs[e.idx]
        if e.b == 0:
            b.state = B_ACTIVE
            debt = st.debt
            if debt and b.amount:
                amount = b.amount
                pay = debt if debt < amount else amount
                st.debt = debt - pay
                b.amount = amount - pay
        else:
            b.state = B_EXPIRED
            b.burnt = b.amount
            b.amount = 0
    return _l_prune(st)


cdef int _l_spend_active(st, amount) except -1:
    """ledger.spend_active: soonest expiry first (never last), then the earliest activated."""
    cdef list bs = st.buckets
    cdef Py_ssize_t i, n = len(bs)
    cdef _Keys K = _lkeys
    K.reset(n)
    for i in range(n):
        b = bs[i]
        if _bki(b, BK_STATE) == B_ACTIVE and _bk(b, BK_AMOUNT) > 0:
            K.add(_exp_or_never(_bk(b, BK_EXP)), _bki(b, BK_ACT), _bki(b, BK_ID), i)
    fl_sort(K.k, K.n)
    left = amount
    for i in range(K.n):
        if not left:
            break
        b = bs[K.k[i].idx]
        ba = b.amount
        take = left if left < ba else ba
        b.amount = ba - take
        left -= take
    if left:
        raise AssertionError("redeemed more than the active balance")
    return _l_prune(st)


cdef int _l_claw_back(st, amount, list sale_buckets) except -1:
    """ledger.claw_back: the sale's own rate-based buckets (newest first), then other pending
    ones (newest first), then active ones (never-expiring first, then latest expiry); the
    rest becomes debt."""
    cdef list bs = st.buckets
    cdef Py_ssize_t i, n = len(bs)
    cdef _Keys K = _lkeys
    cdef set own = set(sale_buckets)
    cdef int64_t bid
    K.reset(n)
    for i in range(n):
        b = bs[i]
        if b.amount > 0:
            bid = b.id
            if b.id in own:
                if b.kind == B_KIND_RATE:
                    K.add(0, -bid, 0, i)
            elif b.state == B_PENDING:
                K.add(1, -bid, 0, i)
            elif b.state == B_ACTIVE:
                K.add(2, -_exp_or_never(b.exp_us), -bid, i)
    fl_sort(K.k, K.n)
    left = amount
    for i in range(K.n):
        if not left:
            break
        b = bs[K.k[i].idx]
        ba = b.amount
        take = left if left < ba else ba
        b.amount = ba - take
        left -= take
    st.debt = st.debt + left
    return _l_prune(st)


cdef object _l_balance(st):
    """CustomerState.balance(): (active - debt, pending)."""
    cdef int64_t s
    active = 0
    pending = 0
    for b in <list>st.buckets:
        s = _bki(b, BK_STATE)
        if s == B_ACTIVE:
            active += _bk(b, BK_AMOUNT)
        elif s == B_PENDING:
            pending += _bk(b, BK_AMOUNT)
    return active - st.debt, pending


cdef object _t_next_due(st, object notify):
    """timers.next_due: when this customer's next timer event is due (None: nothing)."""
    cdef bint have = False, has_notify = notify is not None
    cdef int64_t best = 0, t, nt = 0
    cdef int notes
    if has_notify:
        nt = notify
    for b in <list>st.buckets:
        notes = <int>_bki(b, BK_NOTES)
        exp_o = _bk(b, BK_EXP)
        if _bki(b, BK_STATE) != B_EXPIRED:
            if not notes & N_ACT:
                t = _bki(b, BK_ACT)
                if not have or t < best:
                    best = t
                    have = True
            if exp_o is not None:
                if has_notify and not notes & N_EXPG:
                    t = <int64_t>exp_o - nt
                    if not have or t < best:
                        best = t
                        have = True
                if not notes & N_EXPD:
                    t = exp_o
                    if not have or t < best:
                        best = t
                        have = True
        elif not notes & N_EXPD and exp_o is not None:
            t = exp_o
            if not have or t < best:
                best = t
                have = True
    return best if have else None


def next_due(st, program):
    """`timers.next_due(st, program)`, compiled."""
    d = program.expiring_days_before
    return _t_next_due(st, None if d is None else d * 86_400_000_000)


cdef object _tu_format_us = _tu.format_us  # `_tu`, `_TU_HOURS`, `_FMT_MIN/MAX`: _fastcalc.pyx
cdef dict _TU_DAYS = _tu._DAYS
DEF US_HOUR = 3600000000
DEF US_DAY_L = 86400000000
if _tu.US_PER_HOUR != US_HOUR or _tu.US_PER_DAY != US_DAY_L:
    raise ImportError("timeutil changed: update streamproc._fc_ledger.pxi")


cdef str _fmt_us(int64_t us, object tz):
    """timeutil.format_us(us, tz): the same text from the same caches (timeutil's own, which
    it fills on a miss), written in C when the hour and the day are cached."""
    cdef int64_t hour, local, days, rest, secs, micro
    cdef char buf[64]
    cdef Py_ssize_t n, dn, ln
    cdef const char *p
    cdef int k
    if us < _FMT_MIN:
        us = _FMT_MIN
    elif us > _FMT_MAX:
        us = _FMT_MAX
    hours = _TU_HOURS.get(tz)
    if hours is None:
        return _tu_format_us(us, tz)
    hour = _floor_div(us, US_HOUR)
    got = (<dict>hours).get(hour)
    if got is None:  # not cached, or an hour with an offset change: the Python way
        return _tu_format_us(us, tz)
    offset = (<tuple>got)[0]
    label = (<tuple>got)[1]
    local = us + <int64_t>offset
    days = _floor_div(local, US_DAY_L)
    day = _TU_DAYS.get(days)
    if day is None:
        return _tu_format_us(us, tz)
    rest = local - days * US_DAY_L
    secs = rest // 1000000
    micro = rest - secs * 1000000
    p = PyUnicode_AsUTF8AndSize(day, &dn)
    if dn > 20:
        return _tu_format_us(us, tz)
    memcpy(buf, p, dn)
    n = dn
    buf[n] = 84  # T
    buf[n + 1] = <char>(48 + secs // 36000)
    buf[n + 2] = <char>(48 + (secs // 3600) % 10)
    buf[n + 3] = 58
    buf[n + 4] = <char>(48 + (secs // 600) % 6)
    buf[n + 5] = <char>(48 + (secs // 60) % 10)
    buf[n + 6] = 58
    buf[n + 7] = <char>(48 + (secs % 60) // 10)
    buf[n + 8] = <char>(48 + secs % 10)
    n += 9
    if micro:
        buf[n] = 46  # .
        for k in range(6, 0, -1):
            buf[n + k] = <char>(48 + micro % 10)
            micro //= 10
        n += 7
    p = PyUnicode_AsUTF8AndSize(label, &ln)
    if ln > 20:
        return _tu_format_us(us, tz)
    memcpy(&buf[n], p, ln)
    n += ln
    return buf[:n].decode("ascii")


def format_us(us, tz):
    """`timeutil.format_us(us, tz)`, compiled (what the compiled timers write)."""
    if not (_FMT_MIN <= us <= _FMT_MAX):
        us = _FMT_MIN if us < _FMT_MIN else _FMT_MAX
    return _fmt_us(us, tz)


cdef _Keys _tkeys = _Keys()


cdef list _t_fire_due(st, object notify, int64_t now, object tz, bint text):
    """timers.fire_due: announce every transition due by `now` in time order, mark it."""
    cdef list bs = st.buckets
    cdef Py_ssize_t i, n = len(bs)
    cdef _Keys K = _tkeys
    cdef fl_key *e
    cdef bint has_notify = notify is not None, live
    cdef int64_t nt = 0, exp, t
    cdef int notes, what
    cdef list events = []
    if has_notify:
        nt = notify
    K.reset(3 * n)
    for i in range(n):
        b = bs[i]
        notes = <int>_bki(b, BK_NOTES)
        live = _bki(b, BK_STATE) != B_EXPIRED
        if live and not notes & N_ACT:
            t = _bki(b, BK_ACT)
            if t <= now:
                K.add(t, N_ACT, _bki(b, BK_ID), i)
        exp_o = _bk(b, BK_EXP)
        if exp_o is not None:
            exp = exp_o
            if has_notify and live and not notes & N_EXPG and exp - nt <= now:
                K.add(exp - nt, N_EXPG, _bki(b, BK_ID), i)
            if not notes & N_EXPD and exp <= now:
                K.add(exp, N_EXPD, _bki(b, BK_ID), i)
    if K.n > 1:
        fl_sort(K.k, K.n)
    cust = st.customer_id
    for i in range(K.n):
        e = &K.k[i]
        b = bs[e.idx]
        what = <int>e.b
        notes = b.notes
        if notes & what:
            continue
        notes |= what
        b.notes = notes
        if what == N_ACT:
            etype = "points_activated"
            amount = b.amount
        elif what == N_EXPG:
            if e.a + nt <= now:
                continue  # already past its expiry: only `points_expired` is news
            etype = "points_expiring_soon"
            amount = b.amount
        else:
            etype = "points_expired"
            amount = b.burnt if b.state == B_EXPIRED else b.amount
            b.notes = notes | N_ACT | N_EXPG
        if amount <= 0:
            continue
        if not text:
            events.append({"type": etype, "amount": amount, "campaign_id": b.campaign_id})
            continue
        ev = {"event_id": f"{cust}/b{b.id}/{etype}", "type": etype, "customer_id": cust,
              "ts": _fmt_us(e.a, tz), "amount": amount, "campaign_id": b.campaign_id}
        exp_o = b.exp_us
        if what != N_EXPD and exp_o is not None:
            ev["expires_at"] = _fmt_us(exp_o, tz)
        events.append(ev)
    _l_prune(st)
    return events


def fire_due(st, program, now_us, text=True):
    """`timers.fire_due(st, program, now_us, text)`, compiled."""
    d = program.expiring_days_before
    return _t_fire_due(st, None if d is None else d * 86_400_000_000, now_us, program.tz,
                       text)
