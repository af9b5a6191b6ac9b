# The compiled sale, stage by stage (spec section 5), included by _fastcalc.pyx after
# _fc_engine.pxi: module-level functions over a `FastEngine`'s C fields (direct C calls, no
# method table), called by `FastEngine._compute`. Stage A: line discounts; stage B: receipt
# discounts; then redemption, accrual and points (`_stages`).

# ------------------------------------------------------------------ stage A
cdef inline bint _meets(FastEngine self, Camp *cp) noexcept:
    """Can a line-discount campaign cover any line (else it computes nothing)?"""
    cdef int j
    if cp.type != T_BUNDLE:
        return cp.target < 0 or self.anyc[1 + cp.target]
    for j in range(cp.comp_count):
        if not self.anyc[1 + self.comp_target[cp.comp_start + j]]:
            return False
    return True

cdef void _n_for_m(FastEngine self, Camp *cp) noexcept:
    cdef int i, m = 0, n = self.n
    cdef int64_t total = 0, full_end, start, end, q, buy = cp.buy, pay = cp.pay
    cdef int64_t fb_end, fb_start, r
    for i in range(n):
        self.raw[i] = 0
        if self.covk[i]:
            self.units[m].price = self.price[i]
            self.units[m].rank = self.rank[i]
            self.units[m].idx = i
            m += 1
            total += self.qty[i]
    if m > 1:
        fc_sort_units(self.units, m)
    full_end = total - total % buy
    start = 0
    for j in range(m):
        i = self.units[j].idx
        q = self.qty[i]
        end = start + q
        if end > full_end:
            end = full_end
        if end > start:
            r = end % buy - pay
            fb_end = (end // buy) * (buy - pay) + (r if r > 0 else 0)
            r = start % buy - pay
            fb_start = (start // buy) * (buy - pay) + (r if r > 0 else 0)
            self.raw[i] = (fb_end - fb_start) * self.price[i]
        start += q

cdef void _bundle(FastEngine self, Camp *cp) noexcept:
    cdef int n = self.n, T1 = self.T + 1
    cdef int nco = cp.comp_count, j, i, jj, h
    cdef int *cnt = <int *>malloc(nco * sizeof(int))
    cdef int *heads = <int *>malloc(nco * sizeof(int))
    cdef int64_t sets = 0, k, want, t, a
    cdef int64_t max_sets = cp.max_sets
    cdef int32_t *lst = self.lst
    cdef bint ok
    if cnt == NULL or heads == NULL:
        free(cnt)
        free(heads)
        return
    for i in range(n):
        self.avail[i] = self.qty[i] if self.covk[i] else 0
        self.in_sets[i] = 0
        self.took[i] = 0  # used as "need" accumulator in the fast path
    for j in range(nco):
        cnt[j] = 0
        t = self.comp_target[cp.comp_start + j]
        for i in range(n):
            if self.covk[i] and self.cov[i * T1 + 1 + t]:
                lst[j * n + cnt[j]] = i
                cnt[j] += 1
    while max_sets < 0 or sets < max_sets:
        ok = True
        for j in range(nco):
            heads[j] = -1
            for jj in range(cnt[j]):
                i = lst[j * n + jj]
                if self.avail[i] > 0:
                    heads[j] = i
                    break
            if heads[j] < 0:
                ok = False
                break
        if not ok:
            break
        for j in range(nco):
            self.took[heads[j]] = 0
        for j in range(nco):
            self.took[heads[j]] += self.comp_qty[cp.comp_start + j]
        k = -1
        for j in range(nco):
            h = heads[j]
            a = self.avail[h] // self.took[h]
            if k < 0 or a < k:
                k = a
        if max_sets >= 0 and max_sets - sets < k:
            k = max_sets - sets
        if k >= 1:
            for j in range(nco):
                h = heads[j]
                if self.took[h]:
                    self.avail[h] -= self.took[h] * k
                    self.in_sets[h] += self.took[h] * k
                    self.took[h] = 0
            sets += k
            continue
        for j in range(nco):
            self.took[heads[j]] = 0
        # slow path: one set unit by unit, or stop
        memcpy(self.trial, self.avail, n * 8)
        for i in range(n):
            self.tmp[i] = 0
        for j in range(nco):
            want = self.comp_qty[cp.comp_start + j]
            for jj in range(cnt[j]):
                if not want:
                    break
                i = lst[j * n + jj]
                t = want if want < self.trial[i] else self.trial[i]
                self.trial[i] -= t
                self.tmp[i] += t
                want -= t
            if want:
                ok = False
                break
        if not ok:
            break
        memcpy(self.avail, self.trial, n * 8)
        for i in range(n):
            self.in_sets[i] += self.tmp[i]
        sets += 1
    for i in range(n):
        self.raw[i] = self.in_sets[i] * (self.price[i] * cp.percent_bps // BPS)
    free(cnt)
    free(heads)

cdef void _line_discount(FastEngine self, int k) noexcept:
    cdef Camp *cp = &self.c[k]
    cdef int i, n = self.n, T1 = self.T + 1, t = cp.target
    cdef bint ex = cp.exclusive
    cdef int64_t total, v
    for i in range(n):
        self.covk[i] = self._discountable(ex, i) and (
            t < 0 or self.cov[i * T1 + 1 + t])
    if cp.type == T_PERCENT_OFF:
        for i in range(n):
            self.raw[i] = fc_md(self.amount[i], cp.percent_bps, BPS) if self.covk[i] else 0
    elif cp.type == T_AMOUNT_OFF:
        for i in range(n):
            if self.covk[i]:
                v = cp.amount if cp.amount < self.price[i] else self.price[i]
                self.raw[i] = self.qty[i] * v
            else:
                self.raw[i] = 0
    elif cp.type == T_FIXED_PRICE:
        for i in range(n):
            if self.covk[i]:
                v = self.price[i] - cp.price
                self.raw[i] = self.qty[i] * (v if v > 0 else 0)
            else:
                self.raw[i] = 0
    elif cp.type == T_N_FOR_M:
        _n_for_m(self, cp)
    else:
        _bundle(self, cp)
    total = self._clip_and_cap(cp.per_receipt)
    if total <= 0:
        return
    if self._held(k):
        self._log(IT_HELD, k, 0)
        return
    if not self._fits(k, total):
        return
    self._commit(k, total, ex)
    self.gave[k] = 1

cdef void _offer_discount(FastEngine self, int k) noexcept:
    cdef Camp *cp = &self.c[k]
    cdef int i, n = self.n, T1 = self.T + 1, t = cp.offer_target
    cdef int64_t total
    for i in range(n):
        if self._discountable(False, i) and self.cov[i * T1 + 1 + t]:
            self.raw[i] = fc_md(self.amount[i], cp.offer_pct, BPS)
        else:
            self.raw[i] = 0
    total = self._clip_and_cap(cp.per_receipt)
    if total <= 0 or not self._fits(k, total):
        return
    self._commit(k, total, False)
    self._log(IT_USED, k, 0)

# ------------------------------------------------------------------ stage B
cdef void _threshold(FastEngine self, int k) noexcept:
    cdef Camp *cp = &self.c[k]
    cdef int i, n = self.n, T1 = self.T + 1, t = cp.target
    cdef bint ex = cp.exclusive, anyc = False
    cdef int64_t base = 0, want, total
    for i in range(n):
        if self._discountable(ex, i) and self.cov[i * T1 + 1 + t]:
            self.tmp[i] = self.amount[i] - self.disc[i]
            base += self.tmp[i]
            anyc = True
        else:
            self.tmp[i] = 0
    if not anyc or base < cp.min_amount:
        return
    if cp.percent_bps:
        want = fc_md(base, cp.percent_bps, BPS)
    else:
        want = cp.amount if cp.amount < base else base  # same shares (clipped to room)
    fc_split(want, self.tmp, self.raw, n, self.rems)
    total = self._clip_and_cap(cp.per_receipt)
    if total <= 0:
        return
    if self._held(k):
        self._log(IT_HELD, k, 0)
        return
    if not self._fits(k, total):
        return
    self._commit(k, total, ex)
    self.gave[k] = 1

cdef int _load_lines(FastEngine self, lines) except -1:
    """The receipt's lines into the line arrays (qty, price, amount, cap, rank, cov,
    flags, anyc; disc, locked, red, acc, spend zeroed); sets `n`."""
    cdef int i, j, n, T1
    cdef int64_t q, up, v
    cdef bint sorted_ln
    cdef const char *rp
    cdef int ovf = 0
    cdef PyObject *skup
    cdef PyObject *catp
    cdef Py_ssize_t r
    cdef bint prev_int = False
    cdef int64_t prev_v = 0
    cdef Py_ssize_t o, oe
    cdef int t
    n = len(lines)
    self._grow(n)
    self.n = n
    T1 = self.T + 1
    sorted_ln = True
    prev = None
    line_type = Line
    if self.ltab_cap == 0:
        self._ltab_resize(1024)
    # targets any line falls under (a campaign whose targets no line meets does nothing):
    # from each record's list of its targets, not a pass over every target
    memset(self.anyc, 0, T1)
    self.npt = 0
    for i in range(n):
        ln = lines[i]
        if type(ln) is line_type:
            skup = _getp(ln, L_SKU)
            catp = _getp(ln, L_CAT)
            qo = <object>_getp(ln, L_QTY)
            upo = <object>_getp(ln, L_PRICE)
            lno = <object>_getp(ln, L_LINE_NO)
        else:
            sku_o, cat_o, qo, upo, lno = ln.sku, ln.category, ln.qty, ln.unit_price, \
                ln.line_no
            skup = <PyObject *>sku_o
            catp = <PyObject *>cat_o
        # line record: by the str objects' addresses (canonical objects from the compiled
        # decoder), else by value (`_rec_slow`), else (not exact str) from the plan
        r = self._ltab_find(skup, catp)
        if r < 0:
            if type(<object>skup) is str and type(<object>catp) is str:
                r = self._rec_slow(<object>skup, <object>catp)
            else:
                rec = self.plan_row(<object>skup, <object>catp)
                rp = PyBytes_AS_STRING(rec)
        if r >= 0:
            rp = <const char *>&self.recs[r * T1]
            o = self.rts_off[r]
            oe = o + self.rts_cnt[r]
            while o < oe:
                t = self.tpool[o]
                if not self.anyc[1 + t]:
                    self.anyc[1 + t] = 1
                    self.ptl[self.npt] = t
                    self.npt += 1
                o += 1
        else:
            for j in range(1, T1):
                if rp[j] and not self.anyc[j]:
                    self.anyc[j] = 1
                    self.ptl[self.npt] = j - 1
                    self.npt += 1
        memcpy(&self.cov[i * T1], rp, T1)
        self.flags[i] = <uint8_t>rp[0]
        q = qo
        up = upo
        self.qty[i] = q
        self.price[i] = up
        self.amount[i] = q * up
        self.cap[i] = fc_md(q * up, self.max_line_bps, BPS)
        self.disc[i] = 0
        self.locked[i] = 0
        self.red[i] = 0
        self.acc[i] = 0
        self.spend[i] = 0
        self.rank[i] = i
        if sorted_ln:
            ovf = 1
            if type(lno) is int:
                v = PyLong_AsLongLongAndOverflow(lno, &ovf)
            if prev is not None:
                if ovf == 0 and prev_int:
                    if not (prev_v < v):
                        sorted_ln = False
                elif not (prev < lno):
                    sorted_ln = False
            prev = lno
            prev_v = v
            prev_int = ovf == 0
    if not sorted_ln:
        order = _line_order(lines)
        for j in range(n):
            self.rank[<int>order[j]] = j

    return 0

cdef int _cmp_int(const void *a, const void *b) noexcept nogil:
    return (<const int *>a)[0] - (<const int *>b)[0]

cdef void _candidates(FastEngine self) noexcept:
    """`cand`: the campaigns this receipt's lines can meet (a target some line falls under)
    and those visited always, in program order; `cmo`: the multipliers among them, in
    `mult_order`. The others cost nothing: every stage skips a campaign none of whose targets
    a line meets."""
    cdef int x, j, k, t, nc = 0, nm = 0
    cdef int *cand = self.cand
    for x in range(self.nalways):
        k = self.always[x]
        self.cmark[k] = 1
        cand[nc] = k
        nc += 1
    for x in range(self.npt):
        t = self.ptl[x]
        for j in range(self.t2c_start[t], self.t2c_start[t + 1]):
            k = self.t2c[j]
            if not self.cmark[k]:
                self.cmark[k] = 1
                cand[nc] = k
                nc += 1
    for x in range(nc):
        k = cand[x]
        self.cmark[k] = 0
        if self.mult_pos[k] >= 0:
            self.cmo[nm] = self.mult_pos[k]
            nm += 1
    if nc > 1:
        qsort(cand, nc, sizeof(int), _cmp_int)
    if nm > 1:
        qsort(self.cmo, nm, sizeof(int), _cmp_int)
    for x in range(nm):
        self.cmo[x] = self.mult_order[self.cmo[x]]
    self.ncand = nc
    self.ncmo = nm

cdef int _calc2(FastEngine self, receipt, ctx, lines, ts_o, store_id, redeem_o, coupons,
                customer_id, tier_o, balance_o, has_sale, birthday, segments, uses,
                offers, budget_left, used_codes):
    cdef int k, x
    cdef Camp *cp
    cdef int64_t ts, q, up, v
    cdef bint ok, seg_fast
    cdef int tier
    cdef uint64_t segm
    cdef PyObject *pv
    cdef int lyear, lmonth = 0, lday = 0
    _load_lines(self, lines)
    _candidates(self)

    self.anon = customer_id is None
    if not self.anon:
        if self.any_holdout:
            # UTF-8 of the id, cached in the str object (no copy for ASCII ids)
            self.cust_utf8 = PyUnicode_AsUTF8AndSize(customer_id, &self.cust_len)
            self.cust_obj = customer_id
    self.nitems = 0
    self.out_base = 0
    self.out_accepted = None
    self.out_rejected = None
    ts = ts_o

    # coupons: each campaign applies with the first usable of its codes
    coupon_for = None
    verdicts = None
    if coupons:
        coupon_for = {}
        verdicts = {}
        for code in coupons:
            if code in verdicts:
                continue
            ko = self.code_owner.get(code)
            if ko is None:
                verdicts[code] = "unknown"
            elif self.single_use[ko] and code in used_codes:
                verdicts[code] = "used"
            elif ko in coupon_for:
                verdicts[code] = "not_applicable"
            else:
                coupon_for[ko] = code
                verdicts[code] = None

    # conditions, once per campaign
    local = None
    lyear = 0
    if self.any_time:
        local = self._local(ts)
        weekday = <int>local[0]
        minute = <int>local[1]
        ldate = local[2]
        if PyDate_CheckExact(ldate):
            lyear = PyDateTime_GET_YEAR(ldate)
            lmonth = PyDateTime_GET_MONTH(ldate)
            lday = PyDateTime_GET_DAY(ldate)
    tier = tier_o
    # segments: one mask of the campaigns the customer's segments meet (else isdisjoint)
    seg_fast = self.seg_bits is not None and type(segments) is frozenset
    segm = 0
    if seg_fast and not self.anon and self.seg_bits:
        for sg in <frozenset>segments:
            pv = PyDict_GetItemWithError(self.seg_bits, sg)
            if pv != NULL:
                segm |= PyLong_AsUnsignedLongLong(<object>pv)
    memset(self.gave, 0, self.nc)
    memset(self.exhausted, 0, self.nc)
    memset(self.offer_on, 0, self.nc)
    for x in range(self.ncand):
        k = self.cand[x]
        cp = &self.c[k]
        if cp.has_budget:
            if type(budget_left) is dict:
                pv = PyDict_GetItemWithError(budget_left, self.ids[k])
                if pv == NULL:
                    raise KeyError(self.ids[k])
                self.bleft[k] = _clamp64(<object>pv)
            else:
                self.bleft[k] = _clamp64(budget_left[self.ids[k]])
        ok = True
        if cp.has_from and ts < cp.active_from:
            ok = False
        elif cp.has_until and ts >= cp.active_until:
            ok = False
        elif cp.days != 127 and not (cp.days >> weekday) & 1:
            ok = False
        elif cp.start_min >= 0 and (
                not (cp.start_min <= minute < cp.end_min) if cp.start_min < cp.end_min
                else not (minute >= cp.start_min or minute < cp.end_min)):
            ok = False
        elif cp.has_stores and store_id not in self.stores[k]:
            ok = False
        elif self.anon:
            if not cp.anon_ok or cp.per_customer >= 0:
                ok = False
            elif cp.tiers_mask >= 0 or cp.has_segments or cp.first_purchase or cp.bday >= 0:
                ok = False
        else:
            if cp.tiers_mask >= 0 and not (0 <= tier < 63 and (cp.tiers_mask >> tier) & 1):
                ok = False
            elif cp.has_segments and (
                    not (segm >> k) & 1 if seg_fast
                    else (<frozenset>self.segments[k]).isdisjoint(segments)):
                ok = False
            elif cp.first_purchase and has_sale:
                ok = False
            elif cp.bday >= 0:
                bd = birthday
                if bd is None:
                    ok = False
                elif PyDate_CheckExact(bd) and 2 <= lyear <= 9998:
                    ok = _bday_ok(lyear, lmonth, lday, PyDateTime_GET_MONTH(bd),
                                  PyDateTime_GET_DAY(bd), cp.bday)
                else:
                    bkey = (local[2], bd, cp.bday)
                    bok = self.bday_cache.get(bkey)
                    if bok is None:
                        bok = birthday_distance_ok(local[2], bd.month, bd.day, cp.bday)
                        if len(self.bday_cache) > 100000:
                            self.bday_cache.clear()
                        self.bday_cache[bkey] = bok
                    if not bok:
                        ok = False
            if ok and cp.has_coupon and (coupon_for is None or k not in coupon_for):
                ok = False
            if ok and cp.per_customer >= 0:
                if type(uses) is dict:
                    pv = PyDict_GetItemWithError(uses, self.ids[k])
                    if pv == NULL:
                        if 0 >= cp.per_customer:
                            ok = False
                    elif _small_int(<object>pv, &v):
                        if v >= cp.per_customer:
                            ok = False
                    elif <object>pv >= cp.per_customer:
                        ok = False
                elif uses.get(self.ids[k], 0) >= cp.per_customer:
                    ok = False
        if ok and cp.has_coupon and (coupon_for is None or k not in coupon_for):
            ok = False
        self.elig[k] = ok
    if not self.anon and offers:
        for cid, o in offers.items():
            pv = PyDict_GetItemWithError(self.index, cid)
            if pv == NULL:
                continue
            k = <int><object>pv
            if self.c[k].offer_kind == 0:
                continue
            if type(o) is tuple and PyTuple_GET_SIZE(o) == 3:
                uo = <object>PyTuple_GET_ITEM(o, 2)
                if _small_int(<object>PyTuple_GET_ITEM(o, 0), &v) and \
                        _small_int(<object>PyTuple_GET_ITEM(o, 1), &q) and \
                        (uo is None or _small_int(uo, &up)):
                    if v <= ts < q and (uo is None or up > 0):
                        self.offer_on[k] = 1
                    continue
            issued, expires, uses_left = o
            if issued <= ts < expires and (uses_left is None or uses_left > 0):
                self.offer_on[k] = 1

    want = _clamp64(min(redeem_o, balance_o)) if not self.anon else 0
    return _stages(self, want, tier, verdicts)

cdef int _stages(FastEngine self, int64_t want, int tier, dict verdicts) except -1:
    """Stages A and B, redemption, accrual and the coupons' verdicts, once `elig`,
    `offer_on`, `bleft`, the lines and `anon` are set (`want`: min(redeem, balance))."""
    cdef int i, k, j, t, x, n = self.n, T1 = self.T + 1, nca = self.ncand
    cdef int *cand = self.cand
    cdef Camp *cp
    cdef int64_t v, q, total, rate, elig_sum, due, redeemed, pts, mult, sum_amt, base_total
    cdef bint ok
    # stage A, then stage B, in program order (priority, then id)
    for x in range(nca):
        k = cand[x]
        cp = &self.c[k]
        if cp.type <= T_BUNDLE:
            if self.elig[k] and _meets(self, cp):
                _line_discount(self, k)
        elif cp.type == T_OFFER and cp.offer_kind == OFFER_PERCENT and self.offer_on[k] \
                and self.anyc[1 + cp.offer_target]:
            _offer_discount(self, k)
    for x in range(nca):
        k = cand[x]
        cp = &self.c[k]
        if cp.type == T_THRESHOLD and self.elig[k] and self.anyc[1 + cp.target]:
            _threshold(self, k)

    redeemed = 0
    if not self.anon:
        # redemption
        due = 0
        elig_sum = 0
        for i in range(n):
            v = self.amount[i] - self.disc[i]
            due += v
            self.tmp[i] = v if self.flags[i] & F_REDEEM else 0
            elig_sum += self.tmp[i]
        redeemed = want
        v = fc_md(elig_sum, self.max_share_bps, BPS)
        if v < redeemed:
            redeemed = v
        v = due - self.min_payable
        if v < redeemed:
            redeemed = v
        if redeemed < 0:
            redeemed = 0
        if redeemed:
            fc_split(redeemed, self.tmp, self.red, n, self.rems)

        # accrual
        if self.ntiers:
            rate = self.tier_rates[tier] if 0 <= tier < self.ntiers else \
                self.program.tiers[tier].rate_bps
        else:
            rate = self.rate_bps
        base_total = 0
        for i in range(n):
            if self.flags[i] & F_ACCRUE:
                v = self.amount[i] - self.disc[i]
                self.spend[i] = v - self.red[i]
                if not self.on_redeemed:
                    v -= self.red[i]
                self.base[i] = v
                self.basepts[i] = fc_md(v, rate, BPS)
            else:
                self.base[i] = 0
                self.basepts[i] = 0
            self.acc[i] = self.basepts[i]
            base_total += self.basepts[i]
            self.winner[i] = -1
        if self.ncmo:
            for x in range(nca):
                self.has_win[cand[x]] = 0
            for i in range(n):
                if not self.flags[i] & F_ACCRUE:
                    continue
                for j in range(self.ncmo):
                    k = self.cmo[j]
                    cp = &self.c[k]
                    if cp.type == T_MULTIPLIER:
                        if self.elig[k] and self.cov[i * T1 + 1 + cp.target]:
                            self.winner[i] = k
                            break
                    elif self.offer_on[k] and self.cov[i * T1 + 1 + cp.offer_target]:
                        self.winner[i] = k
                        break
                k = self.winner[i]
                if k >= 0:
                    self.has_win[k] = 1
                    cp = &self.c[k]
                    mult = cp.mult if cp.type == T_MULTIPLIER else cp.offer_mult
                    self.extra[i] = fc_md3(self.base[i], rate, mult, BPS * BPS) \
                        - self.basepts[i]
            for x in range(nca):
                k = cand[x]
                if not self.has_win[k]:
                    continue
                cp = &self.c[k]
                total = 0
                for i in range(n):
                    if self.winner[i] == k:
                        self.raw[i] = self.extra[i]
                        total += self.extra[i]
                    else:
                        self.raw[i] = 0
                if total <= 0:
                    continue
                if cp.per_receipt >= 0 and total > cp.per_receipt:
                    fc_split(cp.per_receipt, self.raw, self.amt, n, self.rems)
                    memcpy(self.raw, self.amt, n * 8)
                    total = cp.per_receipt
                if cp.type == T_MULTIPLIER and self._held(k):
                    self._log(IT_HELD, k, 0)
                    continue
                if not self._fits(k, total):
                    continue
                for i in range(n):
                    self.acc[i] += self.raw[i]
                self._log(IT_GRATE, k, total)
                if cp.type == T_OFFER:
                    self._log(IT_USED, k, 0)
                else:
                    self.gave[k] = 1
        if base_total > 0:
            self.out_base = base_total

        # bonus_points, sku_points, next_purchase_offer
        for t in (T_BONUS, T_SKU_POINTS, T_OFFER):
            for x in range(nca):
                k = cand[x]
                cp = &self.c[k]
                if cp.type != t or not self.elig[k] or not self.anyc[1 + cp.target]:
                    continue
                ok = False
                q = 0
                sum_amt = 0
                for i in range(n):
                    if self.flags[i] & F_ACCRUE and self.cov[i * T1 + 1 + cp.target]:
                        ok = True
                        q += self.qty[i]
                        sum_amt += self.amount[i] - self.disc[i]
                if not ok:
                    continue
                if t == T_SKU_POINTS:
                    pts = q * cp.ppu
                else:
                    if sum_amt < cp.min_amount:
                        continue
                    pts = cp.points
                if t == T_OFFER:
                    if self._held(k):
                        self._log(IT_HELD, k, 0)
                        continue
                    self._log(IT_ISSUED, k, 0)
                    self.gave[k] = 1
                    continue
                if cp.per_receipt >= 0 and cp.per_receipt < pts:
                    pts = cp.per_receipt
                if pts <= 0:
                    continue
                if self._held(k):
                    self._log(IT_HELD, k, 0)
                    continue
                if not self._fits(k, pts):
                    continue
                self._log(IT_GFIX, k, pts)
                self.gave[k] = 1

    # coupons' verdicts
    if verdicts:
        accepted = []
        rejected = []
        for code, verdict in verdicts.items():
            if verdict is None:
                if self.gave[<int>self.code_owner[code]]:
                    accepted.append(code)
                    continue
                verdict = "not_applicable"
            rejected.append((code, verdict))
        self.out_accepted = accepted
        self.out_rejected = rejected
    for x in range(nca):
        k = cand[x]
        if self.gave[k]:
            self._log(IT_GAVE, k, 0)
    self.out_redeemed = redeemed
    return 0
