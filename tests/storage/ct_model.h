/*
 * tests/storage/ct_model.h: a model of a compacted log, for the compaction
 * tests (tests/storage/test_compact.c, tests/crash/crash_compact.c).
 *
 * The model keeps every record ever appended (key id, value id, tombstone,
 * alive) by offset, and applies a cleaner pass [start, end) at time now_ms
 * the simple way: a record below `end` dies when a later record with its key
 * lies in [start, end), or when it is a tombstone of the clean section past
 * delete.retention.ms since the pass that first cleaned it. Reading the log
 * back must give exactly the alive records, byte for byte, at their offsets.
 */
#ifndef SP_TESTS_STORAGE_CT_MODEL_H
#define SP_TESTS_STORAGE_CT_MODEL_H

#include <inttypes.h>

#include "protocol/compress.h"
#include "tests/storage/st_env.h"

#define CT_MAX     400000
#define CT_KEYS    100000
#define CT_HIST    64
#define CT_REC_MAX 64

struct ct_rec {
    int32_t key; /* -1: no record at this offset */
    uint32_t val;
    bool tomb;
    bool alive;
};

struct ct_model {
    struct ct_rec *r; /* by offset */
    int64_t n;        /* next offset */
    int64_t hist_end[CT_HIST], hist_ms[CT_HIST];
    int nhist;
    int64_t last_end;
};

static inline void ct_init(struct ct_model *m)
{
    memset(m, 0, sizeof(*m));
    m->r = calloc(CT_MAX, sizeof(*m->r));
    REQUIRE(m->r != NULL);
}

static inline void ct_free(struct ct_model *m)
{
    free(m->r);
}

static inline int ct_key(char *out, int32_t key)
{
    return snprintf(out, 24, "key-%d", key);
}

/* The value of val id v: its id, then bytes derived from it, v % 97 long. */
static inline size_t ct_value(uint8_t *out, uint32_t v)
{
    size_t n = 8 + v % 97;
    sp_be32_put(out, v);
    sp_be32_put(out + 4, v * 2654435761u);
    for (size_t i = 8; i < n; i++) {
        out[i] = (uint8_t)(v + i * 7);
    }
    return n;
}

/*
 * Builds one batch of n keyed records (tombstone when tomb[i]) compressed
 * with codec, attributes extra (transactional, ...). Returns its size.
 */
static inline size_t ct_batch(uint8_t *buf, size_t cap, int n, const int32_t *keys,
                              const uint32_t *vals, const bool *tomb, int64_t ts,
                              enum sp_codec codec, int16_t attrs, int64_t pid)
{
    static char kb[CT_REC_MAX][24];
    static uint8_t vb[CT_REC_MAX][128];
    static uint8_t raw[1 << 16];
    struct sp_record_in recs[CT_REC_MAX];
    REQUIRE(n > 0 && n <= CT_REC_MAX);
    for (int i = 0; i < n; i++) {
        int kl = ct_key(kb[i], keys[i]);
        size_t vl = ct_value(vb[i], vals[i]);
        recs[i] = (struct sp_record_in){.key = {(const uint8_t *)kb[i], (size_t)kl},
                                        .value = {tomb[i] ? NULL : vb[i], tomb[i] ? 0 : vl},
                                        .timestamp = ts + i};
    }
    struct sp_batch_params bp = {.base_offset = 0,
                                 .partition_leader_epoch = -1,
                                 .attributes = (int16_t)(attrs | (int16_t)codec),
                                 .producer_id = pid,
                                 .producer_epoch = 0,
                                 .base_sequence = pid >= 0 ? 0 : -1};
    int rl = sp_records_encode(raw, sizeof(raw), recs, (size_t)n);
    REQUIRE(rl > 0);
    size_t len = (size_t)rl;
    if (codec != SP_CODEC_NONE) {
        long c = sp_compress(codec, 0, raw, len, buf + SP_BATCH_HEADER_BYTES,
                             cap - SP_BATCH_HEADER_BYTES);
        REQUIRE(c > 0);
        len = (size_t)c;
    } else {
        REQUIRE(len + SP_BATCH_HEADER_BYTES <= cap);
        memcpy(buf + SP_BATCH_HEADER_BYTES, raw, len);
    }
    int size = sp_batch_finish(buf, &bp, len, n, ts, ts + n - 1);
    REQUIRE(size > 0);
    return (size_t)size;
}

static inline void ct_note(struct ct_model *m, int n, const int32_t *keys, const uint32_t *vals,
                           const bool *tomb)
{
    REQUIRE(m->n + n <= CT_MAX);
    for (int i = 0; i < n; i++) {
        m->r[m->n++] = (struct ct_rec){keys[i], vals[i], tomb[i], true};
    }
}

/* Applies a cleaner pass [start, end) judged at now_ms. */
static inline void ct_clean(struct ct_model *m, int64_t start, int64_t end, int64_t now_ms,
                            int64_t delete_retention_ms)
{
    static int64_t latest[CT_KEYS];
    if (end <= start) {
        return;
    }
    for (int k = 0; k < CT_KEYS; k++) {
        latest[k] = -1;
    }
    for (int64_t o = start; o < end; o++) {
        if (m->r[o].key >= 0 && m->r[o].alive) {
            latest[m->r[o].key] = o;
        }
    }
    for (int64_t o = 0; o < end; o++) {
        struct ct_rec *r = &m->r[o];
        if (r->key < 0 || !r->alive) {
            continue;
        }
        if (latest[r->key] > o) {
            r->alive = false;
            continue;
        }
        if (r->tomb && o < start) {
            for (int i = 0; i < m->nhist; i++) {
                if (o < m->hist_end[i]) {
                    if (now_ms - m->hist_ms[i] >= delete_retention_ms) {
                        r->alive = false;
                    }
                    break;
                }
            }
        }
    }
    REQUIRE(m->nhist < CT_HIST);
    m->hist_end[m->nhist] = end;
    m->hist_ms[m->nhist++] = now_ms;
    m->last_end = end;
}

struct ct_check {
    struct ct_model *m;
    int64_t last; /* last offset seen */
    int64_t seen;
    bool bad;
    uint8_t *dbuf;
};

static inline void ct_check_batch(void *ctx, const struct sp_seg_batch *b, const uint8_t *p)
{
    struct ct_check *c = ctx;
    struct sp_batch_header h;
    if (sp_batch_validate(p, b->size, &h) < 0) {
        fprintf(stderr, "batch at %" PRId64 " does not validate\n", b->base_offset);
        c->bad = true;
        return;
    }
    if (sp_batch_is_control(&h)) {
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
    int r;
    while ((r = sp_record_iter_next(&it, &rec)) == 1) {
        if (rec.offset <= c->last || rec.offset >= c->m->n) {
            fprintf(stderr, "record offset %" PRId64 " after %" PRId64 "\n", rec.offset, c->last);
            c->bad = true;
            return;
        }
        const struct ct_rec *mr = &c->m->r[rec.offset];
        char kb[24];
        uint8_t vb[128];
        int kl = mr->key >= 0 ? ct_key(kb, mr->key) : 0;
        size_t vl = ct_value(vb, mr->val);
        bool ok = mr->key >= 0 && mr->alive && rec.key.ptr && rec.key.len == (size_t)kl &&
                  memcmp(rec.key.ptr, kb, (size_t)kl) == 0 &&
                  (mr->tomb ? rec.value.ptr == NULL
                            : (rec.value.ptr && rec.value.len == vl &&
                               memcmp(rec.value.ptr, vb, vl) == 0));
        if (!ok) {
            fprintf(stderr, "record at %" PRId64 ": model key %d val %u tomb %d alive %d\n",
                    rec.offset, mr->key, mr->val, mr->tomb, mr->alive);
            c->bad = true;
            return;
        }
        for (int64_t o = c->last + 1; o < rec.offset; o++) {
            if (c->m->r[o].key >= 0 && c->m->r[o].alive) {
                fprintf(stderr, "record at %" PRId64 " is missing (next read %" PRId64 ")\n", o,
                        rec.offset);
                c->bad = true;
                return;
            }
        }
        c->last = rec.offset;
        c->seen++;
    }
    if (r < 0) {
        c->bad = true;
    }
}

/* Reads the whole log and compares it with the model. Returns true when they agree. */
static inline bool ct_verify(struct env *e, struct sp_plog *log, struct ct_model *m)
{
    struct ct_check c = {.m = m, .last = sp_plog_start_offset(log) - 1};
    c.dbuf = malloc(1 << 22);
    REQUIRE(c.dbuf != NULL);
    int64_t at = sp_plog_start_offset(log), end = sp_plog_high_watermark(log);
    while (at < end && !c.bad) {
        struct t_read t;
        int r = read_sync(e, log, &t, at, 1 << 16, SP_PLOG_READ_HW);
        if (r != 0 || t.r.len == 0) {
            fprintf(stderr, "read at %" PRId64 " gave %d, %u bytes\n", at, r, t.r.len);
            c.bad = true;
            break;
        }
        if (walk_batches(t.r.data, t.r.len, ct_check_batch, &c) < 0) {
            fprintf(stderr, "malformed read at %" PRId64 "\n", at);
            c.bad = true;
        }
        at = t.r.next_offset;
        sp_plog_read_release(&t.r);
    }
    for (int64_t o = c.last + 1; o < m->n && !c.bad; o++) {
        if (m->r[o].key >= 0 && m->r[o].alive) {
            fprintf(stderr, "record at %" PRId64 " is missing at the end\n", o);
            c.bad = true;
        }
    }
    free(c.dbuf);
    return !c.bad;
}

/* Runs the loop until the cleaner leaves log. */
static inline bool ct_wait_clean(struct env *e, struct sp_plog *log)
{
    for (long i = 0; i < 2000000 && sp_plog_compact_busy(log); i++) {
        env_tick(e);
    }
    return !sp_plog_compact_busy(log);
}

#endif /* SP_TESTS_STORAGE_CT_MODEL_H */
