/*
 * core/xq.c: the cross-core rings of core/xq.h.
 *
 * Ring layout: producer and consumer indices on separate cache lines, each
 * side caching the other's index to touch the shared line only when its
 * cache says the ring is full (producer) or empty (consumer).
 */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/io.h"
#include "core/rx.h"
#include "core/xq.h"

#define XQ_MASK    (SP_XQ_RING_SLOTS - 1)
#define CACHE_LINE 64

static_assert((SP_XQ_RING_SLOTS & (SP_XQ_RING_SLOTS - 1)) == 0, "ring slots: a power of two");

enum { XQ_IDLE = 0, XQ_REQUEST, XQ_AT_TARGET, XQ_REPLY };

struct xq_ring {
    /* Producer's line. */
    _Alignas(CACHE_LINE) atomic_uint tail;
    uint32_t tail_local; /* slots written, not yet published */
    uint32_t head_cache;
    struct sp_xq_msg *ovf_head, *ovf_tail;
    bool dirty; /* written or overflowing since the last flush */
    /* Consumer's line. */
    _Alignas(CACHE_LINE) atomic_uint head;
    uint32_t tail_cache;
    _Alignas(CACHE_LINE) struct sp_xq_msg *slots[SP_XQ_RING_SLOTS];
};

struct xq_shard {
    _Alignas(CACHE_LINE) atomic_int sleeping;
    _Alignas(CACHE_LINE) uint64_t outstanding;
    uint32_t ovf_count;  /* rings of this shard (as producer) with an overflow list */
    uint32_t poll_start; /* round-robin start among source rings */
};

static struct {
    uint32_t n;
    struct xq_ring *rings; /* rings[from * n + to] */
    struct xq_shard *shards;
} xq;

static struct xq_ring *ring_of(uint32_t from, uint32_t to)
{
    return &xq.rings[(size_t)from * xq.n + to];
}

int sp_xq_setup(uint32_t shards)
{
    SP_ASSERT(shards > 0 && shards <= UINT16_MAX);
    size_t bytes = sizeof(struct xq_ring) * shards * shards;
    xq.rings = aligned_alloc(CACHE_LINE, SP_ALIGN_UP(bytes, (size_t)CACHE_LINE));
    xq.shards = aligned_alloc(CACHE_LINE, sizeof(struct xq_shard) * shards);
    if (xq.rings == NULL || xq.shards == NULL) {
        free(xq.rings);
        free(xq.shards);
        return -ENOMEM;
    }
    memset(xq.rings, 0, bytes);
    memset(xq.shards, 0, sizeof(struct xq_shard) * shards);
    xq.n = shards;
    return 0;
}

void sp_xq_teardown(void)
{
    free(xq.rings);
    free(xq.shards);
    memset(&xq, 0, sizeof(xq));
}

static uint32_t self(void)
{
    int id = sp_rx_shard_id();
    SP_ASSERT(id >= 0 && (uint32_t)id < xq.n);
    return (uint32_t)id;
}

/* Writes m into the ring if there is room (unpublished until flush). */
static bool ring_put(struct xq_ring *r, struct sp_xq_msg *m)
{
    if (r->tail_local - r->head_cache >= SP_XQ_RING_SLOTS) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (r->tail_local - r->head_cache >= SP_XQ_RING_SLOTS) {
            return false;
        }
    }
    r->slots[r->tail_local & XQ_MASK] = m;
    r->tail_local++;
    return true;
}

/* Sends m (a request or a reply) on the ring from this shard to `to`. */
static void push(uint32_t me, uint32_t to, struct sp_xq_msg *m)
{
    struct xq_ring *r = ring_of(me, to);
    r->dirty = true;
    if (r->ovf_head == NULL && ring_put(r, m)) {
        return;
    }
    m->next = NULL;
    if (r->ovf_head == NULL) {
        r->ovf_head = m;
        xq.shards[me].ovf_count++;
    } else {
        r->ovf_tail->next = m;
    }
    r->ovf_tail = m;
}

void sp_xq_send(uint32_t to, struct sp_xq_msg *m)
{
    uint32_t me = self();
    SP_ASSERT(to < xq.n);
    SP_ASSERT(m->fn != NULL);
    SP_ASSERT(m->state == XQ_IDLE);
    m->from = (uint16_t)me;
    m->to = (uint16_t)to;
    m->state = XQ_REQUEST;
    m->held = 0;
    xq.shards[me].outstanding++;
    push(me, to, m);
}

void sp_xq_hold(struct sp_xq_msg *m)
{
    SP_ASSERT(m->state == XQ_AT_TARGET && m->to == self());
    m->held = 1;
}

void sp_xq_reply(struct sp_xq_msg *m)
{
    uint32_t me = self();
    SP_ASSERT(m->state == XQ_AT_TARGET && m->to == me);
    m->state = XQ_REPLY;
    push(me, m->from, m);
}

uint64_t sp_xq_outstanding(void)
{
    return xq.shards[self()].outstanding;
}

static void run_one(uint32_t me, struct sp_xq_msg *m)
{
    if (m->state == XQ_REQUEST) {
        SP_ASSERT_HOT(m->to == me);
        m->state = XQ_AT_TARGET;
        m->fn(m);
        /* If not held, the message goes straight back; fn may not touch it after. */
        if (!m->held) {
            m->state = XQ_REPLY;
            push(me, m->from, m);
        }
        return;
    }
    SP_ASSERT(m->state == XQ_REPLY && m->from == me);
    m->state = XQ_IDLE;
    SP_ASSERT(xq.shards[me].outstanding > 0);
    xq.shards[me].outstanding--;
    if (m->reply_fn != NULL) {
        m->reply_fn(m);
    }
}

int sp_xq_poll(int budget)
{
    uint32_t me = self();
    struct xq_shard *sh = &xq.shards[me];
    int ran = 0;
    for (uint32_t k = 0; k < xq.n && ran < budget; k++) {
        uint32_t from = (sh->poll_start + k) % xq.n;
        struct xq_ring *r = ring_of(from, me);
        uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        if (head == r->tail_cache) {
            r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        }
        uint32_t end = r->tail_cache;
        /* The slot is read before head moves past it, so the producer cannot reuse it early. */
        while (head != end && ran < budget) {
            struct sp_xq_msg *m = r->slots[head & XQ_MASK];
            head++;
            atomic_store_explicit(&r->head, head, memory_order_release);
            ran++;
            run_one(me, m);
        }
    }
    sh->poll_start = (sh->poll_start + 1) % xq.n;
    return ran;
}

static void wake_if_sleeping(uint32_t to)
{
    atomic_thread_fence(memory_order_seq_cst);
    atomic_int *flag = &xq.shards[to].sleeping;
    if (atomic_load_explicit(flag, memory_order_relaxed) != 0 &&
        atomic_exchange_explicit(flag, 0, memory_order_seq_cst) != 0) {
        sp_io_wake(sp_rx_io(), sp_rx_io_of(to));
    }
}

void sp_xq_flush(void)
{
    uint32_t me = self();
    for (uint32_t to = 0; to < xq.n; to++) {
        struct xq_ring *r = ring_of(me, to);
        if (!r->dirty) {
            continue;
        }
        while (r->ovf_head != NULL && ring_put(r, r->ovf_head)) {
            r->ovf_head = r->ovf_head->next;
        }
        if (r->ovf_head == NULL) {
            r->ovf_tail = NULL;
        }
        uint32_t published = atomic_load_explicit(&r->tail, memory_order_relaxed);
        if (published != r->tail_local) {
            atomic_store_explicit(&r->tail, r->tail_local, memory_order_release);
            if (to != me) {
                wake_if_sleeping(to);
            }
        }
        r->dirty = r->ovf_head != NULL;
    }
    uint32_t ovf = 0;
    for (uint32_t to = 0; to < xq.n; to++) {
        ovf += ring_of(me, to)->ovf_head != NULL;
    }
    xq.shards[me].ovf_count = ovf;
}

bool sp_xq_pending(void)
{
    uint32_t me = self();
    for (uint32_t from = 0; from < xq.n; from++) {
        struct xq_ring *r = ring_of(from, me);
        if (atomic_load_explicit(&r->tail, memory_order_acquire) !=
            atomic_load_explicit(&r->head, memory_order_relaxed)) {
            return true;
        }
    }
    return false;
}

bool sp_xq_prepare_sleep(void)
{
    uint32_t me = self();
    atomic_store_explicit(&xq.shards[me].sleeping, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    if (sp_xq_pending()) {
        atomic_store_explicit(&xq.shards[me].sleeping, 0, memory_order_relaxed);
        return false;
    }
    return true;
}

void sp_xq_sleep_done(void)
{
    atomic_store_explicit(&xq.shards[self()].sleeping, 0, memory_order_relaxed);
}

bool sp_xq_overflowing(void)
{
    return xq.shards[self()].ovf_count > 0;
}
