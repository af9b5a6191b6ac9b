# ====================================================================== processor
# Included by _fastcalc.pyx. `FastProcessor`: the order of spec section 5 around the compiled
# calculation (duplicates, clock and settlement, context, budgets, coupons, buckets, spend and
# tier, offers, returns and clawback, events, the receipt record, the result), the compiled
# twin of streamproc.engine.processor.Processor over the same `StateView` and state objects.
# The reference processor stays the readable truth; the whole-stream differential test
# (tests/unit/engine/test_processor_stream.py) requires identical outcomes and final state.

from streamproc.engine.processor import (
    APPLIED as _APPLIED, DUPLICATE as _DUPLICATE, REJECTED as _REJECTED, Outcome as _Outcome,
)
from streamproc.engine.model import (
    KIND_REFUND as _KIND_REFUND, ReceiptRecord as _RRec, SaleLine as _SLine,
)
from streamproc.domain.receipt import (
    RETURN_EXCEEDS_SALE as _RETURN_EXCEEDS_SALE, UNKNOWN_ORIGINAL as _UNKNOWN_ORIGINAL,
    Reject as _Reject,
)
from streamproc.domain.deadletter import raw_fields as _raw_fields
from streamproc.domain.result import (
    AppliedEntry as _AppliedEntry, AppliedResult as _AppliedResult, Balance as _Balance,
    CouponRejected as _CouponRejected, Coupons as _Coupons, DuplicateResult as _DuplicateResult,
    LineResult as _LineResult, ReturnResult as _ReturnResult, decode_result as _decode_result,
)

# Records built without running their dataclass __init__ (a Python frame each): fields set
# by slot offset, in declaration order. Any change of their fields fails the import.
_REC_FIELDS = {
    _LineResult: ("line_no", "amount", "discount", "redeemed", "accrued"),
    _AppliedEntry: ("campaign_id", "kind", "amount"),
    _Balance: ("active", "pending"),
    _SLine: ("line_no", "qty", "amount", "discount", "redeemed", "accrued", "spend",
             "returned"),
    _Bucket: ("id", "receipt_id", "campaign_id", "kind", "amount", "act_us", "exp_us", "state",
              "burnt", "notes"),
}
for _cls, _fs in _REC_FIELDS.items():
    if tuple(_cls.__dataclass_fields__) != _fs or hasattr(_cls, "__post_init__"):
        raise ImportError(f"{_cls.__name__} changed: update streamproc._fc_processor.pxi")
cdef Py_ssize_t LR_OFF[5]
cdef Py_ssize_t AE_OFF[3]
cdef Py_ssize_t BL_OFF[2]
cdef Py_ssize_t SL_OFF[8]
for _k, _f in enumerate(_REC_FIELDS[_LineResult]):
    LR_OFF[_k] = _slot_offset(_LineResult, _f)
for _k, _f in enumerate(_REC_FIELDS[_AppliedEntry]):
    AE_OFF[_k] = _slot_offset(_AppliedEntry, _f)
for _k, _f in enumerate(_REC_FIELDS[_Balance]):
    BL_OFF[_k] = _slot_offset(_Balance, _f)
for _k, _f in enumerate(_REC_FIELDS[_SLine]):
    SL_OFF[_k] = _slot_offset(_SLine, _f)

# The records every receipt builds (results, context, outcome) the same way: all fields, in
# declaration order, through `_mk(kind, (values...))`. Any change of their fields fails the
# import.
cdef enum:
    MK_APPLIED = 0
    MK_RETURN = 1
    MK_COUPONS = 2
    MK_COUPON_REJ = 3
    MK_CTX = 4
    MK_OUTCOME = 5
    MK_DUP = 6
_RESULT_FS = ("receipt_id", "customer_id", "status", "total", "discount", "redeemed", "paid",
              "accrued", "lines", "applied", "redeem_requested", "coupons", "held_out",
              "balance", "tier", "events", "program_version")
_MK_FIELDS = (
    (_AppliedResult, _RESULT_FS),
    (_ReturnResult, _RESULT_FS + ("original_receipt_id",)),
    (_Coupons, ("accepted", "rejected")),
    (_CouponRejected, ("code", "reason")),
    (SaleContext, ("customer_id", "tier", "active_balance", "has_sale", "birthday", "segments",
                   "uses", "offers", "budget_left", "used_codes")),
    (_Outcome, ("status", "result", "events", "reject", "receipt", "calc", "redelivered",
                "encoded")),
    (_DuplicateResult, ("receipt_id", "customer_id", "status")),
)
cdef list _MK_CLS = [c for c, _ in _MK_FIELDS]
cdef Py_ssize_t MK_OFF[7][18]
cdef Py_ssize_t MK_N[7]
for _k, (_cls, _fs) in enumerate(_MK_FIELDS):
    if tuple(_cls.__dataclass_fields__) != _fs or hasattr(_cls, "__post_init__"):
        raise ImportError(f"{_cls.__name__} changed: update streamproc._fc_processor.pxi")
    MK_N[_k] = len(_fs)
    for _j, _f in enumerate(_fs):
        MK_OFF[_k][_j] = _slot_offset(next(c for c in _cls.__mro__ if _f in c.__dict__), _f)


cdef object _mk(int kind, tuple vals):
    """A record of `_MK_FIELDS[kind]` from all its field values (no dataclass __init__)."""
    cdef Py_ssize_t j
    if len(vals) != MK_N[kind]:
        raise TypeError("wrong number of fields")
    o = _new_obj(<type>_MK_CLS[kind])
    for j in range(MK_N[kind]):
        _set(o, MK_OFF[kind][j], vals[j])
    return o


cdef inline object _line_result(no, amount, discount, redeemed, accrued):
    o = _new_obj(_LineResult)
    _set(o, LR_OFF[0], no)
    _set(o, LR_OFF[1], amount)
    _set(o, LR_OFF[2], discount)
    _set(o, LR_OFF[3], redeemed)
    _set(o, LR_OFF[4], accrued)
    return o


cdef inline object _applied_entry(cid, kind, amount):
    o = _new_obj(_AppliedEntry)
    _set(o, AE_OFF[0], cid)
    _set(o, AE_OFF[1], kind)
    _set(o, AE_OFF[2], amount)
    return o


cdef inline object _sale_line(no, qty, amount, discount, redeemed, accrued, spend):
    o = _new_obj(_SLine)
    _set(o, SL_OFF[0], no)
    _set(o, SL_OFF[1], qty)
    _set(o, SL_OFF[2], amount)
    _set(o, SL_OFF[3], discount)
    _set(o, SL_OFF[4], redeemed)
    _set(o, SL_OFF[5], accrued)
    _set(o, SL_OFF[6], spend)
    _set(o, SL_OFF[7], _zero)
    return o


cdef inline object _bucket(bid, rid, cid, kind, amount, act, exp):
    o = _new_obj(_Bucket)
    _set(o, BK_OFF[0], bid)
    _set(o, BK_OFF[1], rid)
    _set(o, BK_OFF[2], cid)
    _set(o, BK_OFF[3], kind)
    _set(o, BK_OFF[4], amount)
    _set(o, BK_OFF[5], act)
    _set(o, BK_OFF[6], exp)
    _set(o, BK_OFF[7], _zero)
    _set(o, BK_OFF[8], _zero)
    _set(o, BK_OFF[9], _zero)
    return o

DEF US_DAY = 86400000000
cdef object _orjson_dumps = _orjson.dumps


cdef class FastProcessor:
    """Applies receipts to a `StateView` like `Processor`, with the compiled engine."""

    cdef readonly object program
    cdef readonly FastEngine engine
    cdef readonly object decode
    cdef list budgeted          # (campaign id, budget) of every budgeted campaign
    cdef frozenset single_use
    cdef dict grant_terms       # campaign id -> (activation µs, expiry µs or None)
    cdef dict offer_terms       # campaign id -> (offer type, valid µs, uses)
    cdef list tier_min          # tiers' min_spend, in order
    cdef list tier_names
    cdef object base_act
    cdef object base_exp
    cdef object refund_exp
    cdef int64_t window_us
    cdef object window_days
    cdef object notify
    cdef object version
    cdef object tz

    def __init__(self, program, FastEngine engine not None):
        self.program = program
        self.engine = engine
        self.decode = parse_receipt
        self.version = program.version
        self.tz = program.tz
        self.budgeted = [(c.id, c.budget) for c in program.campaigns if c.budget is not None]
        self.single_use = frozenset(code for c in program.campaigns if c.single_use
                                    for code in c.coupon_codes)
        self.grant_terms = {
            c.id: (c.activation_days * US_DAY,
                   None if c.expiry_days is None else c.expiry_days * US_DAY)
            for c in program.campaigns}
        self.offer_terms = {c.id: (c.offer.type, c.offer.valid_days * US_DAY, c.offer.uses)
                            for c in program.campaigns if c.offer is not None}
        self.tier_min = [t.min_spend for t in program.tiers]
        self.tier_names = [t.name for t in program.tiers]
        self.base_act = program.activation_days * US_DAY
        self.base_exp = None if program.expiry_days is None else program.expiry_days * US_DAY
        self.refund_exp = self.base_exp
        self.window_us = program.return_window_us
        self.window_days = program.return_window_days
        d = program.expiring_days_before
        self.notify = None if d is None else d * US_DAY

    # ------------------------------------------------------------------ helpers
    cdef inline int _tier_for(self, spend) except -1:
        cdef int idx = 0, i
        cdef list mins = self.tier_min
        for i in range(len(mins)):
            if spend >= mins[i]:
                idx = i
        return idx

    cdef inline object _tier_name(self, int idx):
        return self.tier_names[idx] if self.tier_names else None

    def next_due(self, st):
        """`timers.next_due(st, program)`, compiled."""
        return _t_next_due(st, self.notify)

    def fire_due(self, st, now_us, text=True):
        """`timers.fire_due(st, program, now_us, text)`, compiled."""
        return _t_fire_due(st, self.notify, now_us, self.tz, text)

    def replay_parts(self, state, report, on_error, records=None):
        """The compiled replay loop over `state` (replay/in_memory.py): (its `TimerHeap`,
        its `ReplayLoop`). `records`: a `MemoryState`'s kept record bytes, which the loop's
        `MemView` then reads and writes itself."""
        timers = TimerHeap(state, self)
        view = None if records is None else MemView(state, records)
        return timers, ReplayLoop(self, state, timers, report, on_error, view)

    # ------------------------------------------------------------------ entry
    def process_raw(self, raw, view, origin=None):
        try:
            receipt = parse_receipt(raw)
        except _Reject as rej:
            return self.rejected(rej, raw)
        return self.process(receipt, view, raw, origin)

    def process_many(self, raws, view, origins=None):
        """`process_raw` over a batch of messages (origins: one per message, or None)."""
        cdef list out = []
        if origins is None:
            for raw in raws:
                out.append(self.process_raw(raw, view, None))
        else:
            for raw, origin in zip(raws, origins, strict=True):
                out.append(self.process_raw(raw, view, origin))
        return out

    def process(self, receipt, view, raw=b"", origin=None):
        rid = receipt.receipt_id
        prev = view.receipt(rid)
        if prev is not None and origin is not None and prev.origin == origin:
            stored = view.stored_output(rid)
            if stored is not None:
                result = _decode_result(stored)
                events = result.events if isinstance(result, _AppliedResult) else []
                return _Outcome(_APPLIED, result, events, receipt=receipt, redelivered=True,
                                encoded=stored)
        if prev is not None:
            d = receipt.ts_us - prev.ts_us
            if (d if d >= 0 else -d) <= self.window_us:
                dup = _mk(MK_DUP, (rid, receipt.customer_id, _DUPLICATE))
                return _mk(MK_OUTCOME, (_DUPLICATE, dup, [], None, receipt, None, False, None))
        try:
            if receipt.kind == "return":
                out = self._return(receipt, view, origin)
            else:
                out = self._sale(receipt, view, origin)
        except _Reject as rej:
            return self.rejected(rej, raw)
        if origin is not None:
            view.keep_output(rid, out)
        return out

    def rejected(self, rej, raw):
        reject = {"reason": rej.reason, "detail": rej.detail}
        reject.update(_raw_fields(raw))
        return _mk(MK_OUTCOME, (_REJECTED, None, [], reject, None, None, False, None))

    # ------------------------------------------------------------------ sale
    cdef object _context(self, r, st, view):
        coupons = r.coupons
        if coupons:
            used = frozenset(code for code in coupons
                             if code in self.single_use and view.coupon_used(code))
        else:
            used = frozenset()
        all_left = getattr(view, "budgets_left", None)  # a view may answer them at once
        if all_left is not None:
            budget_left = all_left(self.budgeted)
        else:
            budget_left = {}
            for cid, budget in self.budgeted:
                budget_left[cid] = budget - view.budget_spent(cid)
        if st is None:
            return _mk(MK_CTX, (None, 0, 0, False, None, frozenset(), {}, {}, budget_left,
                                used))
        cust = st.customer_id
        prof = view.profile(cust)
        offers = {}
        for cid, o in (<dict>st.offers).items():
            offers[cid] = (o.issued_us, o.expires_us, o.uses_left)
        return _mk(MK_CTX, (
            cust, self._tier_for(st.spend), _l_balance(st)[0], st.sales > 0,
            prof.birthday if prof is not None else None,
            prof.segments if prof is not None else frozenset(),
            st.uses, offers, budget_left, used))

    cdef object _sale(self, r, view, origin):
        cdef list events = []
        cdef list rate_buckets = []
        cdef Py_ssize_t i, n
        cdef int tier0
        rid = r.receipt_id
        cust = r.customer_id
        ts_us = r.ts_us
        ts = r.ts
        st = view.customer(cust) if cust is not None else None
        if st is not None:
            clock = st.clock_us
            st.clock_us = ts_us if clock is None or ts_us > clock else clock
            _l_settle(st)
        ctx = self._context(r, st, view)
        calc = self.engine._calc(r, ctx)
        for cid, amount in (<dict>calc.budget_spent).items():
            view.add_budget_spent(cid, amount)
        for cid in calc.budget_exhausted:
            if not view.exhausted_noted(cid):
                view.note_exhausted(cid)
                _ev(events, rid, cust, ts, "campaign_budget_exhausted", "campaign_id", cid)
        accepted = calc.coupons_accepted
        for code in accepted:
            if code in self.single_use:
                view.use_coupon(code, rid)
            _ev(events, rid, cust, ts, "coupon_redeemed", "code", code)
        tier_before = tier_after = None
        grants = calc.grants
        accrued = 0
        for g in grants:
            accrued += (<tuple>g)[1]
        redeemed = calc.redeemed
        line_discount = calc.line_discount
        line_redeemed = calc.line_redeemed
        line_accrued = calc.line_accrued
        line_spend = calc.line_spend
        if st is not None:
            tier0 = ctx.tier
            tier_before = self._tier_name(tier0)
            if st.sales == 0:
                _ev(events, rid, cust, ts, "first_purchase", None, None)
            st.sales = st.sales + 1
            uses = st.uses
            for cid in calc.gave:
                uses[cid] = uses.get(cid, 0) + 1
            offers = st.offers
            for cid in calc.offers_used:
                o = offers[cid]
                ul = o.uses_left
                if ul is not None:
                    ul = ul - 1
                    o.uses_left = ul
                    if ul <= 0:
                        del offers[cid]
                _ev(events, rid, cust, ts, "offer_used", "campaign_id", cid)
            if redeemed:
                _l_spend_active(st, redeemed)
                _ev(events, rid, cust, ts, "points_redeemed", "amount", redeemed)
            for g in grants:
                cid, amount, kind = g
                if cid == "base":
                    act, exp = self.base_act, self.base_exp
                else:
                    act, exp = self.grant_terms[cid]
                nb = st.next_bucket
                a = ts_us + act
                st.buckets.append(_bucket(nb, rid, cid, kind, amount, a,
                                          None if exp is None else a + exp))
                st.next_bucket = nb + 1
                if kind == 0:
                    rate_buckets.append(nb)
            if accrued:
                _ev(events, rid, cust, ts, "points_accrued", "amount", accrued)
            for cid in calc.offers_issued:
                otype, valid, ouses = self.offer_terms[cid]
                until = ts_us + valid
                offers[cid] = _Offer(cid, ts_us, until, ouses)
                ev = _ev(events, rid, cust, ts, "offer_issued", "campaign_id", cid)
                ev["offer_type"] = otype
                ev["valid_until_us"] = until
            _l_settle(st)
            spend = st.spend
            for x in line_spend:
                spend += x
            st.spend = spend
            tier_after = self._tier_name(self._tier_for(spend))
            if tier_after != tier_before:
                ev = _ev(events, rid, cust, ts, "tier_changed", "from", tier_before)
                ev["to"] = tier_after
            view.touch(st)
        lines = r.lines
        n = len(lines)
        out_lines = []
        total = 0
        for i in range(n):
            ln = lines[i]
            amt = ln.qty * ln.unit_price
            total += amt
            out_lines.append(_line_result(ln.line_no, amt, line_discount[i], line_redeemed[i],
                                          line_accrued[i]))
        put_blob = getattr(view, "put_receipt_blob", None)
        blob = None
        if put_blob is not None:
            blob = _sale_record_blob(cust, ts_us, lines if st is not None else (), out_lines,
                                     line_spend, rate_buckets, origin)
        if blob is not None:
            put_blob(rid, ts_us, blob)
        else:
            rec_lines = []
            if st is not None:
                for i in range(n):
                    ln = lines[i]
                    lr = out_lines[i]
                    rec_lines.append(_sale_line(ln.line_no, ln.qty, lr.amount, lr.discount,
                                                lr.redeemed, lr.accrued, line_spend[i]))
            view.put_receipt(_RRec(rid, cust, ts_us, "sale", rec_lines, rate_buckets, origin))
        discount = 0
        for x in line_discount:
            discount += x
        applied = [_applied_entry(cid, "discount", a) for cid, a in calc.discounts]
        for cid, a, _ in grants:
            applied.append(_applied_entry(cid, "points", a))
        result = _mk(MK_APPLIED, (
            rid, cust, _APPLIED, total, discount, redeemed, total - discount - redeemed, accrued,
            out_lines, applied, r.redeem,
            _mk(MK_COUPONS, (accepted, [_mk(MK_COUPON_REJ, (c, why))
                                        for c, why in calc.coupons_rejected])),
            calc.held_out, _balance_obj(st), tier_after, events, self.version))
        return _mk(MK_OUTCOME, (_APPLIED, result, events, None, r, calc, False,
                                _encode_result(result)))

    # ------------------------------------------------------------------ return
    cdef object _return(self, r, view, origin):
        cdef list events = []
        rid = r.receipt_id
        cust = r.customer_id
        ts_us = r.ts_us
        ts = r.ts
        orig = r.original_receipt_id
        sale = view.receipt(orig)
        if (sale is None or sale.kind != "sale" or sale.customer_id is None
                or sale.customer_id != cust
                or ts_us - sale.ts_us > self.window_us):
            raise _Reject(_UNKNOWN_ORIGINAL,
                          f"original_receipt_id: {orig!r} is not a sale of this "
                          f"customer within {self.window_days} days")
        by_no = {}
        for sl in sale.lines:
            by_no[sl.line_no] = sl
        for ln in r.lines:
            sl = by_no.get(ln.line_no)
            if sl is None:
                raise _Reject(_RETURN_EXCEEDS_SALE, f"line {ln.line_no}: not on the sale")
            if sl.returned + ln.qty > sl.qty:
                raise _Reject(_RETURN_EXCEEDS_SALE,
                              f"line {ln.line_no}: returns {ln.qty} of {sl.qty - sl.returned} "
                              "units left")
        st = view.customer(cust)
        clock = st.clock_us
        st.clock_us = ts_us if clock is None or ts_us > clock else clock
        _l_settle(st)
        tier_before = self._tier_name(self._tier_for(st.spend))
        out_lines = []
        t_amount = t_disc = t_red = t_acc = t_spend = 0
        for ln in r.lines:
            sl = by_no[ln.line_no]
            old = sl.returned
            new = old + ln.qty
            q = sl.qty
            d_amt = sl.amount * new // q - sl.amount * old // q
            d_disc = sl.discount * new // q - sl.discount * old // q
            d_red = sl.redeemed * new // q - sl.redeemed * old // q
            d_acc = sl.accrued * new // q - sl.accrued * old // q
            d_spend = sl.spend * new // q - sl.spend * old // q
            sl.returned = new
            t_amount += d_amt
            t_disc += d_disc
            t_red += d_red
            t_acc += d_acc
            t_spend += d_spend
            out_lines.append(_line_result(ln.line_no, -d_amt, -d_disc, -d_red, -d_acc))
        srid = sale.receipt_id
        if t_acc:
            _l_claw_back(st, t_acc, sale.rate_buckets)
            ev = _ev(events, rid, cust, ts, "points_clawed_back", "amount", t_acc)
            ev["original_receipt_id"] = srid
        if t_red:
            nb = st.next_bucket
            st.buckets.append(_bucket(nb, rid, "refund", _KIND_REFUND, t_red, ts_us,
                                      None if self.refund_exp is None
                                      else ts_us + self.refund_exp))
            st.next_bucket = nb + 1
            ev = _ev(events, rid, cust, ts, "points_refunded", "amount", t_red)
            ev["original_receipt_id"] = srid
        _l_settle(st)
        st.spend = st.spend - t_spend
        tier_after = self._tier_name(self._tier_for(st.spend))
        if tier_after != tier_before:
            ev = _ev(events, rid, cust, ts, "tier_changed", "from", tier_before)
            ev["to"] = tier_after
        bal = _l_balance(st)
        if bal[0] < 0:
            _ev(events, rid, cust, ts, "balance_negative", "amount", bal[0])
        view.touch(st)
        view.put_receipt(sale)
        view.put_receipt(_RRec(rid, cust, ts_us, "return", [], [], origin))
        result = _mk(MK_RETURN, (
            rid, cust, _APPLIED, -t_amount, -t_disc, -t_red, -t_amount + t_disc + t_red, -t_acc,
            out_lines, [], 0, _mk(MK_COUPONS, ([], [])), [], _balance_obj(st), tier_after,
            events, self.version, srid))
        return _mk(MK_OUTCOME, (_APPLIED, result, events, None, r, None, False,
                                _encode_result(result)))


cdef object _sale_record_blob(cust, ts_us, lines, list out_lines, list line_spend,
                              list rate_buckets, origin):
    """A sale's receipt record as `orjson.dumps(ReceiptRecord(...).to_obj())` writes it,
    straight from the lines (no `SaleLine`/`ReceiptRecord` objects): for a view that keeps
    records as those bytes (`put_receipt_blob`). None when the C writer cannot say."""
    cdef _wbuf w
    cdef Py_ssize_t i
    w.p = NULL
    w.n = 0
    w.cap = 0
    try:
        _wb_byte(&w, 91)
        if _j_value(&w, cust):
            return None
        _wb_byte(&w, 44)
        if _j_value(&w, ts_us):
            return None
        _wb_bytes(&w, b',"sale",[', 9)
        for i in range(len(lines)):
            ln = lines[i]
            lr = out_lines[i]
            _wb_bytes(&w, b",[" if i else b"[", 2 if i else 1)
            for v in (ln.line_no, ln.qty, _get(lr, LR_OFF[1]), _get(lr, LR_OFF[2]),
                      _get(lr, LR_OFF[3]), _get(lr, LR_OFF[4]), line_spend[i]):
                if _j_value(&w, v):
                    return None
                _wb_byte(&w, 44)
            _wb_bytes(&w, b"0]", 2)
        _wb_bytes(&w, b"],", 2)
        if _j_value(&w, rate_buckets):
            return None
        _wb_byte(&w, 44)
        if _j_value(&w, origin):
            return None
        _wb_byte(&w, 93)
        return (<char *>w.p)[:w.n]
    except UnicodeEncodeError:
        return None
    finally:
        free(w.p)


cdef object _encode_result(result):
    """The result's JSON, written in C (None: leave it to orjson, which decides)."""
    try:
        return encode_json(result)
    except UnicodeEncodeError:
        return None


cdef object _balance_obj(st):
    if st is None:
        return None
    bal = _l_balance(st)
    o = _new_obj(_Balance)
    _set(o, BL_OFF[0], bal[0])
    _set(o, BL_OFF[1], bal[1])
    return o


cdef dict _ev(list sink, rid, cust, ts, str etype, str key, value):
    """Append event `<receipt_id>/<index>` (with one field `key` when given); return it."""
    cdef dict ev = {"event_id": f"{rid}/{len(sink)}", "type": etype, "customer_id": cust,
                    "ts": ts}
    if key is not None:
        ev[key] = value
    sink.append(ev)
    return ev
