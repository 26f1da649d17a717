/*
 * tests/core/test_wake.c: a stress test of the sleep/wake handshake of
 * core/xq.h. Two shards play ping-pong with one message at a time, so the
 * receiver is asleep (or about to sleep) every time a message is sent; now
 * and then the receiver holds the reply behind a timer, so both sides also
 * sleep with timeouts. A lost wake-up would stall the game; a watchdog on
 * the main thread fails the test instead of letting it hang.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/rx.h"
#include "core/xq.h"
#include "tests/check.h"

#define ROUNDS 20000

static struct sp_xq_msg ball;
static struct sp_timer hold_timer;
static atomic_long rounds;
static atomic_int done;

static void hold_done(struct sp_timer *t)
{
    sp_xq_reply(&ball);
}

static void on_ball(struct sp_xq_msg *m)
{
    long r = atomic_load(&rounds);
    if (r % 997 == 0) {
        sp_xq_hold(m);
        sp_rx_timer_start(&hold_timer, 1, hold_done);
    }
}

static void on_return(struct sp_xq_msg *m)
{
    if (atomic_fetch_add(&rounds, 1) + 1 >= ROUNDS) {
        atomic_store(&done, 1);
        sp_rx_stop();
        return;
    }
    sp_xq_send(1, m);
}

static struct sp_task serve;

static void serve_fn(struct sp_task *t)
{
    ball.fn = on_ball;
    ball.reply_fn = on_return;
    sp_xq_send(1, &ball);
}

static int init(void *ctx)
{
    if (sp_rx_shard_id() == 0) {
        serve.fn = serve_fn;
        sp_rx_defer(&serve);
    }
    return 0;
}

int main(void)
{
    struct sp_rx_params p = {.shards = 2};
    struct sp_rx_hooks h = {.init = init};
    REQUIRE(sp_rx_start(&p, &h) == 0);
    long last = -1;
    for (int stalled = 0; !atomic_load(&done);) {
        usleep(200000);
        long now = atomic_load(&rounds);
        stalled = now == last ? stalled + 1 : 0;
        last = now;
        if (stalled >= 25) {
            fprintf(stderr, "no progress for 5 s at round %ld: a wake-up was lost\n", now);
            return 1;
        }
    }
    CHECK_EQ_INT(sp_rx_join(), 0);
    CHECK_EQ_INT(atomic_load(&rounds), ROUNDS);
    return CHECK_DONE();
}
