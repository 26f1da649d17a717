/*
 * tests/core/test_shutdown.c: a stop under load drains cleanly. Four shards
 * keep messages, timers, I/O and deferred tasks going without pause; a
 * stop arrives from a signal handler (then, in a second run, from the main
 * thread). Each shard's stopping hook stops making new work; the reactor
 * must then finish everything in flight, reply every message, and free
 * everything (ASan builds check for leaks).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rx.h"
#include "core/xq.h"
#include "tests/check.h"

#define SHARDS 4
#define MSGS   256

struct lmsg {
    struct sp_xq_msg m;
    void *payload; /* allocated and freed by the sending shard */
};

struct lshard {
    struct lmsg *msgs;
    struct sp_timer tick;
    struct sp_io_op nops[8];
    struct sp_task task;
    bool stopping;
    uint64_t sent, replied, ops;
    unsigned rnd;
};

static struct lshard ls[SHARDS];

static struct lshard *self(void)
{
    return &ls[sp_rx_shard_id()];
}

static void on_msg(struct sp_xq_msg *m)
{
    struct lmsg *l = sp_container_of(m, struct lmsg, m);
    ((char *)l->payload)[0]++;
}

static void send_msg(struct lshard *s, struct lmsg *l)
{
    if (s->stopping) {
        return;
    }
    l->payload = malloc(64);
    REQUIRE(l->payload != NULL);
    memset(l->payload, 0, 64);
    l->m.fn = on_msg;
    s->sent++;
    sp_xq_send((uint32_t)(rand_r(&s->rnd) % SHARDS), &l->m);
}

static void on_reply(struct sp_xq_msg *m)
{
    struct lmsg *l = sp_container_of(m, struct lmsg, m);
    struct lshard *s = self();
    free(l->payload);
    l->payload = NULL;
    s->replied++;
    send_msg(s, l);
}

static void nop_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct lshard *s = self();
    s->ops++;
    if (!s->stopping) {
        sp_io_nop(sp_rx_io(), op);
    }
}

static void task_fn(struct sp_task *t)
{
    struct lshard *s = self();
    if (!s->stopping) {
        sp_rx_defer(t);
    }
}

static void tick_fn(struct sp_timer *t)
{
    if (!self()->stopping) {
        sp_rx_timer_start(t, 1, tick_fn);
    }
}

static int init(void *ctx)
{
    struct lshard *s = self();
    memset(s, 0, sizeof(*s));
    s->rnd = (unsigned)sp_rx_shard_id() + 1;
    s->msgs = calloc(MSGS, sizeof(*s->msgs));
    REQUIRE(s->msgs != NULL);
    for (int i = 0; i < MSGS; i++) {
        s->msgs[i].m.reply_fn = on_reply;
        send_msg(s, &s->msgs[i]);
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(s->nops); i++) {
        s->nops[i].done = nop_done;
        sp_io_nop(sp_rx_io(), &s->nops[i]);
    }
    s->task.fn = task_fn;
    sp_rx_defer(&s->task);
    sp_rx_timer_start(&s->tick, 1, tick_fn);
    return 0;
}

static void stopping(void *ctx)
{
    self()->stopping = true;
    sp_rx_timer_cancel(&self()->tick);
}

static void fini(void *ctx)
{
    struct lshard *s = self();
    CHECK_EQ_INT(sp_xq_outstanding(), 0);
    CHECK_EQ_INT(sp_io_inflight(sp_rx_io()), 0);
    free(s->msgs);
    s->msgs = NULL;
}

static void on_signal(int sig)
{
    sp_rx_stop();
}

static void run(bool by_signal)
{
    struct sp_rx_params p = {.shards = SHARDS, .drain_ms = 20000};
    struct sp_rx_hooks h = {.init = init, .stopping = stopping, .fini = fini};
    REQUIRE(sp_rx_start(&p, &h) == 0);
    usleep(300000);
    if (by_signal) {
        raise(SIGUSR1);
    } else {
        sp_rx_stop();
    }
    CHECK_EQ_INT(sp_rx_join(), 0);
    uint64_t sent = 0, ops = 0;
    for (int i = 0; i < SHARDS; i++) {
        CHECK_EQ_INT(ls[i].sent, ls[i].replied);
        sent += ls[i].sent;
        ops += ls[i].ops;
    }
    fprintf(stderr, "stopped after %llu messages and %llu nops\n", (unsigned long long)sent,
            (unsigned long long)ops);
    CHECK(sent > MSGS * SHARDS && ops > 0);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    run(true);
    run(false);
    return CHECK_DONE();
}
