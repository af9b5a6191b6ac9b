"""C arithmetic of the compiled engine (`_fc_engine.pxi`), shared as a .pxd.

Products that can pass 2^63 (amount * bps, base * rate * multiplier, total * weight in splits)
use 128-bit integers; the largest-remainder split and the unit sort keep the reference's total
orders; `fc_phash` hashes the line-record table's (sku, category) object addresses.
"""

from libc.stdint cimport int64_t, int32_t, uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    #include <stdlib.h>
    typedef struct { int64_t rem; int32_t idx; } fc_rem;
    typedef struct { int64_t price; int64_t rank; int32_t idx; } fc_unit;
    typedef struct { int32_t kind; int32_t k; int64_t v; } fc_item;

    /* floor(a * b / c) for a, b >= 0, c > 0, exact through 128 bits */
    static inline int64_t fc_md(int64_t a, int64_t b, int64_t c) {
        return (int64_t)(((__int128)a * (__int128)b) / (__int128)c);
    }
    /* floor(a * b * m / c) for non-negative a, b, m; c > 0 */
    static inline int64_t fc_md3(int64_t a, int64_t b, int64_t m, int64_t c) {
        return (int64_t)(((__int128)a * (__int128)b * (__int128)m) / (__int128)c);
    }
    static int fc_rem_cmp(const void *pa, const void *pb) {
        const fc_rem *a = (const fc_rem *)pa, *b = (const fc_rem *)pb;
        if (a->rem != b->rem) return a->rem > b->rem ? -1 : 1;
        return (a->idx > b->idx) - (a->idx < b->idx);
    }
    static int fc_unit_cmp(const void *pa, const void *pb) {
        const fc_unit *a = (const fc_unit *)pa, *b = (const fc_unit *)pb;
        if (a->price != b->price) return a->price > b->price ? -1 : 1;
        if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
        return (a->idx > b->idx) - (a->idx < b->idx);
    }
    /* money.split_largest_remainder: out may not alias w */
    static void fc_split(int64_t total, const int64_t *w, int64_t *out, int n, fc_rem *tmp) {
        __int128 wsum = 0;
        int i;
        for (i = 0; i < n; i++) wsum += w[i];
        if (wsum <= 0 || total <= 0) {
            for (i = 0; i < n; i++) out[i] = 0;
            return;
        }
        int64_t given = 0;
        for (i = 0; i < n; i++) {
            __int128 p = (__int128)total * (__int128)w[i];
            out[i] = (int64_t)(p / wsum);
            tmp[i].rem = (int64_t)(p % wsum);
            tmp[i].idx = i;
            given += out[i];
        }
        int64_t left = total - given;
        if (left > 0) {
            if (left == 1) {
                int best = 0;
                for (i = 1; i < n; i++) if (tmp[i].rem > tmp[best].rem) best = i;
                out[best] += 1;
            } else {
                if (n <= 24) {  /* insertion sort: same total order, no qsort call */
                    int a, b;
                    for (a = 1; a < n; a++) {
                        fc_rem x = tmp[a];
                        for (b = a - 1; b >= 0 && fc_rem_cmp(&x, &tmp[b]) < 0; b--)
                            tmp[b + 1] = tmp[b];
                        tmp[b + 1] = x;
                    }
                } else {
                    qsort(tmp, n, sizeof(fc_rem), fc_rem_cmp);
                }
                for (i = 0; i < left && i < n; i++) out[tmp[i].idx] += 1;
            }
        }
    }
    static void fc_sort_units(fc_unit *u, int n) {
        if (n <= 24) {
            int a, b;
            for (a = 1; a < n; a++) {
                fc_unit x = u[a];
                for (b = a - 1; b >= 0 && fc_unit_cmp(&x, &u[b]) < 0; b--) u[b + 1] = u[b];
                u[b + 1] = x;
            }
        } else {
            qsort(u, n, sizeof(fc_unit), fc_unit_cmp);
        }
    }
    /* line-record table slot: the (sku, category) str objects (strong refs) and the record */
    typedef struct { void *sku; void *cat; int64_t rec; } fc_lslot;
    static inline uint64_t fc_phash(const void *a, const void *b) {
        uint64_t h = ((uint64_t)(uintptr_t)a >> 4) * 0x9E3779B97F4A7C15ULL;
        h ^= ((uint64_t)(uintptr_t)b >> 4) * 0xC2B2AE3D27D4EB4FULL;
        return h ^ (h >> 31);
    }
    """
    ctypedef struct fc_rem:
        int64_t rem
        int32_t idx
    ctypedef struct fc_unit:
        int64_t price
        int64_t rank
        int32_t idx
    ctypedef struct fc_item:
        int32_t kind
        int32_t k
        int64_t v
    int64_t fc_md(int64_t a, int64_t b, int64_t c) nogil
    int64_t fc_md3(int64_t a, int64_t b, int64_t m, int64_t c) nogil
    void fc_split(int64_t total, const int64_t *w, int64_t *out, int n, fc_rem *tmp) nogil
    void fc_sort_units(fc_unit *u, int n) nogil
    ctypedef struct fc_lslot:
        void *sku
        void *cat
        int64_t rec
    uint64_t fc_phash(const void *a, const void *b) nogil
