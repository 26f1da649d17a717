/*
 * tests/client/check_roundtrip.c: records produced through the client
 * core's producer come back through its fetcher, byte for byte.
 *
 *   check_client_roundtrip BOOTSTRAP SCENARIO TOPIC [--partitions N]
 *                          [--records N] [--codec none|gzip|snappy|lz4|zstd|mixed]
 *                          [--value-bytes N]
 *
 * The topic is created with CreateTopics (N partitions); a broker without
 * CreateTopics (the mock) must have it already. Scenarios:
 *
 *   roundtrip  N keyed records (values of varying size whose bytes derive
 *              from their sequence number, some headers, timestamps) are
 *              produced, then fetched from BEGINNING: every partition gives
 *              back exactly the offsets its delivery reports named, in
 *              order, each with its key, value, headers and timestamp.
 *   offsets    BEGINNING, an explicit offset, END, a seek, and an offset
 *              past the end (OFFSET_OUT_OF_RANGE, reported for the right
 *              partition, which then pauses until it is assigned again).
 *   follow     fetching from END while records keep arriving: exactly the
 *              new ones come, and the high watermark follows.
 *   move       (the mock) consuming while partition leaders move: prints
 *              "move TOPIC PARTITION BROKER" on stdout and waits for the
 *              driver's answer line on stdin; nothing is lost or repeated.
 *   restart    consuming while the broker restarts on the same port (prints
 *              "restart" and waits for the driver's answer): the fetcher
 *              retries and goes on, nothing lost or repeated.
 *   bench      N records of --value-bytes (1024) without compression:
 *              the producer's and then the fetcher's throughput.
 *
 * Prints "ok: ..." lines and throughput lines; exits 0, 1 on a failed
 * check, 77 when the client core is not built (-ENOSYS).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/spc.h"
#include "protocol/kproto.h"

#define WAIT_MS 60000

static int failures;

#define CHECK(cond, ...)         \
    do {                         \
        if (!(cond)) {           \
            failures++;          \
            printf("FAIL: ");    \
            printf(__VA_ARGS__); \
            printf("\n");        \
            fflush(stdout);      \
        }                        \
    } while (0)

struct opts {
    const char *bootstrap;
    const char *scenario;
    const char *topic;
    int32_t partitions;
    int64_t records;
    const char *codec;
    size_t value_bytes;
};

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- records: everything derives from the sequence number ---- */

#define VALUE_BYTES_MAX 4096
#define BASE_TS_MS      1700000000000LL

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Value length of record seq when value_bytes is 0 (varying, 0..~600). */
static size_t value_len(uint64_t seq, size_t fixed)
{
    if (fixed > 0) {
        return fixed;
    }
    uint64_t r = mix(seq * 7 + 1);
    if (r % 97 == 0) {
        return 0;
    }
    return (size_t)(8 + r % 600);
}

static void value_fill(uint64_t seq, uint8_t *buf, size_t len)
{
    uint64_t x = mix(seq + 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < len; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = SP_MIN((size_t)8, len - i);
        memcpy(buf + i, &x, n);
    }
    if (len >= 8) {
        memcpy(buf, &seq, 8); /* the sequence number leads the value */
    }
}

static int key_fill(uint64_t seq, char *buf, size_t cap)
{
    if (seq % 11 == 5) {
        return -1; /* a null key */
    }
    return snprintf(buf, cap, "key-%" PRIu64, seq);
}

/* Headers: none, one, or two (one with a null value), by seq. */
static size_t headers_fill(uint64_t seq, char *buf, size_t cap, struct spc_header *h)
{
    switch (seq % 3) {
    case 0:
        return 0;
    case 1: {
        int n = snprintf(buf, cap, "%" PRIu64, seq * 31);
        h[0].key = sp_slice_make("seq31", 5);
        h[0].value = sp_slice_make(buf, (size_t)n);
        return 1;
    }
    default: {
        int n = snprintf(buf, cap, "v%" PRIu64, seq);
        h[0].key = sp_slice_make("trace", 5);
        h[0].value = sp_slice_make(buf, (size_t)n);
        h[1].key = sp_slice_make("empty", 5);
        h[1].value = sp_slice_make(NULL, 0);
        return 2;
    }
    }
}

struct record_buf {
    uint8_t value[VALUE_BYTES_MAX];
    char key[32];
    char hval[32];
    struct spc_header headers[2];
    struct spc_record rec;
};

static void record_make(uint64_t seq, size_t fixed, struct record_buf *b)
{
    memset(&b->rec, 0, sizeof(b->rec));
    size_t vlen = value_len(seq, fixed);
    value_fill(seq, b->value, vlen);
    b->rec.value = sp_slice_make(b->value, vlen);
    int klen = key_fill(seq, b->key, sizeof(b->key));
    b->rec.key = klen >= 0 ? sp_slice_make(b->key, (size_t)klen) : sp_slice_make(NULL, 0);
    b->rec.headers_count = headers_fill(seq, b->hval, sizeof(b->hval), b->headers);
    b->rec.headers = b->headers;
    b->rec.timestamp_ms = BASE_TS_MS + (int64_t)seq;
}

static bool slice_eq(struct sp_slice a, struct sp_slice b)
{
    if ((a.ptr == NULL) != (b.ptr == NULL)) {
        return false;
    }
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Whether m carries exactly record seq. */
static bool record_matches(const struct spc_message *m, uint64_t seq, size_t fixed,
                           struct record_buf *b, const char **why)
{
    record_make(seq, fixed, b);
    if (!slice_eq(m->key, b->rec.key)) {
        *why = "key";
        return false;
    }
    if (!slice_eq(m->value, b->rec.value)) {
        *why = "value";
        return false;
    }
    if (m->headers_count != b->rec.headers_count) {
        *why = "header count";
        return false;
    }
    for (size_t i = 0; i < m->headers_count; i++) {
        if (!slice_eq(m->headers[i].key, b->headers[i].key) ||
            !slice_eq(m->headers[i].value, b->headers[i].value)) {
            *why = "header";
            return false;
        }
    }
    if (!m->log_append_time && m->timestamp != b->rec.timestamp_ms) {
        *why = "timestamp";
        return false;
    }
    return true;
}

/* ---- the client, the topic ---- */

static int client_open(const struct opts *o, uint32_t connections, struct spc_client **c)
{
    struct spc_config cfg;
    spc_config_init(&cfg);
    cfg.bootstrap = o->bootstrap;
    cfg.client_id = "check-roundtrip";
    cfg.connections = connections;
    cfg.request_timeout_ms = 15000;
    struct spc_error err;
    int rc = spc_client_new(&cfg, c, &err);
    if (rc < 0) {
        printf("client: %s\n", err.message);
    }
    return rc;
}

/* Creates the topic (CreateTopics) or finds it (a broker without CreateTopics). */
static int topic_ready(struct spc_client *c, const struct opts *o)
{
    struct kproto_create_topics_request req;
    kproto_create_topics_request_init(&req);
    struct kproto_create_topics_request_creatable_topic t;
    memset(&t, 0, sizeof(t));
    t.Name = sp_str_make(o->topic);
    t.NumPartitions = o->partitions;
    t.ReplicationFactor = -1;
    req.Topics = &t;
    req.Topics_count = 1;
    req.timeoutMs = 15000;
    struct spc_call call;
    memset(&call, 0, sizeof(call));
    call.api_key = KPROTO_API_KEY_CREATE_TOPICS;
    call.min_version = 2;
    call.max_version = 7;
    call.node = SPC_CONTROLLER;
    call.request = &req;
    struct spc_error err;
    int rc = spc_call_sync(c, &call, &err);
    if (rc == 0) {
        const struct kproto_create_topics_response *resp = call.response;
        int16_t code = resp->Topics_count == 1 ? resp->Topics[0].ErrorCode : -1;
        spc_call_release(&call);
        if (code != 0 && code != KERR_TOPIC_ALREADY_EXISTS) {
            printf("create topic %s: %s\n", o->topic, kerr_name(code));
            return -EIO;
        }
    } else if (rc == -ENOSYS) {
        return rc;
    } else {
        /* No CreateTopics there (the mock): the topic must exist already. */
        printf("create topic %s: %s (expecting it to exist)\n", o->topic, err.message);
    }
    /* Wait for the leaders to be known. */
    for (int i = 0; i < 100; i++) {
        rc = spc_metadata_sync(c, &o->topic, 1, false, &err);
        const struct spc_topic *mt = spc_topic_get(c, o->topic);
        bool ready = rc == 0 && mt != NULL && mt->error == 0 && mt->partitions_count > 0;
        for (int32_t p = 0; ready && p < mt->partitions_count; p++) {
            ready = mt->partitions[p].leader >= 0;
        }
        if (ready) {
            if (mt->partitions_count != o->partitions) {
                printf("topic %s has %d partitions, not %d\n", o->topic, mt->partitions_count,
                       o->partitions);
                return -EIO;
            }
            return 0;
        }
        spc_poll(c, 100);
    }
    printf("topic %s: no leaders (%s)\n", o->topic, err.message);
    return -ETIMEDOUT;
}

/* ---- producing ---- */

struct produced {
    int32_t *partition; /* [records], from the delivery reports */
    int64_t *offset;
    int64_t reported, failed;
    char first_error[256];
};

/* The delivery report's opaque is the record's seq; the table is global. */
static struct produced *g_produced;

static void delivered_seq(void *opaque, const char *topic, int32_t partition, int64_t offset,
                          const struct spc_error *err)
{
    struct produced *pr = g_produced;
    uint64_t seq = (uint64_t)(uintptr_t)opaque;
    (void)topic;
    pr->reported++;
    if (err != NULL && err->code != 0) {
        if (pr->failed++ == 0) {
            snprintf(pr->first_error, sizeof(pr->first_error), "%s", err->message);
        }
        return;
    }
    pr->partition[seq] = partition;
    pr->offset[seq] = offset;
}

static const enum sp_codec all_codecs[] = {SP_CODEC_NONE, SP_CODEC_GZIP, SP_CODEC_SNAPPY,
                                           SP_CODEC_LZ4, SP_CODEC_ZSTD};

/*
 * Produces records [first, first + n) (partition -1: by key, round robin
 * for null keys; else that partition). codec "mixed": one producer per
 * codec, record seq going to producer seq % 5. Returns 0 or -errno.
 */
static int produce_range(struct spc_client *c, const struct opts *o, uint64_t first, uint64_t n,
                         int32_t partition, double *secs)
{
    bool mixed = strcmp(o->codec, "mixed") == 0;
    size_t np = mixed ? SP_ARRAY_LEN(all_codecs) : 1;
    struct spc_producer *ps[SP_ARRAY_LEN(all_codecs)] = {NULL};
    for (size_t i = 0; i < np; i++) {
        struct spc_producer_config pc;
        spc_producer_config_init(&pc);
        pc.linger_ms = 5;
        if (mixed) {
            pc.compression = all_codecs[i];
        } else if (sp_codec_parse(o->codec, &pc.compression) < 0) {
            printf("unknown codec %s\n", o->codec);
            return -EINVAL;
        }
        struct spc_error err;
        int rc = spc_producer_new(c, &pc, &ps[i], &err);
        if (rc < 0) {
            printf("producer: %s\n", err.message);
            for (size_t j = 0; j < i; j++) {
                spc_producer_free(ps[j]);
            }
            return rc;
        }
    }
    struct record_buf *b = malloc(sizeof(*b));
    double t0 = wall_s();
    int rc = 0;
    for (uint64_t seq = first; seq < first + n && rc == 0; seq++) {
        record_make(seq, o->value_bytes, b);
        struct spc_producer *p = ps[seq % np];
        for (int tries = 0;; tries++) {
            struct spc_error err;
            rc = spc_produce(p, o->topic, partition, &b->rec, delivered_seq, (void *)(uintptr_t)seq,
                             &err);
            if (rc != -ENOBUFS || tries > 100000) {
                if (rc < 0) {
                    printf("produce %" PRIu64 ": %s (%d)\n", seq, err.message, rc);
                }
                break;
            }
            spc_poll(c, 10);
        }
    }
    for (size_t i = 0; i < np; i++) {
        int frc = spc_producer_flush(ps[i], WAIT_MS);
        if (frc < 0 && rc == 0) {
            printf("flush: %d\n", frc);
            rc = frc;
        }
    }
    *secs = wall_s() - t0;
    for (size_t i = 0; i < np; i++) {
        spc_producer_free(ps[i]);
    }
    free(b);
    return rc;
}

/* ---- consuming ---- */

struct consumer {
    const struct opts *o;
    struct spc_fetcher *f;
    struct record_buf *b;
    /* Expected: per partition, the seqs in offset order (roundtrip, move). */
    uint64_t **expect;
    size_t *expect_n, *cursor;
    int64_t *last_offset; /* per partition, -1 */
    uint64_t received, bytes, bad;
    /* The errors reported (offsets): the last one. */
    int errors;
    int last_error_code;
    const char *last_error_topic;
    int32_t last_error_partition;
    char last_error[256];
    bool check_content;
    /* follow: what came, checked once everything is produced (hashes by partition). */
    bool defer;
    struct seen *seen;
    size_t seen_n, seen_cap;
};

struct seen {
    int32_t partition;
    int64_t offset;
    uint64_t hash;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    return h;
}

static uint64_t slice_hash(uint64_t h, struct sp_slice s)
{
    uint64_t len = s.ptr == NULL ? UINT64_MAX : s.len;
    h = fnv(h, &len, sizeof(len));
    return s.ptr == NULL ? h : fnv(h, s.ptr, s.len);
}

/* A digest of what a record carries: key, value, headers, timestamp. */
static uint64_t message_hash(struct sp_slice key, struct sp_slice value,
                             const struct spc_header *headers, size_t headers_count, int64_t ts)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = slice_hash(h, key);
    h = slice_hash(h, value);
    h = fnv(h, &headers_count, sizeof(headers_count));
    for (size_t i = 0; i < headers_count; i++) {
        h = slice_hash(h, headers[i].key);
        h = slice_hash(h, headers[i].value);
    }
    return fnv(h, &ts, sizeof(ts));
}

static void consumed(void *ctx, const struct spc_message *m, const struct spc_error *err)
{
    struct consumer *cs = ctx;
    if (m == NULL) {
        cs->errors++;
        cs->last_error_code = err->code;
        snprintf(cs->last_error, sizeof(cs->last_error), "%s", err->message);
        cs->last_error_topic = NULL;
        cs->last_error_partition = -1;
        const char *t;
        int32_t p;
        if (spc_fetcher_error_partition(cs->f, &t, &p) == 0) {
            cs->last_error_topic = strcmp(t, cs->o->topic) == 0 ? cs->o->topic : "other";
            cs->last_error_partition = p;
        }
        return;
    }
    cs->received++;
    cs->bytes += m->key.len + m->value.len;
    int32_t p = m->partition;
    if (p < 0 || p >= cs->o->partitions || strcmp(m->topic, cs->o->topic) != 0) {
        if (cs->bad++ < 5) {
            printf("FAIL: record from %s/%d\n", m->topic, p);
        }
        return;
    }
    if (m->offset <= cs->last_offset[p]) {
        if (cs->bad++ < 5) {
            printf("FAIL: partition %d: offset %" PRId64 " after %" PRId64 "\n", p, m->offset,
                   cs->last_offset[p]);
        }
        return;
    }
    cs->last_offset[p] = m->offset;
    if (cs->defer) {
        if (cs->seen_n == cs->seen_cap) {
            cs->seen_cap = cs->seen_cap != 0 ? cs->seen_cap * 2 : 1024;
            cs->seen = realloc(cs->seen, cs->seen_cap * sizeof(*cs->seen));
            if (cs->seen == NULL) {
                abort();
            }
        }
        cs->seen[cs->seen_n++] = (struct seen){
            p, m->offset,
            message_hash(m->key, m->value, m->headers, m->headers_count, m->timestamp)};
        return;
    }
    if (!cs->check_content) {
        return;
    }
    if (cs->cursor[p] >= cs->expect_n[p]) {
        if (cs->bad++ < 5) {
            printf("FAIL: partition %d: unexpected record at offset %" PRId64 "\n", p, m->offset);
        }
        return;
    }
    uint64_t seq = cs->expect[p][cs->cursor[p]++];
    const char *why = NULL;
    if (!record_matches(m, seq, cs->o->value_bytes, cs->b, &why)) {
        if (cs->bad++ < 5) {
            printf("FAIL: partition %d offset %" PRId64 ": record %" PRIu64 " differs (%s)\n", p,
                   m->offset, seq, why);
        }
    }
}

static int consumer_init(struct consumer *cs, const struct opts *o, struct spc_client *c,
                         const struct spc_fetcher_config *fc)
{
    memset(cs, 0, sizeof(*cs));
    cs->o = o;
    size_t np = (size_t)o->partitions;
    cs->b = malloc(sizeof(*cs->b));
    cs->expect = calloc(np, sizeof(*cs->expect));
    cs->expect_n = calloc(np, sizeof(*cs->expect_n));
    cs->cursor = calloc(np, sizeof(*cs->cursor));
    cs->last_offset = malloc(np * sizeof(*cs->last_offset));
    if (cs->b == NULL || cs->expect == NULL || cs->expect_n == NULL || cs->cursor == NULL ||
        cs->last_offset == NULL) {
        return -ENOMEM;
    }
    for (size_t p = 0; p < np; p++) {
        cs->last_offset[p] = -1;
    }
    struct spc_error err;
    int rc = spc_fetcher_new(c, fc, consumed, cs, &cs->f, &err);
    if (rc < 0) {
        printf("fetcher: %s\n", err.message);
    }
    return rc;
}

static void consumer_fini(struct consumer *cs)
{
    spc_fetcher_free(cs->f);
    for (int32_t p = 0; cs->expect != NULL && p < cs->o->partitions; p++) {
        free(cs->expect[p]);
    }
    free(cs->expect);
    free(cs->expect_n);
    free(cs->cursor);
    free(cs->last_offset);
    free(cs->b);
    free(cs->seen);
}

/* Fills cs->expect from the delivery reports of seqs [0, n): by partition, by offset. */
static int64_t *g_sort_offsets;

static int by_offset(const void *a, const void *b)
{
    int64_t x = g_sort_offsets[*(const uint64_t *)a], y = g_sort_offsets[*(const uint64_t *)b];
    return (x > y) - (x < y);
}

static int expect_from(struct consumer *cs, const struct produced *pr, uint64_t first, uint64_t n)
{
    int32_t np = cs->o->partitions;
    for (int32_t p = 0; p < np; p++) {
        cs->expect[p] = malloc((n + 1) * sizeof(uint64_t));
        if (cs->expect[p] == NULL) {
            return -ENOMEM;
        }
    }
    for (uint64_t seq = first; seq < first + n; seq++) {
        int32_t p = pr->partition[seq];
        if (p < 0 || p >= np) {
            printf("FAIL: record %" PRIu64 " reported in partition %d\n", seq, p);
            return -EIO;
        }
        cs->expect[p][cs->expect_n[p]++] = seq;
    }
    g_sort_offsets = pr->offset;
    for (int32_t p = 0; p < np; p++) {
        qsort(cs->expect[p], cs->expect_n[p], sizeof(uint64_t), by_offset);
        for (size_t i = 1; i < cs->expect_n[p]; i++) {
            if (pr->offset[cs->expect[p][i]] == pr->offset[cs->expect[p][i - 1]]) {
                printf("FAIL: partition %d: two records reported at offset %" PRId64 "\n", p,
                       pr->offset[cs->expect[p][i]]);
                return -EIO;
            }
        }
    }
    return 0;
}

static bool all_consumed(const struct consumer *cs)
{
    for (int32_t p = 0; p < cs->o->partitions; p++) {
        if (cs->cursor[p] < cs->expect_n[p]) {
            return false;
        }
    }
    return true;
}

/* Polls until cs has everything expected (or the time is up). */
static bool consume_all(struct spc_client *c, struct consumer *cs, int timeout_ms)
{
    double end = wall_s() + timeout_ms / 1000.0;
    while (!all_consumed(cs) && cs->bad == 0 && wall_s() < end) {
        spc_poll(c, 100);
    }
    return all_consumed(cs);
}

/* Checks that every record was delivered with the offset its report named. */
static void check_offsets(const struct consumer *cs, const struct produced *pr)
{
    for (int32_t p = 0; p < cs->o->partitions; p++) {
        int64_t want = cs->expect_n[p] > 0 ? pr->offset[cs->expect[p][cs->expect_n[p] - 1]] : -1;
        CHECK(cs->last_offset[p] == want,
              "partition %d: last offset %" PRId64 ", the producer reported %" PRId64, p,
              cs->last_offset[p], want);
    }
}

static int produced_init(struct produced *pr, uint64_t n)
{
    memset(pr, 0, sizeof(*pr));
    pr->partition = malloc(n * sizeof(*pr->partition));
    pr->offset = malloc(n * sizeof(*pr->offset));
    if (pr->partition == NULL || pr->offset == NULL) {
        return -ENOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        pr->partition[i] = -1;
        pr->offset[i] = -1;
    }
    g_produced = pr;
    return 0;
}

static void produced_fini(struct produced *pr)
{
    free(pr->partition);
    free(pr->offset);
}

static int produce_checked(struct spc_client *c, const struct opts *o, struct produced *pr,
                           uint64_t first, uint64_t n, int32_t partition, double *secs)
{
    int64_t before = pr->reported;
    int rc = produce_range(c, o, first, n, partition, secs);
    CHECK(rc == 0, "producing %" PRIu64 " records: %d", n, rc);
    CHECK(pr->reported - before == (int64_t)n && pr->failed == 0,
          "%" PRId64 " delivery reports for %" PRIu64 " records, %" PRId64 " failed (%s)",
          pr->reported - before, n, pr->failed, pr->first_error);
    return rc == 0 && pr->failed == 0 ? 0 : -EIO;
}

static void assign_all(struct consumer *cs, int64_t offset)
{
    for (int32_t p = 0; p < cs->o->partitions; p++) {
        int rc = spc_fetcher_assign(cs->f, cs->o->topic, p, offset);
        CHECK(rc == 0, "assign %s/%d: %d", cs->o->topic, p, rc);
    }
}

static void print_rate(const char *who, uint64_t records, uint64_t bytes, double secs)
{
    if (secs <= 0) {
        secs = 1e-9;
    }
    printf("%s: %" PRIu64 " records, %.1f MB in %.2f s: %.1f MB/s, %.0f records/s\n", who, records,
           (double)bytes / 1e6, secs, (double)bytes / 1e6 / secs, (double)records / secs);
}

static uint64_t bytes_of(uint64_t first, uint64_t n, size_t fixed)
{
    uint64_t sum = 0;
    char key[32];
    for (uint64_t seq = first; seq < first + n; seq++) {
        int k = key_fill(seq, key, sizeof(key));
        sum += value_len(seq, fixed) + (k > 0 ? (uint64_t)k : 0);
    }
    return sum;
}

/* ---- scenarios ---- */

/*
 * The start the offsets, follow and move scenarios share: room for n
 * records in pr, the first `produce` of them produced (to partition; -1:
 * any), and cs fetching with fc. false: the scenario returns *rc (0 when
 * producing failed, which is counted already; -ENOMEM, -EIO), pr freed.
 */
static bool scenario_begin(struct spc_client *c, const struct opts *o, uint64_t n, uint64_t produce,
                           int32_t partition, const struct spc_fetcher_config *fc,
                           struct produced *pr, struct consumer *cs, int *rc)
{
    if (produced_init(pr, n) < 0) {
        *rc = -ENOMEM;
        return false;
    }
    double secs;
    if (produce_checked(c, o, pr, 0, produce, partition, &secs) < 0) {
        produced_fini(pr);
        *rc = 0;
        return false;
    }
    if (consumer_init(cs, o, c, fc) < 0) {
        produced_fini(pr);
        *rc = -EIO;
        return false;
    }
    return true;
}

static int scenario_roundtrip(struct spc_client *c, const struct opts *o)
{
    uint64_t n = (uint64_t)o->records;
    struct produced pr;
    if (produced_init(&pr, n) < 0) {
        return -ENOMEM;
    }
    double psecs = 0;
    int rc = produce_checked(c, o, &pr, 0, n, -1, &psecs);
    if (rc == 0) {
        print_rate("produce", n, bytes_of(0, n, o->value_bytes), psecs);
        printf("ok: %" PRIu64 " records produced (codec %s)\n", n, o->codec);
    }
    struct spc_fetcher_config fc;
    spc_fetcher_config_init(&fc);
    struct consumer cs;
    if (rc == 0 && consumer_init(&cs, o, c, &fc) == 0) {
        cs.check_content = true;
        if (expect_from(&cs, &pr, 0, n) == 0) {
            double t0 = wall_s();
            assign_all(&cs, SPC_OFFSET_BEGINNING);
            bool all = consume_all(c, &cs, WAIT_MS);
            double fsecs = wall_s() - t0;
            CHECK(all && cs.bad == 0 && cs.errors == 0,
                  "fetched %" PRIu64 " of %" PRIu64 " records, %" PRIu64 " wrong, %d errors (%s)",
                  cs.received, n, cs.bad, cs.errors, cs.last_error);
            if (all && cs.bad == 0) {
                check_offsets(&cs, &pr);
                print_rate("fetch", cs.received, cs.bytes, fsecs);
                printf("ok: %" PRIu64 " records fetched back exactly, in offset order\n", n);
            }
            for (int32_t p = 0; p < o->partitions; p++) {
                int64_t hw = spc_fetcher_high_watermark(cs.f, o->topic, p);
                CHECK(hw == cs.last_offset[p] + 1, "partition %d: high watermark %" PRId64, p, hw);
            }
        }
        consumer_fini(&cs);
    }
    produced_fini(&pr);
    return 0;
}

/* Polls until partition 0's position reaches want (or time is up). */
static bool wait_position(struct spc_client *c, struct consumer *cs, int64_t want, int ms)
{
    double end = wall_s() + ms / 1000.0;
    while (spc_fetcher_position(cs->f, cs->o->topic, 0) != want && wall_s() < end) {
        spc_poll(c, 50);
    }
    return spc_fetcher_position(cs->f, cs->o->topic, 0) == want;
}

static void poll_for(struct spc_client *c, int ms)
{
    double end = wall_s() + ms / 1000.0;
    while (wall_s() < end) {
        spc_poll(c, 50);
    }
}

static int scenario_offsets(struct spc_client *c, const struct opts *o)
{
    const uint64_t n = 100;
    struct spc_fetcher_config fc;
    spc_fetcher_config_init(&fc);
    fc.max_wait_ms = 100;
    struct produced pr;
    struct consumer cs;
    int rc;
    if (!scenario_begin(c, o, n, n, 0, &fc, &pr, &cs, &rc)) {
        return rc;
    }
    int64_t base = pr.offset[0];
    cs.check_content = true;
    expect_from(&cs, &pr, 0, n);

    /* BEGINNING. */
    CHECK(spc_fetcher_assign(cs.f, o->topic, 0, SPC_OFFSET_BEGINNING) == 0, "assign");
    bool got = consume_all(c, &cs, 20000);
    CHECK(got && cs.bad == 0 && cs.received == n, "BEGINNING: %" PRIu64 " records", cs.received);
    CHECK(spc_fetcher_position(cs.f, o->topic, 0) == base + (int64_t)n, "position after all");
    if (got) {
        printf("ok: BEGINNING gives all %" PRIu64 " records\n", n);
    }

    /* An explicit offset (after unassign). */
    CHECK(spc_fetcher_unassign(cs.f, o->topic, 0) == 0, "unassign");
    CHECK(spc_fetcher_unassign(cs.f, o->topic, 0) == -ENOENT, "unassign twice: -ENOENT");
    CHECK(spc_fetcher_position(cs.f, o->topic, 0) == -1, "no position once unassigned");
    cs.cursor[0] = 42;
    cs.last_offset[0] = -1;
    cs.received = 0;
    CHECK(spc_fetcher_assign(cs.f, o->topic, 0, base + 42) == 0, "assign 42");
    got = consume_all(c, &cs, 20000);
    CHECK(got && cs.bad == 0 && cs.received == n - 42, "offset 42: %" PRIu64 " records",
          cs.received);
    if (got) {
        printf("ok: an explicit offset gives the records from there\n");
    }

    /* END: nothing old comes. */
    cs.received = 0;
    CHECK(spc_fetcher_assign(cs.f, o->topic, 0, SPC_OFFSET_END) == 0, "assign END");
    CHECK(wait_position(c, &cs, base + (int64_t)n, 10000), "END resolves to %" PRId64,
          base + (int64_t)n);
    poll_for(c, 500);
    CHECK(cs.received == 0, "END: %" PRIu64 " old records came", cs.received);
    CHECK(spc_fetcher_high_watermark(cs.f, o->topic, 0) == base + (int64_t)n, "hw %" PRId64,
          spc_fetcher_high_watermark(cs.f, o->topic, 0));
    printf("ok: END starts after the last record\n");

    /* Past the end: OFFSET_OUT_OF_RANGE for partition 0, which pauses. */
    CHECK(spc_fetcher_assign(cs.f, o->topic, 0, base + (int64_t)n + 1000) == 0, "assign past");
    double end = wall_s() + 10;
    while (cs.errors == 0 && wall_s() < end) {
        spc_poll(c, 50);
    }
    CHECK(cs.errors == 1 && cs.last_error_code == KERR_OFFSET_OUT_OF_RANGE,
          "past the end: %d errors, last %d (%s)", cs.errors, cs.last_error_code, cs.last_error);
    CHECK(cs.last_error_topic == o->topic && cs.last_error_partition == 0,
          "the error names %s/0 (%s/%d)", o->topic,
          cs.last_error_topic != NULL ? cs.last_error_topic : "?", cs.last_error_partition);
    poll_for(c, 300);
    CHECK(cs.errors == 1, "a paused partition reports once (%d)", cs.errors);
    if (cs.errors >= 1) {
        printf("ok: past the end: %s\n", cs.last_error);
    }

    /* Assigning again resumes it. */
    cs.cursor[0] = 0;
    cs.last_offset[0] = -1;
    cs.received = 0;
    CHECK(spc_fetcher_assign(cs.f, o->topic, 0, SPC_OFFSET_BEGINNING) == 0, "resume");
    got = consume_all(c, &cs, 20000);
    CHECK(got && cs.received == n, "resumed: %" PRIu64 " records", cs.received);
    if (got) {
        printf("ok: assigning again resumes a paused partition\n");
    }
    consumer_fini(&cs);
    produced_fini(&pr);
    return 0;
}

/* Checks what came (defer mode), partition by partition in arrival order,
 * against the delivery reports (cs->expect filled). */
static void verify_seen(struct consumer *cs, const struct produced *pr)
{
    for (size_t i = 0; i < cs->seen_n && cs->bad == 0; i++) {
        const struct seen *sn = &cs->seen[i];
        if (cs->cursor[sn->partition] >= cs->expect_n[sn->partition]) {
            cs->bad++;
            printf("FAIL: partition %d: an extra record at %" PRId64 "\n", sn->partition,
                   sn->offset);
            break;
        }
        uint64_t seq = cs->expect[sn->partition][cs->cursor[sn->partition]++];
        record_make(seq, cs->o->value_bytes, cs->b);
        uint64_t want = message_hash(cs->b->rec.key, cs->b->rec.value, cs->b->rec.headers,
                                     cs->b->rec.headers_count, cs->b->rec.timestamp_ms);
        if (sn->offset != pr->offset[seq] || sn->hash != want) {
            cs->bad++;
            printf("FAIL: partition %d offset %" PRId64 ": not record %" PRIu64 " (offset %" PRId64
                   ")\n",
                   sn->partition, sn->offset, seq, pr->offset[seq]);
        }
    }
}

static int scenario_follow(struct spc_client *c, const struct opts *o)
{
    const uint64_t old = 1000, chunk = 500, chunks = 10;
    uint64_t n = old + chunk * chunks;
    struct spc_fetcher_config fc;
    spc_fetcher_config_init(&fc);
    fc.max_wait_ms = 200;
    struct produced pr;
    struct consumer cs;
    int rc;
    if (!scenario_begin(c, o, n, old, -1, &fc, &pr, &cs, &rc)) {
        return rc;
    }
    double secs;
    assign_all(&cs, SPC_OFFSET_END);
    double end = wall_s() + 10;
    bool resolved = false;
    while (!resolved && wall_s() < end) {
        resolved = true;
        for (int32_t p = 0; p < o->partitions; p++) {
            resolved = resolved && spc_fetcher_position(cs.f, o->topic, p) >= 0;
        }
        spc_poll(c, 20);
    }
    CHECK(resolved, "END resolved on every partition");
    cs.defer = true;
    for (uint64_t i = 0; i < chunks; i++) {
        produce_checked(c, o, &pr, old + i * chunk, chunk, -1, &secs);
        spc_poll(c, 10);
    }
    expect_from(&cs, &pr, old, n - old);
    end = wall_s() + 30;
    while (cs.received < n - old && cs.bad == 0 && wall_s() < end) {
        spc_poll(c, 100);
    }
    poll_for(c, 200); /* nothing more may come */
    verify_seen(&cs, &pr);
    bool all = all_consumed(&cs);
    CHECK(all && cs.bad == 0 && cs.received == n - old,
          "following: %" PRIu64 " of %" PRIu64 " new records, %" PRIu64 " wrong", cs.received,
          n - old, cs.bad);
    check_offsets(&cs, &pr);
    for (int32_t p = 0; p < o->partitions; p++) {
        int64_t hw = spc_fetcher_high_watermark(cs.f, o->topic, p);
        CHECK(hw == cs.last_offset[p] + 1 || (cs.expect_n[p] == 0 && hw >= 0),
              "partition %d: high watermark %" PRId64 " follows", p, hw);
    }
    if (all && cs.bad == 0) {
        printf("ok: from END, exactly the %" PRIu64 " records produced meanwhile arrive\n",
               n - old);
    }
    consumer_fini(&cs);
    produced_fini(&pr);
    return 0;
}

/* Asks the driver to restart the broker on the same port; whether it did. */
static bool driver_restart(void)
{
    printf("restart\n");
    fflush(stdout);
    char line[256];
    return fgets(line, sizeof(line), stdin) != NULL && strncmp(line, "ok", 2) == 0;
}

/* Consuming across a broker restart: the fetcher retries and goes on. */
static int scenario_restart(struct spc_client *c, const struct opts *o)
{
    const uint64_t half = 2000, n = 2 * half;
    struct produced pr;
    if (produced_init(&pr, n) < 0) {
        return -ENOMEM;
    }
    struct spc_fetcher_config fc;
    spc_fetcher_config_init(&fc);
    fc.max_wait_ms = 200;
    struct consumer cs;
    if (consumer_init(&cs, o, c, &fc) < 0) {
        produced_fini(&pr);
        return -EIO;
    }
    cs.defer = true;
    double secs;
    assign_all(&cs, SPC_OFFSET_BEGINNING);
    produce_checked(c, o, &pr, 0, half, -1, &secs);
    double end = wall_s() + 20;
    while (cs.received < half && wall_s() < end) {
        spc_poll(c, 50);
    }
    CHECK(cs.received == half, "before the restart: %" PRIu64 " records", cs.received);
    CHECK(driver_restart(), "the broker restarted");
    produce_checked(c, o, &pr, half, half, -1, &secs);
    end = wall_s() + 30;
    while (cs.received < n && cs.bad == 0 && wall_s() < end) {
        spc_poll(c, 100);
    }
    poll_for(c, 200);
    expect_from(&cs, &pr, 0, n);
    verify_seen(&cs, &pr);
    CHECK(all_consumed(&cs) && cs.bad == 0 && cs.received == n,
          "across the restart: %" PRIu64 " of %" PRIu64 " records, %" PRIu64 " wrong", cs.received,
          n, cs.bad);
    if (all_consumed(&cs) && cs.bad == 0 && cs.received == n) {
        check_offsets(&cs, &pr);
        printf("ok: the fetcher went on after the broker restarted, every record once\n");
    }
    consumer_fini(&cs);
    produced_fini(&pr);
    return 0;
}

/* Asks the driver to move a leader on the mock; returns whether it answered "ok". */
static bool driver_move(const char *topic, int32_t partition, int32_t broker)
{
    printf("move %s %d %d\n", topic, partition, broker);
    fflush(stdout);
    char line[256];
    if (fgets(line, sizeof(line), stdin) == NULL) {
        return false;
    }
    return strncmp(line, "ok", 2) == 0;
}

static int scenario_move(struct spc_client *c, const struct opts *o)
{
    uint64_t n = (uint64_t)o->records;
    struct spc_fetcher_config fc;
    spc_fetcher_config_init(&fc);
    fc.partition_max_bytes = 16 * 1024; /* many small fetches */
    fc.max_wait_ms = 100;
    struct produced pr;
    struct consumer cs;
    int rc;
    if (!scenario_begin(c, o, n, n, -1, &fc, &pr, &cs, &rc)) {
        return rc;
    }
    cs.check_content = true;
    expect_from(&cs, &pr, 0, n);
    assign_all(&cs, SPC_OFFSET_BEGINNING);
    int moves = 0;
    double end = wall_s() + 45;
    while (!all_consumed(&cs) && cs.bad == 0 && wall_s() < end) {
        spc_poll(c, 50);
        if (moves < 4 && cs.received >= (uint64_t)(moves + 1) * n / 6) {
            const struct spc_topic *mt = spc_topic_get(c, o->topic);
            size_t nb = 0;
            spc_brokers(c, &nb);
            for (int32_t p = 0; mt != NULL && p < mt->partitions_count; p++) {
                int32_t to = (int32_t)((mt->partitions[p].leader + moves) % (int32_t)nb) + 1;
                if (to == mt->partitions[p].leader) {
                    to = to % (int32_t)nb + 1;
                }
                CHECK(driver_move(o->topic, p, to), "moving %s/%d to %d", o->topic, p, to);
            }
            moves++;
        }
    }
    CHECK(moves == 4, "%d leader moves while consuming", moves);
    CHECK(all_consumed(&cs) && cs.bad == 0 && cs.received == n,
          "while leaders moved: %" PRIu64 " of %" PRIu64 " records, %" PRIu64 " wrong, %d errors",
          cs.received, n, cs.bad, cs.errors);
    if (all_consumed(&cs) && cs.bad == 0 && cs.received == n) {
        check_offsets(&cs, &pr);
        printf("ok: the fetcher followed %d leader moves, every record once\n", moves);
    }
    consumer_fini(&cs);
    produced_fini(&pr);
    return 0;
}

static int scenario_bench(struct spc_client *c, const struct opts *o)
{
    uint64_t n = (uint64_t)o->records;
    struct produced pr;
    if (produced_init(&pr, n) < 0) {
        return -ENOMEM;
    }
    double psecs = 0;
    if (produce_checked(c, o, &pr, 0, n, -1, &psecs) == 0) {
        print_rate("producer", n, bytes_of(0, n, o->value_bytes), psecs);
    }
    struct spc_fetcher_config fc;
    spc_fetcher_config_init(&fc);
    struct consumer cs;
    if (consumer_init(&cs, o, c, &fc) == 0) {
        cs.check_content = false; /* counts and offset order only */
        double t0 = wall_s();
        assign_all(&cs, SPC_OFFSET_BEGINNING);
        double end = t0 + WAIT_MS / 1000.0;
        while (cs.received < n && cs.bad == 0 && wall_s() < end) {
            spc_poll(c, 100);
        }
        double fsecs = wall_s() - t0;
        CHECK(cs.received == n && cs.bad == 0, "bench: fetched %" PRIu64 " of %" PRIu64,
              cs.received, n);
        print_rate("fetcher", cs.received, cs.bytes, fsecs);
        consumer_fini(&cs);
    }
    produced_fini(&pr);
    return 0;
}

/* ---- main ---- */

static int parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->partitions = 4;
    o->records = 100000;
    o->codec = "none";
    if (argc < 4) {
        return -EINVAL;
    }
    o->bootstrap = argv[1];
    o->scenario = argv[2];
    o->topic = argv[3];
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--partitions") == 0) {
            o->partitions = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--records") == 0) {
            o->records = atoll(argv[i + 1]);
        } else if (strcmp(argv[i], "--codec") == 0) {
            o->codec = argv[i + 1];
        } else if (strcmp(argv[i], "--value-bytes") == 0) {
            o->value_bytes = (size_t)atol(argv[i + 1]);
        } else {
            return -EINVAL;
        }
    }
    if (strcmp(o->scenario, "bench") == 0 && o->value_bytes == 0) {
        o->value_bytes = 1024;
    }
    if (o->partitions < 1 || o->partitions > 1000 || o->records < 1 ||
        o->value_bytes > VALUE_BYTES_MAX) {
        return -EINVAL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0) {
        fprintf(
            stderr,
            "usage: check_client_roundtrip BOOTSTRAP roundtrip|offsets|follow|move|restart|bench "
            "TOPIC [--partitions N] [--records N] [--codec C|mixed] [--value-bytes N]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct spc_client *c;
    int rc = client_open(&o, 2, &c);
    if (rc == -ENOSYS) {
        return 77;
    }
    if (rc < 0) {
        return 1;
    }
    rc = topic_ready(c, &o);
    if (rc == -ENOSYS) {
        spc_client_free(c);
        return 77;
    }
    if (rc == 0) {
        if (strcmp(o.scenario, "roundtrip") == 0) {
            rc = scenario_roundtrip(c, &o);
        } else if (strcmp(o.scenario, "offsets") == 0) {
            rc = scenario_offsets(c, &o);
        } else if (strcmp(o.scenario, "follow") == 0) {
            rc = scenario_follow(c, &o);
        } else if (strcmp(o.scenario, "move") == 0) {
            rc = scenario_move(c, &o);
        } else if (strcmp(o.scenario, "restart") == 0) {
            rc = scenario_restart(c, &o);
        } else if (strcmp(o.scenario, "bench") == 0) {
            rc = scenario_bench(c, &o);
        } else {
            fprintf(stderr, "unknown scenario %s\n", o.scenario);
            rc = -EINVAL;
        }
    }
    spc_client_free(c);
    if (rc < 0 || failures > 0) {
        printf("%s: %d failure(s) (rc %d)\n", o.scenario, failures, rc);
        return 1;
    }
    printf("%s: passed\n", o.scenario);
    return 0;
}
