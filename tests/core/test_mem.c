/*
 * tests/core/test_mem.c: budgets, pools and arenas keep their hard limits;
 * a shard driven to its memory limit stops taking work (backpressure) and
 * stays under the cap; random allocation failures are survived; handles
 * recognise things that are gone.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/handle.h"
#include "core/mem.h"
#include "core/rx.h"
#include "core/xq.h"
#include "tests/check.h"

static void test_limits(void)
{
    struct sp_mem_budget b;
    sp_mem_budget_init(&b, 1 << 20);
    struct sp_pool p;
    REQUIRE(sp_pool_init(&p, &b, 100, 1000) == 0);
    static void *objs[2000];
    int got = 0;
    while (got < 2000 && (objs[got] = sp_pool_get(&p)) != NULL) {
        memset(objs[got], 0xab, 100);
        got++;
    }
    CHECK_EQ_INT(got, 1000); /* objs_max */
    CHECK(b.used_bytes <= b.limit_bytes);
    for (int i = 0; i < got; i++) {
        sp_pool_put(&p, objs[i]);
    }
    sp_pool_fini(&p);
    CHECK_EQ_INT(b.used_bytes, 0);

    /* A pool larger than the budget stops at the budget. */
    REQUIRE(sp_pool_init(&p, &b, 4096, 100000) == 0);
    got = 0;
    while (got < 2000 && (objs[got] = sp_pool_get(&p)) != NULL) {
        got++;
    }
    CHECK(got > 200 && got < 256);
    CHECK(b.used_bytes <= b.limit_bytes);
    CHECK(b.failures > 0);
    CHECK(sp_mem_pressure(&b));
    for (int i = 0; i < got; i++) {
        sp_pool_put(&p, objs[i]);
    }
    sp_pool_fini(&p);

    struct sp_mem_arena a;
    sp_mem_arena_init(&a, &b, 100000);
    uint64_t total = 0;
    void *q;
    while ((q = sp_mem_arena_alloc(&a, 1000, 64)) != NULL) {
        CHECK(((uintptr_t)q & 63) == 0);
        total += 1000;
    }
    CHECK_EQ_INT(total, 100000);
    CHECK(sp_mem_arena_alloc(&a, 1, 1) == NULL);
    sp_mem_arena_reset(&a);
    CHECK(sp_mem_arena_alloc(&a, 50000, 8) != NULL);
    sp_mem_arena_fini(&a);
    CHECK_EQ_INT(b.used_bytes, 0);
}

/* With 20% of allocations failing, the users' error paths keep everything consistent. */
static void test_random_failures(void)
{
    sp_mem_fail_set(200, 42);
    struct sp_mem_budget b;
    sp_mem_budget_init(&b, 8 << 20);
    struct sp_pool p;
    REQUIRE(sp_pool_init(&p, &b, 64, 10000) == 0);
    struct sp_mem_arena a;
    sp_mem_arena_init(&a, &b, 1 << 20);
    static void *live[5000];
    int nlive = 0, fails = 0;
    uint64_t r = 7;
    for (int i = 0; i < 200000; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        if ((r & 3) != 0 && nlive < 5000) {
            void *o = sp_pool_get(&p);
            if (o == NULL) {
                fails++;
            } else {
                live[nlive++] = o;
            }
        } else if (nlive > 0) {
            sp_pool_put(&p, live[--nlive]);
        }
        if (sp_mem_arena_alloc(&a, (size_t)(r % 3000), 8) == NULL) {
            sp_mem_arena_reset(&a);
        }
    }
    CHECK(fails > 1000);
    while (nlive > 0) {
        sp_pool_put(&p, live[--nlive]);
    }
    sp_pool_fini(&p);
    sp_mem_arena_fini(&a);
    CHECK_EQ_INT(b.used_bytes, 0);
    sp_mem_fail_set(0, 0);
}

static void test_handles(void)
{
    struct sp_handles t;
    REQUIRE(sp_handles_init(&t, 4) == 0);
    int x, y;
    sp_handle hx = sp_handles_put(&t, &x);
    CHECK(sp_handles_get(&t, hx) == &x);
    CHECK(sp_handles_get(&t, SP_HANDLE_NONE) == NULL);
    CHECK(sp_handles_del(&t, hx));
    CHECK(!sp_handles_del(&t, hx));
    sp_handle hy = sp_handles_put(&t, &y); /* reuses the slot */
    CHECK((uint32_t)hy == (uint32_t)hx);
    CHECK(sp_handles_get(&t, hx) == NULL);
    CHECK(sp_handles_get(&t, hy) == &y);
    for (int i = 0; i < 3; i++) {
        CHECK(sp_handles_put(&t, &x) != SP_HANDLE_NONE);
    }
    CHECK(sp_handles_put(&t, &x) == SP_HANDLE_NONE);
    sp_handles_fini(&t);
}

/* ---- Backpressure on a shard ---------------------------------------------- */

#define WORK      4000
#define ITEM      (64 * 1024)
#define MEM_LIMIT (4u << 20)

struct work {
    struct sp_xq_msg m;
    struct sp_timer t;
    void *buf;
    bool refused;
    int index;
};

static struct work works[WORK];
static int next_work, done_works;
static uint64_t refused, peak, pressure_seen;
static struct sp_task flood_task;

static void work_finish(struct sp_timer *t)
{
    struct work *w = sp_container_of(t, struct work, t);
    sp_mem_free(sp_rx_mem(), w->buf, ITEM);
    w->buf = NULL;
    sp_xq_reply(&w->m);
}

/* On shard 1: take the work only when memory allows; hold it for 1 ms. */
static void work_run(struct sp_xq_msg *m)
{
    struct work *w = sp_container_of(m, struct work, m);
    struct sp_mem_budget *b = sp_rx_mem();
    w->refused = true;
    if (sp_mem_pressure(b)) {
        pressure_seen++;
        return;
    }
    w->buf = sp_mem_alloc(b, ITEM);
    if (w->buf == NULL) {
        return;
    }
    memset(w->buf, 1, ITEM);
    w->refused = false;
    if (b->used_bytes > peak) {
        peak = b->used_bytes;
    }
    sp_xq_hold(m);
    sp_rx_timer_start(&w->t, 1, work_finish);
}

/* On shard 0: a refused piece of work goes back after a pause. */
static void work_resend(struct sp_timer *t)
{
    sp_xq_send(1, &sp_container_of(t, struct work, t)->m);
}

static void work_back(struct sp_xq_msg *m)
{
    struct work *w = sp_container_of(m, struct work, m);
    if (w->refused) {
        refused++;
        sp_rx_timer_start(&w->t, 1, work_resend);
        return;
    }
    if (++done_works == WORK) {
        sp_rx_stop();
    }
}

/* On shard 0: send all the work at once, far more than shard 1 can hold. */
static void flood(struct sp_task *t)
{
    while (next_work < WORK) {
        struct work *w = &works[next_work];
        w->index = next_work++;
        w->m.fn = work_run;
        w->m.reply_fn = work_back;
        sp_xq_send(1, &w->m);
    }
}

static int bp_init(void *ctx)
{
    if (sp_rx_shard_id() == 0) {
        flood_task.fn = flood;
        sp_rx_defer(&flood_task);
    }
    return 0;
}

static void test_backpressure(void)
{
    struct sp_rx_params p = {.shards = 2, .mem_bytes = MEM_LIMIT};
    struct sp_rx_hooks h = {.init = bp_init};
    REQUIRE(sp_rx_start(&p, &h) == 0);
    CHECK_EQ_INT(sp_rx_join(), 0);
    fprintf(stderr, "backpressure: peak %llu of %u bytes, %llu refusals\n",
            (unsigned long long)peak, MEM_LIMIT, (unsigned long long)refused);
    CHECK_EQ_INT(done_works, WORK);
    CHECK(peak <= MEM_LIMIT);
    CHECK(peak >= MEM_LIMIT / 2);
    CHECK(refused > 0 && pressure_seen > 0);
}

int main(void)
{
    test_limits();
    test_random_failures();
    test_handles();
    test_backpressure();
    return CHECK_DONE();
}
