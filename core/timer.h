/*
 * core/timer.h: a shard's timers, a binary min-heap ordered by deadline and
 * then by arming order, so timers with equal deadlines fire in the order
 * they were armed.
 *
 *   heap[0] = earliest   heap[i] <= heap[2i+1], heap[2i+2]
 *   each sp_timer knows its index (idx1 = index + 1; 0 = not armed), so
 *   cancelling is O(log n) with no search.
 *
 * The timer struct is embedded by its owner and borrowed while armed. A
 * set belongs to one thread. The reactor owns one set per shard
 * (sp_rx_timer_start); this header is usable on its own for tests and the
 * simulator. Deadlines are absolute nanoseconds on the shard's clock
 * (sp_io_now_ns); a timer never fires before its deadline.
 */
#ifndef SP_CORE_TIMER_H
#define SP_CORE_TIMER_H

#include <stdint.h>
#include <stdbool.h>

#include "core/sp.h"

struct sp_timer;
typedef void (*sp_timer_fn)(struct sp_timer *t);

struct sp_timer {
    sp_timer_fn fn;
    uint64_t deadline_ns;
    uint64_t seq;  /* arming order: ties on deadline fire first-armed first */
    uint32_t idx1; /* position in the heap plus one; 0 when not armed */
};

struct sp_timers {
    struct sp_timer **heap;
    uint32_t len;
    uint32_t cap;
    uint64_t seq;
};

#define SP_TIMERS_MAX (1u << 24) /* armed timers per set */

void sp_timers_init(struct sp_timers *ts);
/* Forgets every armed timer (they are the owners' memory) and frees the heap. */
void sp_timers_fini(struct sp_timers *ts);

static inline bool sp_timer_armed(const struct sp_timer *t)
{
    return t->idx1 != 0;
}

/* Arms t (re-arms it if armed) to fire at deadline_ns. 0, or -ENOMEM / -ENOSPC. */
int sp_timers_add(struct sp_timers *ts, struct sp_timer *t, uint64_t deadline_ns, sp_timer_fn fn);
/* Disarms t. Returns whether it was armed. */
bool sp_timers_del(struct sp_timers *ts, struct sp_timer *t);
/* Earliest deadline, or UINT64_MAX when none is armed. */
uint64_t sp_timers_next_ns(const struct sp_timers *ts);
/*
 * Fires, in order, up to `budget` timers whose deadline is <= now_ns. Each
 * is disarmed before its fn runs, so fn may re-arm it. Returns how many fired.
 */
int sp_timers_expire(struct sp_timers *ts, uint64_t now_ns, int budget);

#endif /* SP_CORE_TIMER_H */
