/*
 * cluster/forward.h: running part of a request on the shard that owns
 * what it is about (a consumer group's coordinator, for one).
 *
 * The request stays on the connection's shard; a forward lends it to the
 * target shard and comes back:
 *
 *   connection's shard                          target shard
 *   handler: sp_api_forward(call, B, fn, then)
 *            return SP_API_PENDING   ------->   fn(f): reads f->call->body,
 *                                               fills f->call->resp from
 *                                               f->arena (B's memory);
 *                                               0, or SP_API_PENDING and
 *                                               sp_fwd_done(f, rc) later
 *   then(f, rc), or sp_api_done(call, rc) <---
 *   ... response encoded (copied) ...
 *   release                       ------->      f->arena destroyed
 *
 * While lent, the target may read the request body and write the response
 * struct (the connection's shard does not touch them meanwhile), but must
 * not allocate from call->arena: what the response points to comes from
 * f->arena, which lives on the target until the response has been encoded.
 * A request may forward several times (one group of a batched request
 * after another, or to every shard at once); each forward's arena lives
 * until the end.
 *
 * Threads: sp_api_forward and `then` on the call's shard; fn and
 * sp_fwd_done on the target.
 */
#ifndef SP_CLUSTER_FORWARD_H
#define SP_CLUSTER_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/dispatch_impl.h"
#include "core/xq.h"
#include "protocol/arena.h"

struct sp_fwd;

/* On the target: 0 or -errno (finished, as a handler's return), or SP_API_PENDING. */
typedef int (*sp_fwd_fn)(struct sp_fwd *f);
/*
 * Back on the call's shard with fn's result. Returns as a handler does:
 * SP_API_PENDING when the call goes on (another forward), else the result
 * the call ends with. NULL: the call ends with rc.
 */
typedef int (*sp_fwd_then)(struct sp_fwd *f, int rc);

struct sp_fwd {
    struct sp_api_call *call; /* lent to the target */
    struct sp_arena *arena;   /* on the target: memory for the response's pieces */
    void *arg;                /* the caller's */
    int32_t index;            /* the caller's: which part of the request this is */
    uint16_t shard;           /* the target */
    /* forward.c's. */
    sp_fwd_fn fn;
    sp_fwd_then then;
    int rc;
    struct sp_xq_msg msg;
    struct sp_xq_msg release;
    struct sp_api_cleanup cleanup;
    struct sp_arena arena_store;
};

/*
 * Lends call to `shard` (may be this one) to run fn there. Returns
 * SP_API_PENDING (return it from the handler, or from `then`), or -ENOMEM.
 */
int sp_api_forward(struct sp_api_call *call, uint32_t shard, sp_fwd_fn fn, sp_fwd_then then,
                   void *arg, int32_t index);
/* On the target: ends an fn that returned SP_API_PENDING. */
void sp_fwd_done(struct sp_fwd *f, int rc);

/*
 * A join: several forwards out at once (one per shard, say). Each `then`
 * reports back; the first failure is kept, and the last one back ends the
 * call. All on the call's shard:
 *
 *   for each target: if (!sp_fwd_join_send(&j, call, s, fn, then, arg, i)) break;
 *   return sp_fwd_join_end(&j);            SP_API_PENDING while any is out
 *   then(f, rc): if (!sp_fwd_join_back(&j, rc)) return SP_API_PENDING;
 *                ... the last one: j.rc, or fill the response ...
 */
struct sp_fwd_join {
    uint32_t out; /* forwards not back yet */
    int rc;       /* the first failure (a forward's, or sending one), or 0 */
};

/* sp_api_forward as one of j's. false when it could not be sent (j->rc has why): send no more. */
bool sp_fwd_join_send(struct sp_fwd_join *j, struct sp_api_call *call, uint32_t shard, sp_fwd_fn fn,
                      sp_fwd_then then, void *arg, int32_t index);
/* In `then`: one of j's forwards is back with rc. true when it was the last one out. */
bool sp_fwd_join_back(struct sp_fwd_join *j, int rc);

/* What the handler returns after sending: SP_API_PENDING while any is out, else j->rc. */
static inline int sp_fwd_join_end(const struct sp_fwd_join *j)
{
    return j->out > 0 ? SP_API_PENDING : j->rc;
}

#endif /* SP_CLUSTER_FORWARD_H */
