/*
 * tests/storage/test_log.c: the partition log end to end: appends, the
 * three offsets, reads (cache and disk, KIP-74), rolls, reopen after clean
 * and unclean shutdowns, torn tails, index rebuilds, truncation, leader
 * epochs, timestamps, retention record by record, the fd cap and the
 * memory of an idle partition. Runs on the real disk through io_uring, or
 * on the simulator with the argument "sim".
 */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "core/log.h"
#include "tests/storage/st_env.h"

static bool g_sim;
static uint8_t g_buf[1 << 21];

/* Appends n batches (records each, tags from tag0) and waits for their acks. */
static void append_n(struct env *e, struct sp_plog *log, int n, int records, size_t vbytes,
                     uint64_t tag0, int64_t ts0, enum sp_plog_ack ack)
{
    static struct t_append ts[4096];
    int done = 0, want = 0;
    REQUIRE(n <= 4096);
    for (int i = 0; i < n; i++) {
        size_t len = make_batch(g_buf, records, vbytes, tag0 + (uint64_t)i, ts0 + i * 10);
        ts[i] = (struct t_append){.counter = &done};
        ts[i].a.done = t_append_done;
        ts[i].a.ack = ack;
        int r;
        while ((r = sp_plog_append(log, &ts[i].a, g_buf, len)) == -ENOBUFS) {
            env_tick(e);
        }
        CHECK_EQ_INT(r, 0);
        if (ack != SP_PLOG_ACK_NONE) {
            want++;
        }
    }
    CHECK(env_run_until(e, &done, want));
    for (int i = 0; i < n && ack != SP_PLOG_ACK_NONE; i++) {
        CHECK_EQ_INT(ts[i].res, 0);
    }
}

struct expect {
    int64_t next;
    uint64_t tag_next;
    int count;
    bool bad;
};

static void expect_cb(void *ctx, const struct sp_seg_batch *b, const uint8_t *p)
{
    struct expect *x = ctx;
    if (b->base_offset != x->next || batch_tag(p) != x->tag_next) {
        fprintf(stderr,
                "batch at %" PRId64 " tag %" PRIu64 ", wanted %" PRId64 " tag %" PRIu64 "\n",
                b->base_offset, batch_tag(p), x->next, x->tag_next);
        x->bad = true;
    }
    x->next = b->last_offset + 1;
    x->tag_next++;
    x->count++;
}

/* Reads the whole log from `from` and checks offsets and tags are contiguous. */
static int read_all(struct env *e, struct sp_plog *log, int64_t from, uint64_t tag_from,
                    uint32_t budget)
{
    struct expect x = {from, tag_from, 0, false};
    int64_t off = from;
    while (off < sp_plog_high_watermark(log)) {
        struct t_read t;
        int r = read_sync(e, log, &t, off, budget, SP_PLOG_READ_HW);
        CHECK_EQ_INT(r, 0);
        if (r < 0) {
            fprintf(stderr,
                    "read at %" PRId64 ": start %" PRId64 " end %" PRId64 " hw %" PRId64 "\n", off,
                    sp_plog_start_offset(log), sp_plog_end_offset(log),
                    sp_plog_high_watermark(log));
        }
        if (r < 0 || t.r.len == 0) {
            CHECK(t.r.len > 0);
            break;
        }
        CHECK(walk_batches(t.r.data, t.r.len, expect_cb, &x) > 0);
        off = t.r.next_offset;
        sp_plog_read_release(&t.r);
    }
    CHECK(!x.bad);
    return x.count;
}

static void test_basic(void)
{
    struct env e;
    env_init(&e, "basic", g_sim, 1);
    struct sp_plog_options o;
    env_opts(&o);
    struct sp_plog *log;
    REQUIRE(env_open(&e, "t-0", &o, &log) == 0);
    CHECK_EQ_INT(sp_plog_end_offset(log), 0);
    append_n(&e, log, 100, 3, 100, 1000, 1000, SP_PLOG_ACK_DURABLE);
    CHECK_EQ_INT(sp_plog_end_offset(log), 300);
    CHECK_EQ_INT(sp_plog_written_offset(log), 300);
    CHECK_EQ_INT(sp_plog_durable_offset(log), 300);
    CHECK_EQ_INT(sp_plog_high_watermark(log), 300);
    CHECK_EQ_INT(read_all(&e, log, 0, 1000, 4096), 100);
    /* An offset inside a batch returns that whole batch. */
    struct t_read t;
    CHECK_EQ_INT(read_sync(&e, log, &t, 31, 1, SP_PLOG_READ_HW), 0);
    struct expect x = {30, 1010, 0, false};
    CHECK_EQ_INT(walk_batches(t.r.data, t.r.len, expect_cb, &x), 1); /* KIP-74: one batch */
    CHECK(!x.bad);
    sp_plog_read_release(&t.r);
    CHECK_EQ_INT(read_sync(&e, log, &t, 300, 1000, SP_PLOG_READ_HW), 0);
    CHECK_EQ_INT(t.r.len, 0);
    CHECK_EQ_INT(read_sync(&e, log, &t, 301, 1000, SP_PLOG_READ_HW), -ERANGE);
    CHECK_EQ_INT(read_sync(&e, log, &t, -1, 1000, SP_PLOG_READ_HW), -ERANGE);
    /* Replication appends: offsets must continue the log. */
    size_t len = make_batch(g_buf, 2, 10, 7, 5000);
    struct t_append ta = {0};
    int done = 0;
    ta.counter = &done;
    ta.a.done = t_append_done;
    ta.a.ack = SP_PLOG_ACK_WRITTEN;
    CHECK_EQ_INT(sp_plog_append_replica(log, &ta.a, g_buf, len), -EINVAL);
    sp_batch_set_base_offset(g_buf, 300);
    CHECK_EQ_INT(sp_plog_append_replica(log, &ta.a, g_buf, len), 0);
    CHECK(env_run_until(&e, &done, 1));
    CHECK_EQ_INT(sp_plog_end_offset(log), 302);
    g_buf[len - 1] ^= 1;
    sp_batch_set_base_offset(g_buf, 302);
    CHECK_EQ_INT(sp_plog_append_replica(log, &ta.a, g_buf, len), -EBADMSG);
    CHECK_EQ_INT(sp_plog_append(log, &ta.a, g_buf, 30), -EBADMSG);
    struct sp_storage_stats ss;
    sp_storage_stats(e.st, &ss);
    CHECK(ss.cache_hits > 0);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    env_fini(&e);
}

/* Large batches, many segments, reopen clean and unclean, cold reads. */
static void test_roll_reopen(void)
{
    struct env e;
    env_init(&e, "roll", g_sim, 2);
    e.sp.cache_bytes_max = 0; /* every read goes to disk */
    env_stop(&e);
    env_start(&e);
    struct sp_plog_options o;
    env_opts(&o);
    o.segment_bytes = 256 << 10;
    o.index_interval_bytes = 8192;
    struct sp_plog *log;
    REQUIRE(env_open(&e, "t-1", &o, &log) == 0);
    append_n(&e, log, 300, 4, 1000, 1, 1000, SP_PLOG_ACK_WRITTEN);
    append_n(&e, log, 1, 8, 60000, 301, 9000, SP_PLOG_ACK_DURABLE); /* ~480 KiB, one batch */
    append_n(&e, log, 50, 1, 10, 302, 9100, SP_PLOG_ACK_DURABLE);
    CHECK(sp_plog_segment_count(log) > 4);
    CHECK_EQ_INT(sp_plog_end_offset(log), 1258);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 64 << 10), 351);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 1), 351);
    /* KIP-74 from disk: the big batch with a tiny budget. */
    struct t_read t;
    CHECK_EQ_INT(read_sync(&e, log, &t, 1200, 100, SP_PLOG_READ_HW), 0);
    CHECK(t.r.len > 400000);
    sp_plog_read_release(&t.r);
    uint32_t nsegs = sp_plog_segment_count(log);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    /* Clean reopen. */
    REQUIRE(env_open(&e, "t-1", &o, &log) == 0);
    CHECK_EQ_INT(sp_plog_end_offset(log), 1258);
    CHECK_EQ_INT(sp_plog_segment_count(log), nsegs);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 100000), 351);
    append_n(&e, log, 10, 1, 10, 352, 9500, SP_PLOG_ACK_DURABLE);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 100000), 361);
    /* Unclean: drop the log as a crash would (everything was acked durable). */
    while (!st_log_idle(log)) {
        env_tick(&e);
    }
    sp_plog_abandon(log);
    REQUIRE(env_open(&e, "t-1", &o, &log) == 0);
    CHECK_EQ_INT(sp_plog_end_offset(log), 1268);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 100000), 361);
    append_n(&e, log, 5, 1, 10, 362, 9600, SP_PLOG_ACK_DURABLE);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 100000), 366);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    env_fini(&e);
}

/* Torn tails and bad indexes, made by hand on the real disk. */
static void test_torn_tail(void)
{
    if (g_sim) {
        return;
    }
    struct env e;
    env_init(&e, "torn", false, 3);
    struct sp_plog_options o;
    env_opts(&o);
    o.segment_bytes = 64 << 10;
    struct sp_plog *log;
    REQUIRE(env_open(&e, "t-2", &o, &log) == 0);
    append_n(&e, log, 40, 2, 1000, 1, 1000, SP_PLOG_ACK_DURABLE);
    int64_t end = sp_plog_end_offset(log);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    /* Garbage and zeros after the last batch, a torn copy of a batch, a bad index. */
    char path[600];
    snprintf(path, sizeof(path), "%s/t-2/%020d.index", e.root, 0);
    int fd = open(path, O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0);
    CHECK(write(fd, "\x00\x00\x00\x05\x00\x00\x00\x01\x00\x00\x00\x03\x00\x00\x00\x00", 16) == 16);
    close(fd);
    char last[600];
    snprintf(path, sizeof(path), "%s/t-2", e.root);
    snprintf(last, sizeof(last), "ls %s/t-2/*.log | tail -1 > %s/last", e.root, e.root);
    CHECK(system(last) == 0);
    snprintf(path, sizeof(path), "%s/last", e.root);
    FILE *f = fopen(path, "r");
    REQUIRE(f && fgets(last, sizeof(last), f));
    fclose(f);
    last[strcspn(last, "\n")] = 0;
    fd = open(last, O_WRONLY | O_APPEND);
    REQUIRE(fd >= 0);
    size_t len = make_batch(g_buf, 2, 1000, 99, 1);
    CHECK(write(fd, g_buf, len / 2) == (ssize_t)(len / 2));
    static uint8_t zeros[10000];
    CHECK(write(fd, zeros, sizeof(zeros)) == (ssize_t)sizeof(zeros));
    close(fd);
    snprintf(path, sizeof(path), "%s/t-2/.clean-shutdown", e.root);
    unlink(path);
    REQUIRE(env_open(&e, "t-2", &o, &log) == 0);
    CHECK_EQ_INT(sp_plog_end_offset(log), end);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 3000), 40);
    append_n(&e, log, 3, 2, 1000, 41, 1000, SP_PLOG_ACK_DURABLE);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 3000), 43);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    env_fini(&e);
}

static void test_truncate_epochs(void)
{
    struct env e;
    env_init(&e, "trunc", g_sim, 4);
    struct sp_plog_options o;
    env_opts(&o);
    o.segment_bytes = 16 << 10;
    struct sp_plog *log;
    REQUIRE(env_open(&e, "t-3", &o, &log) == 0);
    sp_plog_set_leader_epoch(log, 1);
    append_n(&e, log, 50, 2, 200, 1, 1000, SP_PLOG_ACK_DURABLE); /* 0..99 epoch 1 */
    sp_plog_set_leader_epoch(log, 3);
    append_n(&e, log, 50, 2, 200, 51, 1000, SP_PLOG_ACK_DURABLE); /* 100..199 epoch 3 */
    int32_t ep;
    int64_t endo;
    CHECK_EQ_INT(sp_plog_epoch_end_offset(log, 1, &ep, &endo), 0);
    CHECK_EQ_INT(ep, 1);
    CHECK_EQ_INT(endo, 100);
    CHECK_EQ_INT(sp_plog_epoch_end_offset(log, 2, &ep, &endo), 0);
    CHECK_EQ_INT(ep, 1);
    CHECK_EQ_INT(endo, 100);
    CHECK_EQ_INT(sp_plog_epoch_end_offset(log, 5, &ep, &endo), 0);
    CHECK_EQ_INT(ep, 3);
    CHECK_EQ_INT(endo, 200);
    CHECK_EQ_INT(sp_plog_epoch_end_offset(log, 0, &ep, &endo), -ENOENT);
    /* Batches carry the epoch. */
    struct t_read t;
    CHECK_EQ_INT(read_sync(&e, log, &t, 150, 1, SP_PLOG_READ_HW), 0);
    CHECK_EQ_INT((int32_t)sp_be32_get(t.r.data + 12), 3);
    sp_plog_read_release(&t.r);
    /* Truncate into the middle of a batch: the whole batch goes. */
    CHECK_EQ_INT(sp_plog_truncate(log, 121), 0);
    CHECK_EQ_INT(sp_plog_end_offset(log), 120);
    CHECK_EQ_INT(sp_plog_high_watermark(log), 120);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 5000), 60);
    CHECK_EQ_INT(sp_plog_truncate(log, 90), 0);
    CHECK_EQ_INT(sp_plog_end_offset(log), 90);
    CHECK_EQ_INT(sp_plog_epoch_end_offset(log, 3, &ep, &endo), 0);
    CHECK_EQ_INT(ep, 1);
    CHECK_EQ_INT(endo, 90);
    sp_plog_set_leader_epoch(log, 4);
    append_n(&e, log, 5, 2, 200, 46, 1000, SP_PLOG_ACK_DURABLE);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 5000), 50);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    REQUIRE(env_open(&e, "t-3", &o, &log) == 0);
    CHECK_EQ_INT(sp_plog_end_offset(log), 100);
    CHECK_EQ_INT(sp_plog_epoch_end_offset(log, 3, &ep, &endo), 0);
    CHECK_EQ_INT(ep, 1);
    CHECK_EQ_INT(endo, 90);
    CHECK_EQ_INT(sp_plog_epoch_end_offset(log, 4, &ep, &endo), 0);
    CHECK_EQ_INT(endo, 100);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 5000), 50);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    env_fini(&e);
}

static void test_time_retention(void)
{
    struct env e;
    env_init(&e, "ret", g_sim, 5);
    struct sp_plog_options o;
    env_opts(&o);
    o.segment_bytes = 8 << 10;
    o.retention_ms = 100000;
    struct sp_plog *log;
    REQUIRE(env_open(&e, "t-4", &o, &log) == 0);
    /* Batch i has timestamps 1000000 + i*10 ... */
    append_n(&e, log, 200, 1, 300, 1, 1000000, SP_PLOG_ACK_DURABLE);
    struct t_read t;
    CHECK_EQ_INT(time_sync(&e, log, &t, 1000000), 0);
    CHECK_EQ_INT(t.r.next_offset, 0);
    CHECK_EQ_INT(time_sync(&e, log, &t, 1000505), 0);
    CHECK_EQ_INT(t.r.next_offset, 51);
    CHECK_EQ_INT(time_sync(&e, log, &t, 1001990), 0);
    CHECK_EQ_INT(t.r.next_offset, 199);
    CHECK_EQ_INT(time_sync(&e, log, &t, 1002000), 0);
    CHECK_EQ_INT(t.r.next_offset, -1);
    CHECK_EQ_INT(time_sync(&e, log, &t, -2), 0);
    CHECK_EQ_INT(t.r.next_offset, 0);
    CHECK_EQ_INT(time_sync(&e, log, &t, -1), 0);
    CHECK_EQ_INT(t.r.next_offset, 200);
    uint32_t segs = sp_plog_segment_count(log);
    CHECK(segs > 5);
    /* Time: at now = 1001000 + 100000 everything with max ts < 1001000 goes. */
    while (sp_plog_retention_run(log, 1101000) > 0) {
        while (!st_log_idle(log)) {
            env_tick(&e);
        }
    }
    int64_t start = sp_plog_start_offset(log);
    CHECK(start > 0 && start <= 100);
    CHECK(sp_plog_segment_count(log) < segs);
    /* Record by record: everything from the start is there, nothing below. */
    CHECK_EQ_INT(read_all(&e, log, start, 1 + (uint64_t)start, 1000), 200 - start);
    CHECK_EQ_INT(read_sync(&e, log, &t, start - 1, 1000, SP_PLOG_READ_HW), -ERANGE);
    /* Size: keep at most ~20 KiB. */
    struct sp_plog_options live = o;
    live.retention_ms = -1;
    live.retention_bytes = 20 << 10;
    sp_plog_set_options(log, &live);
    while (sp_plog_retention_run(log, 0) > 0) {
        while (!st_log_idle(log)) {
            env_tick(&e);
        }
    }
    CHECK(sp_plog_size_bytes(log) >= 20 << 10);
    CHECK(sp_plog_size_bytes(log) < (20 << 10) + (8 << 10) + 4096);
    start = sp_plog_start_offset(log);
    CHECK_EQ_INT(read_all(&e, log, start, 1 + (uint64_t)start, 1000), 200 - start);
    /* DeleteRecords moves the start inside a segment; whole segments below go. */
    CHECK_EQ_INT(sp_plog_delete_records(log, 250), -ERANGE);
    CHECK_EQ_INT(sp_plog_delete_records(log, 190), 0);
    CHECK_EQ_INT(sp_plog_start_offset(log), 190);
    CHECK_EQ_INT(read_sync(&e, log, &t, 189, 1000, SP_PLOG_READ_HW), -ERANGE);
    live.retention_bytes = -1;
    sp_plog_set_options(log, &live);
    while (sp_plog_retention_run(log, 0) > 0) {
        while (!st_log_idle(log)) {
            env_tick(&e);
        }
    }
    CHECK_EQ_INT(read_all(&e, log, 190, 191, 1000), 10);
    while (!st_log_idle(log)) {
        env_tick(&e);
    }
    CHECK_EQ_INT(sp_plog_close(log), 0);
    o.retention_ms = -1;
    REQUIRE(env_open(&e, "t-4", &o, &log) == 0);
    CHECK_EQ_INT(sp_plog_start_offset(log), 190);
    CHECK_EQ_INT(sp_plog_end_offset(log), 200);
    CHECK_EQ_INT(read_all(&e, log, 190, 191, 1000), 10);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    env_fini(&e);
}

/* Many segments, at most 3 open fds, a tiny cache: every read still works. */
static void test_fd_cap_cache(void)
{
    struct env e;
    env_init(&e, "fds", g_sim, 6);
    e.sp.open_files_max = 3;
    e.sp.cache_bytes_max = 32 << 10;
    env_stop(&e);
    env_start(&e);
    struct sp_plog_options o;
    env_opts(&o);
    o.segment_bytes = 8 << 10;
    struct sp_plog *log;
    REQUIRE(env_open(&e, "t-5", &o, &log) == 0);
    append_n(&e, log, 300, 1, 500, 1, 1, SP_PLOG_ACK_DURABLE);
    env_tick(&e);
    struct sp_storage_stats ss;
    sp_storage_stats(e.st, &ss);
    CHECK(ss.cache_bytes <= 32 << 10);
    CHECK(ss.open_files <= 3);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 2000), 300);
    sp_storage_stats(e.st, &ss);
    CHECK(ss.open_files <= 3);
    CHECK(ss.disk_reads > 0);
    /* The tail is in the cache. */
    uint64_t reads = ss.disk_reads;
    struct t_read t;
    CHECK_EQ_INT(read_sync(&e, log, &t, 299, 2000, SP_PLOG_READ_HW), 0);
    CHECK_EQ_INT(t.r.len > 0, 1);
    sp_plog_read_release(&t.r);
    sp_storage_stats(e.st, &ss);
    CHECK_EQ_INT(ss.disk_reads, reads);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    REQUIRE(env_open(&e, "t-5", &o, &log) == 0);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 2000), 300);
    sp_storage_stats(e.st, &ss);
    CHECK(ss.open_files <= 3);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    env_fini(&e);
}

/* hw follows written without hw_durable; flush.messages triggers flushes. */
static void test_offsets_policy(void)
{
    struct env e;
    env_init(&e, "hw", g_sim, 7);
    e.sp.hw_durable = false;
    e.sp.flush_interval_messages = 10;
    env_stop(&e);
    env_start(&e);
    struct sp_plog_options o;
    env_opts(&o);
    struct sp_plog *log;
    REQUIRE(env_open(&e, "t-6", &o, &log) == 0);
    append_n(&e, log, 5, 1, 10, 1, 1, SP_PLOG_ACK_WRITTEN);
    CHECK_EQ_INT(sp_plog_high_watermark(log), 5);
    CHECK_EQ_INT(sp_plog_written_offset(log), 5);
    CHECK_EQ_INT(sp_plog_durable_offset(log), 0);
    append_n(&e, log, 6, 1, 10, 6, 1, SP_PLOG_ACK_WRITTEN);
    for (int i = 0; i < 100; i++) {
        env_tick(&e);
    }
    CHECK(sp_plog_durable_offset(log) >= 10);
    append_n(&e, log, 1, 1, 10, 12, 1, SP_PLOG_ACK_DURABLE);
    CHECK_EQ_INT(sp_plog_durable_offset(log), 12);
    /* acks=0: no callback, offsets still assigned. */
    append_n(&e, log, 3, 1, 10, 13, 1, SP_PLOG_ACK_NONE);
    for (int i = 0; i < 100 && sp_plog_written_offset(log) < 15; i++) {
        env_tick(&e);
    }
    CHECK_EQ_INT(sp_plog_written_offset(log), 15);
    CHECK_EQ_INT(read_all(&e, log, 0, 1, 100), 15);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    env_fini(&e);
}

/* The memory of idle partitions (printed for bench/RESULTS.md). */
static void test_idle_memory(void)
{
    struct env e;
    env_init(&e, "mem", g_sim, 8);
    struct sp_plog_options o;
    env_opts(&o);
    enum { N = 200 };
    static struct sp_plog *logs[N];
    uint64_t total = 0;
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "m-%d", i);
        REQUIRE(env_open(&e, name, &o, &logs[i]) == 0);
        append_n(&e, logs[i], 2, 1, 100, 1, 1, SP_PLOG_ACK_DURABLE);
    }
    /* Idle: the write buffers go back after a second without writes. */
    for (int i = 0; i < 3000; i++) {
        env_tick(&e);
        struct sp_storage_stats ss;
        sp_storage_stats(e.st, &ss);
        if (ss.write_buffer_bytes == 0) {
            break;
        }
        if (!g_sim) {
            usleep(1000);
        }
    }
    struct sp_storage_stats ss;
    sp_storage_stats(e.st, &ss);
    CHECK_EQ_INT(ss.write_buffer_bytes, 0);
    for (int i = 0; i < N; i++) {
        total += sp_plog_memory_bytes(logs[i]);
    }
    printf("memory per idle partition: %" PRIu64 " bytes (plus the fd of its active segment)\n",
           total / N);
    CHECK(total / N < 16384);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(sp_plog_close(logs[i]), 0);
    }
    env_fini(&e);
}

struct t_op {
    struct sp_io_op op;
    int done, res;
};

static void t_op_done(struct sp_io_op *op, int32_t res, uint32_t flags)
{
    struct t_op *t = sp_container_of(op, struct t_op, op);
    (void)flags;
    t->res = res;
    t->done = 1;
}

/* Disk full, I/O errors and a CRC mismatch read back, on the simulator. */
static void test_errors(void)
{
    if (!g_sim) {
        return;
    }
    struct env e;
    env_init(&e, "err", true, 9);
    e.sp.cache_bytes_max = 0;
    env_stop(&e);
    env_start(&e);
    struct sp_plog_options o;
    env_opts(&o);
    o.segment_bytes = 64 << 10;
    struct sp_plog *a, *b;
    REQUIRE(env_open(&e, "a-0", &o, &a) == 0);
    REQUIRE(env_open(&e, "b-0", &o, &b) == 0);
    append_n(&e, a, 20, 1, 500, 1, 1, SP_PLOG_ACK_DURABLE);
    append_n(&e, b, 20, 1, 500, 1, 1, SP_PLOG_ACK_DURABLE);
    /* A failing fdatasync takes only `a` offline; its waiter hears -EIO. */
    sp_sim_fail_next(e.io, SP_IO_OP_FSYNC, EIO, 1);
    size_t len = make_batch(g_buf, 1, 500, 21, 1);
    struct t_append ta = {0};
    int done = 0;
    ta.counter = &done;
    ta.a.done = t_append_done;
    ta.a.ack = SP_PLOG_ACK_DURABLE;
    CHECK_EQ_INT(sp_plog_append(a, &ta.a, g_buf, len), 0);
    CHECK(env_run_until(&e, &done, 1));
    CHECK_EQ_INT(ta.res, -EIO);
    CHECK_EQ_INT(sp_plog_error(a), -EIO);
    CHECK_EQ_INT(sp_plog_append(a, &ta.a, g_buf, len), -EIO);
    struct t_read t;
    CHECK_EQ_INT(read_sync(&e, a, &t, 0, 100, SP_PLOG_READ_HW), -EIO);
    append_n(&e, b, 5, 1, 500, 21, 1, SP_PLOG_ACK_DURABLE);
    CHECK_EQ_INT(sp_plog_error(b), 0);
    CHECK_EQ_INT(read_all(&e, b, 0, 1, 4000), 25);
    /* Reopened, `a` has everything that was durable. */
    while (!st_log_idle(a)) {
        env_tick(&e);
    }
    sp_plog_abandon(a);
    REQUIRE(env_open(&e, "a-0", &o, &a) == 0);
    CHECK(sp_plog_end_offset(a) >= 20);
    CHECK_EQ_INT(read_all(&e, a, 0, 1, 4000), (int)sp_plog_end_offset(a));
    CHECK_EQ_INT(sp_plog_truncate(a, 20), 0);
    /* A full disk: fallocate or a write fails with ENOSPC; only `a` goes offline. */
    sp_sim_fs_set_capacity(e.fs, sp_sim_fs_used(e.fs) + 20000);
    done = 0;
    static struct t_append many[64];
    for (int i = 0; i < 64 && sp_plog_error(a) == 0; i++) {
        len = make_batch(g_buf, 1, 2000, 100 + (uint64_t)i, 1);
        many[i] = (struct t_append){.counter = &done};
        many[i].a.done = t_append_done;
        many[i].a.ack = SP_PLOG_ACK_WRITTEN;
        if (sp_plog_append(a, &many[i].a, g_buf, len) != 0) {
            break;
        }
        for (int k = 0; k < 20; k++) {
            env_tick(&e);
        }
    }
    CHECK_EQ_INT(sp_plog_error(a), -ENOSPC);
    sp_sim_fs_set_capacity(e.fs, 0);
    append_n(&e, b, 5, 1, 500, 26, 1, SP_PLOG_ACK_DURABLE);
    CHECK_EQ_INT(read_all(&e, b, 0, 1, 4000), 30);
    while (!st_log_idle(a)) {
        env_tick(&e);
    }
    sp_plog_abandon(a);
    REQUIRE(env_open(&e, "a-0", &o, &a) == 0);
    CHECK(sp_plog_end_offset(a) >= 20);
    CHECK_EQ_INT(sp_plog_truncate(a, 20), 0);
    CHECK_EQ_INT(read_all(&e, a, 0, 1, 4000), 20);
    /* Flip a byte inside batch 3 of `b` behind its back: the read answers -EIO. */
    int fd = sp_io_open_sync(e.io, "/b-0/00000000000000000000.log", O_RDWR, 0);
    REQUIRE(fd >= 0);
    static uint8_t blk[4096] __attribute__((aligned(4096)));
    struct t_op op = {.op = {.done = t_op_done}};
    sp_io_read(e.io, &op.op, fd, blk, 4096, 0);
    env_run_until(&e, &op.done, 1);
    CHECK_EQ_INT(op.res, 4096);
    blk[3 * 570 + 100] ^= 0x10;
    op.done = 0;
    sp_io_write(e.io, &op.op, fd, blk, 4096, 0);
    env_run_until(&e, &op.done, 1);
    sp_io_close_sync(e.io, fd);
    CHECK_EQ_INT(read_sync(&e, b, &t, 0, 100000, SP_PLOG_READ_HW), -EIO);
    CHECK_EQ_INT(sp_plog_error(b), -EBADMSG);
    CHECK_EQ_INT(sp_plog_close(a), 0);
    sp_plog_abandon(b);
    env_fini(&e);
}

int main(int argc, char **argv)
{
    g_sim = argc > 1 && strcmp(argv[1], "sim") == 0;
    if (getenv("SPINDLE_TEST_DEBUG")) {
        sp_log_set_level(SP_LOG_DEBUG);
    }
    test_basic();
    test_roll_reopen();
    test_torn_tail();
    test_truncate_epochs();
    test_time_retention();
    test_fd_cap_cache();
    test_offsets_policy();
    test_idle_memory();
    test_errors();
    return CHECK_DONE();
}
