/*
 * bench/compact_bench.c: the log cleaner against the real disk (issue 6).
 *
 *   1. cleaner throughput: one pass over a compacted log of MiB mebibytes of
 *      keyed records (100,000 keys, each written many times), in MB
 *      of segments read per second (map and copy) and written, for
 *      uncompressed and lz4 batches;
 *   2. produce latency while the cleaner runs: appends of 1 KiB batches
 *      (acks=1) to the same log every 250 us from the same shard loop, from
 *      sp_plog_append() to their completion, next to the same load with the
 *      cleaner idle; plus the longest single loop turn (a cleaner step).
 *
 *   compact_bench [dir] [MiB]     dir on the disk to measure (default /var/tmp)
 */
#include <inttypes.h>
#include <time.h>

#include "core/log.h"
#include "tests/storage/ct_model.h"

static uint8_t g_buf[1 << 20];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct lat_append {
    struct sp_plog_append a;
    double t0;
    bool busy;
};

static double *g_lat, *g_turn;
static int g_nlat, g_caplat, g_nturn;

static void lat_done(struct sp_plog_append *a, int res)
{
    struct lat_append *l = sp_container_of(a, struct lat_append, a);
    (void)res;
    if (g_nlat < g_caplat) {
        g_lat[g_nlat++] = now_s() - l->t0;
    }
    l->busy = false;
}

static void fill(struct env *e, struct sp_plog *log, uint64_t bytes, enum sp_codec codec)
{
    static struct t_append ts[64];
    int done = 0, sent = 0;
    uint32_t val = 1;
    uint64_t nkeys = bytes / 4 / 200;
    uint64_t rng = 12345;
    while (sp_plog_size_bytes(log) < bytes) {
        int32_t k[32];
        uint32_t v[32];
        bool t[32] = {0};
        for (int i = 0; i < 32; i++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            k[i] = (int32_t)(rng % nkeys % CT_KEYS);
            v[i] = val++;
        }
        size_t len = ct_batch(g_buf, sizeof(g_buf), 32, k, v, t, 1000, codec, 0, -1);
        struct t_append *a = &ts[sent % 64];
        while (sent - done >= 64) {
            env_tick(e);
        }
        *a = (struct t_append){.counter = &done};
        a->a.done = t_append_done;
        a->a.ack = SP_PLOG_ACK_WRITTEN;
        int r;
        while ((r = sp_plog_append(log, &a->a, g_buf, len)) == -ENOBUFS) {
            env_tick(e);
        }
        REQUIRE(r == 0);
        sent++;
    }
    env_run_until(e, &done, sent);
    sp_plog_flush(log);
    for (int i = 0; i < 2000; i++) {
        env_tick(e);
    }
}

/* Runs the loop for `secs` (or while the cleaner works when secs < 0) with appends. */
static void load(struct env *e, struct sp_plog *log, double secs, double *max_turn)
{
    static struct lat_append la[256];
    int32_t k = 1;
    uint32_t v = 1;
    bool t = false;
    size_t len = ct_batch(g_buf, sizeof(g_buf), 1, &k, &v, &t, 1000, SP_CODEC_NONE, 0, -1);
    double start = now_s(), next = start;
    int at = 0;
    *max_turn = 0;
    while (secs < 0 ? sp_plog_compact_busy(log) : now_s() - start < secs) {
        double t0 = now_s();
        if (t0 >= next && !la[at % 256].busy) {
            struct lat_append *l = &la[at % 256];
            l->a.done = lat_done;
            l->a.ack = SP_PLOG_ACK_WRITTEN;
            l->t0 = t0;
            if (sp_plog_append(log, &l->a, g_buf, len) == 0) {
                l->busy = true;
                at++;
            }
            next += 250e-6;
        }
        if (sp_io_completions_pending(e->io) == 0) {
            sp_io_poll(e->io, 100000);
        }
        sp_io_run_completions(e->io, 4096);
        sp_storage_tick(e->st);
        double turn = now_s() - t0;
        *max_turn = turn > *max_turn ? turn : *max_turn;
        if (g_nturn < g_caplat) {
            g_turn[g_nturn++] = turn;
        }
    }
    for (int i = 0; i < 100000 && at > 0 && la[(at - 1) % 256].busy; i++) {
        env_tick(e);
    }
}

static void report_lat(const char *what, double max_turn)
{
    qsort(g_lat, (size_t)g_nlat, sizeof(double), cmp_d);
    if (g_nlat == 0) {
        return;
    }
    printf("%-32s n %6d  p50 %7.1f us  p99 %7.1f us  max %8.1f us\n", what, g_nlat,
           g_lat[g_nlat / 2] * 1e6, g_lat[g_nlat * 99 / 100] * 1e6, g_lat[g_nlat - 1] * 1e6);
    qsort(g_turn, (size_t)g_nturn, sizeof(double), cmp_d);
    printf("%-32s n %6d  p50 %7.1f us  p99 %7.1f us  p99.9 %6.1f us  max %8.1f us\n",
           "  loop turns", g_nturn, g_turn[g_nturn / 2] * 1e6, g_turn[g_nturn * 99 / 100] * 1e6,
           g_turn[g_nturn * 999 / 1000] * 1e6, max_turn * 1e6);
}

static void run(const char *dir, uint64_t mib, enum sp_codec codec)
{
    struct env e;
    memset(&e, 0, sizeof(e));
    sp_storage_params_init(&e.sp, NULL);
    e.sp.cleaner_enable = false;
    e.sp.cache_bytes_max = 64u << 20;
    e.sp.cleaner_dedupe_bytes = 64u << 20;
    if (getenv("BENCH_STEP_KB")) {
        e.sp.cleaner_step_bytes = (uint32_t)strtoul(getenv("BENCH_STEP_KB"), NULL, 10) << 10;
    }
    snprintf(e.root, sizeof(e.root), "%s/spindle-compact-bench-XXXXXX", dir);
    REQUIRE(mkdtemp(e.root) != NULL);
    env_start(&e);
    struct sp_plog_options o;
    env_opts(&o);
    o.compact = true;
    o.segment_bytes = 16 << 20;
    o.delete_retention_ms = 0;
    struct sp_plog *log;
    REQUIRE(env_open(&e, "cb-0", &o, &log) == 0);
    fill(&e, log, mib << 20, codec);
    uint64_t size0 = sp_plog_size_bytes(log);

    /* Produce latency with the cleaner idle, for reference. */
    g_nlat = 0;
    g_nturn = 0;
    double turn;
    load(&e, log, 2.0, &turn);
    printf("\n[%s] log %.1f MiB in %u segments\n", sp_codec_name(codec), size0 / 1048576.0,
           sp_plog_segment_count(log));
    report_lat("append latency, cleaner idle", turn);

    /* A pass with the produce load running. */
    struct sp_storage_stats s0, s1;
    sp_storage_stats(e.st, &s0);
    g_nlat = 0;
    g_nturn = 0;
    double t0 = now_s();
    REQUIRE(sp_plog_compact_start(log, 1000000) == 1);
    load(&e, log, -1, &turn);
    double dt = now_s() - t0;
    sp_storage_stats(e.st, &s1);
    report_lat("append latency, cleaner running", turn);
    double rd = (double)(s1.cleaner_read_bytes - s0.cleaner_read_bytes);
    double wr = (double)(s1.cleaner_written_bytes - s0.cleaner_written_bytes);
    printf("cleaner pass: %.2f s, read %.1f MiB (%.0f MB/s), wrote %.1f MiB (%.0f MB/s), "
           "log %.1f -> %.1f MiB, %" PRIu64 " records removed\n",
           dt, rd / 1048576.0, rd / dt / 1e6, wr / 1048576.0, wr / dt / 1e6, size0 / 1048576.0,
           sp_plog_size_bytes(log) / 1048576.0,
           s1.cleaner_records_removed - s0.cleaner_records_removed);
    printf("longest cleaner step (shard held): %.1f us\n", s1.cleaner_step_max_ns / 1e3);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    env_fini(&e);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/var/tmp";
    uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 256;
    g_caplat = 1 << 20;
    g_lat = malloc(sizeof(double) * (size_t)g_caplat);
    g_turn = malloc(sizeof(double) * (size_t)g_caplat);
    REQUIRE(g_lat != NULL && g_turn != NULL);
    run(dir, mib, SP_CODEC_NONE);
    run(dir, mib, SP_CODEC_LZ4);
    free(g_lat);
    free(g_turn);
    return CHECK_DONE();
}
