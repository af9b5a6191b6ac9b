# ====================================================================== receipt records format
# Included by _fastcalc.pyx after _fc_state.pxi and _fc_processor.pxi (whose byte writer and
# SaleLine slots it uses). `pack_records` / `unpack_records` / `splice_records`: the compiled
# twin of streamproc.state.redis.records (`pack`, `unpack`, and `merge`: unpack + update +
# prune + pack), writing and reading the very same bytes; layout in docs/state-model.md. All
# answer None where the reference would raise or where the input is not exactly what `pack`
# writes (corrupt or non-canonical bytes, a repeated id, a value past int64): the caller then
# runs the reference, so errors are the reference's. tests/unit/state/test_records_compiled.py
# holds them to it byte for byte.
#
# Why a splice: a customer's records change only by receipts appended, a sale's lines'
# `returned` updated, and records pruned past the return window; a record's lines and
# buckets do not depend on the records before it (only its time step does), so a batch's
# write keeps the bytes of every record it did not change and writes only the new ones.

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    typedef struct {
        const unsigned char *rid;  /* NULL: the id the key names */
        Py_ssize_t rid_n;
        uint64_t h;
        int kind;
        int64_t ts;
        const unsigned char *body;  /* from the line count to the record's end */
        Py_ssize_t body_n;
    } fc_rec;

    /* a minimal LEB128 u64, as `records.pack` writes it: 0 on anything else */
    static inline int fc_ru(const unsigned char *p, Py_ssize_t n, Py_ssize_t *i,
                            uint64_t *x) {
        uint64_t v = 0;
        int shift = 0;
        unsigned char c;
        for (;;) {
            if (*i >= n) return 0;
            c = p[(*i)++];
            if (shift == 63 && c > 1) return 0;
            v |= ((uint64_t)(c & 0x7F)) << shift;
            if (c < 0x80) {
                if (c == 0 && shift > 0) return 0;
                *x = v;
                return 1;
            }
            shift += 7;
        }
    }

    static inline int fc_rs(const unsigned char *p, Py_ssize_t n, Py_ssize_t *i,
                            int64_t *x) {
        uint64_t u;
        if (!fc_ru(p, n, i, &u)) return 0;
        *x = (int64_t)((u >> 1) ^ ((uint64_t)0 - (u & 1)));
        return 1;
    }

    static inline uint64_t fc_hash(const unsigned char *s, Py_ssize_t n) {
        uint64_t h = 1469598103934665603ULL;
        for (Py_ssize_t k = 0; k < n; k++) h = (h ^ s[k]) * 1099511628211ULL;
        return h;
    }

    /* spend mode of a line as `records.pack` chooses it */
    static inline int fc_spend_mode(int64_t amount, int64_t disc, int64_t red, int64_t spend) {
        __int128 e = (__int128)amount - disc - red;
        if (spend == 0 && e != 0) return 1;
        if ((__int128)spend != e) return 2;
        return 0;
    }

    /* the zigzagged time step from `prev` to `ts` (in seconds when whole: *secs = 1) */
    static inline uint64_t fc_step(int64_t ts, int64_t prev, int *secs) {
        __int128 step = (__int128)ts - prev;
        uint64_t w;
        *secs = (step % 1000000) == 0;
        w = (uint64_t)(unsigned __int128)(*secs ? step / 1000000 : step);
        return (w << 1) ^ (uint64_t)(((int64_t)w) >> 63);
    }

    /* The records of value p[0:n] into out[0:cap]: their count, or -1 when the bytes are not
       exactly what `records.pack` writes for their lines and buckets (corrupt, or not
       canonical: the reference decides). A length-0 id needs `named`. */
    static Py_ssize_t fc_rec_scan(const unsigned char *p, Py_ssize_t n, fc_rec *out,
                                  Py_ssize_t cap, int named) {
        Py_ssize_t i = 1, k, cnt;
        uint64_t u, nl, nb, j;
        int64_t ts = 0, no, v, w[5];
        if (n < 1 || p[0] != 1) return -1;
        if (!fc_ru(p, n, &i, &u) || u > (uint64_t)cap) return -1;
        cnt = (Py_ssize_t)u;
        for (k = 0; k < cnt; k++) {
            fc_rec *r = &out[k];
            int kind, f, b, mode;
            if (!fc_ru(p, n, &i, &u) || u > (uint64_t)(n - i)) return -1;
            r->rid_n = (Py_ssize_t)u;
            r->rid = u ? p + i : NULL;
            if (!u && !named) return -1;
            i += (Py_ssize_t)u;
            if (i >= n) return -1;
            kind = p[i++];
            if (kind >> 2) return -1;
            if (!fc_rs(p, n, &i, &v)) return -1;
            ts = (int64_t)((uint64_t)ts + ((kind & 2) ? (uint64_t)v * 1000000u : (uint64_t)v));
            r->kind = kind & 1;
            r->ts = ts;
            r->body = p + i;
            if (!fc_ru(p, n, &i, &nl) || nl > (uint64_t)n) return -1;
            no = 0;
            for (j = 0; j < nl; j++) {
                if (i >= n) return -1;
                f = p[i++];
                mode = f >> 5;
                if (mode >= 3) return -1;
                if (f & 1) {
                    if (!fc_rs(p, n, &i, &v)) return -1;
                    if (no != INT64_MAX && v == no + 1) return -1;
                    no = v;
                } else {
                    if (no == INT64_MAX) return -1;
                    no += 1;
                }
                w[0] = 0;
                if (!fc_rs(p, n, &i, &v) || !fc_rs(p, n, &i, &w[0])) return -1;
                for (b = 1; b <= 4; b++) {
                    if ((f >> b) & 1) {
                        if (!fc_rs(p, n, &i, &w[b]) || w[b] == 0) return -1;
                    } else {
                        w[b] = 0;
                    }
                }
                if (mode == 0) {
                    __int128 e = (__int128)w[0] - w[1] - w[2];
                    if (e < INT64_MIN || e > INT64_MAX) return -1;
                } else if (mode == 1) {
                    if (fc_spend_mode(w[0], w[1], w[2], 0) != 1) return -1;
                } else {
                    if (!fc_rs(p, n, &i, &v) || fc_spend_mode(w[0], w[1], w[2], v) != 2)
                        return -1;
                }
            }
            if (!fc_ru(p, n, &i, &nb) || nb > (uint64_t)n) return -1;
            for (j = 0; j < nb; j++)
                if (!fc_rs(p, n, &i, &v)) return -1;
            r->body_n = (p + i) - r->body;
        }
        return i == n ? cnt : -1;
    }

    /* amount - discount - redeemed, checked by fc_rec_scan to fit */
    static inline int64_t fc_spend0(int64_t amount, int64_t disc, int64_t red) {
        return (int64_t)((__int128)amount - disc - red);
    }

    /* ts < newest - window - one day, exactly (`records.prune`'s horizon) */
    static inline int fc_lt_horizon(int64_t ts, int64_t newest, int64_t window) {
        return (__int128)ts < (__int128)newest - window - (__int128)86400000000LL;
    }

    static inline int fc_rid_eq(const fc_rec *a, const fc_rec *b, const char *nm,
                                Py_ssize_t nm_n) {
        const unsigned char *x = a->rid ? a->rid : (const unsigned char *)nm;
        const unsigned char *y = b->rid ? b->rid : (const unsigned char *)nm;
        Py_ssize_t xn = a->rid ? a->rid_n : nm_n, yn = b->rid ? b->rid_n : nm_n;
        return a->h == b->h && xn == yn && memcmp(x, y, (size_t)xn) == 0;
    }
    """
    ctypedef struct fc_rec:
        const unsigned char *rid
        Py_ssize_t rid_n
        uint64_t h
        int kind
        int64_t ts
        const unsigned char *body
        Py_ssize_t body_n
    Py_ssize_t fc_rec_scan(const unsigned char *p, Py_ssize_t n, fc_rec *out, Py_ssize_t cap,
                           int named) noexcept
    uint64_t fc_hash(const unsigned char *s, Py_ssize_t n) noexcept
    int fc_spend_mode(int64_t amount, int64_t disc, int64_t red, int64_t spend) noexcept
    uint64_t fc_step(int64_t ts, int64_t prev, int *secs) noexcept
    int fc_rid_eq(const fc_rec *a, const fc_rec *b, const char *nm, Py_ssize_t nm_n) noexcept
    int fc_lt_horizon(int64_t ts, int64_t newest, int64_t window) noexcept
    int64_t fc_spend0(int64_t amount, int64_t disc, int64_t red) noexcept


cdef int _rec_write(_wbuf *w, const char *rid, Py_ssize_t rid_n, int kind, int64_t ts,
                    int64_t *prev) except -1:
    """A record's id, kind and time step (from `prev`), as `records.pack` writes them."""
    cdef int secs = 0
    cdef uint64_t zz = fc_step(ts, prev[0], &secs)
    _wb_u(w, <uint64_t>rid_n)
    if rid_n:
        _wb_bytes(w, rid, rid_n)
    _wb_byte(w, kind | secs << 1)
    _wb_u(w, zz)
    prev[0] = ts
    return 0


cdef object _rec_pack(object records, object named):
    cdef list recs = list(records)
    cdef _wbuf w
    cdef int64_t prev = 0, ts, no, prev_no, qty, amount, disc, red, acc, ret, spend
    cdef int64_t vals[8]
    cdef Py_ssize_t rid_n, k
    cdef const char *rid
    cdef int kind, flags, mode
    w.p = NULL
    w.n = 0
    w.cap = 0
    try:
        _wb_u(&w, 1)
        _wb_u(&w, len(recs))
        for r in recs:
            rs = r.receipt_id
            if type(rs) is not str:
                raise ValueError("receipt id: not a str")
            if named is not None and rs == named:
                rid = NULL
                rid_n = 0
            else:
                rid = PyUnicode_AsUTF8AndSize(rs, &rid_n)
            ts = _st_i64(r.ts_us, "ts")
            kd = r.kind
            if kd == "sale":
                kind = 0
            elif kd == "return":
                kind = 1
            else:
                raise ValueError("kind")
            _rec_write(&w, rid, rid_n, kind, ts, &prev)
            lines = r.lines
            _wb_u(&w, len(lines))
            prev_no = 0
            for ln in lines:
                vals[0] = _st_i64(ln.line_no, "line")
                vals[1] = _st_i64(ln.qty, "line")
                vals[2] = _st_i64(ln.amount, "line")
                vals[3] = _st_i64(ln.discount, "line")
                vals[4] = _st_i64(ln.redeemed, "line")
                vals[5] = _st_i64(ln.accrued, "line")
                vals[6] = _st_i64(ln.returned, "line")
                vals[7] = _st_i64(ln.spend, "line")
                no = vals[0]
                qty = vals[1]
                amount = vals[2]
                disc = vals[3]
                red = vals[4]
                acc = vals[5]
                ret = vals[6]
                spend = vals[7]
                flags = ((prev_no == I64_MAX or no != prev_no + 1) | (disc != 0) << 1
                         | (red != 0) << 2 | (acc != 0) << 3 | (ret != 0) << 4)
                mode = fc_spend_mode(amount, disc, red, spend)
                _wb_byte(&w, flags | mode << 5)
                if flags & 1:
                    _wb_u(&w, _zz64(no))
                _wb_u(&w, _zz64(qty))
                _wb_u(&w, _zz64(amount))
                for k in range(1, 5):
                    if flags >> k & 1:
                        _wb_u(&w, _zz64(vals[k + 2]))
                if mode == 2:
                    _wb_u(&w, _zz64(spend))
                prev_no = no
            bks = r.rate_buckets
            _wb_u(&w, len(bks))
            for b in bks:
                _wb_u(&w, _zz64(_st_i64(b, "rate bucket")))
        return (<char *>w.p)[:w.n]
    finally:
        free(w.p)


def pack_records(records, named=None):
    """`records.pack(records, named)`'s bytes, or None where it raises (the caller runs it)."""
    try:
        return _rec_pack(records, named)
    except Exception:
        return None


cdef int _rec_ids(fc_rec *recs, Py_ssize_t n, const char *nm, Py_ssize_t nm_n) except -1:
    """Hash the records' ids; 1 when every id is valid UTF-8 (as `unpack` decodes it)."""
    cdef Py_ssize_t k, j
    cdef bint ascii
    for k in range(n):
        if recs[k].rid == NULL:
            recs[k].h = fc_hash(<const unsigned char *>nm, nm_n)
            continue
        recs[k].h = fc_hash(recs[k].rid, recs[k].rid_n)
        ascii = True
        for j in range(recs[k].rid_n):
            if recs[k].rid[j] >= 0x80:
                ascii = False
                break
        if not ascii:
            try:
                PyUnicode_DecodeUTF8(<const char *>recs[k].rid, recs[k].rid_n, NULL)
            except UnicodeDecodeError:
                return 0
    return 1


def splice_records(bytes old, bytes new, named, window_us):
    """`records.merge(old, <the records packed in new>, ..., named, window_us)`'s bytes without
    decoding: the records of `old` (a set's value as read; b"": none) updated by those of
    `new` (`pack_records` of the records put since, same `named`: an id already there takes
    its place, else it is appended), pruned past the return window. None where the bytes are
    not exactly what `pack` writes, an id repeats, or a bound is passed: the reference decides.
    """
    cdef const unsigned char *po = <const unsigned char *>PyBytes_AS_STRING(old)
    cdef const unsigned char *pn = <const unsigned char *>PyBytes_AS_STRING(new)
    cdef Py_ssize_t n_o = PyBytes_GET_SIZE(old), nn = PyBytes_GET_SIZE(new)
    cdef Py_ssize_t cap = n_o + nn + 2, n_old = 0, n_new, total, k, j, kept
    cdef const char *nm = NULL
    cdef Py_ssize_t nm_n = 0
    cdef int ovf = 0
    cdef int64_t window, newest, prev = 0
    cdef fc_rec *recs
    cdef fc_rec *r
    cdef char *keep
    cdef _wbuf w
    cdef bint found
    window = PyLong_AsLongLongAndOverflow(window_us, &ovf) if type(window_us) is int else 0
    if ovf or type(window_us) is not int:
        return None
    if named is not None:
        if type(named) is not str:
            return None
        try:
            nm = PyUnicode_AsUTF8AndSize(named, &nm_n)
        except UnicodeEncodeError:
            return None
    recs = <fc_rec *>malloc(sizeof(fc_rec) * cap)
    keep = <char *>malloc(cap)
    w.p = NULL
    w.n = 0
    w.cap = 0
    try:
        if recs == NULL or keep == NULL:
            raise MemoryError()
        if n_o:
            n_old = fc_rec_scan(po, n_o, recs, cap, named is not None)
            if n_old < 0 or not _rec_ids(recs, n_old, nm, nm_n):
                return None
            for k in range(n_old):
                for j in range(k):
                    if fc_rid_eq(&recs[j], &recs[k], nm, nm_n):
                        return None
        n_new = fc_rec_scan(pn, nn, &recs[n_old], cap - n_old, named is not None)
        if n_new < 0 or not _rec_ids(&recs[n_old], n_new, nm, nm_n):
            return None
        total = n_old
        for k in range(n_old, n_old + n_new):
            r = &recs[k]
            found = False
            for j in range(total):
                if fc_rid_eq(&recs[j], r, nm, nm_n):
                    if j >= n_old:
                        return None  # an id twice among the new records
                    recs[j].kind = r.kind
                    recs[j].ts = r.ts
                    recs[j].body = r.body
                    recs[j].body_n = r.body_n
                    found = True
                    break
            if not found:
                recs[total] = r[0]
                total += 1
        kept = 0
        if total:
            newest = recs[0].ts
            for k in range(1, total):
                if recs[k].ts > newest:
                    newest = recs[k].ts
            for k in range(total):
                keep[k] = not fc_lt_horizon(recs[k].ts, newest, window)
                kept += keep[k]
        _wb_u(&w, 1)
        _wb_u(&w, <uint64_t>kept)
        for k in range(total):
            if not keep[k]:
                continue
            r = &recs[k]
            if r.rid == NULL or (nm != NULL and r.rid_n == nm_n
                                 and memcmp(r.rid, nm, nm_n) == 0):
                _rec_write(&w, NULL, 0, r.kind, r.ts, &prev)
            else:
                _rec_write(&w, <const char *>r.rid, r.rid_n, r.kind, r.ts, &prev)
            _wb_bytes(&w, <const char *>r.body, r.body_n)
        return (<char *>w.p)[:w.n]
    finally:
        free(recs)
        free(keep)
        free(w.p)


cdef inline uint64_t _rd_u(const unsigned char *p, Py_ssize_t *i) noexcept:
    """A varint of bytes `fc_rec_scan` has checked."""
    cdef uint64_t x = 0
    cdef int shift = 0
    cdef unsigned char c
    while True:
        c = p[i[0]]
        i[0] += 1
        x |= (<uint64_t>(c & 0x7F)) << shift
        if c < 0x80:
            return x
        shift += 7


cdef inline int64_t _rd_s(const unsigned char *p, Py_ssize_t *i) noexcept:
    return _unzz64(_rd_u(p, i))


cdef object _rec_obj(fc_rec *r, object rid, object customer_id):
    """The ReceiptRecord of a scanned record (its body checked by `fc_rec_scan`)."""
    cdef const unsigned char *p = r.body
    cdef Py_ssize_t i = 0
    cdef uint64_t nl, nb, j
    cdef int64_t no = 0, qty, amount, w[5]
    cdef int f, b, mode
    cdef list lines = [], buckets = []
    nl = _rd_u(p, &i)
    for j in range(nl):
        f = p[i]
        i += 1
        no = _rd_s(p, &i) if f & 1 else no + 1
        qty = _rd_s(p, &i)
        amount = _rd_s(p, &i)
        for b in range(1, 5):
            w[b] = _rd_s(p, &i) if f >> b & 1 else 0
        mode = f >> 5
        o = _new_obj(_SLine)
        _set(o, SL_OFF[0], no)
        _set(o, SL_OFF[1], qty)
        _set(o, SL_OFF[2], amount)
        _set(o, SL_OFF[3], w[1])
        _set(o, SL_OFF[4], w[2])
        _set(o, SL_OFF[5], w[3])
        _set(o, SL_OFF[6], fc_spend0(amount, w[1], w[2]) if mode == 0 else 0 if mode == 1
             else _rd_s(p, &i))
        _set(o, SL_OFF[7], w[4])
        lines.append(o)
    nb = _rd_u(p, &i)
    for j in range(nb):
        buckets.append(_rd_s(p, &i))
    return _RRec(rid, customer_id, r.ts, "return" if r.kind else "sale", lines, buckets)


def unpack_records(raw, customer_id, named=None):
    """`records.unpack(raw, customer_id, named)`: the records by receipt id, or None where the
    bytes are not exactly what `pack` writes (the reference then reads them, or refuses)."""
    cdef const unsigned char *p
    cdef Py_ssize_t n, cnt, k
    cdef fc_rec *recs
    cdef dict out = {}
    if type(raw) is not bytes or (named is not None and type(named) is not str):
        return None
    p = <const unsigned char *>PyBytes_AS_STRING(raw)
    n = PyBytes_GET_SIZE(raw)
    recs = <fc_rec *>malloc(sizeof(fc_rec) * (n + 1))
    if recs == NULL:
        raise MemoryError()
    try:
        cnt = fc_rec_scan(p, n, recs, n + 1, named is not None)
        if cnt < 0:
            return None
        for k in range(cnt):
            if recs[k].rid == NULL:
                rid = named
            else:
                try:
                    rid = PyUnicode_DecodeUTF8(<const char *>recs[k].rid, recs[k].rid_n, NULL)
                except UnicodeDecodeError:
                    return None
            out[rid] = _rec_obj(&recs[k], rid, customer_id)
        return out
    finally:
        free(recs)
