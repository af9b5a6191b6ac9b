# The compiled engine: spec section 5 for one sale (`FastEngine`), included by _fastcalc.pyx.

# slot offsets of the value objects the engine reads and builds
cdef Py_ssize_t L_LINE_NO = _slot_offset(Line, "line_no")
cdef Py_ssize_t L_QTY = _slot_offset(Line, "qty")
cdef Py_ssize_t L_SKU = _slot_offset(Line, "sku")
cdef Py_ssize_t L_CAT = _slot_offset(Line, "category")
cdef Py_ssize_t L_PRICE = _slot_offset(Line, "unit_price")
cdef Py_ssize_t R_LINES = _slot_offset(Receipt, "lines")
cdef Py_ssize_t R_TS = _slot_offset(Receipt, "ts_us")
cdef Py_ssize_t R_STORE = _slot_offset(Receipt, "store_id")
cdef Py_ssize_t R_REDEEM = _slot_offset(Receipt, "redeem")
cdef Py_ssize_t R_COUPONS = _slot_offset(Receipt, "coupons")
cdef Py_ssize_t X_CUST = _slot_offset(SaleContext, "customer_id")
cdef Py_ssize_t X_TIER = _slot_offset(SaleContext, "tier")
cdef Py_ssize_t X_BAL = _slot_offset(SaleContext, "active_balance")
cdef Py_ssize_t X_HAS_SALE = _slot_offset(SaleContext, "has_sale")
cdef Py_ssize_t X_BDAY = _slot_offset(SaleContext, "birthday")
cdef Py_ssize_t X_SEGS = _slot_offset(SaleContext, "segments")
cdef Py_ssize_t X_USES = _slot_offset(SaleContext, "uses")
cdef Py_ssize_t X_OFFERS = _slot_offset(SaleContext, "offers")
cdef Py_ssize_t X_BUDGET = _slot_offset(SaleContext, "budget_left")
cdef Py_ssize_t X_USED = _slot_offset(SaleContext, "used_codes")
cdef Py_ssize_t SC_OFF[15]
_SC_FIELDS = ("line_discount", "line_redeemed", "line_accrued", "line_spend", "discounts",
              "grants", "redeemed", "offers_used", "offers_issued", "coupons_accepted",
              "coupons_rejected", "held_out", "budget_spent", "budget_exhausted", "gave")
for _k, _f in enumerate(_SC_FIELDS):
    SC_OFF[_k] = _slot_offset(SaleCalc, _f)
if [f for f in SaleCalc.__dataclass_fields__] != list(_SC_FIELDS):
    raise ImportError("SaleCalc fields changed: update streamproc._fastcalc")
_new_calc = SaleCalc.__new__

DEF BPS = 10000
DEF F_ACCRUE = 1
DEF F_REDEEM = 2
DEF F_DISCOUNT = 4

DEF T_PERCENT_OFF = 0
DEF T_AMOUNT_OFF = 1
DEF T_FIXED_PRICE = 2
DEF T_N_FOR_M = 3
DEF T_BUNDLE = 4
DEF T_THRESHOLD = 5
DEF T_BONUS = 6
DEF T_SKU_POINTS = 7
DEF T_MULTIPLIER = 8
DEF T_OFFER = 9
DEF OFFER_PERCENT = 1
# the per-receipt result log: what `SaleCalc`'s lists and dict hold, in the order they get it
DEF IT_DISC = 0       # discounts: (id, v)
DEF IT_HELD = 1       # held_out
DEF IT_USED = 2       # offers_used
DEF IT_SPENT = 3      # budget_spent[id] += v
DEF IT_EXH = 4        # budget_exhausted
DEF IT_ISSUED = 5     # offers_issued
DEF IT_GRATE = 6      # grants: (id, v, 0), after ("base", base, 0)
DEF IT_GFIX = 7       # grants: (id, v, 1)
DEF IT_GAVE = 8       # gave
DEF ITEMS_PER_CAMPAIGN = 12
DEF OFFER_MULT = 2

cdef int64_t I64_MAX = 0x7FFFFFFFFFFFFFFF
cdef uint64_t FNV_PRIME = 0x100000001B3

ctypedef struct Camp:
    int type
    int exclusive
    int64_t percent_bps
    int64_t amount
    int64_t price
    int64_t buy
    int64_t pay
    int64_t min_amount
    int64_t points
    int64_t ppu
    int64_t mult
    int64_t max_sets
    int64_t per_receipt
    int64_t per_customer
    int has_budget
    int64_t holdout
    uint64_t fnv
    int has_from
    int64_t active_from
    int has_until
    int64_t active_until
    int days
    int64_t start_min
    int64_t end_min
    int has_stores
    int anon_ok
    int64_t tiers_mask
    int has_segments
    int first_purchase
    int64_t bday
    int has_coupon
    int target
    int offer_kind
    int offer_target
    int64_t offer_pct
    int64_t offer_mult
    int comp_start
    int comp_count


cdef bint _bday_ok(int64_t y, int64_t m, int64_t d, int64_t bm, int64_t bd,
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


def _line_order(lines):
    return sorted(range(len(lines)), key=lambda x: lines[x].line_no)


cdef inline int64_t _clamp64(object v) except? -1:
    cdef int ovf = 0
    cdef long long x
    if type(v) is int:
        x = PyLong_AsLongLongAndOverflow(v, &ovf)
        if ovf > 0:
            return I64_MAX
        if ovf < 0 or x < -I64_MAX:
            return -I64_MAX
        return x
    if v > I64_MAX:
        return I64_MAX
    if v < -I64_MAX:
        return -I64_MAX
    return v


cdef class FastEngine:
    """Computes sales in C; `calc_sale` returns exactly what `ReferenceEngine.calc_sale` does."""

    cdef readonly object program
    cdef readonly object plan
    cdef readonly str name
    cdef int nc
    cdef int T
    cdef Camp *c
    cdef int *comp_target
    cdef int64_t *comp_qty
    cdef int ncomp_max
    cdef int *mult_order
    cdef int nmult
    cdef list ids
    cdef list stores
    cdef list segments
    cdef dict index
    cdef dict code_owner
    cdef list single_use
    cdef dict rows
    # line records: (sku, category) canonical str objects -> row of T + 1 bytes in `recs`
    cdef fc_lslot *ltab
    cdef Py_ssize_t ltab_cap
    cdef Py_ssize_t ltab_n
    cdef uint8_t *recs
    cdef Py_ssize_t cap_rec
    cdef public Py_ssize_t rec_limit
    cdef dict bday_cache
    cdef dict seg_bits  # segment -> bitmask of the campaigns that name it (nc <= 64), or None
    cdef int64_t *tier_rates
    cdef int ntiers
    cdef int64_t rate_bps
    cdef object plan_row
    cdef object tz
    cdef dict time_cache
    cdef bint on_redeemed
    cdef int64_t max_line_bps
    cdef int64_t max_share_bps
    cdef int64_t min_payable
    cdef bint any_time
    # per campaign scratch
    cdef uint8_t *elig
    cdef uint8_t *offer_on
    cdef uint8_t *gave
    cdef uint8_t *exhausted
    cdef uint8_t *has_win
    cdef int64_t *bleft
    # per line scratch
    cdef int cap_n
    cdef int64_t *qty
    cdef int64_t *price
    cdef int64_t *amount
    cdef int64_t *rank
    cdef int64_t *disc
    cdef int64_t *cap
    cdef int64_t *raw
    cdef int64_t *amt
    cdef int64_t *tmp
    cdef int64_t *red
    cdef int64_t *acc
    cdef int64_t *spend
    cdef int64_t *base
    cdef int64_t *basepts
    cdef int64_t *extra
    cdef int64_t *avail
    cdef int64_t *in_sets
    cdef int64_t *trial
    cdef int64_t *took
    cdef int32_t *winner
    cdef int32_t *lst
    cdef uint8_t *flags
    cdef uint8_t *locked
    cdef uint8_t *covk
    cdef uint8_t *cov
    cdef uint8_t *anyc  # per target (1 + t): does any line of the receipt fall under it
    cdef fc_rem *rems
    cdef fc_unit *units
    # per receipt state
    cdef bint anon
    cdef int n
    cdef object cust_obj
    cdef const char *cust_utf8
    cdef Py_ssize_t cust_len
    cdef bint any_holdout
    cdef fc_item *items
    cdef int nitems
    cdef int64_t out_redeemed
    cdef int64_t out_base
    cdef object out_accepted
    cdef object out_rejected

    def __cinit__(self, program):
        self.c = NULL
        self.items = NULL
        self.cap_n = 0
        self.ltab = NULL
        self.ltab_cap = self.ltab_n = 0
        self.recs = NULL
        self.cap_rec = 0
        self.rec_limit = 200000

    def __init__(self, program):
        cdef int k, j
        cdef Camp *cp
        plan = compile_plan(program)
        self.program = program
        self.plan = plan
        self.name = "compiled"
        self.nc = len(plan.ids)
        self.T = plan.n_targets
        self.ids = list(plan.ids)
        self.stores = list(plan.stores)
        self.segments = list(plan.segments)
        self.index = dict(plan.index)
        self.code_owner = dict(plan.code_owner)
        self.single_use = list(plan.single_use)
        self.rows = plan.rows
        self.bday_cache = {}
        self.seg_bits = None
        if self.nc <= 64:
            self.seg_bits = {}
            for k, segs in enumerate(plan.segments):
                for sg in segs or ():
                    self.seg_bits[sg] = self.seg_bits.get(sg, 0) | (1 << k)
        self.ntiers = len(program.tiers)
        self.rate_bps = program.rate_bps
        self.tier_rates = <int64_t *>malloc(max(self.ntiers, 1) * sizeof(int64_t))
        if self.tier_rates == NULL:
            raise MemoryError()
        for j in range(self.ntiers):
            self.tier_rates[j] = program.tiers[j].rate_bps
        self.plan_row = plan.row
        self.tz = program.tz
        self.time_cache = {}
        self.on_redeemed = program.on_redeemed
        self.max_line_bps = program.max_line_discount_bps
        self.max_share_bps = program.max_share_bps
        self.min_payable = min(program.min_payable, 1 << 62)
        nc = max(self.nc, 1)
        self.c = <Camp *>malloc(nc * sizeof(Camp))
        self.elig = <uint8_t *>malloc(nc)
        self.offer_on = <uint8_t *>malloc(nc)
        self.gave = <uint8_t *>malloc(nc)
        self.exhausted = <uint8_t *>malloc(nc)
        self.has_win = <uint8_t *>malloc(nc)
        self.anyc = <uint8_t *>malloc(self.T + 1)
        self.bleft = <int64_t *>malloc(nc * sizeof(int64_t))
        self.items = <fc_item *>malloc((ITEMS_PER_CAMPAIGN * nc + 16) * sizeof(fc_item))
        ncomp = max(len(plan.comp_target), 1)
        self.comp_target = <int *>malloc(ncomp * sizeof(int))
        self.comp_qty = <int64_t *>malloc(ncomp * sizeof(int64_t))
        self.mult_order = <int *>malloc(max(len(plan.mult_order), 1) * sizeof(int))
        if (self.c == NULL or self.elig == NULL or self.offer_on == NULL or self.gave == NULL
                or self.exhausted == NULL or self.has_win == NULL or self.bleft == NULL
                or self.anyc == NULL
                or self.comp_target == NULL or self.comp_qty == NULL
                or self.mult_order == NULL or self.items == NULL):
            raise MemoryError()
        for j in range(len(plan.comp_target)):
            self.comp_target[j] = plan.comp_target[j]
            self.comp_qty[j] = plan.comp_qty[j]
        self.nmult = len(plan.mult_order)
        for j in range(self.nmult):
            self.mult_order[j] = plan.mult_order[j]
        self.ncomp_max = 1
        self.any_time = False
        self.any_holdout = False
        for k in range(self.nc):
            cp = &self.c[k]
            cp.type = plan.ctype[k]
            cp.exclusive = plan.exclusive[k]
            cp.percent_bps = plan.percent_bps[k]
            cp.amount = plan.amount[k]
            cp.price = plan.price[k]
            cp.buy = plan.buy[k]
            cp.pay = plan.pay[k]
            cp.min_amount = plan.min_amount[k]
            cp.points = plan.points[k]
            cp.ppu = plan.points_per_unit[k]
            cp.mult = plan.multiplier_bps[k]
            cp.max_sets = plan.max_sets[k]
            cp.per_receipt = plan.per_receipt[k]
            cp.per_customer = plan.per_customer[k]
            cp.has_budget = plan.has_budget[k]
            cp.holdout = plan.holdout_bps[k]
            cp.fnv = plan.fnv[k]
            cp.has_from = plan.has_from[k]
            cp.active_from = plan.active_from[k]
            cp.has_until = plan.has_until[k]
            cp.active_until = plan.active_until[k]
            cp.days = plan.sched_days[k]
            cp.start_min = plan.sched_start[k]
            cp.end_min = plan.sched_end[k]
            cp.has_stores = plan.stores[k] is not None
            cp.anon_ok = plan.anon_ok[k]
            cp.tiers_mask = plan.tiers_mask[k]
            cp.has_segments = plan.segments[k] is not None
            cp.first_purchase = plan.first_purchase[k]
            cp.bday = plan.birthday_window[k]
            cp.has_coupon = plan.has_coupon[k]
            cp.target = plan.target[k]
            cp.offer_kind = plan.offer_kind[k]
            cp.offer_target = plan.offer_target[k]
            cp.offer_pct = plan.offer_percent_bps[k]
            cp.offer_mult = plan.offer_multiplier_bps[k]
            cp.comp_start = plan.comp_start[k]
            cp.comp_count = plan.comp_count[k]
            if cp.comp_count > self.ncomp_max:
                self.ncomp_max = cp.comp_count
            if cp.holdout > 0:
                self.any_holdout = True
            if cp.days != 127 or cp.start_min >= 0 or cp.bday >= 0:
                self.any_time = True
        self._grow(16)

    def __dealloc__(self):
        free(self.c)
        free(self.elig)
        free(self.offer_on)
        free(self.gave)
        free(self.exhausted)
        free(self.has_win)
        free(self.anyc)
        free(self.bleft)
        free(self.comp_target)
        free(self.comp_qty)
        free(self.mult_order)
        free(self.tier_rates)
        free(self.items)
        self._free_lines()
        self._ltab_clear()
        free(self.ltab)
        free(self.recs)

    cdef void _free_lines(self):
        free(self.qty)
        free(self.price)
        free(self.amount)
        free(self.rank)
        free(self.disc)
        free(self.cap)
        free(self.raw)
        free(self.amt)
        free(self.tmp)
        free(self.red)
        free(self.acc)
        free(self.spend)
        free(self.base)
        free(self.basepts)
        free(self.extra)
        free(self.avail)
        free(self.in_sets)
        free(self.trial)
        free(self.took)
        free(self.winner)
        free(self.lst)
        free(self.flags)
        free(self.locked)
        free(self.covk)
        free(self.cov)
        free(self.rems)
        free(self.units)

    cdef int _grow(self, int n) except -1:
        cdef size_t m
        if n <= self.cap_n:
            return 0
        if self.cap_n:
            self._free_lines()
        m = n
        self.qty = <int64_t *>malloc(m * 8)
        self.price = <int64_t *>malloc(m * 8)
        self.amount = <int64_t *>malloc(m * 8)
        self.rank = <int64_t *>malloc(m * 8)
        self.disc = <int64_t *>malloc(m * 8)
        self.cap = <int64_t *>malloc(m * 8)
        self.raw = <int64_t *>malloc(m * 8)
        self.amt = <int64_t *>malloc(m * 8)
        self.tmp = <int64_t *>malloc(m * 8)
        self.red = <int64_t *>malloc(m * 8)
        self.acc = <int64_t *>malloc(m * 8)
        self.spend = <int64_t *>malloc(m * 8)
        self.base = <int64_t *>malloc(m * 8)
        self.basepts = <int64_t *>malloc(m * 8)
        self.extra = <int64_t *>malloc(m * 8)
        self.avail = <int64_t *>malloc(m * 8)
        self.in_sets = <int64_t *>malloc(m * 8)
        self.trial = <int64_t *>malloc(m * 8)
        self.took = <int64_t *>malloc(m * 8)
        self.winner = <int32_t *>malloc(m * 4)
        self.lst = <int32_t *>malloc(m * 4 * self.ncomp_max)
        self.flags = <uint8_t *>malloc(m)
        self.locked = <uint8_t *>malloc(m)
        self.covk = <uint8_t *>malloc(m)
        self.cov = <uint8_t *>malloc(m * (self.T + 1))
        self.rems = <fc_rem *>malloc(m * sizeof(fc_rem))
        self.units = <fc_unit *>malloc(m * sizeof(fc_unit))
        self.cap_n = n
        if (self.qty == NULL or self.price == NULL or self.amount == NULL or self.rank == NULL
                or self.disc == NULL or self.cap == NULL or self.raw == NULL or self.amt == NULL
                or self.tmp == NULL or self.red == NULL or self.acc == NULL
                or self.spend == NULL or self.base == NULL or self.basepts == NULL
                or self.extra == NULL or self.avail == NULL or self.in_sets == NULL
                or self.trial == NULL or self.took == NULL or self.winner == NULL
                or self.lst == NULL or self.flags == NULL or self.locked == NULL
                or self.covk == NULL or self.cov == NULL or self.rems == NULL
                or self.units == NULL):
            self.cap_n = 0
            raise MemoryError()
        return 0

    # ------------------------------------------------------------------ line records
    cdef void _ltab_clear(self) noexcept:
        cdef Py_ssize_t j
        for j in range(self.ltab_cap):
            if self.ltab[j].sku != NULL:
                Py_XDECREF(<PyObject *>self.ltab[j].sku)
                Py_XDECREF(<PyObject *>self.ltab[j].cat)
                self.ltab[j].sku = NULL
                self.ltab[j].cat = NULL
        self.ltab_n = 0

    cdef int _ltab_resize(self, Py_ssize_t cap) except -1:
        cdef fc_lslot *old = self.ltab
        cdef fc_lslot *t
        cdef Py_ssize_t j, oc = self.ltab_cap
        cdef uint64_t h, m = cap - 1
        t = <fc_lslot *>malloc(cap * sizeof(fc_lslot))
        if t == NULL:
            raise MemoryError()
        memset(t, 0, cap * sizeof(fc_lslot))
        for j in range(oc):
            if old[j].sku != NULL:
                h = fc_phash(old[j].sku, old[j].cat) & m
                while t[h].sku != NULL:
                    h = (h + 1) & m
                t[h] = old[j]
        self.ltab = t
        self.ltab_cap = cap
        free(old)
        return 0

    cdef inline Py_ssize_t _ltab_find(self, void *sku, void *cat) noexcept:
        """The record index of the exact (sku, cat) objects, -1 when not in the table."""
        cdef uint64_t m = self.ltab_cap - 1
        cdef uint64_t h = fc_phash(sku, cat) & m
        cdef fc_lslot *e
        while True:
            e = &self.ltab[h]
            if e.sku == sku and e.cat == cat:
                return e.rec
            if e.sku == NULL:
                return -1
            h = (h + 1) & m

    cdef Py_ssize_t _rec_slow(self, object sku, object cat) except -1:
        """Line record of (sku, cat), both exact str, not found by address."""
        cdef Py_ssize_t r, T1 = self.T + 1
        cdef uint64_t h, m
        cdef uint8_t *q
        cs = _intern(sku)
        cc = _intern(cat)
        if cs is not sku or cc is not cat:
            r = self._ltab_find(<PyObject *>cs, <PyObject *>cc)
            if r >= 0:
                return r
        rec = self.plan_row(cs, cc)
        if self.ltab_n >= self.rec_limit:
            self._ltab_clear()
        if 2 * (self.ltab_n + 1) > self.ltab_cap:
            self._ltab_resize(max(1024, 2 * self.ltab_cap))
        if self.ltab_n + 1 > self.cap_rec:
            r = max(1024, 2 * self.cap_rec)
            q = <uint8_t *>realloc(self.recs, r * T1)
            if q == NULL:
                raise MemoryError()
            self.recs = q
            self.cap_rec = r
        r = self.ltab_n
        memcpy(&self.recs[r * T1], PyBytes_AS_STRING(rec), T1)
        m = self.ltab_cap - 1
        h = fc_phash(<PyObject *>cs, <PyObject *>cc) & m
        while self.ltab[h].sku != NULL:
            h = (h + 1) & m
        Py_INCREF(cs)
        Py_INCREF(cc)
        self.ltab[h].sku = <PyObject *>cs
        self.ltab[h].cat = <PyObject *>cc
        self.ltab[h].rec = r
        self.ltab_n = r + 1
        return r

    # ------------------------------------------------------------------ API
    def calc_sale(self, receipt, ctx):
        return self._calc(receipt, ctx)

    # ------------------------------------------------------------------ helpers
    cdef tuple _local(self, int64_t ts):
        """(weekday, minute of day, local date), cached per UTC minute."""
        cdef int64_t mk = ts // 60000000
        if mk * 60000000 > ts:  # floor: cdivision truncates towards zero (ts < 0)
            mk -= 1
        key = mk
        hit = self.time_cache.get(key)
        if hit is not None:
            return <tuple>hit
        dt = from_us(ts, self.tz)
        res = (dt.weekday(), dt.hour * 60 + dt.minute, dt.date())
        off = dt.utcoffset()
        if off is not None and off.microseconds == 0 and off.seconds % 60 == 0:
            if len(self.time_cache) > 100000:
                self.time_cache.clear()
            self.time_cache[key] = res
        return res

    cdef bint _held(self, int k) noexcept:
        cdef Camp *cp = &self.c[k]
        cdef uint64_t h
        cdef const unsigned char *s
        cdef Py_ssize_t j, m
        if self.anon or cp.holdout <= 0:
            return False
        h = cp.fnv
        s = <const unsigned char *>self.cust_utf8
        m = self.cust_len
        for j in range(m):
            h ^= s[j]
            h *= FNV_PRIME
        return <int64_t>(h % 10000) < cp.holdout

    cdef inline void _log(self, int kind, int k, int64_t v) noexcept:
        """Append to the result log (sized for ITEMS_PER_CAMPAIGN items a campaign)."""
        cdef fc_item *it = &self.items[self.nitems]
        it.kind = kind
        it.k = k
        it.v = v
        self.nitems += 1

    cdef bint _fits(self, int k, int64_t cost) noexcept:
        if not self.c[k].has_budget:
            return True
        if cost > self.bleft[k]:
            if not self.exhausted[k]:
                self.exhausted[k] = 1
                self._log(IT_EXH, k, 0)
            return False
        self.bleft[k] -= cost
        self._log(IT_SPENT, k, cost)
        return True

    cdef void _commit(self, int k, int64_t total, bint exclusive) noexcept:
        cdef int i
        for i in range(self.n):
            if self.amt[i]:
                self.disc[i] += self.amt[i]
                if exclusive:
                    self.locked[i] = 1
        self._log(IT_DISC, k, total)

    cdef int64_t _clip_and_cap(self, int64_t per_receipt) noexcept:
        """raw -> amt: clip to the line caps' room, then the per-receipt cap."""
        cdef int i, n = self.n
        cdef int64_t room, total = 0
        for i in range(n):
            room = self.cap[i] - self.disc[i]
            if room < 0:
                room = 0
            self.amt[i] = self.raw[i] if self.raw[i] < room else room
            total += self.amt[i]
        if per_receipt >= 0 and total > per_receipt:
            memcpy(self.tmp, self.amt, n * 8)
            fc_split(per_receipt, self.tmp, self.amt, n, self.rems)
            total = 0
            for i in range(n):
                total += self.amt[i]
        return total

    cdef inline bint _discountable(self, bint exclusive, int i) noexcept:
        return (self.flags[i] & F_DISCOUNT) and not self.locked[i] and not (
            exclusive and self.disc[i] > 0)

    # ------------------------------------------------------------------ stage A
    cdef inline bint _meets(self, Camp *cp) noexcept:
        """Can a line-discount campaign cover any line (else it computes nothing)?"""
        cdef int j
        if cp.type != T_BUNDLE:
            return cp.target < 0 or self.anyc[1 + cp.target]
        for j in range(cp.comp_count):
            if not self.anyc[1 + self.comp_target[cp.comp_start + j]]:
                return False
        return True

    cdef void _n_for_m(self, Camp *cp) noexcept:
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

    cdef void _bundle(self, Camp *cp) noexcept:
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

    cdef void _line_discount(self, int k) noexcept:
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
            self._n_for_m(cp)
        else:
            self._bundle(cp)
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

    cdef void _offer_discount(self, int k) noexcept:
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
    cdef void _threshold(self, int k) noexcept:
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

    # ------------------------------------------------------------------ the sale
    cdef object _calc(self, receipt, ctx):
        self._compute(receipt, ctx)
        return self._emit_calc()

    cdef int _compute(self, receipt, ctx) except -1:
        if type(receipt) is Receipt and type(ctx) is SaleContext:
            return self._calc2(receipt, ctx, _get(receipt, R_LINES), _get(receipt, R_TS),
                               _get(receipt, R_STORE), _get(receipt, R_REDEEM),
                               _get(receipt, R_COUPONS), _get(ctx, X_CUST), _get(ctx, X_TIER),
                               _get(ctx, X_BAL), _get(ctx, X_HAS_SALE), _get(ctx, X_BDAY),
                               _get(ctx, X_SEGS), _get(ctx, X_USES), _get(ctx, X_OFFERS),
                               _get(ctx, X_BUDGET), _get(ctx, X_USED))
        return self._calc2(receipt, ctx, receipt.lines, receipt.ts_us, receipt.store_id,
                           receipt.redeem, receipt.coupons, ctx.customer_id, ctx.tier,
                           ctx.active_balance, ctx.has_sale, ctx.birthday, ctx.segments,
                           ctx.uses, ctx.offers, ctx.budget_left, ctx.used_codes)

    cdef int _load_lines(self, lines) except -1:
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
        n = len(lines)
        self._grow(n)
        self.n = n
        T1 = self.T + 1
        sorted_ln = True
        prev = None
        line_type = Line
        if self.ltab_cap == 0:
            self._ltab_resize(1024)
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
        # targets any line falls under: a campaign whose target no line meets does nothing
        memset(self.anyc, 0, T1)
        for i in range(n):
            rp = <const char *>&self.cov[i * T1]
            for j in range(1, T1):
                self.anyc[j] |= <uint8_t>rp[j]
        if not sorted_ln:
            order = _line_order(lines)
            for j in range(n):
                self.rank[<int>order[j]] = j

        return 0

    cdef int _calc2(self, receipt, ctx, lines, ts_o, store_id, redeem_o, coupons,
                    customer_id, tier_o, balance_o, has_sale, birthday, segments, uses,
                    offers, budget_left, used_codes):
        cdef int k
        cdef Camp *cp
        cdef int64_t ts, q, up, v
        cdef bint ok, seg_fast
        cdef int tier
        cdef uint64_t segm
        cdef PyObject *pv
        cdef int lyear, lmonth = 0, lday = 0
        self._load_lines(lines)

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
        for k in range(self.nc):
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
        return self._stages(want, tier, verdicts)

    cdef int _stages(self, int64_t want, int tier, dict verdicts) except -1:
        """Stages A and B, redemption, accrual and the coupons' verdicts, once `elig`,
        `offer_on`, `bleft`, the lines and `anon` are set (`want`: min(redeem, balance))."""
        cdef int i, k, j, t, n = self.n, T1 = self.T + 1
        cdef Camp *cp
        cdef int64_t v, q, total, rate, elig_sum, due, redeemed, pts, mult, sum_amt, base_total
        cdef bint ok
        # stage A, then stage B, in program order (priority, then id)
        for k in range(self.nc):
            cp = &self.c[k]
            if cp.type <= T_BUNDLE:
                if self.elig[k] and self._meets(cp):
                    self._line_discount(k)
            elif cp.type == T_OFFER and cp.offer_kind == OFFER_PERCENT and self.offer_on[k] \
                    and self.anyc[1 + cp.offer_target]:
                self._offer_discount(k)
        for k in range(self.nc):
            cp = &self.c[k]
            if cp.type == T_THRESHOLD and self.elig[k] and self.anyc[1 + cp.target]:
                self._threshold(k)

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
            if self.nmult:
                for k in range(self.nc):
                    self.has_win[k] = 0
                for i in range(n):
                    if not self.flags[i] & F_ACCRUE:
                        continue
                    for j in range(self.nmult):
                        k = self.mult_order[j]
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
                for k in range(self.nc):
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
                for k in range(self.nc):
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
        for k in range(self.nc):
            if self.gave[k]:
                self._log(IT_GAVE, k, 0)
        self.out_redeemed = redeemed
        return 0

    cdef object _emit_calc(self):
        """The `SaleCalc` of the receipt just computed."""
        cdef int i, j, n = self.n
        cdef fc_item *it
        cdef list ids = self.ids
        discounts = []
        grants = []
        offers_used = []
        offers_issued = []
        held = []
        spent = {}
        exhausted = []
        gave = []
        if self.out_base > 0:
            grants.append(("base", self.out_base, 0))
        for j in range(self.nitems):
            it = &self.items[j]
            cid = ids[it.k]
            if it.kind == IT_DISC:
                discounts.append((cid, it.v))
            elif it.kind == IT_GAVE:
                gave.append(cid)
            elif it.kind == IT_GRATE:
                grants.append((cid, it.v, 0))
            elif it.kind == IT_GFIX:
                grants.append((cid, it.v, 1))
            elif it.kind == IT_SPENT:
                spent[cid] = spent.get(cid, 0) + it.v
            elif it.kind == IT_HELD:
                held.append(cid)
            elif it.kind == IT_USED:
                offers_used.append(cid)
            elif it.kind == IT_ISSUED:
                offers_issued.append(cid)
            else:
                exhausted.append(cid)
        res = _new_calc(SaleCalc)
        _set(res, SC_OFF[0], [self.disc[i] for i in range(n)])
        _set(res, SC_OFF[1], [self.red[i] for i in range(n)])
        _set(res, SC_OFF[2], [self.acc[i] for i in range(n)])
        _set(res, SC_OFF[3], [self.spend[i] for i in range(n)])
        _set(res, SC_OFF[4], discounts)
        _set(res, SC_OFF[5], grants)
        _set(res, SC_OFF[6], self.out_redeemed)
        _set(res, SC_OFF[7], offers_used)
        _set(res, SC_OFF[8], offers_issued)
        _set(res, SC_OFF[9], [] if self.out_accepted is None else self.out_accepted)
        _set(res, SC_OFF[10], [] if self.out_rejected is None else self.out_rejected)
        _set(res, SC_OFF[11], held)
        _set(res, SC_OFF[12], spent)
        _set(res, SC_OFF[13], exhausted)
        _set(res, SC_OFF[14], gave)
        self.out_accepted = self.out_rejected = None
        return res
