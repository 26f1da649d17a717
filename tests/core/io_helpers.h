/*
 * tests/core/io_helpers.h: running single operations to completion in tests.
 */
#ifndef SP_TESTS_CORE_IO_HELPERS_H
#define SP_TESTS_CORE_IO_HELPERS_H

#include <string.h>

#include "core/io.h"

struct waiter {
    struct sp_io_op op;
    int completions;
    int32_t res;
    uint32_t flags;
    int32_t res_first; /* of the first completion */
    uint32_t flags_first;
    bool final;
};

static void waiter_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct waiter *w = sp_container_of(op, struct waiter, op);
    if (w->completions++ == 0) {
        w->res_first = res;
        w->flags_first = flags;
    }
    w->res = res;
    w->flags = flags;
    if (!(flags & SP_IO_F_MORE)) {
        w->final = true;
    }
}

static inline void waiter_init(struct waiter *w)
{
    memset(w, 0, sizeof(*w));
    w->op.done = waiter_done;
}

/* Polls until w has completed `n` times in all, or gives up after many polls. */
static inline bool waiter_wait_n(struct sp_io *io, struct waiter *w, int n)
{
    for (int i = 0; i < 2000 && w->completions < n; i++) {
        sp_io_poll(io, 5000000ull);
        sp_io_run_completions(io, 1 << 20);
    }
    return w->completions >= n;
}

static inline int32_t waiter_run(struct sp_io *io, struct waiter *w)
{
    waiter_wait_n(io, w, 1);
    return w->res;
}

/* Resets w, lets `submit` start it, waits for its first completion, returns res. */
#define RUN(io, w, submit_expr) waiter_run((io), (waiter_init(w), (submit_expr), (w)))

#endif /* SP_TESTS_CORE_IO_HELPERS_H */
