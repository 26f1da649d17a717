/*
 * tests/storage/test_compact.c: log compaction checked record by record
 * against a model (tests/storage/ct_model.h): the latest value per key,
 * tombstones kept for delete.retention.ms after cleaning and then removed,
 * min.compaction.lag.ms, max.compaction.lag.ms and the dirty ratio, a small
 * key map cleaning in several passes, every codec, reopen after cleaning,
 * and transactional data (aborted
 * records removed, markers dropped once their data is gone). Runs on the real
 * disk through io_uring, or on the simulator with the argument "sim".
 */
#include "core/log.h"
#include "tests/storage/ct_model.h"

static bool g_sim;
static uint8_t g_buf[1 << 20];
static uint64_t g_rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static void setup(struct env *e, const char *name, uint64_t dedupe_bytes)
{
    env_init(e, name, g_sim, 11);
    env_stop(e);
    e->sp.cleaner_enable = false;
    e->sp.cleaner_step_bytes = 8192 + (uint32_t)(rnd() % 65536);
    if (dedupe_bytes) {
        e->sp.cleaner_dedupe_bytes = dedupe_bytes;
    }
    env_start(e);
}

static void copts(struct sp_plog_options *o, int64_t segment_bytes)
{
    env_opts(o);
    o->compact = true;
    o->segment_bytes = segment_bytes;
    o->index_interval_bytes = 256;
    o->min_cleanable_dirty_ratio = 0;
    o->delete_retention_ms = 1000;
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
    CHECK(env_run_until(e, &done, 1));
    CHECK_EQ_INT(t.res, 0);
}

/* Appends `batches` random batches over `keys` keys (tombstones 1 in tomb_every). */
static void append_random(struct env *e, struct sp_plog *log, struct ct_model *m, int batches,
                          int keys, int tomb_every, int64_t ts, bool codecs)
{
    static uint32_t val = 1;
    for (int b = 0; b < batches; b++) {
        int n = 1 + (int)(rnd() % 8);
        int32_t k[CT_REC_MAX];
        uint32_t v[CT_REC_MAX];
        bool t[CT_REC_MAX];
        for (int i = 0; i < n; i++) {
            k[i] = (int32_t)(rnd() % (uint64_t)keys);
            v[i] = val++;
            t[i] = tomb_every > 0 && rnd() % (uint64_t)tomb_every == 0;
        }
        enum sp_codec codec = codecs ? (enum sp_codec)(rnd() % SP_CODEC_COUNT) : SP_CODEC_NONE;
        size_t len = ct_batch(g_buf, sizeof(g_buf), n, k, v, t, ts, codec, 0, -1);
        REQUIRE(sp_plog_end_offset(log) == m->n);
        append_sync(e, log, g_buf, len);
        ct_note(m, n, k, v, t);
    }
}

/* One pass at now_ms, applied to the model too. Returns the pass's end. */
static int64_t clean(struct env *e, struct sp_plog *log, struct ct_model *m, int64_t now_ms,
                     int64_t retention)
{
    int64_t start = sp_plog_clean_offset(log);
    int r = sp_plog_compact_start(log, now_ms);
    CHECK(r == 0 || r == 1);
    CHECK(ct_wait_clean(e, log));
    int64_t end = sp_plog_clean_offset(log);
    if (r == 1) {
        start = SP_MAX(start, sp_plog_start_offset(log));
        ct_clean(m, start, end, now_ms, retention);
    }
    CHECK_EQ_INT(sp_plog_error(log), 0);
    return end;
}

static int64_t active_base(const struct sp_plog *log)
{
    return log->segs[log->nsegs - 1]->base_offset;
}

/* The latest value per key, and tombstones that delete, end up the same. */
static void test_model_random(void)
{
    struct env e;
    setup(&e, "compact-model", 0);
    struct ct_model m;
    ct_init(&m);
    struct sp_plog_options o;
    copts(&o, 4096);
    struct sp_plog *log;
    REQUIRE(env_open(&e, "cm-0", &o, &log) == 0);
    int64_t now = 1000000;
    for (int round = 0; round < 12; round++) {
        append_random(&e, log, &m, 40 + (int)(rnd() % 80), 60, 6, 1000 + round, true);
        now += (int64_t)(rnd() % 1500);
        uint64_t before = sp_plog_size_bytes(log);
        int64_t end = clean(&e, log, &m, now, o.delete_retention_ms);
        CHECK_EQ_INT(end, active_base(log));
        CHECK(ct_verify(&e, log, &m));
        if (round == 0) {
            CHECK(sp_plog_size_bytes(log) < before);
        }
        if (round % 4 == 3) {
            /* Reopen: the cleaned segments, their indexes and the checkpoint come back. */
            CHECK_EQ_INT(sp_plog_close(log), 0);
            REQUIRE(env_open(&e, "cm-0", &o, &log) == 0);
            CHECK_EQ_INT(sp_plog_clean_offset(log), end);
            CHECK(ct_verify(&e, log, &m));
        }
    }
    struct sp_storage_stats ss;
    sp_storage_stats(e.st, &ss);
    CHECK(ss.cleaner_passes >= 12 && ss.cleaner_records_removed > 0);
    CHECK(ss.cleaner_segments_swapped > 0);
    /* Groups keep segments within segment.bytes, and small ones merge. */
    for (uint32_t i = 0; i + 1 < log->nsegs; i++) {
        CHECK(log->segs[i]->size <= 4096 + 4096);
    }
    CHECK_EQ_INT(sp_plog_close(log), 0);
    ct_free(&m);
    env_fini(&e);
}

/* Tombstones: kept after the first cleaning, removed delete.retention.ms later. */
static void test_tombstones(void)
{
    struct env e;
    setup(&e, "compact-tomb", 0);
    struct ct_model m;
    ct_init(&m);
    struct sp_plog_options o;
    copts(&o, 2048);
    o.delete_retention_ms = 5000;
    struct sp_plog *log;
    REQUIRE(env_open(&e, "ct-0", &o, &log) == 0);
    /* Keys 0..9 with values, then tombstones for keys 0..4. */
    for (int32_t k = 0; k < 10; k++) {
        int32_t kk[1] = {k};
        uint32_t v[1] = {(uint32_t)(100 + k)};
        bool t[1] = {false};
        append_sync(&e, log, g_buf, ct_batch(g_buf, sizeof(g_buf), 1, kk, v, t, 5, 0, 0, -1));
        ct_note(&m, 1, kk, v, t);
    }
    for (int32_t k = 0; k < 5; k++) {
        int32_t kk[1] = {k};
        uint32_t v[1] = {(uint32_t)(200 + k)};
        bool t[1] = {true};
        append_sync(&e, log, g_buf, ct_batch(g_buf, sizeof(g_buf), 1, kk, v, t, 6, 0, 0, -1));
        ct_note(&m, 1, kk, v, t);
    }
    append_random(&e, log, &m, 60, 1000, 0, 7, false); /* fills segments past the tombstones */
    int64_t t0 = 1000000;
    clean(&e, log, &m, t0, o.delete_retention_ms);
    CHECK(ct_verify(&e, log, &m));
    for (int64_t off = 10; off < 15; off++) {
        CHECK(m.r[off].alive); /* first cleaning: kept */
    }
    for (int64_t off = 0; off < 5; off++) {
        CHECK(!m.r[off].alive); /* superseded by the tombstones */
    }
    /* Not yet past the horizon. */
    append_random(&e, log, &m, 30, 1000, 0, 8, false);
    clean(&e, log, &m, t0 + 4000, o.delete_retention_ms);
    CHECK(ct_verify(&e, log, &m));
    CHECK(m.r[10].alive);
    /* Past it: the tombstones go. */
    append_random(&e, log, &m, 30, 1000, 0, 9, false);
    clean(&e, log, &m, t0 + 5000, o.delete_retention_ms);
    CHECK(ct_verify(&e, log, &m));
    for (int64_t off = 10; off < 15; off++) {
        CHECK(!m.r[off].alive);
    }
    CHECK_EQ_INT(sp_plog_close(log), 0);
    ct_free(&m);
    env_fini(&e);
}

/* min.compaction.lag.ms keeps young segments out; the active one is never touched. */
static void test_lag(void)
{
    struct env e;
    setup(&e, "compact-lag", 0);
    struct ct_model m;
    ct_init(&m);
    struct sp_plog_options o;
    copts(&o, 2048);
    o.min_compaction_lag_ms = 10000;
    struct sp_plog *log;
    REQUIRE(env_open(&e, "cl-0", &o, &log) == 0);
    append_random(&e, log, &m, 50, 20, 0, 1000, false); /* old */
    int64_t young_from = sp_plog_end_offset(log);
    append_random(&e, log, &m, 50, 20, 0, 100000, false); /* young at now = 105000 */
    int64_t end = clean(&e, log, &m, 105000, o.delete_retention_ms);
    CHECK(end > 0 && end <= young_from);
    /* The segment holding young_from's records was not cleaned: every young record is there. */
    for (int64_t off = young_from; off < m.n; off++) {
        CHECK(m.r[off].alive);
    }
    CHECK(ct_verify(&e, log, &m));
    /* Later everything but the active segment is cleanable. */
    end = clean(&e, log, &m, 200000, o.delete_retention_ms);
    CHECK_EQ_INT(end, active_base(log));
    CHECK(ct_verify(&e, log, &m));
    CHECK_EQ_INT(sp_plog_close(log), 0);
    ct_free(&m);
    env_fini(&e);
}

/* A small key map: the dirty section is cleaned over several passes, still exactly. */
static void test_multipass(void)
{
    struct env e;
    setup(&e, "compact-multi", 65536); /* 2048 slots: 1536 keys a pass */
    struct ct_model m;
    ct_init(&m);
    struct sp_plog_options o;
    copts(&o, 16384);
    struct sp_plog *log;
    REQUIRE(env_open(&e, "cp-0", &o, &log) == 0);
    append_random(&e, log, &m, 1500, 20000, 10, 1000, true);
    int passes = 0;
    int64_t prev = 0;
    while (passes < 40) {
        int64_t end = clean(&e, log, &m, 1000000, o.delete_retention_ms);
        if (end == prev) {
            break;
        }
        passes++;
        CHECK(ct_verify(&e, log, &m));
        prev = end;
    }
    CHECK(passes >= 2);
    CHECK_EQ_INT(prev, active_base(log));
    CHECK_EQ_INT(sp_plog_close(log), 0);
    ct_free(&m);
    env_fini(&e);
}

/* The cleaner picks logs by itself: dirty ratio, max.compaction.lag.ms. */
static void test_pick(void)
{
    struct env e;
    env_init(&e, "compact-pick", g_sim, 12);
    struct ct_model m;
    ct_init(&m);
    struct sp_plog_options o;
    copts(&o, 2048);
    o.min_cleanable_dirty_ratio = 0.99;
    struct sp_plog *log;
    REQUIRE(env_open(&e, "ck-0", &o, &log) == 0);
    append_random(&e, log, &m, 60, 10, 0, 1000, false);
    /* Ratio 1 (all dirty): picked. */
    for (int i = 0; i < 3000 && sp_plog_clean_offset(log) == 0; i++) {
        env_tick(&e);
    }
    CHECK(ct_wait_clean(&e, log));
    int64_t end = sp_plog_clean_offset(log);
    CHECK(end > 0);
    ct_clean(&m, 0, end, 0, o.delete_retention_ms);
    CHECK(ct_verify(&e, log, &m));
    /* A little new dirty data: below the ratio, not picked... */
    append_random(&e, log, &m, 40, 10, 0, 1000, false);
    for (int i = 0; i < 1500; i++) {
        env_tick(&e);
    }
    CHECK_EQ_INT(sp_plog_clean_offset(log), end);
    /* ...until it is older than max.compaction.lag.ms (batches are from 1970). */
    CHECK_EQ_INT(sp_plog_close(log), 0);
    o.max_compaction_lag_ms = 60000;
    REQUIRE(env_open(&e, "ck-0", &o, &log) == 0);
    for (int i = 0; i < 3000 && sp_plog_clean_offset(log) == end; i++) {
        env_tick(&e);
    }
    CHECK(ct_wait_clean(&e, log));
    CHECK(sp_plog_clean_offset(log) > end);
    ct_clean(&m, end, sp_plog_clean_offset(log), 0, o.delete_retention_ms);
    CHECK(ct_verify(&e, log, &m));
    CHECK_EQ_INT(sp_plog_close(log), 0);
    ct_free(&m);
    env_fini(&e);
}

/* Reads in flight over the swap keep their old bytes; the log reads the same after. */
static void test_reads_during_clean(void)
{
    struct env e;
    setup(&e, "compact-reads", 0);
    struct ct_model m;
    ct_init(&m);
    struct sp_plog_options o;
    copts(&o, 4096);
    struct sp_plog *log;
    REQUIRE(env_open(&e, "cr-0", &o, &log) == 0);
    append_random(&e, log, &m, 200, 30, 5, 1000, true);
    REQUIRE(sp_plog_compact_start(log, 1000000) == 1);
    int64_t start = 0;
    int reads = 0;
    while (sp_plog_compact_busy(log)) {
        /* A read from the start at every turn: the old or the new segments, never a mix. */
        struct t_read t;
        memset(&t, 0, sizeof(t));
        t.r.done = t_read_done;
        t.r.offset = start;
        t.r.max_bytes = 4096;
        int r = sp_plog_read(log, &t.r);
        if (r == 1) {
            while (!t.done) {
                env_tick(&e);
            }
            r = t.res;
        }
        CHECK_EQ_INT(r, 0);
        CHECK(walk_batches(t.r.data, t.r.len, NULL, NULL) >= 0);
        sp_plog_read_release(&t.r);
        reads++;
        env_tick(&e);
    }
    CHECK(reads > 0);
    ct_clean(&m, 0, sp_plog_clean_offset(log), 1000000, o.delete_retention_ms);
    CHECK(ct_verify(&e, log, &m));
    CHECK_EQ_INT(sp_plog_close(log), 0);
    ct_free(&m);
    env_fini(&e);
}

/* ---- Transactions ---------------------------------------------------------- */

static size_t txn_marker(uint8_t *buf, int64_t pid, int type, int64_t ts)
{
    uint8_t key[4] = {0, 0, 0, (uint8_t)type}, val[6] = {0};
    struct sp_record_in rec = {.key = {key, 4}, .value = {val, 6}, .timestamp = ts};
    struct sp_batch_params bp = {.partition_leader_epoch = -1,
                                 .attributes = SP_BATCH_ATTR_CONTROL | SP_BATCH_ATTR_TRANSACTIONAL,
                                 .producer_id = pid,
                                 .producer_epoch = 0,
                                 .base_sequence = -1};
    int n = sp_batch_build(buf, 4096, &bp, &rec, 1);
    REQUIRE(n > 0);
    return (size_t)n;
}

static void add1(struct env *e, struct sp_plog *log, int32_t key, uint32_t val, int64_t pid)
{
    bool t = false;
    int16_t attrs = pid >= 0 ? SP_BATCH_ATTR_TRANSACTIONAL : 0;
    append_sync(e, log, g_buf, ct_batch(g_buf, sizeof(g_buf), 1, &key, &val, &t, 5, 0, attrs, pid));
}

struct present {
    bool at[4096];
};

static void present_cb(void *ctx, const struct sp_seg_batch *b, const uint8_t *p)
{
    struct present *pr = ctx;
    (void)p;
    for (int64_t o = b->base_offset; o <= b->last_offset && o < 4096; o++) {
        pr->at[o] = true;
    }
}

static void read_present(struct env *e, struct sp_plog *log, struct present *pr)
{
    memset(pr, 0, sizeof(*pr));
    int64_t at = 0;
    while (at < sp_plog_high_watermark(log)) {
        struct t_read t;
        REQUIRE(read_sync(e, log, &t, at, 1 << 16, SP_PLOG_READ_HW) == 0 && t.r.len > 0);
        CHECK(walk_batches(t.r.data, t.r.len, present_cb, pr) > 0);
        at = t.r.next_offset;
        sp_plog_read_release(&t.r);
    }
}

/* Aborted records go; markers stay until their data is gone and delete.retention.ms passed. */
static void test_transactions(void)
{
    struct env e;
    setup(&e, "compact-txn", 0);
    struct sp_plog_options o;
    copts(&o, 1024);
    struct sp_plog *log;
    REQUIRE(env_open(&e, "cx-0", &o, &log) == 0);
    add1(&e, log, 1, 10, -1);                                /* 0 */
    add1(&e, log, 2, 20, -1);                                /* 1 */
    add1(&e, log, 1, 11, 7);                                 /* 2: committed below */
    add1(&e, log, 2, 21, 8);                                 /* 3: aborted below */
    append_sync(&e, log, g_buf, txn_marker(g_buf, 7, 1, 6)); /* 4: COMMIT 7 */
    append_sync(&e, log, g_buf, txn_marker(g_buf, 8, 0, 6)); /* 5: ABORT 8 */
    for (int i = 0; i < 40; i++) {
        add1(&e, log, 100 + i, 1, -1); /* fill past the active segment */
    }
    struct present pr;
    CHECK_EQ_INT(sp_plog_compact_start(log, 1000000), 1);
    CHECK(ct_wait_clean(&e, log));
    read_present(&e, log, &pr);
    CHECK(!pr.at[0] && pr.at[1] && pr.at[2] && !pr.at[3] && pr.at[4] && pr.at[5]);
    /* Past the horizon: the abort marker has no data left; the commit still has key 1's value. */
    for (int i = 0; i < 40; i++) {
        add1(&e, log, 200 + i, 1, -1);
    }
    CHECK_EQ_INT(sp_plog_compact_start(log, 1002000), 1);
    CHECK(ct_wait_clean(&e, log));
    read_present(&e, log, &pr);
    CHECK(pr.at[1] && pr.at[2] && pr.at[4] && !pr.at[5]);
    /* Key 1 is written again: its transactional value goes, and with it the commit marker. */
    add1(&e, log, 1, 12, -1);
    for (int i = 0; i < 40; i++) {
        add1(&e, log, 300 + i, 1, -1);
    }
    CHECK_EQ_INT(sp_plog_compact_start(log, 1004000), 1);
    CHECK(ct_wait_clean(&e, log));
    read_present(&e, log, &pr);
    CHECK(pr.at[1] && !pr.at[2] && !pr.at[4]);
    /* An open transaction stops the pass before its first record. */
    int64_t open_at = sp_plog_end_offset(log);
    add1(&e, log, 5, 50, 9);
    for (int i = 0; i < 40; i++) {
        add1(&e, log, 1, (uint32_t)(100 + i), -1);
    }
    CHECK_EQ_INT(sp_plog_compact_start(log, 1006000), 1);
    CHECK(ct_wait_clean(&e, log));
    CHECK(sp_plog_clean_offset(log) <= open_at);
    CHECK_EQ_INT(sp_plog_close(log), 0);
    env_fini(&e);
}

int main(int argc, char **argv)
{
    g_sim = argc > 1 && strcmp(argv[1], "sim") == 0;
    if (getenv("SPINDLE_TEST_DEBUG")) {
        sp_log_set_level(SP_LOG_DEBUG);
    }
    test_model_random();
    test_tombstones();
    test_lag();
    test_multipass();
    test_pick();
    test_reads_during_clean();
    test_transactions();
    return CHECK_DONE();
}
