/*
 * storage/cache.c: the shard's batch cache.
 *
 * Recent batches of every log on the shard, copied at append time, so that
 * consumers at the tail never read the disk. One budget per shard; entries
 * leave oldest first, and only from st_cache_evict(), which the shard calls
 * at one point of its loop (sp_storage_tick), so a lookup never races an
 * eviction.
 *
 *   shard list (insertion order):  e1 <-> e2 <-> e3 <-> e4 ...   evict at head
 *   log A's ring:  [e1, e3, ...]   log B's ring: [e2, e4, ...]
 *
 * A log's entries are inserted in offset order, so the shard's oldest entry
 * is always at the front of its log's ring, and a truncation removes from
 * the back of the ring.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/log_impl.h"

/*
 * Cache memory comes from 1 MiB slabs: entries are bump-allocated in the
 * current slab and, since they leave oldest first, a slab empties as a
 * whole and goes back to a small pool. Steady-state caching then touches
 * no fresh pages and calls no allocator per batch.
 */
#define ST_SLAB_BYTES (1u << 20)

struct st_slab {
    uint32_t used;
    uint32_t live;
    uint8_t mem[];
};

struct st_centry {
    struct st_centry *prev, *next;
    struct st_slab *slab; /* NULL: allocated on its own (larger than a slab) */
    struct sp_plog *log;
    int64_t base, last;
    uint32_t len;
    uint8_t data[];
};

static void slab_put(struct sp_storage *st, struct st_slab *slab)
{
    uint32_t cap = (uint32_t)SP_MIN(st->p.cache_bytes_max / ST_SLAB_BYTES + 2, 256u);
    if (st->slab_pool_n == st->slab_pool_cap && st->slab_pool_cap < cap) {
        struct st_slab **p = realloc(st->slab_pool, sizeof(*p) * cap);
        if (p) {
            st->slab_pool = p;
            st->slab_pool_cap = cap;
        }
    }
    if (st->slab_pool_n < st->slab_pool_cap) {
        st->slab_pool[st->slab_pool_n++] = slab;
    } else {
        free(slab);
    }
}

static struct st_centry *entry_alloc(struct sp_storage *st, uint32_t len)
{
    size_t need = SP_ALIGN_UP(sizeof(struct st_centry) + len, (size_t)16);
    if (need > ST_SLAB_BYTES - sizeof(struct st_slab)) {
        struct st_centry *e = malloc(need);
        if (e) {
            e->slab = NULL;
        }
        return e;
    }
    struct st_slab *s = st->slab_cur;
    if (s == NULL || s->used + need > ST_SLAB_BYTES - sizeof(*s)) {
        if (s && s->live == 0) {
            s->used = 0; /* everything in it already left: reuse it in place */
        } else {
            s = st->slab_pool_n > 0 ? st->slab_pool[--st->slab_pool_n] : malloc(ST_SLAB_BYTES);
            if (s == NULL) {
                return NULL;
            }
            s->used = 0;
            s->live = 0;
            st->slab_cur = s;
        }
    }
    struct st_centry *e = (struct st_centry *)(void *)(s->mem + s->used);
    s->used += (uint32_t)need;
    s->live++;
    e->slab = s;
    return e;
}

static void entry_free(struct sp_storage *st, struct st_centry *e)
{
    struct st_slab *s = e->slab;
    if (s == NULL) {
        free(e);
        return;
    }
    if (--s->live == 0 && s != st->slab_cur) {
        slab_put(st, s);
    }
}

void st_cache_release(struct sp_storage *st)
{
    SP_ASSERT(st->c_head == NULL);
    free(st->slab_cur);
    st->slab_cur = NULL;
    while (st->slab_pool_n > 0) {
        free(st->slab_pool[--st->slab_pool_n]);
    }
    free(st->slab_pool);
    st->slab_pool = NULL;
}

static void shard_unlink(struct sp_storage *st, struct st_centry *e)
{
    if (e->prev) {
        e->prev->next = e->next;
    } else {
        st->c_head = e->next;
    }
    if (e->next) {
        e->next->prev = e->prev;
    } else {
        st->c_tail = e->prev;
    }
    st->c_bytes -= sizeof(*e) + e->len;
    entry_free(st, e);
}

static struct st_centry *ring_at(const struct sp_plog *log, uint32_t i)
{
    return log->cring[(log->cring_head + i) % log->cring_cap];
}

void st_cache_insert(struct sp_plog *log, const uint8_t *hdr, uint32_t hdr_len, const uint8_t *rest,
                     uint32_t rest_len, int64_t base, int64_t last)
{
    uint32_t len = hdr_len + rest_len;
    struct sp_storage *st = log->st;
    if (st->p.cache_bytes_max == 0) {
        return;
    }
    if (log->cring_n > 0 && ring_at(log, log->cring_n - 1)->last + 1 != base) {
        st_cache_drop_log(log); /* keep the ring one contiguous run */
    }
    if (log->cring_n == log->cring_cap) {
        uint32_t cap = log->cring_cap ? log->cring_cap * 2 : 16;
        struct st_centry **r = malloc(sizeof(*r) * cap);
        if (r == NULL) {
            return;
        }
        for (uint32_t i = 0; i < log->cring_n; i++) {
            r[i] = ring_at(log, i);
        }
        free(log->cring);
        log->cring = r;
        log->cring_cap = cap;
        log->cring_head = 0;
    }
    struct st_centry *e = entry_alloc(st, len);
    if (e == NULL) {
        return; /* a cache is allowed to forget */
    }
    e->log = log;
    e->base = base;
    e->last = last;
    e->len = len;
    memcpy(e->data, hdr, hdr_len);
    memcpy(e->data + hdr_len, rest, rest_len);
    e->next = NULL;
    e->prev = st->c_tail;
    if (st->c_tail) {
        st->c_tail->next = e;
    } else {
        st->c_head = e;
    }
    st->c_tail = e;
    st->c_bytes += sizeof(*e) + len;
    log->cring[(log->cring_head + log->cring_n) % log->cring_cap] = e;
    log->cring_n++;
}

int st_cache_read(struct sp_plog *log, int64_t offset, uint32_t max_bytes, int64_t limit,
                  uint8_t **buf, uint32_t *len, int64_t *next_offset)
{
    if (log->cring_n == 0 || ring_at(log, 0)->base > offset ||
        ring_at(log, log->cring_n - 1)->last < offset) {
        return 0;
    }
    /* Binary search for the entry holding offset. */
    uint32_t lo = 0, hi = log->cring_n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (ring_at(log, mid)->base <= offset) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    uint64_t total = 0;
    uint32_t end = lo;
    for (uint32_t i = lo; i < log->cring_n; i++) {
        struct st_centry *e = ring_at(log, i);
        if (e->last >= limit || (i > lo && total + e->len > max_bytes)) {
            break;
        }
        total += e->len;
        end = i + 1;
    }
    if (end == lo) {
        return 0; /* the first batch is not below the limit yet */
    }
    uint8_t *out = malloc(total);
    if (out == NULL) {
        return -ENOMEM;
    }
    uint64_t at = 0;
    for (uint32_t i = lo; i < end; i++) {
        struct st_centry *e = ring_at(log, i);
        memcpy(out + at, e->data, e->len);
        at += e->len;
    }
    *buf = out;
    *len = (uint32_t)total;
    *next_offset = ring_at(log, end - 1)->last + 1;
    return 1;
}

void st_cache_truncate(struct sp_plog *log, int64_t offset)
{
    while (log->cring_n > 0) {
        struct st_centry *e = ring_at(log, log->cring_n - 1);
        if (e->last < offset) {
            break;
        }
        log->cring_n--;
        shard_unlink(log->st, e);
    }
}

void st_cache_drop_below(struct sp_plog *log, int64_t offset)
{
    while (log->cring_n > 0) {
        struct st_centry *e = ring_at(log, 0);
        if (e->last >= offset) {
            break;
        }
        log->cring_head = (log->cring_head + 1) % log->cring_cap;
        log->cring_n--;
        shard_unlink(log->st, e);
    }
}

void st_cache_drop_log(struct sp_plog *log)
{
    st_cache_truncate(log, INT64_MIN);
    log->cring_head = 0;
}

void st_cache_evict(struct sp_storage *st)
{
    while (st->c_bytes > st->p.cache_bytes_max && st->c_head) {
        struct st_centry *e = st->c_head;
        struct sp_plog *log = e->log;
        SP_ASSERT(log->cring_n > 0 && ring_at(log, 0) == e);
        log->cring_head = (log->cring_head + 1) % log->cring_cap;
        log->cring_n--;
        shard_unlink(st, e);
    }
}
