/* cluster/forward.c: lending a request to another shard (cluster/forward.h). */
#include <errno.h>
#include <string.h>

#include "cluster/forward.h"
#include "core/mem.h"
#include "core/rx.h"

/* What one forward's pieces of a response may take on the target. */
#define FWD_ARENA_LIMIT (16u << 20)

static void fwd_on_target(struct sp_xq_msg *m)
{
    struct sp_fwd *f = sp_container_of(m, struct sp_fwd, msg);
    sp_arena_init(&f->arena_store, NULL, 0, FWD_ARENA_LIMIT);
    sp_arena_set_budget(&f->arena_store, sp_rx_mem());
    f->arena = &f->arena_store;
    int rc = f->fn(f);
    if (rc == SP_API_PENDING) {
        sp_xq_hold(m);
        return;
    }
    f->rc = rc;
}

void sp_fwd_done(struct sp_fwd *f, int rc)
{
    SP_ASSERT(rc != SP_API_PENDING);
    f->rc = rc;
    sp_xq_reply(&f->msg);
}

static void fwd_back(struct sp_xq_msg *m)
{
    struct sp_fwd *f = sp_container_of(m, struct sp_fwd, msg);
    int rc = f->then != NULL ? f->then(f, f->rc) : f->rc;
    if (rc != SP_API_PENDING) {
        sp_api_done(f->call, rc);
    }
}

static void fwd_release_on_target(struct sp_xq_msg *m)
{
    struct sp_fwd *f = sp_container_of(m, struct sp_fwd, release);
    sp_arena_destroy(&f->arena_store);
}

static void fwd_released(struct sp_xq_msg *m)
{
    struct sp_fwd *f = sp_container_of(m, struct sp_fwd, release);
    sp_mem_free(sp_rx_mem(), f, sizeof(*f));
}

/* The response has been encoded: the target's pieces may go. */
static void fwd_cleanup(struct sp_api_cleanup *c)
{
    struct sp_fwd *f = sp_container_of(c, struct sp_fwd, cleanup);
    f->release.fn = fwd_release_on_target;
    f->release.reply_fn = fwd_released;
    sp_xq_send(f->shard, &f->release);
}

int sp_api_forward(struct sp_api_call *call, uint32_t shard, sp_fwd_fn fn, sp_fwd_then then,
                   void *arg, int32_t index)
{
    SP_ASSERT(shard < sp_rx_shard_count());
    struct sp_fwd *f = sp_mem_alloc(sp_rx_mem(), sizeof(*f));
    if (f == NULL) {
        return -ENOMEM;
    }
    memset(f, 0, sizeof(*f));
    f->call = call;
    f->arg = arg;
    f->index = index;
    f->shard = (uint16_t)shard;
    f->fn = fn;
    f->then = then;
    f->msg.fn = fwd_on_target;
    f->msg.reply_fn = fwd_back;
    f->cleanup.fn = fwd_cleanup;
    sp_api_on_finish(call, &f->cleanup);
    sp_xq_send(shard, &f->msg);
    return SP_API_PENDING;
}

bool sp_fwd_join_send(struct sp_fwd_join *j, struct sp_api_call *call, uint32_t shard, sp_fwd_fn fn,
                      sp_fwd_then then, void *arg, int32_t index)
{
    int rc = sp_api_forward(call, shard, fn, then, arg, index);
    if (rc != SP_API_PENDING) {
        /* The forwards already out end the call, with this failure. */
        j->rc = rc;
        return false;
    }
    j->out++;
    return true;
}

bool sp_fwd_join_back(struct sp_fwd_join *j, int rc)
{
    SP_ASSERT(j->out > 0);
    j->out--;
    if (rc < 0 && j->rc == 0) {
        j->rc = rc;
    }
    return j->out == 0;
}
