/*
 * tests/crash/crash_sim.c: power loss on the simulator, over many seeds.
 *
 * Each seed: a log with small segments takes appends of random sizes with
 * acks=1 and acks=all for a random time, with a small rate of failing
 * fsyncs and writes (the partition goes offline, as it must), then the
 * simulated disk loses power: every unflushed sector write may or may not
 * survive, unsynced directory entries vanish. Reopening must find every
 * batch that was acknowledged durable, intact and at its offset, offsets
 * contiguous, and nothing after the last valid batch. Three rounds per
 * seed, so recovery also runs over recovered logs.
 *
 *   crash_sim [first_seed] [seeds]      a failure prints the seed; rerun
 *                                       with it as first_seed and 1 seed.
 */
#include <inttypes.h>

#include "core/log.h"
#include "tests/storage/st_env.h"

#define MAX_OFFSETS 200000

static uint64_t tags[MAX_OFFSETS]; /* tag+1 of the durable batch at its base offset, or 0 */
static int64_t durable_end;
static uint8_t g_buf[1 << 18];
static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

struct sim_append {
    struct sp_plog_append a;
    uint64_t tag;
    bool acked;
    int res;
    bool used;
};

static struct sim_append apps[4096];
static int nacked;

static void sim_done(struct sp_plog_append *a, int res)
{
    struct sim_append *s = sp_container_of(a, struct sim_append, a);
    s->acked = true;
    s->res = res;
    nacked++;
    if (res == 0 && a->ack == SP_PLOG_ACK_DURABLE && a->last_offset < MAX_OFFSETS) {
        tags[a->base_offset] = s->tag + 1;
        durable_end = SP_MAX(durable_end, a->last_offset + 1);
    }
}

struct verify {
    int64_t next;
    bool bad;
    int64_t seed;
};

static void verify_cb(void *ctx, const struct sp_seg_batch *b, const uint8_t *p)
{
    struct verify *v = ctx;
    if (b->base_offset != v->next) {
        fprintf(stderr, "seed %" PRId64 ": batch at %" PRId64 ", expected %" PRId64 "\n", v->seed,
                b->base_offset, v->next);
        v->bad = true;
    }
    if (b->base_offset < MAX_OFFSETS && tags[b->base_offset] &&
        tags[b->base_offset] != batch_tag(p) + 1) {
        fprintf(stderr,
                "seed %" PRId64 ": batch at %" PRId64 " has tag %" PRIu64 ", wanted %" PRIu64 "\n",
                v->seed, b->base_offset, batch_tag(p), tags[b->base_offset] - 1);
        v->bad = true;
    }
    v->next = b->last_offset + 1;
}

/* Reads the whole recovered log; returns false on any violation. */
static bool verify_log(struct env *e, struct sp_plog *log, int64_t seed)
{
    struct verify v = {sp_plog_start_offset(log), false, seed};
    int64_t end = sp_plog_end_offset(log);
    if (end < durable_end) {
        fprintf(stderr,
                "seed %" PRId64 ": log ends at %" PRId64 ", durable acks up to %" PRId64 "\n", seed,
                end, durable_end);
        return false;
    }
    while (v.next < end && !v.bad) {
        struct t_read t;
        int r = read_sync(e, log, &t, v.next, 1 << 16, SP_PLOG_READ_WRITTEN);
        if (r != 0 || t.r.len == 0) {
            fprintf(stderr, "seed %" PRId64 ": read at %" PRId64 " gave %d, %u bytes\n", seed,
                    v.next, r, t.r.len);
            return false;
        }
        if (walk_batches(t.r.data, t.r.len, verify_cb, &v) < 0) {
            fprintf(stderr, "seed %" PRId64 ": malformed read at %" PRId64 "\n", seed, v.next);
            v.bad = true;
        }
        sp_plog_read_release(&t.r);
    }
    if (!v.bad && v.next != end) {
        fprintf(stderr, "seed %" PRId64 ": batches end at %" PRId64 ", log end %" PRId64 "\n", seed,
                v.next, end);
        v.bad = true;
    }
    /* Every durable batch must lie below the end (checked by the walk for those present). */
    for (int64_t o = 0; o < durable_end && !v.bad; o++) {
        if (tags[o] && o >= end) {
            v.bad = true;
        }
    }
    return !v.bad;
}

static bool run_seed(uint64_t seed)
{
    struct env e;
    rng = seed * 0x9e3779b97f4a7c15ull + 1;
    memset(tags, 0, sizeof(tags));
    durable_end = 0;
    env_init(&e, "crash", true, seed);
    e.sp.chunk_bytes = 16384; /* many chunks, many tail rewrites */
    e.sp.fallocate_step_bytes = 65536;
    e.sp.hw_durable = rnd() % 2;
    env_stop(&e);
    bool ok = true;
    uint64_t tag = 1;
    for (int round = 0; round < 3 && ok; round++) {
        REQUIRE(sp_io_create_sim(&e.io, e.fs, seed * 10 + (uint64_t)round) == 0);
        e.sp.io = e.io;
        REQUIRE(sp_storage_create(&e.st, &e.sp) == 0);
        sp_sim_set_direct_align(e.io, 4096);
        struct sp_plog_options o;
        env_opts(&o);
        o.segment_bytes = 8192 + (int64_t)(rnd() % 65536);
        o.index_interval_bytes = 512;
        struct sp_plog *log;
        int r = env_open(&e, "c-0", &o, &log);
        if (r != 0) {
            fprintf(stderr, "seed %" PRIu64 ": open failed: %d\n", seed, r);
            ok = false;
            sp_storage_destroy(e.st);
            sp_io_destroy(e.io);
            break;
        }
        if (!verify_log(&e, log, (int64_t)seed)) {
            ok = false;
            sp_plog_abandon(log);
            sp_storage_destroy(e.st);
            sp_io_destroy(e.io);
            break;
        }
        if (rnd() % 4 == 0) {
            sp_sim_fail_rate(e.io, SP_IO_OP_FSYNC, EIO, 20);
        }
        if (rnd() % 6 == 0) {
            sp_sim_fail_rate(e.io, SP_IO_OP_WRITE, EIO, 5);
        }
        memset(apps, 0, sizeof(apps));
        nacked = 0;
        int n = 20 + (int)(rnd() % 400), ticks = (int)(rnd() % 3000);
        for (int i = 0, t = 0; t < ticks; t++) {
            if (i < n && rnd() % 3 != 0) {
                int recs = 1 + (int)(rnd() % 5);
                size_t vb = 1 + rnd() % (rnd() % 8 == 0 ? 20000 : 600);
                size_t len = make_batch(g_buf, recs, vb, tag, 1000 + i);
                struct sim_append *s = &apps[i];
                s->a.done = sim_done;
                s->a.ack = rnd() % 2 ? SP_PLOG_ACK_DURABLE : SP_PLOG_ACK_WRITTEN;
                s->tag = tag;
                r = sp_plog_append(log, &s->a, g_buf, len);
                if (r == 0) {
                    s->used = true;
                    tag++;
                    i++;
                }
            }
            if (rnd() % 50 == 0) {
                sp_plog_flush(log);
            }
            env_tick(&e);
        }
        sp_sim_fs_crash(e.fs);
        sp_plog_abandon(log);
        sp_storage_destroy(e.st);
        sp_io_destroy(e.io);
        e.st = NULL;
        e.io = NULL;
        (void)nacked;
    }
    if (ok) {
        /* A final reopen to verify the last crash. */
        REQUIRE(sp_io_create_sim(&e.io, e.fs, seed * 10 + 9) == 0);
        e.sp.io = e.io;
        REQUIRE(sp_storage_create(&e.st, &e.sp) == 0);
        struct sp_plog_options o;
        env_opts(&o);
        struct sp_plog *log;
        int r = env_open(&e, "c-0", &o, &log);
        ok = r == 0 && verify_log(&e, log, (int64_t)seed);
        if (r == 0) {
            CHECK_EQ_INT(sp_plog_close(log), 0);
        }
        env_stop(&e);
    }
    sp_sim_fs_destroy(e.fs);
    if (!ok) {
        fprintf(stderr, "crash_sim: FAILED at seed %" PRIu64 " (rerun: crash_sim %" PRIu64 " 1)\n",
                seed, seed);
    }
    return ok;
}

int main(int argc, char **argv)
{
    uint64_t first = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    uint64_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 300;
    sp_log_set_level(getenv("SPINDLE_TEST_DEBUG") ? SP_LOG_DEBUG : SP_LOG_ERROR + 0);
    int failed = 0;
    for (uint64_t s = first; s < first + count; s++) {
        if (!run_seed(s)) {
            failed++;
            if (failed >= 3) {
                break;
            }
        }
    }
    printf("crash_sim: %" PRIu64 " seeds from %" PRIu64 ", %d failed\n", count, first, failed);
    return failed ? 1 : CHECK_DONE();
}
