/*
 * bench/storage_bench.c: the storage engine against the raw disk, in one run
 * on one filesystem (DESIGN.md section 5, issue 5):
 *
 *   1. append throughput (acks=1) as a ratio to raw sequential O_DIRECT
 *      writes of the same total size and write size, through io_uring;
 *   2. append-to-durable latency with one flush per batch, next to raw
 *      4 KiB write + fdatasync latency;
 *   3. read throughput from the batch cache and cold from disk (O_DIRECT);
 *   4. recovery time of a 1 GiB partition after a kill (no clean marker);
 *   5. memory per idle partition.
 *
 *   storage_bench [dir] [MiB]     dir on the disk to measure (default /var/tmp)
 */
#include <fcntl.h>
#include <inttypes.h>
#include <time.h>

#include "core/log.h"
#include "tests/storage/st_env.h"

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

static void pct(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    printf("%-34s p50 %7.1f us  p99 %7.1f us  p99.9 %7.1f us  max %7.1f us\n", what, v[n / 2] * 1e6,
           v[n * 99 / 100] * 1e6, v[n * 999 / 1000] * 1e6, v[n - 1] * 1e6);
}

struct raw_w {
    struct sp_io_op op;
    int done;
    int res;
};

static void raw_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct raw_w *w = sp_container_of(op, struct raw_w, op);
    (void)flags;
    w->res = res;
    w->done = 1;
}

/* Raw sequential O_DIRECT writes of `chunk` bytes, `qd` in flight. Returns MB/s. */
static double raw_write(struct env *e, uint64_t total, uint32_t chunk, int qd)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/raw.dat", e->root);
    int fd = sp_io_open_sync(e->io, path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
    REQUIRE(fd >= 0);
    uint8_t *buf = st_aligned_alloc(chunk);
    memset(buf, 0x5a, chunk);
    struct raw_w w[64];
    bool busy[64] = {false};
    uint64_t off = 0, done_bytes = 0;
    REQUIRE(qd <= 64);
    double t0 = now_s();
    while (done_bytes < total) {
        for (int i = 0; i < qd; i++) {
            if (busy[i] && w[i].done) {
                REQUIRE(w[i].res == (int)chunk);
                done_bytes += chunk;
                busy[i] = false;
            }
            if (!busy[i] && off < total) {
                w[i] = (struct raw_w){.op = {.done = raw_done}};
                busy[i] = true;
                sp_io_write(e->io, &w[i].op, fd, buf, chunk, off);
                off += chunk;
            }
        }
        if (sp_io_completions_pending(e->io) == 0) {
            sp_io_poll(e->io, 1000000);
        }
        sp_io_run_completions(e->io, 64);
    }
    double dt = now_s() - t0;
    sp_io_close_sync(e->io, fd);
    unlink(path);
    free(buf);
    return (double)total / dt / 1e6;
}

struct b_app {
    struct sp_plog_append a;
    int *counter;
};

static void b_done(struct sp_plog_append *a, int res)
{
    struct b_app *b = sp_container_of(a, struct b_app, a);
    REQUIRE(res == 0);
    (*b->counter)++;
}

/* Appends `total` bytes in batches of ~batch_bytes, acks=1, many in flight. Returns MB/s. */
static double append_tput(struct env *e, struct sp_plog *log, uint64_t total, size_t value_bytes,
                          int records)
{
    size_t len = make_batch(g_buf, records, value_bytes, 1, 1);
    static struct b_app apps[256];
    int done = 0, issued = 0, n = (int)(total / len);
    double t0 = now_s();
    while (done < n) {
        while (issued < n && issued - done < 256) {
            struct b_app *b = &apps[issued % 256];
            b->counter = &done;
            b->a.done = b_done;
            b->a.ack = SP_PLOG_ACK_WRITTEN;
            int r = sp_plog_append(log, &b->a, g_buf, len);
            if (r == -ENOBUFS) {
                break;
            }
            REQUIRE(r == 0);
            issued++;
        }
        env_tick(e);
    }
    double dt = now_s() - t0;
    return (double)n * (double)len / dt / 1e6;
}

static void latency(struct env *e, struct sp_plog *log, int iters)
{
    double *lat = calloc((size_t)iters, sizeof(double));
    size_t len = make_batch(g_buf, 1, 1000, 2, 1);
    for (int i = 0; i < iters; i++) {
        int done = 0;
        struct b_app b = {.counter = &done};
        b.a.done = b_done;
        b.a.ack = SP_PLOG_ACK_DURABLE;
        double t0 = now_s();
        REQUIRE(sp_plog_append(log, &b.a, g_buf, len) == 0);
        while (!done) {
            env_tick(e);
        }
        lat[i] = now_s() - t0;
    }
    pct("append 1 KiB batch, acks=all", lat, iters);
    /* Raw: a 4 KiB O_DIRECT write then fdatasync, one at a time. */
    char path[600];
    snprintf(path, sizeof(path), "%s/rawsync.dat", e->root);
    int fd = sp_io_open_sync(e->io, path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
    REQUIRE(fd >= 0);
    uint8_t *blk = st_aligned_alloc(4096);
    memset(blk, 1, 4096);
    for (int i = 0; i < iters; i++) {
        struct raw_w w = {.op = {.done = raw_done}};
        double t0 = now_s();
        sp_io_write(e->io, &w.op, fd, blk, 4096, (uint64_t)(i / 4) * 4096);
        while (!w.done) {
            env_tick(e);
        }
        w.done = 0;
        sp_io_fsync(e->io, &w.op, fd, true);
        while (!w.done) {
            env_tick(e);
        }
        lat[i] = now_s() - t0;
    }
    pct("raw 4 KiB O_DIRECT write+fdatasync", lat, iters);
    sp_io_close_sync(e->io, fd);
    unlink(path);
    free(blk);
    free(lat);
}

static double read_tput(struct env *e, struct sp_plog *log, int64_t from, int64_t to)
{
    uint64_t bytes = 0;
    double t0 = now_s();
    for (int64_t off = from; off < to;) {
        struct t_read t;
        REQUIRE(read_sync(e, log, &t, off, 1 << 20, SP_PLOG_READ_HW) == 0);
        REQUIRE(t.r.len > 0);
        bytes += t.r.len;
        off = t.r.next_offset;
        sp_plog_read_release(&t.r);
    }
    return (double)bytes / (now_s() - t0) / 1e6;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) {
            res = 0;
        }
        fclose(f);
    }
    return res * 4;
}

int main(int argc, char **argv)
{
    sp_log_set_level(SP_LOG_WARN);
    if (argc > 1) {
        setenv("SPINDLE_TEST_DIR", argv[1], 1);
    }
    uint64_t total = (argc > 2 ? strtoull(argv[2], NULL, 10) : 512) << 20;
    struct env e;
    env_init(&e, "bench", false, 1);
    e.sp.hw_durable = false; /* acks=1 throughput: the written offset is the ack */
    /* A 64 MiB cache reaches its steady state (slabs reused) early in the run. */
    e.sp.cache_bytes_max = 64ull << 20;
    if (getenv("BENCH_NO_FALLOC")) {
        e.sp.fallocate_step_bytes = 0;
    }
    if (getenv("BENCH_INFLIGHT")) {
        e.sp.writes_inflight_max = (uint32_t)atoi(getenv("BENCH_INFLIGHT"));
    }
    if (getenv("BENCH_CACHE_MB")) {
        e.sp.cache_bytes_max = (uint64_t)atoi(getenv("BENCH_CACHE_MB")) << 20;
    }
    env_stop(&e);
    env_start(&e);
    printf("storage bench in %s (%" PRIu64 " MiB per throughput run)\n", e.root, total >> 20);

    /* 1. Throughput. */
    double raw = raw_write(&e, total, e.sp.chunk_bytes, (int)e.sp.writes_inflight_max);
    struct sp_plog_options o;
    env_opts(&o);
    struct sp_plog *log;
    REQUIRE(env_open(&e, "tput-0", &o, &log) == 0);
    double app = append_tput(&e, log, total, 1024, 16);
    struct sp_storage_stats s0;
    sp_storage_stats(e.st, &s0);
    printf("raw O_DIRECT sequential write      %8.1f MB/s (%u KiB writes, %u in flight)\n", raw,
           e.sp.chunk_bytes >> 10, e.sp.writes_inflight_max);
    printf("append, 16 KiB batches, acks=1     %8.1f MB/s  ratio %.2f (%" PRIu64 " writes, %.2f of "
           "the bytes appended)\n",
           app, app / raw, s0.writes, (double)s0.write_bytes / (double)total);
    /* 3. Reads: the tail from the cache, the whole log cold. */
    int64_t end = sp_plog_end_offset(log);
    sp_storage_tick(e.st);
    struct sp_storage_stats ss;
    sp_storage_stats(e.st, &ss);
    int64_t cached_from = end - (int64_t)((ss.cache_bytes / 2) / (16 * 1024 + 200)) * 16;
    cached_from = SP_MAX(cached_from, 0);
    double cached = read_tput(&e, log, cached_from, end);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    env_stop(&e);
    e.sp.cache_bytes_max = 0;
    env_start(&e);
    REQUIRE(env_open(&e, "tput-0", &o, &log) == 0);
    double cold = read_tput(&e, log, 0, end);
    printf("read from the batch cache          %8.1f MB/s\n", cached);
    printf("read cold (O_DIRECT, 1 MiB fetches) %7.1f MB/s\n", cold);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    if (argc > 3 && strcmp(argv[3], "quick") == 0) {
        env_fini(&e);
        return CHECK_DONE();
    }

    /* 2. Latency with a flush per batch. */
    env_stop(&e);
    e.sp.hw_durable = true;
    env_start(&e);
    REQUIRE(env_open(&e, "lat-0", &o, &log) == 0);
    latency(&e, log, 1000);
    CHECK_EQ_INT(sp_plog_close(log), 0);

    /* 4. Recovery of a 1 GiB partition after a kill: one 1 GiB segment, full scan. */
    env_stop(&e);
    e.sp.hw_durable = false;
    env_start(&e);
    o.segment_bytes = (int64_t)1 << 31;
    REQUIRE(env_open(&e, "rec-0", &o, &log) == 0);
    append_tput(&e, log, 1ull << 30, 1024, 16);
    while (!st_log_idle(log)) {
        env_tick(&e);
    }
    int64_t rec_end = sp_plog_end_offset(log);
    sp_plog_abandon(log); /* as kill -9 leaves it: no clean-shutdown marker */
    double t0 = now_s();
    REQUIRE(env_open(&e, "rec-0", &o, &log) == 0);
    double rec = now_s() - t0;
    CHECK_EQ_INT(sp_plog_end_offset(log), rec_end);
    printf("recovery of a 1 GiB partition      %8.2f s (%.0f MB/s scan)\n", rec,
           (double)sp_plog_size_bytes(log) / rec / 1e6);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    t0 = now_s();
    REQUIRE(env_open(&e, "rec-0", &o, &log) == 0);
    printf("clean reopen of the same partition %8.3f s\n", now_s() - t0);
    CHECK_EQ_INT(sp_plog_close(log), 0);

    /* 5. Memory per idle partition. */
    enum { N = 2000 };
    static struct sp_plog *logs[N];
    long rss0 = rss_kib();
    uint64_t own = 0;
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "idle-%d", i);
        REQUIRE(env_open(&e, name, &o, &logs[i]) == 0);
        size_t len = make_batch(g_buf, 1, 100, 3, 1);
        int done = 0;
        struct b_app b = {.counter = &done};
        b.a.done = b_done;
        b.a.ack = SP_PLOG_ACK_WRITTEN;
        REQUIRE(sp_plog_append(logs[i], &b.a, g_buf, len) == 0);
        while (!done) {
            env_tick(&e);
        }
    }
    for (double t1 = now_s(); now_s() - t1 < 1.3;) {
        env_tick(&e);
    }
    sp_storage_stats(e.st, &ss);
    for (int i = 0; i < N; i++) {
        own += sp_plog_memory_bytes(logs[i]);
    }
    printf("idle partition: %" PRIu64 " B own structures, %ld B RSS growth each "
           "(incl. cached batch), write buffers left %" PRIu64 " B\n",
           own / N, (rss_kib() - rss0) * 1024 / N, ss.write_buffer_bytes);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(sp_plog_close(logs[i]), 0);
    }
    env_fini(&e);
    return CHECK_DONE();
}
