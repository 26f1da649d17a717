/*
 * tests/crash/crash_compact.c: power loss in the middle of log compaction,
 * on the simulator, over many seeds.
 *
 * Each seed: a compacted log with small segments takes random keyed records
 * (acks=all), then a cleaner pass runs for a random number of loop turns,
 * with a small rate of failing fsyncs, writes and renames in some seeds, and
 * the simulated disk loses power (unflushed sectors and unsynced directory
 * entries may vanish). The reopened log must be consistent: it opens, reads
 * back in offset order, every record at its offset with its own key and
 * value, nothing the pass would keep is missing, nothing already gone before
 * the pass is back (each group of segments is old or new, never a mix).
 * Then a full pass runs and the log must equal the model exactly.
 *
 *   crash_compact [first_seed] [seeds]   a failure prints the seed; rerun
 *                                        with it as first_seed and 1 seed.
 */
#include "core/log.h"
#include "tests/storage/ct_model.h"

static uint8_t g_buf[1 << 18];
static uint64_t rng;
static bool before[CT_MAX], after[CT_MAX], seen[CT_MAX];
static int g_busy_at_crash, g_crashes;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

struct seen_ctx {
    struct ct_model *m;
    int64_t last;
    bool bad;
    uint8_t *dbuf;
    uint64_t seed;
};

static void seen_batch(void *ctx, const struct sp_seg_batch *b, const uint8_t *p)
{
    struct seen_ctx *c = ctx;
    struct sp_batch_header h;
    if (sp_batch_validate(p, b->size, &h) < 0) {
        c->bad = true;
        return;
    }
    struct sp_slice recs = sp_batch_records(p, &h);
    if (sp_batch_codec(&h) != SP_CODEC_NONE) {
        long n = sp_decompress(sp_batch_codec(&h), recs.ptr, recs.len, c->dbuf, 1 << 22);
        if (n < 0) {
            c->bad = true;
            return;
        }
        recs = sp_slice_make(c->dbuf, (size_t)n);
    }
    struct sp_record_iter it;
    struct sp_record rec;
    sp_record_iter_init(&it, &h, recs);
    while (sp_record_iter_next(&it, &rec) == 1) {
        const struct ct_rec *mr = rec.offset < c->m->n ? &c->m->r[rec.offset] : NULL;
        char kb[24];
        uint8_t vb[128];
        bool ok = mr != NULL && rec.offset > c->last;
        if (ok) {
            int kl = ct_key(kb, mr->key);
            size_t vl = ct_value(vb, mr->val);
            ok = rec.key.ptr && rec.key.len == (size_t)kl &&
                 memcmp(rec.key.ptr, kb, (size_t)kl) == 0 &&
                 (mr->tomb
                      ? rec.value.ptr == NULL
                      : rec.value.ptr && rec.value.len == vl && memcmp(rec.value.ptr, vb, vl) == 0);
        }
        if (!ok) {
            fprintf(stderr, "seed %" PRIu64 ": wrong record at offset %" PRId64 "\n", c->seed,
                    rec.offset);
            c->bad = true;
            return;
        }
        seen[rec.offset] = true;
        c->last = rec.offset;
    }
}

/* Reads the whole log into seen[]. */
static bool read_all(struct env *e, struct sp_plog *log, struct ct_model *m, uint64_t seed)
{
    struct seen_ctx c = {.m = m, .last = -1, .seed = seed};
    c.dbuf = malloc(1 << 22);
    REQUIRE(c.dbuf != NULL);
    memset(seen, 0, sizeof(seen));
    int64_t at = sp_plog_start_offset(log), end = sp_plog_high_watermark(log);
    while (at < end && !c.bad) {
        struct t_read t;
        int r = read_sync(e, log, &t, at, 1 << 16, SP_PLOG_READ_HW);
        if (r != 0 || t.r.len == 0 || walk_batches(t.r.data, t.r.len, seen_batch, &c) < 0) {
            fprintf(stderr, "seed %" PRIu64 ": read at %" PRId64 " gave %d, %u bytes\n", seed, at,
                    r, t.r.len);
            c.bad = true;
        }
        at = t.r.next_offset;
        sp_plog_read_release(&t.r);
    }
    free(c.dbuf);
    return !c.bad;
}

static void append_sync(struct env *e, struct sp_plog *log, const uint8_t *buf, size_t len)
{
    int done = 0;
    struct t_append t = {.counter = &done};
    t.a.done = t_append_done;
    t.a.ack = SP_PLOG_ACK_DURABLE;
    int r;
    while ((r = sp_plog_append(log, &t.a, buf, len)) == -ENOBUFS) {
        env_tick(e);
    }
    REQUIRE(r == 0);
    REQUIRE(env_run_until(e, &done, 1));
    REQUIRE(t.res == 0);
}

/* Where a pass started now would end: the first segment it may not clean. */
static int64_t pass_limit(const struct sp_plog *log)
{
    uint32_t i = 0;
    while (i + 1 < log->nsegs && log->segs[i]->synced) {
        i++;
    }
    return SP_MIN(log->segs[i]->base_offset, sp_plog_high_watermark(log));
}

static void open_env(struct env *e, uint64_t ioseed)
{
    REQUIRE(sp_io_create_sim(&e->io, e->fs, ioseed) == 0);
    e->sp.io = e->io;
    REQUIRE(sp_storage_create(&e->st, &e->sp) == 0);
}

static bool run_seed(uint64_t seed)
{
    static struct ct_model m;
    struct env e;
    rng = seed * 0x9e3779b97f4a7c15ull + 3;
    env_init(&e, "crash-compact", true, seed);
    env_stop(&e);
    e.sp.cleaner_enable = false;
    e.sp.cleaner_step_bytes = 2048 + (uint32_t)(rnd() % 32768);
    e.sp.cleaner_dedupe_bytes = rnd() % 3 == 0 ? 65536 : 1u << 20;
    ct_init(&m);
    open_env(&e, seed * 10);
    struct sp_plog_options o;
    env_opts(&o);
    o.compact = true;
    o.segment_bytes = 2048 + (int64_t)(rnd() % 16384);
    o.index_interval_bytes = 256;
    o.min_cleanable_dirty_ratio = 0;
    o.delete_retention_ms = INT64_MAX / 4; /* tombstones stay: the crash is the subject here */
    struct sp_plog *log;
    REQUIRE(env_open(&e, "cc-0", &o, &log) == 0);
    bool ok = true;
    uint32_t val = 1;
    for (int round = 0; round < 2 && ok; round++) {
        int batches = 30 + (int)(rnd() % 200), keys = 5 + (int)(rnd() % 300);
        for (int b = 0; b < batches; b++) {
            int n = 1 + (int)(rnd() % 6);
            int32_t k[CT_REC_MAX];
            uint32_t v[CT_REC_MAX];
            bool t[CT_REC_MAX];
            for (int i = 0; i < n; i++) {
                k[i] = (int32_t)(rnd() % (uint64_t)keys);
                v[i] = val++;
                t[i] = rnd() % 8 == 0;
            }
            enum sp_codec codec = (enum sp_codec)(rnd() % SP_CODEC_COUNT);
            size_t len = ct_batch(g_buf, sizeof(g_buf), n, k, v, t, 1000, codec, 0, -1);
            append_sync(&e, log, g_buf, len);
            ct_note(&m, n, k, v, t);
        }
        /* The pass to be interrupted, and what it would leave. */
        int64_t start = sp_plog_clean_offset(log);
        for (int64_t i = 0; i < m.n; i++) {
            before[i] = m.r[i].alive;
        }
        int64_t end = pass_limit(log);
        int r = sp_plog_compact_start(log, 5000);
        REQUIRE(r >= 0);
        if (r == 1) {
            ct_clean(&m, start, end, 5000, o.delete_retention_ms);
        }
        for (int64_t i = 0; i < m.n; i++) {
            after[i] = m.r[i].alive;
        }
        if (rnd() % 3 == 0) {
            sp_sim_fail_rate(e.io, SP_IO_OP_FSYNC, EIO, 30);
            sp_sim_fail_rate(e.io, SP_IO_OP_RENAMEAT, EIO, 30);
            sp_sim_fail_rate(e.io, SP_IO_OP_WRITE, EIO, 10);
        }
        int ticks = (int)(rnd() % 400);
        for (int i = 0; i < ticks && sp_plog_compact_busy(log); i++) {
            env_tick(&e);
        }
        g_busy_at_crash += sp_plog_compact_busy(log);
        g_crashes++;
        sp_sim_fs_crash(e.fs);
        sp_plog_abandon(log);
        log = NULL;
        env_stop(&e);

        open_env(&e, seed * 10 + 1 + (uint64_t)round);
        r = env_open(&e, "cc-0", &o, &log);
        if (r != 0) {
            fprintf(stderr, "seed %" PRIu64 ": reopen failed: %d\n", seed, r);
            ok = false;
            log = NULL;
            break;
        }
        ok = sp_plog_end_offset(log) == m.n && read_all(&e, log, &m, seed);
        for (int64_t i = 0; i < m.n && ok; i++) {
            if ((after[i] && !seen[i]) || (seen[i] && !before[i])) {
                fprintf(stderr,
                        "seed %" PRIu64 ": offset %" PRId64 " seen %d, before %d, after %d\n", seed,
                        i, seen[i], before[i], after[i]);
                ok = false;
            }
        }
        /* What survived is the model now; a full pass must then give exactly the model. */
        for (int64_t i = 0; i < m.n && ok; i++) {
            m.r[i].alive = seen[i];
        }
        if (ok) {
            start = SP_MAX(sp_plog_clean_offset(log), sp_plog_start_offset(log));
            end = pass_limit(log);
            r = sp_plog_compact_start(log, 6000);
            ok = r >= 0 && ct_wait_clean(&e, log) && sp_plog_error(log) == 0;
            if (ok && r == 1) {
                ct_clean(&m, start, end, 6000, o.delete_retention_ms);
                ok = sp_plog_clean_offset(log) == end;
            }
            ok = ok && ct_verify(&e, log, &m);
            if (!ok) {
                fprintf(stderr, "seed %" PRIu64 ": the pass after recovery disagrees\n", seed);
            }
        }
    }
    if (log) {
        if (ok) {
            CHECK_EQ_INT(sp_plog_close(log), 0);
        } else {
            sp_plog_abandon(log);
        }
    }
    env_fini(&e);
    ct_free(&m);
    if (!ok) {
        fprintf(stderr,
                "crash_compact: FAILED at seed %" PRIu64 " (rerun: crash_compact %" PRIu64 " 1)\n",
                seed, seed);
    }
    return ok;
}

int main(int argc, char **argv)
{
    uint64_t first = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    uint64_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 200;
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
    printf("crash_compact: %" PRIu64 " seeds from %" PRIu64
           ", %d failed (%d of %d crashes in a pass)\n",
           count, first, failed, g_busy_at_crash, g_crashes);
    return failed ? 1 : CHECK_DONE();
}
