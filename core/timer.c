/*
 * core/timer.c: the timer heap of core/timer.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/timer.h"

void sp_timers_init(struct sp_timers *ts)
{
    ts->heap = NULL;
    ts->len = 0;
    ts->cap = 0;
    ts->seq = 0;
}

void sp_timers_fini(struct sp_timers *ts)
{
    for (uint32_t i = 0; i < ts->len; i++) {
        ts->heap[i]->idx1 = 0;
    }
    free(ts->heap);
    sp_timers_init(ts);
}

static bool timer_before(const struct sp_timer *a, const struct sp_timer *b)
{
    return a->deadline_ns < b->deadline_ns || (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

static void heap_set(struct sp_timers *ts, uint32_t i, struct sp_timer *t)
{
    ts->heap[i] = t;
    t->idx1 = i + 1;
}

static void sift_up(struct sp_timers *ts, uint32_t i)
{
    struct sp_timer *t = ts->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!timer_before(t, ts->heap[parent])) {
            break;
        }
        heap_set(ts, i, ts->heap[parent]);
        i = parent;
    }
    heap_set(ts, i, t);
}

static void sift_down(struct sp_timers *ts, uint32_t i)
{
    struct sp_timer *t = ts->heap[i];
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = l;
        if (l >= ts->len) {
            break;
        }
        if (r < ts->len && timer_before(ts->heap[r], ts->heap[l])) {
            m = r;
        }
        if (!timer_before(ts->heap[m], t)) {
            break;
        }
        heap_set(ts, i, ts->heap[m]);
        i = m;
    }
    heap_set(ts, i, t);
}

bool sp_timers_del(struct sp_timers *ts, struct sp_timer *t)
{
    if (t->idx1 == 0) {
        return false;
    }
    uint32_t i = t->idx1 - 1;
    SP_ASSERT(i < ts->len && ts->heap[i] == t);
    t->idx1 = 0;
    ts->len--;
    if (i < ts->len) {
        heap_set(ts, i, ts->heap[ts->len]);
        /* The moved timer goes up or down; whichever ends at i is then in place. */
        sift_up(ts, i);
        sift_down(ts, i);
    }
    return true;
}

int sp_timers_add(struct sp_timers *ts, struct sp_timer *t, uint64_t deadline_ns, sp_timer_fn fn)
{
    SP_ASSERT(fn != NULL);
    sp_timers_del(ts, t);
    if (ts->len == ts->cap) {
        if (ts->cap == SP_TIMERS_MAX) {
            return -ENOSPC;
        }
        uint32_t cap = ts->cap ? ts->cap * 2 : 64;
        struct sp_timer **heap = realloc(ts->heap, cap * sizeof(*heap));
        if (heap == NULL) {
            return -ENOMEM;
        }
        ts->heap = heap;
        ts->cap = cap;
    }
    t->fn = fn;
    t->deadline_ns = deadline_ns;
    t->seq = ts->seq++;
    heap_set(ts, ts->len++, t);
    sift_up(ts, ts->len - 1);
    return 0;
}

uint64_t sp_timers_next_ns(const struct sp_timers *ts)
{
    return ts->len > 0 ? ts->heap[0]->deadline_ns : UINT64_MAX;
}

int sp_timers_expire(struct sp_timers *ts, uint64_t now_ns, int budget)
{
    int fired = 0;
    while (fired < budget && ts->len > 0 && ts->heap[0]->deadline_ns <= now_ns) {
        struct sp_timer *t = ts->heap[0];
        sp_timers_del(ts, t);
        fired++;
        t->fn(t);
    }
    return fired;
}
