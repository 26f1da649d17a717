/*
 * tests/client/check_produce.c: the producer (client/spc.h) against a real
 * broker.
 *
 *   check_client_produce BOOTSTRAP SCENARIO [key=value...]
 *
 * Scenarios:
 *   murmur     Kafka's murmur2 test vectors (no broker needed)
 *   produce    n records (keyed, null keys, headers) to topic: every report
 *              is checked (no error, offsets dense per partition, keyed
 *              records on murmur2's partition); out=FILE gets
 *              "i partition offset" per record for the driver to read back
 *   bench      1 KiB records for secs seconds (or n), prints MB/s, records/s
 *   enobufs    a small buffer_bytes gives -ENOBUFS; polling drains it
 *   unknown    a topic that does not exist gives -ENOENT naming it
 *   down       every record fails within delivery_timeout_ms (no hang)
 *
 * Options: topic, partitions (default 4), n (1000), codec (none), acks (-1),
 * idempotent (0), linger (5), batch (1 MiB), buffer (64 MiB), timeout
 * (delivery, 60000), connections (1), value (value bytes, 100), secs (5),
 * out, inflight (5).
 *
 * Record i: key NULL when i % 3 == 0, else "key-<i % 97>"; value
 * "val-<i>-" padded with 'x' to `value` bytes; headers when i % 5 == 0:
 * ("h1", "x<i>") and ("h2", null). Exit 0 pass, 1 fail, 77 skip.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/spc.h"

struct opts {
    const char *bootstrap;
    const char *topic;
    int32_t partitions;
    long n;
    enum sp_codec codec;
    int acks;
    bool idempotent;
    int linger;
    int batch;
    size_t buffer;
    int timeout;
    uint32_t connections;
    size_t value;
    int secs;
    const char *out;
    uint32_t inflight;
};

struct result {
    int32_t partition;
    int64_t offset;
    int code;
    bool seen;
};

struct run {
    struct result *res;
    long reports;
    long errors;
    char first_error[300];
};

static int failures;

static void fail(const char *fmt, ...) SP_PRINTF(1, 2);

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.bootstrap = argv[1],
                       .topic = "check-produce",
                       .partitions = 4,
                       .n = 1000,
                       .acks = -1,
                       .linger = 5,
                       .batch = 1 << 20,
                       .buffer = (size_t)64 << 20,
                       .timeout = 60000,
                       .connections = 1,
                       .value = 100,
                       .secs = 5,
                       .inflight = 5};
    for (int i = 3; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL) {
            fprintf(stderr, "check_produce: bad option %s\n", argv[i]);
            exit(2);
        }
        *eq = '\0';
        const char *k = argv[i];
        const char *v = eq + 1;
        if (strcmp(k, "topic") == 0) {
            o->topic = v;
        } else if (strcmp(k, "partitions") == 0) {
            o->partitions = atoi(v);
        } else if (strcmp(k, "n") == 0) {
            o->n = atol(v);
        } else if (strcmp(k, "codec") == 0) {
            if (sp_codec_parse(v, &o->codec) < 0) {
                fprintf(stderr, "check_produce: bad codec %s\n", v);
                exit(2);
            }
        } else if (strcmp(k, "acks") == 0) {
            o->acks = atoi(v);
        } else if (strcmp(k, "idempotent") == 0) {
            o->idempotent = atoi(v) != 0;
        } else if (strcmp(k, "linger") == 0) {
            o->linger = atoi(v);
        } else if (strcmp(k, "batch") == 0) {
            o->batch = atoi(v);
        } else if (strcmp(k, "buffer") == 0) {
            o->buffer = (size_t)atol(v);
        } else if (strcmp(k, "timeout") == 0) {
            o->timeout = atoi(v);
        } else if (strcmp(k, "connections") == 0) {
            o->connections = (uint32_t)atoi(v);
        } else if (strcmp(k, "value") == 0) {
            o->value = (size_t)atol(v);
        } else if (strcmp(k, "secs") == 0) {
            o->secs = atoi(v);
        } else if (strcmp(k, "out") == 0) {
            o->out = v;
        } else if (strcmp(k, "inflight") == 0) {
            o->inflight = (uint32_t)atoi(v);
        } else {
            fprintf(stderr, "check_produce: unknown option %s\n", k);
            exit(2);
        }
    }
}

static struct spc_client *client_open(const struct opts *o)
{
    struct spc_config cfg;
    spc_config_init(&cfg);
    cfg.bootstrap = o->bootstrap;
    cfg.client_id = "check-produce";
    cfg.connections = o->connections;
    cfg.connect_timeout_ms = 5000;
    struct spc_client *c = NULL;
    struct spc_error err = {0};
    int rc = spc_client_new(&cfg, &c, &err);
    if (rc < 0) {
        fprintf(stderr, "FAIL: spc_client_new: %d %s\n", rc, err.message);
        exit(rc == -ENOSYS ? 77 : 1);
    }
    return c;
}

static struct spc_producer *producer_open(struct spc_client *c, const struct opts *o)
{
    struct spc_producer_config pc;
    spc_producer_config_init(&pc);
    pc.acks = (int16_t)o->acks;
    pc.idempotent = o->idempotent;
    pc.linger_ms = o->linger;
    pc.batch_bytes = o->batch;
    pc.buffer_bytes = o->buffer;
    pc.compression = o->codec;
    pc.delivery_timeout_ms = o->timeout;
    pc.lanes = o->connections;
    pc.max_inflight = o->inflight;
    struct spc_producer *p = NULL;
    struct spc_error err = {0};
    int rc = spc_producer_new(c, &pc, &p, &err);
    if (rc < 0) {
        fprintf(stderr, "FAIL: spc_producer_new: %d %s\n", rc, err.message);
        exit(1);
    }
    return p;
}

/* ---- murmur2 ---- */

static int check_murmur(void)
{
    /* Kafka's published murmur2 vectors (its UtilsTest), as (h & 0x7fffffff)
     * % INT32_MAX-ish: compared on partition counts that expose the hash. */
    static const struct {
        const char *key;
        int32_t hash;
    } vec[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(vec); i++) {
        uint32_t want = (uint32_t)vec[i].hash & 0x7fffffffu;
        struct sp_slice k = sp_slice_make(vec[i].key, strlen(vec[i].key));
        /* With INT32_MAX partitions the partition is the positive hash
         * itself (it is below INT32_MAX for every vector here). */
        int32_t got = spc_partition_for_key(k, INT32_MAX);
        if ((uint32_t)got != want % (uint32_t)INT32_MAX) {
            fail("murmur2(\"%s\"): got %ld", vec[i].key, (long)got);
        }
    }
    if (failures == 0) {
        printf("ok: murmur2 matches Kafka's test vectors (%zu)\n", SP_ARRAY_LEN(vec));
    }
    return failures ? 1 : 0;
}

/* ---- one record i ---- */

struct rec_buf {
    char key[32];
    char val[1 << 16];
    char hv[32];
    struct spc_header hs[2];
    struct spc_record r;
};

static void make_record(long i, size_t value_bytes, struct rec_buf *b)
{
    memset(&b->r, 0, sizeof(b->r));
    b->r.timestamp_ms = -1;
    if (i % 3 != 0) {
        int n = snprintf(b->key, sizeof(b->key), "key-%ld", i % 97);
        b->r.key = sp_slice_make(b->key, (size_t)n);
    }
    int n = snprintf(b->val, sizeof(b->val), "val-%ld-", i);
    size_t len = SP_MAX((size_t)n, SP_MIN(value_bytes, sizeof(b->val)));
    memset(b->val + n, 'x', len - (size_t)n);
    b->r.value = sp_slice_make(b->val, len);
    if (i % 5 == 0) {
        int hn = snprintf(b->hv, sizeof(b->hv), "x%ld", i);
        b->hs[0].key = sp_slice_make("h1", 2);
        b->hs[0].value = sp_slice_make(b->hv, (size_t)hn);
        b->hs[1].key = sp_slice_make("h2", 2);
        b->hs[1].value = sp_slice_make(NULL, 0);
        b->r.headers = b->hs;
        b->r.headers_count = 2;
    }
}

static struct run *g_run;

static void on_report(void *opaque, const char *topic, int32_t partition, int64_t offset,
                      const struct spc_error *err)
{
    (void)topic;
    long i = (long)(uintptr_t)opaque;
    struct result *r = &g_run->res[i];
    if (r->seen) {
        fail("record %s%ld reported twice", "", i);
    }
    r->seen = true;
    r->partition = partition;
    r->offset = offset;
    g_run->reports++;
    if (err != NULL && err->code != 0) {
        r->code = err->code;
        if (g_run->errors++ == 0) {
            snprintf(g_run->first_error, sizeof(g_run->first_error), "%s (code %d)", err->message,
                     err->code);
        }
    }
}

/* Produces record i, polling while the buffer is full. */
static int produce_one(struct spc_client *c, struct spc_producer *p, const struct opts *o, long i,
                       int32_t partition, struct rec_buf *b)
{
    make_record(i, o->value, b);
    for (int tries = 0;; tries++) {
        struct spc_error err = {0};
        int rc = spc_produce(p, o->topic, partition, &b->r, on_report, (void *)(uintptr_t)i, &err);
        if (rc != -ENOBUFS) {
            if (rc < 0) {
                fprintf(stderr, "spc_produce(%ld): %d %s\n", i, rc, err.message);
            }
            return rc;
        }
        if (tries > 100000) {
            return rc;
        }
        spc_poll(c, 10);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void check_dense(const struct opts *o, const struct result *res, long n)
{
    int64_t *offs = malloc((size_t)n * sizeof(*offs));
    for (int32_t part = 0; part < o->partitions; part++) {
        long k = 0;
        for (long i = 0; i < n; i++) {
            if (res[i].code == 0 && res[i].partition == part) {
                offs[k++] = res[i].offset;
            }
        }
        qsort(offs, (size_t)k, sizeof(*offs), cmp_i64);
        for (long j = 1; j < k; j++) {
            if (offs[j] != offs[j - 1] + 1) {
                fail("partition %s%ld: offsets not dense", "", (long)part);
                break;
            }
        }
        if (k > 0 && offs[0] < 0) {
            fail("partition %s%ld: negative offset", "", (long)part);
        }
    }
    free(offs);
}

static int scenario_produce(struct spc_client *c, const struct opts *o)
{
    struct spc_producer *p = producer_open(c, o);
    struct run run = {.res = calloc((size_t)o->n, sizeof(struct result))};
    g_run = &run;
    struct rec_buf *b = malloc(sizeof(*b));
    double t0 = now_s();
    for (long i = 0; i < o->n; i++) {
        if (produce_one(c, p, o, i, -1, b) < 0) {
            fail("spc_produce of record %s%ld failed", "", i);
            break;
        }
    }
    int rc = spc_producer_flush(p, o->timeout + 30000);
    double dt = now_s() - t0;
    if (rc < 0) {
        fail("spc_producer_flush: %s%ld", "", (long)rc);
    }
    if (spc_producer_pending(p) != 0) {
        fail("%s%ld records still pending after the flush", "", (long)spc_producer_pending(p));
    }
    if (run.reports != o->n) {
        fail("%s%ld reports", "", run.reports);
    }
    if (run.errors > 0) {
        fail("delivery errors, the first: %s (%ld in all)", run.first_error, run.errors);
    }
    long keyed_bad = 0;
    for (long i = 0; i < o->n; i++) {
        if (i % 3 == 0 || !run.res[i].seen || run.res[i].code != 0) {
            continue;
        }
        char key[32];
        int kn = snprintf(key, sizeof(key), "key-%ld", i % 97);
        int32_t want = spc_partition_for_key(sp_slice_make(key, (size_t)kn), o->partitions);
        keyed_bad += run.res[i].partition != want;
    }
    if (keyed_bad > 0) {
        fail("%s%ld keyed records not on murmur2's partition", "", keyed_bad);
    }
    if (o->acks != 0) {
        check_dense(o, run.res, o->n);
    } else {
        for (long i = 0; i < o->n; i++) {
            if (run.res[i].seen && run.res[i].offset != -1) {
                fail("acks=0: record %s%ld has an offset", "", i);
                break;
            }
        }
    }
    if (o->out != NULL) {
        FILE *f = fopen(o->out, "w");
        for (long i = 0; f != NULL && i < o->n; i++) {
            fprintf(f, "%ld %d %lld\n", i, (int)run.res[i].partition, (long long)run.res[i].offset);
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    spc_producer_free(p);
    free(b);
    free(run.res);
    if (failures == 0) {
        printf("ok: %ld records to %s (codec %s, acks %d%s): every report in order, %.1f "
               "records/s\n",
               o->n, o->topic, sp_codec_name(o->codec), o->acks,
               o->idempotent ? ", idempotent" : "", (double)o->n / (dt > 0 ? dt : 1));
    }
    return failures ? 1 : 0;
}

/* ---- bench ---- */

static long bench_ok, bench_err;
static char bench_first_err[300];

static void on_bench(void *opaque, const char *topic, int32_t partition, int64_t offset,
                     const struct spc_error *err)
{
    (void)opaque;
    (void)topic;
    (void)partition;
    (void)offset;
    if (err != NULL && err->code != 0) {
        if (bench_err++ == 0) {
            snprintf(bench_first_err, sizeof(bench_first_err), "%s", err->message);
        }
    } else {
        bench_ok++;
    }
}

static int scenario_bench(struct spc_client *c, const struct opts *o)
{
    struct spc_producer *p = producer_open(c, o);
    static uint8_t value[1024];
    memset(value, 'v', sizeof(value));
    struct spc_record r = {.value = sp_slice_make(value, sizeof(value)), .timestamp_ms = -1};
    long n = 0;
    long limit = o->n > 1000 ? o->n : 0;
    double t0 = now_s();
    double end = t0 + o->secs;
    while (limit ? n < limit : (n & 1023) != 0 || now_s() < end) {
        struct spc_error err = {0};
        int rc = spc_produce(p, o->topic, -1, &r, on_bench, NULL, &err);
        if (rc == -ENOBUFS) {
            spc_poll(c, 1);
            continue;
        }
        if (rc < 0) {
            fail("bench: spc_produce: %s (%ld)", err.message, (long)rc);
            break;
        }
        n++;
    }
    int rc = spc_producer_flush(p, 60000);
    double dt = now_s() - t0;
    if (rc < 0 || bench_err > 0 || bench_ok != n) {
        fail("bench: flush or delivery errors: %s (%ld errors)", bench_first_err, bench_err);
    }
    spc_producer_free(p);
    double mb = (double)n * (double)sizeof(value) / (1024.0 * 1024.0);
    printf("throughput: %.1f MB/s, %.0f records/s (%ld records of 1 KiB in %.2f s, %d "
           "partitions, codec %s, acks %d%s, linger %d ms, batch %d)\n",
           mb / dt, (double)n / dt, n, dt, (int)o->partitions, sp_codec_name(o->codec), o->acks,
           o->idempotent ? ", idempotent" : "", o->linger, o->batch);
    return failures ? 1 : 0;
}

/* ---- enobufs, unknown, down ---- */

static int scenario_enobufs(struct spc_client *c, struct opts *o)
{
    o->buffer = 64 * 1024;
    o->linger = 1000;
    struct spc_producer *p = producer_open(c, o);
    long cap = 100000;
    struct run run = {.res = calloc((size_t)cap, sizeof(struct result))};
    g_run = &run;
    struct rec_buf *b = malloc(sizeof(*b));
    long i = 0;
    int rc = 0;
    for (; i < cap; i++) {
        make_record(i, o->value, b);
        rc = spc_produce(p, o->topic, -1, &b->r, on_report, (void *)(uintptr_t)i, NULL);
        if (rc < 0) {
            break;
        }
    }
    if (rc != -ENOBUFS) {
        fail("%s: no -ENOBUFS with a 64 KiB buffer (rc %ld)", "enobufs", (long)rc);
    } else {
        printf("ok: -ENOBUFS after %ld records (%zu bytes each)\n", i, o->value);
    }
    long queued = i;
    /* Polling (the flush) drains it; then it takes records again. */
    rc = spc_producer_flush(p, 30000);
    if (rc < 0 || run.reports != queued || run.errors > 0) {
        fail("after -ENOBUFS the flush delivered badly: %s (reports %ld)", run.first_error,
             run.reports);
    }
    make_record(i, o->value, b);
    rc = spc_produce(p, o->topic, -1, &b->r, on_report, (void *)(uintptr_t)i, NULL);
    if (rc != 0 || spc_producer_flush(p, 30000) != 0 || run.errors > 0) {
        fail("produce after the flush: %s (%ld)", run.first_error, (long)rc);
    }
    spc_producer_free(p);
    free(b);
    free(run.res);
    if (failures == 0) {
        printf("ok: the buffer drained; %ld records delivered\n", run.reports);
    }
    return failures ? 1 : 0;
}

static int scenario_unknown(struct spc_client *c, const struct opts *o)
{
    struct spc_producer *p = producer_open(c, o);
    struct run run = {.res = calloc(4, sizeof(struct result))};
    g_run = &run;
    struct rec_buf *b = malloc(sizeof(*b));
    make_record(1, 10, b);
    struct spc_error err = {0};
    int rc = spc_produce(p, o->topic, -1, &b->r, on_report, (void *)(uintptr_t)0, &err);
    const char *msg = err.message;
    if (rc == 0) {
        /* Waits for the metadata; the report says it. */
        spc_producer_flush(p, 30000);
        msg = run.first_error;
        rc = run.res[0].code;
        if (!run.res[0].seen) {
            fail("%s: no report for the record", o->topic);
        }
        /* Now it is known to be unknown: a second record is refused at once. */
        struct spc_error err2 = {0};
        int rc2 = spc_produce(p, o->topic, -1, &b->r, on_report, (void *)(uintptr_t)1, &err2);
        if (rc2 != -ENOENT || strstr(err2.message, o->topic) == NULL) {
            fail("second record to the unknown topic: %s (%ld)", err2.message, (long)rc2);
        }
    }
    if (rc != -ENOENT || strstr(msg, o->topic) == NULL) {
        fail("unknown topic: \"%s\" (%ld), want -ENOENT naming the topic", msg, (long)rc);
    } else {
        printf("ok: unknown topic: %s\n", msg);
    }
    spc_producer_free(p);
    free(b);
    free(run.res);
    return failures ? 1 : 0;
}

static int scenario_down(struct spc_client *c, const struct opts *o)
{
    struct spc_producer *p = producer_open(c, o);
    long n = 10;
    struct run run = {.res = calloc((size_t)n, sizeof(struct result))};
    g_run = &run;
    struct rec_buf *b = malloc(sizeof(*b));
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        make_record(i, 10, b);
        struct spc_error err = {0};
        int rc = spc_produce(p, o->topic, -1, &b->r, on_report, (void *)(uintptr_t)i, &err);
        if (rc < 0) {
            /* Refused at once is a clear answer too. */
            run.res[i].seen = true;
            run.res[i].code = rc;
            run.reports++;
            if (run.errors++ == 0) {
                snprintf(run.first_error, sizeof(run.first_error), "%s (code %d)", err.message, rc);
            }
        }
    }
    int rc = spc_producer_flush(p, o->timeout + 20000);
    double dt = now_s() - t0;
    if (rc < 0) {
        fail("flush against a down broker: %s%ld (hang?)", "", (long)rc);
    }
    if (run.reports != n || run.errors != n) {
        fail("down broker: %s (%ld reports)", run.first_error, run.reports);
    }
    if (dt > o->timeout / 1000.0 + 15) {
        fail("down broker: errors took %s%ld s", "", (long)dt);
    }
    if (failures == 0) {
        printf("ok: down broker: every record failed after %.1f s (delivery_timeout_ms=%d): %s\n",
               dt, o->timeout, run.first_error);
    }
    spc_producer_free(p);
    free(b);
    free(run.res);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: check_client_produce BOOTSTRAP SCENARIO [key=value...]\n");
        return 2;
    }
    struct opts o;
    parse_opts(argc, argv, &o);
    const char *s = argv[2];
    if (strcmp(s, "murmur") == 0) {
        return check_murmur();
    }
    struct spc_client *c = client_open(&o);
    int rc;
    if (strcmp(s, "produce") == 0) {
        rc = scenario_produce(c, &o);
    } else if (strcmp(s, "bench") == 0) {
        rc = scenario_bench(c, &o);
    } else if (strcmp(s, "enobufs") == 0) {
        rc = scenario_enobufs(c, &o);
    } else if (strcmp(s, "unknown") == 0) {
        rc = scenario_unknown(c, &o);
    } else if (strcmp(s, "down") == 0) {
        rc = scenario_down(c, &o);
    } else {
        fprintf(stderr, "check_produce: unknown scenario %s\n", s);
        rc = 2;
    }
    spc_client_free(c);
    return rc;
}
