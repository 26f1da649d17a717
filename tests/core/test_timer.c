/*
 * tests/core/test_timer.c: timers never fire early and fire in deadline
 * order, both on a bare timer set with a fake clock and on a shard.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/rx.h"
#include "core/timer.h"
#include "tests/check.h"

#define NT 2000

static struct sp_timer timers[NT];
static uint64_t fired_deadline[NT];
static int nfired;
static uint64_t fake_now;

static void on_fire(struct sp_timer *t)
{
    CHECK(t->deadline_ns <= fake_now);
    fired_deadline[nfired++] = t->deadline_ns;
}

static void test_heap(void)
{
    struct sp_timers ts;
    sp_timers_init(&ts);
    uint64_t r = 12345;
    int armed = 0;
    for (int i = 0; i < NT; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        REQUIRE(sp_timers_add(&ts, &timers[i], 1000 + (r >> 33) % 100000, on_fire) == 0);
        armed++;
    }
    /* Cancel every third; re-arm every fifth to a new deadline. */
    for (int i = 0; i < NT; i += 3) {
        CHECK(sp_timers_del(&ts, &timers[i]));
        CHECK(!sp_timer_armed(&timers[i]));
        armed--;
    }
    CHECK(!sp_timers_del(&ts, &timers[0]));
    for (int i = 0; i < NT; i += 5) {
        if (!sp_timer_armed(&timers[i])) {
            armed++;
        }
        REQUIRE(sp_timers_add(&ts, &timers[i], 50000, on_fire) == 0);
    }
    for (fake_now = 0; fake_now <= 200000; fake_now += 777) {
        sp_timers_expire(&ts, fake_now, 1 << 30);
    }
    CHECK_EQ_INT(nfired, armed);
    for (int i = 1; i < nfired; i++) {
        CHECK(fired_deadline[i] >= fired_deadline[i - 1]);
    }
    CHECK_EQ_INT(sp_timers_next_ns(&ts), UINT64_MAX);
    sp_timers_fini(&ts);
}

/* ---- On a shard, with the real clock ---------------------------------- */

struct rt_timer {
    struct sp_timer t;
    uint64_t armed_ns;
    uint64_t delay_ms;
    int index;
};

#define NRT 300
static struct rt_timer rts[NRT];
static int rt_order[NRT], rt_fired;
static atomic_int rt_done;

static void rt_fire(struct sp_timer *t)
{
    struct rt_timer *rt = sp_container_of(t, struct rt_timer, t);
    uint64_t now = sp_rx_now_ns();
    CHECK(now >= rt->armed_ns + rt->delay_ms * 1000000ull);
    rt_order[rt_fired++] = rt->index;
    if (rt_fired == NRT) {
        atomic_store(&rt_done, 1);
        sp_rx_stop();
    }
}

static int rt_init(void *ctx)
{
    uint64_t r = 99;
    for (int i = 0; i < NRT; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        rts[i].index = i;
        rts[i].delay_ms = (r >> 33) % 60;
        rts[i].armed_ns = sp_rx_now_ns();
        CHECK_EQ_INT(sp_rx_timer_start(&rts[i].t, rts[i].delay_ms, rt_fire), 0);
    }
    return 0;
}

static void test_reactor_timers(void)
{
    struct sp_rx_params p = {.shards = 1};
    struct sp_rx_hooks h = {.init = rt_init};
    REQUIRE(sp_rx_start(&p, &h) == 0);
    CHECK_EQ_INT(sp_rx_join(), 0);
    CHECK_EQ_INT(rt_fired, NRT);
    for (int i = 1; i < rt_fired; i++) {
        struct rt_timer *a = &rts[rt_order[i - 1]], *b = &rts[rt_order[i]];
        uint64_t da = a->armed_ns + a->delay_ms * 1000000ull;
        uint64_t db = b->armed_ns + b->delay_ms * 1000000ull;
        CHECK(a->t.deadline_ns <= b->t.deadline_ns);
        (void)da;
        (void)db;
    }
}

int main(void)
{
    test_heap();
    test_reactor_timers();
    return CHECK_DONE();
}
