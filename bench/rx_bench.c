/*
 * bench/rx_bench.c: reactor micro-benchmarks.
 *
 *   rx_bench xq    cross-core round trip between two shards: latency
 *                  p50/p99 of one message at a time, then messages per
 *                  second with 2048 in flight
 *   rx_bench nop   io_uring no-op loop, batches of 32: operations per second
 *
 * The io_uring feature cap comes from SPINDLE_IO_URING_FEATURES as usual.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/io.h"
#include "core/rx.h"
#include "core/xq.h"

#define RTT_ROUNDS 100000
#define TPUT_NS    2000000000ull
#define WINDOW     2048

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- Round-trip latency ----------------------------------------------- */

static uint64_t *rtt;
static int rtt_n;
static uint64_t rtt_t0;
static struct sp_xq_msg ping;
static struct sp_task start_task;

static void ping_fn(struct sp_xq_msg *m)
{
}

static void ping_back(struct sp_xq_msg *m)
{
    uint64_t t = now_ns();
    rtt[rtt_n++] = t - rtt_t0;
    if (rtt_n == RTT_ROUNDS) {
        sp_rx_stop();
        return;
    }
    rtt_t0 = now_ns();
    sp_xq_send(1, m);
}

static void rtt_start(struct sp_task *t)
{
    ping.fn = ping_fn;
    ping.reply_fn = ping_back;
    rtt_t0 = now_ns();
    sp_xq_send(1, &ping);
}

/* ---- Throughput ----------------------------------------------------------- */

static struct sp_xq_msg *msgs;
static uint64_t tput_done, tput_t0, tput_elapsed;
static bool tput_stopping;

static void tput_back(struct sp_xq_msg *m)
{
    tput_done++;
    if (tput_stopping) {
        return;
    }
    if ((tput_done & 1023) == 0 && now_ns() - tput_t0 >= TPUT_NS) {
        tput_elapsed = now_ns() - tput_t0;
        tput_stopping = true;
        sp_rx_stop();
        return;
    }
    sp_xq_send(1, m);
}

static void tput_start(struct sp_task *t)
{
    tput_t0 = now_ns();
    for (int i = 0; i < WINDOW; i++) {
        msgs[i].fn = ping_fn;
        msgs[i].reply_fn = tput_back;
        sp_xq_send(1, &msgs[i]);
    }
}

static sp_task_fn bench_start_fn;

static int bench_init(void *ctx)
{
    if (sp_rx_shard_id() == 0) {
        start_task.fn = bench_start_fn;
        sp_rx_defer(&start_task);
    }
    return 0;
}

static int bench_xq(void)
{
    struct sp_rx_params p = {.shards = 2};
    struct sp_rx_hooks h = {.init = bench_init};
    bench_start_fn = rtt_start;
    rtt = calloc(RTT_ROUNDS, sizeof(*rtt));
    msgs = calloc(WINDOW, sizeof(*msgs));
    if (rtt == NULL || msgs == NULL || sp_rx_start(&p, &h) != 0) {
        return 1;
    }
    sp_rx_join();
    qsort(rtt, (size_t)rtt_n, sizeof(*rtt), cmp_u64);
    printf("xq round trip, 2 shards, 1 in flight: p50 %.1f us, p99 %.1f us, %d rounds\n",
           (double)rtt[rtt_n / 2] / 1e3, (double)rtt[(size_t)rtt_n * 99 / 100] / 1e3, rtt_n);
    bench_start_fn = tput_start;
    if (sp_rx_start(&p, &h) != 0) {
        return 1;
    }
    sp_rx_join();
    printf("xq throughput, 2 shards, %d in flight: %.2f M round trips/s\n", WINDOW,
           (double)tput_done / ((double)tput_elapsed / 1e9) / 1e6);
    free(rtt);
    free(msgs);
    return 0;
}

/* ---- io_uring no-ops ---------------------------------------------------- */

static uint64_t nops_done;

static void nop_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    nops_done++;
}

static int bench_nop(void)
{
    struct sp_io *io;
    if (sp_io_create_uring(&io, NULL) != 0) {
        return 1;
    }
    char feats[256];
    sp_io_features_str(sp_io_features(io), feats, sizeof(feats));
    static struct sp_io_op ops[32];
    for (int i = 0; i < 32; i++) {
        ops[i].done = nop_done;
    }
    uint64_t t0 = now_ns(), t;
    do {
        for (int i = 0; i < 32; i++) {
            sp_io_nop(io, &ops[i]);
        }
        while (sp_io_inflight(io) > 0) {
            sp_io_poll(io, UINT64_MAX);
            sp_io_run_completions(io, 64);
        }
        t = now_ns();
    } while (t - t0 < TPUT_NS);
    printf("io_uring nop, batches of 32: %.2f M ops/s (features: %s)\n",
           (double)nops_done / ((double)(t - t0) / 1e9) / 1e6, feats);
    sp_io_destroy(io);
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "all";
    int rc = 0;
    if (strcmp(what, "xq") == 0 || strcmp(what, "all") == 0) {
        rc |= bench_xq();
    }
    if (strcmp(what, "nop") == 0 || strcmp(what, "all") == 0) {
        rc |= bench_nop();
    }
    return rc;
}
