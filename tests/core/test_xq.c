/*
 * tests/core/test_xq.c: 1,000,000 cross-core messages among 4 shards (more
 * shards than this machine has CPUs, so unpinned) arrive exactly once and
 * in order per pair, and every one comes back with its reply.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/rx.h"
#include "core/xq.h"
#include "tests/check.h"

#define SHARDS 4
#define TOTAL  1000000
#define PER    (TOTAL / SHARDS)
#define WINDOW 3000 /* in flight per shard: more than a ring, so overflow is used */

struct tmsg {
    struct sp_xq_msg m;
    uint64_t seq; /* per (from, to) pair */
    uint32_t to;
    bool delivered;
};

struct tshard {
    struct tmsg *msgs;
    uint64_t sent, replied;
    uint64_t next_seq[SHARDS];     /* as sender, per target */
    uint64_t expect_reply[SHARDS]; /* as sender, per target */
    uint64_t expect[SHARDS];       /* as target, per source */
    uint64_t received;
    struct sp_task kick;
};

static struct tshard sh[SHARDS];
static atomic_int finished;
static atomic_long errors;

static void on_target(struct sp_xq_msg *m)
{
    struct tmsg *t = sp_container_of(m, struct tmsg, m);
    struct tshard *s = &sh[sp_rx_shard_id()];
    if (t->seq != s->expect[m->from] || t->delivered || t->to != (uint32_t)sp_rx_shard_id()) {
        atomic_fetch_add(&errors, 1);
    }
    s->expect[m->from] = t->seq + 1;
    t->delivered = true;
    s->received++;
}

static void send_one(struct tshard *s, struct tmsg *t);

static void on_reply(struct sp_xq_msg *m)
{
    struct tmsg *t = sp_container_of(m, struct tmsg, m);
    struct tshard *s = &sh[sp_rx_shard_id()];
    if (!t->delivered || t->seq != s->expect_reply[t->to]) {
        atomic_fetch_add(&errors, 1);
    }
    s->expect_reply[t->to] = t->seq + 1;
    s->replied++;
    if (s->sent < PER) {
        send_one(s, t);
    } else if (s->replied == PER) {
        if (atomic_fetch_add(&finished, 1) + 1 == SHARDS) {
            sp_rx_stop();
        }
    }
}

static void send_one(struct tshard *s, struct tmsg *t)
{
    uint32_t me = (uint32_t)sp_rx_shard_id();
    uint32_t to = (uint32_t)((me + 1 + s->sent % (SHARDS - 1)) % SHARDS);
    t->m.fn = on_target;
    t->m.reply_fn = on_reply;
    t->to = to;
    t->seq = s->next_seq[to]++;
    t->delivered = false;
    s->sent++;
    sp_xq_send(to, &t->m);
}

static void kick(struct sp_task *task)
{
    struct tshard *s = sp_container_of(task, struct tshard, kick);
    for (int i = 0; i < WINDOW; i++) {
        send_one(s, &s->msgs[i]);
    }
}

static int init(void *ctx)
{
    struct tshard *s = &sh[sp_rx_shard_id()];
    /* Allocated and freed on this shard. */
    s->msgs = calloc(WINDOW, sizeof(*s->msgs));
    if (s->msgs == NULL) {
        return -1;
    }
    s->kick.fn = kick;
    sp_rx_defer(&s->kick);
    return 0;
}

static void fini(void *ctx)
{
    free(sh[sp_rx_shard_id()].msgs);
}

int main(void)
{
    struct sp_rx_params p = {.shards = SHARDS};
    struct sp_rx_hooks h = {.init = init, .fini = fini};
    REQUIRE(sp_rx_start(&p, &h) == 0);
    CHECK_EQ_INT(sp_rx_join(), 0);
    CHECK_EQ_INT(atomic_load(&errors), 0);
    uint64_t received = 0;
    for (int i = 0; i < SHARDS; i++) {
        CHECK_EQ_INT(sh[i].sent, PER);
        CHECK_EQ_INT(sh[i].replied, PER);
        received += sh[i].received;
        for (int j = 0; j < SHARDS; j++) {
            CHECK_EQ_INT(sh[i].next_seq[j], sh[j].expect[i]);
        }
    }
    CHECK_EQ_INT(received, TOTAL);
    return CHECK_DONE();
}
