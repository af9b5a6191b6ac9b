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
# the zone's offset per UTC hour: timeutil's cache (`_TU_HOURS`, _fastcalc.pyx) (FastEngine._local)
from datetime import date as _e_date
cdef object _e_hour_offset = _tu._hour_offset
cdef Py_ssize_t _E_CACHE_MAX = _tu._CACHE_MAX
cdef int64_t _E_EPOCH_ORDINAL = _tu._EPOCH_ORDINAL
cdef object _e_date_fromordinal = _e_date.fromordinal
cdef Py_ssize_t SC_OFF[15]
_SC_FIELDS = ("line_discount", "line_redeemed", "line_accrued", "line_spend", "discounts",
              "grants", "redeemed", "offers_used", "offers_issued", "coupons_accepted",
              "coupons_rejected", "held_out", "budget_spent", "budget_exhausted", "gave")
for _k, _f in enumerate(_SC_FIELDS):
    SC_OFF[_k] = _slot_offset(SaleCalc, _f)
if [f for f in SaleCalc.__dataclass_fields__] != list(_SC_FIELDS):
    raise ImportError("SaleCalc fields changed: update streamproc._fastcalc")

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
    cdef dict day_cache   # days since the epoch -> local date
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
    # the campaigns a receipt can meet: keyed by target (CSR `t2c`), or always visited
    cdef int *t2c_start
    cdef int *t2c
    cdef int *always
    cdef int nalways
    cdef int *mult_pos  # campaign -> position in mult_order, or -1
    cdef int *ptl       # per receipt: the targets some line falls under
    cdef int npt
    cdef int *cand      # per receipt: the campaigns to visit, in program order
    cdef int ncand
    cdef int *cmo       # per receipt: the candidate multipliers, in mult_order
    cdef int ncmo
    cdef uint8_t *cmark
    # per line record: its targets (indices into `tpool`)
    cdef Py_ssize_t *rts_off
    cdef int *rts_cnt
    cdef int *tpool
    cdef Py_ssize_t tpool_n
    cdef Py_ssize_t tpool_cap
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
        self.t2c_start = self.t2c = self.always = self.mult_pos = NULL
        self.ptl = self.cand = self.cmo = NULL
        self.cmark = NULL
        self.rts_off = NULL
        self.rts_cnt = NULL
        self.tpool = NULL
        self.tpool_n = self.tpool_cap = 0

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
        self.day_cache = {}
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
        self._index_targets()
        self._grow(16)

    cdef int _index_targets(self) except -1:
        """Which targets each campaign needs a line under before it can do anything (any one
        of them: a bundle's first component, an offer's target and its offer's target); a
        campaign with none (no target) is visited on every receipt."""
        cdef int k, j, t, T = self.T, nc = max(self.nc, 1)
        cdef Camp *cp
        keyed = [[] for _ in range(T)]
        always = []
        for k in range(self.nc):
            cp = &self.c[k]
            keys = []
            if cp.type == T_BUNDLE:
                keys.append(self.comp_target[cp.comp_start] if cp.comp_count else -1)
            elif cp.type <= T_MULTIPLIER or cp.type == T_OFFER:
                keys.append(cp.target)
            else:
                keys.append(-1)
            if cp.offer_kind != 0:
                keys.append(cp.offer_target)
            if any(t < 0 or t >= T for t in keys):
                always.append(k)
            else:
                for t in set(keys):
                    keyed[t].append(k)
        self.t2c_start = <int *>malloc((T + 1) * sizeof(int))
        self.t2c = <int *>malloc(max(sum(len(x) for x in keyed), 1) * sizeof(int))
        self.always = <int *>malloc(max(len(always), 1) * sizeof(int))
        self.mult_pos = <int *>malloc(nc * sizeof(int))
        self.ptl = <int *>malloc(max(T, 1) * sizeof(int))
        self.cand = <int *>malloc(nc * sizeof(int))
        self.cmo = <int *>malloc(nc * sizeof(int))
        self.cmark = <uint8_t *>malloc(nc)
        if (self.t2c_start == NULL or self.t2c == NULL or self.always == NULL
                or self.mult_pos == NULL or self.ptl == NULL or self.cand == NULL
                or self.cmo == NULL or self.cmark == NULL):
            raise MemoryError()
        j = 0
        for t in range(T):
            self.t2c_start[t] = j
            for k in keyed[t]:
                self.t2c[j] = k
                j += 1
        self.t2c_start[T] = j
        self.nalways = len(always)
        for j in range(self.nalways):
            self.always[j] = always[j]
        memset(self.cmark, 0, nc)
        for k in range(nc):
            self.mult_pos[k] = -1
        for j in range(self.nmult):
            self.mult_pos[self.mult_order[j]] = j
        return 0

    def __dealloc__(self):
        free(self.t2c_start)
        free(self.t2c)
        free(self.always)
        free(self.mult_pos)
        free(self.ptl)
        free(self.cand)
        free(self.cmo)
        free(self.cmark)
        free(self.rts_off)
        free(self.rts_cnt)
        free(self.tpool)
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
        self.tpool_n = 0

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
        cdef Py_ssize_t *qo
        cdef int *qc
        cdef int *qp
        cdef int j
        cdef const char *row
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
            qo = <Py_ssize_t *>realloc(self.rts_off, r * sizeof(Py_ssize_t))
            if qo == NULL:
                raise MemoryError()
            self.rts_off = qo
            qc = <int *>realloc(self.rts_cnt, r * sizeof(int))
            if qc == NULL:
                raise MemoryError()
            self.rts_cnt = qc
            self.cap_rec = r
        r = self.ltab_n
        row = PyBytes_AS_STRING(rec)
        memcpy(&self.recs[r * T1], row, T1)
        # the record's targets, listed once (a receipt ORs only these)
        if self.tpool_n + self.T > self.tpool_cap:
            qp = <int *>realloc(self.tpool, max(4096, 2 * self.tpool_cap + self.T)
                                * sizeof(int))
            if qp == NULL:
                raise MemoryError()
            self.tpool = qp
            self.tpool_cap = max(4096, 2 * self.tpool_cap + self.T)
        self.rts_off[r] = self.tpool_n
        self.rts_cnt[r] = 0
        for j in range(self.T):
            if row[1 + j]:
                self.tpool[self.tpool_n] = j
                self.tpool_n += 1
                self.rts_cnt[r] += 1
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

    def local_time(self, ts_us):
        """(weekday, minute of day, local date) of an instant, as the calculation reads it
        (`timeutil.LocalClock.local`, cached)."""
        return self._local(ts_us)

    # ------------------------------------------------------------------ helpers
    cdef tuple _local(self, int64_t ts):
        """(weekday, minute of day, local date), cached per UTC minute; a miss reads the zone's
        offset for that UTC hour from timeutil's cache (`format_us`'s) and does the
        arithmetic, `from_us` only for an hour whose offset changes or is not whole minutes."""
        cdef int64_t mk = _floor_div(ts, 60000000), hour, local, days, wd
        key = mk
        hit = self.time_cache.get(key)
        if hit is not None:
            return <tuple>hit
        if len(self.time_cache) > 100000:
            self.time_cache.clear()
        got = None
        if _FMT_MIN <= ts <= _FMT_MAX:
            hours = _TU_HOURS.get(self.tz)
            if hours is None:
                hours = _TU_HOURS[self.tz] = {}
            hour = _floor_div(ts, 3600000000)
            hkey = hour
            if hkey in <dict>hours:
                got = (<dict>hours)[hkey]
            else:
                if len(<dict>hours) >= _E_CACHE_MAX:
                    (<dict>hours).clear()
                got = (<dict>hours)[hkey] = _e_hour_offset(hkey, self.tz)
        if got is not None:
            local = ts + <int64_t>(<tuple>got)[0]
            days = _floor_div(local, 86400000000)
            wd = (days + 3) % 7  # 1970-01-01 was a Thursday (Monday is 0)
            if wd < 0:
                wd += 7
            day = self.day_cache.get(days)
            if day is None:
                if len(self.day_cache) > 100000:
                    self.day_cache.clear()
                day = self.day_cache[days] = _e_date_fromordinal(_E_EPOCH_ORDINAL + days)
            res = (wd, (local - days * 86400000000) // 60000000, day)
            self.time_cache[key] = res
            return res
        dt = from_us(ts, self.tz)
        res = (dt.weekday(), dt.hour * 60 + dt.minute, dt.date())
        off = dt.utcoffset()
        if off is not None and off.microseconds == 0 and off.seconds % 60 == 0:
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

    # ------------------------------------------------------------------ the sale
    cdef object _calc(self, receipt, ctx):
        self._compute(receipt, ctx)
        return self._emit_calc()

    cdef int _compute(self, receipt, ctx) except -1:
        if type(receipt) is Receipt and type(ctx) is SaleContext:
            return _calc2(self, receipt, ctx, _get(receipt, R_LINES), _get(receipt, R_TS),
                          _get(receipt, R_STORE), _get(receipt, R_REDEEM),
                          _get(receipt, R_COUPONS), _get(ctx, X_CUST), _get(ctx, X_TIER),
                          _get(ctx, X_BAL), _get(ctx, X_HAS_SALE), _get(ctx, X_BDAY),
                          _get(ctx, X_SEGS), _get(ctx, X_USES), _get(ctx, X_OFFERS),
                          _get(ctx, X_BUDGET), _get(ctx, X_USED))
        return _calc2(self, receipt, ctx, receipt.lines, receipt.ts_us, receipt.store_id,
                      receipt.redeem, receipt.coupons, ctx.customer_id, ctx.tier,
                      ctx.active_balance, ctx.has_sale, ctx.birthday, ctx.segments,
                      ctx.uses, ctx.offers, ctx.budget_left, ctx.used_codes)

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
        res = _new_obj(SaleCalc)
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
